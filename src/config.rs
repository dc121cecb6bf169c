//! Configuration: one typed struct, layered as defaults, then `certdesk.toml` (or the file
//! named by `--config` / `CERTDESK_CONFIG`), then environment variables. Every bad or missing
//! setting is reported by its name in both layers (`database_url` / `DATABASE_URL`).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use certdesk_api::identity::CodeKey;
use serde::Deserialize;

/// A value that must not be printed (passwords inside URLs).
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Show the scheme and host of a URL, never credentials.
        match self.0.split_once("://") {
            Some((scheme, rest)) => {
                let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
                write!(f, "{scheme}://***@{host}")
            }
            None => f.write_str("***"),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// PostgreSQL URL (`DATABASE_URL`).
    pub database_url: Secret,
    /// Redis URL (`REDIS_URL`).
    pub redis_url: Secret,
    /// Address the API and console listen on (`CERTDESK_LISTEN`).
    pub listen: SocketAddr,
    /// PKCS#8 PEM file of the SM2 key that signs the history (`CERTDESK_SIGNING_KEY`).
    pub signing_key: PathBuf,
    /// SM2 distinguishing id used with that key (`CERTDESK_SM2_DISTID`).
    pub sm2_distid: String,
    /// Folder of workflow definitions (`CERTDESK_WORKFLOWS`).
    pub workflows: PathBuf,
    /// Folder of notification templates (`CERTDESK_TEMPLATES`).
    pub templates: PathBuf,
    /// Connections in the PostgreSQL pool (`CERTDESK_DB_POOL`).
    pub db_pool: usize,
    /// SMTP server notices are sent through (`CERTDESK_SMTP_URL`).
    pub smtp_url: Secret,
    /// Sender of notices (`CERTDESK_MAIL_FROM`).
    pub mail_from: String,
    /// SMS signature and name in notices (`CERTDESK_BRAND`).
    pub brand: String,
    /// Base of deep links into the app (`CERTDESK_APP_URL`).
    pub app_url: String,
    /// Redis key prefix of the outbox queue (`CERTDESK_QUEUE`).
    pub queue: String,
    /// Consumer workers per `work` process (`CERTDESK_CONSUMERS`).
    pub consumers: usize,
    /// Jobs each consumer runs at once (`CERTDESK_CONCURRENCY`).
    pub concurrency: usize,
    /// Where `certdesk work` serves /healthz, /readyz and /metrics (`CERTDESK_WORKER_LISTEN`).
    pub worker_listen: SocketAddr,
    /// Seconds an effect handed to Redis may stay undone before it is handed over again
    /// (`CERTDESK_LEASE_SECS`).
    pub lease_secs: usize,
    /// Folder uploaded files are stored in, by SM3 (`CERTDESK_FILES_DIR`); created if missing.
    /// Every `serve` process must see the same folder (a shared volume).
    pub files_dir: PathBuf,
    /// The key of the login-code hashes, hex or base64, at least 32 bytes
    /// (`CERTDESK_CODE_KEY`); when unset, `code_key_file` is read.
    pub code_key: Option<CodeKey>,
    /// File holding the login-code key (`CERTDESK_CODE_KEY_FILE`), written by
    /// `certdesk keys code-key` or, when missing, by the first `serve` / `all`.
    pub code_key_file: PathBuf,
    /// SMS codes one phone may be sent per Beijing day (`CERTDESK_SMS_DAILY_PER_PHONE`).
    pub sms_daily_per_phone: usize,
    /// SMS codes one IP may ask for per Beijing day (`CERTDESK_SMS_DAILY_PER_IP`).
    pub sms_daily_per_ip: usize,
    /// Failed code entries and password attempts one IP may make per 10 minutes
    /// (`CERTDESK_LOGIN_FAILURES_PER_IP`).
    pub login_failures_per_ip: usize,
    /// Days a bearer token from a login is valid (`CERTDESK_TOKEN_DAYS`).
    pub token_days: usize,
    /// The console's public origin, `scheme://host[:port]` (`CERTDESK_ADMIN_ORIGIN`); every
    /// console POST must come from it. Defaults to `http://` + `listen`.
    pub admin_origin: String,
    /// The real-name provider (`CERTDESK_REAL_NAME_PROVIDER`): `sandbox`, the only one so far
    /// (a contracted provider's adapter adds its name).
    pub real_name_provider: String,
    /// Milliseconds the sandbox real-name provider takes per call, like a real one
    /// (`CERTDESK_REAL_NAME_SANDBOX_LATENCY_MS`).
    pub real_name_sandbox_latency_ms: usize,
}

