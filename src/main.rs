//! The `certdesk` command line: one binary whose subcommands run, inspect and operate the
//! back office. Subcommands arrive with the parts they drive.

mod app;
mod config;
mod demo;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use certdesk_engine::{Catalog, DefinitionError, load, lock, validate};
use clap::{Parser, Subcommand, ValueEnum};

/// certdesk — the back office behind a certificate authority's mobile apps.
#[derive(Debug, Parser)]
#[command(name = "certdesk", version, about)]
struct Cli {
    /// Configuration file [default: certdesk.toml if present]; environment variables win.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check, draw and lock workflow definitions.
    #[command(subcommand)]
    Workflows(Workflows),
    /// Print the effective configuration (secrets redacted) and where each value came from.
    Config,
    /// Apply pending database migrations to DATABASE_URL.
    Migrate,
    /// Serve the JSON API (/api/v1), /healthz, /readyz and /metrics on CERTDESK_LISTEN.
    Serve,
    /// Run the workers: relay (outbox → Redis), consumers (effects, notices) and the timer
    /// scheduler; /healthz, /readyz and /metrics on CERTDESK_WORKER_LISTEN.
    Work,
    /// Run `serve` and `work` in one process.
    All,
    /// Load demo data (staff, applicants, enterprises, join requests in every state) into a
    /// migrated database; running it again changes nothing. Prints the demo bearer tokens.
    Demo,
    /// Inspect and revive effects that failed for good.
    #[command(subcommand)]
    Jobs(Jobs),
    /// Manage the SM2 key that signs the decision history and the key of login-code hashes.
    #[command(subcommand)]
    Keys(Keys),
    /// Verify or export the signed decision history.
    #[command(subcommand)]
    Audit(Audit),
    /// Staff accounts of the /admin console.
    #[command(subcommand)]
    Staff(Staff),
}

