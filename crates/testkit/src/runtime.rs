//! A runtime over the product's definitions, as the binary builds it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use certdesk_audit::Signer;
use certdesk_domain::calendar::BusinessCalendar;
use certdesk_domain::clock::Clock;
use certdesk_engine::{Catalog, Environment, Registry, Templates};
use certdesk_runtime::Runtime;

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The product's definitions and the environment they were compiled with.
pub fn definitions() -> (Registry, Environment) {
    let root = repo_root();
    let registry = certdesk_engine::load_dir(
        &root.join("workflows"),
        &root.join("templates"),
        Catalog::standard(),
    )
    .expect("the product's definitions load");
    let calendar = BusinessCalendar::from_toml_str(
        &std::fs::read_to_string(root.join("workflows/holidays.toml")).expect("holidays.toml"),
    )
    .expect("holidays.toml parses");
    let env = Environment {
        catalog: Catalog::standard(),
        templates: Templates::scan(&root.join("templates")).expect("templates/"),
        calendar: Arc::new(calendar),
        lock: None,
    };
    (registry, env)
}

/// A runtime on `database_url` with a fresh signing key and `clock`, definitions synced.
pub async fn runtime(database_url: &str, clock: Arc<dyn Clock>, pool_size: usize) -> Runtime {
    let (registry, env) = definitions();
    let rt = Runtime::new(
        certdesk_store::db::pool(database_url, pool_size).expect("pool"),
        Signer::generate(),
        clock,
        registry,
        env,
    );
    rt.sync_definitions().await.expect("sync definitions");
    rt
}
