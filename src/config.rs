//! Layered settings: `config/default.toml` < `config/$APP_ENV.toml` < `config/local.toml`
//! < `APP__SECTION__KEY` env vars < `DATABASE_URL`. Every key is documented in the README.

use std::{collections::HashMap, fmt, net::SocketAddr, path::Path, time::Duration};

use config::{Config, Environment, File};
use serde::Deserialize;

/// The profile used when `APP_ENV` is unset.
pub const DEFAULT_PROFILE: &str = "development";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
    pub auth: AuthSettings,
    pub idempotency: IdempotencySettings,
    pub jobs: JobsSettings,
    pub webhooks: WebhooksSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    /// 0 picks a free port (the tests use it).
    pub port: u16,
    /// Largest accepted request body, in bytes (413 above it).
    pub request_body_limit: usize,
    /// After SIGTERM, how long the service goes on accepting and serving while it reports
    /// itself not ready and asks clients to reconnect elsewhere, before it stops accepting.
    /// 0: stop accepting at once. SIGINT (Ctrl-C) never drains.
    pub drain_seconds: u64,
    /// How long in-flight requests may take to finish once the listener is closed.
    pub shutdown_grace_seconds: u64,
    /// A connection must send a complete request head within this long of opening or of
    /// its previous response; it also closes idle keep-alive connections.
    pub header_read_timeout_seconds: u64,
    /// A request not answered within this long gets a 503; PostgreSQL statements and
    /// MySQL lock waits are bounded by it too.
    pub request_timeout_seconds: u64,
    /// Origins (`https://app.example.com`) allowed to call the API from a browser, or `*`;
    /// empty: no CORS headers at all. A comma-separated string or a TOML array.
    #[serde(deserialize_with = "comma_separated")]
    pub cors_allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: DatabaseUrl,
    /// Apply pending migrations at start-up; when false, refuse to start if any are pending.
    pub auto_migrate: bool,
    /// Pool size; unset picks a per-backend default (see `db::pool_defaults`).
    pub max_connections: Option<u32>,
    pub min_connections: Option<u32>,
    /// PostgreSQL through a pooler in transaction mode (PgBouncer 1.18's `pool_mode =
    /// transaction`), which hands each transaction a server connection of its own: no
    /// prepared statement is kept, each statement outside a transaction runs in one of its
    /// own, and no startup parameter PgBouncer refuses is sent (see `db::connect_options`).
    pub transaction_pooling: bool,
    pub connect_timeout_seconds: u64,
    /// How long a request waits for a pooled connection before answering 503.
    pub acquire_timeout_seconds: u64,
    pub idle_timeout_seconds: u64,
    pub max_lifetime_seconds: u64,
    /// How often a server database (PostgreSQL, MySQL) is probed, in milliseconds, so that
    /// requests answer 503 at once while it is down; 0 turns the probe off.
    pub health_check_interval_ms: u64,
    pub sqlite: SqliteSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteSettings {
    pub synchronous: SqliteSynchronous,
    pub busy_timeout_ms: u64,
    /// `PRAGMA journal_size_limit`: when the write-ahead log starts again from the top, its
    /// file is cut back to this many bytes, so a burst does not leave the disk full.
    pub journal_size_limit_bytes: u64,
    /// How often a connection of its own checkpoints the write-ahead log (PASSIVE), so that
    /// requests rarely pay for it; 0 = only SQLite's own checkpoints (see `db::checkpoint`).
    pub checkpoint_interval_ms: u64,
}

/// SQLite's `PRAGMA synchronous`. With WAL, `normal` survives a crash of the process but may
/// lose the last commits on power loss or an OS crash; `full` does not, at a cost in writes.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Off,
    Normal,
    Full,
    Extra,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `info,sqlx=warn`; `RUST_LOG` overrides it.
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Record request and pool metrics and serve them at `GET /metrics`.
    pub enabled: bool,
    /// Empty: `/metrics` on the main port. `IP:PORT`: only on a listener of its own there.
    pub address: String,
}

/// `Idempotency-Key` on the writes that accept it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencySettings {
    /// Refuse those writes without a key (400).
    pub required: bool,
    pub ttl_seconds: u64,
    pub purge_interval_seconds: u64,
    pub purge_batch: u64,
}

impl IdempotencySettings {
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_seconds)
    }

    pub fn purge_interval(&self) -> Duration {
        Duration::from_secs(self.purge_interval_seconds)
    }
}

