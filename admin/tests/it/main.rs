//! Integration tests of the console over a real PostgreSQL database and an actix test server.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "tests fail loudly"
)]

mod support;

mod decide;
mod documents;
mod inbox;
mod reveal;
mod signin;
mod supervise;
mod view;
