//! Shared set-up for the runtime's integration tests: a migrated database, the product's
//! definitions, a manual clock, people, an enterprise and its admins.

#![allow(dead_code, reason = "each test binary uses part of the support")]

use std::path::Path;
use std::sync::Arc;

use certdesk_audit::Signer;
use certdesk_domain::calendar::BusinessCalendar;
use certdesk_domain::clock::ManualClock;
use certdesk_engine::{Catalog, Environment, Templates};
use certdesk_runtime::{Command, Runtime};
use certdesk_store::schema::tasks;
use certdesk_store::testing::{TestDb, seed};
use chrono::{TimeZone, Utc};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

pub struct World {
    pub rt: Runtime,
    pub clock: Arc<ManualClock>,
    _db: TestDb,
    /// The environment definitions were compiled with.
    pub env: Environment,
    pub applicant: Uuid,
    pub admin: Uuid,
    pub admin2: Uuid,
    pub stranger: Uuid,
    pub enterprise: Uuid,
}

/// The environment the product's definitions compile in (catalog, templates, calendar).
pub fn environment() -> Environment {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let calendar = BusinessCalendar::from_toml_str(
        &std::fs::read_to_string(root.join("workflows/holidays.toml")).unwrap(),
    )
    .unwrap();
    Environment {
        catalog: Catalog::standard(),
        templates: Templates::scan(&root.join("templates")).unwrap(),
        calendar: Arc::new(calendar),
        lock: None,
    }
}

pub async fn world() -> World {
    let db = TestDb::new().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let registry = certdesk_engine::load_dir(
        &root.join("workflows"),
        &root.join("templates"),
        Catalog::standard(),
    )
    .unwrap();
    let env = environment();
    let pool = certdesk_store::db::pool(db.url(), 8).unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap(),
    ));
    let rt = Runtime::new(
        pool,
        Signer::generate(),
        clock.clone(),
        registry,
        env.clone(),
    );
    rt.sync_definitions().await.unwrap();

    let mut conn = rt.pool().get().await.unwrap();
    let now = clock.now_utc();
    let applicant = seed::person(&mut conn, "申请人", now).await;
    let admin = seed::person(&mut conn, "管理员甲", now).await;
    let admin2 = seed::person(&mut conn, "管理员乙", now).await;
    let stranger = seed::person(&mut conn, "路人", now).await;
    let enterprise =
        seed::enterprise(&mut conn, "91350100M000100Y43", "福州示例科技有限公司", now).await;
    for a in [admin, admin2] {
        seed::member(&mut conn, enterprise, a, "enterprise_admin", now).await;
    }
    World {
        rt,
        clock,
        _db: db,
        env,
        applicant,
        admin,
        admin2,
        stranger,
        enterprise,
    }
}

pub trait NowUtc {
    fn now_utc(&self) -> chrono::DateTime<Utc>;
}
impl NowUtc for ManualClock {
    fn now_utc(&self) -> chrono::DateTime<Utc> {
        certdesk_domain::clock::Clock::now(self)
    }
}

impl World {
    /// This test's database.
    pub fn db_url(&self) -> &str {
        self._db.url()
    }

    /// Submits a join request from a new applicant (one applicant may have one open request
    /// per enterprise).
    pub async fn submit_new(&self) -> Uuid {
        let mut conn = self.rt.pool().get().await.unwrap();
        let applicant = seed::person(&mut conn, "又一位申请人", self.clock.now_utc()).await;
        let input = json!({ "enterprise_id": self.enterprise.to_string(), "mode": "reason", "reason": "新同事" });
        self.rt
            .start("join_request", applicant, Some(self.enterprise), &input)
            .await
            .unwrap()
            .instance_id
    }

    pub async fn submit(&self) -> Uuid {
        let input = json!({ "enterprise_id": self.enterprise.to_string(), "mode": "reason", "reason": "新入职的投标专员" });
        let started = self
            .rt
            .start(
                "join_request",
                self.applicant,
                Some(self.enterprise),
                &input,
            )
            .await
            .unwrap();
        assert_eq!(started.state, "admin_review");
        started.instance_id
    }

    pub async fn open_task(&self, instance: Uuid) -> Uuid {
        let mut conn = self.rt.pool().get().await.unwrap();
        tasks::table
            .select(tasks::id)
            .filter(tasks::instance_id.eq(instance))
            .filter(tasks::status.eq("open"))
            .first(&mut conn)
            .await
            .unwrap()
    }

    pub async fn count<T>(&self, q: T) -> i64
    where
        T: diesel_async::methods::LoadQuery<'static, diesel_async::AsyncPgConnection, i64>
            + Send
            + 'static,
    {
        let mut conn = self.rt.pool().get().await.unwrap();
        q.get_result(&mut conn).await.unwrap()
    }

    pub fn decide(&self, task: Uuid, actor: Uuid, outcome: &str) -> Command {
        let reject = outcome == "reject";
        Command::Decide {
            task_id: task,
            actor,
            outcome: outcome.to_owned(),
            reason: reject.then(|| "not_employee".to_owned()),
            comment: reject.then(|| "经核实非本公司员工".to_owned()),
        }
    }
}
