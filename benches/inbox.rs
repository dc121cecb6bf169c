#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark"
)]
//! The console inbox's server time with 100,000 open tasks (docs/BENCHMARKS.md; target p99 <
//! 50 ms).
//!
//! Seeds a fresh database with `INBOX_TASKS` open tasks (default 100,000) on as many instances:
//! 70 % real-name reviews for `cs_reviewer` (5 % of them past their SLA, 10 % claimed by
//! others), 20 % join requests decided by enterprise admins (not visible to staff) and 10 %
//! finance tasks, spread over 500 enterprises; then renders `GET /admin/tasks` in-process for
//! a signed-in reviewer, sequentially, and reports p50 / p99 / max of the server time (request
//! in, whole body out) for each common view. No network in between: this is the server's own
//! time, queries included.
//!
//! Each real-name review names one uploaded passport photo, so the same database also times a
//! task page (form, documents, diagram, timeline) and `GET /admin/files/{id}` for the task's
//! reviewer and for a supervisor: who may see a file is decided among 100,000 instances.
//!
//! `cargo bench --bench inbox` (needs PostgreSQL as the tests do). `INBOX_ROUNDS` sets the
//! requests per view (default 300).

use std::time::{Duration, Instant};

use actix_web::{App, test, web};
use certdesk_admin::{AdminState, Settings, session, staff};
use certdesk_api::files::FileStore;
use certdesk_audit::Signer;
use certdesk_domain::clock::{Clock, SystemClock};
use certdesk_runtime::Runtime;
use certdesk_store::testing::TestDb;
use diesel_async::RunQueryDsl;
use diesel_async::SimpleAsyncConnection;

const ORIGIN: &str = "https://console.example";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// p-th percentile (0–100) of sorted durations, in milliseconds.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

