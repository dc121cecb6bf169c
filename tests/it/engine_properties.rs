//! Property tests: random event sequences on every fixture and every product definition.
//!
//! Checked after every step: nothing panics; a finished instance absorbs every event; a running
//! instance rests only where something can move it (an open task, a wait with events or live
//! timers, a running sub-workflow); the requester never decides; an all-of or n-of task never
//! completes with fewer distinct approvers than it requires, nor with one actor filling two
//! parties.

use std::sync::Arc;

use certdesk_engine::def::{APPROVE, Approval, Definition, Kind};
use certdesk_engine::form::FieldType;
use certdesk_engine::{
    Actor, ActorId, Decision, Effect, Event, Instance, Status, TimerKey, TimerSlot, step,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::{fixture_catalog, fixtures, product};

const REQUESTER: ActorId = ActorId(1);

/// One random choice, interpreted against the instance's current state so that most events
/// are relevant (a decision on the open task, a live timer) and some are deliberately not.
#[derive(Debug, Clone)]
enum Seed {
    Decide {
        actor: u8,
        parties: u8,
        outcome: u8,
        reason: u8,
        comment: u8,
        stale: bool,
    },
    Withdraw {
        actor: u8,
    },
    Resubmit {
        actor: u8,
    },
    Timer {
        pick: u8,
        stale: bool,
    },
    External {
        pick: u8,
        payload: u8,
    },
    Subflow {
        pick: u8,
        stale: bool,
    },
}

fn seed() -> impl Strategy<Value = Seed> {
    prop_oneof![
        // Mostly the first outcomes (approve, reject) and one- or two-party actors, so that
        // quorums are actually reached; sometimes anything at all.
        4 => (
            0..6u8,
            prop_oneof![3 => 0..4u8, 1 => any::<u8>()],
            prop_oneof![3 => 0..2u8, 1 => 0..6u8],
            0..6u8,
            0..4u8,
            prop::bool::weighted(0.1),
        )
            .prop_map(
            |(actor, parties, outcome, reason, comment, stale)| Seed::Decide { actor, parties, outcome, reason, comment, stale }
        ),
        1 => (0..3u8).prop_map(|actor| Seed::Withdraw { actor }),
        1 => (0..3u8).prop_map(|actor| Seed::Resubmit { actor }),
        2 => (any::<u8>(), prop::bool::weighted(0.1)).prop_map(|(pick, stale)| Seed::Timer { pick, stale }),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(pick, payload)| Seed::External { pick, payload }),
        1 => (any::<u8>(), prop::bool::weighted(0.1)).prop_map(|(pick, stale)| Seed::Subflow { pick, stale }),
    ]
}

/// Form data built from the definition's fields, varied by `bits` so guards take every branch.
fn data_for(def: &Definition, bits: u64) -> Value {
    let mut out = serde_json::Map::new();
    for (i, f) in def.form.fields.iter().enumerate() {
        let b = (bits >> (i % 60)) & 0b11;
        if b == 0 {
            continue; // absent
        }
        let v = match f.ty {
            FieldType::Choice => json!(f.choices[(b as usize) % f.choices.len()]),
            FieldType::Boolean => json!(b == 1),
            FieldType::Integer | FieldType::Money => json!([0, 100_000, 100_001][(b as usize) % 3]),
            _ => json!(format!("v{b}")),
        };
        out.insert(f.name.clone(), v);
    }
    Value::Object(out)
}

fn payload(pick: u8) -> Value {
    let status = ["sent", "returned", "failed", "other"][usize::from(pick % 4)];
    json!({ "status": status, "reason": "账户不存在", "correct": pick.is_multiple_of(3), "attempts": pick % 7,
            "order_id": "o1", "amount": 100 })
}

struct Run {
    def: Arc<Definition>,
    children: Vec<Arc<Definition>>,
    inst: Instance,
    data: Value,
    now: DateTime<Utc>,
    live: Vec<TimerKey>,
    approvers: Vec<Actor>,
}