#[derive(Debug, Subcommand)]
enum Staff {
    /// Create a staff account; prints a one-time password (replaced at the first sign-in) and
    /// the otpauth:// URI to add to an authenticator app.
    Add {
        /// The person's name.
        #[arg(long)]
        name: String,
        /// Mobile number they sign in with.
        #[arg(long)]
        phone: Option<String>,
        /// E-mail address they sign in with.
        #[arg(long)]
        email: Option<String>,
        /// A role (repeat for several): cs_reviewer, finance, finance_lead, supervisor, sys_admin.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Print the current TOTP code of a DEMO staff account (refuses any other account).
    Totp {
        /// Phone or e-mail the account signs in with.
        user: String,
    },
}

#[derive(Debug, Subcommand)]
enum Jobs {
    /// List dead effects with their last error, newest first.
    Dead {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Make a dead effect owed again (attempts reset); a worker picks it up.
    Retry {
        /// The effect (outbox) id.
        id: uuid::Uuid,
    },
}

#[derive(Debug, Subcommand)]
enum Keys {
    /// Generate a new SM2 signing key at the configured path (refuses to overwrite).
    Generate {
        /// Where to write the private key [default: the configured signing_key].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Generate the secret that keys the hashes of SMS login codes, at the configured
    /// code_key_file (refuses to overwrite; `serve` makes one when it is missing). Every API
    /// process must share it.
    CodeKey {
        /// Where to write it [default: the configured code_key_file].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum Audit {
    /// Check every history entry (or one instance's): names each edited, deleted, inserted or
    /// reordered row; exits non-zero on any finding.
    Verify {
        /// Only this instance.
        #[arg(long)]
        instance: Option<uuid::Uuid>,
    },
    /// Write one instance's entries, signatures and public key so OpenSSL 3 can verify them
    /// without certdesk (see scripts/verify-audit-export.sh).
    Export {
        /// The instance.
        instance: uuid::Uuid,
        /// Output folder (created).
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum Workflows {
    /// Validate every definition in DIR; prints every error and exits non-zero on any.
    Check {
        /// Folder of definitions (with holidays.toml and versions.lock).
        #[arg(default_value = "workflows")]
        dir: PathBuf,
        /// Folder of notification templates [default: DIR/../templates].
        #[arg(long)]
        templates: Option<PathBuf>,
    },
    /// Draw one definition as Mermaid text or SVG on standard output.
    Show {
        /// Definition name.
        name: String,
        /// Folder of definitions.
        #[arg(long, default_value = "workflows")]
        dir: PathBuf,
        /// Folder of notification templates [default: DIR/../templates].
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Mermaid)]
        format: Format,
        /// A state to highlight, as the console does for an instance's current state.
        #[arg(long)]
        current: Option<String>,
    },
    /// Record new definition versions in DIR/versions.lock (never rewrites an existing entry).
    Lock {
        /// Folder of definitions.
        #[arg(default_value = "workflows")]
        dir: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Mermaid,
    Svg,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "certdesk: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Config => {
            let c = config::Config::load(cli.config.as_deref())?;
            writeln!(out, "database_url = {:?}", c.database_url)?;
            writeln!(out, "redis_url    = {:?}", c.redis_url)?;
            writeln!(out, "listen       = {}", c.listen)?;
            writeln!(out, "signing_key  = {}", c.signing_key.display())?;
            writeln!(out, "sm2_distid   = {}", c.sm2_distid)?;
            writeln!(out, "workflows    = {}", c.workflows.display())?;
            writeln!(out, "templates    = {}", c.templates.display())?;
            writeln!(out, "db_pool      = {}", c.db_pool)?;
            writeln!(out, "smtp_url     = {:?}", c.smtp_url)?;
            writeln!(out, "mail_from    = {}", c.mail_from)?;
            writeln!(out, "brand        = {}", c.brand)?;
            writeln!(out, "app_url      = {}", c.app_url)?;
            writeln!(out, "queue        = {}", c.queue)?;
            writeln!(out, "consumers    = {}", c.consumers)?;
            writeln!(out, "concurrency  = {}", c.concurrency)?;
            writeln!(out, "worker_listen = {}", c.worker_listen)?;
            writeln!(out, "lease_secs   = {}", c.lease_secs)?;
            writeln!(out, "files_dir    = {}", c.files_dir.display())?;
            writeln!(
                out,
                "code_key     = {}",
                if c.code_key.is_some() {
                    "*** (CERTDESK_CODE_KEY)"
                } else {
                    "- (read from code_key_file)"
                }
            )?;
            writeln!(out, "code_key_file = {}", c.code_key_file.display())?;
            writeln!(out, "sms_daily_per_phone = {}", c.sms_daily_per_phone)?;
            writeln!(out, "sms_daily_per_ip = {}", c.sms_daily_per_ip)?;
            writeln!(out, "login_failures_per_ip = {}", c.login_failures_per_ip)?;
            writeln!(out, "token_days   = {}", c.token_days)?;
            writeln!(out, "admin_origin = {}", c.admin_origin)?;
            writeln!(out, "real_name_provider = {}", c.real_name_provider)?;
            writeln!(
                out,
                "real_name_sandbox_latency_ms = {}",
                c.real_name_sandbox_latency_ms
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            let config = config::Config::load(cli.config.as_deref())?;
            init_logs();
            tokio_runtime()?.block_on(app::serve(&config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Work => {
            let config = config::Config::load(cli.config.as_deref())?;
            init_logs();
            tokio_runtime()?.block_on(app::work(&config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::All => {
            let config = config::Config::load(cli.config.as_deref())?;
            init_logs();
            tokio_runtime()?.block_on(app::all(&config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => {
            let config = config::Config::load(cli.config.as_deref())?;
            let summary = tokio_runtime()?.block_on(demo::load(&config))?;
            write!(out, "{summary}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Jobs(jobs) => {
            let config = config::Config::load(cli.config.as_deref())?;
            let runtime = app::runtime(&config)?;
            let rt = tokio_runtime()?;
            match jobs {
                Jobs::Dead { limit } => {
                    let dead = rt.block_on(runtime.dead_effects(limit))?;
                    for row in &dead {
                        writeln!(
                            out,
                            "{}  {} {}  attempts={}  instance={}  created={}\n    last error: {}",
                            row.id,
                            row.kind,
                            row.name,
                            row.attempts,
                            row.instance_id
                                .map(|i| i.to_string())
                                .unwrap_or_else(|| "-".into()),
                            row.created_at.to_rfc3339(),
                            row.last_error.as_deref().unwrap_or("-"),
                        )?;
                    }
                    writeln!(out, "{} dead job(s)", dead.len())?;
                }
                Jobs::Retry { id } => {
                    rt.block_on(runtime.retry_effect(id))?;
                    writeln!(out, "{id} is owed again")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let config = config::Config::load(cli.config.as_deref())?;
            let applied = tokio_runtime()?
                .block_on(certdesk_store::db::migrate(config.database_url.expose()))?;
            writeln!(out, "{} migration(s) applied", applied.len())?;
            for version in applied {
                writeln!(out, "  {version}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(Keys::Generate { out: path }) => {
            let path = match path {
                Some(p) => p,
                None => config::Config::load(cli.config.as_deref())?.signing_key,
            };
            if path.exists() {
                bail!(
                    "{} exists: a signing key is never overwritten (move it away first)",
                    path.display()
                );
            }
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let signer = certdesk_audit::Signer::generate();
            signer
                .save_private_key(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            writeln!(
                out,
                "wrote {} (key id {}, distid {})",
                path.display(),
                signer.key_id(),
                signer.distid()
            )?;
            out.write_all(signer.public_key_pem()?.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(Keys::CodeKey { out: path }) => {
            let path = match path {
                Some(p) => p,
                None => config::Config::load(cli.config.as_deref())?.code_key_file,
            };
            if path.exists() {
                bail!(
                    "{} exists: a login-code key is never overwritten (codes in flight would fail)",
                    path.display()
                );
            }
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            certdesk_api::identity::CodeKey::generate()?
                .save(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            writeln!(out, "wrote {} (32 random bytes, hex)", path.display())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(audit) => {
            let config = config::Config::load(cli.config.as_deref())?;
            let signer =
                certdesk_audit::Signer::load_private_key(&config.signing_key, &config.sm2_distid)
                    .with_context(|| {
                    format!("loading the signing key {}", config.signing_key.display())
                })?;
            let pool = certdesk_store::db::pool(config.database_url.expose(), 2)?;
            let rt = tokio_runtime()?;
            match audit {
                Audit::Verify { instance } => {
                    let verifier = certdesk_audit::Verifier::from_signer(&signer);
                    let findings =
                        rt.block_on(certdesk_runtime::audit::verify(&pool, &verifier, instance))?;
                    if findings.is_empty() {
                        writeln!(out, "history intact")?;
                        return Ok(ExitCode::SUCCESS);
                    }
                    for f in &findings {
                        writeln!(out, "FAIL {f}")?;
                    }
                    writeln!(out, "{} finding(s)", findings.len())?;
                    Ok(ExitCode::FAILURE)
                }
                Audit::Export { instance, dir } => {
                    let entries =
                        rt.block_on(certdesk_runtime::audit::history_of(&pool, instance))?;
                    if entries.is_empty() {
                        bail!("instance {instance} has no history");
                    }
                    certdesk_audit::export(
                        &signer.public_key_pem()?,
                        signer.distid(),
                        &entries,
                        &dir,
                    )?;
                    writeln!(out, "wrote {} entries to {}", entries.len(), dir.display())?;
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Command::Staff(command) => {
            let config = config::Config::load(cli.config.as_deref())?;
            let pool = certdesk_store::db::pool(config.database_url.expose(), 2)?;
            let rt = tokio_runtime()?;
            let now = certdesk_domain::clock::Clock::now(&certdesk_domain::clock::SystemClock);
            rt.block_on(async {
                let mut conn = pool.get().await.context("connecting to PostgreSQL")?;
                match command {
                    Staff::Add {
                        name,
                        phone,
                        email,
                        roles,
                    } => {
                        let new = certdesk_admin::staff::add(
                            &mut conn,
                            &name,
                            phone.as_deref(),
                            email.as_deref(),
                            &roles,
                            now,
                        )
                        .await?;
                        writeln!(
                            out,
                            "staff account {} created ({})",
                            new.user_id,
                            roles.join(", ")
                        )?;
                        writeln!(
                            out,
                            "one-time password (to be replaced at the first sign-in): {}",
                            new.password
                        )?;
                        writeln!(
                            out,
                            "authenticator app (scan or paste): {}",
                            new.otpauth_uri
                        )?;
                        writeln!(out, "sign in at {}/admin/login", config.admin_origin)?;
                    }
                    Staff::Totp { user } => {
                        let code = certdesk_admin::staff::demo_code(&mut conn, &user, now).await?;
                        writeln!(out, "{code}")?;
                    }
                }
                anyhow::Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Workflows(Workflows::Check { dir, templates }) => {
            let templates = templates.unwrap_or_else(|| sibling(&dir, "templates"));
            match load::load_dir(&dir, &templates, Catalog::standard()) {
                Ok(registry) => {
                    for def in registry.iter() {
                        writeln!(
                            out,
                            "ok  {} v{} ({} states)  {}",
                            def.name,
                            def.version,
                            def.states.len(),
                            def.source.display()
                        )?;
                    }
                    writeln!(out, "{} definition(s) valid", registry.len())?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    report(&errors)?;
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Workflows(Workflows::Show {
            name,
            dir,
            templates,
            format,
            current,
        }) => {
            let templates = templates.unwrap_or_else(|| sibling(&dir, "templates"));
            let registry = match load::load_dir(&dir, &templates, Catalog::standard()) {
                Ok(r) => r,
                Err(errors) => {
                    report(&errors)?;
                    return Ok(ExitCode::FAILURE);
                }
            };
            let Some(def) = registry.get(&name) else {
                let known: Vec<&str> = registry.iter().map(|d| d.name.as_str()).collect();
                bail!("no definition named `{name}`; known: {}", known.join(", "));
            };
            if let Some(state) = &current
                && def.state_id(state).is_none()
            {
                bail!("`{name}` has no state `{state}`");
            }
            let graph = certdesk_engine::graph::graph(def);
            let drawing = match format {
                Format::Mermaid => certdesk_diagram::to_mermaid(&graph, current.as_deref()),
                Format::Svg => certdesk_diagram::to_svg(&graph, current.as_deref()),
            };
            out.write_all(drawing.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Workflows(Workflows::Lock { dir }) => {
            let lock_path = dir.join(lock::LOCK_FILE);
            let mut versions = match std::fs::read_to_string(&lock_path) {
                Ok(text) => lock::VersionLock::parse(&text)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => lock::VersionLock::default(),
                Err(e) => {
                    return Err(e).with_context(|| format!("reading {}", lock_path.display()));
                }
            };
            let sources =
                load::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
            let mut failed = false;
            for source in &sources {
                let raw = match load::parse(source) {
                    Ok(raw) => raw,
                    Err(e) => {
                        report(&[e])?;
                        failed = true;
                        continue;
                    }
                };
                match versions.record(&raw.name, raw.version, &validate::canonical_sha256(&raw)) {
                    Ok(true) => writeln!(out, "locked {} v{}", raw.name, raw.version)?,
                    Ok(false) => {}
                    Err(message) => {
                        writeln!(
                            std::io::stderr(),
                            "{}: version: {message}",
                            source.path.display()
                        )?;
                        failed = true;
                    }
                }
            }
            if failed {
                return Ok(ExitCode::FAILURE);
            }
            std::fs::write(&lock_path, versions.render())
                .with_context(|| format!("writing {}", lock_path.display()))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Structured logs on stderr; `RUST_LOG` filters (default `info`), except that libraries
/// that would write phone or identity numbers stay quiet (`certdesk_api::logging`).
fn init_logs() {
    use std::io::IsTerminal as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let spec = std::env::var("RUST_LOG").ok();
    let ansi = std::io::stderr().is_terminal();
    let _ = certdesk_api::logging::subscriber(spec.as_deref(), std::io::stderr, ansi).try_init();
}

fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn sibling(dir: &Path, name: &str) -> PathBuf {
    dir.parent()
        .map_or_else(|| PathBuf::from(name), |p| p.join(name))
}

fn report(errors: &[DefinitionError]) -> std::io::Result<()> {
    let mut err = std::io::stderr().lock();
    for e in errors {
        writeln!(err, "error: {e}")?;
    }
    writeln!(err, "{} error(s)", errors.len())
}
