//! The inbox: visibility by group, claims, filters and keyset pages.

use actix_web::test::call_service;
use chrono::TimeDelta;

use crate::support::*;

#[tokio::test]
async fn finance_sees_and_claims_no_cs_reviewer_task() {
    let w = World::new().await;
    let finance = w.staff("fin@certdesk.test", &["finance"]).await;
    let reviewer = w.staff("cs@certdesk.test", &["cs_reviewer"]).await;
    let cs_task = w.task("cs_reviewer", TimeDelta::hours(2), None, None).await;
    let fin_task = w.task("finance", TimeDelta::hours(3), None, None).await;
    let app = app!(w);

    let f = sign_in(&app, &finance.login, &finance.password, &w.code(&finance))
        .await
        .unwrap();
    let (_, html) = body(&app, get("/admin/tasks", &f)).await;
    assert!(html.contains(&fin_task.to_string()), "{html}");
    assert!(!html.contains(&cs_task.to_string()), "{html}");
    let csrf = csrf_of(&html);
    let (status, _) = body(&app, get(&format!("/admin/tasks/{cs_task}"), &f)).await;
    assert_eq!(status, 404, "a finance user cannot open a cs_reviewer task");
    let (status, _) = body(
        &app,
        post(
            &format!("/admin/tasks/{cs_task}/claim"),
            Some(&f),
            &form(&[("csrf", &csrf)]),
        ),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(w.claimer(cs_task).await, None);

    let r = sign_in(
        &app,
        &reviewer.login,
        &reviewer.password,
        &w.code(&reviewer),
    )
    .await
    .unwrap();
    let (_, html) = body(&app, get("/admin/tasks", &r)).await;
    assert!(html.contains(&cs_task.to_string()) && !html.contains(&fin_task.to_string()));
    let (status, html) = body(&app, get(&format!("/admin/tasks/{cs_task}"), &r)).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("137****5678"), "phones masked: {html}");
    assert!(!html.contains("13712345678"), "{html}");
}

#[tokio::test]
async fn of_two_concurrent_claims_exactly_one_wins() {
    let w = World::new().await;
    let a = w.staff("a@certdesk.test", &["cs_reviewer"]).await;
    let b = w.staff("b@certdesk.test", &["cs_reviewer"]).await;
    let task = w.task("cs_reviewer", TimeDelta::hours(1), None, None).await;
    let app = app!(w);
    let ca = sign_in(&app, &a.login, &a.password, &w.code(&a))
        .await
        .unwrap();
    let cb = sign_in(&app, &b.login, &b.password, &w.code(&b))
        .await
        .unwrap();
    let ta = csrf_of(&body(&app, get("/admin/tasks", &ca)).await.1);
    let tb = csrf_of(&body(&app, get("/admin/tasks", &cb)).await.1);
    let path = format!("/admin/tasks/{task}/claim");
    let (ra, rb) = tokio::join!(
        call_service(
            &app,
            post(&path, Some(&ca), &form(&[("csrf", &ta)])).to_request()
        ),
        call_service(
            &app,
            post(&path, Some(&cb), &form(&[("csrf", &tb)])).to_request()
        ),
    );
    let to = |r: &actix_web::dev::ServiceResponse| {
        r.headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    let outcomes = [to(&ra), to(&rb)];
    assert_eq!(
        outcomes
            .iter()
            .filter(|l| l.ends_with("msg=claimed"))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|l| l.ends_with("msg=taken")).count(),
        1,
        "{outcomes:?}"
    );
    let winner = w.claimer(task).await.unwrap();
    assert!(winner == a.id || winner == b.id);

    // The loser cannot give it back; the winner can.
    let (loser_cookie, loser_csrf, winner_cookie, winner_csrf) = if winner == a.id {
        (&cb, &tb, &ca, &ta)
    } else {
        (&ca, &ta, &cb, &tb)
    };
    let unclaim = format!("/admin/tasks/{task}/unclaim");
    let res = call_service(
        &app,
        post(&unclaim, Some(loser_cookie), &form(&[("csrf", loser_csrf)])).to_request(),
    )
    .await;
    assert!(
        res.headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("msg=not_yours")
    );
    assert_eq!(w.claimer(task).await, Some(winner));
    call_service(
        &app,
        post(
            &unclaim,
            Some(winner_cookie),
            &form(&[("csrf", winner_csrf)]),
        )
        .to_request(),
    )
    .await;
    assert_eq!(w.claimer(task).await, None);
}

