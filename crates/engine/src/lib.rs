//! The pure workflow engine of certdesk.
//!
//! Approval chains are declarative definitions (TOML files in `workflows/`). This crate owns
//! their model ([`raw`] as written, [`def`] as compiled), loading and validation ([`load`],
//! [`validate`], [`lock`]), the catalog of names they may use ([`catalog`]), and the step
//! function ([`step()`]) that applies one event to one instance. It performs no I/O besides
//! reading definition files on request, reads no clock, and knows nothing of databases, queues
//! or HTTP: the runtime crate wraps it in transactions.

pub mod catalog;
pub mod def;
pub mod form;
pub mod graph;
pub mod input;
pub mod load;
pub mod lock;
pub mod raw;
pub mod step;
pub mod validate;

pub use catalog::Catalog;
pub use def::{Definition, StateId};
pub use load::{DefinitionError, Environment, Registry, Source, Templates, load_dir, load_sources};
pub use step::{
    Actor, ActorId, Decision, Effect, Event, Instance, Status, StepError, Stepped, TimerKey,
    TimerSlot, step,
};
