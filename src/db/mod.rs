//! Connecting to the database with per-backend pool settings (`Db`, in `handle`, watched
//! by `availability`), the schema check at start-up (`schema`), and what every resource's
//! database functions share: keyset paging (`keyset`), versioned writes (`versioned`), the
//! time written into rows (`clock`), whose rows a call sees (`owner`) and may refer to
//! (`reference`), an insert safe against a concurrent delete (`insert`) and what a database
//! error means (`errors`); idempotency keys and their stored responses (`idempotency`); the
//! pool's state for the metrics (`pool_stats`).

pub mod availability;
pub mod checkpoint;
pub mod clock;
pub mod errors;
pub mod executor;
pub mod handle;
pub mod idempotency;
pub mod insert;
pub mod keyset;
pub mod owner;
pub mod pool_stats;
pub mod reference;
pub mod schema;
pub mod versioned;

pub use handle::Db;

use std::time::Duration;

use sea_orm::{ConnectOptions, DbErr};

use self::availability::Availability;
use crate::config::{Backend, DatabaseSettings, DatabaseUrl};

/// Why the pool could not be opened; the URL is printed without its password.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to the database {url}: {source}")]
    Connect { url: DatabaseUrl, source: DbErr },
    #[error("cannot create the directory for the SQLite database {url}: {source}")]
    SqliteDir {
        url: DatabaseUrl,
        source: std::io::Error,
    },
}

/// A pooled connection idle this long is pinged before use.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// (max, min) pool connections when the settings leave them unset.
///
/// SQLite: one connection. SQLite runs one writer at a time anyway, and writers on several
/// connections wait for each other in SQLite's busy handler, which sleeps (1, 2, 5, 10 ms...):
/// with 8 connections, writes under load had a p99 of about 95 ms, with one about 7 ms, and
/// every request cost less CPU (one SQLite worker thread instead of eight). Raise it for
/// long, concurrent reads on a machine with cores to spare.
///
/// A server's pool is kept full: its connections are opened before the service listens (and
/// readiness waits for them after an outage), so the first requests do not pay for
/// connecting, and the connection budget counts `max` per replica anyway.
fn pool_defaults(backend: Backend) -> (u32, u32) {
    match backend {
        Backend::Sqlite => (1, 1),
        Backend::Postgres | Backend::MySql => (10, 10),
    }
}

/// The pool's (max, min) connections: the settings, else the backend's defaults (a default
/// min never above the max).
pub fn pool_size(settings: &DatabaseSettings) -> (u32, u32) {
    let backend = settings.url.backend().unwrap_or(Backend::Sqlite);
    let (default_max, default_min) = pool_defaults(backend);
    let max = settings.max_connections.unwrap_or(default_max);
    let min = settings.min_connections.unwrap_or(default_min.min(max));
    (max, min)
}

/// The connection options the settings describe, without a statement bound (migrations
/// and the availability probe use them as they are).
pub fn connect_options(settings: &DatabaseSettings) -> ConnectOptions {
    let backend = settings.url.backend().unwrap_or(Backend::Sqlite);
    let (max, min) = pool_size(settings);
    let mut options = ConnectOptions::new(settings.url.expose());
    options
        .max_connections(max)
        .min_connections(min)
        .connect_timeout(Duration::from_secs(settings.connect_timeout_seconds))
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_seconds))
        .idle_timeout(Duration::from_secs(settings.idle_timeout_seconds))
        .max_lifetime(Duration::from_secs(settings.max_lifetime_seconds))
        // Statement logging at INFO is slow under load and noisy; tracing at DEBUG suffices.
        .sqlx_logging(false)
        // sqlx pings every connection it hands out by default: a round trip per request.
        // Ping only connections idle long enough to have been dropped by the server or a
        // proxy; a hot connection that breaks anyway gives a 503 (see `errors`).
        .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
    if backend == Backend::Sqlite {
        configure_sqlite(&mut options, settings);
    }
    if settings.transaction_pooling {
        for_transaction_pooling(&mut options);
    }
    options
}