impl Run {
    fn event_for<'p>(&self, s: &Seed, payload: &'p Value, scratch: &'p mut String) -> Event<'p> {
        let state = self.def.state(self.inst.state);
        let actor_id = |a: u8| ActorId(u128::from(a) + 1); // actor 0 is the requester
        match *s {
            Seed::Decide {
                actor,
                parties,
                outcome,
                reason,
                comment,
                stale,
            } => {
                let (name, reasons): (String, Vec<String>) = match &state.kind {
                    Kind::Task(t) => t
                        .outcomes
                        .get(usize::from(outcome))
                        .map(|o| (o.name.clone(), o.reason_codes.clone()))
                        .unwrap_or_else(|| ("bogus".into(), vec![])),
                    _ => ("approve".into(), vec![]),
                };
                *scratch = name;
                let reason =
                    reasons
                        .get(usize::from(reason))
                        .map(String::as_str)
                        .or(match reason {
                            5 => Some("not_a_code"),
                            _ => None,
                        });
                let comment = match comment {
                    0 => None,
                    1 => Some("同意"),
                    2 => Some(""),
                    _ => Some(
                        "超长说明超长说明超长说明超长说明超长说明超长说明超长说明超长说明超长说明超长说明",
                    ),
                };
                // Leaked 'static strings keep the borrow simple in a test.
                let reason: Option<&'static str> =
                    reason.map(|r| &*Box::leak(r.to_owned().into_boxed_str()));
                Event::Decide(Decision {
                    task: if stale {
                        self.inst.entry.wrapping_sub(1)
                    } else {
                        self.inst.entry
                    },
                    actor: Actor {
                        id: actor_id(actor),
                        parties,
                    },
                    outcome: scratch.as_str(),
                    reason,
                    comment,
                })
            }
            Seed::Withdraw { actor } => Event::Withdraw {
                actor: actor_id(actor),
            },
            Seed::Resubmit { actor } => Event::Resubmit {
                actor: actor_id(actor),
            },
            Seed::Timer { pick, stale } => {
                let key = if stale || self.live.is_empty() {
                    TimerKey {
                        entry: self.inst.entry.wrapping_sub(1),
                        slot: TimerSlot::State(u16::from(pick % 3)),
                    }
                } else {
                    self.live[usize::from(pick) % self.live.len()]
                };
                Event::TimerFired(key)
            }
            Seed::External { pick, .. } => {
                let names: Vec<&str> = if state.on.is_empty() || pick.is_multiple_of(5) {
                    vec![
                        "payment_confirmed",
                        "bank_result",
                        "code_entered",
                        "legal_rep_signed",
                    ]
                } else {
                    state.on.iter().map(|(n, _)| n.as_str()).collect()
                };
                *scratch = names[usize::from(pick) % names.len()].to_owned();
                Event::External {
                    name: scratch.as_str(),
                    payload,
                }
            }
            Seed::Subflow { pick, stale } => {
                let results: Vec<String> = match &state.kind {
                    Kind::Subflow(sub) => self
                        .children
                        .iter()
                        .find(|c| c.name == sub.workflow)
                        .map(|c| c.terminals().map(str::to_owned).collect())
                        .unwrap_or_default(),
                    _ => vec![],
                };
                *scratch = results
                    .get(usize::from(pick) % results.len().max(1))
                    .cloned()
                    .unwrap_or_else(|| "bogus".into());
                let entry = if stale {
                    self.inst.entry.wrapping_sub(1)
                } else {
                    self.inst.entry
                };
                Event::SubflowFinished {
                    entry,
                    result: scratch.as_str(),
                }
            }
        }
    }

