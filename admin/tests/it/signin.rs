//! Sign-in with password and TOTP, lockout, sessions, CSRF and origin checks.

use actix_web::http::header;
use actix_web::test::{TestRequest, call_service};
use certdesk_admin::totp;
use certdesk_store::schema::{staff_sessions, tasks};
use chrono::TimeDelta;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;

use crate::support::*;

#[tokio::test]
async fn sign_in_needs_the_password_and_a_fresh_totp_code() {
    let w = World::new().await;
    let p = w.staff("zhang@certdesk.test", &["cs_reviewer"]).await;
    let app = app!(w);
    let code = w.code(&p);
    let wrong_code = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);

    assert!(
        sign_in(&app, &p.login, &p.password, &wrong_code)
            .await
            .is_none(),
        "wrong TOTP"
    );
    assert!(
        sign_in(&app, &p.login, "wrong-pass-1", &code)
            .await
            .is_none(),
        "wrong password"
    );
    assert!(
        sign_in(&app, &p.login, &p.password, "").await.is_none(),
        "no TOTP"
    );
    assert!(
        sign_in(&app, "nobody@certdesk.test", &p.password, &code)
            .await
            .is_none()
    );

    let cookie = sign_in(&app, &p.login, &p.password, &code)
        .await
        .expect("signed in");
    let (status, html) = body(&app, get("/admin/tasks", &cookie)).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("待办任务") && html.contains("zhang@certdesk.test"),
        "{html}"
    );

    // The same code again, even within its window: refused.
    assert!(
        sign_in(&app, &p.login, &p.password, &code).await.is_none(),
        "a replayed code must be refused"
    );
    // The next window's code works.
    w.clock.advance(TimeDelta::seconds(30));
    assert!(
        sign_in(&app, &p.login, &p.password, &w.code(&p))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn the_session_cookie_is_httponly_secure_strict_and_scoped_to_admin() {
    let w = World::new().await;
    let p = w.staff("c@certdesk.test", &["finance"]).await;
    let app = app!(w);
    let res = call_service(
        &app,
        post(
            "/admin/login",
            None,
            &form(&[
                ("login", &p.login),
                ("password", &p.password),
                ("code", &w.code(&p)),
            ]),
        )
        .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
    let set = res
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/admin"] {
        assert!(set.contains(part), "{set} lacks {part}");
    }
    // Only a hash of the id is stored.
    let mut conn = w.conn().await;
    let stored: Vec<Vec<u8>> = staff_sessions::table
        .select(staff_sessions::id_sha256)
        .load(&mut conn)
        .await
        .unwrap();
    let value = session_cookie(&res).unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], value.as_bytes());
}

#[tokio::test]
async fn five_failures_lock_the_account_even_for_the_right_code() {
    let w = World::new().await;
    let p = w.staff("li@certdesk.test", &["cs_reviewer"]).await;
    let app = app!(w);
    for _ in 0..5 {
        assert!(
            sign_in(&app, &p.login, "bad-password-9", &w.code(&p))
                .await
                .is_none()
        );
    }
    let (status, html) = body(
        &app,
        post(
            "/admin/login",
            None,
            &form(&[
                ("login", &p.login),
                ("password", &p.password),
                ("code", &w.code(&p)),
            ]),
        ),
    )
    .await;
    assert_eq!(status, 401);
    assert!(html.contains("锁定"), "{html}");
    w.clock.advance(TimeDelta::minutes(14));
    assert!(
        sign_in(&app, &p.login, &p.password, &w.code(&p))
            .await
            .is_none(),
        "still locked"
    );
    w.clock.advance(TimeDelta::minutes(2));
    assert!(
        sign_in(&app, &p.login, &p.password, &w.code(&p))
            .await
            .is_some(),
        "the lock ends after 15 minutes"
    );
}

#[tokio::test]
async fn an_idle_session_expires_and_logout_ends_one() {
    let w = World::new().await;
    let p = w.staff("wang@certdesk.test", &["finance"]).await;
    let app = app!(w);
    let cookie = sign_in(&app, &p.login, &p.password, &w.code(&p))
        .await
        .unwrap();
    w.clock.advance(TimeDelta::minutes(29));
    assert_eq!(body(&app, get("/admin/tasks", &cookie)).await.0, 200);
    // Each request restarts the idle clock.
    w.clock.advance(TimeDelta::minutes(29));
    assert_eq!(body(&app, get("/admin/tasks", &cookie)).await.0, 200);
    w.clock.advance(TimeDelta::minutes(31));
    let res = call_service(&app, get("/admin/tasks", &cookie).to_request()).await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers().get(header::LOCATION).unwrap(), "/admin/login");

    w.clock.advance(TimeDelta::seconds(30));
    let cookie = sign_in(&app, &p.login, &p.password, &w.code(&p))
        .await
        .unwrap();
    let (_, html) = body(&app, get("/admin/tasks", &cookie)).await;
    let csrf = csrf_of(&html);
    let res = call_service(
        &app,
        post("/admin/logout", Some(&cookie), &form(&[("csrf", &csrf)])).to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
    let res = call_service(&app, get("/admin/tasks", &cookie).to_request()).await;
    assert_eq!(res.status().as_u16(), 303, "the session ended at logout");
}

