//! The outbox pipeline: relay (PostgreSQL → Redis), consumer (Redis → effect), sweeper and
//! timer scheduler.
//!
//! Redis carries only outbox ids; every decision about an effect (owed, leased, done, retried,
//! dead) is a row in PostgreSQL (`certdesk_runtime::outbox`). That is how the pipeline copes
//! with what apalis-redis 1.0 does (see `tests/apalis_redis_claims.rs`):
//!
//! * the handler always acks, recording failures and retries in PostgreSQL, so apalis's own
//!   retry path (25 hard-coded attempts, `max_attempts` ignored) never runs;
//! * each push gets a fresh task id: apalis would silently drop a re-push under the same id
//!   while the old task's data is still there, and duplicates are harmless anyway (a delivery
//!   locks the row and a second one finds it done);
//! * the relay keeps each queue's backlog (active list + scheduled set) under [`MAX_BACKLOG`],
//!   below the 8000-job unpack limit that ends a worker; the outbox is the real backlog;
//! * workers poll every [`POLL`]: without a poll strategy an idle worker fetches only at its
//!   heartbeat (30 s);
//! * finished task data is vacuumed and the done set trimmed, which apalis never does;
//! * every loop runs under `supervise`, under a fresh worker name per start.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{
    BackendExt, BoxDynError, Data, TaskBuilder, TaskId, TaskSink, WorkerBuilder, WorkerBuilderExt,
};
use apalis_redis::{Config, RedisStorage};
use certdesk_runtime::Runtime;
use certdesk_runtime::outbox::{Delivery, Executor};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::metrics::Metrics;
use crate::supervise::Shutdown;

/// How often an idle worker asks Redis for work.
pub const POLL: Duration = Duration::from_millis(20);
/// Jobs a consumer fetches per poll.
pub const BATCH: usize = 100;
/// Most jobs a queue may hold in Redis (DEPENDENCIES G1: 8000 due jobs end a worker).
pub const MAX_BACKLOG: u64 = 5000;
/// How long a handed-over row may stay undone before the sweeper hands it back.
pub const LEASE: Duration = Duration::from_secs(60);
/// How often the relay looks even when no NOTIFY arrives, and the sweeper runs.
pub const TICK: Duration = Duration::from_millis(500);

/// Knobs of the relay; [`RelayConfig::default`] is what production uses.
#[derive(Debug, Clone, Copy)]
pub struct RelayConfig {
    /// Lease of a handed-over row.
    pub lease: Duration,
    /// Wake-up period without NOTIFY, and sweeper period.
    pub tick: Duration,
    /// Backlog bound per queue.
    pub max_backlog: u64,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            lease: LEASE,
            tick: TICK,
            max_backlog: MAX_BACKLOG,
        }
    }
}

/// What travels through Redis: an outbox id, nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxJob {
    /// The outbox row to deliver.
    pub outbox_id: Uuid,
}

/// Errors of the pipeline loops (they end the loop; `supervise` restarts it).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Redis failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The runtime (PostgreSQL) failed.
    #[error("runtime: {0}")]
    Runtime(#[from] certdesk_runtime::RuntimeError),
    /// apalis failed.
    #[error("queue: {0}")]
    Queue(String),
    /// LISTEN could not be set up.
    #[error("listen: {0}")]
    Listen(String),
}

/// One Redis queue of outbox jobs.
#[derive(Clone)]
pub struct Queue {
    storage: RedisStorage<OutboxJob>,
    config: Config,
    conn: redis::aio::ConnectionManager,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("active", &self.config.active_jobs_list())
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// Connects to `url`; `name` is the queue's key prefix (`certdesk:outbox`, or a per-test one).
    pub async fn connect(url: &str, name: &str) -> Result<Self, PipelineError> {
        let conn = apalis_redis::connect(url)
            .await
            .map_err(|e| PipelineError::Queue(e.to_string()))?;
        // apalis fetches at most one batch per poll: with its default of 10 a consumer polling
        // every 20 ms tops out at 500 jobs/s, which the first latency benchmark hit.
        let config = Config::default().queue(name).batch_size(BATCH);
        let storage = RedisStorage::new(conn.clone()).with_config(config.clone());
        Ok(Queue {
            storage,
            config,
            conn,
        })
    }

    /// Jobs waiting in Redis: the active list plus the scheduled set (DECISIONS 19).
    pub async fn backlog(&self) -> Result<u64, PipelineError> {
        let mut conn = self.conn.clone();
        let active: u64 = conn.llen(self.config.active_jobs_list()).await?;
        let scheduled: u64 = conn.zcard(self.config.scheduled_jobs_set()).await?;
        Ok(active + scheduled)
    }

    /// Hands ids to Redis, each under a fresh task id.
    pub async fn push(&mut self, ids: &[Uuid]) -> Result<(), PipelineError> {
        for id in ids {
            let task = TaskBuilder::new(OutboxJob { outbox_id: *id })
                .task_id(TaskId::from_string(Uuid::new_v4().to_string()))
                .build();
            self.storage
                .push_task(task)
                .await
                .map_err(|e| PipelineError::Queue(e.to_string()))?;
        }
        Ok(())
    }

