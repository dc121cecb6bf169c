//! The definition file format as written on disk (TOML), before any semantic check.
//!
//! These types mirror the file one to one and reject unknown keys, so a typo such as
//! `outcome` for `outcomes` is an error that names its path. Everything that needs a cross
//! reference (state names, catalog names, templates) stays a string here; `validate` turns a
//! `RawDefinition` into a typed [`crate::Definition`] or into a list of errors.
//!
//! Values whose shape depends on a catalog entry (validator arguments, guard and action
//! arguments) are kept as `toml::Value` so the validator can report precise paths instead of
//! serde's "did not match any variant".

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// A whole definition file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefinition {
    /// Stable machine name, `snake_case`; instances reference it.
    pub name: String,
    /// Explicit version; a content change must raise it (see `versions.lock`).
    pub version: u32,
    /// Human title in Chinese, shown in the console.
    pub title: String,
    /// What the instance is about: decides which relations (`enterprise.admins`) make sense.
    pub subject: String,
    /// Free text for the console and the docs.
    #[serde(default)]
    pub description: Option<String>,
    /// Named values that guards may read as `settings.<key>` (per-platform switches).
    #[serde(default)]
    pub settings: IndexMap<String, toml::Value>,
    /// The input form.
    #[serde(default)]
    pub form: RawForm,
    /// States keyed by name, in the order they are drawn.
    pub states: IndexMap<String, RawState>,
}

/// The input form of a definition.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawForm {
    /// Fields keyed by name, in display order.
    #[serde(default)]
    pub fields: IndexMap<String, RawField>,
}

/// One form field.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    /// `text`, `integer`, `money`, `boolean`, `date`, `choice`, `file` or `reference`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Label in Chinese.
    #[serde(default)]
    pub title: Option<String>,
    /// Whether the field must be present and non-empty.
    #[serde(default)]
    pub required: bool,
    /// Required only when other fields hold these values (`{ mode = "verify_admin" }`).
    #[serde(default)]
    pub required_when: IndexMap<String, toml::Value>,
    /// Allowed values of a `choice` field.
    #[serde(default)]
    pub choices: Vec<String>,
    /// Chinese labels of some or all of the choices (`{ passport = "护照" }`), for people reading
    /// a request; the value stored is the choice itself.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub choice_titles: IndexMap<String, String>,
    /// What a `reference` field points to (`enterprise`, `order`, `package`, ...).
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
    /// Whether the field holds a list of values (several files, several orders).
    #[serde(default)]
    pub many: bool,
    /// Validators: a name (`"uscc"`) or a one-key table with its argument (`{ max_chars = 500 }`).
    #[serde(default)]
    pub validators: Vec<toml::Value>,
}

/// One state.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    /// `start`, `task`, `auto`, `wait`, `subflow` or `terminal`.
    pub kind: String,
    /// Title in Chinese; defaults to the state name.
    #[serde(default)]
    pub title: Option<String>,
    /// Effects run whenever the state is entered, whatever the path.
    #[serde(default)]
    pub enter: RawEffects,
    /// `start` and `auto`: branches evaluated at once, first passing guard wins.
    #[serde(default)]
    pub next: Option<Vec<RawBranch>>,
    /// `task`: who may act and how many must agree.
    #[serde(default)]
    pub task: Option<RawTask>,
    /// `task`: the allowed outcomes.
    #[serde(default)]
    pub outcomes: IndexMap<String, RawOutcome>,
    /// Events that leave the state: `withdraw`, `resubmit` or a catalog external event.
    #[serde(default)]
    pub on: IndexMap<String, RawTransition>,
    /// Timers started on entry and cancelled on leaving.
    #[serde(default)]
    pub timers: Vec<RawTimer>,
    /// `subflow`: the definition to run.
    #[serde(default)]
    pub workflow: Option<String>,
    /// `subflow`: child form fields filled from paths of this instance.
    #[serde(default)]
    pub input: IndexMap<String, String>,
    /// `subflow`: one transition per terminal state of the child.
    #[serde(default)]
    pub finished: IndexMap<String, RawTransition>,
    /// `terminal`: how the ending counts (`success`, `failure`, `cancelled`).
    #[serde(default)]
    pub result: Option<String>,
}

/// Actions and notifications attached to a state entry or a transition.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawEffects {
    /// Actions: a name or `{ name = "...", <args> }`.
    #[serde(default)]
    pub actions: Vec<toml::Value>,
    /// Notifications to send.
    #[serde(default)]
    pub notify: Vec<RawNotify>,
}

/// A notification.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    /// Template name in `templates/<channel>/`.
    pub template: String,
    /// Recipient: a relation (`applicant`, `enterprise.admins`) or a staff group.
    pub to: String,
    /// Channels: `sms`, `email`, `in_app`.
    pub via: Vec<String>,
}

/// Who acts on a human task.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTask {
    /// Parties: staff groups or relations to the subject.
    pub assignees: Vec<String>,
    /// `"any"`, `"all"` (one distinct person per party) or `{ at_least = N }`.
    #[serde(default)]
    pub approval: Option<toml::Value>,
    /// Service-level due time and escalation.
    #[serde(default)]
    pub sla: Option<RawSla>,
}

/// A service-level agreement on a task.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSla {
    /// Duration: `2h`, `30m`, `16bh` (business hours), `2bd` (business days).
    pub within: String,
    /// Staff group that is told when the task is overdue.
    pub escalate_to: String,
    /// Notifications sent on breach.
    #[serde(default)]
    pub notify: Vec<RawNotify>,
}

/// A transition: either `to` or a guarded `next` list, plus effects.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTransition {
    /// Target state when there is no branching.
    #[serde(default)]
    pub to: Option<String>,
    /// Guarded branches, first passing one wins.
    #[serde(default)]
    pub next: Option<Vec<RawBranch>>,
    /// Actions run on this transition.
    #[serde(default)]
    pub actions: Vec<toml::Value>,
    /// Notifications sent on this transition.
    #[serde(default)]
    pub notify: Vec<RawNotify>,
}

/// An outcome of a human task: a transition plus what the decision must carry.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutcome {
    /// The transition taken.
    #[serde(flatten)]
    pub transition: RawTransition,
    /// Reason codes the decider must choose from; empty means no reason code.
    #[serde(default)]
    pub reason_codes: Vec<String>,
    /// Comment rules.
    #[serde(default)]
    pub comment: Option<RawComment>,
}

/// Rules for a decision comment.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawComment {
    /// Whether a comment must be given.
    #[serde(default)]
    pub required: bool,
    /// Maximum length in characters (at most 500).
    #[serde(default)]
    pub max_chars: Option<u32>,
}

/// One branch of a `next` list.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawBranch {
    /// Guard: a name or `{ name = "...", <args> }`; absent means always.
    #[serde(default)]
    pub guard: Option<toml::Value>,
    /// Target state.
    pub to: Option<String>,
    /// Actions run when this branch is taken.
    #[serde(default)]
    pub actions: Vec<toml::Value>,
    /// Notifications sent when this branch is taken.
    #[serde(default)]
    pub notify: Vec<RawNotify>,
}

/// A timer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimer {
    /// Delay after entering the state: `10m`, `7d`, `16bh`, `2bd`.
    pub after: String,
    /// Target state; a timer without one must notify (a reminder).
    #[serde(default)]
    pub to: Option<String>,
    /// Actions run when it fires.
    #[serde(default)]
    pub actions: Vec<toml::Value>,
    /// Notifications sent when it fires.
    #[serde(default)]
    pub notify: Vec<RawNotify>,
}
