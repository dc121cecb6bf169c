//! Semantic validation: a [`RawDefinition`] becomes a [`Definition`] or a list of errors.
//!
//! Every check reports the path it concerns and keeps going, so one run shows everything wrong
//! with a file. Checks: names and kinds; form field types and validators; every reference to a
//! state, guard, action, event, template, staff group or relation; what each state kind needs
//! and must not have; then the graph: reachability, dead ends, states that can never end, and
//! loops of automatic states that nothing outside could break.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::catalog::{ArgKind, Entry, EventSpec, RESUBMIT, WITHDRAW};
use crate::def::{
    ActionCall, Approval, Branch, Channel, DataPath, Definition, Delay, Effects, Guard, GuardOp,
    Kind, Notification, Outcome, Party, Root, Sla, State, StateId, Subflow, Task, Timer,
    Transition,
};
use crate::form::{Field, FieldType, Form, ID_DOCUMENT_TYPES, Validator, ValidatorProblem};
use crate::load::{DefinitionError, Environment};
use crate::raw::{RawBranch, RawDefinition, RawEffects, RawNotify, RawState, RawTransition};

/// Maximum comment length any outcome may allow (SPEC: comment ≤ 500 chars).
pub const MAX_COMMENT_CHARS: u32 = 500;

const KINDS: [&str; 6] = ["start", "task", "auto", "wait", "subflow", "terminal"];
const RESULTS: [&str; 3] = ["success", "failure", "cancelled"];
const REFERENCES: [&str; 9] = [
    "enterprise",
    "order",
    "package",
    "person",
    "certificate",
    "seal",
    "bank_account",
    "invoice_title",
    // An upload (`POST /api/v1/files`) the API checked for owner and purpose before starting.
    "file",
];

