//! Admin transfers (管理员转授) end to end: submit, list, the legal rep's decision, withdraw,
//! expire, visibility, and the memberships after each.

use actix_web::http::StatusCode;
use chrono::TimeDelta;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{User, World, get, post, send};

fn transfer_uri(enterprise: Uuid) -> String {
    format!("/api/v1/enterprises/{enterprise}/admin-transfers")
}

fn reject() -> Value {
    json!({ "outcome": "reject", "reason": "target_unsuitable", "comment": "请另选合适人选" })
}

/// The main enterprise with a verified plain member (`applicant`), an unverified one and a legal
/// rep besides its two admins.
struct Setup {
    w: World,
    legal: User,
    unverified: User,
}

async fn setup() -> Setup {
    let w = World::new().await;
    w.add_role(w.enterprise, w.applicant.id, "member").await;
    w.verify_real_name(w.applicant.id, "申请人").await;
    let legal = w.user("法人代表", Some("13700005555")).await;
    w.add_role(w.enterprise, legal.id, "legal_rep").await;
    let unverified = w.user("未实名成员", Some("13600007777")).await;
    w.add_role(w.enterprise, unverified.id, "member").await;
    Setup {
        w,
        legal,
        unverified,
    }
}

macro_rules! submit_ok {
    ($app:expr, $w:expr, $user:expr, $target:expr) => {{
        let r = send(
            $app,
            post(
                &transfer_uri($w.enterprise),
                $user,
                json!({ "target_user_id": $target, "reason": "本人调岗" }),
            )
            .to_request(),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }};
}

#[actix_web::test]
async fn the_legal_rep_signs_and_the_admin_role_changes_hands() {
    let Setup { w, legal, .. } = setup().await;
    let app = app!(w);
    let r = send(
        &app,
        post(
            &transfer_uri(w.enterprise),
            &w.admin,
            json!({ "target_user_id": w.applicant.id, "reason": "本人调岗" }),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["state"], "legal_rep_review");
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/admin-transfers/{id}").as_str())
    );
    let instance: Uuid = id.parse().unwrap();
    assert_eq!(
        w.notices(instance).await,
        ["admin_transfer_submitted:enterprise.legal_rep"]
    );

    // The legal rep's list holds it, with the target, phones masked.
    let list = send(&app, get(&transfer_uri(w.enterprise), &legal).to_request()).await;
    assert_eq!(list.status, StatusCode::OK, "{:#}", list.body);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["state_title"], "法定代表人审核");
    assert_eq!(items[0]["requester"]["phone"], "186****8621");
    assert_eq!(items[0]["target"]["id"], w.applicant.id.to_string());
    assert_eq!(items[0]["target"]["phone"], "139****1111");
    assert!(items[0]["task_id"].is_string());
    assert!(!list.body.to_string().contains("18600008621"));

    let r = send(
        &app,
        post(
            &format!("/api/v1/admin-transfers/{id}/decision"),
            &legal,
            json!({ "outcome": "approve", "comment": "同意" }),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(
        r.body,
        json!({ "id": id, "state": "transferred", "status": "finished" })
    );
    // Roles change when the worker runs the action (twice delivered, once in effect).
    assert_eq!(
        w.roles(w.enterprise, w.admin.id).await,
        ["enterprise_admin"]
    );
    assert_eq!(w.run_actions(instance).await, ["membership.transfer_admin"]);
    assert_eq!(
        w.roles(w.enterprise, w.applicant.id).await,
        ["enterprise_admin", "member"]
    );
    assert_eq!(w.roles(w.enterprise, w.admin.id).await, ["member"]);
    assert_eq!(
        w.roles(w.enterprise, w.admin2.id).await,
        ["enterprise_admin"]
    );
    assert_eq!(w.roles(w.enterprise, legal.id).await, ["legal_rep"]);
    assert!(
        w.notices(instance)
            .await
            .contains(&"admin_transfer_approved:applicant".to_owned())
    );

    let r = send(
        &app,
        get(&format!("/api/v1/admin-transfers/{id}"), &w.admin).to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["state_title"], "已转授");
    assert_eq!(r.body["history"][1]["outcome"], "approve");
    assert_eq!(r.body["history"][1]["comment"], "同意");
}

#[actix_web::test]
async fn bad_targets_and_requesters_are_refused_and_write_nothing() {
    let Setup {
        w,
        legal,
        unverified,
    } = setup().await;
    let app = app!(w);
    let uri = transfer_uri(w.enterprise);
    let before = w.instance_count().await;

    let cases: [(&User, Value, u16, &str, Option<&str>); 8] = [
        (
            &w.admin,
            json!({ "target_user_id": w.admin.id }),
            422,
            "invalid_input",
            Some("target_is_self"),
        ),
        (
            &w.admin,
            json!({ "target_user_id": w.stranger.id }),
            422,
            "invalid_input",
            Some("target_not_member"),
        ),
        (
            &w.admin,
            json!({ "target_user_id": w.admin2.id }),
            422,
            "invalid_input",
            Some("target_already_admin"),
        ),
        (
            &w.admin,
            json!({ "target_user_id": unverified.id }),
            422,
            "invalid_input",
            Some("target_not_verified"),
        ),
        (
            &w.admin,
            json!({ "reason": "x" }),
            422,
            "invalid_input",
            Some("required"),
        ),
        (
            &w.applicant,
            json!({ "target_user_id": unverified.id }),
            403,
            "not_enterprise_admin",
            None,
        ),
        (
            &w.stranger,
            json!({ "target_user_id": w.applicant.id }),
            404,
            "enterprise_not_found",
            None,
        ),
        (
            &w.other_admin,
            json!({ "target_user_id": w.applicant.id }),
            404,
            "enterprise_not_found",
            None,
        ),
    ];
    for (user, body, status, code, field_code) in cases {
        let r = send(&app, post(&uri, user, body.clone()).to_request()).await;
        r.problem(status, code);
        if let Some(fc) = field_code {
            assert_eq!(
                r.field_errors(),
                [("target_user_id".to_owned(), fc.to_owned())],
                "{body}"
            );
        }
    }
    let r = send(
        &app,
        post(
            &uri,
            &w.admin,
            json!({ "target_user_id": w.applicant.id, "reason": "因".repeat(501) }),
        )
        .to_request(),
    )
    .await;
    r.problem(422, "invalid_input");
    assert_eq!(
        r.field_errors(),
        [("reason".into(), "text_too_long".into())]
    );

    // The legal rep who is also an admin could only be signed for by themselves: refused.
    w.add_role(w.enterprise, legal.id, "enterprise_admin").await;
    let r = send(
        &app,
        post(&uri, &legal, json!({ "target_user_id": w.applicant.id })).to_request(),
    )
    .await;
    r.problem(409, "legal_rep_is_requester");

    // An enterprise without a legal rep has no one to sign.
    let member = w.user("别家成员", Some("13500008888")).await;
    w.add_role(w.other_enterprise, member.id, "member").await;
    w.verify_real_name(member.id, "别家成员").await;
    let r = send(
        &app,
        post(
            &transfer_uri(w.other_enterprise),
            &w.other_admin,
            json!({ "target_user_id": member.id }),
        )
        .to_request(),
    )
    .await;
    r.problem(409, "enterprise_has_no_legal_rep");
    assert_eq!(w.instance_count().await, before, "refusals write nothing");

    // One open transfer per admin.
    let first = submit_ok!(&app, w, &w.admin, w.applicant.id);
    let r = send(
        &app,
        post(&uri, &w.admin, json!({ "target_user_id": w.applicant.id })).to_request(),
    )
    .await;
    let body = r.problem(409, "admin_transfer_open");
    assert_eq!(body["admin_transfer_id"], first.as_str());
    assert_eq!(w.instance_count().await, before + 1);
}

#[actix_web::test]
async fn only_the_legal_rep_decides() {
    let Setup { w, legal, .. } = setup().await;
    let app = app!(w);
    let id = submit_ok!(&app, w, &w.admin, w.applicant.id);
    let uri = format!("/api/v1/admin-transfers/{id}/decision");
    let approve = json!({ "outcome": "approve" });

    let r = send(&app, post(&uri, &w.admin, approve.clone()).to_request()).await;
    r.problem(403, "self_decision");
    // Another admin is not the legal rep; neither is the target (a plain member).
    let r = send(&app, post(&uri, &w.admin2, approve.clone()).to_request()).await;
    r.problem(403, "not_assignee");
    let r = send(&app, post(&uri, &w.applicant, approve.clone()).to_request()).await;
    r.problem(403, "not_assignee");
    for user in [&w.other_admin, &w.stranger] {
        let r = send(&app, post(&uri, user, approve.clone()).to_request()).await;
        r.problem(404, "admin_transfer_not_found");
        let r = send(
            &app,
            get(&format!("/api/v1/admin-transfers/{id}"), user).to_request(),
        )
        .await;
        r.problem(404, "admin_transfer_not_found");
        let r = send(&app, get(&transfer_uri(w.enterprise), user).to_request()).await;
        r.problem(404, "enterprise_not_found");
    }
    // The target, a plain member, sees nothing of it.
    let r = send(
        &app,
        get(&format!("/api/v1/admin-transfers/{id}"), &w.applicant).to_request(),
    )
    .await;
    r.problem(404, "admin_transfer_not_found");
    let r = send(
        &app,
        get(&transfer_uri(w.enterprise), &w.applicant).to_request(),
    )
    .await;
    assert_eq!(r.body["items"], json!([]));
    assert_eq!(
        w.instance_state(id.parse().unwrap()).await,
        "legal_rep_review"
    );

    // The legal rep rejects with a reason: nobody's role changes.
    let r = send(
        &app,
        post(&uri, &legal, json!({ "outcome": "reject" })).to_request(),
    )
    .await;
    r.problem(422, "reason_required");
    let r = send(&app, post(&uri, &legal, reject()).to_request()).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["state"], "rejected");
    let instance: Uuid = id.parse().unwrap();
    assert!(w.run_actions(instance).await.is_empty());
    assert!(
        w.notices(instance)
            .await
            .contains(&"admin_transfer_rejected:applicant".to_owned())
    );
    assert_eq!(
        w.roles(w.enterprise, w.admin.id).await,
        ["enterprise_admin"]
    );
    assert_eq!(w.roles(w.enterprise, w.applicant.id).await, ["member"]);
}

#[actix_web::test]
async fn withdrawn_and_expired_transfers_change_no_role() {
    let Setup { w, legal, .. } = setup().await;
    let app = app!(w);
    let id = submit_ok!(&app, w, &w.admin, w.applicant.id);
    let uri = format!("/api/v1/admin-transfers/{id}/withdraw");
    let r = send(&app, post(&uri, &legal, json!({})).to_request()).await;
    r.problem(403, "not_requester");
    let r = send(&app, post(&uri, &w.admin, json!({})).to_request()).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["state"], "withdrawn");

    let id = submit_ok!(&app, w, &w.admin, w.applicant.id);
    let instance: Uuid = id.parse().unwrap();
    w.clock.advance(TimeDelta::days(7));
    assert_eq!(w.state.runtime.fire_due_timers(10).await.unwrap(), 1);
    assert_eq!(w.instance_state(instance).await, "expired");
    assert!(
        w.notices(instance)
            .await
            .contains(&"admin_transfer_expired:applicant".to_owned())
    );
    let r = send(
        &app,
        post(
            &format!("/api/v1/admin-transfers/{id}/decision"),
            &legal,
            json!({ "outcome": "approve" }),
        )
        .to_request(),
    )
    .await;
    r.problem(409, "task_not_open");
    assert!(w.run_actions(instance).await.is_empty());
    assert_eq!(
        w.roles(w.enterprise, w.admin.id).await,
        ["enterprise_admin"]
    );
    assert_eq!(w.roles(w.enterprise, w.applicant.id).await, ["member"]);
}

