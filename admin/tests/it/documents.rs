//! Uploaded documents on the task page and `GET /admin/files/{id}`: shown inline to the
//! task's reviewers, 404 for everyone else.

use actix_web::http::header;

use crate::support::*;

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

#[actix_web::test]
async fn the_task_page_shows_images_inline_and_pdfs_embedded_with_titles() {
    let w = World::new().await;
    let app = app!(w);
    let cs = w.staff("cs@example.cn", &["cs_reviewer"]).await;
    let applicant = w.applicant("JOHN SMITH").await;
    let back = w.file(applicant, "passport", "application/pdf", PDF).await;
    let (_, task, front) = w.review_with(applicant, Some(back)).await;
    let cookie = sign_in(&app, &cs.login, &cs.password, &w.code(&cs))
        .await
        .unwrap();
    let (status, html) = body(&app, get(&format!("/admin/tasks/{task}"), &cookie)).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!(
            "<img src=\"/admin/files/{front}\" alt=\"证件人像面\">"
        )),
        "{html}"
    );
    assert!(html.contains(&format!(
        "<object data=\"/admin/files/{back}\" type=\"application/pdf\" aria-label=\"证件信息面（PDF）\">"
    )));
    assert!(html.contains(&format!("href=\"/admin/files/{back}?download=1\"")));
    assert!(html.contains("alt=\"本人头照\""));
    // The other fields are rows titled from the definition; file ids are not rows. The
    // document number is masked, with a button to reveal it (recorded, see reveal.rs).
    assert!(
        html.contains("<th scope=\"row\">证件号码</th><td class=\"wrap\">E1*****78\n"),
        "{html}"
    );
    assert!(!html.contains("E12345678"), "{html}");
    assert!(html.contains("<th scope=\"row\">姓名</th><td class=\"wrap\">JOHN SMITH</td>"));
    assert!(!html.contains(&format!("<td>{front}</td>")));
    // The diagram with the current state lit, and the timeline.
    assert!(
        html.contains(
            "<g id=\"node-cs_review\" class=\"node task current\" aria-current=\"step\">"
        ),
        "{html}"
    );
    assert!(html.contains("实名认证人工审核（第 2 版）流程图，当前环节：客服审核"));
    assert!(html.contains("<td>提交申请</td>"), "{html}");
}

#[actix_web::test]
async fn the_instance_page_shows_the_same_documents_to_supervisors_and_the_tasks_reviewers() {
    let w = World::new().await;
    let app = app!(w);
    let boss = w.staff("boss@example.cn", &["supervisor"]).await;
    let cs = w.staff("cs@example.cn", &["cs_reviewer"]).await;
    let finance = w.staff("fin@example.cn", &["finance"]).await;
    let applicant = w.applicant("JOHN SMITH").await;
    let back = w.file(applicant, "passport", "application/pdf", PDF).await;
    let (instance, task, front) = w.review_with(applicant, Some(back)).await;
    let page = format!("/admin/instances/{instance}");
    let mut cookies = Vec::new();
    for who in [&boss, &cs] {
        let cookie = sign_in(&app, &who.login, &who.password, &w.code(who))
            .await
            .unwrap();
        let (status, html) = body(&app, get(&page, &cookie)).await;
        assert_eq!(status, 200, "{}: {html}", who.login);
        assert!(
            html.contains(&format!(
                "<img src=\"/admin/files/{front}\" alt=\"证件人像面\">"
            )),
            "{html}"
        );
        assert!(html.contains(&format!(
            "<object data=\"/admin/files/{back}\" type=\"application/pdf\" aria-label=\"证件信息面（PDF）\">"
        )));
        // Facts titled from the definition (not the page's title), the number masked; file
        // ids are not rows.
        assert!(
            html.contains("<th scope=\"row\">证件号码</th><td class=\"wrap\">E1*****78\n"),
            "{html}"
        );
        assert!(!html.contains("E12345678"), "{html}");
        assert!(!html.contains(&format!(">{front}</td>")), "{html}");
        // And every document shown there is served to the same person.
        for id in [front, back] {
            let (status, _) = body(&app, get(&format!("/admin/files/{id}"), &cookie)).await;
            assert_eq!(status, 200, "{}: {id}", who.login);
        }
        cookies.push(cookie);
    }
    // The task page links to its instance (a TOTP code signs in once: reuse the session).
    let (_, html) = body(&app, get(&format!("/admin/tasks/{task}"), &cookies[1])).await;
    assert!(
        html.contains(&format!("<a href=\"{page}\">{instance}</a>")),
        "{html}"
    );
    let cookie = sign_in(&app, &finance.login, &finance.password, &w.code(&finance))
        .await
        .unwrap();
    let (status, html) = body(&app, get(&page, &cookie)).await;
    assert_eq!(status, 404);
    assert!(!html.contains(&front.to_string()));
}

