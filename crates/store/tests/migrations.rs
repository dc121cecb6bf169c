//! The migrations apply, revert and re-apply to the same schema, and `schema.rs` describes
//! exactly what they create.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::BTreeMap;

use certdesk_store::db;
use certdesk_store::testing::TestDb;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

async fn columns(url: &str) -> Vec<Column> {
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    diesel::sql_query(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text
         FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'
         ORDER BY table_name, column_name",
    )
    .load(&mut conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn migrations_go_down_and_up_to_the_same_schema() {
    let db = TestDb::new().await;
    let first = columns(db.url()).await;
    assert!(
        first.len() > 50,
        "expected the full schema, got {} columns",
        first.len()
    );
    let reverted = db::revert_all(db.url()).await.unwrap();
    assert_eq!(
        reverted,
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"))
            .unwrap()
            .count()
    );
    assert!(
        columns(db.url()).await.is_empty(),
        "down.sql left tables behind"
    );
    db::migrate(db.url()).await.unwrap();
    assert_eq!(columns(db.url()).await, first);
}

/// Parses `src/schema.rs` into table → column → (type, nullable).
fn schema_rs() -> BTreeMap<(String, String), (String, bool)> {
    let text = include_str!("../src/schema.rs");
    let mut out = BTreeMap::new();
    let mut table = None;
    for line in text.lines().map(str::trim) {
        if let Some(head) = line.strip_suffix('{')
            && let Some((name, _)) = head.split_once(" (")
        {
            table = Some(name.trim().to_owned());
        } else if line == "}" {
            table = None;
        } else if let (Some(t), Some((col, ty))) =
            (&table, line.trim_end_matches(',').split_once(" -> "))
        {
            let (ty, nullable) = match ty
                .strip_prefix("Nullable<")
                .and_then(|r| r.strip_suffix('>'))
            {
                Some(inner) => (inner, true),
                None => (ty, false),
            };
            out.insert((t.clone(), col.to_owned()), (ty.to_owned(), nullable));
        }
    }
    out
}

#[tokio::test]
async fn schema_rs_matches_the_migrated_database() {
    let db = TestDb::new().await;
    let sql_type = |t: &str| match t {
        "uuid" => "Uuid",
        "text" => "Text",
        "boolean" => "Bool",
        "integer" => "Int4",
        "bigint" => "Int8",
        "jsonb" => "Jsonb",
        "bytea" => "Bytea",
        "date" => "Date",
        "timestamp with time zone" => "Timestamptz",
        other => panic!("no diesel type mapped for {other}"),
    };
    let database: BTreeMap<(String, String), (String, bool)> = columns(db.url())
        .await
        .into_iter()
        .map(|c| {
            (
                (c.table_name, c.column_name),
                (sql_type(&c.data_type).to_owned(), c.is_nullable == "YES"),
            )
        })
        .collect();
    let declared = schema_rs();
    for (key, value) in &database {
        assert_eq!(
            declared.get(key),
            Some(value),
            "schema.rs disagrees with the database on {key:?}"
        );
    }
    for key in declared.keys() {
        assert!(
            database.contains_key(key),
            "schema.rs declares {key:?}, which no migration creates"
        );
    }
}