/// SHA-256 (hex) of a definition's canonical content: its parsed form serialised as JSON, so
/// comments, whitespace and TOML table style do not count as changes, but every value does.
pub fn canonical_sha256(raw: &RawDefinition) -> String {
    let bytes = serde_json::to_vec(raw).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Validates and compiles one definition. Errors go to `errors`; `None` when there were any.
pub fn compile(
    file: &Path,
    raw: &RawDefinition,
    env: &Environment,
    errors: &mut Vec<DefinitionError>,
) -> Option<Definition> {
    let before = errors.len();
    let mut cx = Cx {
        unsure: false,
        file,
        env,
        raw,
        errors,
        ids: HashMap::new(),
    };
    cx.check_header();
    let settings = cx.settings();
    let form = cx.form();
    let states = cx.states(&form);
    let start = raw
        .states
        .iter()
        .position(|(_, s)| s.kind == "start")
        .map(|i| StateId(i as u16));
    if let Some(start) = start
        && !cx.unsure
    {
        cx.check_graph(&states, start);
    }
    if cx.errors.len() > before {
        return None;
    }
    Some(Definition {
        name: raw.name.clone(),
        version: raw.version,
        title: raw.title.clone(),
        subject: raw.subject.clone(),
        description: raw.description.clone(),
        sha256: canonical_sha256(raw),
        source: file.to_owned(),
        settings,
        form,
        states,
        start: start?,
        calendar: Arc::clone(&env.calendar),
    })
}

fn is_snake(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn is_scalar(v: &toml::Value) -> bool {
    matches!(
        v,
        toml::Value::String(_) | toml::Value::Integer(_) | toml::Value::Boolean(_)
    )
}

struct Cx<'a> {
    /// Set when a state's kind is unknown: graph checks would only add noise.
    unsure: bool,
    file: &'a Path,
    env: &'a Environment,
    raw: &'a RawDefinition,
    errors: &'a mut Vec<DefinitionError>,
    ids: HashMap<&'a str, StateId>,
}

impl<'a> Cx<'a> {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(DefinitionError {
            file: self.file.to_owned(),
            path: path.into(),
            line: None,
            message: message.into(),
        });
    }

    fn check_header(&mut self) {
        let raw = self.raw;
        if !is_snake(&raw.name) {
            self.err("name", format!("`{}` is not a snake_case name", raw.name));
        }
        if raw.version == 0 {
            self.err("version", "versions start at 1");
        }
        if raw.title.trim().is_empty() {
            self.err("title", "a definition needs a title");
        }
        if !self.env.catalog.subjects.contains(&raw.subject) {
            let known = self.env.catalog.subjects.join(", ");
            self.err(
                "subject",
                format!("unknown subject `{}`; known: {known}", raw.subject),
            );
        }
    }

    fn settings(&mut self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for (key, value) in &self.raw.settings {
            if !is_scalar(value) {
                self.err(
                    format!("settings.{key}"),
                    "a setting is a string, an integer or a boolean",
                );
            }
            out.insert(key.clone(), toml_to_json(value));
        }
        serde_json::Value::Object(out)
    }

    fn form(&mut self) -> Form {
        let raw_fields = &self.raw.form.fields;
        let mut fields = Vec::with_capacity(raw_fields.len());
        for (name, f) in raw_fields {
            let path = format!("form.fields.{name}");
            if !is_snake(name) {
                self.err(&path, format!("`{name}` is not a snake_case field name"));
            }
            let Some(ty) = FieldType::parse(&f.ty) else {
                self.err(
                    format!("{path}.type"),
                    format!("unknown type `{}`; known: {}", f.ty, FieldType::NAMES),
                );
                continue;
            };
            if ty == FieldType::Choice {
                if f.choices.is_empty() {
                    self.err(
                        format!("{path}.choices"),
                        "a choice field needs a non-empty `choices` list",
                    );
                }
                let unique: HashSet<&String> = f.choices.iter().collect();
                if unique.len() != f.choices.len() {
                    self.err(format!("{path}.choices"), "choices must be unique");
                }
                for (value, title) in &f.choice_titles {
                    if !f.choices.contains(value) {
                        self.err(
                            format!("{path}.choice_titles.{value}"),
                            format!("`{value}` is not one of the choices"),
                        );
                    } else if title.trim().is_empty() {
                        self.err(
                            format!("{path}.choice_titles.{value}"),
                            "a choice title must not be empty",
                        );
                    }
                }
            } else if !f.choices.is_empty() {
                self.err(format!("{path}.choices"), "only choice fields have choices");
            } else if !f.choice_titles.is_empty() {
                self.err(
                    format!("{path}.choice_titles"),
                    "only choice fields have choice titles",
                );
            }
            match (&f.reference, ty == FieldType::Reference) {
                (None, true) => self.err(
                    format!("{path}.ref"),
                    format!(
                        "a reference field needs `ref`, one of: {}",
                        REFERENCES.join(", ")
                    ),
                ),
                (Some(r), true) if !REFERENCES.contains(&r.as_str()) => self.err(
                    format!("{path}.ref"),
                    format!("unknown reference `{r}`; known: {}", REFERENCES.join(", ")),
                ),
                (Some(_), false) => {
                    self.err(format!("{path}.ref"), "only reference fields have `ref`")
                }
                _ => {}
            }
            if f.required && !f.required_when.is_empty() {
                self.err(
                    format!("{path}.required_when"),
                    "give `required` or `required_when`, not both",
                );
            }
            let mut required_when = Vec::new();
            for (other, value) in &f.required_when {
                let p = format!("{path}.required_when.{other}");
                match raw_fields.get(other) {
                    None => self.err(&p, format!("no form field `{other}`")),
                    Some(o)
                        if o.ty == "choice"
                            && !value
                                .as_str()
                                .is_some_and(|v| o.choices.iter().any(|c| c == v)) =>
                    {
                        self.err(
                            &p,
                            format!("{value} is not one of the choices of `{other}`"),
                        );
                    }
                    Some(_) if !is_scalar(value) => {
                        self.err(&p, "compare with a string, an integer or a boolean")
                    }
                    Some(_) => required_when.push((other.clone(), toml_to_json(value))),
                }
            }
            let mut validators = Vec::new();
            for (i, v) in f.validators.iter().enumerate() {
                let p = format!("{path}.validators[{i}]");
                match Validator::resolve(v, ty) {
                    Ok(Validator::IdDocument { type_field }) => {
                        let ok = raw_fields.get(&type_field).is_some_and(|t| {
                            t.ty == "choice"
                                && t.choices
                                    .iter()
                                    .all(|c| ID_DOCUMENT_TYPES.contains(&c.as_str()))
                        });
                        if !ok {
                            self.err(
                                &p,
                                format!(
                                    "`id_document` needs `{type_field}` to be a choice field of document types ({})",
                                    ID_DOCUMENT_TYPES.join(", ")
                                ),
                            );
                        }
                        validators.push(Validator::IdDocument { type_field });
                    }
                    Ok(v) => validators.push(v),
                    Err(ValidatorProblem::Unknown(n)) => {
                        self.err(
                            &p,
                            format!("unknown validator `{n}`; known: {}", Validator::NAMES),
                        );
                    }
                    Err(ValidatorProblem::BadArgument(m)) => self.err(&p, m),
                    Err(ValidatorProblem::WrongType(t)) => {
                        self.err(
                            &p,
                            format!("this validator applies to {t} fields, not {}", f.ty),
                        );
                    }
                }
            }
            fields.push(Field {
                name: name.clone(),
                title: f.title.clone().unwrap_or_else(|| name.clone()),
                ty,
                required: f.required,
                required_when,
                choices: f.choices.clone(),
                choice_titles: f
                    .choice_titles
                    .iter()
                    .map(|(v, t)| (v.clone(), t.trim().to_owned()))
                    .collect(),
                reference: f.reference.clone(),
                many: f.many,
                validators,
            });
        }
        Form { fields }
    }

    fn states(&mut self, form: &Form) -> Vec<State> {
        let raw = self.raw;
        if raw.states.len() > usize::from(u16::MAX) {
            self.err("states", "too many states");
            return Vec::new();
        }
        let mut starts = Vec::new();
        for (i, (name, s)) in raw.states.iter().enumerate() {
            self.ids.insert(name.as_str(), StateId(i as u16));
            if !is_snake(name) {
                self.err(
                    format!("states.{name}"),
                    format!("`{name}` is not a snake_case state name"),
                );
            }
            if !KINDS.contains(&s.kind.as_str()) {
                self.err(
                    format!("states.{name}.kind"),
                    format!(
                        "unknown state kind `{}`; known: {}",
                        s.kind,
                        KINDS.join(", ")
                    ),
                );
            }
            if s.kind == "start" {
                starts.push(name.as_str());
            }
        }
        match starts.as_slice() {
            [] => self.err("states", "no state has kind = \"start\""),
            [_] => {}
            [_, rest @ ..] => {
                for extra in rest {
                    self.err(
                        format!("states.{extra}.kind"),
                        "a definition has exactly one start state",
                    );
                }
            }
        }
        raw.states
            .iter()
            .map(|(name, s)| self.state(name, s, form))
            .collect()
    }

    fn state(&mut self, name: &str, s: &RawState, form: &Form) -> State {
        let path = format!("states.{name}");
        let kind_name = s.kind.as_str();
        if !KINDS.contains(&kind_name) {
            // Already reported; what the state may contain depends on its kind, so stop here.
            self.unsure = true;
            return State {
                name: name.to_owned(),
                title: name.to_owned(),
                kind: Kind::Wait,
                enter: Effects::default(),
                timers: Vec::new(),
                on: Vec::new(),
                withdraw: None,
                resubmit: None,
            };
        }
        let routes = matches!(kind_name, "start" | "auto");
        let terminal = kind_name == "terminal";
        // Keys that only some kinds may have: say so instead of ignoring them.
        let misplaced: [(bool, &str, &str); 8] = [
            (
                s.next.is_some() && !routes,
                "next",
                "only start and auto states route with `next`",
            ),
            (
                !s.outcomes.is_empty() && kind_name != "task",
                "outcomes",
                "only task states have outcomes",
            ),
            (
                s.task.is_some() && kind_name != "task",
                "task",
                "only task states have `task`",
            ),
            (
                !s.on.is_empty() && (routes || terminal),
                "on",
                "start, auto and terminal states do not wait for events",
            ),
            (
                !s.timers.is_empty() && (routes || terminal),
                "timers",
                "start, auto and terminal states have no timers",
            ),
            (
                s.workflow.is_some() && kind_name != "subflow",
                "workflow",
                "only subflow states run a workflow",
            ),
            (
                !s.finished.is_empty() && kind_name != "subflow",
                "finished",
                "only subflow states have `finished`",
            ),
            (
                s.result.is_some() && !terminal,
                "result",
                "only terminal states have a result",
            ),
        ];
        for (bad, key, message) in misplaced {
            if bad {
                self.err(format!("{path}.{key}"), message);
            }
        }
        if !s.input.is_empty() && kind_name != "subflow" {
            self.err(format!("{path}.input"), "only subflow states have `input`");
        }

        let enter = self.effects(&format!("{path}.enter"), &s.enter.actions, &s.enter.notify);
        let mut timers = Vec::new();
        if !(routes || terminal) {
            for (i, t) in s.timers.iter().enumerate() {
                let p = format!("{path}.timers[{i}]");
                let after = Delay::parse(&t.after);
                if after.is_none() {
                    self.err(
                        format!("{p}.after"),
                        format!("`{}` is not a delay like 10m, 2h, 7d, 16bh or 2bd", t.after),
                    );
                }
                if t.to.is_none() && t.notify.is_empty() {
                    self.err(
                        &p,
                        "timer has no target: give `to` (a state) or `notify` (a reminder)",
                    );
                }
                let to =
                    t.to.as_ref()
                        .and_then(|to| self.target(&format!("{p}.to"), to));
                let effects = self.effects(&p, &t.actions, &t.notify);
                if let Some(after) = after {
                    timers.push(Timer {
                        label: t.after.clone(),
                        after,
                        to,
                        effects,
                    });
                }
            }
        }

        let mut on = Vec::new();
        let (mut withdraw, mut resubmit) = (None, None);
        if !(routes || terminal) {
            for (event, t) in &s.on {
                let p = format!("{path}.on.{event}");
                match event.as_str() {
                    WITHDRAW => withdraw = self.transition(&p, t, None),
                    RESUBMIT => resubmit = self.transition(&p, t, None),
                    other => match self.env.catalog.event(other) {
                        Some(spec) => {
                            if let Some(tr) = self.transition(&p, t, Some(spec)) {
                                on.push((other.to_owned(), tr));
                            }
                        }
                        None => {
                            let known: Vec<&str> = [WITHDRAW, RESUBMIT]
                                .into_iter()
                                .chain(self.env.catalog.events.iter().map(|e| e.name.as_str()))
                                .collect();
                            self.err(
                                &p,
                                format!("unknown event `{other}`; known: {}", known.join(", ")),
                            );
                        }
                    },
                }
            }
        }

        let kind = match kind_name {
            "start" | "auto" => {
                let next = match &s.next {
                    Some(branches) => {
                        let t = RawTransition {
                            next: Some(branches.clone()),
                            ..RawTransition::default()
                        };
                        self.transition(&path, &t, None)
                    }
                    None => {
                        self.err(
                            format!("{path}.next"),
                            format!("a {kind_name} state needs `next` branches"),
                        );
                        None
                    }
                };
                let next = next.unwrap_or(Transition {
                    branches: Vec::new(),
                });
                if kind_name == "start" {
                    Kind::Start { next }
                } else {
                    Kind::Auto { next }
                }
            }
            "task" => Kind::Task(self.task(&path, s)),
            "subflow" => Kind::Subflow(self.subflow(&path, s, form)),
            "terminal" => {
                if let Some(r) = &s.result
                    && !RESULTS.contains(&r.as_str())
                {
                    self.err(
                        format!("{path}.result"),
                        format!("unknown result `{r}`; known: {}", RESULTS.join(", ")),
                    );
                }
                Kind::Terminal {
                    result: s.result.clone(),
                }
            }
            _ => Kind::Wait,
        };
        State {
            name: name.to_owned(),
            title: s.title.clone().unwrap_or_else(|| name.to_owned()),
            kind,
            enter,
            timers,
            on,
            withdraw,
            resubmit,
        }
    }

    fn task(&mut self, path: &str, s: &RawState) -> Task {
        let mut parties = Vec::new();
        let mut approval = Approval::Any;
        let mut sla = None;
        match &s.task {
            None => self.err(
                format!("{path}.task"),
                "a task state needs a `task` table (assignees, approval)",
            ),
            Some(t) => {
                let p = format!("{path}.task.assignees");
                if t.assignees.is_empty() {
                    self.err(&p, "a task needs at least one assignee");
                }
                if t.assignees.len() > Task::MAX_PARTIES {
                    self.err(
                        &p,
                        format!("at most {} assignee parties", Task::MAX_PARTIES),
                    );
                }
                for (i, a) in t.assignees.iter().enumerate() {
                    if t.assignees[..i].contains(a) {
                        self.err(format!("{p}[{i}]"), format!("`{a}` is listed twice"));
                    } else if let Some(party) = self.party(&format!("{p}[{i}]"), a) {
                        parties.push(party);
                    }
                }
                let ap = format!("{path}.task.approval");
                approval = match &t.approval {
                    None => Approval::Any,
                    Some(toml::Value::String(v)) if v == "any" => Approval::Any,
                    Some(toml::Value::String(v)) if v == "all" => Approval::All,
                    Some(toml::Value::Table(tbl))
                        if tbl.len() == 1 && tbl.contains_key("at_least") =>
                    {
                        match tbl.get("at_least").and_then(toml::Value::as_integer) {
                            Some(n) if (1..=32).contains(&n) => Approval::AtLeast(n as u8),
                            _ => {
                                self.err(
                                    format!("{ap}.at_least"),
                                    "at_least takes an integer from 1 to 32",
                                );
                                Approval::Any
                            }
                        }
                    }
                    Some(_) => {
                        self.err(&ap, "approval is \"any\", \"all\" or { at_least = N }");
                        Approval::Any
                    }
                };
                if approval != Approval::Any && !s.outcomes.contains_key(crate::def::APPROVE) {
                    self.err(
                        &ap,
                        "an all-of or n-of task needs an `approve` outcome to count",
                    );
                }
                if let Some(raw_sla) = &t.sla {
                    let sp = format!("{path}.task.sla");
                    let within = Delay::parse(&raw_sla.within);
                    if within.is_none() {
                        self.err(
                            format!("{sp}.within"),
                            format!("`{}` is not a delay like 2h, 16bh or 2bd", raw_sla.within),
                        );
                    }
                    if !self.env.catalog.is_staff_group(&raw_sla.escalate_to) {
                        let known = self.env.catalog.staff_groups.join(", ");
                        self.err(
                            format!("{sp}.escalate_to"),
                            format!(
                                "unknown staff group `{}`; known: {known}",
                                raw_sla.escalate_to
                            ),
                        );
                    }
                    let notify = self.notifications(&sp, &raw_sla.notify);
                    if let Some(within) = within {
                        sla = Some(Sla {
                            label: raw_sla.within.clone(),
                            within,
                            escalate_to: raw_sla.escalate_to.clone(),
                            notify,
                        });
                    }
                }
            }
        }
        if s.outcomes.is_empty() {
            self.err(
                format!("{path}.outcomes"),
                "a task state needs at least one outcome",
            );
        }
        let mut outcomes = Vec::new();
        for (name, o) in &s.outcomes {
            let p = format!("{path}.outcomes.{name}");
            if !is_snake(name) {
                self.err(&p, format!("`{name}` is not a snake_case outcome name"));
            }
            for (i, code) in o.reason_codes.iter().enumerate() {
                if !is_snake(code) || o.reason_codes[..i].contains(code) {
                    self.err(
                        format!("{p}.reason_codes[{i}]"),
                        format!("`{code}` is not a unique snake_case code"),
                    );
                }
            }
            let (comment_required, comment_max_chars) = match &o.comment {
                None => (false, MAX_COMMENT_CHARS),
                Some(c) => {
                    let max = c.max_chars.unwrap_or(MAX_COMMENT_CHARS);
                    if max == 0 || max > MAX_COMMENT_CHARS {
                        self.err(
                            format!("{p}.comment.max_chars"),
                            format!("max_chars is from 1 to {MAX_COMMENT_CHARS}"),
                        );
                    }
                    (c.required, max.min(MAX_COMMENT_CHARS))
                }
            };
            if let Some(transition) = self.transition(&p, &o.transition, None) {
                outcomes.push(Outcome {
                    name: name.clone(),
                    transition,
                    reason_codes: o.reason_codes.clone(),
                    comment_required,
                    comment_max_chars,
                });
            }
        }
        Task {
            parties,
            approval,
            outcomes,
            sla,
        }
    }

    fn subflow(&mut self, path: &str, s: &RawState, form: &Form) -> Subflow {
        let workflow = match &s.workflow {
            Some(w) => w.clone(),
            None => {
                self.err(
                    format!("{path}.workflow"),
                    "a subflow state names the `workflow` it runs",
                );
                String::new()
            }
        };
        let mut input = Vec::new();
        for (field, source) in &s.input {
            if let Some(dp) = self.data_path(&format!("{path}.input.{field}"), source, None, form) {
                input.push((field.clone(), dp));
            }
        }
        if s.finished.is_empty() {
            self.err(
                format!("{path}.finished"),
                "a subflow state needs a `finished` transition per ending of the child",
            );
        }
        let mut finished = Vec::new();
        for (result, t) in &s.finished {
            if let Some(tr) = self.transition(&format!("{path}.finished.{result}"), t, None) {
                finished.push((result.clone(), tr));
            }
        }
        Subflow {
            workflow,
            input,
            finished,
        }
    }

    fn party(&mut self, path: &str, name: &str) -> Option<Party> {
        if self.env.catalog.is_staff_group(name) {
            return Some(Party::Group(name.to_owned()));
        }
        match self.env.catalog.relation(name) {
            Some(r) if r.subjects.is_empty() || r.subjects.contains(&self.raw.subject) => {
                Some(Party::Relation(name.to_owned()))
            }
            Some(r) => {
                let subjects = r.subjects.join(", ");
                self.err(
                    path,
                    format!(
                        "relation `{name}` needs subject {subjects}, not `{}`",
                        self.raw.subject
                    ),
                );
                None
            }
            None => {
                let known: Vec<&str> = self
                    .env
                    .catalog
                    .staff_groups
                    .iter()
                    .map(String::as_str)
                    .chain(self.env.catalog.relations.iter().map(|r| r.name.as_str()))
                    .collect();
                self.err(
                    path,
                    format!(
                        "unknown staff group or relation `{name}`; known: {}",
                        known.join(", ")
                    ),
                );
                None
            }
        }
    }

    fn target(&mut self, path: &str, to: &str) -> Option<StateId> {
        match self.ids.get(to) {
            None => {
                self.err(path, format!("unknown state `{to}`"));
                None
            }
            Some(id)
                if self
                    .raw
                    .states
                    .get_index(usize::from(id.0))
                    .is_some_and(|(_, s)| s.kind == "start") =>
            {
                self.err(path, "the start state cannot be entered again");
                None
            }
            Some(id) => Some(*id),
        }
    }

    fn transition(
        &mut self,
        path: &str,
        t: &RawTransition,
        event: Option<&EventSpec>,
    ) -> Option<Transition> {
        let shared = self.effects(path, &t.actions, &t.notify);
        let branches = match (&t.to, &t.next) {
            (Some(_), Some(_)) => {
                self.err(path, "give `to` or `next`, not both");
                return None;
            }
            (None, None) => {
                self.err(
                    path,
                    "has no transition: give `to` (a state) or `next` (guarded branches)",
                );
                return None;
            }
            (Some(to), None) => {
                let to = self.target(&format!("{path}.to"), to)?;
                vec![Branch {
                    guard: None,
                    to,
                    effects: shared,
                }]
            }
            (None, Some(next)) => self.branches(path, next, event, &shared),
        };
        (!branches.is_empty()).then_some(Transition { branches })
    }

    fn branches(
        &mut self,
        path: &str,
        next: &[RawBranch],
        event: Option<&EventSpec>,
        shared: &Effects,
    ) -> Vec<Branch> {
        if next.is_empty() {
            self.err(format!("{path}.next"), "`next` needs at least one branch");
        }
        let mut out = Vec::new();
        for (i, b) in next.iter().enumerate() {
            let p = format!("{path}.next[{i}]");
            let guard = b
                .guard
                .as_ref()
                .and_then(|g| self.guard(&format!("{p}.guard"), g, event));
            if i + 1 == next.len() && b.guard.is_some() {
                self.err(
                    format!("{p}.guard"),
                    "the last branch must have no guard, so the transition always has a way out",
                );
            }
            let Some(to) = b.to.as_ref() else {
                self.err(&p, "branch has no target: give `to`");
                continue;
            };
            let Some(to) = self.target(&format!("{p}.to"), to) else {
                continue;
            };
            let mut effects = shared.clone();
            let own = self.effects(&p, &b.actions, &b.notify);
            effects.actions.extend(own.actions);
            effects.notify.extend(own.notify);
            out.push(Branch { guard, to, effects });
        }
        out
    }

    /// Splits a guard or action entry into its name and argument table.
    fn named<'v>(
        &mut self,
        path: &str,
        v: &'v toml::Value,
        what: &str,
    ) -> Option<(&'v str, Vec<(&'v str, &'v toml::Value)>)> {
        match v {
            toml::Value::String(name) => Some((name.as_str(), Vec::new())),
            toml::Value::Table(t) => match t.get("name").and_then(toml::Value::as_str) {
                Some(name) => Some((
                    name,
                    t.iter()
                        .filter(|(k, _)| *k != "name")
                        .map(|(k, v)| (k.as_str(), v))
                        .collect(),
                )),
                None => {
                    self.err(path, format!("a {what} table needs `name`"));
                    None
                }
            },
            _ => {
                self.err(
                    path,
                    format!("write a {what} as a name or {{ name = \"...\", ... }}"),
                );
                None
            }
        }
    }

    fn check_args(&mut self, path: &str, entry: &Entry, args: &[(&str, &toml::Value)]) -> bool {
        let before = self.errors.len();
        for (k, v) in args {
            match entry.args.iter().find(|a| a.name == *k) {
                None => {
                    let known: Vec<&str> = entry.args.iter().map(|a| a.name).collect();
                    self.err(
                        format!("{path}.{k}"),
                        format!(
                            "`{}` takes no argument `{k}` (takes: {})",
                            entry.name,
                            known.join(", ")
                        ),
                    );
                }
                Some(spec) => {
                    let ok = match spec.kind {
                        ArgKind::Path | ArgKind::Text => v.is_str(),
                        ArgKind::Integer => v.is_integer(),
                        ArgKind::Scalar => is_scalar(v),
                        ArgKind::ScalarList => v
                            .as_array()
                            .is_some_and(|a| !a.is_empty() && a.iter().all(is_scalar)),
                    };
                    if !ok {
                        self.err(
                            format!("{path}.{k}"),
                            format!("`{k}` of `{}` takes {:?}", entry.name, spec.kind)
                                .to_lowercase(),
                        );
                    }
                }
            }
        }
        for spec in entry.args.iter().filter(|a| a.required) {
            if !args.iter().any(|(k, _)| *k == spec.name) {
                self.err(
                    path,
                    format!("`{}` needs argument `{}`", entry.name, spec.name),
                );
            }
        }
        self.errors.len() == before
    }

    fn guard(&mut self, path: &str, v: &toml::Value, event: Option<&EventSpec>) -> Option<Guard> {
        let (name, args) = self.named(path, v, "guard")?;
        let Some(entry) = self.env.catalog.guard(name).cloned() else {
            let known: Vec<&str> = self
                .env
                .catalog
                .guards
                .iter()
                .map(|g| g.name.as_str())
                .collect();
            self.err(
                path,
                format!("unknown guard `{name}`; known: {}", known.join(", ")),
            );
            return None;
        };
        if !self.check_args(path, &entry, &args) {
            return None;
        }
        let arg = |k: &str| args.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        let text = |k: &str| arg(k).and_then(toml::Value::as_str).unwrap_or_default();
        let form = self.form_fields();
        let dp = self.data_path(&format!("{path}.path"), text("path"), event, &form)?;
        let value = arg("value").map(toml_to_json);
        let int = arg("value")
            .and_then(toml::Value::as_integer)
            .unwrap_or_default();
        let op = match name {
            "present" => GuardOp::Present(dp),
            "absent" => GuardOp::Absent(dp),
            "equals" => GuardOp::Equals(dp, value.unwrap_or_default()),
            "not_equals" => GuardOp::NotEquals(dp, value.unwrap_or_default()),
            "one_of" => GuardOp::OneOf(
                dp,
                arg("values")
                    .and_then(toml::Value::as_array)
                    .map(|a| a.iter().map(toml_to_json).collect())
                    .unwrap_or_default(),
            ),
            "at_least" => GuardOp::AtLeast(dp, int),
            "above" => GuardOp::Above(dp, int),
            other => {
                self.err(
                    path,
                    format!("guard `{other}` is in the catalog but the engine cannot evaluate it"),
                );
                return None;
            }
        };
        // Argument values in the catalog's order, paths bare: `equals(event.status, "sent")`.
        let rendered: Vec<String> = entry
            .args
            .iter()
            .filter_map(|spec| {
                let v = arg(spec.name)?;
                Some(if spec.kind == ArgKind::Path {
                    v.as_str().unwrap_or_default().to_owned()
                } else {
                    v.to_string()
                })
            })
            .collect();
        Some(Guard {
            label: format!("{name}({})", rendered.join(", ")),
            op,
        })
    }

    /// The form's field names and types, straight from the raw file (guards are compiled before
    /// the typed form is complete when a field is broken).
    fn form_fields(&self) -> Form {
        Form {
            fields: self
                .raw
                .form
                .fields
                .iter()
                .filter_map(|(n, f)| {
                    Some(Field {
                        name: n.clone(),
                        title: String::new(),
                        ty: FieldType::parse(&f.ty)?,
                        required: f.required,
                        required_when: Vec::new(),
                        choices: f.choices.clone(),
                        choice_titles: Vec::new(),
                        reference: None,
                        many: f.many,
                        validators: Vec::new(),
                    })
                })
                .collect(),
        }
    }

    fn data_path(
        &mut self,
        path: &str,
        text: &str,
        event: Option<&EventSpec>,
        form: &Form,
    ) -> Option<DataPath> {
        let mut parts = text.split('.');
        let root = parts.next().unwrap_or_default();
        let keys: Vec<String> = parts.map(str::to_owned).collect();
        let Some(first) = keys.first() else {
            self.err(
                path,
                format!(
                    "`{text}` is not a path like form.<field>, event.<field> or settings.<key>"
                ),
            );
            return None;
        };
        let root = match root {
            "form" => {
                if form.field(first).is_none() {
                    self.err(path, format!("no form field `{first}`"));
                    return None;
                }
                Root::Form
            }
            "settings" => {
                if !self.raw.settings.contains_key(first) {
                    self.err(path, format!("no setting `{first}` in [settings]"));
                    return None;
                }
                Root::Settings
            }
            "event" => match event {
                None => {
                    self.err(
                        path,
                        "`event.` paths are only readable in `on.<event>` transitions",
                    );
                    return None;
                }
                Some(spec) if !spec.payload.iter().any(|(n, _)| n == first) => {
                    let known: Vec<&str> = spec.payload.iter().map(|(n, _)| n.as_str()).collect();
                    self.err(
                        path,
                        format!(
                            "event `{}` has no field `{first}` (has: {})",
                            spec.name,
                            known.join(", ")
                        ),
                    );
                    return None;
                }
                Some(_) => Root::Event,
            },
            other => {
                self.err(
                    path,
                    format!("unknown path root `{other}`; use form., event. or settings."),
                );
                return None;
            }
        };
        Some(DataPath {
            root,
            keys,
            text: text.to_owned(),
        })
    }

    fn effects(&mut self, path: &str, actions: &[toml::Value], notify: &[RawNotify]) -> Effects {
        let mut out = Effects::default();
        for (i, a) in actions.iter().enumerate() {
            let p = format!("{path}.actions[{i}]");
            let Some((name, args)) = self.named(&p, a, "action") else {
                continue;
            };
            let Some(entry) = self.env.catalog.action(name).cloned() else {
                let known: Vec<&str> = self
                    .env
                    .catalog
                    .actions
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect();
                self.err(
                    &p,
                    format!("unknown action `{name}`; known: {}", known.join(", ")),
                );
                continue;
            };
            if self.check_args(&p, &entry, &args) {
                let args = args
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), toml_to_json(v)))
                    .collect();
                out.actions.push(ActionCall {
                    name: name.to_owned(),
                    args: serde_json::Value::Object(args),
                });
            }
        }
        out.notify = self.notifications(path, notify);
        out
    }

    fn notifications(&mut self, path: &str, notify: &[RawNotify]) -> Vec<Notification> {
        let mut out = Vec::new();
        for (i, n) in notify.iter().enumerate() {
            let p = format!("{path}.notify[{i}]");
            let before = self.errors.len();
            let to_ok = self.env.catalog.is_staff_group(&n.to)
                || self.env.catalog.relation(&n.to).is_some_and(|r| {
                    r.subjects.is_empty() || r.subjects.contains(&self.raw.subject)
                });
            if !to_ok {
                self.err(
                    format!("{p}.to"),
                    format!(
                        "unknown recipient `{}` for subject `{}`",
                        n.to, self.raw.subject
                    ),
                );
            }
            if n.via.is_empty() {
                self.err(
                    format!("{p}.via"),
                    "give at least one channel: sms, email, in_app",
                );
            }
            let mut via = Vec::new();
            for (j, ch) in n.via.iter().enumerate() {
                match Channel::parse(ch) {
                    None => self.err(
                        format!("{p}.via[{j}]"),
                        format!("unknown channel `{ch}`; known: sms, email, in_app"),
                    ),
                    Some(c) if !self.env.templates.has(c.as_str(), &n.template) => self.err(
                        format!("{p}.template"),
                        format!("no template `templates/{}/{}.hbs`", c.as_str(), n.template),
                    ),
                    Some(c) => via.push(c),
                }
            }
            if self.errors.len() == before {
                out.push(Notification {
                    template: n.template.clone(),
                    to: n.to.clone(),
                    via,
                });
            }
        }
        out
    }

    fn check_graph(&mut self, states: &[State], start: StateId) {
        let n = states.len();
        let edges: Vec<Vec<usize>> = states
            .iter()
            .map(|s| successors(s).map(|id| usize::from(id.0)).collect())
            .collect();
        let mut reach = vec![false; n];
        let mut stack = vec![usize::from(start.0)];
        while let Some(i) = stack.pop() {
            if i < n && !reach[i] {
                reach[i] = true;
                stack.extend(edges[i].iter().copied());
            }
        }
        // States from which some terminal state can be reached (reverse search).
        let mut ends = vec![false; n];
        let mut stack: Vec<usize> = (0..n)
            .filter(|&i| matches!(states[i].kind, Kind::Terminal { .. }))
            .collect();
        let mut preds = vec![Vec::new(); n];
        for (i, out) in edges.iter().enumerate() {
            for &j in out {
                if j < n {
                    preds[j].push(i);
                }
            }
        }
        while let Some(i) = stack.pop() {
            if !ends[i] {
                ends[i] = true;
                stack.extend(preds[i].iter().copied());
            }
        }
        for (i, s) in states.iter().enumerate() {
            let path = format!("states.{}", s.name);
            let terminal = matches!(s.kind, Kind::Terminal { .. });
            let extra_start = matches!(s.kind, Kind::Start { .. }) && i != usize::from(start.0);
            if extra_start {
                // Reported as a second start state already.
            } else if !reach[i] {
                self.err(
                    &path,
                    "unreachable: no transition leads here from the start state",
                );
            } else if !terminal && edges[i].is_empty() {
                self.err(&path, "dead end: a non-terminal state with no way out");
            } else if !terminal && !ends[i] {
                self.err(
                    &path,
                    "no terminal state can be reached from here, so the instance would never end",
                );
            }
        }
        // Loops of start/auto states: nothing outside (person, timer, event) could break them.
        let routes = |i: usize| matches!(states[i].kind, Kind::Start { .. } | Kind::Auto { .. });
        let mut colour = vec![0u8; n];
        for i in (0..n).filter(|&i| routes(i)) {
            if colour[i] == 0 {
                let mut path = Vec::new();
                if let Some(cycle) = auto_cycle(i, &edges, &routes, &mut colour, &mut path) {
                    let names: Vec<&str> = cycle.iter().map(|&j| states[j].name.as_str()).collect();
                    self.err(
                        format!("states.{}.next", names[0]),
                        format!(
                            "automatic states loop ({} -> {}) with no human task, timer or external event to break it",
                            names.join(" -> "),
                            names[0]
                        ),
                    );
                }
            }
        }
    }
}

