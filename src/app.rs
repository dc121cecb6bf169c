//! Wiring: builds the runtime from the configuration and runs the processes.

use std::sync::Arc;

use anyhow::Context;
use certdesk_domain::calendar::BusinessCalendar;
use certdesk_domain::clock::{Clock, SystemClock};
use certdesk_engine::{Catalog, Environment, Templates};
use std::time::Duration;

use actix_web::web;
use certdesk_api::files::FileStore;
use certdesk_api::identity::{CodeKey, Identity, Limits};
use certdesk_api::{Backends, BoxFuture};
use certdesk_notify::{SandboxSms, SmtpConfig, SmtpSender};
use certdesk_runtime::Runtime;
use certdesk_runtime::outbox::Executor;
use certdesk_workers::effects::{Effects, NoticeConfig};
use certdesk_workers::metrics::{Metrics, RedisView};
use certdesk_workers::pipeline::Queue;
use certdesk_workers::process::WorkerSettings;
use certdesk_workers::supervise::shutdown_channel;

use crate::config::Config;

/// Loads definitions, templates, the calendar and the signing key, and connects the pool.
pub fn runtime(config: &Config) -> anyhow::Result<Runtime> {
    runtime_with_clock(config, Arc::new(SystemClock))
}

/// [`runtime`] reading time from `clock` (the demo loader backdates its requests).
pub fn runtime_with_clock(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Runtime> {
    runtime_sized(config, clock, config.db_pool)
}

/// A runtime for a process that also runs workers: each job in hand holds a connection for
/// the length of its effect, so the pool gets room for all of them plus the relay, the
/// scheduler and the API.
fn worker_runtime(config: &Config) -> anyhow::Result<Runtime> {
    let needed = config.consumers * config.concurrency + 4;
    if needed > config.db_pool {
        tracing::info!(
            db_pool = config.db_pool,
            needed,
            "widening the connection pool for the jobs in hand"
        );
    }
    runtime_sized(config, Arc::new(SystemClock), needed.max(config.db_pool))
}

fn runtime_sized(
    config: &Config,
    clock: Arc<dyn Clock>,
    pool_size: usize,
) -> anyhow::Result<Runtime> {
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
    let pool = certdesk_store::db::pool(config.database_url.expose(), pool_size)?;
    Ok(Runtime::new(pool, signer, clock, registry, env))
}

/// What `/readyz` and `/metrics` know beyond PostgreSQL.
struct ProcessBackends {
    runtime: Runtime,
    redis_url: String,
    queue: String,
    required: bool,
    metrics: Option<Arc<Metrics>>,
    /// Connected on first use and kept: its connection manager reconnects by itself.
    connected: tokio::sync::Mutex<Option<Queue>>,
}

/// Deadline of one Redis probe.
const REDIS_PROBE: Duration = Duration::from_secs(2);

impl ProcessBackends {
    async fn queue(&self) -> Option<Queue> {
        let mut connected = self.connected.lock().await;
        if connected.is_none() {
            *connected =
                tokio::time::timeout(REDIS_PROBE, Queue::connect(&self.redis_url, &self.queue))
                    .await
                    .ok()?
                    .ok();
        }
        connected.clone()
    }
}

impl Backends for ProcessBackends {
    fn redis_ok(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            match self.queue().await {
                Some(q) => matches!(
                    tokio::time::timeout(REDIS_PROBE, q.backlog()).await,
                    Ok(Ok(_))
                ),
                None => false,
            }
        })
    }

    fn redis_required(&self) -> bool {
        self.required
    }

    fn metrics(&self) -> BoxFuture<'_, String> {
        Box::pin(async move {
            let queue = self.queue().await;
            let redis = match &queue {
                Some(q) => RedisView::Up(q),
                None => RedisView::Down,
            };
            certdesk_workers::metrics::render(&self.runtime, redis, self.metrics.as_deref()).await
        })
    }
}

fn backends(
    config: &Config,
    runtime: &Runtime,
    required: bool,
    metrics: Option<Arc<Metrics>>,
) -> web::Data<Arc<dyn Backends>> {
    web::Data::new(Arc::new(ProcessBackends {
        runtime: runtime.clone(),
        redis_url: config.redis_url.expose().to_owned(),
        queue: config.queue.clone(),
        required,
        metrics,
        connected: tokio::sync::Mutex::new(None),
    }) as Arc<dyn Backends>)
}