#[actix_web::main]
async fn main() {
    let n = env_or("INBOX_TASKS", 100_000);
    let rounds = env_or("INBOX_ROUNDS", 300);
    let db = TestDb::new().await;
    let (registry, env) = certdesk_testkit::runtime::definitions();
    let pool = certdesk_store::db::pool(db.url(), 8).unwrap();
    let runtime = Runtime::new(
        pool,
        Signer::generate(),
        std::sync::Arc::new(SystemClock),
        registry,
        env,
    );
    runtime.sync_definitions().await.unwrap();
    let now = SystemClock.now();
    let settings = Settings::new(ORIGIN);

    let mut conn = runtime.pool().get().await.unwrap();
    let reviewer = staff::add(
        &mut conn,
        "审核员",
        None,
        Some("reviewer@example.com"),
        &["cs_reviewer".to_owned()],
        now,
    )
    .await
    .unwrap();
    let other = staff::add(
        &mut conn,
        "另一审核员",
        None,
        Some("other@example.com"),
        &["cs_reviewer".to_owned()],
        now,
    )
    .await
    .unwrap();
    let boss = staff::add(
        &mut conn,
        "主管",
        None,
        Some("boss@example.com"),
        &["supervisor".to_owned()],
        now,
    )
    .await
    .unwrap();
    let cookie = session::create(&mut conn, reviewer.user_id, now, &settings)
        .await
        .unwrap();
    let boss_cookie = session::create(&mut conn, boss.user_id, now, &settings)
        .await
        .unwrap();
    // One photo's bytes; every seeded upload row is a copy of it (content addressed).
    let photo = certdesk_api::sample::passport(640, 400);
    let sm3 = certdesk_api::files::sm3(&photo);
    let files = FileStore::in_memory();
    files.put(&sm3, photo.clone().into()).await.unwrap();

    let seeding = Instant::now();
    let seed = format!(
        r#"
        UPDATE staff_credentials SET must_change_password = false;
        INSERT INTO enterprises (id, uscc, name, kind, legal_rep_name, status, created_at)
        SELECT gen_random_uuid(), '9135' || lpad(i::text, 14, '0'),
               '福建省示例' || i || '号科技有限公司', 'enterprise', '法人' || i, 'active', now()
        FROM generate_series(1, 500) AS i;

        INSERT INTO users (id, kind, name, phone, created_at)
        SELECT gen_random_uuid(), 'applicant', '申请人' || i, '139' || lpad(i::text, 8, '0'), now()
        FROM generate_series(1, {n}) AS i;

        CREATE TEMP TABLE seeded AS
        SELECT u.id AS requester, gen_random_uuid() AS instance, gen_random_uuid() AS file,
               row_number() OVER () AS i
        FROM users u WHERE u.kind = 'applicant';

        INSERT INTO files (id, owner_id, purpose, media_type, size_bytes, sm3, width, height,
                           created_at)
        SELECT s.file, s.requester, 'passport', 'image/png', {size}, '\x{sm3}'::bytea, 640, 400,
               now()
        FROM seeded s WHERE s.i % 10 < 7;

        INSERT INTO instances (id, definition, version, subject_type, subject_id, requester,
                               state, status, engine, data, created_at, updated_at)
        SELECT s.instance,
               CASE WHEN s.i % 10 < 7 THEN 'real_name_review' ELSE 'join_request' END,
               (SELECT max(version) FROM definitions
                WHERE name = CASE WHEN s.i % 10 < 7 THEN 'real_name_review'
                                  ELSE 'join_request' END),
               CASE WHEN s.i % 10 < 7 THEN 'person' ELSE 'enterprise' END,
               CASE WHEN s.i % 10 < 7 THEN s.requester
                    ELSE (array(SELECT id FROM enterprises ORDER BY uscc))[1 + s.i % 500] END,
               s.requester,
               CASE WHEN s.i % 10 < 7 THEN 'cs_review' ELSE 'admin_review' END,
               'running', '{{}}'::jsonb,
               jsonb_build_object('document_type', 'passport', 'name', '申请人' || s.i,
                                  'document_number', 'E' || lpad(s.i::text, 8, '0'))
               || CASE WHEN s.i % 10 < 7
                       THEN jsonb_build_object('document_front', s.file::text)
                       ELSE '{{}}'::jsonb END,
               timestamptz '{now}' - (s.i % 2000) * interval '7 minutes',
               timestamptz '{now}' - (s.i % 2000) * interval '7 minutes'
        FROM seeded s;

        INSERT INTO tasks (id, instance_id, entry, state, parties, approval, status, opened_at,
                           sla_due_at, breached_at, claimed_by)
        SELECT gen_random_uuid(), s.instance, 1,
               CASE WHEN s.i % 10 < 7 THEN 'cs_review' ELSE 'admin_review' END,
               CASE WHEN s.i % 10 < 7 THEN '[{{"kind": "group", "name": "cs_reviewer"}}]'::jsonb
                    WHEN s.i % 10 < 9 THEN '[{{"kind": "relation", "name": "enterprise.admins"}}]'::jsonb
                    ELSE '[{{"kind": "group", "name": "finance"}}]'::jsonb END,
               'any', 'open',
               timestamptz '{now}' - (s.i % 2000) * interval '7 minutes',
               CASE WHEN s.i % 20 = 0 THEN timestamptz '{now}' - interval '1 hour'
                    ELSE timestamptz '{now}' + (s.i % 500) * interval '3 minutes' END,
               CASE WHEN s.i % 20 = 0 THEN timestamptz '{now}' - interval '1 hour' END,
               CASE WHEN s.i % 10 = 3 THEN '{other}'::uuid END
        FROM seeded s;
        "#,
        now = now.to_rfc3339(),
        other = other.user_id,
        size = photo.len(),
        sm3 = sm3.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    );
    conn.batch_execute(&seed).await.unwrap();
    // What autovacuum does after a bulk insert: the visibility map lets counts read the index
    // alone.
    conn.batch_execute("VACUUM ANALYZE").await.unwrap();
    let open: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "SELECT count(*) FROM tasks WHERE status = 'open'",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    println!(
        "seeded {open} open tasks ({} visible to the reviewer) in {:.1} s",
        open * 7 / 10,
        seeding.elapsed().as_secs_f64()
    );

    // A real-name review in the middle of the seeded rows, its task and its photo.
    let (task, file): (uuid::Uuid, uuid::Uuid) =
        diesel::dsl::sql::<(diesel::sql_types::Uuid, diesel::sql_types::Uuid)>(&format!(
            "SELECT t.id, (i.data->>'document_front')::uuid FROM tasks t \
         JOIN instances i ON i.id = t.instance_id \
         WHERE i.definition = 'real_name_review' AND t.claimed_by IS NULL \
         ORDER BY i.id OFFSET {} LIMIT 1",
            n / 3
        ))
        .get_result(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let state = AdminState::new(runtime, settings)
        .unwrap()
        .with_files(files);
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(state))
            .configure(certdesk_admin::configure),
    )
    .await;
    let task_page = format!("/admin/tasks/{task}");
    let document = format!("/admin/files/{file}");
    let views = [
        (
            "default (breached first, due soonest)",
            "/admin/tasks",
            &cookie,
        ),
        ("SLA breached only", "/admin/tasks?sla=breached", &cookie),
        (
            "unclaimed, oldest first",
            "/admin/tasks?claimed=unclaimed&sort=oldest",
            &cookie,
        ),
        (
            "enterprise name contains",
            "/admin/tasks?enterprise=%E7%A4%BA%E4%BE%8B12",
            &cookie,
        ),
        (
            "chain + age ≥ 3 days",
            "/admin/tasks?chain=real_name_review&age=3d",
            &cookie,
        ),
        ("200 rows per page", "/admin/tasks?limit=200", &cookie),
        (
            "task page (form, document, diagram, timeline)",
            &task_page,
            &cookie,
        ),
        ("the task's document, to its reviewer", &document, &cookie),
        (
            "the same document, to a supervisor",
            &document,
            &boss_cookie,
        ),
    ];
    println!("\n| view | p50 ms | p99 ms | max ms | bytes |\n|---|---|---|---|---|");
    for (name, uri, cookie) in views {
        let mut times = Vec::with_capacity(rounds);
        let mut bytes = 0;
        for round in 0..rounds + 20 {
            let req = test::TestRequest::get()
                .uri(uri)
                .cookie(session::cookie(cookie))
                .to_request();
            let started = Instant::now();
            let res = test::call_service(&app, req).await;
            assert!(res.status().is_success(), "{uri}: {}", res.status());
            let body = test::read_body(res).await;
            let took = started.elapsed();
            if round >= 20 {
                times.push(took);
            }
            bytes = body.len();
        }
        times.sort_unstable();
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {bytes} |",
            pct(&times, 50.0),
            pct(&times, 99.0),
            pct(&times, 100.0),
        );
    }
}