/// The job queue's workers (`jobs`): how many run here, how they look for work, how
/// failures are retried.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsSettings {
    /// Jobs run at once by this process; 0: it runs none (it still enqueues).
    pub workers: u32,
    /// How often an idle worker looks for jobs enqueued by other processes (jobs enqueued
    /// here wake it at once).
    pub poll_interval_ms: u64,
    /// The n-th retry waits about backoff_base_ms x 2^(n-1) (equal jitter), at most
    /// backoff_max_seconds.
    pub backoff_base_ms: u64,
    pub backoff_max_seconds: u64,
    /// Attempts before a job is dead, unless it was enqueued with its own.
    pub max_attempts: u32,
    /// How long a claimed job is its worker's; past it the job is claimed again.
    pub lease_seconds: u64,
}

impl JobsSettings {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn backoff_base(&self) -> Duration {
        Duration::from_millis(self.backoff_base_ms)
    }

    pub fn backoff_max(&self) -> Duration {
        Duration::from_secs(self.backoff_max_seconds)
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.workers > 1024 {
            return bad("jobs.workers", &self.workers, "must be at most 1024");
        }
        for (key, value, least) in [
            ("jobs.poll_interval_ms", self.poll_interval_ms, 10),
            ("jobs.backoff_base_ms", self.backoff_base_ms, 1),
            ("jobs.backoff_max_seconds", self.backoff_max_seconds, 1),
            ("jobs.max_attempts", u64::from(self.max_attempts), 1),
            ("jobs.lease_seconds", self.lease_seconds, 1),
        ] {
            if value < least {
                return bad(key, &value, &format!("must be at least {least}"));
            }
        }
        // Bounded so that no time computed from them can overflow.
        for (key, value, most) in [
            (
                "jobs.backoff_max_seconds",
                self.backoff_max_seconds,
                30 * 86_400,
            ),
            ("jobs.lease_seconds", self.lease_seconds, 86_400),
        ] {
            if value > most {
                return bad(key, &value, &format!("must be at most {most}"));
            }
        }
        if self.backoff_max() < self.backoff_base() {
            return bad(
                "jobs.backoff_max_seconds",
                &self.backoff_max_seconds,
                "must not be shorter than jobs.backoff_base_ms",
            );
        }
        Ok(())
    }
}

/// Outbound webhooks (`webhooks`): where deliveries may go, how long each waits, how often
/// one is tried.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksSettings {
    /// Allow subscription URLs (and deliveries) to loopback, private, link-local,
    /// unspecified and multicast addresses. Off in production: such a URL could reach the
    /// service's own network (SSRF).
    pub allow_private_networks: bool,
    /// Each delivery attempt, connection and response included, is given up after this long.
    pub timeout_seconds: u64,
    /// Attempts before a delivery is dead (kept, retried by hand).
    pub max_attempts: u32,
    /// A receiver's `Retry-After` is honoured up to this long.
    pub retry_after_max_seconds: u64,
}

impl WebhooksSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds)
    }

    pub fn retry_after_max(&self) -> Duration {
        Duration::from_secs(self.retry_after_max_seconds)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (key, value, least, most) in [
            ("webhooks.timeout_seconds", self.timeout_seconds, 1, 300),
            (
                "webhooks.max_attempts",
                u64::from(self.max_attempts),
                1,
                100,
            ),
            (
                "webhooks.retry_after_max_seconds",
                self.retry_after_max_seconds,
                1,
                86_400,
            ),
        ] {
            if value < least || value > most {
                return bad(key, &value, &format!("must be from {least} to {most}"));
            }
        }
        Ok(())
    }
}

/// Bearer tokens from an OpenID Connect provider; off while `issuer` is empty.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The provider's issuer identifier, exactly as its tokens' `iss` has it.
    pub issuer: String,
    /// What tokens must name in `aud`: this API's identifier at the provider.
    pub audience: String,
    /// The signing keys' URL; empty: discovered from the issuer.
    pub jwks_uri: String,
    pub leeway_seconds: u64,
    pub keys_refresh_seconds: u64,
    pub keys_refetch_min_seconds: u64,
    pub http_timeout_seconds: u64,
    pub realm: String,
    pub token_cache_size: usize,
}

impl AuthSettings {
    pub fn enabled(&self) -> bool {
        !self.issuer.trim().is_empty()
    }

    /// Where OpenID Connect discovery finds the provider's metadata (its `jwks_uri`).
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A database URL that never prints its password.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The real URL, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The backend its scheme selects; `None` for a scheme the service does not serve.
    pub fn backend(&self) -> Option<Backend> {
        match self.0.split(':').next()? {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            "mysql" => Some(Backend::MySql),
            _ => None,
        }
    }
}

