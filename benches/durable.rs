#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark"
)]
//! The durable runtime's figures (docs/BENCHMARKS.md), in one run on this machine:
//!
//! 1. durable steps/s: join requests started and approved through the runtime by 8 tasks
//!    (each step one PostgreSQL transaction with history, outbox, tasks and timers), against
//!    `pgbench -N -c 8` on the same server in the same run;
//! 2. commit → done latency of effects at a paced 500 steps/s, with a real `certdesk all`
//!    process (release build) doing the work over a private Redis and SMTP server: read from
//!    the outbox rows (`done_at - created_at`);
//! 3. the resident memory (VmRSS) of that `certdesk all` process idle and under that load.
//!
//! `cargo bench --bench durable` (needs PostgreSQL as the tests do, `pgbench`, `redis-server`).
//! `DURABLE_SECS` sets each phase's length (default 20), `DURABLE_RATE` the paced steps/s of
//! the latency phase (default 500); `DURABLE_PHASE=steps` runs the first part only.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use certdesk_audit::Signer;
use certdesk_domain::clock::{Clock, SystemClock};
use certdesk_runtime::Runtime;
use certdesk_store::schema::users;
use certdesk_store::testing::{TestDb, seed};
use certdesk_testkit::join::approve;
use certdesk_testkit::{RedisServer, SmtpServer};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn secs() -> u64 {
    std::env::var("DURABLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

/// An enterprise, its admin, and `n` applicants with phone and e-mail.
async fn people(rt: &Runtime, n: usize, uscc: &str) -> (Uuid, Uuid, Vec<Uuid>) {
    let mut conn = rt.pool().get().await.unwrap();
    let now = SystemClock.now();
    let admin = seed::person(&mut conn, "管理员", now).await;
    let enterprise = seed::enterprise(&mut conn, uscc, "福州示例科技有限公司", now).await;
    seed::member(&mut conn, enterprise, admin, "enterprise_admin", now).await;
    diesel::update(users::table.find(admin))
        .set(users::phone.eq("13900135555"))
        .execute(&mut conn)
        .await
        .unwrap();
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }
    // In bulk: one statement, not 2n round trips. Phones end in 555 (the SMS sandbox accepts).
    let ids: Vec<Id> = diesel::sql_query(
        "INSERT INTO users (id, kind, name, phone, email, created_at) \
         SELECT gen_random_uuid(), 'applicant', '申请人' || i, \
                $2 || lpad(i::text, 5, '0') || '555', 'a' || $2 || i || '@example.com', now() \
         FROM generate_series(1, $1) AS i RETURNING id",
    )
    .bind::<diesel::sql_types::Integer, _>(n as i32)
    .bind::<diesel::sql_types::Text, _>(if uscc.starts_with("9135") {
        "135"
    } else {
        "136"
    })
    .load(&mut conn)
    .await
    .unwrap();
    let out: Vec<Uuid> = ids.into_iter().map(|i| i.id).collect();
    (enterprise, admin, out)
}

fn runtime_for(db: &TestDb, signer: Signer, pool: usize) -> Runtime {
    let (registry, env) = certdesk_testkit::runtime::definitions();
    Runtime::new(
        certdesk_store::db::pool(db.url(), pool).unwrap(),
        signer,
        Arc::new(SystemClock),
        registry,
        env,
    )
}

fn pgbench(db_url: &str, secs: u64) -> f64 {
    let run = |args: &[&str]| {
        let out = Command::new("pgbench")
            .args(args)
            .arg(db_url)
            .output()
            .expect("pgbench on the PATH");
        assert!(
            out.status.success(),
            "pgbench failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["-i", "-q", "-s", "10"]);
    let out = run(&["-N", "-c", "8", "-j", "2", "-T", &secs.to_string()]);
    out.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l["tps = ".len()..].split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .expect("pgbench printed tps")
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[derive(diesel::QueryableByName)]
struct Latency {
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Double)]
    ms: f64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs = secs();
    let db = TestDb::new().await;
    let signer = Signer::generate();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("history.pem");
    signer.save_private_key(&key).unwrap();
    let rt = runtime_for(&db, signer, 10);
    rt.sync_definitions().await.unwrap();

    // 1. Durable steps/s, 8 tasks, no workers running (the outbox just grows).
    let (enterprise, admin, applicants) = people(&rt, 60_000, "91350100M000100Y43").await;
    let applicants = Arc::new(applicants);
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let began = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..8 {
        let (rt, applicants, next) = (rt.clone(), applicants.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(a) = applicants.get(i) else { break };
                approve(&rt, enterprise, admin, *a).await;
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let elapsed = began.elapsed().as_secs_f64();
    let requests = AtomicU64::load(&next, Ordering::Relaxed).min(applicants.len() as u64);
    let steps_per_s = (requests * 2) as f64 / elapsed;
    let bench_db = TestDb::new().await;
    let tps = pgbench(bench_db.url(), secs);
    println!(
        "durable steps/s (8 tasks): {steps_per_s:.0}  pgbench -N -c 8 tps: {tps:.0}  ratio: {:.0}%",
        100.0 * steps_per_s / tps
    );
    drop(bench_db);
    if std::env::var("DURABLE_PHASE").as_deref() == Ok("steps") {
        return;
    }

    // 2 and 3. A real `certdesk all` works the effects of a paced 500 steps/s.
    let latency_db = TestDb::new().await;
    let rt = runtime_for(
        &latency_db,
        Signer::load_private_key(&key, certdesk_audit::DEFAULT_DISTID).unwrap(),
        10,
    );
    rt.sync_definitions().await.unwrap();
    let redis = RedisServer::start().await;
    let smtp = SmtpServer::start().await;
    // Two steps per request: 500 steps/s by default (`DURABLE_RATE` steps/s overrides it).
    let rate_requests = std::env::var("DURABLE_RATE")
        .ok()
        .and_then(|r| r.parse::<u64>().ok())
        .unwrap_or(500)
        .max(2)
        / 2;
    let (enterprise, admin, applicants) = people(
        &rt,
        (rate_requests * secs) as usize + 100,
        "91110000802100433B",
    )
    .await;
    let root = certdesk_testkit::runtime::repo_root();
    let listen = format!("127.0.0.1:{}", certdesk_testkit::free_port());
    let worker_listen = format!("127.0.0.1:{}", certdesk_testkit::free_port());
    let child = Killed(
        Command::new(env!("CARGO_BIN_EXE_certdesk"))
            .arg("all")
            .current_dir(&root)
            .env("DATABASE_URL", latency_db.url())
            .env("REDIS_URL", redis.url())
            .env("CERTDESK_SIGNING_KEY", &key)
            .env("CERTDESK_SMTP_URL", smtp.url())
            .env("CERTDESK_LISTEN", &listen)
            .env("CERTDESK_WORKER_LISTEN", &worker_listen)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle = rss_kib(pid);
    let mut peak = idle;
    let start = Instant::now();
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate_requests as f64));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut inflight = tokio::task::JoinSet::new();
    let mut sent = 0usize;
    while start.elapsed() < Duration::from_secs(secs) {
        interval.tick().await;
        let (rt, a) = (rt.clone(), applicants[sent]);
        inflight.spawn(async move { approve(&rt, enterprise, admin, a).await });
        sent += 1;
        if sent.is_multiple_of(rate_requests as usize) {
            peak = peak.max(rss_kib(pid));
        }
        while let Some(r) = inflight.try_join_next() {
            r.unwrap();
        }
    }
    while let Some(r) = inflight.join_next().await {
        r.unwrap();
    }
    let offered = (sent * 2) as f64 / start.elapsed().as_secs_f64();
    let drain = Instant::now();
    while rt.owed_effects().await.unwrap() > 0 && drain.elapsed() < Duration::from_secs(120) {
        peak = peak.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut conn = rt.pool().get().await.unwrap();
    let rows: Vec<Latency> = diesel::sql_query(
        "SELECT kind, extract(epoch FROM done_at - created_at)::float8 * 1000 AS ms \
         FROM outbox WHERE status = 'done'",
    )
    .load(&mut conn)
    .await
    .unwrap();
    for kind in ["action", "notification", "send"] {
        let mut ms: Vec<f64> = rows
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.ms)
            .collect();
        ms.sort_by(f64::total_cmp);
        println!(
            "commit→done {kind:<12} n={:<6} p50 {:>6.1} ms  p99 {:>6.1} ms  max {:>7.1} ms",
            ms.len(),
            percentile(&ms, 0.5),
            percentile(&ms, 0.99),
            ms.last().copied().unwrap_or(f64::NAN)
        );
    }
    let mut all: Vec<f64> = rows
        .iter()
        .filter(|r| r.kind != "send")
        .map(|r| r.ms)
        .collect();
    all.sort_by(f64::total_cmp);
    println!(
        "offered {offered:.0} steps/s; commit→done (actions + notices) p50 {:.1} ms p99 {:.1} ms",
        percentile(&all, 0.5),
        percentile(&all, 0.99)
    );
    println!(
        "certdesk all RSS: idle {:.1} MiB, peak under load {:.1} MiB",
        idle as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!("e-mails received: {}", smtp.messages().len());
    drop(child);
}
