//! My enterprises, an enterprise's members, and the seal-use right an admin grants.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::test::TestRequest;
use certdesk_store::testing::seed;
use serde_json::json;

use crate::support::{ENTERPRISE_NAME, User, World, get, send};

fn put(uri: &str, user: &User, body: serde_json::Value) -> TestRequest {
    TestRequest::put()
        .uri(uri)
        .insert_header((header::AUTHORIZATION, format!("Bearer {}", user.token)))
        .set_json(body)
}

/// The applicant becomes a plain member of the main enterprise.
async fn member(w: &World) {
    let mut conn = w.conn().await;
    seed::member(&mut conn, w.enterprise, w.applicant.id, "member", w.now()).await;
}

#[actix_web::test]
async fn members_see_their_enterprises_and_nobody_else_does() {
    let w = World::new().await;
    member(&w).await;
    let app = app!(w);

    let r = send(
        &app,
        get("/api/v1/me/enterprises", &w.applicant).to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let list = r.body["items"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], ENTERPRISE_NAME);
    assert_eq!(list[0]["my_roles"], json!(["member"]));

    let uri = format!("/api/v1/enterprises/{}", w.enterprise);
    let r = send(&app, get(&uri, &w.applicant).to_request()).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["id"], json!(w.enterprise));

    // Not a member: the same 404 as an enterprise that does not exist.
    let r = send(&app, get(&uri, &w.stranger).to_request()).await;
    let stranger = r.problem(404, "enterprise_not_found").clone();
    let r = send(
        &app,
        get(
            &format!("/api/v1/enterprises/{}", uuid::Uuid::new_v4()),
            &w.stranger,
        )
        .to_request(),
    )
    .await;
    let missing = r.problem(404, "enterprise_not_found");
    assert_eq!(stranger["detail"], missing["detail"]);
    let r = send(
        &app,
        get("/api/v1/me/enterprises", &w.stranger).to_request(),
    )
    .await;
    assert_eq!(r.body, json!({ "items": [], "next_cursor": null }));
}

#[actix_web::test]
async fn admins_list_members_with_masked_phones_plain_members_may_not() {
    let w = World::new().await;
    member(&w).await;
    let app = app!(w);
    let uri = format!("/api/v1/enterprises/{}/members", w.enterprise);

    let r = send(&app, get(&uri, &w.admin).to_request()).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let members = r.body["items"].as_array().unwrap();
    assert_eq!(members.len(), 3, "two admins and the member: {:#}", r.body);
    let text = r.body.to_string();
    assert!(!text.contains("13900001111"), "phones are masked: {text}");
    assert!(text.contains("139****1111"), "{text}");

    send(&app, get(&uri, &w.applicant).to_request())
        .await
        .problem(403, "not_enterprise_admin");
    send(&app, get(&uri, &w.other_admin).to_request())
        .await
        .problem(404, "enterprise_not_found");
}

#[actix_web::test]
async fn an_admin_grants_and_withdraws_the_seal_use_right() {
    let w = World::new().await;
    member(&w).await;
    let app = app!(w);
    let uri = format!(
        "/api/v1/enterprises/{}/members/{}/seal-use",
        w.enterprise, w.applicant.id
    );

    let r = send(
        &app,
        put(&uri, &w.admin, json!({ "until": "2026-12-31" })).to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["seal_use_until"], "2026-12-31");
    let r = send(
        &app,
        get("/api/v1/me/enterprises", &w.applicant).to_request(),
    )
    .await;
    assert_eq!(r.body["items"][0]["my_seal_use_until"], "2026-12-31");

    let r = send(
        &app,
        put(&uri, &w.admin, json!({ "until": null })).to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["seal_use_until"], json!(null));

    // The clock reads 2026-03-02 (Beijing): a past date is refused and changes nothing.
    send(
        &app,
        put(&uri, &w.admin, json!({ "until": "2026-03-01" })).to_request(),
    )
    .await
    .problem(422, "invalid_input");
    // A plain member, another enterprise's admin, a non-member target.
    send(
        &app,
        put(&uri, &w.applicant, json!({ "until": "2026-12-31" })).to_request(),
    )
    .await
    .problem(403, "not_enterprise_admin");
    send(
        &app,
        put(&uri, &w.other_admin, json!({ "until": "2026-12-31" })).to_request(),
    )
    .await
    .problem(404, "enterprise_not_found");
    let stranger_uri = format!(
        "/api/v1/enterprises/{}/members/{}/seal-use",
        w.enterprise, w.stranger.id
    );
    send(
        &app,
        put(&stranger_uri, &w.admin, json!({ "until": "2026-12-31" })).to_request(),
    )
    .await
    .problem(404, "member_not_found");
    let r = send(
        &app,
        get("/api/v1/me/enterprises", &w.applicant).to_request(),
    )
    .await;
    assert_eq!(
        r.body["items"][0]["my_seal_use_until"],
        json!(null),
        "nothing changed"
    );
}