/// Every state a state can move to.
pub(crate) fn successors(s: &State) -> impl Iterator<Item = StateId> + '_ {
    let transitions =
        s.on.iter()
            .map(|(_, t)| t)
            .chain(s.withdraw.iter())
            .chain(s.resubmit.iter())
            .chain(match &s.kind {
                Kind::Start { next } | Kind::Auto { next } => vec![next],
                Kind::Task(t) => t.outcomes.iter().map(|o| &o.transition).collect(),
                Kind::Subflow(sub) => sub.finished.iter().map(|(_, t)| t).collect(),
                Kind::Wait | Kind::Terminal { .. } => Vec::new(),
            });
    transitions
        .flat_map(|t| t.branches.iter().map(|b| b.to))
        .chain(s.timers.iter().filter_map(|t| t.to))
}

fn auto_cycle(
    i: usize,
    edges: &[Vec<usize>],
    routes: &dyn Fn(usize) -> bool,
    colour: &mut [u8],
    path: &mut Vec<usize>,
) -> Option<Vec<usize>> {
    colour[i] = 1;
    path.push(i);
    for &j in &edges[i] {
        if j >= edges.len() || !routes(j) {
            continue;
        }
        if colour[j] == 1 {
            let at = path.iter().position(|&p| p == j).unwrap_or(0);
            return Some(path[at..].to_vec());
        }
        if colour[j] == 0
            && let Some(c) = auto_cycle(j, edges, routes, colour, path)
        {
            return Some(c);
        }
    }
    colour[i] = 2;
    path.pop();
    None
}

impl RawEffects {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && self.notify.is_empty()
    }
}
