//! Test support: every test gets its own freshly migrated database.
//!
//! A template database is migrated once per migration set (its name carries a hash of the
//! migration files) under an advisory lock, so concurrent test processes (nextest runs one
//! process per test) build it once. Each test then gets `CREATE DATABASE … TEMPLATE …`, a file
//! copy that takes tens of milliseconds, and drops it when the [`TestDb`] is dropped.
//!
//! The server is `CERTDESK_TEST_DATABASE_URL`, by default
//! `postgres://postgres:postgres@127.0.0.1:5432/postgres` (trust or that password).

#![expect(
    clippy::expect_used,
    reason = "test support fails loudly when the test database is unreachable"
)]

use std::hash::{Hash, Hasher};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// Where test databases are created.
pub fn server_url() -> String {
    std::env::var("CERTDESK_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Replaces the database name at the end of a URL.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(head, _)| head);
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

fn template_name() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("migrations dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for e in entries {
        e.file_name().hash(&mut hasher);
        for f in ["up.sql", "down.sql"] {
            std::fs::read_to_string(e.join(f))
                .unwrap_or_default()
                .hash(&mut hasher);
        }
    }
    // The migrations compiled into this binary too: a build that missed a new migration must
    // not create (and leave behind) a template under the name of the complete set.
    use diesel::migration::MigrationSource;
    let embedded: Vec<String> =
        MigrationSource::<diesel::pg::Pg>::migrations(&crate::db::MIGRATIONS)
            .expect("embedded migrations")
            .iter()
            .map(|m| m.name().to_string())
            .collect();
    embedded.hash(&mut hasher);
    format!("certdesk_template_{:016x}", hasher.finish())
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// Creates a fresh, migrated database.
    pub async fn new() -> Self {
        let server = server_url();
        let mut admin = AsyncPgConnection::establish(&server)
            .await
            .expect("connect to the test PostgreSQL server");
        let template = template_name();
        diesel::sql_query("SELECT pg_advisory_lock(7301)")
            .execute(&mut admin)
            .await
            .expect("advisory lock");
        let exists: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
            "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{template}')"
        )))
        .get_result(&mut admin)
        .await
        .expect("look up template");
        if !exists {
            let building = format!("{template}_building");
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .expect("drop");
            diesel::sql_query(format!("CREATE DATABASE {building}"))
                .execute(&mut admin)
                .await
                .expect("create template");
            crate::db::migrate(&with_database(&server, &building))
                .await
                .expect("migrate the template");
            diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {template}"))
                .execute(&mut admin)
                .await
                .expect("rename");
            diesel::sql_query(format!("ALTER DATABASE {template} ALLOW_CONNECTIONS false"))
                .execute(&mut admin)
                .await
                .expect("lock template");
        }
        diesel::sql_query("SELECT pg_advisory_unlock(7301)")
            .execute(&mut admin)
            .await
            .expect("advisory unlock");
        let name = format!("certdesk_test_{}", uuid::Uuid::new_v4().simple());
        diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        TestDb {
            url: with_database(&server, &name),
            name,
        }
    }

    /// Connection URL of this test's database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Database name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime: use a thread with its own small runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut admin) = AsyncPgConnection::establish(&server_url()).await {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin)
                            .await;
                }
            });
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced_keeping_the_query() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}

/// Rows most tests need: people, an enterprise, memberships.
pub mod seed {
    use chrono::{DateTime, Utc};
    use diesel::ExpressionMethods;
    use diesel_async::{AsyncPgConnection, RunQueryDsl};
    use uuid::Uuid;

    use crate::schema::{enterprises, memberships, users};

    /// Inserts an applicant and returns its id.
    pub async fn person(conn: &mut AsyncPgConnection, name: &str, now: DateTime<Utc>) -> Uuid {
        let id = Uuid::now_v7();
        diesel::insert_into(users::table)
            .values((
                users::id.eq(id),
                users::kind.eq("applicant"),
                users::name.eq(name),
                users::created_at.eq(now),
            ))
            .execute(conn)
            .await
            .expect("insert person");
        id
    }

    /// Inserts an active enterprise with this USCC and returns its id.
    pub async fn enterprise(
        conn: &mut AsyncPgConnection,
        uscc: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Uuid {
        let id = Uuid::now_v7();
        diesel::insert_into(enterprises::table)
            .values((
                enterprises::id.eq(id),
                enterprises::uscc.eq(uscc),
                enterprises::name.eq(name),
                enterprises::kind.eq("enterprise"),
                enterprises::legal_rep_name.eq("王五"),
                enterprises::status.eq("active"),
                enterprises::created_at.eq(now),
            ))
            .execute(conn)
            .await
            .expect("insert enterprise");
        id
    }

    /// Gives `user` a role (`enterprise_admin`, `legal_rep`, `member`) in `enterprise`.
    pub async fn member(
        conn: &mut AsyncPgConnection,
        enterprise: Uuid,
        user: Uuid,
        role: &str,
        now: DateTime<Utc>,
    ) {
        diesel::insert_into(memberships::table)
            .values((
                memberships::enterprise_id.eq(enterprise),
                memberships::user_id.eq(user),
                memberships::role.eq(role),
                memberships::created_at.eq(now),
            ))
            .execute(conn)
            .await
            .expect("insert membership");
    }
}
