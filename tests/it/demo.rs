//! `certdesk demo`, run twice as a newcomer runs it: every join-request state is there, the
//! second run adds nothing, the printed tokens sign in, and the history verifies.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certdesk_domain::clock::{Clock, ManualClock, SystemClock};
use certdesk_domain::ident::{Email, Phone, Uscc};
use certdesk_engine::{Catalog, Environment, Templates};
use certdesk_runtime::Runtime;
use certdesk_store::testing::{TestDb, seed};
use chrono::TimeDelta;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use crate::support::{calendar, product, root};

/// Every state of `workflows/join_request.toml` a demo request can rest in.
const STATES: [&str; 7] = [
    "admin_review",
    "awaiting_payment",
    "joined",
    "rejected",
    "withdrawn",
    "expired",
    "unpaid",
];

fn certdesk(args: &[&str], db: &str, key: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certdesk"))
        .args(args)
        .current_dir(root())
        .env("DATABASE_URL", db)
        .env("REDIS_URL", "redis://127.0.0.1:6379/0")
        .env("CERTDESK_SIGNING_KEY", key)
        // Uploads (the demo's document images) beside the key, never in the checkout.
        .env("CERTDESK_FILES_DIR", key.with_file_name("files"))
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A signing key made with `certdesk keys generate --out`.
fn key_file(dir: &Path, db: &str) -> std::path::PathBuf {
    let key = dir.join("history.pem");
    let out = certdesk(
        &["keys", "generate", "--out", key.to_str().unwrap()],
        db,
        &key,
    );
    assert!(out.status.success(), "{}", text(&out));
    key
}

/// The bearer tokens a run printed.
fn tokens(stdout: &str) -> BTreeSet<String> {
    stdout
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| c == '\'' || c == '"'))
        .filter(|w| w.starts_with("demo-") && w.len() >= 32)
        .map(str::to_owned)
        .collect()
}

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct StateCount {
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
}

