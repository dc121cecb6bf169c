#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! Notices end to end: join requests decided through the runtime, the worker process's loops
//! (relay, consumers, scheduler) over a private Redis, the `Effects` executor rendering the
//! product's templates, e-mail received by a real SMTP server, SMS by the sandbox.

use std::sync::Arc;
use std::time::Duration;

use certdesk_domain::clock::{Clock, SystemClock};
use certdesk_notify::{SandboxSms, SmtpConfig, SmtpSender};
use certdesk_runtime::Runtime;
use certdesk_runtime::outbox::{Delivery, Executor};
use certdesk_store::schema::{notifications, outbox, users};
use certdesk_store::testing::{TestDb, seed};
use certdesk_testkit::join::{decide, submit};
use certdesk_testkit::{RedisServer, SmtpServer, serial, wait_until};
use certdesk_workers::effects::{Effects, NoticeConfig, request_no};
use certdesk_workers::metrics::Metrics;
use certdesk_workers::process::{self, WorkerSettings};
use certdesk_workers::supervise::shutdown_channel;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

struct People {
    applicant: Uuid,
    admin: Uuid,
    admin2: Uuid,
    enterprise: Uuid,
}

async fn people(rt: &Runtime) -> People {
    let mut conn = rt.pool().get().await.unwrap();
    let now = SystemClock.now();
    let applicant = seed::person(&mut conn, "张三", now).await;
    let admin = seed::person(&mut conn, "李四", now).await;
    let admin2 = seed::person(&mut conn, "王五", now).await;
    let enterprise =
        seed::enterprise(&mut conn, "91350100M000100Y43", "福州示例科技有限公司", now).await;
    for a in [admin, admin2] {
        seed::member(&mut conn, enterprise, a, "enterprise_admin", now).await;
    }
    for (id, phone, email) in [
        (applicant, Some("13800138000"), Some("zhangsan@example.com")),
        // The second admin has neither e-mail nor phone: in-app only.
        (admin, Some("13900139000"), Some("lisi@example.com")),
    ] {
        diesel::update(users::table.find(id))
            .set((users::phone.eq(phone), users::email.eq(email)))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    People {
        applicant,
        admin,
        admin2,
        enterprise,
    }
}

fn effects(rt: &Runtime, smtp: &SmtpServer) -> Arc<Effects> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let email = SmtpSender::new(
        &SmtpConfig::new(smtp.url(), "中标一证通 <noreply@certdesk.example>"),
        clock.clone(),
    )
    .unwrap();
    let sms = SandboxSms::new(rt.pool().clone(), clock.clone());
    Arc::new(
        Effects::new(
            &certdesk_testkit::runtime::repo_root().join("templates"),
            Arc::new(email),
            Arc::new(sms),
            clock,
            NoticeConfig::default(),
            rt.pool().clone(),
        )
        .unwrap(),
    )
}

