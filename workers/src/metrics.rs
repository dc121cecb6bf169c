//! Prometheus metrics of the pipeline, in the text exposition format (version 0.0.4).
//!
//! Counters and the job-duration histogram live in the process ([`Metrics`], shared by the
//! consumers); the outbox backlog, dead jobs and the Redis queue depth are read at scrape time
//! from PostgreSQL and Redis ([`render`]), so every process reports the same truth about them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use certdesk_runtime::Runtime;
use certdesk_runtime::outbox::Delivery;

use crate::pipeline::Queue;

/// Upper bounds (seconds) of the job-duration histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Outcomes of a delivery, as counter labels.
const OUTCOMES: [&str; 6] = ["done", "duplicate", "unknown", "retry", "dead", "error"];

/// In-process counters of the consumers.
#[derive(Debug, Default)]
pub struct Metrics {
    deliveries: [AtomicU64; 6],
    buckets: [AtomicU64; 12],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Metrics {
    /// Records one delivery: its outcome (`None`: PostgreSQL failed) and how long it ran.
    pub fn record(&self, outcome: Option<&Delivery>, took: Duration) {
        let i = match outcome {
            Some(Delivery::Done) => 0,
            Some(Delivery::AlreadySettled) => 1,
            Some(Delivery::Unknown) => 2,
            Some(Delivery::Retry(_)) => 3,
            Some(Delivery::Dead) => 4,
            None => 5,
        };
        self.deliveries[i].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            took.as_micros().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
    }

    /// Deliveries that ended with `outcome` (one of `done`, `duplicate`, `unknown`, `retry`,
    /// `dead`, `error`).
    pub fn deliveries(&self, outcome: &str) -> u64 {
        OUTCOMES
            .iter()
            .position(|o| *o == outcome)
            .map_or(0, |i| self.deliveries[i].load(Ordering::Relaxed))
    }

    fn write(&self, out: &mut String) {
        out.push_str("# HELP certdesk_deliveries_total Outbox deliveries by outcome.\n");
        out.push_str("# TYPE certdesk_deliveries_total counter\n");
        for (name, n) in OUTCOMES.iter().zip(&self.deliveries) {
            let _ = writeln!(
                out,
                "certdesk_deliveries_total{{outcome=\"{name}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP certdesk_job_duration_seconds Time one delivery took in a worker.\n");
        out.push_str("# TYPE certdesk_job_duration_seconds histogram\n");
        for (bound, n) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "certdesk_job_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "certdesk_job_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "certdesk_job_duration_seconds_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "certdesk_job_duration_seconds_count {count}");
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: Option<f64>) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    if let Some(v) = value {
        let _ = writeln!(out, "{name} {v}");
    }
}

/// What a scrape knows of Redis.
#[derive(Debug, Clone, Copy)]
pub enum RedisView<'a> {
    /// Connected: the queue to measure.
    Up(&'a Queue),
    /// Expected but not answering.
    Down,
}

/// The whole exposition: live figures from PostgreSQL and Redis, then `metrics`' counters
/// (when this process runs consumers). A source that does not answer leaves its gauge
/// without a sample and sets `certdesk_up{source=...}` to 0.
pub async fn render(rt: &Runtime, redis: RedisView<'_>, metrics: Option<&Metrics>) -> String {
    let mut out = String::new();
    let backlog = rt.outbox_gauges().await;
    if let Err(e) = &backlog {
        tracing::warn!(error = %e, "metrics: PostgreSQL did not answer");
    }
    let b = backlog.as_ref().ok();
    gauge(
        &mut out,
        "certdesk_outbox_pending",
        "Outbox rows owed and not handed to Redis.",
        b.map(|b| b.pending as f64),
    );
    gauge(
        &mut out,
        "certdesk_outbox_enqueued",
        "Outbox rows handed to Redis and not done yet.",
        b.map(|b| b.enqueued as f64),
    );
    gauge(
        &mut out,
        "certdesk_outbox_dead",
        "Effects that failed for good (certdesk jobs dead).",
        b.map(|b| b.dead as f64),
    );
    gauge(
        &mut out,
        "certdesk_outbox_oldest_owed_seconds",
        "Age of the oldest owed outbox row (0 when none).",
        b.map(|b| b.oldest_owed_seconds),
    );
    let depth = match redis {
        RedisView::Up(q) => tokio::time::timeout(Duration::from_secs(2), q.backlog())
            .await
            .ok()
            .and_then(Result::ok),
        RedisView::Down => None,
    };
    gauge(
        &mut out,
        "certdesk_queue_depth",
        "Jobs waiting in the Redis queue (active list + scheduled set).",
        depth.map(|d| d as f64),
    );
    out.push_str("# HELP certdesk_up Whether a backing service answered this scrape.\n");
    out.push_str("# TYPE certdesk_up gauge\n");
    let _ = writeln!(
        out,
        "certdesk_up{{source=\"postgres\"}} {}",
        u8::from(backlog.is_ok())
    );
    let _ = writeln!(
        out,
        "certdesk_up{{source=\"redis\"}} {}",
        u8::from(depth.is_some())
    );
    if let Some(m) = metrics {
        m.write(&mut out);
    }
    out
}
