//! certdesk's integration tests: one binary, one module per area.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on broken set-up"
)]

mod support;

mod audit_cli;
mod chaos;
mod cli;
mod demo;
mod docs;
mod drawing;
mod engine_properties;
mod join_request;
mod serve_cli;
mod validation;
