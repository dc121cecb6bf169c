//! The outbox's life in PostgreSQL: claiming owed rows for the relay, releasing expired leases
//! (the sweeper), executing one effect exactly once in effect, retries with a capped backoff,
//! and dead rows an operator can revive.
//!
//! PostgreSQL is the source of truth; Redis only carries outbox ids. A row is `pending` (owed,
//! due at `next_attempt_at`), `enqueued` (handed to Redis, leased until `lease_until`), `done`
//! or `dead`. Whatever Redis loses, the sweeper turns back into `pending` when the lease ends,
//! and the relay hands it over again. Executing locks the row, so two deliveries of one id
//! never overlap, and the second sees `done` and does nothing.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use certdesk_store::schema::outbox;

use crate::{Runtime, RuntimeError};

/// Attempts after which a failing effect goes dead (`certdesk jobs retry` revives it).
pub const MAX_ATTEMPTS: i32 = 8;

/// Delay before retry number `attempt` (1-based): 2 s doubling, capped at 10 minutes.
pub fn backoff(attempt: i32) -> TimeDelta {
    let secs = 2i64.saturating_pow(attempt.clamp(1, 30) as u32).min(600);
    TimeDelta::seconds(secs)
}

/// One outbox row, as an executor sees it.
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = outbox, check_for_backend(diesel::pg::Pg))]
pub struct OutboxRow {
    /// The effect id: also the idempotency key sent to outside parties.
    pub id: Uuid,
    /// The instance that caused it.
    pub instance_id: Option<Uuid>,
    /// `action` or `notification`.
    pub kind: String,
    /// Action name or template name.
    pub name: String,
    /// What the step recorded for it.
    pub payload: Value,
    /// `pending`, `enqueued`, `done` or `dead`.
    pub status: String,
    /// Failed attempts so far.
    pub attempts: i32,
    /// Last failure.
    pub last_error: Option<String>,
    /// When the step wrote it.
    pub created_at: DateTime<Utc>,
}

/// How an effect attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EffectError {
    /// Worth retrying later (outage, timeout).
    Transient(String),
    /// Retrying cannot help (bad address, unknown action): goes dead at once.
    Permanent(String),
}

/// A database failure inside an effect is worth retrying (the row stays owed).
impl From<diesel::result::Error> for EffectError {
    fn from(e: diesel::result::Error) -> Self {
        EffectError::Transient(format!("database: {e}"))
    }
}

/// A boxed future, so executors can be trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Carries out one effect. It runs inside the transaction that holds the row lock and will mark
/// the row done, so database-only effects (granting a membership) commit together with it.
pub trait Executor: Send + Sync {
    /// Runs the effect of `row`.
    fn execute<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        row: &'a OutboxRow,
    ) -> BoxFuture<'a, Result<(), EffectError>>;
}

/// What happened to one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The effect ran and the row is done.
    Done,
    /// The row was already done or dead: a duplicate delivery, nothing ran.
    AlreadySettled,
    /// The row is not owed any more or does not exist.
    Unknown,
    /// The effect failed and will be retried at the given time.
    Retry(DateTime<Utc>),
    /// The effect failed for good.
    Dead,
}

/// The outbox at a glance ([`Runtime::outbox_gauges`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutboxGauges {
    /// Owed, not handed over.
    pub pending: i64,
    /// Handed to Redis, not done.
    pub enqueued: i64,
    /// Failed for good.
    pub dead: i64,
    /// Age of the oldest owed row, in seconds (0 when nothing is owed).
    pub oldest_owed_seconds: f64,
}

