//! `certdesk serve` and `certdesk jobs`, run as an operator runs them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use certdesk_store::testing::TestDb;
use diesel_async::RunQueryDsl;

use certdesk_testkit::free_port;

use crate::support::root;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A minimal HTTP/1.1 GET: (status, body), or None if nothing listens yet.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    Some((status, response))
}

fn env_for(cmd: &mut Command, db: &str, key: &std::path::Path) {
    cmd.current_dir(root())
        .env("DATABASE_URL", db)
        .env("REDIS_URL", "redis://127.0.0.1:6379/0")
        .env("CERTDESK_SIGNING_KEY", key);
}

fn key_file(dir: &std::path::Path) -> std::path::PathBuf {
    let key = dir.join("history.pem");
    certdesk_audit::Signer::generate()
        .save_private_key(&key)
        .unwrap();
    key
}

#[tokio::test]
async fn serve_answers_health_readiness_and_refuses_anonymous_api_calls() {
    let db = TestDb::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let key = key_file(tmp.path());
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdesk"));
    env_for(&mut cmd, db.url(), &key);
    cmd.arg("serve")
        .env("CERTDESK_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _server = Killed(cmd.spawn().unwrap());

    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        if let Some(answer) = get(port, "/healthz") {
            break answer;
        }
        assert!(Instant::now() < deadline, "serve did not start listening");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(health.0, 200);
    let (status, body) = get(port, "/readyz").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"postgres\":\"ok\""), "{body}");
    let (status, body) = get(port, "/api/v1/enterprises?uscc=91350100M000100Y43").unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(
        body.contains("application/problem+json") && body.contains("\"code\":\"unauthenticated\""),
        "{body}"
    );
}

#[tokio::test]
async fn jobs_dead_lists_failures_and_retry_makes_one_owed_again() {
    let db = TestDb::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let key = key_file(tmp.path());
    let id = uuid::Uuid::now_v7();
    let mut conn =
        <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(db.url())
            .await
            .unwrap();
    diesel::sql_query(
        "INSERT INTO outbox (id, kind, name, payload, status, attempts, next_attempt_at, last_error, created_at) \
         VALUES ($1, 'notification', 'join_request_joined', '{}', 'dead', 8, now(), '550 mailbox unavailable', now())",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .execute(&mut conn)
    .await
    .unwrap();

    let run = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdesk"));
        env_for(&mut cmd, db.url(), &key);
        cmd.args(args).output().unwrap()
    };
    let out = run(&["jobs", "dead"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&id.to_string())
            && text.contains("550 mailbox unavailable")
            && text.contains("1 dead job(s)"),
        "{text}"
    );

    let out = run(&["jobs", "retry", &id.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["jobs", "dead"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 dead job(s)"));
    let again = run(&["jobs", "retry", &id.to_string()]);
    assert!(!again.status.success(), "only a dead job can be retried");
}
