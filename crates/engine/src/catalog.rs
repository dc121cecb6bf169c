//! The names a definition may use, with the shape of their arguments.
//!
//! The validator checks every guard, action, external event, validator, staff group and
//! relation against a [`Catalog`]. [`Catalog::standard`] holds only names whose chain has
//! arrived and whose implementation exists (or is owed by the issue that brings the runtime):
//! a definition that names anything else is rejected, never silently accepted. Tests build
//! wider catalogs with [`Catalog::with_action`] and friends to exercise every feature.

use crate::form::FieldType;

/// What kind of value an argument takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// A data path such as `form.amount` or `event.status`.
    Path,
    /// Any scalar (string, integer, boolean).
    Scalar,
    /// A list of scalars.
    ScalarList,
    /// An integer.
    Integer,
    /// A string.
    Text,
}

/// One argument of a guard or an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgSpec {
    /// Argument name as written in the definition.
    pub name: &'static str,
    /// Its kind.
    pub kind: ArgKind,
    /// Whether it must be given.
    pub required: bool,
}

const fn arg(name: &'static str, kind: ArgKind) -> ArgSpec {
    ArgSpec {
        name,
        kind,
        required: true,
    }
}

/// A named guard or action with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Name as written in definitions.
    pub name: String,
    /// Arguments it accepts.
    pub args: Vec<ArgSpec>,
    /// One line for `docs/workflows.md` and error hints.
    pub summary: String,
}

/// An external event a waiting state can receive, with the fields of its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    /// Event name (`payment_confirmed`).
    pub name: String,
    /// Payload fields that guards may read as `event.<field>`.
    pub payload: Vec<(String, FieldType)>,
    /// One line of explanation.
    pub summary: String,
}

/// A relation from the subject of an instance to the people it designates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationSpec {
    /// Name as written (`enterprise.admins`).
    pub name: String,
    /// Subjects for which the relation means something; empty means every subject.
    pub subjects: Vec<String>,
}

/// Every name a definition may use.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Guards (named predicates over the instance's data).
    pub guards: Vec<Entry>,
    /// Actions (named effects that a worker executes).
    pub actions: Vec<Entry>,
    /// External events.
    pub events: Vec<EventSpec>,
    /// Staff groups that can own tasks and receive escalations.
    pub staff_groups: Vec<String>,
    /// Relations to the subject.
    pub relations: Vec<RelationSpec>,
    /// Subjects a definition may be about.
    pub subjects: Vec<String>,
    /// Notification channels.
    pub channels: Vec<String>,
}

/// The event name for the applicant withdrawing a request.
pub const WITHDRAW: &str = "withdraw";
/// The event name for the applicant resubmitting after a return.
pub const RESUBMIT: &str = "resubmit";

