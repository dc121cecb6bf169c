//! Applying events in one PostgreSQL transaction.
//!
//! One command may cause several engine steps inside the same transaction: a step that enters
//! a sub-workflow state starts the child instance, and a child that finishes reports to its
//! parent. They are processed from a queue, each locking its instance row first, so either all
//! of them are stored or none.

use std::collections::VecDeque;
use std::sync::Arc;

use certdesk_engine::def::{Kind, Party};
use certdesk_engine::{
    Actor, ActorId, Decision, Definition, Effect, Event, Instance, StepError, TimerKey, TimerSlot,
};
use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};
use uuid::Uuid;

use certdesk_store::schema::{definitions, instances, memberships, staff_roles, tasks, timers};
use diesel::dsl::sql;
use diesel::sql_types::{Array, Int4, Timestamptz};

use crate::write::{HistoryRow, InstanceAfter, InstanceNew, StepRows, StepWrite};
use crate::{Runtime, RuntimeError};

/// Something a person or an outside party asks of a running instance.
#[derive(Debug, Clone)]
pub enum Command {
    /// Decide an open task.
    Decide {
        /// The task row id.
        task_id: Uuid,
        /// Who decides.
        actor: Uuid,
        /// Outcome name.
        outcome: String,
        /// Reason code.
        reason: Option<String>,
        /// Comment.
        comment: Option<String>,
    },
    /// The requester withdraws.
    Withdraw {
        /// Who asks.
        actor: Uuid,
    },
    /// The requester resubmits corrected input after a return.
    Resubmit {
        /// Who asks.
        actor: Uuid,
        /// The corrected form input (checked against the definition's form).
        input: Value,
    },
    /// An outside party reports (bank result, payment callback).
    External {
        /// Catalog event name.
        name: String,
        /// Payload.
        payload: Value,
        /// Who reported (`bank`, `payment:wechat`), recorded in the history.
        source: String,
    },
}

/// The result of starting an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The new instance.
    pub instance_id: Uuid,
    /// The state it rests in after the first step.
    pub state: String,
    /// When it was stored (the runtime clock's time of the start; its `created_at`).
    pub created_at: DateTime<Utc>,
}

enum Work {
    /// The first step of an instance not yet stored: its row is written with the step.
    New(Box<NewInstance>),
    Command {
        instance: Uuid,
        command: Command,
    },
    Timer {
        instance: Uuid,
        key: TimerKey,
    },
    SubflowFinished {
        instance: Uuid,
        entry: u32,
        result: String,
    },
}

impl Work {
    fn instance(&self) -> Uuid {
        match self {
            Work::New(new) => new.id,
            Work::Command { instance, .. }
            | Work::Timer { instance, .. }
            | Work::SubflowFinished { instance, .. } => *instance,
        }
    }
}

#[derive(diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = instances, check_for_backend(diesel::pg::Pg))]
struct InstanceRow {
    definition: String,
    version: i32,
    subject_type: String,
    subject_id: Option<Uuid>,
    requester: Uuid,
    state: String,
    engine: Value,
    data: Value,
    parent_id: Option<Uuid>,
    parent_entry: Option<i32>,
    history_count: i64,
    history_head: Vec<u8>,
}

/// An instance about to be created by its first step.
struct NewInstance {
    id: Uuid,
    def: Arc<Definition>,
    subject_id: Option<Uuid>,
    requester: Uuid,
    data: Value,
    parent_id: Option<Uuid>,
    parent_entry: Option<i32>,
}

impl NewInstance {
    /// The row as the first step finds it: in the start state, with an empty history.
    fn row(&self) -> Result<InstanceRow, RuntimeError> {
        let def = &self.def;
        Ok(InstanceRow {
            definition: def.name.clone(),
            version: def.version as i32,
            subject_type: def.subject.clone(),
            subject_id: self.subject_id,
            requester: self.requester,
            state: def.state(def.start).name.clone(),
            engine: serde_json::to_value(Instance::new(def, ActorId(self.requester.as_u128())))
                .map_err(corrupt)?,
            data: self.data.clone(),
            parent_id: self.parent_id,
            parent_entry: self.parent_entry,
            history_count: 0,
            history_head: vec![0; 32],
        })
    }
}