/// The executor workers run: database actions, notices by SMTP and the SMS sandbox.
fn effects(config: &Config) -> anyhow::Result<Arc<dyn Executor>> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let email = SmtpSender::new(
        &SmtpConfig::new(config.smtp_url.expose(), &config.mail_from),
        clock.clone(),
    )
    .context("smtp_url / mail_from (CERTDESK_SMTP_URL / CERTDESK_MAIL_FROM)")?;
    // The sandbox stands in for an outside gateway: it gets its own connections, never the
    // ones jobs hold while they call it.
    let sms = SandboxSms::new(
        certdesk_store::db::pool(config.database_url.expose(), 4)?,
        clock.clone(),
    );
    let effects = Effects::new(
        &config.templates,
        Arc::new(email),
        Arc::new(sms),
        clock,
        NoticeConfig {
            brand: config.brand.clone(),
            app_url: config.app_url.clone(),
        },
        certdesk_store::db::pool(config.database_url.expose(), 4)?,
    )
    .with_context(|| format!("loading templates from {}", config.templates.display()))?;
    Ok(Arc::new(effects))
}

/// The key of the login-code hashes: `code_key` if set, else the file `code_key_file`, made
/// there on the first start (as `certdesk keys code-key` would). Every API process must use the
/// same key, or a code sent by one fails at another: several hosts share the file or set
/// `CERTDESK_CODE_KEY`, hence the warning when a key is made.
fn code_key(config: &Config) -> anyhow::Result<CodeKey> {
    if let Some(key) = &config.code_key {
        return Ok(key.clone());
    }
    let (key, created) = CodeKey::load_or_create(&config.code_key_file)
        .context("the login-code key (code_key_file / CERTDESK_CODE_KEY_FILE)")?;
    if created {
        tracing::warn!(
            path = %config.code_key_file.display(),
            "no login-code key: made a new one; every API process must share it (copy the file or set CERTDESK_CODE_KEY)"
        );
    }
    Ok(key)
}

/// Login by SMS code and password for the API: the SMS sandbox (on its own connections, as
/// for the workers), the key and the configured limits.
fn identity(config: &Config, key: CodeKey) -> anyhow::Result<Identity> {
    let sms = SandboxSms::new(
        certdesk_store::db::pool(config.database_url.expose(), 4)?,
        Arc::new(SystemClock),
    );
    let days = |n: usize| chrono::TimeDelta::days(i64::try_from(n).unwrap_or(i64::MAX));
    let limits = Limits {
        daily_codes_per_phone: i64::try_from(config.sms_daily_per_phone).unwrap_or(i64::MAX),
        daily_codes_per_ip: i64::try_from(config.sms_daily_per_ip).unwrap_or(i64::MAX),
        ip_failures: i64::try_from(config.login_failures_per_ip).unwrap_or(i64::MAX),
        token_ttl: days(config.token_days),
        ..Limits::default()
    };
    Ok(Identity::new(Arc::new(sms), key)
        .with_limits(limits)
        .with_brand(config.brand.clone()))
}

fn worker_settings(config: &Config) -> WorkerSettings {
    let mut settings = WorkerSettings::new(
        config.database_url.expose().to_owned(),
        config.redis_url.expose().to_owned(),
    );
    settings.queue = config.queue.clone();
    settings.consumers = config.consumers;
    settings.concurrency = config.concurrency;
    settings.relay.lease = Duration::from_secs(config.lease_secs as u64);
    settings
}

/// Resolves on SIGINT or SIGTERM.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves `/api/v1`, the `/admin` console, `/healthz`, `/readyz` and `/metrics` until
/// interrupted.
pub async fn serve(config: &Config) -> anyhow::Result<()> {
    let identity = identity(config, code_key(config)?)?;
    let runtime = runtime(config)?;
    runtime.sync_definitions().await?;
    http(config, &runtime, identity, None).await
}

/// The real-name provider `real_name_provider` names (validated with the config: `sandbox`).
fn real_name(config: &Config) -> certdesk_api::realname::RealName {
    let latency = std::time::Duration::from_millis(
        u64::try_from(config.real_name_sandbox_latency_ms).unwrap_or(u64::MAX),
    );
    certdesk_api::realname::RealName::sandbox(latency)
}

/// The JSON API's state as `serve` has it: uploads in `files_dir`, the sandbox real-name
/// provider.
fn api_state(
    config: &Config,
    runtime: &Runtime,
    identity: Identity,
) -> anyhow::Result<certdesk_api::ApiState> {
    let files = FileStore::local(&config.files_dir).with_context(|| {
        format!(
            "opening the files folder {} (files_dir / CERTDESK_FILES_DIR)",
            config.files_dir.display()
        )
    })?;
    Ok(certdesk_api::ApiState {
        runtime: runtime.clone(),
        files,
        identity,
        real_name: real_name(config),
    })
}

