//! Liveness and readiness probes (DECISIONS 10).
//!
//! `/healthz` answers 200 while the process serves requests. `/readyz` answers 200 when
//! PostgreSQL answers `SELECT 1` within a short deadline and 503 otherwise. Redis is reported
//! as `unknown` until the relay is wired in; once it is, Redis being down makes the API
//! `degraded`, not unready, because writes go to the outbox.

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

/// `GET /readyz`.
pub(crate) async fn readyz(state: Option<web::Data<ApiState>>) -> HttpResponse {
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
    let body = json!({
        "postgres": if postgres_up { "ok" } else { "down" },
        "redis": "unknown",
    });
    let mut res = if postgres_up {
        HttpResponse::Ok()
    } else {
        tracing::warn!("readiness probe: PostgreSQL does not answer");
        HttpResponse::ServiceUnavailable()
    };
    res.insert_header(("cache-control", "no-store")).json(body)
}
