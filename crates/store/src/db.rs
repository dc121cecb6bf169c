//! Connections, the pool and migrations.
//!
//! The pool is diesel-async over deadpool. Migrations are embedded in the binary and run
//! through diesel's synchronous harness on a blocking thread (DEPENDENCIES G8).

use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::Pool as DeadPool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The migrations in `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Longest wait for a pooled connection, or for a new one to be made.
pub const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A pool of PostgreSQL connections.
pub type Pool = DeadPool<AsyncPgConnection>;

/// Why the database could not be reached or migrated.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The pool could not be built.
    #[error("building the connection pool: {0}")]
    Pool(String),
    /// A migration failed.
    #[error("migrating the database: {0}")]
    Migrate(String),
    /// A connection could not be made.
    #[error("connecting to PostgreSQL: {0}")]
    Connect(String),
}

/// Builds a pool of at most `size` connections to `url`. Connections are made lazily.
pub fn pool(url: &str, size: usize) -> Result<Pool, DbError> {
    // No `SELECT 1` on every checkout (a round trip per request): a connection whose socket
    // closed, or that was left mid-transaction, is still discarded on return (`is_broken`).
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    DeadPool::builder(manager)
        .max_size(size)
        // A caller waiting longer than this for a connection gets an error, not a hang: an
        // exhausted pool shows up as failures (and retries), never as a silent stall.
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(POOL_WAIT))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| DbError::Pool(e.to_string()))
}

/// Applies every pending migration; returns the versions applied.
pub async fn migrate(url: &str) -> Result<Vec<String>, DbError> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn =
            <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)
                .map_err(|e| DbError::Connect(e.to_string()))?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| DbError::Migrate(e.to_string()))?;
        Ok(applied.iter().map(ToString::to_string).collect())
    })
    .await
    .map_err(|e| DbError::Migrate(e.to_string()))?
}

/// Reverts every migration, newest first (for the up/down/up check).
pub async fn revert_all(url: &str) -> Result<usize, DbError> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn =
            <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)
                .map_err(|e| DbError::Connect(e.to_string()))?;
        let reverted = conn
            .revert_all_migrations(MIGRATIONS)
            .map_err(|e| DbError::Migrate(e.to_string()))?;
        Ok(reverted.len())
    })
    .await
    .map_err(|e| DbError::Migrate(e.to_string()))?
}