    fn apply(&mut self, s: &Seed) {
        let before = self.inst.clone();
        let before_state = self.def.state(before.state);
        let payload = payload(match s {
            Seed::External { payload, .. } => *payload,
            _ => 0,
        });
        let mut scratch = String::new();
        let event = self.event_for(s, &payload, &mut scratch);
        self.now += TimeDelta::minutes(37);
        let result = step(&self.def, &self.inst, &self.data, &event, self.now);

        if before.status == Status::Finished {
            assert!(result.is_err(), "a finished instance accepted {event:?}");
            return;
        }
        let Ok(out) = result else { return };

        if let Event::Decide(d) = &event {
            assert_ne!(
                d.actor.id, before.requester,
                "the requester decided their own request"
            );
            assert_eq!(
                d.task, before.entry,
                "a decision on a task that is not open was accepted"
            );
            if let Kind::Task(task) = &before_state.kind
                && task.approval != Approval::Any
                && d.outcome == APPROVE
            {
                self.approvers.push(d.actor);
                let closed = out
                    .effects
                    .iter()
                    .any(|e| matches!(e, Effect::CloseTask { .. }));
                if closed {
                    check_quorum(task.approval, task.parties.len(), &self.approvers);
                }
            }
        }
        for e in &out.effects {
            match e {
                Effect::ScheduleTimer { key, .. } => self.live.push(*key),
                Effect::CancelTimers { entry } => self.live.retain(|k| k.entry != *entry),
                Effect::OpenTask { task, .. } => {
                    assert_eq!(
                        *task, out.instance.entry,
                        "a task opened for an entry that is not current"
                    );
                }
                _ => {}
            }
        }
        if let Event::TimerFired(k) = event {
            self.live.retain(|l| *l != k);
        }
        if out.instance.entry != before.entry {
            self.approvers.clear();
        }
        self.inst = out.instance;

        let state = self.def.state(self.inst.state);
        match self.inst.status {
            Status::Finished => assert!(matches!(state.kind, Kind::Terminal { .. })),
            Status::NotStarted => panic!("a started instance went back to not started"),
            Status::Running => match &state.kind {
                Kind::Task(_) => assert_eq!(self.inst.open_task(&self.def), Some(self.inst.entry)),
                Kind::Wait => {
                    let movable = !state.on.is_empty()
                        || state.withdraw.is_some()
                        || state.resubmit.is_some();
                    let timers = self.live.iter().any(|k| k.entry == self.inst.entry);
                    assert!(
                        movable || timers,
                        "resting in `{}` with nothing pending",
                        state.name
                    );
                }
                Kind::Subflow(_) => {}
                Kind::Start { .. } | Kind::Auto { .. } | Kind::Terminal { .. } => {
                    panic!(
                        "running instance rests in `{}` ({})",
                        state.name,
                        state.kind.name()
                    )
                }
            },
        }
    }
}

/// Distinct approvers, and for all-of a perfect assignment of distinct actors to parties.
fn check_quorum(approval: Approval, parties: usize, approvers: &[Actor]) {
    let mut ids: Vec<ActorId> = approvers.iter().map(|a| a.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), approvers.len(), "an actor was counted twice");
    match approval {
        Approval::AtLeast(n) => assert!(
            approvers.len() >= usize::from(n),
            "{} < {n} approvers",
            approvers.len()
        ),
        Approval::All => {
            assert!(approvers.len() >= parties);
            // Brute force: some injective choice of approvers covers every party.
            fn cover(p: usize, parties: usize, used: u32, approvers: &[Actor]) -> bool {
                p == parties
                    || approvers.iter().enumerate().any(|(i, a)| {
                        used & (1 << i) == 0
                            && a.parties & (1 << p) != 0
                            && cover(p + 1, parties, used | (1 << i), approvers)
                    })
            }
            assert!(
                cover(0, parties, 0, approvers),
                "parties not each filled by a distinct approver: {approvers:?}"
            );
        }
        Approval::Any => {}
    }
}

