//! Supervisor pages: access by role, CSRF on every change, the dashboard's figures and charts,
//! reassigning, instance search, staff administration, definitions, dead jobs and the audit.

use certdesk_admin::supervise;
use certdesk_store::schema::{console_events, history, outbox, staff_roles, staff_sessions, users};
use chrono::TimeDelta;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use crate::support::*;

/// Signs `p` in; returns the cookie and the session's CSRF token.
macro_rules! login {
    ($app:expr, $w:expr, $p:expr) => {{
        let cookie = sign_in(&$app, &$p.login, &$p.password, &$w.code(&$p))
            .await
            .expect("signed in");
        let (_, html) = body(&$app, get("/admin/tasks", &cookie)).await;
        let csrf = csrf_of(&html);
        (cookie, csrf)
    }};
}

const PAGES: [&str; 7] = [
    "/admin/supervise",
    "/admin/instances",
    "/admin/staff",
    "/admin/definitions",
    "/admin/definitions/join_request/2",
    "/admin/jobs",
    "/admin/audit",
];

#[tokio::test]
async fn reviewers_and_finance_get_403_on_every_supervisor_page_and_action() {
    let w = World::new().await;
    let cs = w.staff("cs@certdesk.test", &["cs_reviewer"]).await;
    let fin = w
        .staff("fin@certdesk.test", &["finance", "finance_lead"])
        .await;
    let other = w.staff("cs2@certdesk.test", &["cs_reviewer"]).await;
    let task = w.task("cs_reviewer", TimeDelta::hours(1), None, None).await;
    let app = app!(w);
    for p in [&cs, &fin] {
        let (cookie, csrf) = login!(app, w, p);
        let (_, tasks) = body(&app, get("/admin/tasks", &cookie)).await;
        assert!(
            !tasks.contains("/admin/supervise"),
            "no menu entry: {tasks}"
        );
        for path in PAGES {
            let (status, html) = body(&app, get(path, &cookie)).await;
            assert_eq!(status, 403, "{path}: {html}");
            assert!(html.contains("请求被拒绝"), "{html}");
        }
        let posts = [
            (
                format!("/admin/supervise/tasks/{task}/reassign"),
                format!("to={}", other.id),
            ),
            (
                format!("/admin/staff/{}/roles", p.id),
                "role=sys_admin".to_owned(),
            ),
            (
                format!("/admin/staff/{}/status", other.id),
                "action=disable".to_owned(),
            ),
            (format!("/admin/staff/{}/totp", other.id), String::new()),
            (
                format!("/admin/jobs/{}/retry", Uuid::now_v7()),
                String::new(),
            ),
            ("/admin/audit".to_owned(), "instance=".to_owned()),
        ];
        for (path, extra) in posts {
            let body_text = format!("csrf={}&{extra}", csrf);
            let (status, _) = body(&app, post(&path, Some(&cookie), &body_text)).await;
            assert_eq!(status, 403, "{path}");
        }
    }
    assert_eq!(w.claimer(task).await, None);
    let mut conn = w.conn().await;
    let roles: Vec<String> = staff_roles::table
        .filter(staff_roles::user_id.eq(cs.id))
        .select(staff_roles::role)
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(roles, ["cs_reviewer"], "no role was granted");
}

#[tokio::test]
async fn posts_without_the_csrf_token_change_nothing() {
    let w = World::new().await;
    let admin = w
        .staff("root@certdesk.test", &["sys_admin", "supervisor"])
        .await;
    let cs = w.staff("cs@certdesk.test", &["cs_reviewer"]).await;
    let task = w.task("cs_reviewer", TimeDelta::hours(1), None, None).await;
    let app = app!(w);
    let (cookie, _) = login!(app, w, admin);
    let posts = [
        (
            format!("/admin/supervise/tasks/{task}/reassign"),
            format!("to={}", cs.id),
        ),
        (
            format!("/admin/staff/{}/roles", cs.id),
            "role=sys_admin".to_owned(),
        ),
        (
            format!("/admin/staff/{}/status", cs.id),
            "action=disable".to_owned(),
        ),
        (format!("/admin/staff/{}/totp", cs.id), String::new()),
        ("/admin/audit".to_owned(), "instance=".to_owned()),
    ];
    for (path, b) in &posts {
        let (status, _) = body(&app, post(path, Some(&cookie), b)).await;
        assert_eq!(status, 403, "no token: {path}");
        let wrong = format!("csrf=wrong&{b}");
        let (status, _) = body(&app, post(path, Some(&cookie), &wrong)).await;
        assert_eq!(status, 403, "wrong token: {path}");
    }
    assert_eq!(w.claimer(task).await, None);
    let mut conn = w.conn().await;
    let events: i64 = console_events::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(events, 0);
    let roles: i64 = staff_roles::table
        .filter(staff_roles::user_id.eq(cs.id))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(roles, 1);
}