/// A pooler in transaction mode (PgBouncer 1.18) gives each transaction, and each statement
/// outside one, whichever server connection is free. sqlx names the statements it prepares
/// and sends each one's Parse and Bind in separate round trips, so a statement prepared on
/// one server connection may be bound on another, where it does not exist (or where another
/// client's statement of the same name does). Measured here behind PgBouncer 1.18: errors
/// whatever the statement cache size, also with unnamed statements. What works: no cache (a
/// name is never reused), every statement inside a transaction (`Db` sees to it), and
/// PgBouncer dropping a transaction's statements when it ends (`server_reset_query =
/// DEALLOCATE ALL`, `server_reset_query_always = 1`). PgBouncer 1.18 also refuses the startup
/// parameters `extra_float_digits` (not sent) and `options` (so `connect` sets no
/// statement_timeout: set it on the database role).
#[cfg(feature = "postgres")]
fn for_transaction_pooling(options: &mut ConnectOptions) {
    options.map_sqlx_postgres_opts(|o| o.statement_cache_capacity(0).extra_float_digits(None));
}

#[cfg(not(feature = "postgres"))]
fn for_transaction_pooling(_: &mut ConnectOptions) {}

/// Opens the pool described by the settings. Statements are bounded by `statement_timeout`
/// where the backend allows it: PostgreSQL's `statement_timeout`; MySQL/MariaDB's lock wait
/// timeouts (whole seconds); SQLite waits for locks at most `busy_timeout_ms`.
pub async fn connect(
    settings: &DatabaseSettings,
    statement_timeout: Duration,
) -> Result<Db, ConnectError> {
    let url = &settings.url;
    let backend = url.backend().unwrap_or(Backend::Sqlite);
    if backend == Backend::Sqlite {
        migration::prepare_sqlite_file(url.expose()).map_err(|source| ConnectError::SqliteDir {
            url: url.clone(),
            source,
        })?;
    }
    let mut options = connect_options(settings);
    if !settings.transaction_pooling {
        options.statement_timeout(statement_timeout);
    }
    if backend == Backend::MySql {
        bound_mysql_lock_waits(&mut options, statement_timeout);
    }
    let pool = migration::connect(options)
        .await
        .map_err(|source| ConnectError::Connect {
            url: url.clone(),
            source,
        })?;
    let interval = Duration::from_millis(settings.health_check_interval_ms);
    let availability = match backend {
        Backend::Postgres | Backend::MySql if !interval.is_zero() => {
            Availability::watch(connect_options(settings), interval)
        }
        _ => Availability::default(),
    };
    Ok(Db::new(pool, availability).statements_in_transactions(settings.transaction_pooling))
}

#[cfg(feature = "mysql")]
fn bound_mysql_lock_waits(options: &mut ConnectOptions, bound: Duration) {
    // Row locks and metadata locks; whole seconds, at least 1.
    let seconds = bound.as_secs().max(1);
    options.map_sqlx_mysql_pool_opts(move |pool| {
        pool.after_connect(move |connection, _| {
            Box::pin(async move {
                sea_orm::sqlx::query(
                    "SET SESSION innodb_lock_wait_timeout = ?, lock_wait_timeout = ?",
                )
                .bind(seconds)
                .bind(seconds)
                .execute(connection)
                .await
                .map(|_| ())
            })
        })
    });
}

#[cfg(not(feature = "mysql"))]
fn bound_mysql_lock_waits(_: &mut ConnectOptions, _: Duration) {}

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
    let journal_size_limit = settings.sqlite.journal_size_limit_bytes.to_string();
    options.map_sqlx_sqlite_opts(move |o| {
        o.create_if_missing(true)
            .pragma("journal_size_limit", journal_size_limit.clone())
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

/// Whether the database answers, within `timeout` (a hung server must not hang the probe).
pub async fn ping(db: &Db, timeout: Duration) -> Result<(), DbErr> {
    match tokio::time::timeout(timeout, db.ping()).await {
        Ok(result) => result,
        Err(_) => Err(DbErr::Custom(format!("no answer within {timeout:?}"))),
    }
}
