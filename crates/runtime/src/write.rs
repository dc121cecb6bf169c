//! Everything one step writes, in ONE statement.
//!
//! A step changes up to seven tables: tasks opened, closed or breached, timers cancelled and
//! scheduled, outbox rows, the history entry, and the instance row itself (inserted for a new
//! instance, updated otherwise). Sent one statement at a time that is up to nine round trips
//! per step, and each costs PostgreSQL a parse, a plan and an executor start besides the
//! client's own work. Here they are one data-modifying `WITH` statement whose row sets travel
//! as arrays (`unnest`), so its text never changes with the number of rows and diesel keeps it
//! prepared on the connection (a static [`QueryId`]).
//!
//! The sub-statements of one `WITH` run on one snapshot and in no promised order, so they must
//! not touch the same row twice. [`StepRows::conflicts`] says when they would (a task both
//! breached and closed, a timer cancelled and scheduled again under the same key) and the
//! caller then sends those parts first, alone. Foreign keys and the outbox's NOTIFY trigger
//! fire at the end of the statement, when every row is in place.

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{
    Array, Bytea, Int4, Int8, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use serde_json::Value;
use uuid::Uuid;

/// The rows of one step besides the history entry and the instance row, as columns: they
/// travel as one array per column.
#[derive(Debug, Default)]
pub(crate) struct StepRows {
    // Tasks opened.
    task_id: Vec<Uuid>,
    task_entry: Vec<i32>,
    task_state: Vec<String>,
    task_parties: Vec<Value>,
    task_approval: Vec<String>,
    task_sla: Vec<Option<DateTime<Utc>>>,
    task_closed: Vec<bool>,
    task_breached: Vec<bool>,
    /// Entries of stored tasks to close.
    close: Vec<i32>,
    /// Entries of stored tasks whose SLA was breached.
    breach: Vec<i32>,
    /// Entries whose stored timers are deleted.
    cancel: Vec<i32>,
    // Timers scheduled.
    timer_entry: Vec<i32>,
    timer_slot: Vec<String>,
    timer_due: Vec<DateTime<Utc>>,
    // Outbox rows (status `pending`, due now).
    outbox_id: Vec<Uuid>,
    outbox_kind: Vec<String>,
    outbox_name: Vec<String>,
    outbox_payload: Vec<Value>,
}

impl StepRows {
    /// Records a task opened.
    pub fn open_task(
        &mut self,
        entry: i32,
        state: String,
        parties: Value,
        approval: String,
        sla_due_at: Option<DateTime<Utc>>,
    ) {
        self.task_id.push(Uuid::now_v7());
        self.task_entry.push(entry);
        self.task_state.push(state);
        self.task_parties.push(parties);
        self.task_approval.push(approval);
        self.task_sla.push(sla_due_at);
        self.task_closed.push(false);
        self.task_breached.push(false);
    }

    /// Records a task closed, folding it into the insert when this step opened it.
    pub fn close_task(&mut self, entry: i32) {
        match self.task_entry.iter().position(|e| *e == entry) {
            Some(i) => self.task_closed[i] = true,
            None => self.close.push(entry),
        }
    }

    /// Records a task breached, folding it into the insert when this step opened it.
    pub fn breach_task(&mut self, entry: i32) {
        match self.task_entry.iter().position(|e| *e == entry) {
            Some(i) => self.task_breached[i] = true,
            None => self.breach.push(entry),
        }
    }

    /// Records a timer scheduled.
    pub fn schedule(&mut self, entry: i32, slot: String, due_at: DateTime<Utc>) {
        self.timer_entry.push(entry);
        self.timer_slot.push(slot);
        self.timer_due.push(due_at);
    }

    /// Records the timers of `entry` cancelled: the ones this step scheduled are dropped, the
    /// stored ones deleted.
    pub fn cancel_timers(&mut self, entry: i32) {
        while let Some(i) = self.timer_entry.iter().position(|e| *e == entry) {
            self.timer_entry.remove(i);
            self.timer_slot.remove(i);
            self.timer_due.remove(i);
        }
        if !self.cancel.contains(&entry) {
            self.cancel.push(entry);
        }
    }

    /// Records an outbox row.
    pub fn outbox(&mut self, kind: &str, name: &str, payload: Value) {
        self.outbox_id.push(Uuid::now_v7());
        self.outbox_kind.push(kind.to_owned());
        self.outbox_name.push(name.to_owned());
        self.outbox_payload.push(payload);
    }

    /// The earliest timer this step schedules that is due after `now`.
    pub fn earliest_timer(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.timer_due.iter().copied().filter(|d| *d > now).min()
    }

    /// Whether the stored timers of `entry` are deleted by this step.
    pub fn cancels(&self, entry: i32) -> bool {
        self.cancel.contains(&entry)
    }

    /// Parts that one statement would apply to a row twice (a task both breached and closed,
    /// a timer key deleted and inserted again), taken out to be sent first on their own:
    /// breached entries and cancelled entries. Empty in nearly every step.
    pub fn take_conflicts(&mut self) -> (Vec<i32>, Vec<i32>) {
        let breach = if self.breach.iter().any(|e| self.close.contains(e)) {
            std::mem::take(&mut self.breach)
        } else {
            Vec::new()
        };
        let cancel = if self.timer_entry.iter().any(|e| self.cancel.contains(e)) {
            std::mem::take(&mut self.cancel)
        } else {
            Vec::new()
        };
        (breach, cancel)
    }
}

/// The signed history entry of a step.
#[derive(Debug)]
pub(crate) struct HistoryRow<'a> {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub event: &'a str,
    pub payload: &'a Value,
    pub prev_hash: &'a [u8],
    pub hash: &'a [u8],
    pub signature: &'a [u8],
    pub key_id: &'a str,
}

