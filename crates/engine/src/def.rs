//! A validated definition, compiled for fast stepping.
//!
//! States are addressed by [`StateId`] (an index), guards are resolved to [`GuardOp`]s with
//! pre-split paths, and delays are parsed, so [`crate::step()`] does no string lookups on state
//! names and no parsing. Values of this module are only built by [`crate::load`], which
//! guarantees every reference inside is valid.

use std::path::PathBuf;
use std::sync::Arc;

use certdesk_domain::calendar::{BusinessCalendar, BusinessDuration};
use serde::Serialize;

use crate::form::Form;

/// Index of a state inside its definition (stable for one version).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct StateId(pub u16);

/// A definition ready to run.
#[derive(Debug, Clone)]
pub struct Definition {
    /// Machine name.
    pub name: String,
    /// Version.
    pub version: u32,
    /// Title in Chinese.
    pub title: String,
    /// What instances are about (`enterprise`, `person`, ...).
    pub subject: String,
    /// Free text.
    pub description: Option<String>,
    /// SHA-256 (hex) of the canonical content; recorded in `versions.lock` and the database.
    pub sha256: String,
    /// File the definition came from.
    pub source: PathBuf,
    /// Settings guards may read, as a JSON object.
    pub settings: serde_json::Value,
    /// Input form.
    pub form: Form,
    /// States; `StateId(i)` is `states[i]`.
    pub states: Vec<State>,
    /// The start state.
    pub start: StateId,
    /// Business-hours calendar for SLA and business-time timers.
    pub calendar: Arc<BusinessCalendar>,
}

impl Definition {
    /// The state with this id.
    ///
    /// Ids only come from this definition, so the index is in range; an id from another
    /// definition is a caller bug, answered with the start state rather than a panic.
    pub fn state(&self, id: StateId) -> &State {
        self.states
            .get(usize::from(id.0))
            .unwrap_or(&self.states[usize::from(self.start.0)])
    }

    /// Finds a state by name.
    pub fn state_id(&self, name: &str) -> Option<StateId> {
        self.states
            .iter()
            .position(|s| s.name == name)
            .map(|i| StateId(i as u16))
    }

    /// Names of the terminal states.
    pub fn terminals(&self) -> impl Iterator<Item = &str> {
        self.states
            .iter()
            .filter(|s| matches!(s.kind, Kind::Terminal { .. }))
            .map(|s| s.name.as_str())
    }
}

/// One state.
#[derive(Debug, Clone)]
pub struct State {
    /// Name.
    pub name: String,
    /// Title in Chinese.
    pub title: String,
    /// Kind and kind-specific data.
    pub kind: Kind,
    /// Effects on entry.
    pub enter: Effects,
    /// Timers started on entry.
    pub timers: Vec<Timer>,
    /// External events handled here, by catalog name.
    pub on: Vec<(String, Transition)>,
    /// What happens when the requester withdraws, if allowed here.
    pub withdraw: Option<Transition>,
    /// What happens when the requester resubmits, if allowed here.
    pub resubmit: Option<Transition>,
}

/// The kind of a state.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Entered when an instance starts; routes at once.
    Start {
        /// Routing.
        next: Transition,
    },
    /// Routes at once on entry.
    Auto {
        /// Routing.
        next: Transition,
    },
    /// A human task.
    Task(Task),
    /// Waits for an external event, a withdrawal, a resubmission or a timer.
    Wait,
    /// Runs another definition and waits for it to finish.
    Subflow(Subflow),
    /// The end.
    Terminal {
        /// How the ending counts, if said.
        result: Option<String>,
    },
}

impl Kind {
    /// The name used in definition files.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Start { .. } => "start",
            Kind::Auto { .. } => "auto",
            Kind::Task(_) => "task",
            Kind::Wait => "wait",
            Kind::Subflow(_) => "subflow",
            Kind::Terminal { .. } => "terminal",
        }
    }
}

/// A human task.
#[derive(Debug, Clone)]
pub struct Task {
    /// Who may act: at most [`Task::MAX_PARTIES`] parties.
    pub parties: Vec<Party>,
    /// How many must approve.
    pub approval: Approval,
    /// Allowed outcomes.
    pub outcomes: Vec<Outcome>,
    /// Service level.
    pub sla: Option<Sla>,
}

impl Task {
    /// Parties are addressed by a bit mask in [`crate::Actor`].
    pub const MAX_PARTIES: usize = 8;

    /// Finds an outcome by name.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.outcomes.iter().find(|o| o.name == name)
    }
}

/// Someone who may act on a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Party {
    /// A staff group (`cs_reviewer`).
    Group(String),
    /// A relation to the subject (`enterprise.admins`).
    Relation(String),
}

impl Party {
    /// The name as written in the definition.
    pub fn name(&self) -> &str {
        match self {
            Party::Group(n) | Party::Relation(n) => n,
        }
    }
}

/// How many approvals complete a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// The first decision of anyone eligible decides.
    Any,
    /// Countersign: one distinct approver for every party.
    All,
    /// At least this many distinct approvers.
    AtLeast(u8),
}

/// The outcome that accumulates towards an all-of or n-of quorum; every other outcome decides
/// at once (a single rejection ends a countersign).
pub const APPROVE: &str = "approve";

/// An allowed outcome of a task.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Name (`approve`, `reject`, `return`).
    pub name: String,
    /// Where it leads.
    pub transition: Transition,
    /// Reason codes to choose from; empty means none is asked.
    pub reason_codes: Vec<String>,
    /// Whether a comment is required.
    pub comment_required: bool,
    /// Maximum comment length in characters.
    pub comment_max_chars: u32,
}