/// Rows in every table of the schema.
async fn row_counts(conn: &mut AsyncPgConnection) -> BTreeMap<String, i64> {
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .load(conn)
    .await
    .unwrap();
    let mut counts = BTreeMap::new();
    for t in tables {
        let n = count(conn, &format!("SELECT count(*) AS n FROM \"{}\"", t.name)).await;
        counts.insert(t.name, n);
    }
    counts
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A minimal HTTP/1.1 GET with an optional bearer token: (status, response), or None if
/// nothing listens yet.
fn get(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    Some((status, response))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_loads_every_join_request_state_and_a_second_run_adds_nothing() {
    let db = TestDb::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let key = key_file(tmp.path(), db.url());
    let mut conn = AsyncPgConnection::establish(db.url()).await.unwrap();

    let first = certdesk(&["demo"], db.url(), &key);
    assert!(first.status.success(), "{}", text(&first));
    let first_out = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(first_out.contains("loaded"), "{first_out}");
    let after_first = row_counts(&mut conn).await;

    let second = certdesk(&["demo"], db.url(), &key);
    assert!(second.status.success(), "{}", text(&second));
    let second_out = String::from_utf8_lossy(&second.stdout).into_owned();
    assert!(second_out.contains("nothing new loaded"), "{second_out}");
    let after_second = row_counts(&mut conn).await;
    assert_eq!(
        after_first, after_second,
        "the second run changed row counts"
    );
    for table in [
        "users",
        "staff_roles",
        "enterprises",
        "memberships",
        "api_tokens",
        "instances",
        "tasks",
        "history",
        "outbox",
    ] {
        assert!(after_first[table] > 0, "{table} is empty: {after_first:?}");
    }

    // Every state of the definition, through the runtime: signed history, outbox rows.
    let rows: Vec<StateCount> = diesel::sql_query(
        "SELECT state, status, count(*) AS n FROM instances \
         WHERE definition = 'join_request' GROUP BY state, status",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let by_state: BTreeMap<&str, (&str, i64)> = rows
        .iter()
        .map(|r| (r.state.as_str(), (r.status.as_str(), r.n)))
        .collect();
    for state in STATES {
        let (status, n) = by_state.get(state).copied().unwrap_or(("-", 0));
        assert!(n >= 1, "no join request in {state}: {by_state:?}");
        let running = matches!(state, "admin_review" | "awaiting_payment");
        assert_eq!(
            status,
            if running { "running" } else { "finished" },
            "{state}"
        );
    }
    assert!(by_state["admin_review"].1 >= 2, "{by_state:?}");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM instances i WHERE NOT EXISTS \
             (SELECT 1 FROM history h WHERE h.instance_id = i.id) \
             OR NOT EXISTS (SELECT 1 FROM outbox o WHERE o.instance_id = i.id)"
        )
        .await,
        0,
        "every request has history and outbox rows"
    );
    // A pending request four days old whose day-3 reminder fired.
    assert!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM instances i JOIN outbox o ON o.instance_id = i.id \
             WHERE i.state = 'admin_review' AND o.name = 'join_request_reminder' \
             AND i.created_at <= now() - interval '4 days'"
        )
        .await
            >= 1
    );
    // The expired one was started eight days ago and expired through its timer.
    assert!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM instances i JOIN history h ON h.instance_id = i.id \
             WHERE i.state = 'expired' AND h.event = 'timer_fired' AND h.payload->>'to' = 'expired' \
             AND i.created_at <= now() - interval '8 days'"
        )
        .await
            >= 1
    );
    // The rejection carries a reason code of the definition and a comment.
    assert!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM instances i JOIN history h ON h.instance_id = i.id \
             WHERE i.state = 'rejected' AND h.event = 'decide' \
             AND h.payload->>'reason' IN ('not_employee', 'identity_mismatch', 'duplicate_request', 'other') \
             AND length(h.payload->>'comment') > 0"
        )
        .await
            >= 1
    );
    // The payment path: awaiting_payment and unpaid only arise with an order in the form.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM instances \
             WHERE state IN ('awaiting_payment', 'unpaid') AND NOT data ? 'order_id'"
        )
        .await,
        0
    );
    // One open leave request and one open admin transfer, each waiting for its decider, and
    // the transfer's target verified as the API requires.
    for (definition, state) in [
        ("leave_enterprise", "admin_review"),
        ("admin_transfer", "legal_rep_review"),
    ] {
        assert_eq!(
            count(
                &mut conn,
                &format!(
                    "SELECT count(*) AS n FROM instances i JOIN tasks t ON t.instance_id = i.id \
                     WHERE i.definition = '{definition}' AND i.state = '{state}' \
                     AND i.status = 'running' AND t.status = 'open'"
                )
            )
            .await,
            1,
            "{definition}"
        );
    }
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM instances i JOIN users u \
             ON u.id = (i.data->>'target_user_id')::uuid \
             JOIN memberships m ON m.user_id = u.id AND m.enterprise_id = i.subject_id \
             WHERE i.definition = 'admin_transfer' AND u.real_name_status = 'verified' \
             AND m.role = 'member'"
        )
        .await,
        1
    );
    // Two real-name reviews (passport, Hong Kong permit) submitted through the API wait in
    // the CS reviewers' queue, each with its document image and portrait stored.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM instances i \
             JOIN users u ON u.id = i.requester AND u.real_name_instance_id = i.id \
             JOIN task_queues q ON q.task_id IN (SELECT id FROM tasks WHERE instance_id = i.id) \
             WHERE i.definition = 'real_name_review' AND i.state = 'cs_review' \
             AND u.real_name_status = 'pending_review' AND q.queue = 'cs_reviewer' \
             AND u.real_name_id_type IN ('passport', 'hk_macau_permit')"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM files f JOIN instances i \
             ON i.requester = f.owner_id AND i.definition = 'real_name_review' \
             WHERE f.id::text IN (i.data->>'document_front', i.data->>'portrait')"
        )
        .await,
        4
    );
    let stored = std::fs::read_dir(tmp.path().join("files"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(stored > 0, "no uploaded bytes under the files folder");
    // One demo requester per request.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(DISTINCT requester) AS n FROM instances"
        )
        .await,
        count(&mut conn, "SELECT count(*) AS n FROM instances").await
    );

    // Every row is marked demo, every staff role is present, and the identifiers are valid.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM users WHERE NOT is_demo"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM enterprises WHERE NOT is_demo"
        )
        .await,
        0
    );
    for (role, at_least) in [
        ("cs_reviewer", 2),
        ("finance", 1),
        ("finance_lead", 1),
        ("supervisor", 1),
        ("sys_admin", 1),
    ] {
        let n = count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM staff_roles r JOIN users u ON u.id = r.user_id \
                 WHERE r.role = '{role}' AND u.kind = 'staff'"
            ),
        )
        .await;
        assert!(n >= at_least, "{role}: {n}");
    }
    let usccs: Vec<Name> = diesel::sql_query("SELECT uscc AS name FROM enterprises")
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(usccs.len(), 3);
    for u in &usccs {
        assert_eq!(Uscc::parse(&u.name).unwrap().as_str(), u.name);
    }
    let phones: Vec<Name> = diesel::sql_query("SELECT phone AS name FROM users")
        .load(&mut conn)
        .await
        .unwrap();
    for p in &phones {
        assert_eq!(Phone::parse(&p.name).unwrap().as_str(), p.name);
    }
    let emails: Vec<Name> =
        diesel::sql_query("SELECT email AS name FROM users WHERE kind = 'applicant'")
            .load(&mut conn)
            .await
            .unwrap();
    for e in &emails {
        assert_eq!(Email::parse(&e.name).unwrap().domain(), "example.com");
    }
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM enterprises e WHERE \
             NOT EXISTS (SELECT 1 FROM memberships m WHERE m.enterprise_id = e.id AND m.role = 'enterprise_admin') \
             OR NOT EXISTS (SELECT 1 FROM memberships m WHERE m.enterprise_id = e.id AND m.role = 'legal_rep')"
        )
        .await,
        0,
        "each enterprise has an admin and a legal representative"
    );
    assert!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM (SELECT enterprise_id FROM memberships \
             WHERE role = 'enterprise_admin' GROUP BY 1 HAVING count(*) >= 2) two"
        )
        .await
            >= 1
    );

    // Both runs print the same tokens, each stored as its SHA-256 for a year.
    let printed = tokens(&first_out);
    assert_eq!(printed, tokens(&second_out));
    assert_eq!(
        printed.len() as i64,
        after_first["api_tokens"],
        "{printed:?}"
    );
    for token in &printed {
        let stored = count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM api_tokens t JOIN users u ON u.id = t.user_id \
                 WHERE t.token_sha256 = sha256(convert_to('{token}', 'UTF8')) \
                 AND t.label = 'demo' AND t.revoked_at IS NULL AND u.is_demo \
                 AND t.expires_at > now() + interval '360 days'"
            ),
        )
        .await;
        assert_eq!(stored, 1, "{token}");
    }

    // And they sign in: the API answers an admin's review list with the pending request.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdesk"));
    cmd.arg("serve")
        .current_dir(root())
        .env("DATABASE_URL", db.url())
        .env("REDIS_URL", "redis://127.0.0.1:6379/0")
        .env("CERTDESK_SIGNING_KEY", &key)
        .env("CERTDESK_CODE_KEY", crate::support::TEST_CODE_KEY)
        .env("CERTDESK_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _server = Killed(cmd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(port, "/healthz", None).is_none() {
        assert!(Instant::now() < deadline, "serve did not start listening");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let review = first_out
        .lines()
        .find(|l| l.contains("curl") && l.contains("/join-requests?state=admin_review"))
        .unwrap_or_else(|| panic!("no review-list example: {first_out}"));
    let token = tokens(review).into_iter().next().unwrap();
    let path = review
        .split('\'')
        .find_map(|part| part.strip_prefix("http://127.0.0.1:8080"))
        .unwrap_or_else(|| panic!("no URL in {review}"));
    let (status, body) = get(port, path, Some(&token)).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"state\":\"admin_review\""), "{body}");
    for token in &printed {
        let (status, body) = get(
            port,
            "/api/v1/enterprises?uscc=91350102MA2XYD8K6J",
            Some(token),
        )
        .unwrap();
        assert_eq!(status, 200, "{token}: {body}");
        assert!(body.contains("福州闽江数字科技有限公司"), "{body}");
    }
    let (status, _) = get(
        port,
        "/api/v1/enterprises?uscc=91350102MA2XYD8K6J",
        Some("demo-nobody-00000000000000000000000000000000"),
    )
    .unwrap();
    assert_eq!(status, 401, "an unknown token is refused");

    let out = certdesk(&["audit", "verify"], db.url(), &key);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("history intact"), "{}", text(&out));
}

