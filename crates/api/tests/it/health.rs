//! Liveness and readiness.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use certdesk_api::ApiState;
use certdesk_domain::clock::ManualClock;
use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::support::{World, identity, runtime, sandbox_sms, send};

#[actix_web::test]
async fn healthz_is_live_and_readyz_reports_postgres() {
    let w = World::new().await;
    let app = app!(w);
    let r = send(&app, TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(&app, TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({ "postgres": "ok", "redis": "unknown" }));
}

#[actix_web::test]
async fn readyz_is_503_when_postgres_does_not_answer() {
    // Nothing listens on port 1 of the loopback address.
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap(),
    ));
    let dead = "postgres://postgres@127.0.0.1:1/none";
    let w = Dead {
        state: ApiState {
            runtime: runtime(dead, clock.clone()),
            identity: identity(sandbox_sms(dead, clock)),
            files: certdesk_api::files::FileStore::in_memory(),
            real_name: certdesk_api::realname::RealName::sandbox(std::time::Duration::ZERO),
        },
    };
    let app = app!(w);
    let r = send(&app, TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, json!({ "postgres": "down", "redis": "unknown" }));
    let r = send(&app, TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "liveness does not depend on the database"
    );
}

struct Dead {
    state: ApiState,
}
