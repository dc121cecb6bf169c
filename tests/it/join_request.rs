//! Scenario tests of the real join-request definition (SPEC §2): every path it can take.

use std::sync::Arc;

use certdesk_engine::def::{Definition, Kind};
use certdesk_engine::{
    Actor, ActorId, Decision, Effect, Event, Instance, Status, StepError, TimerKey, TimerSlot, step,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::json;

use crate::support::product;

const APPLICANT: ActorId = ActorId(1);
const ADMIN: Actor = Actor {
    id: ActorId(2),
    parties: 0b01,
};
const OTHER_ADMIN: Actor = Actor {
    id: ActorId(3),
    parties: 0b01,
};
const LEGAL_REP: Actor = Actor {
    id: ActorId(4),
    parties: 0b10,
};
const STRANGER: Actor = Actor {
    id: ActorId(5),
    parties: 0,
};

fn def() -> Arc<Definition> {
    product()
        .get("join_request")
        .cloned()
        .expect("join_request is defined")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap()
}

/// Drives one instance, keeping the timers it schedules like the runtime's timer table.
struct Drive {
    def: Arc<Definition>,
    inst: Instance,
    data: serde_json::Value,
    timers: Vec<(TimerKey, DateTime<Utc>)>,
    log: Vec<String>,
}

impl Drive {
    fn start(data: serde_json::Value) -> Self {
        let def = def();
        let inst = Instance::new(&def, APPLICANT);
        let mut d = Drive {
            def,
            inst,
            data,
            timers: Vec::new(),
            log: Vec::new(),
        };
        d.apply(&Event::Start, t0()).unwrap();
        d
    }

    fn state(&self) -> &str {
        &self.def.state(self.inst.state).name
    }

    /// Applies an event; on success records effects as short strings and updates timers.
    fn apply(&mut self, event: &Event<'_>, now: DateTime<Utc>) -> Result<(), StepError> {
        let out = step(&self.def, &self.inst, &self.data, event, now)?;
        self.log.clear();
        for e in &out.effects {
            self.log.push(match e {
                Effect::OpenTask { task, spec, .. } => {
                    let parties: Vec<&str> = spec.parties.iter().map(|p| p.name()).collect();
                    format!("open_task {task} [{}]", parties.join(","))
                }
                Effect::CloseTask { task } => format!("close_task {task}"),
                Effect::ApprovalCounted { have, need, .. } => format!("approval {have}/{need}"),
                Effect::ScheduleTimer { key, due_at, .. } => {
                    self.timers.push((*key, *due_at));
                    format!("timer {:?} +{}h", key.slot, (*due_at - now).num_hours())
                }
                Effect::CancelTimers { entry } => {
                    self.timers.retain(|(k, _)| k.entry != *entry);
                    format!("cancel_timers {entry}")
                }
                Effect::Action(a) => format!("action {}", a.name),
                Effect::Notify(n) => format!("notify {} -> {} {:?}", n.template, n.to, n.via),
                Effect::StartSubflow { spec, .. } => format!("subflow {}", spec.workflow),
                Effect::Escalate { sla, .. } => format!("escalate {}", sla.escalate_to),
                Effect::Finish { state } => format!("finish {}", self.def.state(*state).name),
            });
        }
        self.inst = out.instance;
        Ok(())
    }

    fn decide(
        &mut self,
        actor: Actor,
        outcome: &str,
        reason: Option<&str>,
        comment: Option<&str>,
    ) -> Result<(), StepError> {
        let task = self.inst.open_task(&self.def).unwrap_or(u32::MAX);
        self.apply(
            &Event::Decide(Decision {
                task,
                actor,
                outcome,
                reason,
                comment,
            }),
            t0() + TimeDelta::hours(1),
        )
    }

    /// Fires the live timers due by `at`, earliest first, as the scheduler tick would.
    fn advance_to(&mut self, at: DateTime<Utc>) -> Vec<String> {
        let mut fired = Vec::new();
        loop {
            self.timers.sort_by_key(|(_, due)| *due);
            let Some(&(key, due)) = self.timers.first() else {
                break;
            };
            if due > at {
                break;
            }
            self.timers.remove(0);
            self.apply(&Event::TimerFired(key), due).unwrap();
            fired.extend(self.log.iter().cloned());
        }
        fired
    }
}

fn reason_mode() -> serde_json::Value {
    json!({ "enterprise_id": "e1", "mode": "reason", "reason": "我是新入职的投标专员" })
}

#[test]
fn start_opens_an_admin_review_and_tells_every_admin() {
    let d = Drive::start(reason_mode());
    assert_eq!(d.state(), "admin_review");
    assert_eq!(d.inst.status, Status::Running);
    assert_eq!(
        d.log,
        [
            "notify join_request_submitted -> enterprise.admins [Sms, InApp]",
            "timer State(0) +72h",
            "timer State(1) +168h",
            "open_task 2 [enterprise.admins,enterprise.legal_rep]",
        ]
    );
}

#[test]
fn any_one_admin_approves_and_the_applicant_joins() {
    let mut d = Drive::start(reason_mode());
    d.decide(ADMIN, "approve", None, None).unwrap();
    assert_eq!(d.state(), "joined");
    assert_eq!(d.inst.status, Status::Finished);
    assert_eq!(
        d.log,
        [
            "cancel_timers 2",
            "close_task 2",
            "action membership.grant",
            "notify join_request_joined -> applicant [Sms, Email, InApp]",
            "finish joined",
        ]
    );
    assert!(d.timers.is_empty(), "no timer outlives the request");
    // A second admin's decision arrives too late: the request has ended.
    assert_eq!(
        d.decide(OTHER_ADMIN, "approve", None, None),
        Err(StepError::Finished)
    );
}

#[test]
fn legal_rep_may_decide_too() {
    let mut d = Drive::start(reason_mode());
    d.decide(LEGAL_REP, "approve", None, None).unwrap();
    assert_eq!(d.state(), "joined");
}

#[test]
fn approval_with_a_package_waits_for_payment_then_joins() {
    let mut data = reason_mode();
    data["package_id"] = json!("p1");
    data["order_id"] = json!("o1");
    let mut d = Drive::start(data);
    d.decide(ADMIN, "approve", None, None).unwrap();
    assert_eq!(d.state(), "awaiting_payment");
    assert!(
        d.log
            .contains(&"notify join_request_approved_pay -> applicant [Sms, InApp]".to_owned())
    );
    assert!(
        !d.log.iter().any(|l| l.starts_with("action")),
        "no membership before payment"
    );
    // The old task number cannot be decided again.
    let stale = Decision {
        task: 2,
        actor: OTHER_ADMIN,
        outcome: "reject",
        reason: Some("other"),
        comment: Some("x"),
    };
    assert_eq!(
        d.apply(&Event::Decide(stale), t0()),
        Err(StepError::TaskNotOpen { task: 2 })
    );
    let payload = json!({ "order_id": "o1", "amount": 30000 });
    d.apply(
        &Event::External {
            name: "payment_confirmed",
            payload: &payload,
        },
        t0() + TimeDelta::days(1),
    )
    .unwrap();
    assert_eq!(d.state(), "joined");
    assert!(d.log.contains(&"action membership.grant".to_owned()));
}

#[test]
fn unpaid_approval_closes_after_seven_days() {
    let mut data = reason_mode();
    data["order_id"] = json!("o1");
    let mut d = Drive::start(data);
    d.decide(ADMIN, "approve", None, None).unwrap();
    let fired = d.advance_to(t0() + TimeDelta::days(9));
    assert_eq!(d.state(), "unpaid");
    assert!(
        fired.contains(&"notify join_request_unpaid -> applicant [Sms, InApp]".to_owned()),
        "{fired:?}"
    );
}

#[test]
fn reject_needs_a_listed_reason_and_a_comment() {
    let mut d = Drive::start(reason_mode());
    assert_eq!(
        d.decide(ADMIN, "reject", None, Some("不是本公司员工")),
        Err(StepError::ReasonRequired)
    );
    assert_eq!(
        d.decide(ADMIN, "reject", Some("looks_odd"), Some("不是本公司员工")),
        Err(StepError::UnknownReason("looks_odd".into()))
    );
    assert_eq!(
        d.decide(ADMIN, "reject", Some("not_employee"), Some("   ")),
        Err(StepError::CommentRequired)
    );
    let too_long = "拒".repeat(501);
    assert_eq!(
        d.decide(ADMIN, "reject", Some("not_employee"), Some(&too_long)),
        Err(StepError::CommentTooLong { max: 500 })
    );
    assert_eq!(
        d.state(),
        "admin_review",
        "refused decisions change nothing"
    );
    let exactly_500 = "拒".repeat(500);
    d.decide(ADMIN, "reject", Some("not_employee"), Some(&exactly_500))
        .unwrap();
    assert_eq!(d.state(), "rejected");
    assert!(
        d.log
            .contains(&"notify join_request_rejected -> applicant [Sms, InApp]".to_owned())
    );
}

#[test]
fn nobody_outside_the_enterprise_and_not_the_requester_may_decide() {
    let mut d = Drive::start(reason_mode());
    assert_eq!(
        d.decide(STRANGER, "approve", None, None),
        Err(StepError::NotAssignee)
    );
    // Even an admin of the enterprise cannot approve a request they submitted themselves.
    let requester_as_admin = Actor {
        id: APPLICANT,
        parties: 0b01,
    };
    assert_eq!(
        d.decide(requester_as_admin, "approve", None, None),
        Err(StepError::SelfDecision)
    );
    assert_eq!(
        d.decide(ADMIN, "return", None, None),
        Err(StepError::UnknownOutcome("return".into()))
    );
    assert_eq!(d.state(), "admin_review");
}

#[test]
fn only_the_requester_withdraws() {
    let mut d = Drive::start(reason_mode());
    let later = t0() + TimeDelta::hours(2);
    assert_eq!(
        d.apply(&Event::Withdraw { actor: ADMIN.id }, later),
        Err(StepError::NotRequester)
    );
    d.apply(&Event::Withdraw { actor: APPLICANT }, later)
        .unwrap();
    assert_eq!(d.state(), "withdrawn");
    assert_eq!(
        d.log,
        ["cancel_timers 2", "close_task 2", "finish withdrawn"]
    );
}

#[test]
fn admins_are_reminded_on_day_three_and_the_request_expires_on_day_seven() {
    let mut d = Drive::start(reason_mode());
    let fired = d.advance_to(t0() + TimeDelta::days(3));
    assert_eq!(
        fired,
        ["notify join_request_reminder -> enterprise.admins [Sms, InApp]"]
    );
    assert_eq!(
        d.state(),
        "admin_review",
        "a reminder does not move the request"
    );
    let fired = d.advance_to(t0() + TimeDelta::days(7));
    assert_eq!(
        fired,
        [
            "cancel_timers 2",
            "close_task 2",
            "notify join_request_expired -> applicant [Sms, InApp]",
            "finish expired",
        ]
    );
    assert_eq!(d.state(), "expired");
}

#[test]
fn a_timer_of_a_state_already_left_changes_nothing() {
    let mut d = Drive::start(reason_mode());
    let (expiry, _) = d.timers[1];
    d.decide(ADMIN, "approve", None, None).unwrap();
    assert_eq!(
        d.apply(&Event::TimerFired(expiry), t0() + TimeDelta::days(7)),
        Err(StepError::Finished)
    );
    let mut data = reason_mode();
    data["order_id"] = json!("o1");
    let mut d = Drive::start(data);
    let (expiry, _) = d.timers[1];
    d.decide(ADMIN, "approve", None, None).unwrap();
    assert_eq!(
        d.apply(&Event::TimerFired(expiry), t0() + TimeDelta::days(7)),
        Err(StepError::Stale("timer"))
    );
    let bogus = TimerKey {
        entry: d.inst.entry,
        slot: TimerSlot::Sla,
    };
    assert_eq!(
        d.apply(&Event::TimerFired(bogus), t0()),
        Err(StepError::Stale("timer"))
    );
    assert_eq!(d.state(), "awaiting_payment");
}

#[test]
fn the_definition_is_the_one_spec_asks_for() {
    let def = def();
    let Kind::Task(task) = &def.state(def.state_id("admin_review").unwrap()).kind else {
        panic!()
    };
    let parties: Vec<&str> = task.parties.iter().map(|p| p.name()).collect();
    assert_eq!(
        parties,
        ["enterprise.admins", "enterprise.legal_rep"],
        "decided by the enterprise, not CS staff"
    );
    assert_eq!(task.approval, certdesk_engine::def::Approval::Any);
    let mut terminals: Vec<&str> = def.terminals().collect();
    terminals.sort_unstable();
    assert_eq!(
        terminals,
        ["expired", "joined", "rejected", "unpaid", "withdrawn"]
    );
}

#[test]
fn the_form_requires_what_each_mode_needs_and_caps_the_reason_at_500_characters() {
    let def = def();
    let no_files = |_: &str| None;
    let codes = |input: serde_json::Value| -> Vec<(String, &'static str)> {
        match def.form.check(&input, &no_files) {
            Ok(_) => vec![],
            Err(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    };
    // Verify-admin mode needs the admin's name and the last 4 digits of the admin's phone.
    assert_eq!(
        codes(json!({ "enterprise_id": "e1", "mode": "verify_admin" })),
        [
            ("admin_name".to_owned(), "required"),
            ("admin_phone_last4".to_owned(), "required")
        ]
    );
    assert_eq!(
        codes(
            json!({ "enterprise_id": "e1", "mode": "verify_admin", "admin_name": "张三", "admin_phone_last4": "86a1" })
        ),
        [("admin_phone_last4".to_owned(), "not_digits")]
    );
    assert!(codes(json!({ "enterprise_id": "e1", "mode": "verify_admin", "admin_name": "张三", "admin_phone_last4": "8621" })).is_empty());
    // Reason mode: at most 500 characters, counted as characters, not bytes.
    assert!(
        codes(json!({ "enterprise_id": "e1", "mode": "reason", "reason": "因".repeat(500) }))
            .is_empty()
    );
    assert_eq!(
        codes(json!({ "enterprise_id": "e1", "mode": "reason", "reason": "因".repeat(501) })),
        [("reason".to_owned(), "text_too_long")]
    );
    // Seal-use rights need their validity date.
    assert_eq!(
        codes(json!({ "enterprise_id": "e1", "mode": "reason", "reason": "x", "seal_use": true })),
        [("seal_use_until".to_owned(), "required")]
    );
    assert_eq!(
        codes(json!({ "enterprise_id": "e1", "mode": "sideways" })),
        [("mode".to_owned(), "not_a_choice")]
    );
}