async fn owed(rt: &Runtime) -> i64 {
    rt.owed_effects().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_reach_applicants_and_admins_on_every_channel_once() {
    let _serial = serial().await;
    let redis = RedisServer::start().await;
    let smtp = SmtpServer::start().await;
    let db = TestDb::new().await;
    let rt = certdesk_testkit::runtime::runtime(db.url(), Arc::new(SystemClock), 8).await;
    let p = people(&rt).await;
    let exec = effects(&rt, &smtp);
    let metrics = Arc::new(Metrics::default());

    let mut settings = WorkerSettings::new(db.url().to_owned(), redis.url());
    settings.queue = format!("certdesk:test:{}:outbox", Uuid::new_v4().simple());
    settings.concurrency = 4;
    let (stop, shutdown) = shutdown_channel();
    let worker = tokio::spawn(process::run(
        rt.clone(),
        settings,
        exec.clone() as Arc<dyn Executor>,
        metrics.clone(),
        shutdown,
    ));

    // Approved: the admins are told on submission, the applicant on joining.
    let approved = submit(&rt, p.applicant, p.enterprise).await;
    assert_eq!(
        decide(&rt, approved, p.admin, "approve", None, None).await,
        "joined"
    );

    // Rejected, with a reason code and a comment.
    let rejected = submit(&rt, p.applicant, p.enterprise).await;
    let comment = Some("人事系统中查无此人");
    assert_eq!(
        decide(
            &rt,
            rejected,
            p.admin2,
            "reject",
            Some("not_employee"),
            comment
        )
        .await,
        "rejected"
    );

    wait_until("every effect done", Duration::from_secs(60), || async {
        owed(&rt).await == 0 && smtp.messages().len() == 1
    })
    .await;

    let mut conn = rt.pool().get().await.unwrap();
    let rows: Vec<(String, Option<Uuid>, String, String, String, String)> = notifications::table
        .select((
            notifications::template,
            notifications::user_id,
            notifications::channel,
            notifications::address,
            notifications::status,
            notifications::body,
        ))
        .order((
            notifications::template,
            notifications::channel,
            notifications::address,
        ))
        .load(&mut conn)
        .await
        .unwrap();
    let summary: Vec<(String, &str, String)> = rows
        .iter()
        .map(|(t, u, c, _, s, _)| {
            let who = match *u {
                Some(u) if u == p.applicant => "applicant",
                Some(u) if u == p.admin => "admin",
                Some(u) if u == p.admin2 => "admin2",
                _ => "?",
            };
            (format!("{t}/{c}"), who, s.clone())
        })
        .collect();
    let expect = |t: &str, who: &'static str| (t.to_owned(), who, "sent".to_owned());
    let mut expected = vec![
        expect("join_request_joined/email", "applicant"),
        expect("join_request_joined/in_app", "applicant"),
        expect("join_request_joined/sms", "applicant"),
        expect("join_request_rejected/in_app", "applicant"),
        expect("join_request_rejected/sms", "applicant"),
        // Two submissions × (admin in-app + admin sms + admin2 in-app).
        expect("join_request_submitted/in_app", "admin"),
        expect("join_request_submitted/in_app", "admin"),
        expect("join_request_submitted/in_app", "admin2"),
        expect("join_request_submitted/in_app", "admin2"),
        expect("join_request_submitted/sms", "admin"),
        expect("join_request_submitted/sms", "admin"),
    ];
    let mut got = summary.clone();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);

    // The rejection says why, in Chinese, with the comment.
    let rejection = rows
        .iter()
        .find(|r| r.0 == "join_request_rejected" && r.2 == "in_app")
        .unwrap();
    assert!(rejection.5.contains("非本企业员工"), "{}", rejection.5);
    assert!(
        rejection.5.contains("人事系统中查无此人"),
        "{}",
        rejection.5
    );

    // The SMS sandbox holds exactly the SMS rows, each once.
    let sms = SandboxSms::new(rt.pool().clone(), Arc::new(SystemClock));
    let to_admin = sms.messages_to("13900139000").await.unwrap();
    assert_eq!(to_admin.len(), 2);
    assert!(
        to_admin.iter().all(|m| m
            .body
            .starts_with("【中标一证通】张三申请加入福州示例科技有限公司")),
        "{to_admin:?}"
    );
    let to_applicant = sms.messages_to("13800138000").await.unwrap();
    assert_eq!(to_applicant.len(), 2);
    assert!(
        to_applicant
            .iter()
            .any(|m| m.body.contains(&request_no(approved)))
    );

    // One e-mail, with the notification's Message-ID and the rendered subject.
    let mails = smtp.messages();
    let email_row: (Uuid, String, i32) = notifications::table
        .select((
            notifications::id,
            notifications::message_id,
            notifications::send_attempts,
        ))
        .filter(notifications::channel.eq("email"))
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(mails[0].message_id, email_row.1);
    assert_eq!(email_row.2, 1, "one send begun");
    assert_eq!(mails[0].to, "zhangsan@example.com");
    assert_eq!(
        mails[0].subject,
        "【中标一证通】您已成功加入福州示例科技有限公司"
    );
    assert!(mails[0].text.contains(&request_no(approved)));

    // A repeated delivery of the send row (Redis redelivers; an operator retries) sends nothing.
    let send: Uuid = outbox::table
        .select(outbox::id)
        .filter(outbox::kind.eq("send"))
        .filter(outbox::name.eq("email"))
        .first(&mut conn)
        .await
        .unwrap();
    let rows: i64 = outbox::table.count().get_result(&mut conn).await.unwrap();
    assert_eq!(
        metrics.deliveries("done"),
        rows as u64,
        "each row done once"
    );
    assert_eq!(metrics.deliveries("dead"), 0);
    diesel::update(outbox::table.find(send))
        .set(outbox::status.eq("pending"))
        .execute(&mut conn)
        .await
        .unwrap();
    stop.trigger();
    worker.await.unwrap();
    assert_eq!(
        rt.deliver(send, exec.as_ref()).await.unwrap(),
        Delivery::Done
    );
    assert_eq!(smtp.messages().len(), 1, "the e-mail went out again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_address_goes_dead_alone_and_the_other_channels_still_deliver() {
    let _serial = serial().await;
    let smtp = SmtpServer::start().await;
    let db = TestDb::new().await;
    let rt = certdesk_testkit::runtime::runtime(db.url(), Arc::new(SystemClock), 4).await;
    let p = people(&rt).await;
    let mut conn = rt.pool().get().await.unwrap();
    // The test server refuses nobody@… for good (550).
    diesel::update(users::table.find(p.applicant))
        .set(users::email.eq("nobody@example.com"))
        .execute(&mut conn)
        .await
        .unwrap();
    let exec = effects(&rt, &smtp);
    let id = submit(&rt, p.applicant, p.enterprise).await;
    decide(&rt, id, p.admin, "approve", None, None).await;

    // Deliver everything owed by hand, fan-outs first, until nothing is left.
    for _ in 0..4 {
        let ids = rt.claim_owed(100, Duration::from_secs(60)).await.unwrap();
        for id in ids {
            rt.deliver(id, exec.as_ref()).await.unwrap();
        }
    }
    assert_eq!(owed(&rt).await, 0);
    let dead = rt.dead_effects(10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        (dead[0].kind.as_str(), dead[0].name.as_str()),
        ("send", "email")
    );
    assert!(
        dead[0].last_error.as_deref().unwrap().contains("550"),
        "{dead:?}"
    );
    assert!(smtp.messages().is_empty());
    let sms = SandboxSms::new(rt.pool().clone(), Arc::new(SystemClock));
    assert_eq!(sms.messages_to("13800138000").await.unwrap().len(), 1);
    let pending: i64 = notifications::table
        .filter(notifications::status.eq("pending"))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(pending, 1, "only the refused e-mail is unsent");
}
