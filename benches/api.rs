#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark"
)]
//! The JSON API's figures (docs/BENCHMARKS.md): a real `certdesk serve` (release build) on a
//! fresh database, loaded by `wrk` from another process with 64 connections:
//!
//! 1. an authenticated read, `GET /api/v1/me` (bearer token checked against PostgreSQL, the
//!    user read back, phone masked), tokens of 1,000 applicants in turn;
//! 2. join-request submissions, `POST /api/v1/join-requests` (each one a durable workflow
//!    start: instance, task, timers, outbox and signed history in one transaction), every
//!    request by a different applicant so none is refused as a duplicate.
//!
//! `cargo bench --bench api` (needs PostgreSQL as the tests do, `redis-server` and `wrk` on the
//! PATH: `apt-get install wrk`). `API_SECS` sets each phase's length (default 30).

use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use certdesk_audit::Signer;
use certdesk_store::testing::TestDb;
use certdesk_testkit::RedisServer;
use diesel_async::RunQueryDsl;

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What wrk reported.
#[derive(Debug)]
struct Run {
    requests_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
    requests: u64,
}

fn millis(text: &str) -> f64 {
    let (num, unit) = text
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| text.split_at(i))
        .unwrap();
    let n: f64 = num.parse().unwrap();
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        other => panic!("wrk latency unit {other}"),
    }
}

