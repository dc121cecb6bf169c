//! The durable runtime: the pure engine wrapped in PostgreSQL transactions.
//!
//! Applying an event locks the instance row, runs [`certdesk_engine::step()`], and writes in
//! ONE transaction the new instance state, the task and timer rows, one outbox row per action
//! or notification, and a signed, hash-chained history entry. Two deciders racing on one task
//! are serialised by the row lock: the first wins, the second gets the engine's "task not
//! open", which the API answers with 409. Timers are rows claimed by locking their instance
//! with `FOR UPDATE SKIP LOCKED`, so any number of schedulers may run.
//!
//! Time comes from a [`Clock`]; tests move a manual clock and call [`Runtime::fire_due_timers`].

pub mod actions;
mod apply;
pub mod audit;
mod error;
pub mod outbox;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use certdesk_audit::Signer;
use certdesk_domain::clock::Clock;
use certdesk_engine::{Definition, Environment, Registry};
use certdesk_store::db::Pool;

pub use apply::{Command, Started};
pub use error::RuntimeError;

/// Everything the runtime needs, shared by API handlers, workers and schedulers.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    signer: Signer,
    clock: Arc<dyn Clock>,
    /// The newest version of each definition, from `workflows/`.
    current: Registry,
    /// Environment for compiling older versions read back from the database.
    env: Environment,
    /// Older versions compiled on first use.
    versions: RwLock<HashMap<(String, u32), Arc<Definition>>>,
    /// Set once [`Runtime::sync_definitions`] has recorded `current` in the database: no
    /// instance starts on a version the database does not hold (the table is what a stored
    /// instance's version is resolved against; there is no foreign key doing it per insert).
    synced: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("definitions", &self.inner.current.len())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds a runtime. `current` holds the definitions new instances use; `env` compiles
    /// older versions that running instances still need.
    pub fn new(
        pool: Pool,
        signer: Signer,
        clock: Arc<dyn Clock>,
        current: Registry,
        env: Environment,
    ) -> Self {
        let mut versions = HashMap::new();
        for def in current.iter() {
            versions.insert((def.name.clone(), def.version), Arc::clone(def));
        }
        Runtime {
            inner: Arc::new(Inner {
                pool,
                signer,
                clock,
                current,
                env,
                versions: RwLock::new(versions),
                synced: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// The connection pool.
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    /// The history signer (its public key is what `audit verify` checks against).
    pub fn signer(&self) -> &Signer {
        &self.inner.signer
    }

    /// The business-hours calendar definitions are compiled with (SLA and dashboard figures).
    pub fn calendar(&self) -> &certdesk_domain::calendar::BusinessCalendar {
        &self.inner.env.calendar
    }

    /// The newest definition of this name.
    pub fn definition(&self, name: &str) -> Option<&Arc<Definition>> {
        self.inner.current.get(name)
    }
}
