//! The pure engine: `(definition, instance, data, event, now) -> (instance', effects)`.
//!
//! No I/O and no clock reads happen here: the caller passes `now` and the instance's data, and
//! carries out the returned [`Effect`]s (open a task row, schedule a timer row, enqueue an action
//! or a notification in the outbox) in the same transaction that stores the new [`Instance`].
//! Every rule that must hold whatever the caller does is enforced here: the requester never
//! decides their own request, one actor counts once towards a quorum, a decided task cannot be
//! decided again, stale timers and late events change nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::def::{
    APPROVE, ActionCall, Approval, Branch, DataPath, Definition, Delay, Effects, GuardOp, Kind,
    Notification, Sla, StateId, Subflow, Task, Transition,
};

/// Identifies a person (applicant, admin, staff member); the runtime maps its UUIDs here.
///
/// Serialised as 32 hex digits: JSON numbers (and PostgreSQL's jsonb) cannot hold a u128.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorId(pub u128);

impl Serialize for ActorId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:032x}", self.0))
    }
}

impl<'de> Deserialize<'de> for ActorId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        u128::from_str_radix(&text, 16)
            .map(ActorId)
            .map_err(serde::de::Error::custom)
    }
}

/// Someone deciding a task, with the task parties they belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// Who.
    pub id: ActorId,
    /// Bit `i` set when the actor belongs to party `i` of the task (resolved by the caller
    /// from staff groups and relations; the engine has no access to either).
    pub parties: u8,
}

/// Where an instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created, `Start` not applied yet.
    NotStarted,
    /// Waiting in a task, wait or subflow state.
    Running,
    /// In a terminal state; absorbs every further event.
    Finished,
}

/// One approval counted towards an all-of or n-of quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approver {
    /// Who approved.
    pub actor: ActorId,
    /// The parties they belong to.
    pub parties: u8,
}

/// The engine's view of an instance; the runtime stores it next to the instance's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Current state.
    pub state: StateId,
    /// Life cycle.
    pub status: Status,
    /// Who submitted the request.
    pub requester: ActorId,
    /// Number of state entries so far; identifies the open task and the live timers.
    pub entry: u32,
    /// Approvals gathered on the open task (all-of and n-of only).
    pub approvals: SmallVec<[Approver; 2]>,
}

impl Instance {
    /// A new instance waiting for [`Event::Start`].
    pub fn new(def: &Definition, requester: ActorId) -> Self {
        Instance {
            state: def.start,
            status: Status::NotStarted,
            requester,
            entry: 0,
            approvals: SmallVec::new(),
        }
    }

    /// The open task's number, if the instance waits in a task state.
    pub fn open_task(&self, def: &Definition) -> Option<u32> {
        (self.status == Status::Running && matches!(def.state(self.state).kind, Kind::Task(_)))
            .then_some(self.entry)
    }
}

/// Which timer of a state entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerSlot {
    /// `timers[i]` of the state.
    State(u16),
    /// The SLA of the task.
    Sla,
}

/// Identifies a scheduled timer: the state entry it belongs to and which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimerKey {
    /// The entry that scheduled it; a timer of an earlier entry is stale.
    pub entry: u32,
    /// Which timer.
    pub slot: TimerSlot,
}

/// A decision on a task.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    /// The task number from [`Effect::OpenTask`].
    pub task: u32,
    /// Who decides.
    pub actor: Actor,
    /// Outcome name.
    pub outcome: &'a str,
    /// Reason code, when the outcome asks for one.
    pub reason: Option<&'a str>,
    /// Comment.
    pub comment: Option<&'a str>,
}

/// Something that happened to an instance.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The request was submitted.
    Start,
    /// Someone decided the open task.
    Decide(Decision<'a>),
    /// The requester withdrew the request.
    Withdraw {
        /// Who asks.
        actor: ActorId,
    },
    /// The requester resubmitted after a return (the caller stores the corrected data).
    Resubmit {
        /// Who asks.
        actor: ActorId,
    },
    /// A timer came due.
    TimerFired(TimerKey),
    /// An outside party reported (bank result, payment callback, code entered).
    External {
        /// Catalog event name.
        name: &'a str,
        /// Its payload, readable by guards as `event.<field>`.
        payload: &'a serde_json::Value,
    },
    /// The sub-workflow started at `entry` ended in the terminal state `result`.
    SubflowFinished {
        /// The entry of the subflow state that started it.
        entry: u32,
        /// The child's terminal state name.
        result: &'a str,
    },
}