/// The file layer: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLayer {
    database_url: Option<Secret>,
    redis_url: Option<Secret>,
    listen: Option<String>,
    signing_key: Option<PathBuf>,
    sm2_distid: Option<String>,
    workflows: Option<PathBuf>,
    templates: Option<PathBuf>,
    db_pool: Option<usize>,
    smtp_url: Option<Secret>,
    mail_from: Option<String>,
    brand: Option<String>,
    app_url: Option<String>,
    queue: Option<String>,
    consumers: Option<usize>,
    concurrency: Option<usize>,
    worker_listen: Option<String>,
    lease_secs: Option<usize>,
    files_dir: Option<PathBuf>,
    code_key: Option<Secret>,
    code_key_file: Option<PathBuf>,
    sms_daily_per_phone: Option<usize>,
    sms_daily_per_ip: Option<usize>,
    login_failures_per_ip: Option<usize>,
    token_days: Option<usize>,
    admin_origin: Option<String>,
    real_name_provider: Option<String>,
    real_name_sandbox_latency_ms: Option<usize>,
}

/// A setting that is missing or malformed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A required setting has no value.
    #[error("`{key}` is not set: put `{key} = \"…\"` in certdesk.toml or set {env}")]
    Missing {
        /// Key in the file.
        key: &'static str,
        /// Environment variable.
        env: &'static str,
    },
    /// A setting has a value that cannot be used.
    #[error("`{key}` ({env}) is invalid: {message}")]
    Invalid {
        /// Key in the file.
        key: &'static str,
        /// Environment variable.
        env: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Loads the configuration. `file` is the explicit `--config`; otherwise `CERTDESK_CONFIG`,
    /// otherwise `certdesk.toml` in the working directory if it exists.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_sources(file, |k| std::env::var(k).ok())
    }

    /// Loads with a custom environment (for tests).
    pub fn from_sources(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let explicit = file
            .map(Path::to_path_buf)
            .or_else(|| env("CERTDESK_CONFIG").map(PathBuf::from));
        let path = explicit
            .clone()
            .unwrap_or_else(|| PathBuf::from("certdesk.toml"));
        let layer: FileLayer = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| ConfigError::File {
                path: path.clone(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
                FileLayer::default()
            }
            Err(e) => {
                return Err(ConfigError::File {
                    path,
                    message: e.to_string(),
                });
            }
        };
        let text = |key: &'static str, var: &'static str, file: Option<String>| {
            env(var).or(file).map(|v| (key, var, v))
        };
        let required = |key: &'static str, var: &'static str, file: Option<Secret>| {
            env(var)
                .map(Secret)
                .or(file)
                .ok_or(ConfigError::Missing { key, env: var })
        };
        let database_url = required("database_url", "DATABASE_URL", layer.database_url)?;
        if !database_url.expose().starts_with("postgres://")
            && !database_url.expose().starts_with("postgresql://")
        {
            return Err(ConfigError::Invalid {
                key: "database_url",
                env: "DATABASE_URL",
                message: "expected a postgres:// URL".into(),
            });
        }
        let redis_url = required("redis_url", "REDIS_URL", layer.redis_url)?;
        if !redis_url.expose().starts_with("redis://") {
            return Err(ConfigError::Invalid {
                key: "redis_url",
                env: "REDIS_URL",
                message: "expected a redis:// URL".into(),
            });
        }
        let listen = match text("listen", "CERTDESK_LISTEN", layer.listen) {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some((key, env, v)) => v.parse().map_err(|e| ConfigError::Invalid {
                key,
                env,
                message: format!("`{v}` is not host:port ({e})"),
            })?,
        };
        let count = |key: &'static str, var: &'static str, file: Option<usize>, default: usize| {
            let n = match env(var) {
                Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                    key,
                    env: var,
                    message: format!("`{v}` is not a number"),
                })?,
                None => file.unwrap_or(default),
            };
            if n == 0 {
                return Err(ConfigError::Invalid {
                    key,
                    env: var,
                    message: "must be at least 1".into(),
                });
            }
            Ok(n)
        };
        let db_pool = count("db_pool", "CERTDESK_DB_POOL", layer.db_pool, 16)?;
        let consumers = count("consumers", "CERTDESK_CONSUMERS", layer.consumers, 1)?;
        let concurrency = count("concurrency", "CERTDESK_CONCURRENCY", layer.concurrency, 16)?;
        let lease_secs = count("lease_secs", "CERTDESK_LEASE_SECS", layer.lease_secs, 60)?;
        let sms_daily_per_phone = count(
            "sms_daily_per_phone",
            "CERTDESK_SMS_DAILY_PER_PHONE",
            layer.sms_daily_per_phone,
            10,
        )?;
        let sms_daily_per_ip = count(
            "sms_daily_per_ip",
            "CERTDESK_SMS_DAILY_PER_IP",
            layer.sms_daily_per_ip,
            50,
        )?;
        let login_failures_per_ip = count(
            "login_failures_per_ip",
            "CERTDESK_LOGIN_FAILURES_PER_IP",
            layer.login_failures_per_ip,
            30,
        )?;
        let token_days = count("token_days", "CERTDESK_TOKEN_DAYS", layer.token_days, 30)?;
        let real_name_provider = env("CERTDESK_REAL_NAME_PROVIDER")
            .or(layer.real_name_provider)
            .unwrap_or_else(|| "sandbox".to_owned());
        if real_name_provider != "sandbox" {
            return Err(ConfigError::Invalid {
                key: "real_name_provider",
                env: "CERTDESK_REAL_NAME_PROVIDER",
                message: format!("`{real_name_provider}` is not a known provider; known: sandbox"),
            });
        }
        let real_name_sandbox_latency_ms = count(
            "real_name_sandbox_latency_ms",
            "CERTDESK_REAL_NAME_SANDBOX_LATENCY_MS",
            layer.real_name_sandbox_latency_ms,
            300,
        )?;
        if token_days > 3650 {
            return Err(ConfigError::Invalid {
                key: "token_days",
                env: "CERTDESK_TOKEN_DAYS",
                message: "must be at most 3650".into(),
            });
        }
        // The key's text is never part of an error message.
        let code_key = env("CERTDESK_CODE_KEY")
            .map(Secret)
            .or(layer.code_key)
            .map(|text| CodeKey::parse(text.expose()))
            .transpose()
            .map_err(|e| ConfigError::Invalid {
                key: "code_key",
                env: "CERTDESK_CODE_KEY",
                message: e.to_string(),
            })?;
        let worker_listen = match text(
            "worker_listen",
            "CERTDESK_WORKER_LISTEN",
            layer.worker_listen,
        ) {
            None => SocketAddr::from(([127, 0, 0, 1], 9464)),
            Some((key, env, v)) => v.parse().map_err(|e| ConfigError::Invalid {
                key,
                env,
                message: format!("`{v}` is not host:port ({e})"),
            })?,
        };
        let admin_origin = match text("admin_origin", "CERTDESK_ADMIN_ORIGIN", layer.admin_origin) {
            None => format!("http://{listen}"),
            Some((key, env, v)) => {
                let v = v.trim_end_matches('/').to_owned();
                let rest = v
                    .strip_prefix("https://")
                    .or_else(|| v.strip_prefix("http://"));
                if rest.is_none_or(|r| r.is_empty() || r.contains('/')) {
                    return Err(ConfigError::Invalid {
                        key,
                        env,
                        message: format!(
                            "`{v}` is not an origin like https://console.example.cn (scheme, host, optional port, no path)"
                        ),
                    });
                }
                v
            }
        };
        let smtp_url = env("CERTDESK_SMTP_URL")
            .map(Secret)
            .or(layer.smtp_url)
            .unwrap_or_else(|| Secret("smtp://127.0.0.1:1025".into()));
        if !smtp_url.expose().starts_with("smtp://") && !smtp_url.expose().starts_with("smtps://") {
            return Err(ConfigError::Invalid {
                key: "smtp_url",
                env: "CERTDESK_SMTP_URL",
                message: "expected an smtp:// or smtps:// URL".into(),
            });
        }
        let plain = |var: &str, file: Option<String>, default: &str| {
            env(var).or(file).unwrap_or_else(|| default.to_owned())
        };
        let path_of = |var: &str, file: Option<PathBuf>, default: &str| {
            env(var)
                .map(PathBuf::from)
                .or(file)
                .unwrap_or_else(|| PathBuf::from(default))
        };
        Ok(Config {
            database_url,
            redis_url,
            listen,
            signing_key: path_of(
                "CERTDESK_SIGNING_KEY",
                layer.signing_key,
                "keys/history-sm2.pem",
            ),
            sm2_distid: env("CERTDESK_SM2_DISTID")
                .or(layer.sm2_distid)
                .unwrap_or_else(|| certdesk_audit::DEFAULT_DISTID.to_owned()),
            workflows: path_of("CERTDESK_WORKFLOWS", layer.workflows, "workflows"),
            templates: path_of("CERTDESK_TEMPLATES", layer.templates, "templates"),
            db_pool,
            smtp_url,
            mail_from: plain(
                "CERTDESK_MAIL_FROM",
                layer.mail_from,
                "中标一证通 <noreply@certdesk.example>",
            ),
            brand: plain("CERTDESK_BRAND", layer.brand, "中标一证通"),
            app_url: plain(
                "CERTDESK_APP_URL",
                layer.app_url,
                "https://app.certdesk.example",
            ),
            queue: plain("CERTDESK_QUEUE", layer.queue, "certdesk:outbox"),
            consumers,
            concurrency,
            worker_listen,
            lease_secs,
            files_dir: path_of("CERTDESK_FILES_DIR", layer.files_dir, "data/files"),
            code_key,
            code_key_file: path_of(
                "CERTDESK_CODE_KEY_FILE",
                layer.code_key_file,
                "keys/login-code.key",
            ),
            sms_daily_per_phone,
            sms_daily_per_ip,
            login_failures_per_ip,
            token_days,
            admin_origin,
            real_name_provider,
            real_name_sandbox_latency_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const BASE: &[(&str, &str)] = &[
        ("DATABASE_URL", "postgres://u:pw@db/certdesk"),
        ("REDIS_URL", "redis://r:6379/0"),
    ];

    #[test]
    fn environment_alone_is_enough_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::from_sources(None, env(BASE)).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.db_pool, 16);
        assert_eq!(c.sm2_distid, "1234567812345678");
        assert_eq!(c.files_dir, PathBuf::from("data/files"));
        assert_eq!(c.admin_origin, "http://127.0.0.1:8080");
        let mut vars = BASE.to_vec();
        vars.push(("CERTDESK_ADMIN_ORIGIN", "https://console.example.cn/"));
        let c2 = Config::from_sources(None, env(&vars)).unwrap();
        assert_eq!(c2.admin_origin, "https://console.example.cn");
        let mut vars = BASE.to_vec();
        vars.push(("CERTDESK_ADMIN_ORIGIN", "https://console.example.cn/admin"));
        let e = Config::from_sources(None, env(&vars))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CERTDESK_ADMIN_ORIGIN"), "{e}");
        assert!(
            !format!("{c:?}").contains("pw"),
            "the password leaked into Debug"
        );
        drop(dir);
    }

    #[test]
    fn missing_and_bad_settings_are_named() {
        let e = Config::from_sources(None, env(&[("REDIS_URL", "redis://r")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("database_url") && e.contains("DATABASE_URL"),
            "{e}"
        );
        let mut bad = BASE.to_vec();
        bad.push(("CERTDESK_LISTEN", "localhost"));
        let e = Config::from_sources(None, env(&bad))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("CERTDESK_LISTEN") && e.contains("localhost"),
            "{e}"
        );
        let e = Config::from_sources(
            None,
            env(&[("DATABASE_URL", "mysql://x"), ("REDIS_URL", "redis://r")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("postgres://"), "{e}");
    }

    #[test]
    fn the_code_key_is_checked_and_never_shown() {
        let c = Config::from_sources(None, env(BASE)).unwrap();
        assert!(c.code_key.is_none());
        assert_eq!(c.code_key_file, PathBuf::from("keys/login-code.key"));
        assert_eq!(
            (
                c.sms_daily_per_phone,
                c.sms_daily_per_ip,
                c.login_failures_per_ip,
                c.token_days
            ),
            (10, 50, 30, 30)
        );
        let key = "ab".repeat(32);
        let mut vars = BASE.to_vec();
        vars.push(("CERTDESK_CODE_KEY", &key));
        let c = Config::from_sources(None, env(&vars)).unwrap();
        assert_eq!(c.code_key.as_ref().unwrap().to_hex(), key);
        assert!(
            !format!("{c:?}").contains(&key[..16]),
            "the key leaked into Debug"
        );

        let short = "cd".repeat(16);
        let mut vars = BASE.to_vec();
        vars.push(("CERTDESK_CODE_KEY", &short));
        let e = Config::from_sources(None, env(&vars))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CERTDESK_CODE_KEY") && e.contains("32"), "{e}");
        assert!(!e.contains(&short), "{e}");
        let mut vars = BASE.to_vec();
        vars.push(("CERTDESK_LOGIN_FAILURES_PER_IP", "0"));
        let e = Config::from_sources(None, env(&vars))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CERTDESK_LOGIN_FAILURES_PER_IP"), "{e}");
    }

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("certdesk.toml");
        std::fs::write(&path, "database_url = \"postgres://file/db\"\nredis_url = \"redis://file\"\nlisten = \"0.0.0.0:9000\"\ndb_pool = 4\nfiles_dir = \"/srv/certdesk/files\"\n").unwrap();
        let c = Config::from_sources(Some(&path), env(&[("CERTDESK_LISTEN", "127.0.0.1:7000")]))
            .unwrap();
        assert_eq!(c.files_dir, PathBuf::from("/srv/certdesk/files"));
        let c2 = Config::from_sources(Some(&path), env(&[("CERTDESK_FILES_DIR", "/mnt/uploads")]))
            .unwrap();
        assert_eq!(c2.files_dir, PathBuf::from("/mnt/uploads"));
        assert_eq!(c.database_url.expose(), "postgres://file/db");
        assert_eq!(
            c.listen,
            "127.0.0.1:7000".parse().unwrap(),
            "the environment wins over the file"
        );
        assert_eq!(c.db_pool, 4);
        std::fs::write(&path, "databse_url = \"typo\"\n").unwrap();
        let e = Config::from_sources(Some(&path), env(BASE))
            .unwrap_err()
            .to_string();
        assert!(e.contains("databse_url"), "{e}");
        let e = Config::from_sources(Some(&dir.path().join("absent.toml")), env(BASE))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent.toml"), "{e}");
    }
}
