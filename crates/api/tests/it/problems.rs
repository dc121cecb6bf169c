//! Every way a request can be wrong answers the documented problem shape.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::test::TestRequest;
use certdesk_api::issue_token;
use certdesk_store::schema::api_tokens;
use chrono::TimeDelta;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::support::{User, World, get, post, send};

fn bearer(user: &User) -> (header::HeaderName, String) {
    (header::AUTHORIZATION, format!("Bearer {}", user.token))
}

#[actix_web::test]
async fn a_wrong_content_type_is_415() {
    let w = World::new().await;
    let app = app!(w);
    let r = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/join-requests")
            .insert_header(bearer(&w.applicant))
            .insert_header((header::CONTENT_TYPE, "text/plain"))
            .set_payload(r#"{"mode":"reason"}"#)
            .to_request(),
    )
    .await;
    let body = r.problem(415, "unsupported_media_type");
    assert_eq!(body["title"], "Unsupported Media Type");
    assert_eq!(
        body["type"],
        "https://certdesk.example/problems/unsupported_media_type"
    );
    assert_eq!(body["errors"], json!([]));
    assert!(body["message_zh"].as_str().unwrap().contains("JSON"));

    // No content type at all is the same.
    let r = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/join-requests")
            .insert_header(bearer(&w.applicant))
            .set_payload(r#"{"mode":"reason"}"#)
            .to_request(),
    )
    .await;
    r.problem(415, "unsupported_media_type");
    assert_eq!(w.instance_count().await, 0);
}

#[actix_web::test]
async fn a_body_over_64_kib_is_413() {
    let w = World::new().await;
    let app = app!(w);
    let big =
        json!({ "enterprise_id": w.enterprise, "mode": "reason", "reason": "x".repeat(64 * 1024) });
    let r = send(
        &app,
        post("/api/v1/join-requests", &w.applicant, big).to_request(),
    )
    .await;
    let body = r.problem(413, "payload_too_large");
    assert_eq!(body["limit_bytes"], 65536);
    assert_eq!(w.instance_count().await, 0);
}

#[actix_web::test]
async fn malformed_json_and_wrong_types_are_400_naming_the_place() {
    let w = World::new().await;
    let app = app!(w);
    let r = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/join-requests")
            .insert_header(bearer(&w.applicant))
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload(r#"{"mode": "reason", "#)
            .to_request(),
    )
    .await;
    let body = r.problem(400, "malformed_json");
    assert!(
        body["detail"].as_str().unwrap().contains("line 1"),
        "{body:#}"
    );

    let r = send(
        &app,
        post(
            "/api/v1/join-requests",
            &w.applicant,
            json!({ "enterprise_id": w.enterprise, "mode": "reason", "reason": "x", "seal_use": "yes" }),
        )
        .to_request(),
    )
    .await;
    r.problem(400, "malformed_json");
    assert_eq!(r.field_errors(), [("seal_use".into(), "wrong_type".into())]);

    let r = send(
        &app,
        post(
            "/api/v1/join-requests",
            &w.applicant,
            json!({ "enterprise_id": "not-a-uuid", "mode": "reason" }),
        )
        .to_request(),
    )
    .await;
    r.problem(400, "malformed_json");
    assert_eq!(r.field_errors()[0].0, "enterprise_id");

    let r = send(
        &app,
        post("/api/v1/join-requests", &w.applicant, json!([1, 2])).to_request(),
    )
    .await;
    r.problem(400, "malformed_json");
    assert_eq!(w.instance_count().await, 0);
}

#[actix_web::test]
async fn a_missing_or_bad_token_is_401_with_www_authenticate() {
    let w = World::new().await;
    let app = app!(w);
    let uri = format!(
        "/api/v1/enterprises?uscc={}",
        crate::support::ENTERPRISE_USCC
    );

    let r = send(&app, TestRequest::get().uri(&uri).to_request()).await;
    r.problem(401, "unauthenticated");
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer realm="certdesk""#)
    );

    let forged = User {
        id: w.applicant.id,
        token: "A".repeat(43),
    };
    for (req, code) in [
        (get(&uri, &forged), "invalid_token"),
        (
            TestRequest::get()
                .uri(&uri)
                .insert_header((header::AUTHORIZATION, "Bearer not a token")),
            "invalid_token",
        ),
        (
            TestRequest::get()
                .uri(&uri)
                .insert_header((header::AUTHORIZATION, "Basic dXNlcjpwYXNz")),
            "unauthenticated",
        ),
    ] {
        let r = send(&app, req.to_request()).await;
        r.problem(401, code);
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    }

    // A token that expired, then one that was revoked.
    let short = issue_token(
        w.state.runtime.pool(),
        w.applicant.id,
        "short",
        w.now(),
        TimeDelta::hours(1),
    )
    .await
    .unwrap();
    let short = User {
        id: w.applicant.id,
        token: short,
    };
    assert_eq!(
        send(&app, get(&uri, &short).to_request()).await.status,
        StatusCode::OK
    );
    w.clock.advance(TimeDelta::hours(1));
    let r = send(&app, get(&uri, &short).to_request()).await;
    r.problem(401, "invalid_token");
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer realm="certdesk", error="invalid_token""#)
    );

    assert_eq!(
        send(&app, get(&uri, &w.admin).to_request()).await.status,
        StatusCode::OK
    );
    let mut conn = w.conn().await;
    diesel::update(api_tokens::table.filter(api_tokens::user_id.eq(w.admin.id)))
        .set(api_tokens::revoked_at.eq(w.now()))
        .execute(&mut conn)
        .await
        .unwrap();
    send(&app, get(&uri, &w.admin).to_request())
        .await
        .problem(401, "invalid_token");
}

#[actix_web::test]
async fn the_request_id_is_echoed_when_sane_and_made_otherwise() {
    let w = World::new().await;
    let app = app!(w);

    let r = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/enterprises")
            .insert_header(("x-request-id", "app-7f3a.42"))
            .to_request(),
    )
    .await;
    assert_eq!(
        r.problem(401, "unauthenticated")["request_id"],
        "app-7f3a.42"
    );

    let r = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/enterprises")
            .insert_header(("x-request-id", "x".repeat(300)))
            .to_request(),
    )
    .await;
    let id = r.problem(401, "unauthenticated")["request_id"]
        .as_str()
        .unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

    // Successful answers carry one too.
    let r = send(&app, TestRequest::get().uri("/healthz").to_request()).await;
    assert!(uuid::Uuid::parse_str(r.header("x-request-id").unwrap()).is_ok());
}

#[actix_web::test]
async fn unknown_routes_methods_and_ids_are_problems() {
    let w = World::new().await;
    let app = app!(w);

    let r = send(&app, get("/api/v1/nothing-here", &w.applicant).to_request()).await;
    assert_eq!(r.problem(404, "not_found")["type"], "about:blank");

    let r = send(
        &app,
        TestRequest::delete()
            .uri("/api/v1/join-requests")
            .insert_header(bearer(&w.applicant))
            .to_request(),
    )
    .await;
    assert_eq!(
        r.problem(405, "method_not_allowed")["title"],
        "Method Not Allowed"
    );

    let r = send(
        &app,
        get("/api/v1/join-requests/12345", &w.applicant).to_request(),
    )
    .await;
    r.problem(404, "not_found");
}