/// What the caller must do after a step, in order, inside the same transaction.
#[derive(Debug, Clone)]
pub enum Effect<'d> {
    /// Create a human task row.
    OpenTask {
        /// Task number (the state entry).
        task: u32,
        /// The task state.
        state: StateId,
        /// Who may act and how.
        spec: &'d Task,
        /// SLA due time, when the task has one.
        sla_due: Option<DateTime<Utc>>,
    },
    /// Close the task row (decided, withdrawn, expired, ...).
    CloseTask {
        /// Task number.
        task: u32,
    },
    /// An approval was counted and the quorum is not met yet.
    ApprovalCounted {
        /// Task number.
        task: u32,
        /// Approvals so far.
        have: u8,
        /// Approvals needed.
        need: u8,
    },
    /// Create a timer row.
    ScheduleTimer {
        /// Its key, returned in [`Event::TimerFired`].
        key: TimerKey,
        /// When it fires.
        due_at: DateTime<Utc>,
        /// The due time was computed past the end of the holiday calendar: warn loudly.
        beyond_calendar: bool,
    },
    /// Delete every timer row of this entry.
    CancelTimers {
        /// The entry being left.
        entry: u32,
    },
    /// Enqueue an action in the outbox.
    Action(&'d ActionCall),
    /// Enqueue a notification in the outbox.
    Notify(&'d Notification),
    /// Start the child definition; report its end with [`Event::SubflowFinished`].
    StartSubflow {
        /// The entry of the subflow state.
        entry: u32,
        /// What to start.
        spec: &'d Subflow,
    },
    /// The task's SLA is breached: mark it and tell the escalation group.
    Escalate {
        /// Task number.
        task: u32,
        /// The SLA.
        sla: &'d Sla,
    },
    /// The instance reached a terminal state.
    Finish {
        /// The terminal state.
        state: StateId,
    },
}

/// The result of a successful step.
#[derive(Debug, Clone)]
pub struct Stepped<'d> {
    /// The instance after the event.
    pub instance: Instance,
    /// What to do, in order.
    pub effects: Vec<Effect<'d>>,
}

/// Why an event was refused. Nothing changes when a step fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// `Start` on an instance that already started.
    #[error("the instance has already started")]
    AlreadyStarted,
    /// Any event but `Start` on an instance that has not started.
    #[error("the instance has not started")]
    NotStarted,
    /// The instance is in a terminal state.
    #[error("the instance has finished")]
    Finished,
    /// The task is not open: decided already, or never opened.
    #[error("task {task} is not open (already decided or superseded)")]
    TaskNotOpen {
        /// The task number given.
        task: u32,
    },
    /// The requester tried to decide their own request.
    #[error("the requester cannot decide their own request")]
    SelfDecision,
    /// The actor belongs to none of the task's parties.
    #[error("the actor may not act on this task")]
    NotAssignee,
    /// The outcome is not one the definition allows here.
    #[error("outcome `{0}` is not allowed on this task")]
    UnknownOutcome(String),
    /// A reason code is required.
    #[error("this outcome needs a reason code")]
    ReasonRequired,
    /// The reason code is not in the list.
    #[error("reason code `{0}` is not in the list for this outcome")]
    UnknownReason(String),
    /// A comment is required.
    #[error("this outcome needs a comment")]
    CommentRequired,
    /// The comment is too long.
    #[error("the comment is longer than {max} characters")]
    CommentTooLong {
        /// The limit.
        max: u32,
    },
    /// The actor already approved this task.
    #[error("the actor has already approved this task")]
    AlreadyApproved,
    /// The approval cannot fill any party that still lacks one (countersign).
    #[error("every party this actor belongs to has already approved")]
    PartyAlreadyApproved,
    /// Only the requester may withdraw or resubmit.
    #[error("only the requester may do this")]
    NotRequester,
    /// The current state does not accept this event.
    #[error("`{event}` is not accepted in state `{state}`")]
    NotAccepted {
        /// The event.
        event: String,
        /// The current state.
        state: String,
    },
    /// A timer or subflow report from an earlier state entry.
    #[error("stale {0}: it belongs to a state the instance has left")]
    Stale(&'static str),
    /// The child ended in a state this definition does not map.
    #[error("sub-workflow result `{0}` is not handled here")]
    UnknownSubflowResult(String),
    /// No branch of a transition passed its guard (the validator makes this impossible).
    #[error("no branch of the transition from `{0}` applies")]
    NoBranch(String),
    /// Automatic states routed more times than there are states (the validator forbids it).
    #[error("automatic routing did not settle")]
    RoutingLoop,
}

