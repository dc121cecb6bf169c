#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! The outbox pipeline end to end: join requests decided through the runtime, effects relayed
//! through a real Redis (started by the test) and carried out by consumers; then Redis loses
//! everything (FLUSHALL) in the middle of a run and nothing is lost or done twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use certdesk_domain::clock::{Clock, SystemClock};
use certdesk_runtime::Runtime;
use certdesk_runtime::actions::DatabaseActions;
use certdesk_runtime::outbox::{BoxFuture, EffectError, Executor, OutboxRow};
use certdesk_store::schema::{memberships, outbox};
use certdesk_store::testing::{TestDb, seed};
use certdesk_testkit::join::approve;
use certdesk_testkit::{RedisServer, serial, wait_until};
use certdesk_workers::naming::worker_name;
use certdesk_workers::pipeline::{self, Queue, RelayConfig};
use certdesk_workers::supervise::{Backoff, shutdown_channel, supervise};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// Actions through the real database executor; notifications recorded (their sender is tested
/// in certdesk-notify): counts every time an effect actually ran, per outbox id.
#[derive(Default)]
struct Recording {
    ran: Mutex<HashMap<Uuid, usize>>,
}

impl Executor for Recording {
    fn execute<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        row: &'a OutboxRow,
    ) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async move {
            if row.kind == "action" {
                Executor::execute(&DatabaseActions, conn, row).await?;
            }
            *self.ran.lock().unwrap().entry(row.id).or_default() += 1;
            Ok(())
        })
    }
}

async fn runtime(db: &TestDb) -> Runtime {
    certdesk_testkit::runtime::runtime(db.url(), Arc::new(SystemClock), 8).await
}

/// Submits and approves `n` join requests of distinct applicants to a new enterprise.
async fn approve_many(rt: &Runtime, n: usize, uscc: &str) -> Vec<Uuid> {
    let mut conn = rt.pool().get().await.unwrap();
    let now = SystemClock.now();
    let admin = seed::person(&mut conn, "管理员", now).await;
    let enterprise = seed::enterprise(&mut conn, uscc, &format!("示例企业{uscc}"), now).await;
    seed::member(&mut conn, enterprise, admin, "enterprise_admin", now).await;
    let mut ids = Vec::new();
    for i in 0..n {
        let applicant = seed::person(&mut conn, &format!("申请人{uscc}-{i}"), now).await;
        ids.push(approve(rt, enterprise, admin, applicant).await);
    }
    ids
}

async fn count(rt: &Runtime, status: &str) -> i64 {
    outbox::table
        .filter(outbox::status.eq(status))
        .count()
        .get_result(&mut rt.pool().get().await.unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn effects_flow_through_redis_and_survive_a_flushall() {
    let _serial = serial().await;
    let server = RedisServer::start().await;
    let db = TestDb::new().await;
    let rt = runtime(&db).await;
    let queue_name = format!("certdesk:test:{}:outbox", Uuid::new_v4().simple());
    let recording = Arc::new(Recording::default());
    let config = RelayConfig {
        lease: Duration::from_secs(8),
        tick: Duration::from_millis(100),
        max_backlog: 5000,
    };

    let (relay_stop, relay_shutdown) = shutdown_channel();
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let relay = {
        let (rt, url, redis, name) = (
            rt.clone(),
            db.url().to_owned(),
            server.url(),
            queue_name.clone(),
        );
        tokio::spawn(async move {
            supervise(
                "relay",
                |sd| {
                    let (rt, url, redis, name) =
                        (rt.clone(), url.clone(), redis.clone(), name.clone());
                    async move {
                        pipeline::relay(rt, url, Queue::connect(&redis, &name).await?, config, sd)
                            .await
                    }
                },
                relay_shutdown,
                backoff,
            )
            .await
        })
    };
    let start_consumer = || {
        let (stop, shutdown) = shutdown_channel();
        let (rt, redis, name, exec) = (
            rt.clone(),
            server.url(),
            queue_name.clone(),
            recording.clone(),
        );
        let handle = tokio::spawn(async move {
            supervise(
                "consumer",
                |sd| {
                    let (rt, redis, name, exec) = (
                        rt.clone(),
                        redis.clone(),
                        name.clone(),
                        exec.clone() as Arc<dyn Executor>,
                    );
                    async move {
                        pipeline::consume(
                            worker_name("consumer"),
                            rt,
                            Queue::connect(&redis, &name).await?,
                            exec,
                            Arc::default(),
                            4,
                            sd,
                        )
                        .await
                    }
                },
                shutdown,
                backoff,
            )
            .await
        });
        (stop, handle)
    };

    // First wave: everything owed gets done (3 effects per approved request).
    let (consumer_stop, consumer) = start_consumer();
    let first = approve_many(&rt, 20, "91350100M000100Y43").await;
    wait_until("first wave done", Duration::from_secs(30), || async {
        count(&rt, "done").await == 60
    })
    .await;

    // Second wave while no consumer runs: the relay hands all of it to Redis...
    consumer_stop.trigger();
    consumer.await.unwrap();
    let second = approve_many(&rt, 30, "91110000802100433B").await;
    let probe = Queue::connect(&server.url(), &queue_name).await.unwrap();
    wait_until("second wave in Redis", Duration::from_secs(30), || async {
        count(&rt, "enqueued").await == 90 && probe.backlog().await.unwrap() == 90
    })
    .await;
    // ...and Redis loses everything.
    let client = redis::Client::open(server.url()).unwrap();
    let mut redis_conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut redis_conn)
        .await
        .unwrap();
    assert_eq!(probe.backlog().await.unwrap(), 0);

    // A consumer comes back; the sweeper hands the lost rows over again when their lease ends
    // (8 s here: long enough that no lease ends before the flush while the wave is approved).
    let (consumer_stop, consumer) = start_consumer();
    wait_until(
        "everything owed is done",
        Duration::from_secs(60),
        || async {
            count(&rt, "done").await == 60 + 90
                && count(&rt, "pending").await == 0
                && count(&rt, "enqueued").await == 0
        },
    )
    .await;

    // Nothing lost: every applicant of both waves is a member. Nothing twice: each effect ran once.
    let mut conn = rt.pool().get().await.unwrap();
    let members: i64 = memberships::table
        .filter(memberships::role.eq("member"))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(members as usize, first.len() + second.len());
    let ran = recording.ran.lock().unwrap().clone();
    assert_eq!(ran.len(), 150);
    assert!(
        ran.values().all(|n| *n == 1),
        "{} effects ran twice",
        ran.values().filter(|n| **n > 1).count()
    );
    assert_eq!(count(&rt, "dead").await, 0);

    consumer_stop.trigger();
    relay_stop.trigger();
    let (r, c) = (relay.await.unwrap(), consumer.await.unwrap());
    assert!(r.starts >= 1 && c.starts >= 1);
}