fn definitions() -> Vec<(Arc<Definition>, Vec<Arc<Definition>>)> {
    let fx = fixtures();
    let children: Vec<Arc<Definition>> = fx.iter().cloned().collect();
    let mut all: Vec<_> = fx
        .iter()
        .map(|d| (Arc::clone(d), children.clone()))
        .collect();
    all.extend(product().iter().map(|d| (Arc::clone(d), Vec::new())));
    assert!(fixture_catalog().events.len() >= 4);
    all
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn random_event_sequences_keep_every_invariant(
        which in 0usize..16,
        bits in any::<u64>(),
        seeds in prop::collection::vec(seed(), 1..60),
    ) {
        let defs = definitions();
        let (def, children) = &defs[which % defs.len()];
        let mut run = Run {
            def: Arc::clone(def),
            children: children.clone(),
            inst: Instance::new(def, REQUESTER),
            data: data_for(def, bits),
            now: Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap(),
            live: Vec::new(),
            approvers: Vec::new(),
        };
        let out = step(def, &run.inst, &run.data, &Event::Start, run.now).expect("start always succeeds");
        for e in &out.effects {
            if let Effect::ScheduleTimer { key, .. } = e { run.live.push(*key); }
        }
        run.inst = out.instance;
        for s in &seeds {
            run.apply(s);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random decisions on the two quorum tasks of the refund fixture: `cs_review` needs two
    /// distinct approvers (n-of), `countersign` one distinct approver per party (all-of).
    #[test]
    fn quorum_tasks_never_complete_short(
        countersign in any::<bool>(),
        decisions in prop::collection::vec(
            (0..6u8, prop_oneof![4 => 0..4u8, 1 => any::<u8>()], prop_oneof![9 => Just(0u8), 1 => Just(1u8)]),
            1..12,
        ),
    ) {
        let fx = fixtures();
        let def = Arc::clone(fx.get("refund").unwrap());
        let data = json!({ "order_id": "o1", "amount": 200_000, "reason": "重复购买" });
        let now = Utc.with_ymd_and_hms(2026, 1, 5, 2, 0, 0).unwrap();
        let mut inst = step(&def, &Instance::new(&def, REQUESTER), &data, &Event::Start, now).unwrap().instance;
        if countersign {
            for id in [10, 11] {
                let d = Decision { task: inst.entry, actor: Actor { id: ActorId(id), parties: 1 }, outcome: "approve", reason: None, comment: None };
                inst = step(&def, &inst, &data, &Event::Decide(d), now).unwrap().instance;
            }
            prop_assert_eq!(&def.state(inst.state).name, "countersign");
        }
        let mut run = Run { def: Arc::clone(&def), children: vec![], inst, data, now, live: vec![], approvers: vec![] };
        for (actor, parties, outcome) in decisions {
            run.apply(&Seed::Decide { actor, parties, outcome, reason: 0, comment: 1, stale: false });
        }
    }
}

#[test]
fn countersign_needs_one_distinct_person_per_party() {
    let fx = fixtures();
    let def = fx.get("refund").unwrap();
    let sid = def.state_id("countersign").unwrap();
    let data = json!({ "order_id": "o1", "amount": 200_000, "reason": "重复购买" });
    let now = Utc.with_ymd_and_hms(2026, 1, 5, 2, 0, 0).unwrap();
    // Walk to the countersign state: cs_review needs two approvals, then amount > ¥1,000.
    let mut inst = step(
        def,
        &Instance::new(def, REQUESTER),
        &data,
        &Event::Start,
        now,
    )
    .unwrap()
    .instance;
    for id in [10, 11] {
        let d = Decision {
            task: inst.entry,
            actor: Actor {
                id: ActorId(id),
                parties: 1,
            },
            outcome: "approve",
            reason: None,
            comment: None,
        };
        inst = step(def, &inst, &data, &Event::Decide(d), now)
            .unwrap()
            .instance;
    }
    assert_eq!(inst.state, sid);
    let decide = |inst: &Instance, id: u128, parties: u8| {
        let d = Decision {
            task: inst.entry,
            actor: Actor {
                id: ActorId(id),
                parties,
            },
            outcome: "approve",
            reason: None,
            comment: None,
        };
        step(def, inst, &data, &Event::Decide(d), now)
    };
    // A person in both finance and finance_lead counts once.
    let one = decide(&inst, 20, 0b11).unwrap();
    assert_eq!(one.instance.state, sid);
    assert_eq!(
        decide(&one.instance, 20, 0b11).unwrap_err(),
        certdesk_engine::StepError::AlreadyApproved
    );
    // Another finance-only person fills the finance party; the first moves to lead: done.
    let two = decide(&one.instance, 21, 0b01).unwrap();
    assert_eq!(def.state(two.instance.state).name, "executing");
    // Two finance-only people cannot complete it.
    let a = decide(&inst, 30, 0b01).unwrap();
    assert_eq!(
        decide(&a.instance, 31, 0b01).unwrap_err(),
        certdesk_engine::StepError::PartyAlreadyApproved
    );
}