/// The outcome of the savepoint around an effect.
enum Attempt {
    Effect(EffectError),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for Attempt {
    fn from(e: diesel::result::Error) -> Self {
        Attempt::Db(e)
    }
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

impl Runtime {
    /// Claims up to `limit` owed rows for the relay: marks them `enqueued` with a lease and
    /// returns their ids (oldest due first). Rows locked by another relay are skipped.
    pub async fn claim_owed(&self, limit: i64, lease: Duration) -> Result<Vec<Uuid>, RuntimeError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let now = self.clock().now();
        let until = now + TimeDelta::from_std(lease).unwrap_or(TimeDelta::seconds(60));
        let mut conn = self.conn().await?;
        let ids: Vec<Id> = diesel::sql_query(
            "UPDATE outbox SET status = 'enqueued', lease_until = $1 \
             WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2 \
                          ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING id",
        )
        .bind::<diesel::sql_types::Timestamptz, _>(until)
        .bind::<diesel::sql_types::Timestamptz, _>(now)
        .bind::<diesel::sql_types::BigInt, _>(limit)
        .load(&mut conn)
        .await?;
        Ok(ids.into_iter().map(|i| i.id).collect())
    }

    /// Hands back to `pending` the rows whose lease ended without being done (Redis lost them,
    /// a worker died): the sweeper. Returns how many.
    pub async fn release_expired(&self) -> Result<usize, RuntimeError> {
        let now = self.clock().now();
        let mut conn = self.conn().await?;
        Ok(diesel::sql_query(
            "UPDATE outbox SET status = 'pending', lease_until = NULL \
             WHERE id IN (SELECT id FROM outbox WHERE status = 'enqueued' AND lease_until < $1 \
                          FOR UPDATE SKIP LOCKED)",
        )
        .bind::<diesel::sql_types::Timestamptz, _>(now)
        .execute(&mut conn)
        .await?)
    }

    /// Executes one delivery of an outbox row: lock it, run the effect unless it is settled,
    /// and record the result in the same transaction.
    pub async fn deliver(
        &self,
        id: Uuid,
        executor: &dyn Executor,
    ) -> Result<Delivery, RuntimeError> {
        let mut conn = self.conn().await?;
        let now = self.clock().now();
        conn.transaction::<_, RuntimeError, _>(async move |conn| {
            let row: Option<OutboxRow> = outbox::table
                .select(<OutboxRow as diesel::SelectableHelper<diesel::pg::Pg>>::as_select())
                .find(id)
                .for_update()
                .first(conn)
                .await
                .optional()?;
            let Some(row) = row else { return Ok(Delivery::Unknown) };
            match row.status.as_str() {
                "done" | "dead" => return Ok(Delivery::AlreadySettled),
                _ => {}
            }
            // A savepoint, so a failed database-only effect leaves no half-write behind.
            let attempt = conn
                .transaction::<_, Attempt, _>(async |conn| executor.execute(conn, &row).await.map_err(Attempt::Effect))
                .await;
            let failure = match attempt {
                Ok(()) => None,
                Err(Attempt::Effect(e)) => Some(e),
                Err(Attempt::Db(e)) => Some(EffectError::from(e)),
            };
            let target = outbox::table.find(id);
            match failure {
                None => {
                    diesel::update(target)
                        .set((outbox::status.eq("done"), outbox::done_at.eq(now), outbox::lease_until.eq(None::<DateTime<Utc>>)))
                        .execute(conn)
                        .await?;
                    Ok(Delivery::Done)
                }
                Some(e) => {
                    let attempts = row.attempts + 1;
                    let (permanent, message) = match e {
                        EffectError::Transient(m) => (false, m),
                        EffectError::Permanent(m) => (true, m),
                    };
                    if permanent || attempts >= MAX_ATTEMPTS {
                        tracing::warn!(outbox.id = %id, outbox.name = %row.name, attempts, error = %message, "effect is dead");
                        diesel::update(target)
                            .set((outbox::status.eq("dead"), outbox::attempts.eq(attempts), outbox::last_error.eq(&message)))
                            .execute(conn)
                            .await?;
                        Ok(Delivery::Dead)
                    } else {
                        let next = now + backoff(attempts);
                        tracing::info!(outbox.id = %id, outbox.name = %row.name, attempts, error = %message, "effect will be retried");
                        diesel::update(target)
                            .set((
                                outbox::status.eq("pending"),
                                outbox::attempts.eq(attempts),
                                outbox::last_error.eq(&message),
                                outbox::next_attempt_at.eq(next),
                                outbox::lease_until.eq(None::<DateTime<Utc>>),
                            ))
                            .execute(conn)
                            .await?;
                        Ok(Delivery::Retry(next))
                    }
                }
            }
        })
        .await
    }

    /// Dead rows, newest first (`certdesk jobs dead`).
    pub async fn dead_effects(&self, limit: i64) -> Result<Vec<OutboxRow>, RuntimeError> {
        let mut conn = self.conn().await?;
        Ok(outbox::table
            .select(<OutboxRow as diesel::SelectableHelper<diesel::pg::Pg>>::as_select())
            .filter(outbox::status.eq("dead"))
            .order(outbox::created_at.desc())
            .limit(limit)
            .load(&mut conn)
            .await?)
    }

    /// Revives a dead row: owed again now, attempts reset (`certdesk jobs retry ID`).
    pub async fn retry_effect(&self, id: Uuid) -> Result<(), RuntimeError> {
        let now = self.clock().now();
        let mut conn = self.conn().await?;
        let n = diesel::update(outbox::table.find(id).filter(outbox::status.eq("dead")))
            .set((
                outbox::status.eq("pending"),
                outbox::attempts.eq(0),
                outbox::next_attempt_at.eq(now),
            ))
            .execute(&mut conn)
            .await?;
        if n == 0 {
            Err(RuntimeError::NotFound("dead job"))
        } else {
            Ok(())
        }
    }

    /// The outbox at a glance, for `/metrics`.
    pub async fn outbox_gauges(&self) -> Result<OutboxGauges, RuntimeError> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            pending: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            enqueued: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            dead: i64,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
            oldest: Option<DateTime<Utc>>,
        }
        let mut conn = self.conn().await?;
        // Three index-only counts (the partial indexes outbox_owed and outbox_dead).
        let row: Row = diesel::sql_query(
            "SELECT count(*) FILTER (WHERE status = 'pending') AS pending, \
                    count(*) FILTER (WHERE status = 'enqueued') AS enqueued, \
                    (SELECT count(*) FROM outbox WHERE status = 'dead') AS dead, \
                    min(created_at) AS oldest \
             FROM outbox WHERE status IN ('pending', 'enqueued')",
        )
        .get_result(&mut conn)
        .await?;
        let now = self.clock().now();
        Ok(OutboxGauges {
            pending: row.pending,
            enqueued: row.enqueued,
            dead: row.dead,
            oldest_owed_seconds: row
                .oldest
                .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0),
        })
    }

    /// Rows owed (pending or enqueued), for metrics and tests.
    pub async fn owed_effects(&self) -> Result<i64, RuntimeError> {
        let mut conn = self.conn().await?;
        Ok(outbox::table
            .filter(outbox::status.eq_any(["pending", "enqueued"]))
            .count()
            .get_result(&mut conn)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_at_ten_minutes() {
        assert_eq!(backoff(1), TimeDelta::seconds(2));
        assert_eq!(backoff(2), TimeDelta::seconds(4));
        assert_eq!(backoff(9), TimeDelta::seconds(512));
        assert_eq!(backoff(10), TimeDelta::seconds(600));
        assert_eq!(backoff(1000), TimeDelta::seconds(600));
    }
}