#[tokio::test]
async fn dashboard_counts_open_breached_and_due_within_two_business_hours() {
    let w = World::new().await;
    let sup = w.staff("sup@certdesk.test", &["supervisor"]).await;
    // Tuesday 10:00 Beijing: due in 1 h is soon, in 3 days is not, 2 h ago is breached.
    w.task(
        "cs_reviewer",
        TimeDelta::hours(3),
        Some(TimeDelta::hours(1)),
        None,
    )
    .await;
    w.task(
        "cs_reviewer",
        TimeDelta::days(2),
        Some(TimeDelta::hours(-2)),
        None,
    )
    .await;
    w.task(
        "cs_reviewer",
        TimeDelta::days(8),
        Some(TimeDelta::days(3)),
        None,
    )
    .await;
    w.task("finance", TimeDelta::minutes(5), None, None).await;
    let mut conn = w.conn().await;
    let queues = supervise::queues(&mut conn, w.now(), w.state.runtime.calendar())
        .await
        .unwrap();
    drop(conn);
    let cs = queues.iter().find(|q| q.party == "cs_reviewer").unwrap();
    assert_eq!((cs.open, cs.breached, cs.soon), (3, 1, 1), "{cs:?}");
    assert_eq!(cs.oldest, Some(w.now() - TimeDelta::days(8)));
    let fin = queues.iter().find(|q| q.party == "finance").unwrap();
    assert_eq!((fin.open, fin.breached, fin.soon), (1, 0, 0));
    // Ages 3 h, 2 d, 8 d and 5 min, in the buckets <1 h, 1–4 h, 4–24 h, 1–3 d, 3–7 d, ≥7 d.
    let mut conn = w.conn().await;
    let ages = supervise::age_histogram(&mut conn, w.now()).await.unwrap();
    drop(conn);
    assert_eq!(ages, vec![1, 1, 0, 1, 0, 1]);

    let app = app!(w);
    let (cookie, _) = login!(app, w, sup);
    let (status, html) = body(&app, get("/admin/supervise", &cookie)).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("待办合计 <strong>4</strong>"), "{html}");
    assert!(
        html.contains("已超时 <strong class=\"bad\">1</strong>"),
        "{html}"
    );
    assert!(
        html.contains("<title>各队列待办与超时任务数</title>"),
        "{html}"
    );
    assert!(
        html.contains("<title>待办任务已等待时长分布</title>"),
        "{html}"
    );
    assert!(html.contains("7 天以上 1 件"), "{html}");
    assert!(
        html.contains("href=\"/admin/supervise\""),
        "menu shows the dashboard"
    );
}

