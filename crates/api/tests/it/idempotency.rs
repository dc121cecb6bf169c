//! `Idempotency-Key` on authenticated POSTs: same key + same request → same answer, one record.

use actix_web::http::StatusCode;
use certdesk_store::schema::idempotency_keys;
use chrono::TimeDelta;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::support::{World, join_all, post, send};

fn reason_body(w: &World) -> Value {
    json!({ "enterprise_id": w.enterprise, "mode": "reason", "reason": "新入职的投标专员" })
}

async fn kept_keys(w: &World) -> i64 {
    let mut conn = w.conn().await;
    idempotency_keys::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_retry_with_the_same_key_gets_the_same_answer_and_creates_nothing() {
    let w = World::new().await;
    let app = app!(w);
    let req = || {
        post("/api/v1/join-requests", &w.applicant, reason_body(&w))
            .insert_header(("Idempotency-Key", "4f1c9a52-retry"))
            .to_request()
    };
    let first = send(&app, req()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:#}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);

    let again = send(&app, req()).await;
    assert_eq!(again.status, StatusCode::CREATED, "{:#}", again.body);
    assert_eq!(again.body, first.body, "the same answer, replayed");
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(w.instance_count().await, 1, "nothing created twice");

    // Without a key the same request is a second request, refused by the open-request rule.
    let plain = send(
        &app,
        post("/api/v1/join-requests", &w.applicant, reason_body(&w)).to_request(),
    )
    .await;
    plain.problem(409, "join_request_open");
}

#[actix_web::test]
async fn the_same_key_for_a_different_request_is_refused_and_changes_nothing() {
    let w = World::new().await;
    let app = app!(w);
    let key = ("Idempotency-Key", "same-key");
    let first = send(
        &app,
        post("/api/v1/join-requests", &w.applicant, reason_body(&w))
            .insert_header(key)
            .to_request(),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:#}", first.body);
    let other = json!({ "enterprise_id": w.other_enterprise, "mode": "reason", "reason": "x" });
    let r = send(
        &app,
        post("/api/v1/join-requests", &w.applicant, other)
            .insert_header(key)
            .to_request(),
    )
    .await;
    r.problem(422, "idempotency_key_reused");
    assert_eq!(w.instance_count().await, 1);
}

#[actix_web::test]
async fn keys_belong_to_their_user() {
    let w = World::new().await;
    let app = app!(w);
    let key = ("Idempotency-Key", "shared-guessable-key");
    let mine = send(
        &app,
        post("/api/v1/join-requests", &w.applicant, reason_body(&w))
            .insert_header(key)
            .to_request(),
    )
    .await;
    assert_eq!(mine.status, StatusCode::CREATED, "{:#}", mine.body);
    // Another applicant using the same key runs their own request, never sees the first answer.
    let theirs = send(
        &app,
        post("/api/v1/join-requests", &w.stranger, reason_body(&w))
            .insert_header(key)
            .to_request(),
    )
    .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{:#}", theirs.body);
    assert_ne!(theirs.body["id"], mine.body["id"]);
    assert_eq!(theirs.header("idempotent-replayed"), None);
    assert_eq!(w.instance_count().await, 2);
}

#[actix_web::test]
async fn an_error_is_not_kept_so_the_corrected_retry_runs() {
    let w = World::new().await;
    let app = app!(w);
    let key = ("Idempotency-Key", "after-an-error");
    let bad = json!({ "enterprise_id": w.enterprise, "mode": "reason" });
    let r = send(
        &app,
        post("/api/v1/join-requests", &w.applicant, bad)
            .insert_header(key)
            .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:#}", r.body);
    assert_eq!(
        kept_keys(&w).await,
        0,
        "the failed request's claim is released"
    );
    // The same key with the fixed body runs (an error changed nothing, so nothing to replay).
    let r = send(
        &app,
        post("/api/v1/join-requests", &w.applicant, reason_body(&w))
            .insert_header(key)
            .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    assert_eq!(kept_keys(&w).await, 1);
}

#[actix_web::test]
async fn concurrent_retries_run_once_the_others_are_told_to_wait_or_replayed() {
    let w = World::new().await;
    let app = app!(w);
    let replies = join_all(
        (0..6)
            .map(|_| {
                send(
                    &app,
                    post("/api/v1/join-requests", &w.applicant, reason_body(&w))
                        .insert_header(("Idempotency-Key", "burst"))
                        .to_request(),
                )
            })
            .collect(),
    )
    .await;
    let created: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .collect();
    assert!(!created.is_empty());
    let ids: std::collections::HashSet<_> = created.iter().map(|r| r.body["id"].clone()).collect();
    assert_eq!(ids.len(), 1, "every 201 is the one request's answer");
    for r in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        r.problem(409, "idempotency_key_in_progress");
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    assert_eq!(w.instance_count().await, 1);
}

#[actix_web::test]
async fn a_claim_left_running_is_taken_over_after_a_minute_and_keys_expire_after_a_day() {
    let w = World::new().await;
    let app = app!(w);
    // A claim whose request died before keeping its answer.
    {
        let mut conn = w.conn().await;
        diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::user_id.eq(w.applicant.id),
                idempotency_keys::key.eq("orphan"),
                idempotency_keys::fingerprint.eq(vec![0u8; 32]),
                idempotency_keys::status.eq("running"),
                idempotency_keys::created_at.eq(w.now()),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let req = || {
        post("/api/v1/join-requests", &w.applicant, reason_body(&w))
            .insert_header(("Idempotency-Key", "orphan"))
            .to_request()
    };
    // Still fresh: a different request's claim (its fingerprint is not this request's).
    send(&app, req())
        .await
        .problem(422, "idempotency_key_reused");
    w.clock.advance(TimeDelta::seconds(61));
    let r = send(&app, req()).await;
    assert_eq!(r.status, StatusCode::CREATED, "taken over: {:#}", r.body);
    // Replayed within the day; after it the key is free again (and the request, run again,
    // meets the open-request rule).
    let again = send(&app, req()).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    w.clock.advance(TimeDelta::hours(24));
    send(&app, req()).await.problem(409, "join_request_open");
}

#[actix_web::test]
async fn a_malformed_key_is_refused_before_anything_runs() {
    let w = World::new().await;
    let app = app!(w);
    for key in ["", &"k".repeat(256), "has space"] {
        let r = send(
            &app,
            post("/api/v1/join-requests", &w.applicant, reason_body(&w))
                .insert_header(("Idempotency-Key", key))
                .to_request(),
        )
        .await;
        r.problem(400, "idempotency_key_invalid");
    }
    assert_eq!(w.instance_count().await, 0);
}
