//! Join requests end to end: submit, review list, decision, withdrawal, visibility.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use certdesk_store::schema::admin_check_attempts;
use chrono::TimeDelta;
use diesel::QueryDsl;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::support::{ADMIN_NAME, ADMIN_PHONE, ENTERPRISE_NAME, World, get, post, send};

fn reason_body(w: &World) -> Value {
    json!({ "enterprise_id": w.enterprise, "mode": "reason", "reason": "新入职的投标专员" })
}

fn verify_body(w: &World, name: &str, last4: &str) -> Value {
    json!({
        "enterprise_id": w.enterprise,
        "mode": "verify_admin",
        "admin_name": name,
        "admin_phone_last4": last4,
    })
}

fn decision(outcome: &str) -> Value {
    if outcome == "reject" {
        json!({ "outcome": "reject", "reason": "not_employee", "comment": "经核实非本公司员工" })
    } else {
        json!({ "outcome": outcome })
    }
}

/// Submits and expects 201; returns the new id.
async fn submit<S, R, B>(app: &S, req: R) -> String
where
    S: actix_web::dev::Service<
            R,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let r = send(app, req).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn submit_list_approve_and_the_requester_sees_joined() {
    let w = World::new().await;
    let app = app!(w);

    let r = send(
        &app,
        post("/api/v1/join-requests", &w.applicant, reason_body(&w)).to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["state"], "admin_review");
    assert_eq!(r.body["created_at"], "2026-03-02T01:00:00Z");
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/join-requests/{id}").as_str())
    );

    // The admin's review list holds it, with the task to decide.
    let list = send(
        &app,
        get(
            &format!(
                "/api/v1/enterprises/{}/join-requests?state=admin_review",
                w.enterprise
            ),
            &w.admin,
        )
        .to_request(),
    )
    .await;
    assert_eq!(list.status, StatusCode::OK, "{:#}", list.body);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(list.body["next_cursor"], Value::Null);
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["state"], "admin_review");
    assert_eq!(items[0]["state_title"], "企业管理员审核");
    assert!(items[0]["task_id"].is_string());
    assert_eq!(items[0]["requester"]["name"], "申请人");
    assert_eq!(items[0]["requester"]["phone"], "139****1111");
    assert_eq!(items[0]["form"]["reason"], "新入职的投标专员");

    // Another state filter does not list it.
    let joined = send(
        &app,
        get(
            &format!(
                "/api/v1/enterprises/{}/join-requests?state=joined",
                w.enterprise
            ),
            &w.admin,
        )
        .to_request(),
    )
    .await;
    assert_eq!(joined.body, json!({ "items": [], "next_cursor": null }));

    w.clock.advance(TimeDelta::hours(2));
    let r = send(
        &app,
        post(
            &format!("/api/v1/join-requests/{id}/decision"),
            &w.admin,
            decision("approve"),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(
        r.body,
        json!({ "id": id, "state": "joined", "status": "finished" })
    );

    let r = send(
        &app,
        get(&format!("/api/v1/join-requests/{id}"), &w.applicant).to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["state"], "joined");
    assert_eq!(r.body["state_title"], "已加入");
    assert_eq!(r.body["status"], "finished");
    assert_eq!(r.body["enterprise"]["name"], ENTERPRISE_NAME);
    assert_eq!(r.body["form"]["mode"], "reason");
    assert!(r.body["task_id"].is_null());
    let history = r.body["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{history:#?}");
    assert_eq!(history[0]["event"], "start");
    assert_eq!(history[0]["state"], "admin_review");
    assert_eq!(history[1]["event"], "decide");
    assert_eq!(history[1]["outcome"], "approve");
    assert_eq!(history[1]["state"], "joined");
    assert_eq!(history[1]["at"], "2026-03-02T03:00:00Z");

    // The list now shows it as decided, without a task.
    let list = send(
        &app,
        get(
            &format!("/api/v1/enterprises/{}/join-requests", w.enterprise),
            &w.admin2,
        )
        .to_request(),
    )
    .await;
    assert_eq!(list.body["items"][0]["state"], "joined");
    assert!(list.body["items"][0]["task_id"].is_null());
}

#[actix_web::test]
async fn reason_mode_checks_the_reason_and_a_rejection_shows_reason_and_comment() {
    let w = World::new().await;
    let app = app!(w);

    let r = send(
        &app,
        post(
            "/api/v1/join-requests",
            &w.applicant,
            json!({ "enterprise_id": w.enterprise, "mode": "reason" }),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "invalid_input");
    assert_eq!(r.field_errors(), [("reason".into(), "required".into())]);

    let r = send(
        &app,
        post(
            "/api/v1/join-requests",
            &w.applicant,
            json!({ "enterprise_id": w.enterprise, "mode": "reason", "reason": "因".repeat(501) }),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "invalid_input");
    assert_eq!(
        r.field_errors(),
        [("reason".into(), "text_too_long".into())]
    );
    assert_eq!(
        w.instance_count().await,
        0,
        "a refused submission writes nothing"
    );

    let id = submit(
        &app,
        post("/api/v1/join-requests", &w.applicant, reason_body(&w)).to_request(),
    )
    .await;

    // A rejection needs a reason code and a comment (the definition says so).
    let r = send(
        &app,
        post(
            &format!("/api/v1/join-requests/{id}/decision"),
            &w.admin,
            json!({ "outcome": "reject" }),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "reason_required");
    assert_eq!(
        r.field_errors(),
        [("reason".into(), "reason_required".into())]
    );
    let r = send(
        &app,
        post(
            &format!("/api/v1/join-requests/{id}/decision"),
            &w.admin,
            json!({ "outcome": "maybe" }),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "unknown_outcome");

    let r = send(
        &app,
        post(
            &format!("/api/v1/join-requests/{id}/decision"),
            &w.admin,
            decision("reject"),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["state"], "rejected");

    let r = send(
        &app,
        get(&format!("/api/v1/join-requests/{id}"), &w.applicant).to_request(),
    )
    .await;
    let last = r.body["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["outcome"], "reject");
    assert_eq!(last["reason"], "not_employee");
    assert_eq!(last["comment"], "经核实非本公司员工");

    // Deciding again: the request is no longer waiting.
    let r = send(
        &app,
        post(
            &format!("/api/v1/join-requests/{id}/decision"),
            &w.admin2,
            decision("approve"),
        )
        .to_request(),
    )
    .await;
    let body = r.problem(409, "task_not_open");
    assert_eq!(body["message_zh"], "该申请已被处理");

    // After a rejection the applicant may ask again.
    submit(
        &app,
        post("/api/v1/join-requests", &w.applicant, reason_body(&w)).to_request(),
    )
    .await;
}

#[actix_web::test]
async fn verify_admin_with_the_right_pair_starts_and_resets_the_counter() {
    let w = World::new().await;
    let app = app!(w);

    let r = send(
        &app,
        post(
            "/api/v1/join-requests",
            &w.applicant,
            verify_body(&w, ADMIN_NAME, "0000"),
        )
        .to_request(),
    )
    .await;
    let body = r.problem(422, "admin_check_failed");
    assert_eq!(body["remaining_attempts"], 4);
    assert_eq!(
        r.field_errors(),
        [
            ("admin_name".into(), "admin_check_failed".into()),
            ("admin_phone_last4".into(), "admin_check_failed".into())
        ]
    );

    let last4 = &ADMIN_PHONE[ADMIN_PHONE.len() - 4..];
    let id = submit(
        &app,
        post(
            "/api/v1/join-requests",
            &w.applicant,
            verify_body(&w, ADMIN_NAME, last4),
        )
        .to_request(),
    )
    .await;
    assert_eq!(w.instance_state(id.parse().unwrap()).await, "admin_review");
    let mut conn = w.conn().await;
    let rows: i64 = admin_check_attempts::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows, 0, "a success forgets earlier failures");

    // The form still applies: four digits, required in this mode.
    let r = send(
        &app,
        post(
            "/api/v1/join-requests",
            &w.stranger,
            json!({ "enterprise_id": w.enterprise, "mode": "verify_admin", "admin_phone_last4": "86a1" }),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "invalid_input");
    assert_eq!(
        r.field_errors(),
        [
            ("admin_name".into(), "required".into()),
            ("admin_phone_last4".into(), "not_digits".into())
        ]
    );
}

#[actix_web::test]
async fn five_wrong_admin_checks_lock_the_pair_for_24_hours() {
    let w = World::new().await;
    let app = app!(w);
    let right = &ADMIN_PHONE[ADMIN_PHONE.len() - 4..];

    for remaining in (1..=4).rev() {
        let r = send(
            &app,
            post(
                "/api/v1/join-requests",
                &w.applicant,
                verify_body(&w, ADMIN_NAME, "1234"),
            )
            .to_request(),
        )
        .await;
        assert_eq!(
            r.problem(422, "admin_check_failed")["remaining_attempts"],
            remaining
        );
        w.clock.advance(TimeDelta::minutes(1));
    }
    // The 5th wrong try locks, and says until when.
    let r = send(
        &app,
        post(
            "/api/v1/join-requests",
            &w.applicant,
            verify_body(&w, "张三", right),
        )
        .to_request(),
    )
    .await;
    let body = r.problem(429, "admin_check_locked");
    let locked_at = w.now();
    let until = (locked_at + TimeDelta::hours(24)).to_rfc3339();
    assert_eq!(body["locked_until"], until.as_str());
    assert_eq!(r.header("retry-after"), Some("86400"));
    assert!(
        body["message_zh"]
            .as_str()
            .unwrap()
            .contains("2026-03-03 09:04"),
        "the unlock time in Beijing time: {body:#}"
    );

    // While locked, even the right pair is refused.
    w.clock.advance(TimeDelta::hours(23));
    let r = send(
        &app,
        post(
            "/api/v1/join-requests",
            &w.applicant,
            verify_body(&w, ADMIN_NAME, right),
        )
        .to_request(),
    )
    .await;
    assert_eq!(
        r.problem(429, "admin_check_locked")["locked_until"],
        until.as_str()
    );
    assert_eq!(r.header("retry-after"), Some("3600"));
    assert_eq!(w.instance_count().await, 0);

    // The lock is per (caller, enterprise): someone else is not locked out.
    let r = send(
        &app,
        post(
            "/api/v1/join-requests",
            &w.stranger,
            verify_body(&w, ADMIN_NAME, "1234"),
        )
        .to_request(),
    )
    .await;
    assert_eq!(
        r.problem(422, "admin_check_failed")["remaining_attempts"],
        4
    );

    // 24 hours after the lock, the right pair works.
    w.clock.advance(TimeDelta::hours(1));
    let id = submit(
        &app,
        post(
            "/api/v1/join-requests",
            &w.applicant,
            verify_body(&w, ADMIN_NAME, right),
        )
        .to_request(),
    )
    .await;
    assert_eq!(w.instance_state(id.parse().unwrap()).await, "admin_review");
}

#[actix_web::test]
async fn an_enterprise_without_admin_points_to_a_claim() {
    let w = World::new().await;
    let app = app!(w);
    let orphan = w
        .enterprise(
            &crate::support::uscc("91350203MA2Y3K003"),
            "无人认领的建设有限公司",
            &[],
        )
        .await;
    let r = send(
        &app,
        post(
            "/api/v1/join-requests",
            &w.applicant,
            json!({ "enterprise_id": orphan, "mode": "reason", "reason": "入职" }),
        )
        .to_request(),
    )
    .await;
    let body = r.problem(409, "enterprise_has_no_admin");
    assert!(body["message_zh"].as_str().unwrap().contains("认领企业"));
    assert!(
        body["message_en"]
            .as_str()
            .unwrap()
            .contains("claim the enterprise")
    );
    assert_eq!(body["hint"], "claim_enterprise");
    assert_eq!(w.instance_count().await, 0);
}

#[actix_web::test]
async fn members_open_requests_unknown_enterprises_and_foreign_fields_are_refused() {
    let w = World::new().await;
    let app = app!(w);

    let r = send(
        &app,
        post("/api/v1/join-requests", &w.admin, reason_body(&w)).to_request(),
    )
    .await;
    r.problem(409, "already_member");

    let id = submit(
        &app,
        post("/api/v1/join-requests", &w.applicant, reason_body(&w)).to_request(),
    )
    .await;
    let r = send(
        &app,
        post("/api/v1/join-requests", &w.applicant, reason_body(&w)).to_request(),
    )
    .await;
    assert_eq!(
        r.problem(409, "join_request_open")["join_request_id"],
        id.as_str()
    );

    let r = send(
        &app,
        post(
            "/api/v1/join-requests",
            &w.stranger,
            json!({ "enterprise_id": uuid::Uuid::now_v7(), "mode": "reason", "reason": "x" }),
        )
        .to_request(),
    )
    .await;
    r.problem(404, "enterprise_not_found");

    // The order is the API's to create, never the client's to name.
    let mut body = reason_body(&w);
    body["order_id"] = json!(uuid::Uuid::now_v7());
    let r = send(
        &app,
        post("/api/v1/join-requests", &w.stranger, body).to_request(),
    )
    .await;
    r.problem(400, "malformed_json");
    assert_eq!(r.field_errors()[0].1, "unknown_field");

    let mut body = reason_body(&w);
    body["package_id"] = json!(uuid::Uuid::now_v7());
    body["seal_use"] = json!(true);
    body["seal_use_until"] = json!("2026-03-01");
    let r = send(
        &app,
        post("/api/v1/join-requests", &w.stranger, body).to_request(),
    )
    .await;
    r.problem(422, "invalid_input");
    assert_eq!(
        r.field_errors(),
        [
            ("package_id".into(), "package_not_found".into()),
            ("seal_use_until".into(), "date_in_past".into())
        ]
    );

    let r = send(
        &app,
        post(
            "/api/v1/join-requests",
            &w.stranger,
            json!({ "enterprise_id": w.enterprise, "mode": "guess" }),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "invalid_input");
    assert_eq!(r.field_errors(), [("mode".into(), "not_a_choice".into())]);

    // Seal-use rights with a validity period are accepted and kept in the form.
    let mut body = reason_body(&w);
    body["seal_use"] = json!(true);
    body["seal_use_until"] = json!("2026-12-31");
    let id = submit(
        &app,
        post("/api/v1/join-requests", &w.stranger, body).to_request(),
    )
    .await;
    let r = send(
        &app,
        get(&format!("/api/v1/join-requests/{id}"), &w.stranger).to_request(),
    )
    .await;
    assert_eq!(r.body["form"]["seal_use"], true);
    assert_eq!(r.body["form"]["seal_use_until"], "2026-12-31");
    assert_eq!(w.instance_count().await, 2);
}

#[actix_web::test]
async fn outsiders_get_404_on_the_request_the_list_and_the_decision() {
    let w = World::new().await;
    let app = app!(w);
    let id = submit(
        &app,
        post("/api/v1/join-requests", &w.applicant, reason_body(&w)).to_request(),
    )
    .await;
    let list = format!("/api/v1/enterprises/{}/join-requests", w.enterprise);

    for outsider in [&w.stranger, &w.other_admin] {
        let r = send(
            &app,
            get(&format!("/api/v1/join-requests/{id}"), outsider).to_request(),
        )
        .await;
        r.problem(404, "join_request_not_found");
        let r = send(&app, get(&list, outsider).to_request()).await;
        r.problem(404, "enterprise_not_found");
        let r = send(
            &app,
            post(
                &format!("/api/v1/join-requests/{id}/decision"),
                outsider,
                decision("approve"),
            )
            .to_request(),
        )
        .await;
        r.problem(404, "join_request_not_found");
        let r = send(
            &app,
            post(
                &format!("/api/v1/join-requests/{id}/withdraw"),
                outsider,
                json!({}),
            )
            .to_request(),
        )
        .await;
        r.problem(404, "join_request_not_found");
    }
    // The answer for an id that exists equals the one for an id that does not.
    let r = send(
        &app,
        get(
            &format!("/api/v1/join-requests/{}", uuid::Uuid::now_v7()),
            &w.stranger,
        )
        .to_request(),
    )
    .await;
    r.problem(404, "join_request_not_found");

    // The requester is not an admin: no list, and no deciding their own request.
    let r = send(&app, get(&list, &w.applicant).to_request()).await;
    r.problem(404, "enterprise_not_found");
    let r = send(
        &app,
        post(
            &format!("/api/v1/join-requests/{id}/decision"),
            &w.applicant,
            decision("approve"),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:#}", r.body);

    assert_eq!(w.instance_state(id.parse().unwrap()).await, "admin_review");

    // The admin of the enterprise sees it, phones masked.
    let r = send(
        &app,
        get(&format!("/api/v1/join-requests/{id}"), &w.admin2).to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["requester"]["phone"], "139****1111");
    assert!(r.body["task_id"].is_string());
}

#[actix_web::test]
async fn only_the_requester_withdraws() {
    let w = World::new().await;
    let app = app!(w);
    let id = submit(
        &app,
        post("/api/v1/join-requests", &w.applicant, reason_body(&w)).to_request(),
    )
    .await;
    let uri = format!("/api/v1/join-requests/{id}/withdraw");

    let r = send(
        &app,
        TestRequest::post()
            .uri(&uri)
            .insert_header(("authorization", format!("Bearer {}", w.admin.token)))
            .to_request(),
    )
    .await;
    r.problem(403, "not_requester");
    let r = send(&app, post(&uri, &w.stranger, json!({})).to_request()).await;
    r.problem(404, "join_request_not_found");

    let r = send(&app, post(&uri, &w.applicant, json!({})).to_request()).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["state"], "withdrawn");

    let r = send(&app, post(&uri, &w.applicant, json!({})).to_request()).await;
    r.problem(409, "instance_finished");
}

#[actix_web::test]
async fn two_admins_deciding_at_once_get_one_200_and_one_409() {
    let w = World::new().await;
    let app = app!(w);
    for round in 0..3 {
        let user = w.user(&format!("申请人{round}"), None).await;
        let id = submit(
            &app,
            post("/api/v1/join-requests", &user, reason_body(&w)).to_request(),
        )
        .await;
        let uri = format!("/api/v1/join-requests/{id}/decision");
        let (a, b) = tokio::join!(
            send(&app, post(&uri, &w.admin, decision("approve")).to_request()),
            send(&app, post(&uri, &w.admin2, decision("reject")).to_request()),
        );
        let (ok, lost) = match (a.status.as_u16(), b.status.as_u16()) {
            (200, 409) => (a, b),
            (409, 200) => (b, a),
            other => panic!("exactly one must win: {other:?} {:#} {:#}", a.body, b.body),
        };
        assert!(
            ok.body["state"] == "joined" || ok.body["state"] == "rejected",
            "{:#}",
            ok.body
        );
        let body = lost.problem(409, "task_not_open");
        assert_eq!(body["message_en"], "this request has already been decided");

        let r = send(
            &app,
            get(&format!("/api/v1/join-requests/{id}"), &user).to_request(),
        )
        .await;
        assert_eq!(r.body["state"], ok.body["state"]);
        assert_eq!(
            r.body["history"].as_array().unwrap().len(),
            2,
            "the loser left no trace"
        );
    }
}
