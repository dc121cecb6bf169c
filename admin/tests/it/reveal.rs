//! Personal numbers are masked on console pages; revealing one takes the permission, is
//! recorded, and lasts ten minutes for the person who asked.

use certdesk_store::schema::console_events;
use chrono::{DateTime, Duration, Utc};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

const MASKED: &str = "<th scope=\"row\">证件号码</th><td class=\"wrap\">E1*****78\n";
const FULL: &str = "<th scope=\"row\">证件号码</th><td class=\"wrap\">E12345678</td>";

/// (actor, instance, details) of every reveal recorded.
async fn reveals(w: &World) -> Vec<(Uuid, Option<Uuid>, Value, DateTime<Utc>)> {
    console_events::table
        .filter(console_events::action.eq("number_revealed"))
        .select((
            console_events::actor,
            console_events::instance_id,
            console_events::details,
            console_events::at,
        ))
        .load(&mut w.conn().await)
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_reviewer_reveals_a_number_which_is_recorded_and_shown_to_them_for_ten_minutes() {
    let w = World::new().await;
    let app = app!(w);
    let cs = w.staff("cs@example.cn", &["cs_reviewer"]).await;
    let boss = w.staff("boss@example.cn", &["supervisor"]).await;
    let applicant = w.applicant("JOHN SMITH").await;
    let (instance, task, _) = w.review(applicant).await;
    let task_page = format!("/admin/tasks/{task}");
    let instance_page = format!("/admin/instances/{instance}");
    let cookie = sign_in(&app, &cs.login, &cs.password, &w.code(&cs))
        .await
        .unwrap();

    let (_, html) = body(&app, get(&task_page, &cookie)).await;
    assert!(html.contains(MASKED), "{html}");
    assert!(!html.contains("E12345678"));
    assert!(html.contains(&format!(
        "<form method=\"post\" action=\"/admin/instances/{instance}/reveal\" class=\"inline-set reveal\">"
    )));
    assert!(html.contains("aria-label=\"显示完整证件号码（查看将被记录）\""));
    // Only the personal number has the button: one form, for id_number.
    assert_eq!(html.matches("class=\"inline-set reveal\"").count(), 1);
    assert!(html.contains("name=\"field\" value=\"id_number\""));

    let at = w.now();
    let form_body = form(&[
        ("csrf", &csrf_of(&html)),
        ("field", "id_number"),
        ("back", &task_page),
    ]);
    let res = actix_web::test::call_service(
        &app,
        post(
            &format!("/admin/instances/{instance}/reveal"),
            Some(&cookie),
            &form_body,
        )
        .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(
        res.headers().get("location").unwrap().to_str().unwrap(),
        task_page
    );
    assert_eq!(
        reveals(&w).await,
        [(cs.id, Some(instance), json!({"field": "id_number"}), at)]
    );

    // In full on both pages of that instance, for that person.
    for page in [&task_page, &instance_page] {
        let (status, html) = body(&app, get(page, &cookie)).await;
        assert_eq!(status, 200);
        assert!(html.contains(FULL), "{page}: {html}");
        assert!(!html.contains("class=\"inline-set reveal\""), "{page}");
    }
    // Not for the supervisor, who sees who looked.
    let boss_cookie = sign_in(&app, &boss.login, &boss.password, &w.code(&boss))
        .await
        .unwrap();
    let (_, html) = body(&app, get(&instance_page, &boss_cookie)).await;
    assert!(html.contains(MASKED), "{html}");
    assert!(
        html.contains("<h2 id=\"h-reveals\">完整号码查看记录</h2>"),
        "{html}"
    );
    assert!(
        html.contains("</time></td><td>cs@example.cn</td><td>证件号码</td></tr>"),
        "{html}"
    );

    // Ten minutes later, masked again.
    w.clock.advance(Duration::minutes(9));
    let (_, html) = body(&app, get(&task_page, &cookie)).await;
    assert!(html.contains(FULL), "{html}");
    w.clock.advance(Duration::minutes(2));
    let (_, html) = body(&app, get(&task_page, &cookie)).await;
    assert!(html.contains(MASKED), "{html}");
}

#[actix_web::test]
async fn a_reveal_needs_the_permission_the_page_and_a_personal_field_and_records_nothing_else() {
    let w = World::new().await;
    let app = app!(w);
    let cs = w.staff("cs@example.cn", &["cs_reviewer"]).await;
    let finance = w.staff("fin@example.cn", &["finance"]).await;
    let applicant = w.applicant("JOHN SMITH").await;
    let (instance, task, _) = w.review(applicant).await;
    let path = format!("/admin/instances/{instance}/reveal");

    // Without the permission: 403.
    let cookie = sign_in(&app, &finance.login, &finance.password, &w.code(&finance))
        .await
        .unwrap();
    let (_, html) = body(&app, get("/admin/tasks", &cookie)).await;
    let csrf = csrf_of(&html);
    let (status, _) = body(
        &app,
        post(
            &path,
            Some(&cookie),
            &form(&[("csrf", &csrf), ("field", "id_number")]),
        ),
    )
    .await;
    assert_eq!(status, 403);

    let cookie = sign_in(&app, &cs.login, &cs.password, &w.code(&cs))
        .await
        .unwrap();
    let (_, html) = body(&app, get(&format!("/admin/tasks/{task}"), &cookie)).await;
    let csrf = csrf_of(&html);
    // A field that holds no personal number, one that does not exist, an instance that does
    // not exist: 404.
    for (path, field) in [
        (path.as_str(), "name"),
        (path.as_str(), "nonsense"),
        (
            &*format!("/admin/instances/{}/reveal", Uuid::now_v7()),
            "id_number",
        ),
        ("/admin/instances/not-an-id/reveal", "id_number"),
    ] {
        let (status, _) = body(
            &app,
            post(
                path,
                Some(&cookie),
                &form(&[("csrf", &csrf), ("field", field)]),
            ),
        )
        .await;
        assert_eq!(status, 404, "{path} {field}");
    }
    // Without the CSRF token: refused before the handler.
    let (status, _) = body(
        &app,
        post(&path, Some(&cookie), &form(&[("field", "id_number")])),
    )
    .await;
    assert_eq!(status, 403);
    // A foreign page to return to is not followed.
    let res = actix_web::test::call_service(
        &app,
        post(
            &path,
            Some(&cookie),
            &form(&[
                ("csrf", &csrf),
                ("field", "id_number"),
                ("back", "https://evil.example/"),
            ]),
        )
        .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(
        res.headers().get("location").unwrap().to_str().unwrap(),
        format!("/admin/instances/{instance}")
    );
    // Only that last, rightful reveal was recorded.
    let recorded = reveals(&w).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].0, cs.id);
}