/// Which database server a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&migration::redact_url(&self.0))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// A configuration that cannot be used; the message names the key and the bad value.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// The error for setting `key` holding `value`, and why it cannot be used.
fn bad(key: &str, value: &dyn fmt::Display, why: &str) -> Result<(), ConfigError> {
    Err(ConfigError(format!(
        "invalid configuration: {key} = {value}: {why}"
    )))
}

impl Settings {
    /// Loads the settings for the running process: the directory and profile from the
    /// arguments (already resolved from `--config-dir`/`APP_CONFIG_DIR` and `APP_ENV`),
    /// overrides from the process environment.
    pub fn load(dir: &Path, profile: &str) -> Result<Self, ConfigError> {
        // vars_os: `vars()` panics on a non-UTF-8 variable anywhere in the environment.
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self::load_with_env(dir, profile, env)
    }

    /// As [`Settings::load`], with the environment given explicitly (tests use this).
    pub fn load_with_env(
        dir: &Path,
        profile: &str,
        env: HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let default_file = dir.join("default.toml");
        if !default_file.is_file() {
            return Err(ConfigError(format!(
                "no configuration at {}: run from the project directory or set APP_CONFIG_DIR",
                default_file.display()
            )));
        }
        let profile_file = dir.join(format!("{profile}.toml"));
        if !profile_file.is_file() {
            return Err(ConfigError(format!(
                "APP_ENV = {profile:?}: there is no {}",
                profile_file.display()
            )));
        }
        let database_url = env.get("DATABASE_URL").cloned();
        let built = Config::builder()
            .add_source(File::from(default_file))
            .add_source(File::from(profile_file))
            .add_source(File::from(dir.join("local.toml")).required(false))
            .add_source(
                Environment::with_prefix("APP")
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(env.into_iter().collect())),
            )
            .set_override_option("database.url", database_url)
            .and_then(|builder| builder.build())
            .map_err(|err| ConfigError(format!("invalid configuration: {err}")))?;
        let settings: Settings = built
            .try_deserialize()
            .map_err(|err| ConfigError(format!("invalid configuration: {err}")))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what the types alone cannot.
    fn validate(&self) -> Result<(), ConfigError> {
        if self.server.host.trim().is_empty() {
            return bad("server.host", &"\"\"", "must be an address or host name");
        }
        if self.server.request_body_limit < 1024 {
            return bad(
                "server.request_body_limit",
                &self.server.request_body_limit,
                "must be at least 1024 bytes",
            );
        }
        let db = &self.database;
        if db.url.backend().is_none() {
            return bad(
                "database.url",
                &db.url,
                "the scheme must be sqlite:, postgres:, postgresql: or mysql:",
            );
        }
        if db.transaction_pooling && db.url.backend() != Some(Backend::Postgres) {
            return bad(
                "database.transaction_pooling",
                &true,
                "is for PostgreSQL behind a pooler (PgBouncer): the URL must be postgres:",
            );
        }
        if db.transaction_pooling && db.auto_migrate {
            return bad(
                "database.auto_migrate",
                &true,
                "migrations cannot run through a transaction pooler (the migration lock belongs \
                 to one session): set it to false and run `migration up` against the server \
                 itself",
            );
        }
        if db.max_connections == Some(0) {
            return bad("database.max_connections", &0, "must be at least 1");
        }
        if let (Some(min), Some(max)) = (db.min_connections, db.max_connections)
            && min > max
        {
            return bad(
                "database.min_connections",
                &min,
                "must not exceed database.max_connections",
            );
        }
        if db.acquire_timeout_seconds == 0 {
            return bad("database.acquire_timeout_seconds", &0, "must be at least 1");
        }
        if db.connect_timeout_seconds == 0 {
            return bad("database.connect_timeout_seconds", &0, "must be at least 1");
        }
        for (key, seconds) in [
            (
                "server.header_read_timeout_seconds",
                self.server.header_read_timeout_seconds,
            ),
            (
                "server.request_timeout_seconds",
                self.server.request_timeout_seconds,
            ),
        ] {
            if seconds == 0 {
                return bad(key, &0, "must be at least 1");
            }
        }
        for origin in &self.server.cors_allowed_origins {
            if origin != "*" && !is_origin(origin) {
                return bad(
                    "server.cors_allowed_origins",
                    origin,
                    "each must be `*` or an origin such as https://app.example.com (scheme, \
                     host and optional port; no path)",
                );
            }
        }
        if let Err(err) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return bad("log.level", &self.log.level, &err.to_string());
        }
        self.auth.validate()?;
        let keys = &self.idempotency;
        for (key, value, least) in [
            ("idempotency.ttl_seconds", keys.ttl_seconds, 1),
            (
                "idempotency.purge_interval_seconds",
                keys.purge_interval_seconds,
                1,
            ),
            ("idempotency.purge_batch", keys.purge_batch, 1),
        ] {
            if value < least {
                return bad(key, &value, &format!("must be at least {least}"));
            }
        }
        // A key must outlive the request that reserved it, or a slow first request could
        // see its key taken by a retry before it answers.
        if keys.ttl_seconds <= self.server.request_timeout_seconds {
            return bad(
                "idempotency.ttl_seconds",
                &keys.ttl_seconds,
                "must be longer than server.request_timeout_seconds",
            );
        }
        self.jobs.validate()?;
        self.webhooks.validate()?;
        if self.webhooks.timeout_seconds >= self.jobs.lease_seconds {
            return bad(
                "webhooks.timeout_seconds",
                &self.webhooks.timeout_seconds,
                "must be shorter than jobs.lease_seconds (a delivery runs within a job's lease)",
            );
        }
        if self.metrics.listen_address().is_err() {
            return bad(
                "metrics.address",
                &format!("{:?}", self.metrics.address),
                "must be empty (serve /metrics on the main port) or an IP address and port \
                 such as 127.0.0.1:9464",
            );
        }
        Ok(())
    }
}

