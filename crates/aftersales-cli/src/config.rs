//! The configuration, read once at start-up and passed down: the file
//! (`--config` or `AFTERSALES_CONFIG`, e.g. `config/aftersales.toml`), then
//! `AFTERSALES_*` environment variables, then flags, each overriding single
//! keys of the one before. A bad file is refused with the key at fault;
//! nothing starts on a half-read policy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aftersales_domain::Policy;
use aftersales_store::DEFAULT_DATABASE_URL;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The prefix of every environment variable the configuration reads.
const ENV_PREFIX: &str = "AFTERSALES_";

/// Keys of `[server]` that have an environment variable of their own
/// (`AFTERSALES_LISTEN` …), as they had when they were flags alone.
const SERVER_KEYS: &[&str] = &[
    "listen",
    "rate_limit",
    "scheduler_interval",
    "grpc_listen",
    "grpc_tls_cert",
    "grpc_tls_key",
    "grpc_insecure",
    "request_timeout",
    "max_connections",
    "header_timeout",
    "cors_origins",
];

/// Top-level keys with an environment variable of their own.
const TOP_KEYS: &[&str] = &["db", "read_db", "log_format"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The log's database: sqlite://PATH or postgres://USER@HOST:PORT/DB.
    pub db: String,
    /// The read models' database; by default beside the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_db: Option<String>,
    pub log_format: LogFormat,
    pub server: ServerConfig,
    /// How webhook messages are sent.
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    /// The shop's rules. `serve` puts them in force at start-up.
    pub policy: Policy,
}

/// `[webhooks]`: how the dispatcher sends subscriptions their messages.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Allow targets on loopback, private and link-local addresses: a
    /// receiver inside the shop's own network (also
    /// `AFTERSALES_WEBHOOKS_ALLOW_PRIVATE_TARGETS=true`).
    pub allow_private_targets: bool,
    /// Seconds a receiver has to answer one message.
    pub timeout: u64,
    /// Hours a failing message is retried before its subscription is
    /// disabled (at least 24 in production).
    pub retry_hours: f64,
    /// Milliseconds before the second attempt at a message; each further
    /// wait doubles, up to `max_backoff` seconds.
    pub first_backoff_ms: u64,
    pub max_backoff: u64,
    /// Days the delivery log keeps an attempt.
    pub keep_deliveries_days: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        let settings = aftersales_webhooks::Settings::default();
        Self {
            allow_private_targets: settings.allow_private_targets,
            timeout: settings.timeout.as_secs(),
            retry_hours: settings.retry_for.as_secs_f64() / 3600.0,
            first_backoff_ms: settings.first_backoff.as_millis() as u64,
            max_backoff: settings.max_backoff.as_secs(),
            keep_deliveries_days: settings.keep_deliveries.as_secs() / 86_400,
        }
    }
}

