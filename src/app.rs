//! Wiring: builds the runtime from the configuration and runs the processes.

use std::sync::Arc;

use anyhow::Context;
use certdesk_domain::calendar::BusinessCalendar;
use certdesk_domain::clock::SystemClock;
use certdesk_engine::{Catalog, Environment, Templates};
use certdesk_runtime::Runtime;

use crate::config::Config;

/// Loads definitions, templates, the calendar and the signing key, and connects the pool.
pub fn runtime(config: &Config) -> anyhow::Result<Runtime> {
    let registry =
        certdesk_engine::load_dir(&config.workflows, &config.templates, Catalog::standard())
            .map_err(|errors| {
                let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                anyhow::anyhow!("workflow definitions are invalid:\n{}", lines.join("\n"))
            })?;
    let holidays = config.workflows.join("holidays.toml");
    let calendar = BusinessCalendar::from_toml_str(
        &std::fs::read_to_string(&holidays)
            .with_context(|| format!("reading {}", holidays.display()))?,
    )?;
    let env = Environment {
        catalog: Catalog::standard(),
        templates: Templates::scan(&config.templates)
            .with_context(|| format!("reading {}", config.templates.display()))?,
        calendar: Arc::new(calendar),
        lock: None,
    };
    let signer = certdesk_audit::Signer::load_private_key(&config.signing_key, &config.sm2_distid)
        .with_context(|| {
            format!(
                "loading the signing key {} (create one with `certdesk keys generate`)",
                config.signing_key.display()
            )
        })?;
    let pool = certdesk_store::db::pool(config.database_url.expose(), config.db_pool)?;
    Ok(Runtime::new(
        pool,
        signer,
        Arc::new(SystemClock),
        registry,
        env,
    ))
}

/// Serves `/api/v1`, `/healthz` and `/readyz` until interrupted.
pub async fn serve(config: &Config) -> anyhow::Result<()> {
    let runtime = runtime(config)?;
    runtime.sync_definitions().await?;
    let state = actix_web::web::Data::new(certdesk_api::ApiState { runtime });
    tracing::info!(listen = %config.listen, "serving");
    actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .configure(certdesk_api::configure)
    })
    .bind(config.listen)
    .with_context(|| format!("binding {}", config.listen))?
    .run()
    .await?;
    Ok(())
}
