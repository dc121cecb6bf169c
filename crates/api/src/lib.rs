//! The JSON API under `/api/v1` that the phone apps call, and the `/healthz` and `/readyz`
//! probes.
//!
//! This crate owns the HTTP edge of certdesk's applicant-facing side: routing, bearer-token
//! authentication, request ids, the `application/problem+json` error shape (RFC 9457,
//! DECISIONS 6) and the checks a request must pass before the durable runtime is asked to do
//! anything. It never changes workflow state itself: every state change goes through
//! [`certdesk_runtime::Runtime`], which writes it in one transaction with its history and
//! outbox rows. It reads (and, for bearer tokens, logins, the verify-admin lockout and
//! uploaded files, writes) a few tables of `certdesk-store` directly; [`identity`] owns
//! applicant login, [`realname`] the real-name provider, and uploaded bytes go to the
//! [`files::FileStore`].
//!
//! Mount it with [`configure`] on an [`actix_web::App`] that holds a
//! `web::Data<`[`ApiState`]`>`:
//!
//! ```no_run
//! # fn mount(runtime: certdesk_runtime::Runtime, identity: certdesk_api::identity::Identity) {
//! use actix_web::{App, web};
//! let files = certdesk_api::files::FileStore::in_memory();
//! let real_name = certdesk_api::realname::RealName::sandbox(std::time::Duration::ZERO);
//! let app = App::new()
//!     .app_data(web::Data::new(certdesk_api::ApiState { runtime, identity, files, real_name }))
//!     .configure(certdesk_api::configure);
//! # let _ = app;
//! # }
//! ```

mod auth;
mod db;
mod extract;
pub mod files;
mod health;
pub mod idempotency;
pub mod identity;
pub mod logging;
pub mod mask;
pub mod openapi;
mod page;
mod problem;
pub mod realname;
mod request_id;
mod routes;
pub mod sample;

use actix_web::middleware::from_fn;
use actix_web::web;

pub use auth::{Caller, TokenError, issue_token};
pub use health::{Backends, BoxFuture};
pub use problem::{ApiError, FieldProblem, PROBLEM_JSON};
pub use request_id::{REQUEST_ID_HEADER, RequestId};

/// What every handler shares: the durable runtime (and through it the pool and the clock).
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The workflow runtime.
    pub runtime: certdesk_runtime::Runtime,
    /// Login by SMS code and password: the SMS gateway, the code key and the limits.
    pub identity: identity::Identity,
    /// Where uploaded files' bytes live.
    pub files: files::FileStore,
    /// The real-name provider (three-element and face checks) with its retry policy.
    pub real_name: realname::RealName,
}

/// Mounts `/api/v1`, `/healthz`, `/readyz` and `/metrics` (404 without [`Backends`]), with
/// the OpenAPI document at `/api/v1/openapi.json` and Swagger UI at `/api/v1/docs/`.
///
/// The app must hold a `web::Data<ApiState>`; without it every request answers a 500
/// problem. Every route answers errors as `application/problem+json` and echoes a request id
/// in `X-Request-Id`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    configure_probes(cfg);
    openapi::configure_docs(cfg);
    cfg.service(
        web::scope("/api/v1")
            // Inner first: the request-id middleware renders the idempotency one's problems.
            .wrap(from_fn(idempotency::middleware))
            .wrap(from_fn(request_id::middleware))
            .app_data(extract::json_config())
            .app_data(extract::path_config())
            .app_data(extract::query_config())
            .configure(routes::configure)
            .default_service(web::to(routes::not_found)),
    );
}

/// Mounts only `/healthz`, `/readyz` and `/metrics`: what a worker process serves.
pub fn configure_probes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz")
            .wrap(from_fn(request_id::middleware))
            .route(web::get().to(health::healthz))
            .default_service(web::to(routes::method_not_allowed)),
    )
    .service(
        web::resource("/readyz")
            .wrap(from_fn(request_id::middleware))
            .route(web::get().to(health::readyz))
            .default_service(web::to(routes::method_not_allowed)),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(health::metrics))
            .default_service(web::to(routes::method_not_allowed)),
    );
}