/// The timers stored for an instance (entry and due time), read with its row.
const STORED_TIMER_ENTRIES: &str = "ARRAY(SELECT t.entry FROM timers t \
     WHERE t.instance_id = instances.id ORDER BY t.due_at, t.entry, t.slot)";
const STORED_TIMER_DUES: &str = "ARRAY(SELECT t.due_at FROM timers t \
     WHERE t.instance_id = instances.id ORDER BY t.due_at, t.entry, t.slot)";

#[derive(diesel::QueryableByName)]
struct DueTimer {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    instance_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    entry: i32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    slot: String,
}

fn slot_text(slot: TimerSlot) -> String {
    match slot {
        TimerSlot::State(i) => format!("state:{i}"),
        TimerSlot::Sla => "sla".to_owned(),
    }
}

fn parse_slot(text: &str) -> Option<TimerSlot> {
    match text {
        "sla" => Some(TimerSlot::Sla),
        other => other
            .strip_prefix("state:")?
            .parse()
            .ok()
            .map(TimerSlot::State),
    }
}

fn corrupt(what: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Corrupt(what.to_string())
}

impl Runtime {
    /// Records every current definition version in the database (idempotent). A version whose
    /// stored hash differs is refused: its content changed without a version bump.
    pub async fn sync_definitions(&self) -> Result<usize, RuntimeError> {
        let mut conn = self.conn().await?;
        let now = self.clock().now();
        let mut added = 0;
        for def in self.inner.current.iter() {
            let source = std::fs::read_to_string(&def.source)
                .map_err(|e| corrupt(format!("reading {}: {e}", def.source.display())))?;
            added += diesel::insert_into(definitions::table)
                .values((
                    definitions::name.eq(&def.name),
                    definitions::version.eq(def.version as i32),
                    definitions::sha256.eq(&def.sha256),
                    definitions::title.eq(&def.title),
                    definitions::source.eq(&source),
                    definitions::loaded_at.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(&mut conn)
                .await?;
            let stored: String = definitions::table
                .select(definitions::sha256)
                .filter(definitions::name.eq(&def.name))
                .filter(definitions::version.eq(def.version as i32))
                .first(&mut conn)
                .await?;
            if stored != def.sha256 {
                return Err(corrupt(format!(
                    "{} version {} is stored with other content: raise its version",
                    def.name, def.version
                )));
            }
        }
        self.inner
            .synced
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(added)
    }

    pub(crate) async fn conn(
        &self,
    ) -> Result<diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>, RuntimeError>
    {
        self.inner
            .pool
            .get()
            .await
            .map_err(|e| RuntimeError::Pool(e.to_string()))
    }

    /// Starts an instance of the newest version of `definition` for `requester`, after checking
    /// `input` against its form. `subject_id` is what relations such as `enterprise.admins`
    /// refer to.
    pub async fn start(
        &self,
        definition: &str,
        requester: Uuid,
        subject_id: Option<Uuid>,
        input: &Value,
    ) -> Result<Started, RuntimeError> {
        if !std::sync::atomic::AtomicBool::load(
            &self.inner.synced,
            std::sync::atomic::Ordering::Acquire,
        ) {
            return Err(corrupt(
                "definitions are not recorded in the database: call sync_definitions first",
            ));
        }
        let def = Arc::clone(
            self.definition(definition)
                .ok_or(RuntimeError::NotFound("definition"))?,
        );
        let data = def
            .form
            .check(input, &|_| None)
            .map_err(RuntimeError::Invalid)?;
        let id = Uuid::now_v7();
        let now = self.clock().now();
        let new = NewInstance {
            id,
            def,
            subject_id,
            requester,
            data,
            parent_id: None,
            parent_entry: None,
        };
        let mut conn = self.conn().await?;
        let this = self.clone();
        let state = conn
            .transaction::<_, RuntimeError, _>(async move |conn| {
                this.process(conn, Work::New(Box::new(new)), now).await
            })
            .await
            .map_err(|e| match e {
                RuntimeError::Db(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    info,
                )) if info
                    .constraint_name()
                    .is_some_and(|c| c.starts_with("instances_one_open_")) =>
                {
                    RuntimeError::AlreadyOpen
                }
                other => other,
            })?;
        Ok(Started {
            instance_id: id,
            state,
            created_at: now,
        })
    }

    /// Applies a command to a running instance; returns the state it rests in afterwards.
    pub async fn command(
        &self,
        instance_id: Uuid,
        command: Command,
    ) -> Result<String, RuntimeError> {
        let now = self.clock().now();
        let mut conn = self.conn().await?;
        let this = self.clone();
        conn.transaction::<_, RuntimeError, _>(async move |conn| {
            this.process(
                conn,
                Work::Command {
                    instance: instance_id,
                    command,
                },
                now,
            )
            .await
        })
        .await
    }

    /// Fires timers due now, each in its own transaction, claiming instances with
    /// `FOR UPDATE SKIP LOCKED` so concurrent schedulers never fire one twice. Returns how many
    /// fired (stale ones are deleted and not counted).
    pub async fn fire_due_timers(&self, limit: usize) -> Result<usize, RuntimeError> {
        let mut fired = 0;
        let mut conn = self.conn().await?;
        while fired < limit {
            let now = self.clock().now();
            let this = self.clone();
            let outcome = conn
                .transaction::<_, RuntimeError, _>(async move |conn| {
                    // Lock the instance, not the timer: every writer of timer rows holds the
                    // instance lock first, so this order cannot deadlock with a decision.
                    let claimed: Option<DueTimer> = diesel::sql_query(
                        "SELECT t.instance_id, t.entry, t.slot FROM timers t \
                         JOIN instances i ON i.id = t.instance_id \
                         WHERE t.due_at <= $1 ORDER BY t.due_at LIMIT 1 \
                         FOR UPDATE OF i SKIP LOCKED",
                    )
                    .bind::<diesel::sql_types::Timestamptz, _>(now)
                    .get_result(conn)
                    .await
                    .optional()?;
                    let Some(DueTimer {
                        instance_id: instance,
                        entry,
                        slot,
                    }) = claimed
                    else {
                        return Ok(None);
                    };
                    diesel::delete(
                        timers::table
                            .filter(timers::instance_id.eq(instance))
                            .filter(timers::entry.eq(entry))
                            .filter(timers::slot.eq(&slot)),
                    )
                    .execute(conn)
                    .await?;
                    let slot =
                        parse_slot(&slot).ok_or_else(|| corrupt(format!("timer slot `{slot}`")))?;
                    let key = TimerKey {
                        entry: entry as u32,
                        slot,
                    };
                    match this.process(conn, Work::Timer { instance, key }, now).await {
                        Ok(_) => Ok(Some(true)),
                        // The state was left or the instance ended: the row was a leftover.
                        Err(RuntimeError::Step(StepError::Stale(_) | StepError::Finished)) => {
                            Ok(Some(false))
                        }
                        Err(e) => Err(e),
                    }
                })
                .await?;
            match outcome {
                None => break,
                Some(true) => fired += 1,
                Some(false) => {}
            }
        }
        Ok(fired)
    }

    /// Version `version` of definition `name`: the current one, or compiled from the copy the
    /// `definitions` table keeps (for instances on older versions, and the console's diagrams).
    ///
    /// # Errors
    ///
    /// When the database holds no such version, or it no longer compiles.
    pub async fn definition_version(
        &self,
        name: &str,
        version: i32,
    ) -> Result<Arc<Definition>, RuntimeError> {
        let mut conn = self.conn().await?;
        self.version(&mut conn, name, version).await
    }

    /// Loads the definition version an instance runs on.
    async fn version(
        &self,
        conn: &mut AsyncPgConnection,
        name: &str,
        version: i32,
    ) -> Result<Arc<Definition>, RuntimeError> {
        let key = (name.to_owned(), version as u32);
        if let Some(def) = self
            .inner
            .versions
            .read()
            .map_err(|_| corrupt("definition cache poisoned"))?
            .get(&key)
        {
            return Ok(Arc::clone(def));
        }
        let source: String = definitions::table
            .select(definitions::source)
            .filter(definitions::name.eq(name))
            .filter(definitions::version.eq(version))
            .first(conn)
            .await?;
        let src = certdesk_engine::Source {
            path: format!("db:{name}@{version}").into(),
            text: source,
        };
        let mut env = self.inner.env.clone();
        env.lock = None;
        let registry = certdesk_engine::load_sources(std::slice::from_ref(&src), &env)
            .map_err(|e| corrupt(format!("{name} v{version} no longer compiles: {}", e[0])))?;
        let def = Arc::clone(
            registry
                .get(name)
                .ok_or_else(|| corrupt("compiled definition missing"))?,
        );
        self.inner
            .versions
            .write()
            .map_err(|_| corrupt("definition cache poisoned"))?
            .insert(key, Arc::clone(&def));
        Ok(def)
    }

    /// Processes a unit of work and everything it causes, inside the caller's transaction;
    /// returns the state the first work's instance rests in afterwards.
    async fn process(
        &self,
        conn: &mut AsyncPgConnection,
        first: Work,
        now: DateTime<Utc>,
    ) -> Result<String, RuntimeError> {
        let first_id = first.instance();
        let mut first_state = None;
        let mut queue = VecDeque::from([first]);
        while let Some(work) = queue.pop_front() {
            let id = work.instance();
            // A new instance's row is written with its first step; a stored one is locked
            // first, with its timers (a notice shows the nearest deadline).
            let (row, stored_timers, is_new) = match &work {
                Work::New(new) => (new.row()?, Vec::new(), true),
                _ => {
                    let (row, entries, dues): (InstanceRow, Vec<i32>, Vec<DateTime<Utc>>) =
                        instances::table
                            .select((
                                <InstanceRow as diesel::SelectableHelper<diesel::pg::Pg>>::as_select(),
                                sql::<Array<Int4>>(STORED_TIMER_ENTRIES),
                                sql::<Array<Timestamptz>>(STORED_TIMER_DUES),
                            ))
                            .find(id)
                            .for_update()
                            .first(conn)
                            .await
                            .optional()?
                            .ok_or(RuntimeError::NotFound("instance"))?;
                    let timers: Vec<(i32, DateTime<Utc>)> = entries.into_iter().zip(dues).collect();
                    (row, timers, false)
                }
            };
            let def = match &work {
                Work::New(new) => Arc::clone(&new.def),
                _ => self.version(conn, &row.definition, row.version).await?,
            };
            let inst: Instance = serde_json::from_value(row.engine.clone()).map_err(corrupt)?;
            let mut data = row.data.clone();
            let from = row.state.clone();

            // Translate the work into an engine event, with what the engine cannot look up.
            let (actor_text, event_name, mut details, outcome_buf);
            let step = match &work {
                Work::New(_) => {
                    actor_text = format!("user:{}", row.requester);
                    event_name = "start";
                    details = json!({});
                    certdesk_engine::step(&def, &inst, &data, &Event::Start, now)
                }
                Work::Timer { key, .. } => {
                    actor_text = "system:timer".to_owned();
                    event_name = "timer_fired";
                    details = json!({ "entry": key.entry, "slot": slot_text(key.slot) });
                    certdesk_engine::step(&def, &inst, &data, &Event::TimerFired(*key), now)
                }
                Work::SubflowFinished { entry, result, .. } => {
                    actor_text = "system:subflow".to_owned();
                    event_name = "subflow_finished";
                    details = json!({ "result": result });
                    let event = Event::SubflowFinished {
                        entry: *entry,
                        result,
                    };
                    certdesk_engine::step(&def, &inst, &data, &event, now)
                }
                Work::Command { command, .. } => match command {
                    Command::Decide {
                        task_id,
                        actor,
                        outcome,
                        reason,
                        comment,
                    } => {
                        actor_text = format!("user:{actor}");
                        event_name = "decide";
                        let (entry, task_status): (i32, String) = tasks::table
                            .select((tasks::entry, tasks::status))
                            .filter(tasks::id.eq(task_id))
                            .filter(tasks::instance_id.eq(id))
                            .first(conn)
                            .await
                            .optional()?
                            .ok_or(RuntimeError::NotFound("task"))?;
                        // Checked under the instance lock: a task someone else decided first is
                        // "already decided" (409), whatever state the instance went on to.
                        if task_status != "open" {
                            return Err(StepError::TaskNotOpen { task: entry as u32 }.into());
                        }
                        let parties = match &def.state(inst.state).kind {
                            Kind::Task(task) if inst.entry == entry as u32 => {
                                self.parties(
                                    conn,
                                    &task.parties,
                                    *actor,
                                    row.requester,
                                    row.subject_id,
                                )
                                .await?
                            }
                            _ => 0,
                        };
                        details = json!({ "task": task_id, "outcome": outcome, "reason": reason, "comment": comment });
                        outcome_buf = outcome.clone();
                        let decision = Decision {
                            task: entry as u32,
                            actor: Actor {
                                id: ActorId(actor.as_u128()),
                                parties,
                            },
                            outcome: &outcome_buf,
                            reason: reason.as_deref(),
                            comment: comment.as_deref(),
                        };
                        certdesk_engine::step(&def, &inst, &data, &Event::Decide(decision), now)
                    }
                    Command::Withdraw { actor } => {
                        actor_text = format!("user:{actor}");
                        event_name = "withdraw";
                        details = json!({});
                        certdesk_engine::step(
                            &def,
                            &inst,
                            &data,
                            &Event::Withdraw {
                                actor: ActorId(actor.as_u128()),
                            },
                            now,
                        )
                    }
                    Command::Resubmit { actor, input } => {
                        actor_text = format!("user:{actor}");
                        event_name = "resubmit";
                        let checked = def
                            .form
                            .check(input, &|_| None)
                            .map_err(RuntimeError::Invalid)?;
                        details = json!({ "data": checked });
                        let stepped = certdesk_engine::step(
                            &def,
                            &inst,
                            &checked,
                            &Event::Resubmit {
                                actor: ActorId(actor.as_u128()),
                            },
                            now,
                        );
                        data = checked;
                        stepped
                    }
                    Command::External {
                        name,
                        payload,
                        source,
                    } => {
                        actor_text = format!("system:{source}");
                        event_name = "external";
                        details = json!({ "name": name, "payload": payload });
                        certdesk_engine::step(
                            &def,
                            &inst,
                            &data,
                            &Event::External { name, payload },
                            now,
                        )
                    }
                },
            };
            let stepped = step?;

            let mut effects_summary = Vec::with_capacity(stepped.effects.len());
            let mut rows = StepRows::default();
            let mut notices: Vec<(String, Value)> = Vec::new();
            for effect in &stepped.effects {
                match effect {
                    Effect::OpenTask {
                        task,
                        state,
                        spec,
                        sla_due,
                    } => {
                        rows.open_task(
                            *task as i32,
                            def.state(*state).name.clone(),
                            serde_json::to_value(&spec.parties).map_err(corrupt)?,
                            serde_json::to_string(&spec.approval).map_err(corrupt)?,
                            *sla_due,
                        );
                        effects_summary.push(format!("open_task:{task}"));
                    }
                    Effect::CloseTask { task } => {
                        rows.close_task(*task as i32);
                        effects_summary.push(format!("close_task:{task}"));
                    }
                    Effect::ApprovalCounted { have, need, .. } => {
                        effects_summary.push(format!("approval:{have}/{need}"))
                    }
                    Effect::ScheduleTimer {
                        key,
                        due_at,
                        beyond_calendar,
                    } => {
                        if *beyond_calendar {
                            tracing::warn!(
                                instance.id = %id,
                                timer.due_at = %due_at,
                                "business-time due date computed past the end of workflows/holidays.toml"
                            );
                        }
                        rows.schedule(key.entry as i32, slot_text(key.slot), *due_at);
                    }
                    Effect::CancelTimers { entry } => rows.cancel_timers(*entry as i32),
                    Effect::Action(call) => {
                        let payload = json!({
                            "instance_id": id, "definition": def.name, "version": def.version, "args": call.args,
                        });
                        rows.outbox("action", &call.name, payload);
                        effects_summary.push(format!("action:{}", call.name));
                    }
                    Effect::Notify(n) => {
                        let via: Vec<&str> = n.via.iter().map(|c| c.as_str()).collect();
                        // A decision's reason and comment travel with the notices it causes.
                        let payload = json!({
                            "instance_id": id, "definition": def.name, "template": n.template, "to": n.to, "via": via,
                            "reason": details.get("reason"), "comment": details.get("comment"),
                        });
                        notices.push((n.template.clone(), payload));
                        effects_summary.push(format!("notify:{}:{}", n.template, n.to));
                    }
                    Effect::StartSubflow { entry, spec } => {
                        let child_def = Arc::clone(
                            self.definition(&spec.workflow)
                                .ok_or(RuntimeError::NotFound("sub-workflow definition"))?,
                        );
                        let mut input = serde_json::Map::new();
                        for (field, path) in &spec.input {
                            if let Some(v) = path.resolve(&data, &def.settings, None) {
                                input.insert(field.clone(), v.clone());
                            }
                        }
                        // The parent's data was checked already: a child form refusing it is a
                        // definition bug, not the applicant's input.
                        let child_data = child_def
                            .form
                            .check(&Value::Object(input), &|_| None)
                            .map_err(|e| {
                                corrupt(format!(
                                    "`{}` gives `{}` input its form refuses: {e:?}",
                                    def.name, spec.workflow
                                ))
                            })?;
                        let child = Uuid::now_v7();
                        queue.push_back(Work::New(Box::new(NewInstance {
                            id: child,
                            def: child_def,
                            subject_id: row.subject_id,
                            requester: row.requester,
                            data: child_data,
                            parent_id: Some(id),
                            parent_entry: Some(*entry as i32),
                        })));
                        effects_summary.push(format!("subflow:{}:{child}", spec.workflow));
                    }
                    Effect::Escalate { task, sla } => {
                        rows.breach_task(*task as i32);
                        effects_summary.push(format!("escalate:{}", sla.escalate_to));
                    }
                    Effect::Finish { state } => {
                        if let (Some(parent), Some(entry)) = (row.parent_id, row.parent_entry) {
                            queue.push_back(Work::SubflowFinished {
                                instance: parent,
                                entry: entry as u32,
                                result: def.state(*state).name.clone(),
                            });
                        }
                        effects_summary.push(format!("finish:{}", def.state(*state).name));
                    }
                }
            }
            if !notices.is_empty() {
                // The nearest deadline once this step's timers are in place (the expiry a
                // reminder warns of), as the notices will show it.
                let stored = stored_timers
                    .iter()
                    .filter(|(entry, due)| *due > now && !rows.cancels(*entry))
                    .map(|(_, due)| *due)
                    .min();
                let deadline = match (stored, rows.earliest_timer(now)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                for (template, mut payload) in notices {
                    payload["deadline"] = json!(deadline);
                    rows.outbox("notification", &template, payload);
                }
            }

            // The signed, chained history entry for this step.
            let to = def.state(stepped.instance.state).name.clone();
            if let Value::Object(map) = &mut details {
                map.insert("from".into(), json!(from));
                map.insert("to".into(), json!(to));
                map.insert("effects".into(), json!(effects_summary));
            }
            let prev: [u8; 32] = row
                .history_head
                .as_slice()
                .try_into()
                .map_err(|_| corrupt("history head is not 32 bytes"))?;
            let seq = row.history_count + 1;
            let entry = self
                .signer()
                .seal(id, seq, now, &actor_text, event_name, details, prev);
            let status = match stepped.instance.status {
                certdesk_engine::Status::Finished => "finished",
                _ => "running",
            };
            // What one statement cannot do (touch a row twice) goes first, on its own.
            let (breach, cancel) = rows.take_conflicts();
            if !breach.is_empty() {
                diesel::update(
                    tasks::table
                        .filter(tasks::instance_id.eq(id))
                        .filter(tasks::entry.eq_any(&breach)),
                )
                .set(tasks::breached_at.eq(now))
                .execute(conn)
                .await?;
            }
            if !cancel.is_empty() {
                diesel::delete(
                    timers::table
                        .filter(timers::instance_id.eq(id))
                        .filter(timers::entry.eq_any(&cancel)),
                )
                .execute(conn)
                .await?;
            }
            let engine = serde_json::to_value(&stepped.instance).map_err(corrupt)?;
            StepWrite {
                id,
                now,
                rows: &rows,
                history: HistoryRow {
                    seq,
                    at: entry.at,
                    actor: &entry.actor,
                    event: &entry.event,
                    payload: &entry.payload,
                    prev_hash: &entry.prev_hash,
                    hash: &entry.hash,
                    signature: &entry.signature,
                    key_id: &entry.key_id,
                },
                after: InstanceAfter {
                    state: &to,
                    status,
                    engine: &engine,
                    data: &data,
                },
                new: is_new.then(|| InstanceNew {
                    definition: &def.name,
                    version: def.version as i32,
                    subject_type: &row.subject_type,
                    subject_id: row.subject_id,
                    requester: row.requester,
                    parent_id: row.parent_id,
                    parent_entry: row.parent_entry,
                }),
            }
            .execute(conn)
            .await?;
            if id == first_id {
                first_state = Some(to);
            }
        }
        first_state.ok_or_else(|| corrupt("the first work was not processed"))
    }

    /// Which of a task's parties the actor belongs to, as the engine's bit mask.
    async fn parties(
        &self,
        conn: &mut AsyncPgConnection,
        parties: &[Party],
        actor: Uuid,
        requester: Uuid,
        subject: Option<Uuid>,
    ) -> Result<u8, RuntimeError> {
        let mut mask = 0u8;
        for (i, party) in parties.iter().enumerate().take(8) {
            let member = |subject: Uuid, roles: &'static [&'static str]| {
                memberships::table
                    .filter(memberships::enterprise_id.eq(subject))
                    .filter(memberships::user_id.eq(actor))
                    .filter(memberships::role.eq_any(roles))
                    .count()
            };
            let belongs = match party {
                Party::Group(group) => {
                    staff_roles::table
                        .filter(staff_roles::user_id.eq(actor))
                        .filter(staff_roles::role.eq(group))
                        .count()
                        .get_result::<i64>(conn)
                        .await?
                        > 0
                }
                Party::Relation(r) => match (r.as_str(), subject) {
                    ("applicant", _) => actor == requester,
                    ("enterprise.admins", Some(e)) => {
                        member(e, &["enterprise_admin"])
                            .get_result::<i64>(conn)
                            .await?
                            > 0
                    }
                    ("enterprise.legal_rep", Some(e)) => {
                        member(e, &["legal_rep"]).get_result::<i64>(conn).await? > 0
                    }
                    ("enterprise.members", Some(e)) => {
                        member(e, &["enterprise_admin", "legal_rep", "member"])
                            .get_result::<i64>(conn)
                            .await?
                            > 0
                    }
                    _ => false,
                },
            };
            if belongs {
                mask |= 1 << i;
            }
        }
        Ok(mask)
    }
}