impl AuthSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled() {
            return Ok(());
        }
        if !is_http_url(&self.issuer) {
            return bad(
                "auth.issuer",
                &self.issuer,
                "must be the provider's http(s) URL, as its tokens' `iss` claim has it",
            );
        }
        if self.audience.trim().is_empty() {
            return bad(
                "auth.audience",
                &"\"\"",
                "must be set when auth.issuer is: the identifier tokens name in `aud` \
                 (APP__AUTH__AUDIENCE)",
            );
        }
        if !self.jwks_uri.is_empty() && !is_http_url(&self.jwks_uri) {
            return bad(
                "auth.jwks_uri",
                &self.jwks_uri,
                "must be empty or an http(s) URL",
            );
        }
        if self.leeway_seconds > 300 {
            return bad(
                "auth.leeway_seconds",
                &self.leeway_seconds,
                "must be at most 300",
            );
        }
        if self.keys_refresh_seconds < 10 {
            return bad(
                "auth.keys_refresh_seconds",
                &self.keys_refresh_seconds,
                "must be at least 10",
            );
        }
        if self.http_timeout_seconds == 0 {
            return bad("auth.http_timeout_seconds", &0, "must be at least 1");
        }
        if self.token_cache_size == 0 {
            return bad("auth.token_cache_size", &0, "must be at least 1");
        }
        let plain = |c: char| c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ';
        if self.realm.is_empty() || !self.realm.chars().all(plain) {
            return bad(
                "auth.realm",
                &format!("{:?}", self.realm),
                "must be printable ASCII without quotes or backslashes",
            );
        }
        Ok(())
    }
}

/// An absolute `http://` or `https://` URL with a host.
fn is_http_url(candidate: &str) -> bool {
    url::Url::parse(candidate)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

impl MetricsSettings {
    /// The separate listener's address; `None` to serve on the main port.
    pub fn listen_address(&self) -> Result<Option<SocketAddr>, std::net::AddrParseError> {
        match self.address.trim() {
            "" => Ok(None),
            address => address.parse().map(Some),
        }
    }
}

impl ServerSettings {
    pub fn drain(&self) -> Duration {
        Duration::from_secs(self.drain_seconds)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_seconds)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }
}

/// `scheme://host[:port]` exactly, as browsers send it in `Origin`.
fn is_origin(candidate: &str) -> bool {
    url::Url::parse(candidate).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.path() == "/"
            && !candidate.ends_with('/')
            && url.query().is_none()
            && url.username().is_empty()
    })
}

/// A list from a comma-separated string (what an environment variable can hold) or a
/// TOML array; blank entries are dropped.
fn comma_separated<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    let items = match Raw::deserialize(de)? {
        Raw::One(joined) => joined.split(',').map(str::to_owned).collect(),
        Raw::Many(items) => items,
    };
    Ok(items
        .into_iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect())
}
