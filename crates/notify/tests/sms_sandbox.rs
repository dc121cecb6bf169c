//! `SandboxSms` against a real PostgreSQL database (one per test, `TestDb`): delivery,
//! deduplication by message id, and the failures it provokes by number.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on broken set-up"
)]

use std::sync::Arc;

use certdesk_domain::clock::{Clock, ManualClock};
use certdesk_notify::{SandboxSms, SendError, SmsSender};
use certdesk_store::db::{Pool, pool};
use certdesk_store::schema::sms_sandbox;
use certdesk_store::testing::TestDb;
use chrono::{Duration, TimeZone, Utc};
use diesel::QueryDsl;
use diesel_async::RunQueryDsl;

const TEXT: &str = "【网证通】您的验证码为 482913，5 分钟内有效，请勿泄露给他人。";

struct Fixture {
    _db: TestDb,
    pool: Pool,
    clock: Arc<ManualClock>,
    sms: Arc<dyn SmsSender>,
    sandbox: SandboxSms,
}

async fn fixture() -> Fixture {
    let db = TestDb::new().await;
    let pool = pool(db.url(), 4).unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 2, 30, 0).unwrap(),
    ));
    let sandbox = SandboxSms::new(pool.clone(), clock.clone());
    Fixture {
        _db: db,
        pool,
        clock,
        sms: Arc::new(sandbox.clone()),
        sandbox,
    }
}

async fn rows(pool: &Pool) -> i64 {
    let mut conn = pool.get().await.unwrap();
    sms_sandbox::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_message_is_delivered_once_per_message_id() {
    let f = fixture().await;
    f.sms
        .send("notif-1", "+86 186-1234-8621", TEXT)
        .await
        .unwrap();
    let first_at = f.clock.now();
    // The worker retries after a lost answer: same id, later, even with another text.
    f.clock.advance(Duration::minutes(1));
    f.sms.send("notif-1", "18612348621", TEXT).await.unwrap();
    f.sms
        .send("notif-1", "18612348621", "另一条内容")
        .await
        .unwrap();
    assert_eq!(rows(&f.pool).await, 1);

    let delivered = f.sandbox.messages_to("186 1234 8621").await.unwrap();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].message_id, "notif-1");
    assert_eq!(delivered[0].phone, "18612348621");
    assert_eq!(delivered[0].body, TEXT);
    assert_eq!(delivered[0].created_at, first_at);

    // A new id is a new message.
    f.sms.send("notif-2", "18612348621", TEXT).await.unwrap();
    let delivered = f.sandbox.messages_to("18612348621").await.unwrap();
    let ids: Vec<_> = delivered.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids, ["notif-1", "notif-2"]);
    assert!(
        f.sandbox
            .messages_to("13912345678")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.sandbox
            .messages_to("not a phone")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_resends_still_deliver_once() {
    let f = fixture().await;
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let sms = Arc::clone(&f.sms);
        sends.spawn(async move { sms.send("notif-race", "13912345678", TEXT).await });
    }
    while let Some(result) = sends.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(rows(&f.pool).await, 1);
}

#[tokio::test]
async fn numbers_that_are_not_mainland_mobiles_are_refused_for_good() {
    let f = fixture().await;
    for phone in ["", "12345", "010-88886666", "12012348621", "+852 6123 4567"] {
        let err = f.sms.send("notif-x", phone, TEXT).await.unwrap_err();
        assert_eq!(
            err,
            SendError::Permanent("invalid mobile number".to_owned()),
            "{phone}"
        );
    }
    assert_eq!(rows(&f.pool).await, 0);
}

#[tokio::test]
async fn numbers_ending_in_0000_are_blacklisted() {
    let f = fixture().await;
    let err = f
        .sms
        .send("notif-b", "18612340000", TEXT)
        .await
        .unwrap_err();
    assert_eq!(err, SendError::Permanent("number in blacklist".to_owned()));
    assert!(!err.is_transient());
    assert_eq!(rows(&f.pool).await, 0);
}

#[tokio::test]
async fn numbers_ending_in_0001_find_the_gateway_busy_every_time() {
    let f = fixture().await;
    for _ in 0..3 {
        let err = f
            .sms
            .send("notif-busy", "+8618612340001", TEXT)
            .await
            .unwrap_err();
        assert_eq!(err, SendError::Transient("gateway busy".to_owned()));
        assert!(err.is_transient());
    }
    assert_eq!(rows(&f.pool).await, 0);
}

#[tokio::test]
async fn malformed_requests_are_refused_for_good() {
    let f = fixture().await;
    for (id, text) in [("", TEXT), ("notif-e", "  ")] {
        let err = f.sms.send(id, "18612348621", text).await.unwrap_err();
        assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
    }
    assert_eq!(rows(&f.pool).await, 0);
}

#[tokio::test]
async fn an_unreachable_database_is_a_transient_failure() {
    // Port 1 on loopback: nothing listens there.
    let pool = pool("postgres://postgres:postgres@127.0.0.1:1/none", 1).unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 2, 30, 0).unwrap(),
    ));
    let sms = SandboxSms::new(pool, clock);
    let err = sms.send("notif-1", "18612348621", TEXT).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}
