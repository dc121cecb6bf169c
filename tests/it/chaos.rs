//! Breaking things while the system runs (DECISIONS 9): worker processes killed with SIGKILL,
//! Redis stopped, a large backlog. Each test starts its own `redis-server`, SMTP server,
//! database and `certdesk` processes, and takes the cross-binary Redis test lock.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certdesk_audit::Signer;
use certdesk_domain::clock::{Clock, SystemClock};
use certdesk_notify::SandboxSms;
use certdesk_runtime::Runtime;
use certdesk_store::schema::{instances, memberships, notifications, outbox, users};
use certdesk_store::testing::{TestDb, seed};
use certdesk_testkit::join::approve;
use certdesk_testkit::{RedisServer, SmtpServer, serial, wait_until};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use certdesk_testkit::free_port;

use crate::support::root;

/// A `certdesk` child process, killed (SIGKILL) when dropped.
struct Proc {
    child: Child,
    log: PathBuf,
    /// Where `work` serves its probes and metrics.
    worker_port: u16,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// What every `certdesk` process of one test shares.
struct Setup {
    db: TestDb,
    redis: RedisServer,
    smtp: SmtpServer,
    dir: tempfile::TempDir,
    key: PathBuf,
    queue: String,
    rt: Runtime,
}

impl Setup {
    async fn new() -> Setup {
        let redis = RedisServer::start().await;
        let smtp = SmtpServer::start().await;
        let db = TestDb::new().await;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("history.pem");
        let signer = Signer::generate();
        signer.save_private_key(&key).unwrap();
        let (registry, env) = certdesk_testkit::runtime::definitions();
        let rt = Runtime::new(
            certdesk_store::db::pool(db.url(), 8).unwrap(),
            signer,
            Arc::new(SystemClock),
            registry,
            env,
        );
        rt.sync_definitions().await.unwrap();
        Setup {
            db,
            redis,
            smtp,
            dir,
            key,
            queue: format!("certdesk:test:{}:outbox", Uuid::new_v4().simple()),
            rt,
        }
    }

