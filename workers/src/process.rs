//! A worker process's loops, started together: the relay (PostgreSQL → Redis, with the
//! sweeper), consumers (Redis → effects) and the timer scheduler, each under [`supervise`] so
//! that a Redis restart or a PostgreSQL outage ends a run, not the process.
//!
//! Any number of processes may run these side by side on one PostgreSQL and one Redis: relays
//! and sweepers claim rows with `FOR UPDATE SKIP LOCKED`, schedulers lock timers' instances the
//! same way, and consumers register under names unique per start.

use std::sync::Arc;
use std::time::Duration;

use certdesk_runtime::Runtime;
use certdesk_runtime::outbox::Executor;

use crate::metrics::Metrics;
use crate::naming::worker_name;
use crate::pipeline::{self, Queue, RelayConfig};
use crate::supervise::{Backoff, Shutdown, Supervised, supervise};

/// What a worker process runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// PostgreSQL, for the relay's LISTEN connection.
    pub database_url: String,
    /// Redis.
    pub redis_url: String,
    /// The queue's key prefix (`certdesk:outbox`; tests use their own).
    pub queue: String,
    /// Consumer workers in this process.
    pub consumers: usize,
    /// Jobs each consumer runs at once.
    pub concurrency: usize,
    /// Relay knobs.
    pub relay: RelayConfig,
    /// Restart backoff of every loop.
    pub backoff: Backoff,
}

impl WorkerSettings {
    /// Production defaults for the given connections.
    pub fn new(database_url: String, redis_url: String) -> Self {
        WorkerSettings {
            database_url,
            redis_url,
            queue: "certdesk:outbox".into(),
            consumers: 1,
            concurrency: 16,
            relay: RelayConfig::default(),
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(10)),
        }
    }
}

/// How often each loop was started, once all have stopped.
#[derive(Debug, Clone)]
pub struct Summary {
    /// `(loop name, what supervise reported)`.
    pub loops: Vec<(String, Supervised)>,
}

/// Runs relay, consumers and scheduler until `shutdown`, then waits for all of them.
pub async fn run(
    rt: Runtime,
    settings: WorkerSettings,
    executor: Arc<dyn Executor>,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) -> Summary {
    let mut handles = Vec::new();
    {
        let (rt, s) = (rt.clone(), settings.clone());
        handles.push((
            "relay".to_owned(),
            tokio::spawn(supervise(
                "relay",
                move |sd| {
                    let (rt, s) = (rt.clone(), s.clone());
                    async move {
                        let queue = Queue::connect(&s.redis_url, &s.queue).await?;
                        pipeline::relay(rt, s.database_url, queue, s.relay, sd).await
                    }
                },
                shutdown.clone(),
                settings.backoff,
            )),
        ));
    }
    for i in 0..settings.consumers {
        let (rt, s, exec, m) = (
            rt.clone(),
            settings.clone(),
            executor.clone(),
            metrics.clone(),
        );
        let name = format!("consumer-{i}");
        let (backoff, shutdown) = (s.backoff, shutdown.clone());
        handles.push((
            name.clone(),
            tokio::spawn(async move {
                supervise(
                    &name,
                    move |sd| {
                        let (rt, s, exec, m) = (rt.clone(), s.clone(), exec.clone(), m.clone());
                        async move {
                            let queue = Queue::connect(&s.redis_url, &s.queue).await?;
                            pipeline::consume(
                                worker_name("certdesk"),
                                rt,
                                queue,
                                exec,
                                m,
                                s.concurrency,
                                sd,
                            )
                            .await
                        }
                    },
                    shutdown,
                    backoff,
                )
                .await
            }),
        ));
    }
    {
        let rt = rt.clone();
        handles.push((
            "scheduler".to_owned(),
            tokio::spawn(supervise(
                "scheduler",
                move |sd| pipeline::schedule(rt.clone(), sd),
                shutdown.clone(),
                settings.backoff,
            )),
        ));
    }
    let mut loops = Vec::new();
    for (name, handle) in handles {
        match handle.await {
            Ok(summary) => loops.push((name, summary)),
            Err(e) => tracing::error!(worker = %name, error = %e, "worker loop panicked"),
        }
    }
    Summary { loops }
}