#[tokio::test]
async fn every_page_but_sign_in_needs_a_session() {
    let w = World::new().await;
    let task = w.task("cs_reviewer", TimeDelta::hours(1), None, None).await;
    let app = app!(w);
    for path in [
        "/admin",
        "/admin/tasks",
        &format!("/admin/tasks/{task}"),
        "/admin/nope",
    ] {
        let res = call_service(&app, TestRequest::get().uri(path).to_request()).await;
        assert_eq!(res.status().as_u16(), 303, "{path}");
    }
    let res = call_service(
        &app,
        post(&format!("/admin/tasks/{task}/claim"), None, "csrf=x").to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 403);
    let res = call_service(
        &app,
        get(&format!("/admin/tasks/{task}"), "forged-session").to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(w.claimer(task).await, None);
}

#[tokio::test]
async fn posts_without_the_csrf_token_or_from_another_origin_are_refused_and_change_nothing() {
    let w = World::new().await;
    let p = w.staff("zhao@certdesk.test", &["cs_reviewer"]).await;
    let task = w.task("cs_reviewer", TimeDelta::hours(1), None, None).await;
    let app = app!(w);
    let cookie = sign_in(&app, &p.login, &p.password, &w.code(&p))
        .await
        .unwrap();
    let (_, html) = body(&app, get("/admin/tasks", &cookie)).await;
    let csrf = csrf_of(&html);
    let claim = format!("/admin/tasks/{task}/claim");

    // No token, a wrong token.
    for payload in [String::new(), form(&[("csrf", "not-the-token")])] {
        let (status, html) = body(&app, post(&claim, Some(&cookie), &payload)).await;
        assert_eq!(status, 403, "{html}");
    }
    // Right token, wrong origin; right token, no Origin and a foreign Referer.
    let evil = post(&claim, Some(&cookie), &form(&[("csrf", &csrf)]))
        .insert_header((header::ORIGIN, "https://evil.example"));
    assert_eq!(body(&app, evil).await.0, 403);
    let no_origin = TestRequest::post()
        .uri(&claim)
        .insert_header((header::REFERER, "https://evil.example/admin/tasks"))
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .cookie(actix_web::cookie::Cookie::new(
            certdesk_admin::session::COOKIE,
            cookie.clone(),
        ))
        .set_payload(form(&[("csrf", &csrf)]));
    assert_eq!(body(&app, no_origin).await.0, 403);
    // A sign-in from another origin is refused too.
    let login = TestRequest::post()
        .uri("/admin/login")
        .insert_header((header::ORIGIN, "https://evil.example"))
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(form(&[
            ("login", &p.login),
            ("password", &p.password),
            ("code", "000000"),
        ]));
    assert_eq!(body(&app, login).await.0, 403);
    assert_eq!(w.claimer(task).await, None, "nothing changed");

    // With the token, from the console (Referer alone is enough when Origin is absent).
    let ok = TestRequest::post()
        .uri(&claim)
        .insert_header((header::REFERER, format!("{ORIGIN}/admin/tasks")))
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .cookie(actix_web::cookie::Cookie::new(
            certdesk_admin::session::COOKIE,
            cookie.clone(),
        ))
        .set_payload(form(&[("csrf", &csrf)]));
    assert_eq!(body(&app, ok).await.0, 303);
    assert_eq!(w.claimer(task).await, Some(p.id));
    let mut conn = w.conn().await;
    let open: i64 = tasks::table
        .filter(tasks::status.eq("open"))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(open, 1);
}

#[tokio::test]
async fn a_new_account_must_replace_its_one_time_password_first() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let new = certdesk_admin::staff::add(
        &mut conn,
        "新员工",
        Some("13800001111"),
        None,
        &["cs_reviewer".to_owned()],
        w.now(),
    )
    .await
    .unwrap();
    drop(conn);
    assert!(
        new.otpauth_uri
            .starts_with("otpauth://totp/certdesk:13800001111?secret=")
    );
    let app = app!(w);
    let code = totp::code(&new.secret, totp::step_at(w.now()));
    let cookie = sign_in(&app, "13800001111", &new.password, &code)
        .await
        .unwrap();
    let res = call_service(&app, get("/admin/tasks", &cookie).to_request()).await;
    assert_eq!(
        res.headers().get(header::LOCATION).unwrap(),
        "/admin/password"
    );
    let (_, html) = body(&app, get("/admin/password", &cookie)).await;
    let csrf = csrf_of(&html);
    let (status, html) = body(
        &app,
        post(
            "/admin/password",
            Some(&cookie),
            &form(&[
                ("csrf", &csrf),
                ("new_password", "short"),
                ("repeat", "short"),
            ]),
        ),
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("8"), "{html}");
    let res = call_service(
        &app,
        post(
            "/admin/password",
            Some(&cookie),
            &form(&[
                ("csrf", &csrf),
                ("new_password", "newpass-2026"),
                ("repeat", "newpass-2026"),
            ]),
        )
        .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(body(&app, get("/admin/tasks", &cookie)).await.0, 200);
}

#[tokio::test]
async fn staff_totp_prints_demo_codes_only() {
    let w = World::new().await;
    let p = w.staff("real@certdesk.test", &["finance"]).await;
    let mut conn = w.conn().await;
    let e = certdesk_admin::staff::demo_code(&mut conn, &p.login, w.now())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not a demo account"), "{e}");
    diesel::update(certdesk_store::schema::users::table.find(p.id))
        .set(certdesk_store::schema::users::is_demo.eq(true))
        .execute(&mut conn)
        .await
        .unwrap();
    let code = certdesk_admin::staff::demo_code(&mut conn, &p.login, w.now())
        .await
        .unwrap();
    assert_eq!(code, w.code(&p));
}
