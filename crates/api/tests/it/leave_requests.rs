//! Leave requests (退出企业) end to end: submit, list, decide, withdraw, expire, visibility,
//! and the memberships after each.

use actix_web::http::StatusCode;
use chrono::TimeDelta;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{User, World, get, post, send};

fn leave_uri(enterprise: Uuid) -> String {
    format!("/api/v1/enterprises/{enterprise}/leave-requests")
}

fn reject() -> Value {
    json!({ "outcome": "reject", "reason": "holds_enterprise_assets", "comment": "请先交回企业印章" })
}

/// The main enterprise with a plain member (`applicant`) and a legal rep besides its two admins.
async fn world() -> (World, User) {
    let w = World::new().await;
    w.add_role(w.enterprise, w.applicant.id, "member").await;
    let legal = w.user("法人代表", Some("13700005555")).await;
    w.add_role(w.enterprise, legal.id, "legal_rep").await;
    (w, legal)
}

macro_rules! submit_ok {
    ($app:expr, $w:expr, $user:expr) => {{
        let r = send(
            $app,
            post(&leave_uri($w.enterprise), $user, json!({ "reason": "已离职" })).to_request(),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }};
}

#[actix_web::test]
async fn a_member_leaves_once_an_admin_approves() {
    let (w, _legal) = world().await;
    let app = app!(w);

    let r = send(
        &app,
        post(
            &leave_uri(w.enterprise),
            &w.applicant,
            json!({ "reason": "已离职" }),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["state"], "admin_review");
    assert_eq!(r.body["created_at"], "2026-03-02T01:00:00Z");
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/leave-requests/{id}").as_str())
    );
    let instance: Uuid = id.parse().unwrap();
    assert_eq!(
        w.notices(instance).await,
        ["leave_request_submitted:enterprise.admins"]
    );

    // The admins' list holds it, phone masked, with the task to decide.
    let list = send(
        &app,
        get(
            &format!("{}?state=admin_review", leave_uri(w.enterprise)),
            &w.admin,
        )
        .to_request(),
    )
    .await;
    assert_eq!(list.status, StatusCode::OK, "{:#}", list.body);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["state_title"], "企业管理员审核");
    assert_eq!(items[0]["requester"]["phone"], "139****1111");
    assert_eq!(items[0]["form"]["reason"], "已离职");
    assert!(items[0]["task_id"].is_string());
    assert!(list.body["next_cursor"].is_null());
    assert!(
        !list.body.to_string().contains("13900001111"),
        "no phone in full"
    );

    w.clock.advance(TimeDelta::hours(1));
    let r = send(
        &app,
        post(
            &format!("/api/v1/leave-requests/{id}/decision"),
            &w.admin2,
            json!({ "outcome": "approve" }),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(
        r.body,
        json!({ "id": id, "state": "left", "status": "finished" })
    );
    // Still a member until the worker runs the action, then not at all.
    assert_eq!(w.roles(w.enterprise, w.applicant.id).await, ["member"]);
    assert_eq!(w.run_actions(instance).await, ["membership.revoke"]);
    assert!(w.roles(w.enterprise, w.applicant.id).await.is_empty());
    assert_eq!(
        w.roles(w.enterprise, w.admin2.id).await,
        ["enterprise_admin"]
    );
    assert!(
        w.notices(instance)
            .await
            .contains(&"leave_request_left:applicant".to_owned())
    );

    // The former member still reads their own request, with its history.
    let r = send(
        &app,
        get(&format!("/api/v1/leave-requests/{id}"), &w.applicant).to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["state"], "left");
    assert_eq!(r.body["state_title"], "已退出");
    assert!(r.body["task_id"].is_null());
    let history = r.body["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{history:#?}");
    assert_eq!(history[1]["outcome"], "approve");
    assert_eq!(history[1]["at"], "2026-03-02T02:00:00Z");
    // …but no longer the enterprise's list.
    let r = send(
        &app,
        get(&leave_uri(w.enterprise), &w.applicant).to_request(),
    )
    .await;
    r.problem(404, "enterprise_not_found");
}

#[actix_web::test]
async fn a_rejection_needs_a_reason_and_the_member_stays() {
    let (w, legal) = world().await;
    let app = app!(w);
    let id = submit_ok!(&app, w, &w.applicant);
    let uri = format!("/api/v1/leave-requests/{id}/decision");

    let r = send(
        &app,
        post(&uri, &w.admin, json!({ "outcome": "reject" })).to_request(),
    )
    .await;
    r.problem(422, "reason_required");
    let r = send(
        &app,
        post(
            &uri,
            &w.admin,
            json!({ "outcome": "reject", "reason": "holds_enterprise_assets", "comment": "因".repeat(501) }),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "comment_too_long");
    let r = send(
        &app,
        post(
            &uri,
            &w.admin,
            json!({ "outcome": "reject", "reason": "not_employee", "comment": "x" }),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "unknown_reason");

    // The legal rep may decide too.
    let r = send(&app, post(&uri, &legal, reject()).to_request()).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["state"], "rejected");
    let instance: Uuid = id.parse().unwrap();
    assert!(w.run_actions(instance).await.is_empty());
    assert_eq!(w.roles(w.enterprise, w.applicant.id).await, ["member"]);
    assert!(
        w.notices(instance)
            .await
            .contains(&"leave_request_rejected:applicant".to_owned())
    );
    let r = send(
        &app,
        get(&format!("/api/v1/leave-requests/{id}"), &w.applicant).to_request(),
    )
    .await;
    assert_eq!(r.body["history"][1]["reason"], "holds_enterprise_assets");
    assert_eq!(r.body["history"][1]["comment"], "请先交回企业印章");

    // A decided request cannot be decided again; a new one can be asked.
    let r = send(&app, post(&uri, &w.admin, reject()).to_request()).await;
    r.problem(409, "task_not_open");
    let again = submit_ok!(&app, w, &w.applicant);
    assert_ne!(again, id);
}

#[actix_web::test]
async fn only_the_requester_withdraws_and_the_member_stays() {
    let (w, _legal) = world().await;
    let app = app!(w);
    let id = submit_ok!(&app, w, &w.applicant);
    let uri = format!("/api/v1/leave-requests/{id}/withdraw");

    let r = send(&app, post(&uri, &w.admin, json!({})).to_request()).await;
    r.problem(403, "not_requester");
    let r = send(&app, post(&uri, &w.other_admin, json!({})).to_request()).await;
    r.problem(404, "leave_request_not_found");

    let r = send(&app, post(&uri, &w.applicant, json!({})).to_request()).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(
        r.body,
        json!({ "id": id, "state": "withdrawn", "status": "finished" })
    );
    let r = send(&app, post(&uri, &w.applicant, json!({})).to_request()).await;
    r.problem(409, "instance_finished");
    assert_eq!(w.roles(w.enterprise, w.applicant.id).await, ["member"]);
}

#[actix_web::test]
async fn admins_are_reminded_on_day_3_and_the_request_expires_on_day_7() {
    let (w, _legal) = world().await;
    let app = app!(w);
    let id = submit_ok!(&app, w, &w.applicant);
    let instance: Uuid = id.parse().unwrap();
    let rt = &w.state.runtime;

    w.clock.advance(TimeDelta::days(3));
    assert_eq!(rt.fire_due_timers(10).await.unwrap(), 1);
    assert_eq!(w.instance_state(instance).await, "admin_review");
    assert!(
        w.notices(instance)
            .await
            .contains(&"leave_request_reminder:enterprise.admins".to_owned())
    );

    w.clock.advance(TimeDelta::days(4));
    assert_eq!(rt.fire_due_timers(10).await.unwrap(), 1);
    assert_eq!(w.instance_state(instance).await, "expired");
    assert!(
        w.notices(instance)
            .await
            .contains(&"leave_request_expired:applicant".to_owned())
    );
    assert!(w.run_actions(instance).await.is_empty());
    assert_eq!(w.roles(w.enterprise, w.applicant.id).await, ["member"]);
    let r = send(
        &app,
        post(
            &format!("/api/v1/leave-requests/{id}/decision"),
            &w.admin,
            json!({ "outcome": "approve" }),
        )
        .to_request(),
    )
    .await;
    r.problem(409, "task_not_open");
}

#[actix_web::test]
async fn outsiders_the_legal_rep_the_last_admin_and_a_second_request_are_refused() {
    let (w, legal) = world().await;
    let app = app!(w);
    let before = w.instance_count().await;

    for (user, enterprise) in [
        (&w.stranger, w.enterprise),
        (&w.other_admin, w.enterprise),
        (&w.applicant, Uuid::now_v7()),
    ] {
        let r = send(
            &app,
            post(&leave_uri(enterprise), user, json!({})).to_request(),
        )
        .await;
        r.problem(404, "enterprise_not_found");
    }
    let r = send(
        &app,
        post(&leave_uri(w.enterprise), &legal, json!({})).to_request(),
    )
    .await;
    r.problem(409, "legal_rep_cannot_leave");
    // The other enterprise has one admin: they must hand the role over first.
    let r = send(
        &app,
        post(&leave_uri(w.other_enterprise), &w.other_admin, json!({})).to_request(),
    )
    .await;
    let body = r.problem(409, "last_admin");
    assert_eq!(body["hint"], "admin_transfer");
    let r = send(
        &app,
        post(
            &leave_uri(w.enterprise),
            &w.applicant,
            json!({ "reason": "因".repeat(501) }),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "invalid_input");
    assert_eq!(
        r.field_errors(),
        [("reason".into(), "text_too_long".into())]
    );
    let r = send(
        &app,
        post(
            &leave_uri(w.enterprise),
            &w.applicant,
            json!({ "reason": "x", "extra": 1 }),
        )
        .to_request(),
    )
    .await;
    r.problem(400, "malformed_json");
    assert_eq!(r.field_errors(), [("extra".into(), "unknown_field".into())]);
    assert_eq!(w.instance_count().await, before, "refusals write nothing");

    // A reason is optional; a second open request is refused and names the first.
    let r = send(
        &app,
        post(&leave_uri(w.enterprise), &w.applicant, json!({})).to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    let first = r.body["id"].as_str().unwrap().to_owned();
    let r = send(
        &app,
        post(&leave_uri(w.enterprise), &w.applicant, json!({})).to_request(),
    )
    .await;
    let body = r.problem(409, "leave_request_open");
    assert_eq!(body["leave_request_id"], first.as_str());
    assert_eq!(w.instance_count().await, before + 1);
}

#[actix_web::test]
async fn two_submissions_at_once_start_one_request() {
    let (w, _legal) = world().await;
    let app = app!(w);
    let uri = leave_uri(w.enterprise);
    let (a, b) = tokio::join!(
        send(&app, post(&uri, &w.applicant, json!({})).to_request()),
        send(&app, post(&uri, &w.applicant, json!({})).to_request()),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{:#} {:#}", a.body, b.body);
    let lost = if a.status.as_u16() == 409 { &a } else { &b };
    lost.problem(409, "leave_request_open");
    assert_eq!(w.instance_count().await, 1);
}

#[actix_web::test]
async fn who_sees_and_who_decides() {
    let (w, _legal) = world().await;
    let app = app!(w);
    let member2 = w.user("另一位成员", Some("13600006666")).await;
    w.add_role(w.enterprise, member2.id, "member").await;
    let id = submit_ok!(&app, w, &w.applicant);
    let other = submit_ok!(&app, w, &member2);
    let decision = format!("/api/v1/leave-requests/{id}/decision");
    let approve = json!({ "outcome": "approve" });

    // Another enterprise's admin and a stranger: 404 everywhere, never the data.
    for user in [&w.other_admin, &w.stranger] {
        let r = send(
            &app,
            get(&format!("/api/v1/leave-requests/{id}"), user).to_request(),
        )
        .await;
        r.problem(404, "leave_request_not_found");
        let r = send(&app, post(&decision, user, approve.clone()).to_request()).await;
        r.problem(404, "leave_request_not_found");
        let r = send(&app, get(&leave_uri(w.enterprise), user).to_request()).await;
        r.problem(404, "enterprise_not_found");
    }
    // A plain member: sees only their own, may not decide another's (403), nor their own.
    let r = send(
        &app,
        get(&format!("/api/v1/leave-requests/{id}"), &member2).to_request(),
    )
    .await;
    r.problem(404, "leave_request_not_found");
    let r = send(
        &app,
        post(&decision, &member2, approve.clone()).to_request(),
    )
    .await;
    r.problem(403, "not_assignee");
    let r = send(
        &app,
        post(&decision, &w.applicant, approve.clone()).to_request(),
    )
    .await;
    r.problem(403, "self_decision");
    let r = send(&app, get(&leave_uri(w.enterprise), &member2).to_request()).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let ids: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [other.as_str()]);
    assert_eq!(w.instance_state(id.parse().unwrap()).await, "admin_review");
    assert_eq!(w.roles(w.enterprise, w.applicant.id).await, ["member"]);
}

#[actix_web::test]
async fn an_admin_leaves_only_by_another_deciders_hand_and_never_as_the_last_one() {
    let (w, legal) = world().await;
    let app = app!(w);
    let mine = submit_ok!(&app, w, &w.admin);
    let r = send(
        &app,
        post(
            &format!("/api/v1/leave-requests/{mine}/decision"),
            &w.admin,
            json!({ "outcome": "approve" }),
        )
        .to_request(),
    )
    .await;
    r.problem(403, "self_decision");

    // admin2 leaves first, let go by admin: admin is now the only admin.
    let theirs = submit_ok!(&app, w, &w.admin2);
    let r = send(
        &app,
        post(
            &format!("/api/v1/leave-requests/{theirs}/decision"),
            &w.admin,
            json!({ "outcome": "approve" }),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(
        w.run_actions(theirs.parse().unwrap()).await,
        ["membership.revoke"]
    );
    assert!(w.roles(w.enterprise, w.admin2.id).await.is_empty());

    // The legal rep may not let the last admin go: the role must be handed over first.
    let r = send(
        &app,
        post(
            &format!("/api/v1/leave-requests/{mine}/decision"),
            &legal,
            json!({ "outcome": "approve" }),
        )
        .to_request(),
    )
    .await;
    r.problem(409, "last_admin");
    assert_eq!(
        w.instance_state(mine.parse().unwrap()).await,
        "admin_review"
    );
    // Rejecting stays possible.
    let r = send(
        &app,
        post(
            &format!("/api/v1/leave-requests/{mine}/decision"),
            &legal,
            reject(),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(
        w.roles(w.enterprise, w.admin.id).await,
        ["enterprise_admin"]
    );
}

#[actix_web::test]
async fn two_deciders_at_once_get_one_200_and_one_409() {
    let (w, _legal) = world().await;
    let app = app!(w);
    for round in 0..3 {
        let user = w.user(&format!("成员{round}"), None).await;
        w.add_role(w.enterprise, user.id, "member").await;
        let id = submit_ok!(&app, w, &user);
        let uri = format!("/api/v1/leave-requests/{id}/decision");
        let (a, b) = tokio::join!(
            send(
                &app,
                post(&uri, &w.admin, json!({ "outcome": "approve" })).to_request()
            ),
            send(&app, post(&uri, &w.admin2, reject()).to_request()),
        );
        let (ok, lost) = match (a.status.as_u16(), b.status.as_u16()) {
            (200, 409) => (a, b),
            (409, 200) => (b, a),
            other => panic!("exactly one must win: {other:?} {:#} {:#}", a.body, b.body),
        };
        lost.problem(409, "task_not_open");
        let instance: Uuid = id.parse().unwrap();
        let actions = w.run_actions(instance).await;
        if ok.body["state"] == "left" {
            assert_eq!(actions, ["membership.revoke"]);
            assert!(w.roles(w.enterprise, user.id).await.is_empty());
        } else {
            assert_eq!(ok.body["state"], "rejected");
            assert!(actions.is_empty());
            assert_eq!(w.roles(w.enterprise, user.id).await, ["member"]);
        }
    }
}

#[actix_web::test]
async fn lists_page_by_an_opaque_cursor() {
    let (w, _legal) = world().await;
    let app = app!(w);
    let mut ids = Vec::new();
    for round in 0..5 {
        let user = w.user(&format!("成员{round}"), None).await;
        w.add_role(w.enterprise, user.id, "member").await;
        ids.push(submit_ok!(&app, w, &user));
        w.clock.advance(TimeDelta::minutes(1));
    }
    ids.reverse(); // newest first

    let mut seen = Vec::new();
    let mut uri = format!("{}?limit=2", leave_uri(w.enterprise));
    for page in 0.. {
        let r = send(&app, get(&uri, &w.admin).to_request()).await;
        assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        match r.body["next_cursor"].as_str() {
            Some(c) => {
                assert!(page < 3, "three pages at most");
                uri = format!("{}?limit=2&cursor={c}", leave_uri(w.enterprise));
            }
            None => break,
        }
    }
    assert_eq!(seen, ids, "every item once, newest first");

    let r = send(
        &app,
        get(
            &format!("{}?cursor=garbage", leave_uri(w.enterprise)),
            &w.admin,
        )
        .to_request(),
    )
    .await;
    r.problem(422, "invalid_input");
    assert_eq!(
        r.field_errors(),
        [("cursor".into(), "invalid_cursor".into())]
    );
    for bad in ["limit=0", "limit=101", "state=nowhere"] {
        let r = send(
            &app,
            get(&format!("{}?{bad}", leave_uri(w.enterprise)), &w.admin).to_request(),
        )
        .await;
        r.problem(422, "invalid_input");
    }
    // Default page size is 20: all five in one page.
    let r = send(&app, get(&leave_uri(w.enterprise), &w.admin).to_request()).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 5);
    assert!(r.body["next_cursor"].is_null());
}