impl StepError {
    /// A stable snake_case code for APIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AlreadyStarted => "already_started",
            Self::NotStarted => "not_started",
            Self::Finished => "instance_finished",
            Self::TaskNotOpen { .. } => "task_not_open",
            Self::SelfDecision => "self_decision",
            Self::NotAssignee => "not_assignee",
            Self::UnknownOutcome(_) => "unknown_outcome",
            Self::ReasonRequired => "reason_required",
            Self::UnknownReason(_) => "unknown_reason",
            Self::CommentRequired => "comment_required",
            Self::CommentTooLong { .. } => "comment_too_long",
            Self::AlreadyApproved => "already_approved",
            Self::PartyAlreadyApproved => "party_already_approved",
            Self::NotRequester => "not_requester",
            Self::NotAccepted { .. } => "event_not_accepted",
            Self::Stale(_) => "stale_event",
            Self::UnknownSubflowResult(_) => "unknown_subflow_result",
            Self::NoBranch(_) => "no_branch",
            Self::RoutingLoop => "routing_loop",
        }
    }
}

/// Applies one event. `data` is the instance's form data (a JSON object); `now` is the time
/// the event is applied. Returns the new instance and the effects, or why nothing changed.
pub fn step<'d>(
    def: &'d Definition,
    instance: &Instance,
    data: &serde_json::Value,
    event: &Event<'_>,
    now: DateTime<Utc>,
) -> Result<Stepped<'d>, StepError> {
    match (instance.status, event) {
        (Status::NotStarted, Event::Start) => {}
        (Status::NotStarted, _) => return Err(StepError::NotStarted),
        (_, Event::Start) => return Err(StepError::AlreadyStarted),
        (Status::Finished, _) => return Err(StepError::Finished),
        (Status::Running, _) => {}
    }
    let mut run = Run {
        def,
        inst: instance.clone(),
        data,
        now,
        effects: Vec::with_capacity(8),
    };
    let state = def.state(instance.state);
    match *event {
        Event::Start => {
            run.inst.status = Status::Running;
            run.enter(def.start, 0)?;
        }
        Event::Decide(d) => run.decide(&d)?,
        Event::Withdraw { actor } | Event::Resubmit { actor } => {
            let (allowed, name) = match event {
                Event::Withdraw { .. } => (&state.withdraw, crate::catalog::WITHDRAW),
                _ => (&state.resubmit, crate::catalog::RESUBMIT),
            };
            let Some(transition) = allowed else {
                return Err(not_accepted(name, &state.name));
            };
            if actor != instance.requester {
                return Err(StepError::NotRequester);
            }
            run.take(transition, None, &state.name)?;
        }
        Event::TimerFired(key) => run.timer(key)?,
        Event::External { name, payload } => {
            let Some((_, transition)) = state.on.iter().find(|(n, _)| n == name) else {
                return Err(not_accepted(name, &state.name));
            };
            run.take(transition, Some(payload), &state.name)?;
        }
        Event::SubflowFinished { entry, result } => {
            let Kind::Subflow(sub) = &state.kind else {
                return Err(StepError::Stale("sub-workflow result"));
            };
            if entry != instance.entry {
                return Err(StepError::Stale("sub-workflow result"));
            }
            let Some((_, transition)) = sub.finished.iter().find(|(n, _)| n == result) else {
                return Err(StepError::UnknownSubflowResult(result.to_owned()));
            };
            run.take(transition, None, &state.name)?;
        }
    }
    Ok(Stepped {
        instance: run.inst,
        effects: run.effects,
    })
}