#[tokio::test]
async fn filters_sort_breached_first_and_keyset_pages_cover_every_row_once() {
    let w = World::new().await;
    let p = w
        .staff("f@certdesk.test", &["cs_reviewer", "finance"])
        .await;
    let other = w.staff("o@certdesk.test", &["cs_reviewer"]).await;
    // Ten cs tasks, due from 5 h ago to 4 h ahead, opened 1..10 days ago; two without SLA.
    let mut cs = Vec::new();
    for i in 0..10i64 {
        let due = (i < 8).then(|| TimeDelta::hours(i - 4));
        let subject = (i % 2 == 0).then_some(w.enterprise);
        cs.push(
            w.task("cs_reviewer", TimeDelta::days(i + 1), due, subject)
                .await,
        );
    }
    let fin = w
        .task(
            "finance",
            TimeDelta::hours(1),
            Some(TimeDelta::hours(-1)),
            None,
        )
        .await;
    let mut conn = w.conn().await;
    certdesk_admin::inbox::claim(&mut conn, other.id, &["cs_reviewer".into()], cs[1])
        .await
        .unwrap();
    certdesk_admin::inbox::claim(&mut conn, p.id, &["cs_reviewer".into()], cs[2])
        .await
        .unwrap();
    drop(conn);
    let app = app!(w);
    let c = sign_in(&app, &p.login, &p.password, &w.code(&p))
        .await
        .unwrap();

    let ids_in = |html: &str| -> Vec<String> {
        html.match_indices("<a href=\"/admin/tasks/")
            .filter_map(|(at, _)| {
                let rest = &html[at + "<a href=\"/admin/tasks/".len()..];
                let id = &rest[..36];
                id.parse::<uuid::Uuid>().ok().map(|u| u.to_string())
            })
            .collect()
    };
    // Default order: by due time, breached first (cs[0] due 4 h ago … fin due 1 h ago …).
    let (_, html) = body(&app, get("/admin/tasks", &c)).await;
    let all = ids_in(&html);
    assert_eq!(all.len(), 11, "{html}");
    assert_eq!(all[0], cs[0].to_string());
    assert_eq!(
        all[4],
        fin.to_string(),
        "fin is due 1 h ago, as cs[3] is; ties go by id"
    );
    assert_eq!(
        all[9..],
        [cs[8].to_string(), cs[9].to_string()],
        "no SLA last"
    );
    assert!(
        html.contains("客服审核 <span class=\"count\">10</span>"),
        "{html}"
    );
    assert!(html.contains("超时 4"), "cs tasks due in the past: {html}");

    // Keyset pages of 3 cover the same rows in the same order, each once.
    let mut paged = Vec::new();
    let mut next = Some("/admin/tasks?limit=3".to_owned());
    let mut pages = 0;
    while let Some(url) = next {
        let (_, html) = body(&app, get(&url.replace("&amp;", "&"), &c)).await;
        let ids = ids_in(&html);
        assert!(ids.len() <= 3);
        paged.extend(ids);
        next = html
            .split("href=\"")
            .find(|s| s.contains("rel=\"next\""))
            .map(|s| {
                s[..s.find('"').unwrap()]
                    .replace("&#x3D;", "=")
                    .replace("&amp;", "&")
            });
        pages += 1;
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(paged, all);
    assert_eq!(pages, 4);

    // Oldest first, paged.
    let (_, html) = body(&app, get("/admin/tasks?sort=oldest&limit=4", &c)).await;
    assert_eq!(
        ids_in(&html),
        [9, 8, 7, 6].map(|i| cs[i].to_string()).to_vec()
    );

    let only = |q: &str| {
        let q = q.to_owned();
        let app = &app;
        let c = c.clone();
        async move { ids_in(&body(app, get(&format!("/admin/tasks?{q}"), &c)).await.1) }
    };
    assert_eq!(only("queue=finance").await, [fin.to_string()]);
    assert_eq!(only("claimed=me").await, [cs[2].to_string()]);
    assert_eq!(only("claimed=others").await, [cs[1].to_string()]);
    assert_eq!(only("claimed=unclaimed").await.len(), 9);
    assert_eq!(
        only("sla=none").await,
        [cs[8].to_string(), cs[9].to_string()]
    );
    assert_eq!(only("sla=breached&queue=cs_reviewer").await.len(), 4);
    assert_eq!(
        only("sla=soon").await,
        [cs[4].to_string(), cs[5].to_string()],
        "due within 2 business hours of Tuesday 10:00: before 12:00"
    );
    assert_eq!(
        only("sla=ok").await,
        [cs[6].to_string(), cs[7].to_string()],
        "due 12:00 and 13:00"
    );
    // Remaining time is told in business time (the day runs 08:00–17:00).
    let (_, page) = body(&app, get("/admin/tasks?queue=cs_reviewer", &c)).await;
    for label in [
        "已超时 2 小时",       // cs[0..3], due 06:00–08:00: 08:00–10:00 over
        "已超时 1 小时",       // cs[3], due 09:00
        "即将到期，剩 0 分钟", // cs[4], due now
        "即将到期，剩 1 小时", // cs[5], due 11:00
        "剩 2 小时",           // cs[6], due 12:00
        "无时限",              // cs[8], cs[9]
    ] {
        assert!(page.contains(label), "{label}: {page}");
    }
    assert_eq!(page.matches("已超时 2 小时").count(), 3, "{page}");
    assert_eq!(
        only("age=7d").await,
        [cs[6], cs[7], cs[8], cs[9]].map(|t| t.to_string()).to_vec()
    );
    let by_name = only("enterprise=%E7%A4%BA%E4%BE%8B").await;
    assert_eq!(by_name, [0, 2, 4, 6, 8].map(|i| cs[i].to_string()).to_vec());
    assert_eq!(only("enterprise=91350100M000100Y43").await, by_name);
    assert_eq!(only("chain=join_request&state=review").await.len(), 11);
    assert!(only("chain=refund").await.is_empty());
    assert!(
        only("queue=supervisor").await.is_empty(),
        "not a queue of theirs"
    );
}

#[tokio::test]
async fn a_task_in_two_queues_shows_once_closed_tasks_leave_and_deep_queues_count_to_the_cap() {
    use certdesk_store::schema::tasks;
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;

    let w = World::new().await;
    let p = w
        .staff("two@certdesk.test", &["cs_reviewer", "finance"])
        .await;
    let both = w
        .task(
            "cs_reviewer",
            TimeDelta::hours(3),
            Some(TimeDelta::hours(1)),
            None,
        )
        .await;
    let mut conn = w.conn().await;
    // Name both groups (and a relation, which is no staff queue) on the one task.
    diesel::update(tasks::table.find(both))
        .set(tasks::parties.eq(serde_json::json!([
            {"kind": "group", "name": "cs_reviewer"},
            {"kind": "relation", "name": "enterprise.admins"},
            {"kind": "group", "name": "finance"},
        ])))
        .execute(&mut conn)
        .await
        .unwrap();
    let other = w
        .task(
            "finance",
            TimeDelta::hours(2),
            Some(TimeDelta::hours(2)),
            None,
        )
        .await;
    let app = app!(w);
    let c = sign_in(&app, &p.login, &p.password, &w.code(&p))
        .await
        .unwrap();
    let (_, html) = body(&app, get("/admin/tasks", &c)).await;
    assert_eq!(
        html.matches(&format!("href=\"/admin/tasks/{both}\""))
            .count(),
        1,
        "{html}"
    );
    assert!(
        html.contains(&format!("href=\"/admin/tasks/{other}\"")),
        "{html}"
    );
    assert!(
        html.contains("客服审核 <span class=\"count\">1</span>"),
        "{html}"
    );
    assert!(
        html.contains("财务 <span class=\"count\">2</span>"),
        "finance has both: {html}"
    );
    // An applicant without a name yet (before real-name verification) shows by masked phone.
    let phone: Option<String> = diesel::sql_query(
        "UPDATE users SET name = '', phone = '13712340001' FROM tasks t JOIN instances i ON i.id = t.instance_id \
         WHERE t.id = $1 AND users.id = i.requester RETURNING users.phone",
    )
    .bind::<diesel::sql_types::Uuid, _>(other)
    .get_result::<PhoneRow>(&mut conn)
    .await
    .unwrap()
    .phone;
    let masked = certdesk_domain::ident::Phone::parse(&phone.unwrap())
        .unwrap()
        .mask();
    let (_, html) = body(&app, get("/admin/tasks", &c)).await;
    assert!(
        html.contains(&format!("<td>{masked}</td>")),
        "{masked}: {html}"
    );
    // Page size 1 walks both tasks, each once, across the two queues.
    let (_, first) = body(&app, get("/admin/tasks?limit=1", &c)).await;
    assert!(
        first.contains(&format!("href=\"/admin/tasks/{both}\"")),
        "due first: {first}"
    );
    assert!(first.contains("rel=\"next\""), "{first}");

    // A closed task leaves every queue.
    diesel::update(tasks::table.find(both))
        .set(tasks::status.eq("closed"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (_, html) = body(&app, get("/admin/tasks", &c)).await;
    assert!(!html.contains(&both.to_string()), "{html}");
    assert!(
        html.contains("客服审核 <span class=\"count\">0</span>"),
        "{html}"
    );

    // A deep queue: counts stop one past the cap and say so.
    let template: (uuid::Uuid,) = tasks::table
        .find(other)
        .select((tasks::instance_id,))
        .first(&mut conn)
        .await
        .unwrap();
    let cap = certdesk_admin::inbox::COUNT_CAP;
    diesel::sql_query(
        "INSERT INTO tasks (id, instance_id, entry, state, parties, approval, status, \
                            opened_at, sla_due_at) \
         SELECT gen_random_uuid(), $1, 100 + i, 'review', \
                '[{\"kind\": \"group\", \"name\": \"finance\"}]', 'any', 'open', $3, \
                $3 - interval '1 minute' \
         FROM generate_series(1, $2) AS i",
    )
    .bind::<diesel::sql_types::Uuid, _>(template.0)
    .bind::<diesel::sql_types::BigInt, _>(cap + 5)
    .bind::<diesel::sql_types::Timestamptz, _>(w.now())
    .execute(&mut conn)
    .await
    .unwrap();
    let (_, html) = body(&app, get("/admin/tasks?queue=finance", &c)).await;
    assert!(
        html.contains(&format!("<span class=\"count\">{cap}+</span>")),
        "{}",
        &html[..html.len().min(4000)]
    );
    assert!(html.contains(&format!("超时 {cap}+")), "all overdue");
}

#[derive(diesel::QueryableByName)]
struct PhoneRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    phone: Option<String>,
}