#[actix_web::test]
async fn an_upload_of_someone_other_than_the_requester_is_neither_shown_nor_served() {
    // The API refuses such a form; a request started by other means must not become a way
    // to read a stranger's upload.
    let w = World::new().await;
    let app = app!(w);
    let boss = w.staff("boss@example.cn", &["supervisor"]).await;
    let cs = w.staff("cs@example.cn", &["cs_reviewer"]).await;
    let applicant = w.applicant("JOHN SMITH").await;
    let stranger = w.applicant("JANE DOE").await;
    let theirs = w.file(stranger, "passport", "application/pdf", PDF).await;
    let (instance, task, front) = w.review_with(applicant, Some(theirs)).await;
    for who in [&boss, &cs] {
        let cookie = sign_in(&app, &who.login, &who.password, &w.code(who))
            .await
            .unwrap();
        let page = if who.login == cs.login {
            format!("/admin/tasks/{task}")
        } else {
            format!("/admin/instances/{instance}")
        };
        let (status, html) = body(&app, get(&page, &cookie)).await;
        assert_eq!(status, 200, "{page}: {html}");
        assert!(html.contains(&format!("/admin/files/{front}")), "{html}");
        assert!(!html.contains(&theirs.to_string()), "{html}");
        assert!(html.contains("文件不存在或已删除。"), "{html}");
        let (status, _) = body(&app, get(&format!("/admin/files/{front}"), &cookie)).await;
        assert_eq!(status, 200, "{}", who.login);
        let (status, _) = body(&app, get(&format!("/admin/files/{theirs}"), &cookie)).await;
        assert_eq!(status, 404, "{}", who.login);
    }
}

#[actix_web::test]
async fn a_reviewer_of_the_task_gets_the_bytes_inline_never_cached() {
    let w = World::new().await;
    let app = app!(w);
    let cs = w.staff("cs@example.cn", &["cs_reviewer"]).await;
    let applicant = w.applicant("JOHN SMITH").await;
    let back = w.file(applicant, "passport", "application/pdf", PDF).await;
    let (_, _, front) = w.review_with(applicant, Some(back)).await;
    let cookie = sign_in(&app, &cs.login, &cs.password, &w.code(&cs))
        .await
        .unwrap();
    let res = actix_web::test::call_service(
        &app,
        get(&format!("/admin/files/{front}"), &cookie).to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    let h = res.headers().clone();
    assert_eq!(h.get(header::CONTENT_TYPE).unwrap(), "image/png");
    assert_eq!(h.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
    assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "private, no-store");
    assert!(
        h.get(header::CONTENT_DISPOSITION)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&format!("inline; filename=\"{front}.png\"")),
        "{h:?}"
    );
    assert_eq!(actix_web::test::read_body(res).await.as_ref(), PNG);

    let res = actix_web::test::call_service(
        &app,
        get(&format!("/admin/files/{back}?download=1"), &cookie).to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers().get(header::CONTENT_TYPE).unwrap(),
        "application/pdf"
    );
    assert!(
        res.headers()
            .get(header::CONTENT_DISPOSITION)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("attachment; ")
    );
    assert_eq!(actix_web::test::read_body(res).await.as_ref(), PDF);
}

#[actix_web::test]
async fn everyone_else_gets_404_and_supervisors_and_sys_admins_may_look() {
    let w = World::new().await;
    let app = app!(w);
    let finance = w.staff("fin@example.cn", &["finance"]).await;
    let cs = w.staff("cs@example.cn", &["cs_reviewer"]).await;
    let boss = w.staff("boss@example.cn", &["supervisor"]).await;
    let root = w.staff("root@example.cn", &["sys_admin"]).await;
    let applicant = w.applicant("JOHN SMITH").await;
    let (_, _, front) = w.review(applicant).await;
    // Uploaded, but named by no instance.
    let loose = w.file(applicant, "other", "image/png", PNG).await;
    let as_finance = sign_in(&app, &finance.login, &finance.password, &w.code(&finance))
        .await
        .unwrap();
    let as_cs = sign_in(&app, &cs.login, &cs.password, &w.code(&cs))
        .await
        .unwrap();
    let as_boss = sign_in(&app, &boss.login, &boss.password, &w.code(&boss))
        .await
        .unwrap();
    let as_root = sign_in(&app, &root.login, &root.password, &w.code(&root))
        .await
        .unwrap();
    for (who, cookie, id, want) in [
        ("finance", &as_finance, front, 404),
        ("cs, a file no task names", &as_cs, loose, 404),
        ("cs, no such file", &as_cs, uuid::Uuid::now_v7(), 404),
        ("supervisor", &as_boss, front, 200),
        ("sys_admin", &as_root, front, 200),
        ("cs", &as_cs, front, 200),
    ] {
        let (status, html) = body(&app, get(&format!("/admin/files/{id}"), cookie)).await;
        assert_eq!(status, want, "{who}");
        if want == 404 {
            assert!(html.contains("页面不存在（404）"), "{who}: {html}");
        }
    }
    let (status, _) = body(&app, get("/admin/files/not-a-uuid", &as_cs)).await;
    assert_eq!(status, 404);
    // Without a session: to the sign-in page, no bytes.
    let res = actix_web::test::call_service(
        &app,
        actix_web::test::TestRequest::get()
            .uri(&format!("/admin/files/{front}"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers().get(header::LOCATION).unwrap(), "/admin/login");
}