    /// Deletes finished tasks' data and trims the done set, which apalis never trims.
    pub async fn maintain(&mut self) -> Result<usize, PipelineError> {
        use apalis_core::backend::Vacuum;
        let vacuumed = self
            .storage
            .vacuum()
            .await
            .map_err(|e| PipelineError::Queue(e.to_string()))?;
        let mut conn = self.conn.clone();
        // vacuum walks the data hash, not the set, so dropping the set loses nothing.
        let _: () = conn.del(self.config.done_jobs_set()).await?;
        Ok(vacuumed)
    }
}

/// Moves owed outbox rows to Redis until shutdown: woken by PostgreSQL NOTIFY, or every
/// [`TICK`]; also runs the sweeper. Returns `Err` on a Redis or PostgreSQL failure so the
/// supervisor restarts it; rows it leased come back after [`LEASE`].
pub async fn relay(
    rt: Runtime,
    database_url: String,
    mut queue: Queue,
    config: RelayConfig,
    mut shutdown: Shutdown,
) -> Result<(), PipelineError> {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    use futures_util::StreamExt;
    let mut listener = AsyncPgConnection::establish(&database_url)
        .await
        .map_err(|e| PipelineError::Listen(e.to_string()))?;
    diesel::sql_query("LISTEN certdesk_outbox")
        .execute(&mut listener)
        .await
        .map_err(|e| PipelineError::Listen(e.to_string()))?;
    let mut notifications = std::pin::pin!(listener.notifications_stream());
    let mut last_sweep = tokio::time::Instant::now();
    let mut last_maintain = tokio::time::Instant::now();
    loop {
        // Drain: hand over as much as the backlog bound allows.
        loop {
            let room = config.max_backlog.saturating_sub(queue.backlog().await?);
            if room == 0 {
                break;
            }
            let ids = rt.claim_owed(room.min(500) as i64, config.lease).await?;
            if ids.is_empty() {
                break;
            }
            queue.push(&ids).await?;
            tracing::debug!(jobs = ids.len(), "relayed");
        }
        if last_sweep.elapsed() >= config.tick {
            let released = rt.release_expired().await?;
            if released > 0 {
                tracing::warn!(
                    rows = released,
                    "outbox leases expired; handing the rows over again"
                );
            }
            last_sweep = tokio::time::Instant::now();
        }
        if last_maintain.elapsed() >= Duration::from_secs(30) {
            queue.maintain().await?;
            last_maintain = tokio::time::Instant::now();
        }
        tokio::select! {
            _ = shutdown.signalled() => return Ok(()),
            n = notifications.next() => {
                if let Some(Err(e)) = n {
                    return Err(PipelineError::Listen(e.to_string()));
                }
            }
            _ = tokio::time::sleep(config.tick) => {}
        }
    }
}

struct Context {
    rt: Runtime,
    executor: Arc<dyn Executor>,
    metrics: Arc<Metrics>,
}

async fn handle(job: OutboxJob, ctx: Data<Arc<Context>>) -> Result<(), BoxDynError> {
    let started = std::time::Instant::now();
    let outcome = ctx.rt.deliver(job.outbox_id, ctx.executor.as_ref()).await;
    ctx.metrics.record(outcome.as_ref().ok(), started.elapsed());
    match outcome {
        Ok(Delivery::Done) => tracing::debug!(outbox.id = %job.outbox_id, "effect done"),
        Ok(other) => tracing::debug!(outbox.id = %job.outbox_id, ?other, "delivery"),
        // PostgreSQL trouble: ack anyway; the lease runs out and the sweeper hands it back.
        Err(e) => tracing::error!(outbox.id = %job.outbox_id, error = %e, "delivery failed"),
    }
    Ok(())
}

/// Runs one consumer until shutdown (or until apalis ends it with an error).
pub async fn consume(
    name: String,
    rt: Runtime,
    queue: Queue,
    executor: Arc<dyn Executor>,
    metrics: Arc<Metrics>,
    concurrency: usize,
    mut shutdown: Shutdown,
) -> Result<(), PipelineError> {
    let ctx = Arc::new(Context {
        rt,
        executor,
        metrics,
    });
    let worker = WorkerBuilder::new(name)
        .backend(queue.storage.clone().poll_with_interval(POLL))
        .data(ctx)
        .concurrency(concurrency)
        .build(handle);
    worker
        .run_until(async move {
            shutdown.signalled().await;
            Ok::<(), std::io::Error>(())
        })
        .await
        .map_err(|e| PipelineError::Queue(e.to_string()))
}

/// Fires due timers until shutdown, checking every [`TICK`].
pub async fn schedule(rt: Runtime, mut shutdown: Shutdown) -> Result<(), PipelineError> {
    loop {
        while rt.fire_due_timers(500).await? == 500 {}
        tokio::select! {
            _ = shutdown.signalled() => return Ok(()),
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}
