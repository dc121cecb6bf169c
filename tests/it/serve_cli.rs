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
    request(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
}

/// A minimal HTTP/1.1 POST of a JSON body.
fn post(port: u16, path: &str, json: &str) -> Option<(u16, String)> {
    request(
        port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        ),
    )
}

fn request(port: u16, text: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(text.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    Some((status, response))
}

fn env_for(cmd: &mut Command, db: &str, key: &std::path::Path) {
    cmd.current_dir(root())
        .env("DATABASE_URL", db)
        .env("REDIS_URL", "redis://127.0.0.1:6379/0")
        .env("CERTDESK_SIGNING_KEY", key)
        .env("CERTDESK_CODE_KEY", crate::support::TEST_CODE_KEY);
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

/// Waits until `port` answers /healthz.
async fn listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(port, "/healthz").is_none() {
        assert!(Instant::now() < deadline, "serve did not start listening");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn serve_makes_a_login_code_key_once_and_sends_codes() {
    let db = TestDb::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let key = key_file(tmp.path());
    // In a folder that does not exist yet, as on a first run.
    let code_key = tmp.path().join("keys/login-code.key");
    let port = free_port();
    let command = |args: &[&str], code_key: &std::path::Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdesk"));
        env_for(&mut cmd, db.url(), &key);
        cmd.args(args)
            .env_remove("CERTDESK_CODE_KEY")
            .env("CERTDESK_CODE_KEY_FILE", code_key)
            .env("CERTDESK_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    };

    let server = Killed(command(&["serve"], &code_key).spawn().unwrap());
    listening(port).await;
    let made = std::fs::read_to_string(&code_key).unwrap();
    assert_eq!(made.trim().len(), 64, "{made}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&code_key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (status, body) = post(
        port,
        "/api/v1/auth/sms-codes",
        r#"{"phone":"13700004321","purpose":"login"}"#,
    )
    .unwrap();
    assert_eq!(status, 202, "{body}");
    assert!(body.contains("137****4321"), "{body}");
    let mut conn =
        <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(db.url())
            .await
            .unwrap();
    #[derive(diesel::QueryableByName)]
    struct Sent {
        #[diesel(sql_type = diesel::sql_types::Text)]
        body: String,
    }
    let sent: Vec<Sent> =
        diesel::sql_query("SELECT body FROM sms_sandbox WHERE phone = '13700004321'")
            .load(&mut conn)
            .await
            .unwrap();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].body.starts_with("【中标一证通】"),
        "{}",
        sent[0].body
    );

    // A restart keeps the key (codes in flight stay good).
    drop(server);
    let _server = Killed(command(&["serve"], &code_key).spawn().unwrap());
    listening(port).await;
    assert_eq!(std::fs::read_to_string(&code_key).unwrap(), made);

    // `keys code-key` never overwrites one, and makes one where there is none.
    let again = command(&["keys", "code-key"], &code_key).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwritten"));
    assert_eq!(std::fs::read_to_string(&code_key).unwrap(), made);
    let other = tmp.path().join("elsewhere/other.key");
    let out = command(&["keys", "code-key"], &other).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(std::fs::read_to_string(&other).unwrap(), made);

    // A key file that holds no key stops serve at once, naming the setting.
    let bad = tmp.path().join("bad.key");
    std::fs::write(&bad, "not a key\n").unwrap();
    let mut refused = Killed(command(&["serve"], &bad).spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = refused.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "serve started with a bad key file"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    refused
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("CERTDESK_CODE_KEY_FILE") && stderr.contains("bad.key"),
        "{stderr}"
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

/// Sends `head` (request line and headers) and `body`, then reads one response: (status,
/// headers and body as text). Reads exactly the response's Content-Length, so it does not
/// wait for the server to close.
fn exchange(port: u16, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&response).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if response.len() >= end + 4 + length {
                let status = text.split(' ').nth(1).unwrap().parse().unwrap();
                return (status, text);
            }
        }
        let n = stream.read(&mut buf).expect("the server answers in time");
        assert!(n > 0, "connection closed early: {text}");
        response.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn serve_stores_uploads_in_files_dir_and_refuses_an_oversized_one_before_its_body() {
    use certdesk_domain::clock::{Clock, SystemClock};

    let db = TestDb::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let key = key_file(tmp.path());
    let files_dir = tmp.path().join("uploads");
    let pool = certdesk_store::db::pool(db.url(), 2).unwrap();
    let now = SystemClock.now();
    let user = {
        let mut conn = pool.get().await.unwrap();
        certdesk_store::testing::seed::person(&mut conn, "上传人", now).await
    };
    let token = certdesk_api::issue_token(&pool, user, "test", now, chrono::TimeDelta::hours(1))
        .await
        .unwrap();

    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdesk"));
    env_for(&mut cmd, db.url(), &key);
    cmd.arg("serve")
        .env("CERTDESK_LISTEN", format!("127.0.0.1:{port}"))
        .env("CERTDESK_FILES_DIR", &files_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _server = Killed(cmd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(port, "/healthz").is_none() {
        assert!(Instant::now() < deadline, "serve did not start listening");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A JPEG's frame header says 800×600; that is all the checks read.
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16];
    jpeg.extend(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    jpeg.extend([0xFF, 0xC0, 0, 11, 8, 0x02, 0x58, 0x03, 0x20, 1, 1, 0x11, 0]);
    jpeg.extend([0xFF, 0xD9]);
    let head = |length: usize| {
        format!(
            "POST /api/v1/files?purpose=other HTTP/1.1\r\nHost: localhost\r\n\
             Authorization: Bearer {token}\r\nContent-Type: image/jpeg\r\n\
             Content-Length: {length}\r\nConnection: close\r\n\r\n"
        )
    };
    let (status, text) = exchange(port, &head(jpeg.len()), &jpeg);
    assert_eq!(status, 201, "{text}");
    assert!(text.contains("\"width\":800"), "{text}");
    let stored: Vec<_> = std::fs::read_dir(files_dir.join("sm3"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| std::fs::read(f.unwrap().path()).unwrap())
        .collect();
    assert_eq!(stored, [jpeg], "the object is in CERTDESK_FILES_DIR");

    // 6 MiB announced, not one byte of it sent: the answer comes anyway.
    let (status, text) = exchange(port, &head(6 * 1024 * 1024), &[]);
    assert_eq!(status, 413, "{text}");
    assert!(
        text.contains("application/problem+json") && text.contains("\"code\":\"file_too_large\""),
        "{text}"
    );
}