#[actix_web::test]
async fn a_target_who_left_meanwhile_cannot_be_approved() {
    let Setup { w, legal, .. } = setup().await;
    let app = app!(w);
    let id = submit_ok!(&app, w, &w.admin, w.applicant.id);
    // The target leaves first (let go by admin2).
    let r = send(
        &app,
        post(
            &format!("/api/v1/enterprises/{}/leave-requests", w.enterprise),
            &w.applicant,
            json!({}),
        )
        .to_request(),
    )
    .await;
    let leave = r.body["id"].as_str().unwrap().to_owned();
    let r = send(
        &app,
        post(
            &format!("/api/v1/leave-requests/{leave}/decision"),
            &w.admin2,
            json!({ "outcome": "approve" }),
        )
        .to_request(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    w.run_actions(leave.parse().unwrap()).await;

    let r = send(
        &app,
        post(
            &format!("/api/v1/admin-transfers/{id}/decision"),
            &legal,
            json!({ "outcome": "approve" }),
        )
        .to_request(),
    )
    .await;
    r.problem(409, "target_not_member");
    assert_eq!(
        w.instance_state(id.parse().unwrap()).await,
        "legal_rep_review"
    );
    assert_eq!(
        w.roles(w.enterprise, w.admin.id).await,
        ["enterprise_admin"]
    );
}

#[actix_web::test]
async fn two_decisions_at_once_get_one_200_and_one_409() {
    let Setup { w, legal, .. } = setup().await;
    let app = app!(w);
    let id = submit_ok!(&app, w, &w.admin, w.applicant.id);
    let uri = format!("/api/v1/admin-transfers/{id}/decision");
    let (a, b) = tokio::join!(
        send(
            &app,
            post(&uri, &legal, json!({ "outcome": "approve" })).to_request()
        ),
        send(&app, post(&uri, &legal, reject()).to_request()),
    );
    let (ok, lost) = match (a.status.as_u16(), b.status.as_u16()) {
        (200, 409) => (a, b),
        (409, 200) => (b, a),
        other => panic!("exactly one must win: {other:?} {:#} {:#}", a.body, b.body),
    };
    lost.problem(409, "task_not_open");
    let actions = w.run_actions(id.parse().unwrap()).await;
    if ok.body["state"] == "transferred" {
        assert_eq!(actions, ["membership.transfer_admin"]);
        assert_eq!(w.roles(w.enterprise, w.admin.id).await, ["member"]);
    } else {
        assert_eq!(ok.body["state"], "rejected");
        assert!(actions.is_empty());
        assert_eq!(
            w.roles(w.enterprise, w.admin.id).await,
            ["enterprise_admin"]
        );
    }
}
