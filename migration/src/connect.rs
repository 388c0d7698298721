//! Connecting for migrations: the dedicated one-connection pool the migration lock needs,
//! applying pending migrations under that lock, and the SQLite details of a first connect.

use std::time::Duration;

use sea_orm_migration::{
    MigratorTrait,
    sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr},
};

use crate::{Migrator, lock};

/// Applies every pending migration while holding the database-wide migration lock, so
/// replicas that start together migrate one after the other: the first applies the
/// migrations, the others wait for it and then find nothing pending.
///
/// Opens its own connection from `options` (only the pool size and connection lifetimes are
/// overridden: one connection, kept for the whole run; SQLite settings such as the busy
/// timeout are kept), takes the lock ([`lock`]), runs `Migrator::up`, releases the lock and
/// closes the connection. Waits for a lock held elsewhere for up to
/// [`lock::DEFAULT_LOCK_TIMEOUT`] (or `MIGRATION_LOCK_TIMEOUT_SECONDS`), logging once that it
/// waits; a timeout is an error.
pub async fn up_exclusively(options: ConnectOptions) -> Result<(), DbErr> {
    let wait = lock::Wait::from_env(lock::Notice::Log).map_err(DbErr::Migration)?;
    let db = connect_single(options).await?;
    let result = wait.exclusively(&db, Migrator::up(&db, None)).await;
    let closed = db.close().await;
    result?;
    closed
}

/// Opens the dedicated connection migrations run on: a pool of exactly one connection, since
/// the PostgreSQL and MySQL migration locks belong to the session that took them. It is never
/// recycled (no idle timeout, no maximum lifetime) nor pinged and silently replaced before
/// use: a connection lost mid-run fails the run. Release then notices if the lock was lost.
/// A migration must use the connection or transaction it is given, never open another.
pub async fn connect_single(mut options: ConnectOptions) -> Result<DatabaseConnection, DbErr> {
    options
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None::<Duration>)
        .max_lifetime(None::<Duration>)
        .test_before_acquire(false)
        .connect_lazy(false);
    connect(options).await
}

/// `Database::connect`, with one SQLite race handled: the first connections to a brand-new
/// file switch it to WAL, and when two processes (replicas, or the service and a migration
/// job) do that at the same moment, SQLite may answer one of them "database is locked" at
/// once rather than wait, since waiting could deadlock. That connect is tried again.
pub async fn connect(options: ConnectOptions) -> Result<DatabaseConnection, DbErr> {
    const ATTEMPTS: u32 = 20;
    let sqlite = options.get_url().starts_with("sqlite:");
    let mut attempt = 1;
    loop {
        match Database::connect(options.clone()).await {
            Err(err) if sqlite && attempt < ATTEMPTS && sqlite_busy(&err) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            result => return result,
        }
    }
}

/// SQLITE_BUSY or one of its extended codes (the low byte is 5), while connecting to SQLite.
fn sqlite_busy(err: &DbErr) -> bool {
    let DbErr::Conn(sea_orm_migration::sea_orm::RuntimeErr::SqlxError(err)) = err else {
        return false;
    };
    err.as_database_error()
        .and_then(|database| database.code())
        .is_some_and(|code| code.parse::<u32>().is_ok_and(|code| code & 0xff == 5))
}

/// The database file of a file-backed `sqlite:` URL (`sqlite://data/notes.db?mode=rwc` gives
/// `data/notes.db`); `None` for another scheme or an in-memory database.
pub fn sqlite_file(url: &str) -> Option<&std::path::Path> {
    let path = url.strip_prefix("sqlite:")?.trim_start_matches("//");
    let path = path.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| std::path::Path::new(path))
}

/// For a file-backed `sqlite:` URL, creates the file's directory so a first run just works.
pub fn prepare_sqlite_file(url: &str) -> std::io::Result<()> {
    let Some(path) = sqlite_file(url) else {
        return Ok(());
    };
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => std::fs::create_dir_all(parent),
        _ => Ok(()),
    }
}
