//! What certdesk's processes write to their logs, and what they never write.
//!
//! Lines are filtered by `RUST_LOG` (default `info`). Our own lines write phone and identity
//! numbers masked (`Phone::mask`, `CnIdNumber::mask`). Libraries know nothing of that. The
//! PostgreSQL client (`tokio_postgres`, whose `log` records are bridged into tracing) writes
//! every statement's parameters at `debug`: phone numbers, identity numbers, password hashes.
//! So [`QUIET`] holds such targets at `info` whatever `RUST_LOG` asks, even `trace` or a
//! directive naming them. An operator chasing a bug gets everything else.

use tracing::Level;
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::{Layer as _, fmt};

/// Library targets (and their modules) never logged below `info`: see the module docs.
pub const QUIET: &[&str] = &["tokio_postgres", "postgres_protocol"];

/// The filter `RUST_LOG` asks for (`spec`), `info` when absent or unreadable.
#[must_use]
pub fn env_filter(spec: Option<&str>) -> EnvFilter {
    spec.and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new("info"))
}

/// Whether a line of `target` at `level` may be written at all.
#[must_use]
pub fn allowed(target: &str, level: Level) -> bool {
    level <= Level::INFO
        || !QUIET.iter().any(|q| {
            target
                .strip_prefix(q)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

/// The subscriber of a process: text lines to `writer` (coloured when `ansi`: a terminal),
/// filtered by `spec` (`RUST_LOG`) and by [`allowed`]. Install it with
/// `SubscriberInitExt::try_init`, which also bridges the `log` records of libraries.
pub fn subscriber<W>(
    spec: Option<&str>,
    writer: W,
    ansi: bool,
) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::registry().with(
        fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer)
            .with_filter(env_filter(spec))
            .with_filter(filter_fn(|meta| allowed(meta.target(), *meta.level()))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_client_is_held_at_info_and_nothing_else_is() {
        assert!(!allowed("tokio_postgres::query", Level::DEBUG));
        assert!(!allowed("tokio_postgres", Level::TRACE));
        assert!(!allowed("postgres_protocol::message", Level::DEBUG));
        assert!(allowed("tokio_postgres::connection", Level::INFO));
        assert!(allowed("tokio_postgres", Level::WARN));
        // Only whole path segments: a crate that merely starts with the name is not held.
        assert!(allowed("tokio_postgres_extra", Level::DEBUG));
        assert!(allowed("certdesk_api::routes::auth", Level::TRACE));
    }
}