fn not_accepted(event: &str, state: &str) -> StepError {
    StepError::NotAccepted {
        event: event.to_owned(),
        state: state.to_owned(),
    }
}

struct Run<'d, 'a> {
    def: &'d Definition,
    inst: Instance,
    data: &'a serde_json::Value,
    now: DateTime<Utc>,
    effects: Vec<Effect<'d>>,
}

impl<'d> Run<'d, '_> {
    fn decide(&mut self, d: &Decision<'_>) -> Result<(), StepError> {
        let def = self.def;
        let state = def.state(self.inst.state);
        let Kind::Task(task) = &state.kind else {
            return Err(StepError::TaskNotOpen { task: d.task });
        };
        if d.task != self.inst.entry {
            return Err(StepError::TaskNotOpen { task: d.task });
        }
        if d.actor.id == self.inst.requester {
            return Err(StepError::SelfDecision);
        }
        let all_parties = party_mask(task.parties.len());
        let parties = d.actor.parties & all_parties;
        if parties == 0 {
            return Err(StepError::NotAssignee);
        }
        let Some(outcome) = task.outcome(d.outcome) else {
            return Err(StepError::UnknownOutcome(d.outcome.to_owned()));
        };
        if outcome.reason_codes.is_empty() {
            if d.reason.is_some_and(|r| !r.is_empty()) {
                return Err(StepError::UnknownReason(
                    d.reason.unwrap_or_default().to_owned(),
                ));
            }
        } else {
            match d.reason {
                None | Some("") => return Err(StepError::ReasonRequired),
                Some(r) if !outcome.reason_codes.iter().any(|c| c == r) => {
                    return Err(StepError::UnknownReason(r.to_owned()));
                }
                Some(_) => {}
            }
        }
        let comment = d.comment.map(str::trim).filter(|c| !c.is_empty());
        if outcome.comment_required && comment.is_none() {
            return Err(StepError::CommentRequired);
        }
        if let Some(c) = comment
            && c.chars().count() > outcome.comment_max_chars as usize
        {
            return Err(StepError::CommentTooLong {
                max: outcome.comment_max_chars,
            });
        }
        if task.approval != Approval::Any && outcome.name == APPROVE {
            if self.inst.approvals.iter().any(|a| a.actor == d.actor.id) {
                return Err(StepError::AlreadyApproved);
            }
            let need = match task.approval {
                Approval::AtLeast(n) => n,
                _ => task.parties.len() as u8,
            };
            let before = self.matched(task);
            self.inst.approvals.push(crate::step::Approver {
                actor: d.actor.id,
                parties,
            });
            let have = self.matched(task);
            if have == before {
                return Err(StepError::PartyAlreadyApproved);
            }
            if have < need {
                self.effects.push(Effect::ApprovalCounted {
                    task: d.task,
                    have,
                    need,
                });
                return Ok(());
            }
        }
        self.take(&outcome.transition, None, &state.name)
    }

    /// Approvals that count: distinct actors for n-of, a maximum matching of actors to parties
    /// for all-of (so an actor in two parties fills only one).
    fn matched(&self, task: &Task) -> u8 {
        match task.approval {
            Approval::All => max_matching(&self.inst.approvals, task.parties.len()),
            _ => self.inst.approvals.len().min(u8::MAX as usize) as u8,
        }
    }

    fn timer(&mut self, key: TimerKey) -> Result<(), StepError> {
        let def = self.def;
        if key.entry != self.inst.entry {
            return Err(StepError::Stale("timer"));
        }
        let state = def.state(self.inst.state);
        match key.slot {
            TimerSlot::Sla => {
                let Kind::Task(Task { sla: Some(sla), .. }) = &state.kind else {
                    return Err(StepError::Stale("timer"));
                };
                self.effects.push(Effect::Escalate {
                    task: self.inst.entry,
                    sla,
                });
                self.effects.extend(sla.notify.iter().map(Effect::Notify));
                Ok(())
            }
            TimerSlot::State(i) => {
                let Some(timer) = state.timers.get(usize::from(i)) else {
                    return Err(StepError::Stale("timer"));
                };
                match timer.to {
                    Some(to) => {
                        self.leave();
                        self.push_effects(&timer.effects);
                        self.enter(to, 0)
                    }
                    None => {
                        self.push_effects(&timer.effects);
                        Ok(())
                    }
                }
            }
        }
    }

    /// Takes the first branch whose guard passes.
    fn take(
        &mut self,
        transition: &'d Transition,
        event: Option<&serde_json::Value>,
        from: &str,
    ) -> Result<(), StepError> {
        let branch = self
            .pick(transition, event)
            .ok_or_else(|| StepError::NoBranch(from.to_owned()))?;
        self.go(branch, 0)
    }

    fn pick(
        &self,
        transition: &'d Transition,
        event: Option<&serde_json::Value>,
    ) -> Option<&'d Branch> {
        transition.branches.iter().find(|b| match &b.guard {
            None => true,
            Some(g) => eval(&g.op, self.data, &self.def.settings, event),
        })
    }

    fn go(&mut self, branch: &'d Branch, hops: usize) -> Result<(), StepError> {
        self.leave();
        self.push_effects(&branch.effects);
        self.enter(branch.to, hops)
    }

    fn leave(&mut self) {
        let state = self.def.state(self.inst.state);
        let has_sla = matches!(&state.kind, Kind::Task(t) if t.sla.is_some());
        if !state.timers.is_empty() || has_sla {
            self.effects.push(Effect::CancelTimers {
                entry: self.inst.entry,
            });
        }
        if matches!(state.kind, Kind::Task(_)) {
            self.effects.push(Effect::CloseTask {
                task: self.inst.entry,
            });
        }
        self.inst.approvals.clear();
    }

    fn push_effects(&mut self, effects: &'d Effects) {
        self.effects
            .extend(effects.actions.iter().map(Effect::Action));
        self.effects
            .extend(effects.notify.iter().map(Effect::Notify));
    }

    fn enter(&mut self, to: StateId, hops: usize) -> Result<(), StepError> {
        let def = self.def;
        if hops > def.states.len() {
            return Err(StepError::RoutingLoop);
        }
        let state = def.state(to);
        self.inst.entry = self.inst.entry.wrapping_add(1);
        self.inst.state = to;
        let entry = self.inst.entry;
        self.push_effects(&state.enter);
        for (i, timer) in state.timers.iter().enumerate() {
            let (due_at, beyond_calendar) = self.due(timer.after);
            let key = TimerKey {
                entry,
                slot: TimerSlot::State(i as u16),
            };
            self.effects.push(Effect::ScheduleTimer {
                key,
                due_at,
                beyond_calendar,
            });
        }
        match &state.kind {
            Kind::Start { next } | Kind::Auto { next } => {
                let branch = self
                    .pick(next, None)
                    .ok_or_else(|| StepError::NoBranch(state.name.clone()))?;
                self.go(branch, hops + 1)?;
            }
            Kind::Task(task) => {
                let sla_due = match &task.sla {
                    Some(sla) => {
                        let (due_at, beyond_calendar) = self.due(sla.within);
                        let key = TimerKey {
                            entry,
                            slot: TimerSlot::Sla,
                        };
                        self.effects.push(Effect::ScheduleTimer {
                            key,
                            due_at,
                            beyond_calendar,
                        });
                        Some(due_at)
                    }
                    None => None,
                };
                self.effects.push(Effect::OpenTask {
                    task: entry,
                    state: to,
                    spec: task,
                    sla_due,
                });
            }
            Kind::Wait => {}
            Kind::Subflow(spec) => self.effects.push(Effect::StartSubflow { entry, spec }),
            Kind::Terminal { .. } => {
                self.inst.status = Status::Finished;
                self.effects.push(Effect::Finish { state: to });
            }
        }
        Ok(())
    }

    fn due(&self, delay: Delay) -> (DateTime<Utc>, bool) {
        match delay {
            Delay::Wall(d) => (self.now.checked_add_signed(d).unwrap_or(self.now), false),
            Delay::Business(d) => {
                let due = self.def.calendar.add(self.now, d);
                (due.at, due.beyond_coverage)
            }
        }
    }
}

