//! The `/admin` console staff work in: server-rendered zh-CN pages from the handlebars
//! templates in `admin/templates/`, no front-end build step and nothing from a CDN.
//!
//! This slice: staff sign-in with password and TOTP ([`staff`], [`totp`]), sessions with
//! CSRF and origin checks in front of every route ([`session`]), and the task inbox with
//! claim / unclaim and a read-only task page ([`inbox`], [`pages`]). Workflow state never
//! changes here: claiming writes only `tasks.claimed_by`; decisions (the next slice) will go
//! through [`certdesk_runtime::Runtime`].
//!
//! Supervisor pages ([`access`] says who opens which): the dashboard and reassigning
//! ([`supervise`], charts from [`chart`]), instance search and pages ([`instances`]), staff and
//! roles ([`people`]), definitions, dead jobs and the audit ([`ops`]); [`view`] holds the
//! timeline and diagram pieces pages share. Reassigning writes `tasks.claimed_by` and a
//! `console_events` row, never workflow state.
//!
//! Mount it with [`configure`] on an app holding a `web::Data<`[`AdminState`]`>`.

pub mod access;
pub mod chart;
pub mod inbox;
pub mod instances;
pub mod ops;
pub mod pages;
pub mod people;
pub mod session;
pub mod staff;
pub mod supervise;
pub mod totp;
pub mod view;

use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::web;
use chrono::TimeDelta;
use handlebars::Handlebars;

/// Console settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The console's public origin (`scheme://host[:port]`, no path): every POST must come
    /// from it (`admin_origin` / `CERTDESK_ADMIN_ORIGIN`).
    pub origin: String,
    /// A session ends after this long without a request.
    pub idle: TimeDelta,
    /// A session ends this long after sign-in, however busy.
    pub absolute: TimeDelta,
    /// Failed sign-ins before a lock, and the lock's length.
    pub policy: staff::Policy,
}

impl Settings {
    /// Defaults (30 min idle, 12 h absolute, 5 failures lock for 15 min) for `origin`.
    #[must_use]
    pub fn new(origin: impl Into<String>) -> Self {
        Self {
            origin: origin.into().trim_end_matches('/').to_owned(),
            idle: TimeDelta::minutes(30),
            absolute: TimeDelta::hours(12),
            policy: staff::Policy::default(),
        }
    }
}

/// What every console handler shares.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// The workflow runtime (pool, clock, definitions).
    pub runtime: certdesk_runtime::Runtime,
    /// Settings.
    pub settings: Settings,
    templates: Arc<Handlebars<'static>>,
}

impl AdminState {
    /// Builds the state, compiling the templates built into the binary.
    ///
    /// # Errors
    ///
    /// When a template does not compile (a build defect; a test catches it).
    pub fn new(
        runtime: certdesk_runtime::Runtime,
        settings: Settings,
    ) -> Result<Self, Box<handlebars::TemplateError>> {
        Ok(Self {
            runtime,
            settings,
            templates: Arc::new(pages::templates().map_err(Box::new)?),
        })
    }
}

/// Mounts `/admin` (every route behind [`session::guard`]).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .wrap(from_fn(session::guard))
            .configure(pages::routes)
            .configure(instances::routes)
            .configure(supervise::routes)
            .configure(people::routes)
            .configure(ops::routes)
            .default_service(web::to(pages::not_found)),
    );
}
