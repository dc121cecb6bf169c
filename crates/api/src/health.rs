//! Liveness and readiness probes (DECISIONS 10).
//!
//! `/healthz` answers 200 while the process serves requests. `/readyz` answers 200 when
//! PostgreSQL answers `SELECT 1` within a short deadline and 503 otherwise. Redis is asked
//! through the process's [`Backends`] (`unknown` without one); for the API, Redis being down
//! makes it `degraded`, not unready, because writes go to the outbox. A worker process, which
//! cannot work without Redis, sets [`Backends::redis_required`]. `/metrics` serves the
//! Prometheus exposition the [`Backends`] renders.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::{ApiState, db};

/// How long a readiness probe waits for PostgreSQL.
const PROBE_DEADLINE: Duration = Duration::from_secs(2);

/// `GET /healthz`.
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({ "status": "ok" }))
}

/// A boxed future, so [`Backends`] can be a trait object.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What the process knows beyond PostgreSQL: Redis and its metrics. Put a
/// `web::Data<std::sync::Arc<dyn Backends>>` in the app to enable them.
pub trait Backends: Send + Sync {
    /// Whether Redis answers (within its own short deadline).
    fn redis_ok(&self) -> BoxFuture<'_, bool>;
    /// Whether the process is unready without Redis (workers) or only degraded (the API).
    fn redis_required(&self) -> bool;
    /// The Prometheus text exposition.
    fn metrics(&self) -> BoxFuture<'_, String>;
}

/// `GET /metrics`.
pub(crate) async fn metrics(
    backends: Option<web::Data<std::sync::Arc<dyn Backends>>>,
) -> HttpResponse {
    match backends {
        Some(b) => HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(b.metrics().await),
        None => HttpResponse::NotFound().finish(),
    }
}

/// `GET /readyz`.
pub(crate) async fn readyz(
    state: Option<web::Data<ApiState>>,
    backends: Option<web::Data<std::sync::Arc<dyn Backends>>>,
) -> HttpResponse {
    let postgres_up = match state {
        Some(state) => {
            let probe = async {
                let mut conn = state.runtime.pool().get().await.ok()?;
                db::ping(&mut conn).await.ok()
            };
            // A plain SELECT outside any transaction: abandoning it at the deadline cannot
            // leave a transaction open (DEPENDENCIES G7).
            matches!(
                actix_web::rt::time::timeout(PROBE_DEADLINE, probe).await,
                Ok(Some(()))
            )
        }
        None => false,
    };
    let (redis, redis_blocks) = match &backends {
        Some(b) => {
            let up = matches!(
                actix_web::rt::time::timeout(PROBE_DEADLINE, b.redis_ok()).await,
                Ok(true)
            );
            match (up, b.redis_required()) {
                (true, _) => ("ok", false),
                (false, true) => ("down", true),
                (false, false) => ("degraded", false),
            }
        }
        None => ("unknown", false),
    };
    let body = json!({
        "postgres": if postgres_up { "ok" } else { "down" },
        "redis": redis,
    });
    let mut res = if postgres_up && !redis_blocks {
        HttpResponse::Ok()
    } else {
        tracing::warn!(postgres_up, redis, "readiness probe: not ready");
        HttpResponse::ServiceUnavailable()
    };
    res.insert_header(("cache-control", "no-store")).json(body)
}