fn party_mask(n: usize) -> u8 {
    if n >= 8 { u8::MAX } else { (1u8 << n) - 1 }
}

/// Size of a maximum matching of approvers to parties (Kuhn's algorithm; at most 8 parties).
fn max_matching(approvers: &[crate::step::Approver], parties: usize) -> u8 {
    fn augment(
        a: usize,
        approvers: &[crate::step::Approver],
        parties: usize,
        seen: &mut u8,
        owner: &mut [Option<usize>; 8],
    ) -> bool {
        for p in 0..parties.min(8) {
            let bit = 1u8 << p;
            if approvers[a].parties & bit == 0 || *seen & bit != 0 {
                continue;
            }
            *seen |= bit;
            let free = match owner[p] {
                None => true,
                Some(other) => augment(other, approvers, parties, seen, owner),
            };
            if free {
                owner[p] = Some(a);
                return true;
            }
        }
        false
    }
    let mut owner = [None; 8];
    let mut size = 0u8;
    for a in 0..approvers.len() {
        let mut seen = 0u8;
        if augment(a, approvers, parties, &mut seen, &mut owner) {
            size += 1;
        }
    }
    size
}

/// Evaluates a guard over the form data, the settings and the event payload.
pub(crate) fn eval(
    op: &GuardOp,
    data: &serde_json::Value,
    settings: &serde_json::Value,
    event: Option<&serde_json::Value>,
) -> bool {
    let get = |p: &DataPath| p.resolve(data, settings, event);
    let present = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::String(s)) => !s.is_empty(),
        Some(serde_json::Value::Array(a)) => !a.is_empty(),
        Some(serde_json::Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    };
    match op {
        GuardOp::Present(p) => present(get(p)),
        GuardOp::Absent(p) => !present(get(p)),
        GuardOp::Equals(p, v) => get(p) == Some(v),
        GuardOp::NotEquals(p, v) => get(p) != Some(v),
        GuardOp::OneOf(p, vs) => get(p).is_some_and(|x| vs.contains(x)),
        GuardOp::AtLeast(p, n) => get(p)
            .and_then(serde_json::Value::as_i64)
            .is_some_and(|x| x >= *n),
        GuardOp::Above(p, n) => get(p)
            .and_then(serde_json::Value::as_i64)
            .is_some_and(|x| x > *n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approver(id: u128, parties: u8) -> crate::step::Approver {
        crate::step::Approver {
            actor: ActorId(id),
            parties,
        }
    }

    #[test]
    fn matching_counts_an_actor_in_two_parties_once() {
        // One person who is both finance and finance_lead fills one party only.
        assert_eq!(max_matching(&[approver(1, 0b11)], 2), 1);
        // A greedy match would give the first person party 0 and leave the second unmatched.
        assert_eq!(max_matching(&[approver(1, 0b11), approver(2, 0b01)], 2), 2);
        assert_eq!(max_matching(&[approver(1, 0b01), approver(2, 0b01)], 2), 1);
    }

    #[test]
    fn instances_survive_a_json_round_trip_with_full_width_ids() {
        let inst = Instance {
            state: StateId(3),
            status: Status::Running,
            requester: ActorId(u128::MAX - 7),
            entry: 9,
            approvals: smallvec::smallvec![approver(u128::MAX, 0b10)],
        };
        let json = serde_json::to_value(&inst).unwrap();
        assert_eq!(json["requester"], "fffffffffffffffffffffffffffffff8");
        assert_eq!(serde_json::from_value::<Instance>(json).unwrap(), inst);
    }

    #[test]
    fn party_mask_covers_exactly_n_parties() {
        assert_eq!(party_mask(1), 0b1);
        assert_eq!(party_mask(3), 0b111);
        assert_eq!(party_mask(8), 0xff);
    }
}