#[tokio::test]
async fn a_supervisor_reassigns_within_the_group_only_and_it_is_recorded() {
    let w = World::new().await;
    let sup = w.staff("sup@certdesk.test", &["supervisor"]).await;
    let a = w.staff("a@certdesk.test", &["cs_reviewer"]).await;
    let b = w.staff("b@certdesk.test", &["cs_reviewer"]).await;
    let fin = w.staff("fin@certdesk.test", &["finance"]).await;
    let task = w.task("cs_reviewer", TimeDelta::hours(1), None, None).await;
    let app = app!(w);
    let (cookie, csrf) = login!(app, w, sup);
    let queue = "/admin/supervise?def=join_request&state=review&kind=group&party=cs_reviewer";
    let (status, html) = body(&app, get(queue, &cookie)).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("/admin/supervise/tasks/{task}/reassign")),
        "{html}"
    );
    assert!(html.contains("a@certdesk.test") && html.contains("b@certdesk.test"));
    assert!(
        !html.contains("fin@certdesk.test"),
        "only the group's members are offered"
    );

    let path = format!("/admin/supervise/tasks/{task}/reassign");
    let to = |id: Uuid| form(&[("csrf", &csrf), ("to", &id.to_string()), ("back", queue)]);
    let res =
        actix_web::test::call_service(&app, post(&path, Some(&cookie), &to(fin.id)).to_request())
            .await;
    let location = res
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(location.contains("msg=not_in_group"), "{location}");
    assert_eq!(w.claimer(task).await, None, "refused: nothing changed");

    let res =
        actix_web::test::call_service(&app, post(&path, Some(&cookie), &to(a.id)).to_request())
            .await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(w.claimer(task).await, Some(a.id));
    let res =
        actix_web::test::call_service(&app, post(&path, Some(&cookie), &to(b.id)).to_request())
            .await;
    let location = res
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        location.starts_with("/admin/supervise?def=") && location.contains("msg=reassigned"),
        "{location}"
    );
    assert_eq!(w.claimer(task).await, Some(b.id));

    let mut conn = w.conn().await;
    let events: Vec<(Uuid, String, Option<Uuid>, serde_json::Value)> = console_events::table
        .filter(console_events::task_id.eq(task))
        .order(console_events::id.asc())
        .select((
            console_events::actor,
            console_events::action,
            console_events::subject,
            console_events::details,
        ))
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1].0, sup.id);
    assert_eq!(events[1].1, "task_reassigned");
    assert_eq!(events[1].2, Some(b.id));
    assert_eq!(events[1].3["from"], json!(a.id));
    let (_, html) = body(&app, get(&format!("{queue}&msg=reassigned"), &cookie)).await;
    assert!(html.contains("已改派任务。"), "{html}");
}

