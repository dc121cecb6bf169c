//! A sub-workflow through the durable runtime: the child instance is created, stored and
//! stepped inside its parent's transaction, and its end moves the parent on.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::sync::Arc;

use certdesk_audit::{Signer, Verifier};
use certdesk_domain::clock::ManualClock;
use certdesk_engine::Source;
use certdesk_runtime::{Command, Runtime};
use certdesk_store::schema::{history, instances, timers};
use certdesk_store::testing::{TestDb, seed};
use chrono::{TimeDelta, TimeZone, Utc};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde_json::json;
use support::NowUtc as _;
use uuid::Uuid;

struct Fixture {
    rt: Runtime,
    clock: Arc<ManualClock>,
    requester: Uuid,
    enterprise: Uuid,
    _db: TestDb,
}

async fn fixture() -> Fixture {
    let db = TestDb::new().await;
    let env = support::environment();
    // Read from disk: sync_definitions stores each version's source read from its path.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let sources = ["subflow_parent", "subflow_child"].map(|name| {
        let path = dir.join(format!("{name}.toml"));
        Source {
            text: std::fs::read_to_string(&path).unwrap(),
            path,
        }
    });
    let registry = certdesk_engine::load_sources(&sources, &env).expect("definitions load");
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap(),
    ));
    let rt = Runtime::new(
        certdesk_store::db::pool(db.url(), 4).unwrap(),
        Signer::generate(),
        clock.clone(),
        registry,
        env,
    );
    rt.sync_definitions().await.unwrap();
    let mut conn = rt.pool().get().await.unwrap();
    let now = clock.now_utc();
    let requester = seed::person(&mut conn, "申请人", now).await;
    let enterprise =
        seed::enterprise(&mut conn, "91350100M000100Y43", "福州示例科技有限公司", now).await;
    Fixture {
        rt,
        clock,
        requester,
        enterprise,
        _db: db,
    }
}

impl Fixture {
    async fn start(&self) -> (Uuid, Uuid) {
        let started = self
            .rt
            .start(
                "subflow_parent",
                self.requester,
                Some(self.enterprise),
                &json!({ "note": "备注" }),
            )
            .await
            .unwrap();
        assert_eq!(started.state, "child");
        let mut conn = self.rt.pool().get().await.unwrap();
        let child: Uuid = instances::table
            .select(instances::id)
            .filter(instances::parent_id.eq(started.instance_id))
            .first(&mut conn)
            .await
            .unwrap();
        (started.instance_id, child)
    }

    async fn state(&self, id: Uuid) -> (String, String) {
        let mut conn = self.rt.pool().get().await.unwrap();
        instances::table
            .select((instances::state, instances::status))
            .find(id)
            .first(&mut conn)
            .await
            .unwrap()
    }

    async fn history_len(&self, id: Uuid) -> i64 {
        let mut conn = self.rt.pool().get().await.unwrap();
        history::table
            .filter(history::instance_id.eq(id))
            .count()
            .get_result(&mut conn)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_child_started_by_its_parent_is_stored_with_it_and_its_end_moves_the_parent() {
    let f = fixture().await;
    let (parent, child) = f.start().await;

    // One transaction stored both: the child with its input, timer and first history entry.
    assert_eq!(
        f.state(child).await,
        ("waiting".to_owned(), "running".to_owned())
    );
    let mut conn = f.rt.pool().get().await.unwrap();
    let (data, requester, subject): (serde_json::Value, Uuid, Option<Uuid>) = instances::table
        .select((instances::data, instances::requester, instances::subject_id))
        .find(child)
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(data["note"], "备注");
    assert_eq!((requester, subject), (f.requester, Some(f.enterprise)));
    let child_timers: i64 = timers::table
        .filter(timers::instance_id.eq(child))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(child_timers, 1, "the 2-day timeout");
    assert_eq!(
        (f.history_len(parent).await, f.history_len(child).await),
        (1, 1)
    );

    // The child's end is reported to the parent in the same transaction.
    let paid = Command::External {
        name: "payment_confirmed".into(),
        payload: json!({}),
        source: "payment:sandbox".into(),
    };
    assert_eq!(f.rt.command(child, paid).await.unwrap(), "paid");
    assert_eq!(
        f.state(parent).await,
        ("done".to_owned(), "finished".to_owned())
    );
    assert_eq!(
        f.state(child).await,
        ("paid".to_owned(), "finished".to_owned())
    );
    assert_eq!(
        (f.history_len(parent).await, f.history_len(child).await),
        (2, 2)
    );
    let child_timers: i64 = timers::table
        .filter(timers::instance_id.eq(child))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(child_timers, 0, "leaving the wait cancels its timer");

    let verifier = Verifier::from_signer(f.rt.signer());
    assert_eq!(f.rt.verify_history(&verifier, None).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_child_timing_out_fails_the_parent_through_the_scheduler() {
    let f = fixture().await;
    let (parent, child) = f.start().await;
    f.clock.advance(TimeDelta::days(2) + TimeDelta::seconds(1));
    assert_eq!(f.rt.fire_due_timers(10).await.unwrap(), 1);
    assert_eq!(
        f.state(child).await,
        ("timed_out".to_owned(), "finished".to_owned())
    );
    assert_eq!(
        f.state(parent).await,
        ("failed".to_owned(), "finished".to_owned())
    );
    let verifier = Verifier::from_signer(f.rt.signer());
    assert_eq!(f.rt.verify_history(&verifier, None).await.unwrap(), vec![]);
}
