//! Decisions on the task page: exactly the definition's outcomes, server-side checks, the
//! runtime applying them, and who may not decide.

use actix_web::http::header;
use chrono::TimeDelta;

use crate::support::*;

const DECIDE: &str = "/decide";

fn task_url(task: uuid::Uuid) -> String {
    format!("/admin/tasks/{task}")
}

#[actix_web::test]
async fn a_reviewer_sees_exactly_the_outcomes_and_rejects_with_a_reason() {
    let w = World::new().await;
    let app = app!(w);
    let cs = w.staff("cs@example.cn", &["cs_reviewer"]).await;
    let applicant = w.applicant("JOHN SMITH").await;
    let (instance, task, _) = w.review(applicant).await;
    let cookie = sign_in(&app, &cs.login, &cs.password, &w.code(&cs))
        .await
        .unwrap();

    let (status, html) = body(&app, get(&task_url(task), &cookie)).await;
    assert_eq!(status, 200, "{html}");
    // One form per outcome of `cs_review`, titled, with where it leads.
    assert_eq!(
        html.matches(&format!("action=\"/admin/tasks/{task}/decide\""))
            .count(),
        3
    );
    for (name, title, to) in [
        ("approve", "通过", "认证通过"),
        ("reject", "拒绝", "认证未通过"),
        ("return", "退回修改", "退回修改"),
    ] {
        assert!(
            html.contains(&format!("name=\"outcome\" value=\"{name}\"")),
            "{name}"
        );
        assert!(
            html.contains(&format!("{title} <span class=\"to\">→ {to}</span>")),
            "{name}"
        );
    }
    // Reject offers its reason codes with their titles; approve asks for none.
    assert!(html.contains("<option value=\"document_expired\">证件已过期</option>"));
    assert!(html.contains("<option value=\"portrait_unclear\">本人头照不清晰</option>"));
    assert!(!html.contains("id=\"reason-approve\""));
    assert!(html.contains("id=\"comment-approve\" name=\"comment\" rows=\"3\" maxlength=\"500\">"));
    assert!(
        html.contains(
            "id=\"comment-reject\" name=\"comment\" rows=\"3\" maxlength=\"500\" required>"
        )
    );
    assert!(html.contains("<label for=\"reason-reject\">"));
    assert!(html.contains("<label for=\"comment-reject\">说明（必填，最多 500 字）</label>"));

    let csrf = csrf_of(&html);
    let res = actix_web::test::call_service(
        &app,
        post(
            &format!("{}{DECIDE}", task_url(task)),
            Some(&cookie),
            &form(&[
                ("csrf", &csrf),
                ("outcome", "reject"),
                ("reason", "document_expired"),
                ("comment", "护照已过有效期"),
            ]),
        )
        .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(
        res.headers().get(header::LOCATION).unwrap(),
        "/admin/tasks?msg=decided"
    );
    let (state, task_status, _) = w.progress(instance, task).await;
    assert_eq!(
        (state.as_str(), task_status.as_str()),
        ("rejected", "closed")
    );
    let (_, inbox) = body(&app, get("/admin/tasks?msg=decided", &cookie)).await;
    assert!(inbox.contains("审核决定已提交。"));

    // The task page now says who decided what, and offers no form.
    let (status, html) = body(&app, get(&task_url(task), &cookie)).await;
    assert_eq!(status, 200);
    assert!(!html.contains("/decide\""), "{html}");
    assert!(html.contains("此任务已由cs@example.cn于 2026-12-01 10:00（北京时间）作出决定：“拒绝”（原因：证件已过期）"), "{html}");
}

#[actix_web::test]
async fn bad_decisions_come_back_with_field_errors_and_change_nothing() {
    let w = World::new().await;
    let app = app!(w);
    let cs = w.staff("cs@example.cn", &["cs_reviewer"]).await;
    let applicant = w.applicant("JOHN SMITH").await;
    let (instance, task, _) = w.review(applicant).await;
    let cookie = sign_in(&app, &cs.login, &cs.password, &w.code(&cs))
        .await
        .unwrap();
    let (_, html) = body(&app, get(&task_url(task), &cookie)).await;
    let csrf = csrf_of(&html);
    let before = w.progress(instance, task).await;
    assert_eq!(
        (before.0.as_str(), before.1.as_str()),
        ("cs_review", "open")
    );
    let long = "长".repeat(501);
    let cases: [(&[(&str, &str)], &str); 6] = [
        (&[("outcome", "escalate")], "请选择本环节允许的审核结果。"),
        (&[], "请选择本环节允许的审核结果。"),
        (
            &[("outcome", "reject"), ("comment", "照片模糊不清")],
            "请选择原因。",
        ),
        (
            &[
                ("outcome", "reject"),
                ("reason", "bad_mood"),
                ("comment", "x"),
            ],
            "所选原因不在本环节允许的列表中。",
        ),
        (
            &[("outcome", "reject"), ("reason", "document_expired")],
            "请填写说明。",
        ),
        (
            &[("outcome", "approve"), ("comment", &long)],
            "说明最多 500 字，当前 501 字。",
        ),
    ];
    for (fields, message) in cases {
        let mut pairs = vec![("csrf", csrf.as_str())];
        pairs.extend_from_slice(fields);
        let (status, html) = body(
            &app,
            post(
                &format!("{}{DECIDE}", task_url(task)),
                Some(&cookie),
                &form(&pairs),
            ),
        )
        .await;
        assert_eq!(status, 422, "{fields:?}");
        assert!(html.contains(message), "{fields:?}: {html}");
        assert_eq!(w.progress(instance, task).await, before, "{fields:?}");
    }
    // What was typed comes back in the form that was sent.
    let (_, html) = body(
        &app,
        post(
            &format!("{}{DECIDE}", task_url(task)),
            Some(&cookie),
            &form(&[
                ("csrf", &csrf),
                ("outcome", "reject"),
                ("comment", "照片模糊不清"),
            ]),
        ),
    )
    .await;
    assert!(html.contains(">照片模糊不清</textarea>"), "{html}");
    assert!(html.contains("id=\"reason-reject\" name=\"reason\" required aria-invalid=\"true\""));
}

#[actix_web::test]
async fn a_stale_form_shows_who_decided_what_and_when_instead_of_an_error() {
    let w = World::new().await;
    let app = app!(w);
    let first = w.staff("wang@example.cn", &["cs_reviewer"]).await;
    let second = w.staff("li@example.cn", &["cs_reviewer"]).await;
    let applicant = w.applicant("JOHN SMITH").await;
    let (instance, task, _) = w.review(applicant).await;
    let a = sign_in(&app, &first.login, &first.password, &w.code(&first))
        .await
        .unwrap();
    let b = sign_in(&app, &second.login, &second.password, &w.code(&second))
        .await
        .unwrap();
    // Both have the page open with its forms.
    let (_, page_a) = body(&app, get(&task_url(task), &a)).await;
    let (_, page_b) = body(&app, get(&task_url(task), &b)).await;
    assert!(page_b.contains("/decide\""));
    w.clock.advance(TimeDelta::minutes(5));
    let (status, _) = body(
        &app,
        post(
            &format!("{}{DECIDE}", task_url(task)),
            Some(&a),
            &form(&[
                ("csrf", &csrf_of(&page_a)),
                ("outcome", "reject"),
                ("reason", "info_mismatch"),
                ("comment", "姓名与证件不一致"),
            ]),
        ),
    )
    .await;
    assert_eq!(status, 303);
    let after = w.progress(instance, task).await;
    let (status, html) = body(
        &app,
        post(
            &format!("{}{DECIDE}", task_url(task)),
            Some(&b),
            &form(&[("csrf", &csrf_of(&page_b)), ("outcome", "approve")]),
        ),
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        html.contains("<h1>实名认证人工审核 · 客服审核</h1>"),
        "a task page: {html}"
    );
    assert!(
        html.contains("此任务已由wang@example.cn于 2026-12-01 10:05（北京时间）作出决定：“拒绝”（原因：填写的信息与证件不一致）"),
        "{html}"
    );
    assert!(!html.contains("/decide\""));
    assert_eq!(
        w.progress(instance, task).await,
        after,
        "the second decision changed nothing"
    );
}

#[actix_web::test]
async fn the_requester_never_gets_a_usable_form_and_a_forged_post_is_refused() {
    let w = World::new().await;
    let app = app!(w);
    // A reviewer who submitted their own passport review.
    let cs = w.staff("cs@example.cn", &["cs_reviewer"]).await;
    let (instance, task, _) = w.review(cs.id).await;
    let cookie = sign_in(&app, &cs.login, &cs.password, &w.code(&cs))
        .await
        .unwrap();
    let (status, html) = body(&app, get(&task_url(task), &cookie)).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("您是此申请的申请人，不能审核自己的申请"),
        "{html}"
    );
    assert!(!html.contains("/decide\""));
    let before = w.progress(instance, task).await;
    let (status, html) = body(
        &app,
        post(
            &format!("{}{DECIDE}", task_url(task)),
            Some(&cookie),
            &form(&[("csrf", &csrf_of(&html)), ("outcome", "approve")]),
        ),
    )
    .await;
    assert_eq!(status, 403);
    assert!(html.contains("您是此申请的申请人，不能审核自己的申请"));
    assert_eq!(w.progress(instance, task).await, before);
}