#[tokio::test]
async fn demo_refuses_a_phone_that_belongs_to_someone_else_and_writes_nothing() {
    let db = TestDb::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let key = key_file(tmp.path(), db.url());
    let mut conn = AsyncPgConnection::establish(db.url()).await.unwrap();
    // A real user already has the number the demo gives 韩雪.
    diesel::sql_query(
        "INSERT INTO users (id, kind, name, phone, created_at) \
         VALUES (gen_random_uuid(), 'applicant', '真实用户', '19900000409', now())",
    )
    .execute(&mut conn)
    .await
    .unwrap();

    let out = certdesk(&["demo"], db.url(), &key);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("19900000409"), "{}", text(&out));
    for table in ["enterprises", "memberships", "api_tokens", "instances"] {
        assert_eq!(
            count(&mut conn, &format!("SELECT count(*) AS n FROM {table}")).await,
            0,
            "{table}"
        );
    }
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM users").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_will_not_backdate_while_another_requests_timer_is_overdue() {
    let db = TestDb::new().await;
    let tmp = tempfile::tempdir().unwrap();
    let key = key_file(tmp.path(), db.url());

    // A real join request submitted ten days ago, with no scheduler since.
    let clock = Arc::new(ManualClock::new(SystemClock.now() - TimeDelta::days(10)));
    let rt = Runtime::new(
        certdesk_store::db::pool(db.url(), 2).unwrap(),
        certdesk_audit::Signer::load_private_key(&key, certdesk_audit::DEFAULT_DISTID).unwrap(),
        clock.clone(),
        product(),
        Environment {
            catalog: Catalog::standard(),
            templates: Templates::scan(&root().join("templates")).unwrap(),
            calendar: calendar(),
            lock: None,
        },
    );
    rt.sync_definitions().await.unwrap();
    let (applicant, enterprise) = {
        let mut conn = rt.pool().get().await.unwrap();
        let now = clock.now();
        let applicant = seed::person(&mut conn, "申请人", now).await;
        let admin = seed::person(&mut conn, "管理员", now).await;
        let enterprise =
            seed::enterprise(&mut conn, "91350100M000100Y43", "福州示例科技有限公司", now).await;
        seed::member(&mut conn, enterprise, admin, "enterprise_admin", now).await;
        (applicant, enterprise)
    };
    let input = json!({ "enterprise_id": enterprise.to_string(), "mode": "reason", "reason": "x" });
    rt.start("join_request", applicant, Some(enterprise), &input)
        .await
        .unwrap();

    let out = certdesk(&["demo"], db.url(), &key);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("overdue"), "{}", text(&out));
    let mut conn = AsyncPgConnection::establish(db.url()).await.unwrap();
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM users WHERE is_demo").await,
        0
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM instances").await,
        1
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM timers").await,
        2,
        "the other request's timers were left to its scheduler"
    );
}