#[tokio::test]
async fn instances_are_found_by_enterprise_applicant_and_id_and_shown_masked() {
    let w = World::new().await;
    let sup = w.staff("sup@certdesk.test", &["supervisor"]).await;
    let cs = w.staff("cs@certdesk.test", &["cs_reviewer"]).await;
    let fin = w.staff("fin@certdesk.test", &["finance"]).await;
    let task = w
        .task("cs_reviewer", TimeDelta::hours(1), None, Some(w.enterprise))
        .await;
    let _other = w.task("finance", TimeDelta::hours(2), None, None).await;
    let mut conn = w.conn().await;
    let (instance, requester): (Uuid, Uuid) = certdesk_store::schema::tasks::table
        .inner_join(certdesk_store::schema::instances::table)
        .filter(certdesk_store::schema::tasks::id.eq(task))
        .select((
            certdesk_store::schema::instances::id,
            certdesk_store::schema::instances::requester,
        ))
        .first(&mut conn)
        .await
        .unwrap();
    diesel::update(users::table.find(requester))
        .set(users::phone.eq("13698765432"))
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let app = app!(w);
    let (cookie, _) = login!(app, w, sup);
    let one = |html: &str| html.contains(&format!("/admin/instances/{instance}"));
    for q in [
        "enterprise=%E7%A4%BA%E4%BE%8B",
        "enterprise=91350100M000100Y43",
        "applicant=13698765432",
        &format!("id={instance}"),
    ] {
        let (status, html) = body(&app, get(&format!("/admin/instances?{q}"), &cookie)).await;
        assert_eq!(status, 200, "{q}: {html}");
        assert!(one(&html), "{q}: {html}");
        assert!(
            html.contains("136****5432") && !html.contains(">13698765432<"),
            "{q}"
        );
        assert!(!html.contains("136987654321"));
    }
    // Only that one by enterprise (the other task has no subject).
    let (_, html) = body(
        &app,
        get("/admin/instances?enterprise=%E7%A4%BA%E4%BE%8B", &cookie),
    )
    .await;
    assert_eq!(html.matches("<tr>").count(), 2, "header + one row: {html}");
    let (_, html) = body(&app, get("/admin/instances?applicant=13600000000", &cookie)).await;
    assert!(html.contains("没有符合条件的流程实例"), "{html}");
    for bad in [
        "id=not-a-uuid",
        "enterprise=%E7%A4%BA",
        "applicant=1234",
        "status=gone",
    ] {
        let (status, html) = body(&app, get(&format!("/admin/instances?{bad}"), &cookie)).await;
        assert_eq!(status, 422, "{bad}");
        assert!(
            html.contains("查找条件有误") && !one(&html),
            "{bad}: {html}"
        );
    }

    let page = format!("/admin/instances/{instance}");
    let (status, html) = body(&app, get(&page, &cookie)).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("福州示例科技有限公司") && html.contains("136****5432"),
        "{html}"
    );
    assert!(
        html.contains("137****5678") && !html.contains("13712345678"),
        "form data masked"
    );
    assert!(
        html.contains("<figure class=\"diagram\">") && html.contains("<svg"),
        "{html}"
    );
    assert!(
        html.contains(&format!("/admin/tasks/{task}")),
        "open task listed"
    );
    // A reviewer of the group may follow the instance; finance may not.
    let (c, _) = login!(app, w, cs);
    assert_eq!(body(&app, get(&page, &c)).await.0, 200);
    let (f, _) = login!(app, w, fin);
    assert_eq!(body(&app, get(&page, &f)).await.0, 404);
    assert_eq!(
        body(&app, get("/admin/instances/nonsense", &cookie))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn sys_admin_changes_roles_disables_and_resets_totp_but_not_their_own_admin() {
    let w = World::new().await;
    let root = w.staff("root@certdesk.test", &["sys_admin"]).await;
    let sup = w.staff("sup@certdesk.test", &["supervisor"]).await;
    let cs = w.staff("cs@certdesk.test", &["cs_reviewer"]).await;
    let app = app!(w);
    let (cookie, csrf) = login!(app, w, root);
    let (status, html) = body(&app, get("/admin/staff", &cookie)).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("cs@certdesk.test") && html.contains("客服审核"),
        "{html}"
    );
    assert!(html.contains(&format!("/admin/staff/{}/roles", cs.id)));

    // Roles: set, then refuse dropping one's own sys_admin.
    let roles = format!("/admin/staff/{}/roles", cs.id);
    let res = body(
        &app,
        post(
            &roles,
            Some(&cookie),
            &format!("csrf={csrf}&role=cs_reviewer&role=finance"),
        ),
    )
    .await;
    assert_eq!(res.0, 303);
    let mut conn = w.conn().await;
    let mut got: Vec<String> = staff_roles::table
        .filter(staff_roles::user_id.eq(cs.id))
        .select(staff_roles::role)
        .load(&mut conn)
        .await
        .unwrap();
    got.sort();
    assert_eq!(got, ["cs_reviewer", "finance"]);
    let own = format!("/admin/staff/{}/roles", root.id);
    let res = actix_web::test::call_service(
        &app,
        post(&own, Some(&cookie), &format!("csrf={csrf}&role=supervisor")).to_request(),
    )
    .await;
    assert!(
        res.headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("msg=own_admin")
    );
    let mine: Vec<String> = staff_roles::table
        .filter(staff_roles::user_id.eq(root.id))
        .select(staff_roles::role)
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(mine, ["sys_admin"]);
    let res = body(
        &app,
        post(&roles, Some(&cookie), &format!("csrf={csrf}&role=root")),
    )
    .await;
    assert_eq!(res.0, 303);
    let n: i64 = staff_roles::table
        .filter(staff_roles::user_id.eq(cs.id))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 2, "an unknown role changes nothing");

    // Disable: their session ends and they cannot sign in; enable again.
    let (cs_cookie, _) = login!(app, w, cs);
    let status_path = format!("/admin/staff/{}/status", cs.id);
    assert_eq!(
        body(
            &app,
            post(
                &status_path,
                Some(&cookie),
                &format!("csrf={csrf}&action=disable")
            )
        )
        .await
        .0,
        303
    );
    let res =
        actix_web::test::call_service(&app, get("/admin/tasks", &cs_cookie).to_request()).await;
    assert_eq!(
        res.headers().get("location").unwrap(),
        "/admin/login",
        "session ended"
    );
    let open: i64 = staff_sessions::table
        .filter(staff_sessions::user_id.eq(cs.id))
        .filter(staff_sessions::ended_at.is_null())
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(open, 0);
    w.clock.advance(TimeDelta::seconds(30));
    assert!(
        sign_in(&app, &cs.login, &cs.password, &w.code(&cs))
            .await
            .is_none(),
        "disabled"
    );
    let own_status = format!("/admin/staff/{}/status", root.id);
    body(
        &app,
        post(
            &own_status,
            Some(&cookie),
            &format!("csrf={csrf}&action=disable"),
        ),
    )
    .await;
    let (_, html) = body(&app, get("/admin/staff", &cookie)).await;
    assert!(html.contains("已停用"), "{html}");
    assert_eq!(
        body(&app, get("/admin/staff", &cookie)).await.0,
        200,
        "cannot disable oneself"
    );
    assert_eq!(
        body(
            &app,
            post(
                &status_path,
                Some(&cookie),
                &format!("csrf={csrf}&action=enable")
            )
        )
        .await
        .0,
        303
    );
    w.clock.advance(TimeDelta::seconds(30));
    assert!(
        sign_in(&app, &cs.login, &cs.password, &w.code(&cs))
            .await
            .is_some(),
        "enabled again"
    );

    // TOTP reset: the new secret shows once; the old one stops working.
    w.clock.advance(TimeDelta::seconds(30));
    let (status, html) = body(
        &app,
        post(
            &format!("/admin/staff/{}/totp", cs.id),
            Some(&cookie),
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    let at = html.find("id=\"secret\">").unwrap() + "id=\"secret\">".len();
    let secret_b32 = &html[at..at + html[at..].find('<').unwrap()];
    assert!(html.contains("otpauth://totp/"), "{html}");
    assert!(
        sign_in(&app, &cs.login, &cs.password, &w.code(&cs))
            .await
            .is_none(),
        "old secret refused"
    );
    let secret = certdesk_store::schema::staff_credentials::table
        .find(cs.id)
        .select(certdesk_store::schema::staff_credentials::totp_secret)
        .first::<Vec<u8>>(&mut conn)
        .await
        .unwrap();
    assert_eq!(certdesk_admin::totp::base32(&secret), secret_b32);
    let code = certdesk_admin::totp::code(&secret, certdesk_admin::totp::step_at(w.now()));
    assert!(
        sign_in(&app, &cs.login, &cs.password, &code)
            .await
            .is_some(),
        "new secret works"
    );
    let actions: Vec<String> = console_events::table
        .filter(console_events::subject.eq(cs.id))
        .order(console_events::id.asc())
        .select(console_events::action)
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        actions,
        [
            "roles_changed",
            "staff_disabled",
            "staff_enabled",
            "totp_reset"
        ]
    );

    // A supervisor reads the list but has no forms.
    let (sc, scsrf) = login!(app, w, sup);
    let (status, html) = body(&app, get("/admin/staff", &sc)).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("只读") && !html.contains("/roles\""),
        "{html}"
    );
    assert_eq!(
        body(
            &app,
            post(&roles, Some(&sc), &format!("csrf={scsrf}&role=sys_admin"))
        )
        .await
        .0,
        403
    );
}

