//! Pure business vocabulary shared by every certdesk crate.
//!
//! This crate owns values whose rules come from standards and the manuals (USCC, resident ID,
//! phone numbers, money in fen, Beijing business hours). It performs no I/O and reads no clock
//! except through [`clock::Clock`], so everything here is deterministic and unit-testable.

pub mod calendar;
pub mod clock;
pub mod ident;
pub mod money;