/// The instance row as the step leaves it.
#[derive(Debug)]
pub(crate) struct InstanceAfter<'a> {
    pub state: &'a str,
    pub status: &'a str,
    pub engine: &'a Value,
    pub data: &'a Value,
}

/// What a new instance row needs besides [`InstanceAfter`].
#[derive(Debug)]
pub(crate) struct InstanceNew<'a> {
    pub definition: &'a str,
    pub version: i32,
    pub subject_type: &'a str,
    pub subject_id: Option<Uuid>,
    pub requester: Uuid,
    pub parent_id: Option<Uuid>,
    pub parent_entry: Option<i32>,
}

/// One step's writes as one statement: `new` is `Some` for an instance the step creates.
#[derive(Debug)]
pub(crate) struct StepWrite<'a> {
    pub id: Uuid,
    pub now: DateTime<Utc>,
    pub rows: &'a StepRows,
    pub history: HistoryRow<'a>,
    pub after: InstanceAfter<'a>,
    pub new: Option<InstanceNew<'a>>,
}

impl StepWrite<'_> {
    /// Sends the statement on `conn`.
    pub async fn execute(self, conn: &mut diesel_async::AsyncPgConnection) -> QueryResult<()> {
        use diesel_async::methods::ExecuteDsl;
        let written = if self.new.is_some() {
            ExecuteDsl::execute(InsertStep(self), conn).await?
        } else {
            ExecuteDsl::execute(UpdateStep(self), conn).await?
        };
        // The instance row is the statement's own target: one row, or the instance vanished.
        if written == 1 {
            Ok(())
        } else {
            Err(diesel::result::Error::NotFound)
        }
    }

    /// The `WITH` list shared by both forms.
    fn walk_rows<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let rows = self.rows;
        out.push_sql("WITH close_tasks AS (UPDATE tasks SET status = 'closed', closed_at = ");
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(" WHERE instance_id = ");
        out.push_bind_param::<SqlUuid, _>(&self.id)?;
        out.push_sql(" AND entry = ANY(");
        out.push_bind_param::<Array<Int4>, _>(&rows.close)?;
        out.push_sql(")), breach_tasks AS (UPDATE tasks SET breached_at = ");
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(" WHERE instance_id = ");
        out.push_bind_param::<SqlUuid, _>(&self.id)?;
        out.push_sql(" AND entry = ANY(");
        out.push_bind_param::<Array<Int4>, _>(&rows.breach)?;
        out.push_sql(
            ")), open_tasks AS (INSERT INTO tasks (id, instance_id, entry, state, parties, \
             approval, status, opened_at, sla_due_at, breached_at, closed_at) \
             SELECT t.id, ",
        );
        out.push_bind_param::<SqlUuid, _>(&self.id)?;
        out.push_sql(", t.entry, t.state, t.parties, t.approval, CASE WHEN t.closed THEN 'closed' ELSE 'open' END, ");
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(", t.sla_due_at, CASE WHEN t.breached THEN ");
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(" END, CASE WHEN t.closed THEN ");
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(" END FROM unnest(");
        out.push_bind_param::<Array<SqlUuid>, _>(&rows.task_id)?;
        out.push_sql("::uuid[], ");
        out.push_bind_param::<Array<Int4>, _>(&rows.task_entry)?;
        out.push_sql("::int4[], ");
        out.push_bind_param::<Array<Text>, _>(&rows.task_state)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Jsonb>, _>(&rows.task_parties)?;
        out.push_sql("::jsonb[], ");
        out.push_bind_param::<Array<Text>, _>(&rows.task_approval)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<Timestamptz>>, _>(&rows.task_sla)?;
        out.push_sql("::timestamptz[], ");
        out.push_bind_param::<Array<diesel::sql_types::Bool>, _>(&rows.task_closed)?;
        out.push_sql("::bool[], ");
        out.push_bind_param::<Array<diesel::sql_types::Bool>, _>(&rows.task_breached)?;
        out.push_sql(
            "::bool[]) AS t(id, entry, state, parties, approval, sla_due_at, closed, breached)), \
             cancel_timers AS (DELETE FROM timers WHERE instance_id = ",
        );
        out.push_bind_param::<SqlUuid, _>(&self.id)?;
        out.push_sql(" AND entry = ANY(");
        out.push_bind_param::<Array<Int4>, _>(&rows.cancel)?;
        out.push_sql(
            ")), new_timers AS (INSERT INTO timers (instance_id, entry, slot, due_at) SELECT ",
        );
        out.push_bind_param::<SqlUuid, _>(&self.id)?;
        out.push_sql(", t.entry, t.slot, t.due_at FROM unnest(");
        out.push_bind_param::<Array<Int4>, _>(&rows.timer_entry)?;
        out.push_sql("::int4[], ");
        out.push_bind_param::<Array<Text>, _>(&rows.timer_slot)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Timestamptz>, _>(&rows.timer_due)?;
        out.push_sql(
            "::timestamptz[]) AS t(entry, slot, due_at)), \
             new_outbox AS (INSERT INTO outbox (id, instance_id, kind, name, payload, status, \
             next_attempt_at, created_at) SELECT o.id, ",
        );
        out.push_bind_param::<SqlUuid, _>(&self.id)?;
        out.push_sql(", o.kind, o.name, o.payload, 'pending', ");
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(" FROM unnest(");
        out.push_bind_param::<Array<SqlUuid>, _>(&rows.outbox_id)?;
        out.push_sql("::uuid[], ");
        out.push_bind_param::<Array<Text>, _>(&rows.outbox_kind)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&rows.outbox_name)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Jsonb>, _>(&rows.outbox_payload)?;
        out.push_sql(
            "::jsonb[]) AS o(id, kind, name, payload)), \
             entry AS (INSERT INTO history (instance_id, seq, at, actor, event, payload, \
             prev_hash, hash, signature, key_id) VALUES (",
        );
        let h = &self.history;
        out.push_bind_param::<SqlUuid, _>(&self.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Int8, _>(&h.seq)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamptz, _>(&h.at)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&h.actor)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&h.event)?;
        out.push_sql(", ");
        out.push_bind_param::<Jsonb, _>(h.payload)?;
        out.push_sql(", ");
        out.push_bind_param::<Bytea, _>(&h.prev_hash)?;
        out.push_sql(", ");
        out.push_bind_param::<Bytea, _>(&h.hash)?;
        out.push_sql(", ");
        out.push_bind_param::<Bytea, _>(&h.signature)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&h.key_id)?;
        out.push_sql(")) ");
        Ok(())
    }
}

