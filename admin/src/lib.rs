//! The `/admin` console staff work in: server-rendered zh-CN pages from the handlebars
//! templates in `admin/templates/`, no front-end build step and nothing from a CDN.
//!
//! Staff sign-in with password and TOTP ([`staff`], [`totp`]), sessions with CSRF and origin
//! checks in front of every route ([`session`]), the task inbox with claim / unclaim
//! ([`inbox`], [`pages`]), decisions on the task page ([`decide`]) and the uploaded documents
//! it shows inline ([`documents`]). Claiming writes only `tasks.claimed_by`; every workflow
//! state change (a decision) goes through [`certdesk_runtime::Runtime::command`].
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
pub mod decide;
pub mod documents;
pub mod inbox;
pub mod instances;
pub mod ops;
pub mod pages;
pub mod people;
pub mod reveal;
pub mod session;
pub mod staff;
pub mod supervise;
pub mod totp;
pub mod view;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::web;
use certdesk_api::files::FileStore;
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
    /// Chinese titles of reason codes (`templates/reasons.toml`); a code without one is shown
    /// as itself.
    pub reasons: BTreeMap<String, String>,
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
            reasons: BTreeMap::new(),
        }
    }

    /// These settings with the reason titles of `reasons.toml` (see [`decide::load_reasons`]).
    ///
    /// # Errors
    ///
    /// When the file exists but cannot be read or parsed.
    pub fn with_reasons_file(mut self, path: &Path) -> Result<Self, String> {
        self.reasons = decide::load_reasons(path)?;
        Ok(self)
    }
}

/// What every console handler shares.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// The workflow runtime (pool, clock, definitions).
    pub runtime: certdesk_runtime::Runtime,
    /// Settings.
    pub settings: Settings,
    /// Where uploaded files' bytes live (the documents shown on task pages).
    pub files: FileStore,
    templates: Arc<Handlebars<'static>>,
}

impl AdminState {
    /// Builds the state, compiling the templates built into the binary. Its file store is
    /// empty (in memory) until [`AdminState::with_files`] gives it the API's.
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
            files: FileStore::in_memory(),
            templates: Arc::new(pages::templates().map_err(Box::new)?),
        })
    }

    /// This state reading uploaded documents from `files` (the store the API writes to).
    #[must_use]
    pub fn with_files(mut self, files: FileStore) -> Self {
        self.files = files;
        self
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