/// Guarded branches; the first whose guard passes is taken. The last has no guard.
#[derive(Debug, Clone)]
pub struct Transition {
    /// Non-empty list of branches.
    pub branches: Vec<Branch>,
}

/// One branch of a transition.
#[derive(Debug, Clone)]
pub struct Branch {
    /// Condition; `None` always passes.
    pub guard: Option<Guard>,
    /// Target.
    pub to: StateId,
    /// Effects of taking it.
    pub effects: Effects,
}

/// Actions and notifications.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    /// Actions to run.
    pub actions: Vec<ActionCall>,
    /// Notifications to send.
    pub notify: Vec<Notification>,
}

impl Effects {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && self.notify.is_empty()
    }
}

/// A named action with its arguments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionCall {
    /// Catalog name.
    pub name: String,
    /// Arguments as a JSON object.
    pub args: serde_json::Value,
}

/// A notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// Template name.
    pub template: String,
    /// Recipient relation or staff group.
    pub to: String,
    /// Channels.
    pub via: Vec<Channel>,
}

/// A notification channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Text message.
    Sms,
    /// E-mail.
    Email,
    /// Message inside the app.
    InApp,
}

impl Channel {
    /// Parses a channel name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sms" => Some(Self::Sms),
            "email" => Some(Self::Email),
            "in_app" => Some(Self::InApp),
            _ => None,
        }
    }

    /// The name used in files and in the `templates/` folder.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
            Self::InApp => "in_app",
        }
    }
}

/// A delay after entering a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delay {
    /// Wall-clock time.
    Wall(chrono::TimeDelta),
    /// Business time (Mon–Fri 8:00–17:00 Beijing, holidays excluded).
    Business(BusinessDuration),
}

impl Delay {
    /// Parses `10m`, `2h`, `7d`, `16bh` or `2bd`.
    pub fn parse(text: &str) -> Option<Self> {
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (digits, unit) = text.split_at(split);
        let n: u32 = digits.parse().ok().filter(|n| *n > 0)?;
        let n64 = i64::from(n);
        Some(match unit {
            "m" => Self::Wall(chrono::TimeDelta::try_minutes(n64)?),
            "h" => Self::Wall(chrono::TimeDelta::try_hours(n64)?),
            "d" => Self::Wall(chrono::TimeDelta::try_days(n64)?),
            "bh" => Self::Business(BusinessDuration::from_hours(n)),
            "bd" => Self::Business(BusinessDuration::from_days(n)),
            _ => return None,
        })
    }
}

/// A timer of a state.
#[derive(Debug, Clone)]
pub struct Timer {
    /// As written (`7d`), for drawings and logs.
    pub label: String,
    /// Delay after entry.
    pub after: Delay,
    /// Target, if the timer moves the instance; `None` is a reminder.
    pub to: Option<StateId>,
    /// Effects when it fires.
    pub effects: Effects,
}

/// Service level of a task.
#[derive(Debug, Clone)]
pub struct Sla {
    /// As written (`16bh`).
    pub label: String,
    /// Due after.
    pub within: Delay,
    /// Staff group told on breach.
    pub escalate_to: String,
    /// Notifications on breach.
    pub notify: Vec<Notification>,
}

/// A sub-workflow state.
#[derive(Debug, Clone)]
pub struct Subflow {
    /// Child definition name.
    pub workflow: String,
    /// Child form fields and the paths that fill them.
    pub input: Vec<(String, DataPath)>,
    /// Transition per child terminal state name.
    pub finished: Vec<(String, Transition)>,
}

/// Where a path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// The instance's form data.
    Form,
    /// The payload of the event being handled.
    Event,
    /// The definition's settings.
    Settings,
}

/// A pre-split data path such as `form.package_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPath {
    /// Root.
    pub root: Root,
    /// Keys below the root.
    pub keys: Vec<String>,
    /// As written.
    pub text: String,
}

impl DataPath {
    /// The value the path points at, if any: `form.` paths read `data`, `settings.` paths the
    /// definition's settings, `event.` paths the payload of the event being handled.
    pub fn resolve<'v>(
        &self,
        data: &'v serde_json::Value,
        settings: &'v serde_json::Value,
        event: Option<&'v serde_json::Value>,
    ) -> Option<&'v serde_json::Value> {
        let mut v = match self.root {
            Root::Form => data,
            Root::Settings => settings,
            Root::Event => event?,
        };
        for k in &self.keys {
            v = v.get(k.as_str())?;
        }
        Some(v)
    }
}

/// A compiled guard.
#[derive(Debug, Clone)]
pub struct Guard {
    /// As written, for history and drawings (`equals(event.status, "returned")`).
    pub label: String,
    /// What it checks.
    pub op: GuardOp,
}

/// The predicate of a guard.
#[derive(Debug, Clone)]
pub enum GuardOp {
    /// Value exists and is not null, `""`, `[]` or `{}`.
    Present(DataPath),
    /// Negation of `Present`.
    Absent(DataPath),
    /// Value equals.
    Equals(DataPath, serde_json::Value),
    /// Value differs or is missing.
    NotEquals(DataPath, serde_json::Value),
    /// Value is one of.
    OneOf(DataPath, Vec<serde_json::Value>),
    /// Integer at least.
    AtLeast(DataPath, i64),
    /// Integer greater than.
    Above(DataPath, i64),
}