#[tokio::test]
async fn definitions_list_every_version_with_hash_and_diagram() {
    let w = World::new().await;
    let sup = w.staff("sup@certdesk.test", &["supervisor"]).await;
    let app = app!(w);
    let (cookie, _) = login!(app, w, sup);
    let def = w.state.runtime.definition("join_request").unwrap().clone();
    let (status, html) = body(&app, get("/admin/definitions", &cookie)).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&def.sha256) && html.contains("real_name_review"),
        "{html}"
    );
    let (status, html) = body(&app, get("/admin/definitions/join_request/2", &cookie)).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("<svg") && html.contains("企业管理员审核"),
        "{html}"
    );
    assert!(
        html.contains("&quot;join_request&quot;"),
        "source shown escaped"
    );
    assert_eq!(
        body(&app, get("/admin/definitions/join_request/99", &cookie))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_dead_job_shows_its_error_and_is_retried() {
    let w = World::new().await;
    let sup = w.staff("sup@certdesk.test", &["supervisor"]).await;
    let id = Uuid::now_v7();
    let mut conn = w.conn().await;
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(id),
            outbox::kind.eq("notification"),
            outbox::name.eq("join_request_joined"),
            outbox::payload.eq(json!({})),
            outbox::status.eq("dead"),
            outbox::attempts.eq(8),
            outbox::next_attempt_at.eq(w.now()),
            outbox::last_error.eq("SMS gateway refused 13712345678: quota"),
            outbox::created_at.eq(w.now()),
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    let app = app!(w);
    let (cookie, csrf) = login!(app, w, sup);
    let (status, html) = body(&app, get("/admin/jobs", &cookie)).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("SMS gateway refused 137****5678: quota"),
        "{html}"
    );
    assert!(!html.contains("13712345678"));
    assert!(
        html.contains("join_request_joined") && html.contains(">8<"),
        "{html}"
    );
    let path = format!("/admin/jobs/{id}/retry");
    let res = actix_web::test::call_service(
        &app,
        post(&path, Some(&cookie), &format!("csrf={csrf}")).to_request(),
    )
    .await;
    assert_eq!(
        res.headers().get("location").unwrap(),
        "/admin/jobs?msg=retried"
    );
    let (st, attempts): (String, i32) = outbox::table
        .find(id)
        .select((outbox::status, outbox::attempts))
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!((st.as_str(), attempts), ("pending", 0));
    let res = actix_web::test::call_service(
        &app,
        post(&path, Some(&cookie), &format!("csrf={csrf}")).to_request(),
    )
    .await;
    assert_eq!(
        res.headers().get("location").unwrap(),
        "/admin/jobs?msg=gone",
        "not dead any more"
    );
}

