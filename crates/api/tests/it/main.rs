//! The `/api/v1` API against a real PostgreSQL (one test database per test).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

#[macro_use]
mod support;

mod access;
mod admin_transfers;
mod enterprises;
mod files;
mod health;
mod idempotency;
mod join_requests;
mod leave_requests;
mod login;
mod memberships;
mod openapi;
mod pagination;
mod privacy;
mod problems;
mod real_name;
