//! Connecting to the database, per-backend pool settings, and the schema check at start-up.

pub mod keyset;
pub mod note;
pub mod notes;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::DatabaseSettings;

/// Which backend a URL selects, by its scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Self> {
        match url.split(':').next()? {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            "mysql" => Some(Self::MySql),
            _ => None,
        }
    }

    /// (max, min) pool connections when the settings leave them unset. SQLite writes are
    /// serialized by the database itself, but WAL lets readers run beside the writer.
    pub fn pool_defaults(self) -> (u32, u32) {
        match self {
            Self::Sqlite => (8, 1),
            Self::Postgres | Self::MySql => (10, 0),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot connect to the database {url}: {source}")]
    Connect { url: String, source: DbErr },
    #[error("cannot create the directory for the SQLite database {url}: {source}")]
    SqliteDir { url: String, source: std::io::Error },
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot apply migrations: {0}")]
    Migrate(DbErr),
    #[error("cannot read the migration status: {0}")]
    Status(DbErr),
    #[error(
        "the database schema is behind: {count} pending migration(s) ({names}). \
         Run `migration up` (or set database.auto_migrate = true)"
    )]
    Pending { count: usize, names: String },
}

/// Opens the pool described by the settings.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, StartupError> {
    let url = settings.url.expose();
    let backend = Backend::from_url(url).unwrap_or(Backend::Sqlite);
    let (default_max, default_min) = backend.pool_defaults();
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(settings.max_connections.unwrap_or(default_max))
        .min_connections(settings.min_connections.unwrap_or(default_min))
        .connect_timeout(Duration::from_secs(settings.connect_timeout_seconds))
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_seconds))
        .idle_timeout(Duration::from_secs(settings.idle_timeout_seconds))
        .max_lifetime(Duration::from_secs(settings.max_lifetime_seconds))
        // Statement logging at INFO is slow under load and noisy; tracing at DEBUG suffices.
        .sqlx_logging(false);
    if backend == Backend::Sqlite {
        migration::prepare_sqlite_file(url).map_err(|source| StartupError::SqliteDir {
            url: settings.url.to_string(),
            source,
        })?;
        configure_sqlite(&mut options, settings);
    }
    Database::connect(options)
        .await
        .map_err(|source| StartupError::Connect {
            url: settings.url.to_string(),
            source,
        })
}

#[cfg(feature = "sqlite")]
fn configure_sqlite(options: &mut ConnectOptions, settings: &DatabaseSettings) {
    use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};

    use crate::config::SqliteSynchronous as Sync;

    let synchronous = match settings.sqlite.synchronous {
        Sync::Off => SqliteSynchronous::Off,
        Sync::Normal => SqliteSynchronous::Normal,
        Sync::Full => SqliteSynchronous::Full,
        Sync::Extra => SqliteSynchronous::Extra,
    };
    let busy_timeout = Duration::from_millis(settings.sqlite.busy_timeout_ms);
    options.map_sqlx_sqlite_opts(move |o| {
        o.create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(busy_timeout)
            .foreign_keys(true)
            // sqlx-sqlite hands rows over from its worker thread through a channel of 50;
            // room for a whole page (MAX_LIMIT = 1000) measured +55% on GET /notes.
            .row_buffer_size(1024)
    });
}

#[cfg(not(feature = "sqlite"))]
fn configure_sqlite(_: &mut ConnectOptions, _: &DatabaseSettings) {}

/// Brings the schema up to date (`auto_migrate`) or refuses a database that is behind.
pub async fn prepare_schema(
    db: &DatabaseConnection,
    auto_migrate: bool,
) -> Result<(), StartupError> {
    if auto_migrate {
        return Migrator::up(db, None).await.map_err(StartupError::Migrate);
    }
    // Read-only: a service account without DDL rights can still check.
    let pending = Migrator::get_pending_migrations_read_only(db)
        .await
        .map_err(StartupError::Status)?;
    if pending.is_empty() {
        return Ok(());
    }
    let names: Vec<_> = pending.iter().map(|m| m.name().to_owned()).collect();
    Err(StartupError::Pending {
        count: names.len(),
        names: names.join(", "),
    })
}

/// Whether the database answers, within `timeout` (a hung server must not hang the probe).
pub async fn ping(db: &DatabaseConnection, timeout: Duration) -> Result<(), DbErr> {
    match tokio::time::timeout(timeout, db.ping()).await {
        Ok(result) => result,
        Err(_) => Err(DbErr::Custom(format!("no answer within {timeout:?}"))),
    }
}