#[tokio::test]
async fn the_audit_page_reports_intact_history_and_names_an_edited_row() {
    let w = World::new().await;
    let sup = w.staff("sup@certdesk.test", &["supervisor"]).await;
    let mut conn = w.conn().await;
    let now = w.now();
    let applicant = certdesk_store::testing::seed::person(&mut conn, "王五", now).await;
    let instance = certdesk_testkit::join::submit(&w.state.runtime, applicant, w.enterprise).await;
    let app = app!(w);
    let (cookie, csrf) = login!(app, w, sup);
    let (status, html) = body(
        &app,
        post(
            "/admin/audit",
            Some(&cookie),
            &format!("csrf={csrf}&instance="),
        ),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("记录完整"), "{html}");
    let (status, html) = body(
        &app,
        post(
            "/admin/audit",
            Some(&cookie),
            &format!("csrf={csrf}&instance=xyz"),
        ),
    )
    .await;
    assert_eq!(status, 422, "{html}");
    diesel::update(
        history::table
            .filter(history::instance_id.eq(instance))
            .filter(history::seq.eq(1)),
    )
    .set(history::actor.eq("user:00000000-0000-0000-0000-000000000000"))
    .execute(&mut conn)
    .await
    .unwrap();
    let (status, html) = body(
        &app,
        post(
            "/admin/audit",
            Some(&cookie),
            &format!("csrf={csrf}&instance={instance}"),
        ),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("发现 1 处问题"), "{html}");
    assert!(
        html.contains(&format!(
            "instance {instance}, entry seq 1: content was edited"
        )),
        "{html}"
    );
}

#[tokio::test]
async fn instance_pages_are_keyset_pages_covering_every_row_once() {
    let w = World::new().await;
    for ago in 1..=5 {
        w.task("cs_reviewer", TimeDelta::minutes(ago), None, None)
            .await;
    }
    let mut conn = w.conn().await;
    let mut q =
        certdesk_admin::instances::check(&certdesk_admin::instances::Search::default()).unwrap();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (rows, next) = certdesk_admin::instances::find(&mut conn, &q, 2)
            .await
            .unwrap();
        assert!(rows.len() <= 2);
        // Newest first within and across pages.
        seen.extend(rows.iter().map(|r| (r.created_at, r.id)));
        pages += 1;
        match next {
            Some(n) => {
                q = certdesk_admin::instances::check(&certdesk_admin::instances::Search {
                    after: Some(n),
                    ..Default::default()
                })
                .unwrap();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(sorted, seen, "descending, no repeats");
}