impl WebhooksConfig {
    pub fn settings(&self) -> Result<aftersales_webhooks::Settings, ConfigError> {
        let bad = |key: &str, why: &str| ConfigError::Invalid(format!("webhooks.{key}: {why}"));
        if self.timeout == 0 || self.timeout > 300 {
            return Err(bad("timeout", "must be 1 to 300 seconds"));
        }
        if !(self.retry_hours.is_finite() && self.retry_hours > 0.0) {
            return Err(bad("retry_hours", "must be a positive number of hours"));
        }
        if self.first_backoff_ms == 0 || self.max_backoff == 0 {
            return Err(bad("first_backoff_ms", "and max_backoff must be positive"));
        }
        Ok(aftersales_webhooks::Settings {
            allow_private_targets: self.allow_private_targets,
            timeout: Duration::from_secs(self.timeout),
            retry_for: Duration::from_secs_f64(self.retry_hours * 3600.0),
            first_backoff: Duration::from_millis(self.first_backoff_ms),
            max_backoff: Duration::from_secs(self.max_backoff),
            keep_deliveries: Duration::from_secs(self.keep_deliveries_days.max(1) * 86_400),
        })
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The settings of `aftersales serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Requests per second each API key may send on average; bursts of
    /// twice as many are let through.
    pub rate_limit: f64,
    /// Seconds between passes of the scheduler; 0 turns it off.
    pub scheduler_interval: u64,
    /// The KurrentDB gRPC endpoint's address; off unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_listen: Option<SocketAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_tls_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_tls_key: Option<PathBuf>,
    /// The gRPC endpoint without TLS or credentials, on loopback only.
    pub grpc_insecure: bool,
    /// Seconds a request may take before it is answered 503.
    pub request_timeout: u64,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers.
    pub header_timeout: u64,
    /// Origins whose pages may call the API from a browser
    /// (`https://console.example.com`); none: cross-origin calls are off.
    #[serde(default)]
    pub cors_origins: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        let limits = aftersales_api::Limits::default();
        Self {
            db: DEFAULT_DATABASE_URL.to_owned(),
            read_db: None,
            log_format: LogFormat::Text,
            server: ServerConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
                rate_limit: limits.requests_per_second,
                scheduler_interval: 5,
                grpc_listen: None,
                grpc_tls_cert: None,
                grpc_tls_key: None,
                grpc_insecure: false,
                request_timeout: limits.timeout.as_secs(),
                max_connections: 4096,
                header_timeout: 10,
                cors_origins: Vec::new(),
            },
            webhooks: WebhooksConfig::default(),
            policy: Policy::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the configuration file {0} does not exist")]
    Missing(PathBuf),
    /// Figment names the key and the file.
    #[error("{0}")]
    Read(Box<figment::Error>),
    #[error("in the configuration: {0}")]
    Policy(#[from] aftersales_domain::PolicyError),
    #[error("in the configuration: {0}")]
    Invalid(String),
}

/// Layers the configuration: built-in defaults, the file, the environment,
/// then `overrides` (the flags given, as `("server.listen", value)`).
pub fn load(
    file: Option<&Path>,
    overrides: &[(&str, figment::value::Value)],
) -> Result<Config, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(file) = file {
        if !file.is_file() {
            return Err(ConfigError::Missing(file.to_owned()));
        }
        figment = figment.merge(Toml::file_exact(file));
    }
    figment = figment.merge(environment());
    for (key, value) in overrides {
        figment = figment.merge(Serialized::default(key, value));
    }
    let config: Config = figment
        .extract()
        .map_err(|e| ConfigError::Read(Box::new(e)))?;
    config.policy.validate()?;
    config.webhooks.settings()?;
    Ok(config)
}

/// `AFTERSALES_DB`, `AFTERSALES_LISTEN` …, a webhooks key as
/// `AFTERSALES_WEBHOOKS_ALLOW_PRIVATE_TARGETS`, and any policy key as
/// `AFTERSALES_POLICY__SLA__P1__FIRST_RESPONSE_HOURS`. Other variables with
/// the prefix (the configuration file's own, the tests') are not keys.
fn environment() -> Env {
    Env::prefixed(ENV_PREFIX).filter_map(|key| {
        // Keys come as written (`LISTEN`); the configuration's are lower case.
        let key = key.as_str().to_ascii_lowercase();
        let key = key.as_str();
        if TOP_KEYS.contains(&key) {
            Some(key.to_owned().into())
        } else if SERVER_KEYS.contains(&key) {
            Some(format!("server.{key}").into())
        } else if let Some(webhooks) = key.strip_prefix("webhooks_") {
            Some(format!("webhooks.{webhooks}").into())
        } else {
            key.starts_with("policy__")
                .then(|| key.replace("__", ".").into())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/aftersales.toml")
    }

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    fn error_of(text: &str) -> String {
        load(Some(write(text).path()), &[]).unwrap_err().to_string()
    }

    #[test]
    fn the_example_holds_the_sop_defaults() {
        let config = load(Some(&example()), &[]).unwrap();
        assert_eq!(config.policy, Policy::default());
        assert_eq!(config.server.listen, Config::default().server.listen);
    }

    #[test]
    fn cross_origin_calls_are_off_unless_origins_are_named() {
        assert!(Config::default().server.cors_origins.is_empty());
        let config = load(
            Some(write("[server]\ncors_origins = [\"https://console.example.com\"]\n").path()),
            &[],
        )
        .unwrap();
        assert_eq!(
            config.server.cors_origins,
            vec!["https://console.example.com".to_owned()]
        );
    }

    #[test]
    fn a_key_of_the_file_can_be_set_alone() {
        let config = load(
            Some(write("[policy.sla.p2]\nfirst_response_hours = 3\n").path()),
            &[("server.rate_limit", 50.0.into())],
        );
        // The rest of the table comes from the defaults.
        let config = config.unwrap();
        assert_eq!(config.policy.sla.p2.first_response_hours, 3);
        assert_eq!(config.policy.sla.p2.resolution_hours, Some(48));
        assert_eq!(config.server.rate_limit, 50.0);
    }

    #[test]
    fn a_bad_file_is_refused_with_the_key_at_fault() {
        for (text, key) in [
            (
                "[policy.calendar.hours]\nmon = [\"12:00-09:00\"]\n",
                "policy.calendar.hours.mon",
            ),
            (
                "[policy.calendar]\ntime_zone = \"Mars/Olympus\"\n",
                "policy.calendar.time_zone",
            ),
            (
                "[policy.calendar]\nholidays = [\"2026-10-01\"]\nmakeup_days = [\"2026-10-01\"]\n",
                "policy.calendar.makeup_days",
            ),
            (
                "[policy.sla.p1]\nfirst_response_hours = 0\n",
                "policy.sla.p1.first_response_hours",
            ),
            ("[policy]\nfirst_reponse_hours = 2\n", "first_reponse_hours"),
            ("[server]\nlisten = \"not an address\"\n", "server.listen"),
        ] {
            let error = error_of(text);
            assert!(error.contains(key), "{text}: {error}");
        }
    }

    #[test]
    fn a_missing_file_is_an_error_not_the_defaults() {
        let error = load(Some(Path::new("/nonexistent/aftersales.toml")), &[]).unwrap_err();
        assert!(matches!(error, ConfigError::Missing(_)), "{error}");
    }
}