macro_rules! step_query {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        struct $name<'a>(StepWrite<'a>);

        impl QueryId for $name<'_> {
            type QueryId = $name<'static>;
            // One SQL text whatever the row counts: prepared once per connection.
            const HAS_STATIC_QUERY_ID: bool = true;
        }
    };
}

step_query!(
    UpdateStep,
    "A step of a stored instance: the rows, then `UPDATE instances`."
);
step_query!(
    InsertStep,
    "The first step of a new instance: the rows, then `INSERT INTO instances`."
);

impl QueryFragment<Pg> for UpdateStep<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let w = &self.0;
        w.walk_rows(&mut out)?;
        out.push_sql("UPDATE instances SET state = ");
        out.push_bind_param::<Text, _>(&w.after.state)?;
        out.push_sql(", status = ");
        out.push_bind_param::<Text, _>(&w.after.status)?;
        out.push_sql(", engine = ");
        out.push_bind_param::<Jsonb, _>(w.after.engine)?;
        out.push_sql(", data = ");
        out.push_bind_param::<Jsonb, _>(w.after.data)?;
        out.push_sql(", history_count = ");
        out.push_bind_param::<Int8, _>(&w.history.seq)?;
        out.push_sql(", history_head = ");
        out.push_bind_param::<Bytea, _>(&w.history.hash)?;
        out.push_sql(", updated_at = ");
        out.push_bind_param::<Timestamptz, _>(&w.now)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<SqlUuid, _>(&w.id)?;
        Ok(())
    }
}

impl QueryFragment<Pg> for InsertStep<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let w = &self.0;
        let Some(new) = &w.new else {
            return Err(diesel::result::Error::QueryBuilderError(
                "an instance insert without its new row".into(),
            ));
        };
        w.walk_rows(&mut out)?;
        out.push_sql(
            "INSERT INTO instances (id, definition, version, subject_type, subject_id, \
             requester, state, status, engine, data, parent_id, parent_entry, history_count, \
             history_head, created_at, updated_at) VALUES (",
        );
        out.push_bind_param::<SqlUuid, _>(&w.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&new.definition)?;
        out.push_sql(", ");
        out.push_bind_param::<Int4, _>(&new.version)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&new.subject_type)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<SqlUuid>, _>(&new.subject_id)?;
        out.push_sql(", ");
        out.push_bind_param::<SqlUuid, _>(&new.requester)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&w.after.state)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&w.after.status)?;
        out.push_sql(", ");
        out.push_bind_param::<Jsonb, _>(w.after.engine)?;
        out.push_sql(", ");
        out.push_bind_param::<Jsonb, _>(w.after.data)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<SqlUuid>, _>(&new.parent_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Int4>, _>(&new.parent_entry)?;
        out.push_sql(", ");
        out.push_bind_param::<Int8, _>(&w.history.seq)?;
        out.push_sql(", ");
        out.push_bind_param::<Bytea, _>(&w.history.hash)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamptz, _>(&w.now)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamptz, _>(&w.now)?;
        out.push_sql(")");
        Ok(())
    }
}