#[actix_web::test]
async fn staff_outside_the_tasks_group_cannot_open_or_decide_it() {
    let w = World::new().await;
    let app = app!(w);
    let finance = w.staff("fin@example.cn", &["finance"]).await;
    let applicant = w.applicant("JOHN SMITH").await;
    let (instance, task, _) = w.review(applicant).await;
    let cookie = sign_in(&app, &finance.login, &finance.password, &w.code(&finance))
        .await
        .unwrap();
    let (status, html) = body(&app, get(&task_url(task), &cookie)).await;
    assert_eq!(status, 404, "{html}");
    assert!(!html.contains("JOHN SMITH"));
    let (_, inbox) = body(&app, get("/admin/tasks", &cookie)).await;
    let before = w.progress(instance, task).await;
    let (status, _) = body(
        &app,
        post(
            &format!("{}{DECIDE}", task_url(task)),
            Some(&cookie),
            &form(&[("csrf", &csrf_of(&inbox)), ("outcome", "approve")]),
        ),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(w.progress(instance, task).await, before);
}

#[actix_web::test]
async fn decisions_without_csrf_or_from_another_origin_are_refused() {
    let w = World::new().await;
    let app = app!(w);
    let cs = w.staff("cs@example.cn", &["cs_reviewer"]).await;
    let applicant = w.applicant("JOHN SMITH").await;
    let (instance, task, _) = w.review(applicant).await;
    let cookie = sign_in(&app, &cs.login, &cs.password, &w.code(&cs))
        .await
        .unwrap();
    let (_, html) = body(&app, get(&task_url(task), &cookie)).await;
    let csrf = csrf_of(&html);
    let before = w.progress(instance, task).await;
    let url = format!("{}{DECIDE}", task_url(task));
    let (status, _) = body(
        &app,
        post(&url, Some(&cookie), &form(&[("outcome", "approve")])),
    )
    .await;
    assert_eq!(status, 403, "no CSRF token");
    let (status, _) = body(
        &app,
        post(
            &url,
            Some(&cookie),
            &form(&[("csrf", "forged"), ("outcome", "approve")]),
        ),
    )
    .await;
    assert_eq!(status, 403, "a wrong CSRF token");
    let (status, _) = body(
        &app,
        post(
            &url,
            Some(&cookie),
            &form(&[("csrf", &csrf), ("outcome", "approve")]),
        )
        .insert_header((header::ORIGIN, "https://evil.example")),
    )
    .await;
    assert_eq!(status, 403, "another origin");
    assert_eq!(w.progress(instance, task).await, before);
}

#[actix_web::test]
async fn a_task_claimed_by_someone_else_cannot_be_decided() {
    let w = World::new().await;
    let app = app!(w);
    let holder = w.staff("wang@example.cn", &["cs_reviewer"]).await;
    let other = w.staff("li@example.cn", &["cs_reviewer"]).await;
    let applicant = w.applicant("JOHN SMITH").await;
    let (instance, task, _) = w.review(applicant).await;
    let a = sign_in(&app, &holder.login, &holder.password, &w.code(&holder))
        .await
        .unwrap();
    let b = sign_in(&app, &other.login, &other.password, &w.code(&other))
        .await
        .unwrap();
    let (_, inbox) = body(&app, get("/admin/tasks", &a)).await;
    let (status, _) = body(
        &app,
        post(
            &format!("/admin/tasks/{task}/claim"),
            Some(&a),
            &form(&[("csrf", &csrf_of(&inbox))]),
        ),
    )
    .await;
    assert_eq!(status, 303);
    let (_, html) = body(&app, get(&task_url(task), &b)).await;
    assert!(html.contains("此任务已由wang@example.cn认领"), "{html}");
    assert!(!html.contains("/decide\""));
    let before = w.progress(instance, task).await;
    let (status, _) = body(
        &app,
        post(
            &format!("{}{DECIDE}", task_url(task)),
            Some(&b),
            &form(&[("csrf", &csrf_of(&html)), ("outcome", "approve")]),
        ),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(w.progress(instance, task).await, before);
    // The holder decides.
    let (_, page) = body(&app, get(&task_url(task), &a)).await;
    assert!(page.contains("/decide\""));
    let (status, _) = body(
        &app,
        post(
            &format!("{}{DECIDE}", task_url(task)),
            Some(&a),
            &form(&[("csrf", &csrf_of(&page)), ("outcome", "approve")]),
        ),
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(w.progress(instance, task).await.0, "verified");
}
