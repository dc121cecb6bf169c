//! Test support shared by certdesk's test suites (a dev-dependency only; it may panic).
//!
//! * [`redis_server`]: a private `redis-server` per test on a free port (DECISIONS 9), the
//!   cross-binary lock that serialises such tests, and polling with a deadline;
//! * [`smtp`]: a real SMTP server (aiosmtpd from the repository's `.venv`) writing a maildir;
//! * [`join`]: join requests submitted and decided through a runtime;
//! * [`runtime`]: a [`certdesk_runtime::Runtime`] over the product's `workflows/` and
//!   `templates/`, for a given database and clock.

pub mod join;
pub mod redis_server;
pub mod runtime;
pub mod smtp;

pub use redis_server::{RedisServer, SerialGuard, serial, wait_until};
pub use smtp::{ReceivedMail, SmtpServer};

/// A loopback port nobody listened on a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free loopback port")
}