impl Catalog {
    /// The catalog the product runs with.
    pub fn standard() -> Self {
        use ArgKind::*;
        let guard = |name: &str, args: Vec<ArgSpec>, summary: &str| Entry {
            name: name.to_owned(),
            args,
            summary: summary.to_owned(),
        };
        Catalog {
            guards: vec![
                guard(
                    "present",
                    vec![arg("path", Path)],
                    "the value at `path` exists and is not empty",
                ),
                guard(
                    "absent",
                    vec![arg("path", Path)],
                    "the value at `path` is missing or empty",
                ),
                guard(
                    "equals",
                    vec![arg("path", Path), arg("value", Scalar)],
                    "the value at `path` equals `value`",
                ),
                guard(
                    "not_equals",
                    vec![arg("path", Path), arg("value", Scalar)],
                    "the value at `path` differs from `value` (or is missing)",
                ),
                guard(
                    "one_of",
                    vec![arg("path", Path), arg("values", ScalarList)],
                    "the value at `path` is one of `values`",
                ),
                guard(
                    "at_least",
                    vec![arg("path", Path), arg("value", Integer)],
                    "the integer at `path` is at least `value` (money in fen)",
                ),
                guard(
                    "above",
                    vec![arg("path", Path), arg("value", Integer)],
                    "the integer at `path` is greater than `value` (money in fen)",
                ),
            ],
            actions: vec![
                Entry {
                    name: "membership.grant".to_owned(),
                    args: vec![],
                    summary: "make the requester a member of the enterprise with the rights \
                              asked in the form (中标一证通 12: join with seal-use rights)"
                        .to_owned(),
                },
                Entry {
                    name: "membership.revoke".to_owned(),
                    args: vec![],
                    summary: "remove the requester from the enterprise: every role they hold \
                              there but the legal representative's (退出企业)"
                        .to_owned(),
                },
                Entry {
                    name: "membership.transfer_admin".to_owned(),
                    args: vec![],
                    summary: "make `form.target_user_id` an admin of the enterprise and the \
                              requester a plain member, in one transaction (管理员转授)"
                        .to_owned(),
                },
                Entry {
                    name: "real_name.mark_verified".to_owned(),
                    args: vec![],
                    summary: "mark the requester real-name verified by the reviewed document \
                              (数信签 4.2: 人工审核), if this review is still their latest"
                        .to_owned(),
                },
                Entry {
                    name: "real_name.mark_rejected".to_owned(),
                    args: vec![],
                    summary: "mark the requester's real-name verification rejected, so they may \
                              submit again, if this review is still their latest"
                        .to_owned(),
                },
            ],
            events: vec![EventSpec {
                name: "payment_confirmed".to_owned(),
                payload: vec![
                    ("order_id".to_owned(), FieldType::Reference),
                    ("amount".to_owned(), FieldType::Money),
                ],
                summary: "the order attached to the request was paid".to_owned(),
            }],
            staff_groups: [
                "cs_reviewer",
                "finance",
                "finance_lead",
                "supervisor",
                "sys_admin",
            ]
            .map(str::to_owned)
            .to_vec(),
            relations: vec![
                RelationSpec {
                    name: "applicant".to_owned(),
                    subjects: vec![],
                },
                RelationSpec {
                    name: "enterprise.admins".to_owned(),
                    subjects: vec!["enterprise".to_owned()],
                },
                RelationSpec {
                    name: "enterprise.legal_rep".to_owned(),
                    subjects: vec!["enterprise".to_owned()],
                },
                RelationSpec {
                    name: "enterprise.members".to_owned(),
                    subjects: vec!["enterprise".to_owned()],
                },
            ],
            subjects: ["enterprise", "person", "order", "seal", "certificate"]
                .map(str::to_owned)
                .to_vec(),
            channels: ["sms", "email", "in_app"].map(str::to_owned).to_vec(),
        }
    }

    /// Adds an action (for tests and for chains as they arrive).
    pub fn with_action(mut self, name: &str, args: Vec<ArgSpec>) -> Self {
        self.actions.push(Entry {
            name: name.to_owned(),
            args,
            summary: String::new(),
        });
        self
    }

    /// Adds an external event with its payload fields.
    pub fn with_event(mut self, name: &str, payload: &[(&str, FieldType)]) -> Self {
        self.events.push(EventSpec {
            name: name.to_owned(),
            payload: payload.iter().map(|(n, t)| ((*n).to_owned(), *t)).collect(),
            summary: String::new(),
        });
        self
    }

    /// Looks up a guard.
    pub fn guard(&self, name: &str) -> Option<&Entry> {
        self.guards.iter().find(|e| e.name == name)
    }

    /// Looks up an action.
    pub fn action(&self, name: &str) -> Option<&Entry> {
        self.actions.iter().find(|e| e.name == name)
    }

    /// Looks up an external event.
    pub fn event(&self, name: &str) -> Option<&EventSpec> {
        self.events.iter().find(|e| e.name == name)
    }

    /// Looks up a relation.
    pub fn relation(&self, name: &str) -> Option<&RelationSpec> {
        self.relations.iter().find(|r| r.name == name)
    }

    /// Whether `name` is a staff group.
    pub fn is_staff_group(&self, name: &str) -> bool {
        self.staff_groups.iter().any(|g| g == name)
    }
}

/// Builds a required argument spec; public so tests and later chains can declare actions.
pub const fn required(name: &'static str, kind: ArgKind) -> ArgSpec {
    arg(name, kind)
}

/// Builds an optional argument spec.
pub const fn optional(name: &'static str, kind: ArgKind) -> ArgSpec {
    ArgSpec {
        name,
        kind,
        required: false,
    }
}
