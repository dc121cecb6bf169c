//! `certdesk migrate`, `keys generate`, `audit verify` and `audit export` as an operator runs
//! them, with the export checked by OpenSSL alone (scripts/verify-audit-export.sh).

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use certdesk_audit::Signer;
use certdesk_domain::clock::SystemClock;
use certdesk_engine::{Catalog, Environment, Templates};
use certdesk_runtime::Runtime;
use certdesk_store::testing::{TestDb, seed};
use certdesk_testkit::join;
use diesel_async::RunQueryDsl;

use crate::support::{calendar, product, root};

fn certdesk(args: &[&str], db: &str, key: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certdesk"))
        .args(args)
        .current_dir(root())
        .env("DATABASE_URL", db)
        .env("REDIS_URL", "redis://127.0.0.1:6379/0")
        .env("CERTDESK_SIGNING_KEY", key)
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

/// A migrated, empty database made with `certdesk migrate` itself.
async fn empty_db() -> (TestDb, String) {
    let db = TestDb::new().await;
    // Start from nothing to prove `certdesk migrate` builds the schema.
    certdesk_store::db::revert_all(db.url()).await.unwrap();
    let url = db.url().to_owned();
    (db, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_names_an_edited_row_and_openssl_checks_the_export() {
    let (_db, url) = empty_db().await;
    let tmp = tempfile::tempdir().unwrap();
    // In a folder that does not exist yet, as on a first run: `keys generate` makes it.
    let key = tmp.path().join("keys/history.pem");

    let out = certdesk(&["migrate"], &url, &key);
    assert!(out.status.success(), "{}", text(&out));
    let migrations = std::fs::read_dir(root().join("migrations"))
        .unwrap()
        .count();
    assert!(
        text(&out).contains(&format!("{migrations} migration(s) applied")),
        "{}",
        text(&out)
    );
    let out = certdesk(&["keys", "generate"], &url, &key);
    assert!(out.status.success(), "{}", text(&out));
    let again = certdesk(&["keys", "generate"], &url, &key);
    assert!(
        !again.status.success() && text(&again).contains("never overwritten"),
        "{}",
        text(&again)
    );

    // A join request decided through the runtime, signed with that key.
    let signer = Signer::load_private_key(&key, certdesk_audit::DEFAULT_DISTID).unwrap();
    let env = Environment {
        catalog: Catalog::standard(),
        templates: Templates::scan(&root().join("templates")).unwrap(),
        calendar: calendar(),
        lock: None,
    };
    let rt = Runtime::new(
        certdesk_store::db::pool(&url, 4).unwrap(),
        signer,
        Arc::new(SystemClock),
        product(),
        env,
    );
    rt.sync_definitions().await.unwrap();
    let (applicant, admin, enterprise) = {
        let mut conn = rt.pool().get().await.unwrap();
        let now = certdesk_domain::clock::Clock::now(&SystemClock);
        let applicant = seed::person(&mut conn, "申请人", now).await;
        let admin = seed::person(&mut conn, "管理员", now).await;
        let enterprise =
            seed::enterprise(&mut conn, "91350100M000100Y43", "福州示例科技有限公司", now).await;
        seed::member(&mut conn, enterprise, admin, "enterprise_admin", now).await;
        (applicant, admin, enterprise)
    };
    let id = join::submit(&rt, applicant, enterprise).await;
    let (reason, comment) = (Some("not_employee"), Some("不是本公司员工"));
    assert_eq!(
        join::decide(&rt, id, admin, "reject", reason, comment).await,
        "rejected"
    );

    let out = certdesk(&["audit", "verify"], &url, &key);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("history intact"));

    // The untouched export passes the OpenSSL-only check.
    let export = tmp.path().join("export");
    let out = certdesk(
        &["audit", "export", &id.to_string(), export.to_str().unwrap()],
        &url,
        &key,
    );
    assert!(out.status.success(), "{}", text(&out));
    let script = root().join("scripts/verify-audit-export.sh");
    let check = Command::new("bash")
        .arg(&script)
        .arg(&export)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check));

    // An edited export fails it, naming the file.
    let second = export.join("0002.bin");
    let edited = std::fs::read_to_string(&second)
        .unwrap()
        .replace("reject", "approve");
    std::fs::write(&second, edited).unwrap();
    let check = Command::new("bash")
        .arg(&script)
        .arg(&export)
        .output()
        .unwrap();
    assert!(!check.status.success());
    assert!(text(&check).contains("0002"), "{}", text(&check));

    // A row edited with SQL is named by `audit verify`, which exits non-zero.
    diesel::sql_query("UPDATE history SET actor = 'user:00000000-0000-0000-0000-000000000000' WHERE instance_id = $1 AND seq = 2")
        .bind::<diesel::sql_types::Uuid, _>(id)
        .execute(&mut rt.pool().get().await.unwrap())
        .await
        .unwrap();
    let out = certdesk(
        &["audit", "verify", "--instance", &id.to_string()],
        &url,
        &key,
    );
    assert!(!out.status.success(), "{}", text(&out));
    let report = text(&out);
    assert!(
        report.contains(&id.to_string()) && report.contains('2'),
        "{report}"
    );
    assert!(report.contains("FAIL"), "{report}");
}
