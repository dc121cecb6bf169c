//! Shared helpers: the fixture catalog, environments and loaders.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use certdesk_domain::calendar::BusinessCalendar;
use certdesk_engine::catalog::{ArgKind, optional, required};
use certdesk_engine::form::FieldType;
use certdesk_engine::lock::VersionLock;
use certdesk_engine::{Catalog, DefinitionError, Environment, Registry, Templates, load};

/// A login-code key for the `serve` and `all` processes tests start (they refuse to start
/// without one).
pub const TEST_CODE_KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real holiday calendar.
pub fn calendar() -> Arc<BusinessCalendar> {
    let text = std::fs::read_to_string(root().join("workflows/holidays.toml")).unwrap();
    Arc::new(BusinessCalendar::from_toml_str(&text).unwrap())
}

/// The standard catalog widened with the actions and events the fixtures use. These names
/// exist only in tests; the product catalog gains them when their chains arrive.
pub fn fixture_catalog() -> Catalog {
    Catalog::standard()
        .with_action(
            "bank.send_micro_payment",
            vec![required("amount_fen", ArgKind::Integer)],
        )
        .with_action("enterprise.make_admin", vec![])
        .with_action(
            "ca.request_issuance",
            vec![optional("when_package", ArgKind::Scalar)],
        )
        .with_action("refund.execute", vec![required("channel", ArgKind::Text)])
        .with_event(
            "bank_result",
            &[("status", FieldType::Choice), ("reason", FieldType::Text)],
        )
        .with_event(
            "code_entered",
            &[
                ("correct", FieldType::Boolean),
                ("attempts", FieldType::Integer),
            ],
        )
        .with_event("legal_rep_signed", &[])
}

/// Loads a fixture folder with the fixture catalog and templates, and its `versions.lock`
/// when it has one.
pub fn load_fixture(dir: &Path) -> Result<Registry, Vec<DefinitionError>> {
    let sources = load::read_dir(dir).unwrap();
    let lock = std::fs::read_to_string(dir.join("versions.lock"))
        .ok()
        .map(|t| VersionLock::parse(&t).unwrap());
    let env = Environment {
        catalog: fixture_catalog(),
        templates: Templates::scan(&root().join("tests/fixtures/templates")).unwrap(),
        calendar: calendar(),
        lock,
    };
    load::load_sources(&sources, &env)
}

/// The valid fixtures, which together use every feature of the format.
pub fn fixtures() -> Registry {
    static LOADED: OnceLock<Registry> = OnceLock::new();
    LOADED
        .get_or_init(
            || match load_fixture(&root().join("tests/fixtures/valid")) {
                Ok(r) => r,
                Err(errors) => panic!("valid fixtures do not load:\n{}", render(&errors)),
            },
        )
        .clone()
}

/// The product's own definitions, checked exactly as `certdesk workflows check` does.
pub fn product() -> Registry {
    static LOADED: OnceLock<Registry> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            match load::load_dir(
                &root().join("workflows"),
                &root().join("templates"),
                Catalog::standard(),
            ) {
                Ok(r) => r,
                Err(errors) => panic!("workflows/ do not load:\n{}", render(&errors)),
            }
        })
        .clone()
}

/// Errors one per line.
pub fn render(errors: &[DefinitionError]) -> String {
    errors.iter().map(|e| format!("{e}\n")).collect()
}
