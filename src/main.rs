//! The `certdesk` command line: one binary whose subcommands run, inspect and operate the
//! back office. Subcommands arrive with the parts they drive; today: workflow definitions.

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check, draw and lock workflow definitions.
    #[command(subcommand)]
    Workflows(Workflows),
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