fn wrk(script: &std::path::Path, url: &str, secs: u64) -> Run {
    let out = Command::new("wrk")
        .args([
            "-t",
            "2",
            "-c",
            "64",
            "-d",
            &format!("{secs}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output()
        .expect("wrk on the PATH (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk failed: {text}");
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    };
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    Run {
        requests_per_s: field("Requests/sec:").unwrap().parse().unwrap(),
        p50_ms: millis(&field("50%").unwrap()),
        p99_ms: millis(&field("99%").unwrap()),
        non_2xx: field("Non-2xx or 3xx responses:").map_or(0, |n| n.parse().unwrap()),
        requests,
    }
}

/// A wrk script sending `method path` with the tokens in turn; with `once`, each token at most
/// once across both threads (thread i takes tokens i, i + 2, i + 4, …).
fn script(tokens: &[String], method: &str, path: &str, body: Option<&str>, once: bool) -> String {
    let mut s = String::from("local tokens = {\n");
    for t in tokens {
        writeln!(s, "  \"{t}\",").unwrap();
    }
    s.push_str("}\n");
    s.push_str(
        "local threads = 0\n\
         function setup(thread)\n  thread:set(\"first\", threads)\n  threads = threads + 1\nend\n\
         local n = 0\n\
         function init(args)\n  n = first\nend\n",
    );
    let step = if once { 2 } else { 1 };
    writeln!(
        s,
        "function request()\n  local t = tokens[(n % #tokens) + 1]\n  n = n + {step}\n  \
         local headers = {{}}\n  headers[\"Authorization\"] = \"Bearer \" .. t\n  \
         headers[\"Content-Type\"] = \"application/json\"\n  \
         return wrk.format(\"{method}\", \"{path}\", headers, {})\nend",
        body.map_or("nil".to_owned(), |b| format!("'{b}'"))
    )
    .unwrap();
    s
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let secs: u64 = std::env::var("API_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("history.pem");
    Signer::generate().save_private_key(&key).unwrap();

    // Applicants with tokens, in bulk: enough for every submission of the run (one each).
    let applicants = 2_000 * secs as i64;
    let pool = certdesk_store::db::pool(db.url(), 2).unwrap();
    let mut conn = pool.get().await.unwrap();
    for sql in [
        "INSERT INTO users (id, kind, name, phone, created_at) \
         VALUES ('00000000-0000-4000-8000-000000000001', 'applicant', '管理员', '13900135555', now())"
            .to_owned(),
        "INSERT INTO enterprises (id, uscc, name, kind, legal_rep_name, status, created_at) \
         VALUES ('00000000-0000-4000-8000-0000000000e1', '91350100M000100Y43', '福州示例科技有限公司', \
         'enterprise', '张三', 'active', now())"
            .to_owned(),
        "INSERT INTO memberships (enterprise_id, user_id, role, created_at) \
         VALUES ('00000000-0000-4000-8000-0000000000e1', '00000000-0000-4000-8000-000000000001', \
         'enterprise_admin', now())"
            .to_owned(),
        format!(
            "INSERT INTO users (id, kind, name, phone, created_at) \
             SELECT ('00000000-0000-4000-9000-' || lpad(i::text, 12, '0'))::uuid, 'applicant', \
             '申请人' || i, '137' || lpad(i::text, 8, '0'), now() FROM generate_series(1, {applicants}) i"
        ),
        format!(
            "INSERT INTO api_tokens (token_sha256, user_id, label, created_at, expires_at, \
             last_used_at) \
             SELECT sha256(convert_to('benchtoken-' || lpad(i::text, 12, '0'), 'UTF8')), \
             ('00000000-0000-4000-9000-' || lpad(i::text, 12, '0'))::uuid, 'bench', now(), \
             now() + interval '1 day', now() FROM generate_series(1, {applicants}) i"
        ),
        "ANALYZE".to_owned(),
    ] {
        diesel::sql_query(sql).execute(&mut conn).await.unwrap();
    }
    drop(conn);
    let tokens: Vec<String> = (1..=applicants)
        .map(|i| format!("benchtoken-{i:012}"))
        .collect();

    let redis = RedisServer::start().await;
    let root = certdesk_testkit::runtime::repo_root();
    let listen = format!("127.0.0.1:{}", certdesk_testkit::free_port());
    let _server = Killed(
        Command::new(env!("CARGO_BIN_EXE_certdesk"))
            .arg("serve")
            .current_dir(&root)
            .env("DATABASE_URL", db.url())
            .env("REDIS_URL", redis.url())
            .env("CERTDESK_SIGNING_KEY", &key)
            .env("CERTDESK_LISTEN", &listen)
            .env("CERTDESK_CODE_KEY", "00".repeat(32))
            .env("CERTDESK_FILES_DIR", dir.path().join("files"))
            .env("CERTDESK_DB_POOL", "16")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://{listen}");
    let ready = std::time::Instant::now();
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(
            ready.elapsed() < Duration::from_secs(30),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let reads = dir.path().join("reads.lua");
    std::fs::write(
        &reads,
        script(&tokens[..1000], "GET", "/api/v1/me", None, false),
    )
    .unwrap();
    // Warm-up, not counted: the pool's connections are made. (Tokens were marked used at
    // seeding, as an applicant's are while they use the app: `last_used_at` is written once per
    // five minutes per token, not by a run this short.)
    wrk(&reads, &base, 5);
    let read = wrk(&reads, &base, secs);
    println!(
        "GET /api/v1/me (64 connections, {secs} s): {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} requests, non-2xx {}",
        read.requests_per_s, read.p50_ms, read.p99_ms, read.requests, read.non_2xx
    );

    let body = r#"{"enterprise_id":"00000000-0000-4000-8000-0000000000e1","mode":"reason","reason":"新同事"}"#;
    let submits = dir.path().join("submits.lua");
    std::fs::write(
        &submits,
        script(&tokens, "POST", "/api/v1/join-requests", Some(body), true),
    )
    .unwrap();
    let submit = wrk(&submits, &base, secs);
    let mut conn = pool.get().await.unwrap();
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let started: Count = diesel::sql_query("SELECT count(*) AS n FROM instances")
        .get_result(&mut conn)
        .await
        .unwrap();
    println!(
        "POST /api/v1/join-requests (64 connections, {secs} s): {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} requests, non-2xx {}, instances stored {}",
        submit.requests_per_s,
        submit.p50_ms,
        submit.p99_ms,
        submit.requests,
        submit.non_2xx,
        started.n
    );
    assert!(
        (submit.requests as i64) <= applicants,
        "more submissions than applicants: raise the pool"
    );
}