/// The API's state for the demo loader, with `serve`'s login-code key (which keys the ID digests
/// too).
pub(crate) fn demo_api_state(
    config: &Config,
    runtime: &Runtime,
) -> anyhow::Result<certdesk_api::ApiState> {
    api_state(config, runtime, identity(config, code_key(config)?)?)
}

async fn http(
    config: &Config,
    runtime: &Runtime,
    identity: Identity,
    metrics: Option<Arc<Metrics>>,
) -> anyhow::Result<()> {
    let state = web::Data::new(api_state(config, runtime, identity)?);
    let files = state.files.clone();
    let backends = backends(config, runtime, false, metrics);
    let settings = certdesk_admin::Settings::new(config.admin_origin.clone())
        .with_reasons_file(&config.templates.join("reasons.toml"))
        .map_err(|e| anyhow::anyhow!("reading the reason titles: {e}"))?;
    let admin = web::Data::new(
        certdesk_admin::AdminState::new(runtime.clone(), settings)
            .map_err(|e| anyhow::anyhow!("compiling the console's templates: {e}"))?
            .with_files(files.clone()),
    );
    tracing::info!(listen = %config.listen, admin_origin = %config.admin_origin, "serving");
    actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .app_data(backends.clone())
            .app_data(admin.clone())
            .configure(certdesk_api::configure)
            .configure(certdesk_admin::configure)
    })
    .bind(config.listen)
    .with_context(|| format!("binding {}", config.listen))?
    .run()
    .await?;
    Ok(())
}

/// Runs relay, consumers and the timer scheduler until SIGINT/SIGTERM; serves `/healthz`,
/// `/readyz` (PostgreSQL and Redis) and `/metrics` on `worker_listen`.
pub async fn work(config: &Config) -> anyhow::Result<()> {
    let runtime = worker_runtime(config)?;
    runtime.sync_definitions().await?;
    let executor = effects(config)?;
    let metrics = Arc::new(Metrics::default());
    // The probes never send or check a code: a throw-away key keeps `work` free of the
    // login-code key it has no use for.
    let state = web::Data::new(certdesk_api::ApiState {
        runtime: runtime.clone(),
        // This server mounts the probes only: it serves no uploads, so it needs no folder.
        files: FileStore::in_memory(),
        identity: identity(config, CodeKey::generate()?)?,
        // Probes never verify anyone.
        real_name: real_name(config),
    });
    let backends = backends(config, &runtime, true, Some(metrics.clone()));
    let probes = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .app_data(backends.clone())
            .configure(certdesk_api::configure_probes)
    })
    .workers(1)
    .disable_signals()
    .bind(config.worker_listen)
    .with_context(|| format!("binding {} (worker_listen)", config.worker_listen))?
    .run();
    let probes_handle = probes.handle();
    let probes = tokio::spawn(probes);
    let (trigger, shutdown) = shutdown_channel();
    tracing::info!(listen = %config.worker_listen, consumers = config.consumers, "working");
    let workers = tokio::spawn(certdesk_workers::process::run(
        runtime,
        worker_settings(config),
        executor,
        metrics,
        shutdown,
    ));
    terminated().await;
    tracing::info!("shutting down: finishing jobs in hand");
    trigger.trigger();
    let summary = workers.await?;
    tracing::info!(?summary, "workers stopped");
    probes_handle.stop(true).await;
    let _ = probes.await;
    Ok(())
}

/// `serve` and `work` in one process (the README's run command).
pub async fn all(config: &Config) -> anyhow::Result<()> {
    let identity = identity(config, code_key(config)?)?;
    let runtime = worker_runtime(config)?;
    runtime.sync_definitions().await?;
    let executor = effects(config)?;
    let metrics = Arc::new(Metrics::default());
    let (trigger, shutdown) = shutdown_channel();
    let workers = tokio::spawn(certdesk_workers::process::run(
        runtime.clone(),
        worker_settings(config),
        executor,
        metrics.clone(),
        shutdown,
    ));
    // The HTTP server stops on SIGINT/SIGTERM; the workers follow.
    let served = http(config, &runtime, identity, Some(metrics)).await;
    trigger.trigger();
    let summary = workers.await?;
    tracing::info!(?summary, "workers stopped");
    served
}