    /// Starts `certdesk <command>` against this test's database, Redis and SMTP server.
    fn spawn(&self, command: &str, listen: u16, n: usize) -> Proc {
        let log = self.dir.path().join(format!("{command}-{n}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let worker_port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_certdesk"))
            .arg(command)
            .current_dir(root())
            .env("DATABASE_URL", self.db.url())
            .env("REDIS_URL", self.redis.url())
            .env("CERTDESK_SIGNING_KEY", &self.key)
            .env("CERTDESK_CODE_KEY", crate::support::TEST_CODE_KEY)
            .env("CERTDESK_SMTP_URL", self.smtp.url())
            .env("CERTDESK_QUEUE", &self.queue)
            .env("CERTDESK_LEASE_SECS", "5")
            .env("CERTDESK_DB_POOL", "8")
            .env("CERTDESK_LISTEN", format!("127.0.0.1:{listen}"))
            .env("CERTDESK_WORKER_LISTEN", format!("127.0.0.1:{worker_port}"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Proc {
            child,
            log,
            worker_port,
        }
    }

    async fn count(&self, q: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.rt.pool().get().await.unwrap();
        diesel::sql_query(q)
            .get_result::<N>(&mut conn)
            .await
            .unwrap()
            .n
    }

    async fn owed(&self) -> i64 {
        self.rt.owed_effects().await.unwrap()
    }
}

/// Waits until nothing is owed; on timeout, shows where the outbox stands and the worker's log.
async fn drained(s: &Setup, worker: &Proc, within: Duration) -> Duration {
    let began = Instant::now();
    while began.elapsed() < within {
        if s.owed().await == 0 {
            return began.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    #[derive(diesel::QueryableByName, Debug)]
    #[allow(dead_code, reason = "read through Debug")]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        kind: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        status: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = s.rt.pool().get().await.unwrap();
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT kind, status, count(*) AS n FROM outbox GROUP BY kind, status ORDER BY 1, 2",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let log = worker.log();
    let tail: Vec<&str> = log.lines().rev().take(60).collect();
    panic!(
        "not drained after {within:?}: {rows:?}\nworker log (last lines, newest first):\n{}",
        tail.join("\n")
    );
}

/// An enterprise with one admin (phone) and `n` applicants (phone and e-mail).
async fn people(rt: &Runtime, n: usize) -> (Uuid, Uuid, Vec<Uuid>) {
    let mut conn = rt.pool().get().await.unwrap();
    let now = SystemClock.now();
    let admin = seed::person(&mut conn, "管理员", now).await;
    let enterprise =
        seed::enterprise(&mut conn, "91350100M000100Y43", "福州示例科技有限公司", now).await;
    seed::member(&mut conn, enterprise, admin, "enterprise_admin", now).await;
    diesel::update(users::table.find(admin))
        .set(users::phone.eq("13900139000"))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut applicants = Vec::with_capacity(n);
    for i in 0..n {
        let a = seed::person(&mut conn, &format!("申请人{i}"), now).await;
        diesel::update(users::table.find(a))
            .set((
                // Never ending in 0000/0001, which the SMS sandbox refuses.
                users::phone.eq(format!("137{i:04}5555")),
                users::email.eq(format!("applicant{i}@example.com")),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
        applicants.push(a);
    }
    (enterprise, admin, applicants)
}

/// Every e-mail owed arrived, identified by Message-ID, and none more often than sends of it
/// were begun; returns (received, distinct).
async fn check_mail(s: &Setup) -> (usize, usize) {
    let mut conn = s.rt.pool().get().await.unwrap();
    let begun: std::collections::HashMap<String, i32> = notifications::table
        .select((notifications::message_id, notifications::send_attempts))
        .filter(notifications::channel.eq("email"))
        .load::<(String, i32)>(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let mut received: std::collections::HashMap<String, i32> = Default::default();
    for m in s.smtp.messages() {
        *received.entry(m.message_id).or_default() += 1;
    }
    for (id, n) in &received {
        let sends = begun.get(id).copied().unwrap_or(0);
        assert!(
            *n <= sends,
            "{id} arrived {n} times but {sends} sends were begun"
        );
    }
    drop(conn);
    check_distinct(s).await
}

async fn check_distinct(s: &Setup) -> (usize, usize) {
    let mut conn = s.rt.pool().get().await.unwrap();
    let mut owed: Vec<String> = notifications::table
        .select(notifications::message_id)
        .filter(notifications::channel.eq("email"))
        .load(&mut conn)
        .await
        .unwrap();
    owed.sort();
    let received: Vec<String> = s
        .smtp
        .messages()
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    let mut distinct = received.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct, owed,
        "distinct Message-IDs received = e-mails owed"
    );
    (received.len(), distinct.len())
}

/// Every SMS owed is in the sandbox exactly once (the gateway dedupes by message id).
async fn check_sms(s: &Setup) {
    let owed = s
        .count("SELECT count(*) AS n FROM notifications WHERE channel = 'sms'")
        .await;
    let sent = s
        .count("SELECT count(*) AS n FROM notifications WHERE channel = 'sms' AND status = 'sent'")
        .await;
    let sandbox = s.count("SELECT count(*) AS n FROM sms_sandbox").await;
    assert_eq!((sent, sandbox), (owed, owed));
    let _ = SandboxSms::new(s.rt.pool().clone(), Arc::new(SystemClock));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_join_requests_while_workers_are_killed_every_few_seconds() {
    const N: usize = 1000;
    let _serial = serial().await;
    let s = Setup::new().await;
    let (enterprise, admin, applicants) = people(&s.rt, N).await;

    let mut worker = s.spawn("work", free_port(), 0);
    let mut kills = 0;
    let mut spawned = 1;
    let mut last_kill = Instant::now();
    let mut next_gap = Duration::from_secs(2);
    // Drive the requests 8 at a time, killing and restarting the worker every 2–4 s.
    for chunk in applicants.chunks(8) {
        let mut handles = Vec::new();
        for a in chunk {
            let rt = s.rt.clone();
            let a = *a;
            handles.push(tokio::spawn(async move {
                approve(&rt, enterprise, admin, a).await
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        if last_kill.elapsed() >= next_gap {
            worker.child.kill().unwrap();
            worker.child.wait().unwrap();
            kills += 1;
            worker = s.spawn("work", free_port(), spawned);
            spawned += 1;
            last_kill = Instant::now();
            next_gap = Duration::from_millis(2000 + (kills as u64 * 700) % 2000);
        }
    }
    // Two more kills while the backlog drains.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        worker.child.kill().unwrap();
        worker.child.wait().unwrap();
        kills += 1;
        worker = s.spawn("work", free_port(), spawned);
        spawned += 1;
    }
    let took = drained(&s, &worker, Duration::from_secs(300)).await;

    // Every instance ended; every applicant is a member once; nothing is dead.
    let mut conn = s.rt.pool().get().await.unwrap();
    let joined: i64 = instances::table
        .filter(instances::state.eq("joined"))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(joined as usize, N);
    let members: i64 = memberships::table
        .filter(memberships::role.eq("member"))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(members as usize, N);
    let dead = s.rt.dead_effects(10).await.unwrap();
    assert!(dead.is_empty(), "dead effects: {dead:?}");
    let unsent = s
        .count("SELECT count(*) AS n FROM notifications WHERE status <> 'sent'")
        .await;
    assert_eq!(unsent, 0);
    let (received, distinct) = check_mail(&s).await;
    assert_eq!(distinct, N, "one joined e-mail per applicant");
    // A duplicate needs a kill inside its send (checked per message in check_mail); a kill
    // cuts off at most the jobs in hand (CERTDESK_CONCURRENCY, 16).
    let duplicates = received - distinct;
    let interrupted = s
        .count("SELECT coalesce(sum(send_attempts - 1), 0)::bigint AS n FROM notifications WHERE channel = 'email'")
        .await;
    assert!(
        duplicates as i64 <= interrupted && duplicates <= kills * 16,
        "{duplicates} duplicate e-mails, {interrupted} sends begun again, {kills} kills"
    );
    check_sms(&s).await;
    eprintln!(
        "sigkill: {N} requests, {kills} kills, {spawned} worker starts, {received} e-mails received \
         ({duplicates} duplicates, {interrupted} e-mail sends begun again), drained {took:?} after the last kill"
    );
    drop(worker);
}

/// A minimal HTTP/1.1 request: (status, body), or None when nothing answers.
fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let body = body.unwrap_or("");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

async fn wait_http(port: u16, path: &str) {
    wait_until("the server answers", Duration::from_secs(30), || async {
        http(port, "GET", path, None, None).is_some()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_stopped_for_thirty_seconds_the_api_accepts_and_the_workers_recover() {
    const N: usize = 20;
    let _serial = serial().await;
    let mut s = Setup::new().await;
    let (enterprise, admin, applicants) = people(&s.rt, 2 * N).await;
    let now = SystemClock.now();
    let mut tokens = Vec::new();
    for a in &applicants {
        tokens.push(
            certdesk_api::issue_token(s.rt.pool(), *a, "test", now, chrono::TimeDelta::hours(1))
                .await
                .unwrap(),
        );
    }
    let admin_token =
        certdesk_api::issue_token(s.rt.pool(), admin, "test", now, chrono::TimeDelta::hours(1))
            .await
            .unwrap();
    let api_port = free_port();
    let api = s.spawn("serve", api_port, 0);
    let worker = s.spawn("work", free_port(), 0);
    wait_http(api_port, "/healthz").await;
    let submit = |token: &str| {
        let body = json!({ "enterprise_id": enterprise, "mode": "reason", "reason": "新同事" })
            .to_string();
        let (status, body) = http(
            api_port,
            "POST",
            "/api/v1/join-requests",
            Some(token),
            Some(&body),
        )
        .unwrap();
        assert_eq!(status, 201, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["id"].as_str().unwrap().to_owned()
    };
    let mut ids = Vec::new();
    for t in &tokens[..N] {
        ids.push(submit(t));
    }
    wait_until(
        "first submissions' notices done",
        Duration::from_secs(30),
        || async { s.owed().await == 0 },
    )
    .await;

    // Redis goes away: submissions and decisions still succeed, the outbox grows.
    s.redis.stop().await;
    let stopped = Instant::now();
    for t in &tokens[N..] {
        ids.push(submit(t));
    }
    for id in &ids[..N] {
        let body = json!({ "outcome": "approve" }).to_string();
        let (status, body) = http(
            api_port,
            "POST",
            &format!("/api/v1/join-requests/{id}/decision"),
            Some(&admin_token),
            Some(&body),
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let (status, ready) = http(api_port, "GET", "/readyz", None, None).unwrap();
    assert_eq!(status, 200, "the API stays ready without Redis: {ready}");
    assert!(ready.contains("degraded"), "{ready}");
    // The worker cannot work without Redis: unready. Metrics say why.
    let (status, ready) = http(worker.worker_port, "GET", "/readyz", None, None).unwrap();
    assert_eq!(status, 503, "{ready}");
    let (status, metrics) = http(api_port, "GET", "/metrics", None, None).unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains("certdesk_up{source=\"redis\"} 0"),
        "{metrics}"
    );
    let grown = s.owed().await;
    assert!(
        grown >= (N + N) as i64,
        "the outbox holds what Redis cannot take: {grown}"
    );
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(stopped.elapsed())).await;
    s.redis.restart().await;

    let took = wait_until(
        "the workers recovered and drained",
        Duration::from_secs(120),
        || async { s.owed().await == 0 },
    )
    .await;
    let dead = s.rt.dead_effects(10).await.unwrap();
    assert!(dead.is_empty(), "dead effects: {dead:?}");
    let members = s
        .count("SELECT count(*) AS n FROM memberships WHERE role = 'member'")
        .await;
    assert_eq!(members as usize, N);
    let (received, distinct) = check_mail(&s).await;
    assert_eq!((received, distinct), (N, N), "each joined e-mail once");
    check_sms(&s).await;
    let (_, ready) = http(api_port, "GET", "/readyz", None, None).unwrap();
    assert!(ready.contains("\"redis\":\"ok\""), "{ready}");
    let (status, _) = http(worker.worker_port, "GET", "/readyz", None, None).unwrap();
    assert_eq!(status, 200, "the worker is ready again");
    let (_, metrics) = http(worker.worker_port, "GET", "/metrics", None, None).unwrap();
    assert!(metrics.contains("certdesk_outbox_pending 0"), "{metrics}");
    assert!(
        metrics.contains("certdesk_up{source=\"redis\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("certdesk_deliveries_total{outcome=\"done\"}"),
        "{metrics}"
    );
    eprintln!(
        "redis outage: {grown} effects owed during the outage, drained {took:?} after Redis came back"
    );
    assert!(
        worker.log().contains("restarting after backoff"),
        "the worker's loops were restarted"
    );
    drop((api, worker));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_thousand_owed_effects_drain_without_a_worker_stopping() {
    const N: i64 = 20_000;
    let _serial = serial().await;
    let s = Setup::new().await;
    let (enterprise, admin, applicants) = people(&s.rt, 1).await;
    // One real request, then 20,000 notices owed for it at once, as after a long outage.
    approve(&s.rt, enterprise, admin, applicants[0]).await;
    let mut conn = s.rt.pool().get().await.unwrap();
    let instance: Uuid = instances::table
        .select(instances::id)
        .first(&mut conn)
        .await
        .unwrap();
    diesel::sql_query(
        "INSERT INTO outbox (id, instance_id, kind, name, payload, status, next_attempt_at, created_at) \
         SELECT gen_random_uuid(), $1, 'notification', 'join_request_submitted', \
                jsonb_build_object('template', 'join_request_submitted', 'to', 'enterprise.admins', \
                                   'via', jsonb_build_array('in_app'), \
                                   'deadline', to_jsonb(now() + interval '7 days')), \
                'pending', now(), now() \
         FROM generate_series(1, $2)",
    )
    .bind::<diesel::sql_types::Uuid, _>(instance)
    .bind::<diesel::sql_types::BigInt, _>(N)
    .execute(&mut conn)
    .await
    .unwrap();
    let owed = s.owed().await;
    assert!(owed >= N);

    let worker = s.spawn("work", free_port(), 0);
    let took = wait_until(
        "20,000 effects drained",
        Duration::from_secs(600),
        || async { s.owed().await == 0 },
    )
    .await;
    let in_app = s
        .count("SELECT count(*) AS n FROM notifications WHERE channel = 'in_app' AND template = 'join_request_submitted'")
        .await;
    let dead = s.rt.dead_effects(10).await.unwrap();
    assert!(dead.is_empty(), "dead effects: {dead:?}");
    assert_eq!(in_app, N + 1, "one in-app notice per owed effect");
    let log = worker.log();
    assert!(
        !log.contains("restarting after backoff"),
        "a worker loop stopped:\n{log}"
    );
    let done = s
        .count("SELECT count(*) AS n FROM outbox WHERE status = 'done'")
        .await;
    assert!(done >= N);
    eprintln!(
        "backlog: {owed} effects owed at once drained in {took:?} ({:.0}/s)",
        owed as f64 / took.as_secs_f64()
    );
    let _ = outbox::table;
}
