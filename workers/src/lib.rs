//! Background workers of certdesk.
//!
//! Side effects (bank calls, e-mail, SMS, invoicing) run as apalis-redis jobs that a relay feeds
//! from the PostgreSQL outbox:
//!
//! * [`pipeline`]: relay, sweeper, consumers and the timer scheduler;
//! * [`process`]: all of them started together under supervision (`certdesk work`);
//! * [`effects`]: what a delivered outbox row does (actions, notification fan-out, sends);
//! * [`metrics`]: the Prometheus exposition of the pipeline;
//!
//! * [`naming`]: worker names unique per process start. apalis-redis refuses to register a name
//!   whose last heartbeat is recent, so a restarted process must never reuse its old name
//!   (DEPENDENCIES G2).
//! * [`supervise`]: a restart loop with capped exponential backoff around a worker's `run()`.
//!   apalis-redis 1.0 ends `run()` with an error on any backend failure (a Redis restart, a Lua
//!   error such as the unpack limit of G1) and does not resume by itself: its connection
//!   manager reconnects, the worker does not. Start each run under a fresh [`naming`] name.
//!
//! The behaviour of apalis-redis 1.0.0 this design rests on is pinned down by the integration
//! tests in `tests/apalis_redis_claims.rs`, each run against its own `redis-server`.

pub mod effects;
pub mod metrics;
pub mod naming;
pub mod pipeline;
pub mod process;
pub mod supervise;
