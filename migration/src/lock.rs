//! The database-wide migration lock: one migrator at a time per database.
//!
//! sea-orm-migration takes no lock, so two replicas that migrate at the same time both see a
//! migration as pending and both apply it; the slower one fails half-way (PostgreSQL:
//! `duplicate key value violates unique constraint "pg_type_typname_nsp_index"`, SQLite and
//! MySQL: "table already exists"). Every command that changes the schema therefore runs inside
//! [`Wait::exclusively`]:
//!
//! - **PostgreSQL**: the session-level advisory lock [`POSTGRES_LOCK_KEY`] (the lock of
//!   `pg_advisory_lock`, scoped to the current database). It is *polled* with
//!   `pg_try_advisory_lock` rather than waited for with `pg_advisory_lock`: a session blocked in
//!   `SELECT pg_advisory_lock(..)` is a running statement holding a snapshot, and a migration
//!   that runs `CREATE INDEX CONCURRENTLY` waits for every such snapshot to end, so the holder
//!   would wait for the waiters while they wait for it (a deadlock other migration tools have
//!   hit). Between two polls the waiter holds nothing.
//! - **MySQL/MariaDB**: `GET_LOCK(name, timeout)`, a session-level named lock. Lock names are
//!   server-wide, so the name carries the database's name ([`mysql_lock_name`]).
//! - **SQLite**: an exclusive OS file lock (`flock`, through `std::fs::File::try_lock`) on a file
//!   beside the database, `<database file>.migrate.lock`, held for the whole run. An exclusive
//!   SQLite transaction around the run would clash with the transactions sea-orm-migration opens
//!   itself, and SQLite's own locks cannot be held across its statements; the file lock is
//!   independent of them. It is released when the file is closed, so a crashed migrator cannot
//!   leave it behind; the (empty) file itself stays, and may be deleted when nothing migrates.
//!   An in-memory database belongs to one connection and needs no lock.
//!
//! The PostgreSQL and MySQL locks belong to a session, so they are taken on the very connection
//! that runs the migrations: [`crate::connect_single`] opens a pool of exactly one connection.
//!
//! Waiting is bounded ([`DEFAULT_LOCK_TIMEOUT`], or [`LOCK_TIMEOUT_ENV`] seconds) and announced
//! once; a timeout is an error that names the lock.

use std::{
    fs::{File, OpenOptions, TryLockError},
    future::Future,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement, Value,
};

/// The PostgreSQL advisory lock key: the bytes of `"migrate."` read as a big-endian `i64`.
pub const POSTGRES_LOCK_KEY: i64 = i64::from_be_bytes(*b"migrate.");

/// The SQLite lock file is the database file's path followed by this suffix.
pub const SQLITE_LOCK_FILE_SUFFIX: &str = ".migrate.lock";

/// Environment variable: how many seconds to wait for the lock held by another migrator.
pub const LOCK_TIMEOUT_ENV: &str = "MIGRATION_LOCK_TIMEOUT_SECONDS";

/// How long to wait for the lock when [`LOCK_TIMEOUT_ENV`] is unset.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(300);

/// How often a waiter tries the PostgreSQL and SQLite locks again.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The MySQL/MariaDB lock name for `database`. MySQL refuses names over 64 characters, so a
/// longer one is cut: two databases sharing their first 56 characters then merely take turns.
pub fn mysql_lock_name(database: &str) -> String {
    let mut name = format!("migrate:{database}");
    if let Some((cut, _)) = name.char_indices().nth(64) {
        name.truncate(cut);
    }
    name
}

/// Where the "waiting for the lock" notice goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Notice {
    /// A `migration: ...` line on stderr, beside the binary's other lines (its tracing filter
    /// shows sea-orm-migration's events only).
    Stderr,
    /// A tracing event, for a service that migrates at start-up.
    Log,
}

/// How to wait for the lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wait {
    timeout: Duration,
    notice: Notice,
}

impl Wait {
    /// The timeout from [`LOCK_TIMEOUT_ENV`] (whole seconds), else [`DEFAULT_LOCK_TIMEOUT`].
    pub(crate) fn from_env(notice: Notice) -> Result<Self, String> {
        let timeout = match std::env::var_os(LOCK_TIMEOUT_ENV) {
            None => DEFAULT_LOCK_TIMEOUT,
            Some(raw) => raw
                .to_str()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    format!(
                        "{LOCK_TIMEOUT_ENV} = {raw:?}: expected a whole number of seconds \
                         (the default is {})",
                        DEFAULT_LOCK_TIMEOUT.as_secs()
                    )
                })?,
        };
        Ok(Self { timeout, notice })
    }

    /// Runs `run` (which must use `db`) while holding the migration lock of `db`'s database.
    /// `db` must be a pool of one connection (see [`crate::connect_single`]).
    pub(crate) async fn exclusively<T>(
        &self,
        db: &DatabaseConnection,
        run: impl Future<Output = Result<T, DbErr>>,
    ) -> Result<T, DbErr> {
        let lock = Held::acquire(db, self).await?;
        let result = run.await;
        let released = lock.release(db).await;
        // A failed run is the error to report. Its lock goes with the session or the process
        // anyway, whether or not the release could still reach the database.
        let value = result?;
        released?;
        Ok(value)
    }

    fn announce(&self, what: &str) {
        let message = format!(
            "waiting for the migration lock held by another process ({what}), for up to {} s",
            self.timeout.as_secs()
        );
        match self.notice {
            Notice::Stderr => eprintln!("migration: {message}"),
            Notice::Log => tracing::info!("{message}"),
        }
    }

    fn timed_out(&self, what: &str) -> DbErr {
        DbErr::Migration(format!(
            "timed out after {} s waiting for the migration lock ({what}): another migration \
             is still running. Wait for it to finish, or set {LOCK_TIMEOUT_ENV} to wait longer",
            self.timeout.as_secs()
        ))
    }

    /// Tries `attempt` until it takes the lock or the timeout passes.
    async fn poll(&self, what: &str, attempt: Attempt<'_>) -> Result<(), DbErr> {
        let deadline = Instant::now() + self.timeout;
        let mut announced = false;
        loop {
            if attempt.try_once().await? {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.timed_out(what));
            }
            if !announced {
                self.announce(what);
                announced = true;
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
        }
    }
}

/// A lock that is polled: one non-blocking try.
enum Attempt<'a> {
    Postgres(&'a DatabaseConnection),
    SqliteFile(&'a File, &'a Path),
}

impl Attempt<'_> {
    async fn try_once(&self) -> Result<bool, DbErr> {
        match self {
            Self::Postgres(db) => {
                let sql = "SELECT pg_try_advisory_lock($1) AS locked";
                let row = one_row(db, sql, [POSTGRES_LOCK_KEY.into()]).await?;
                row.try_get::<bool>("", "locked")
            }
            Self::SqliteFile(file, path) => match file.try_lock() {
                Ok(()) => Ok(true),
                Err(TryLockError::WouldBlock) => Ok(false),
                Err(TryLockError::Error(err)) => Err(DbErr::Migration(format!(
                    "cannot lock the migration lock file {}: {err}",
                    path.display()
                ))),
            },
        }
    }
}

/// A lock that is held, and how to give it back.
enum Held {
    Postgres,
    MySql(String),
    SqliteFile(File, PathBuf),
    /// In-memory SQLite: nothing else can reach the database.
    Nothing,
}

impl Held {
    async fn acquire(db: &DatabaseConnection, wait: &Wait) -> Result<Self, DbErr> {
        match db.get_database_backend() {
            DbBackend::Postgres => {
                let what = format!("PostgreSQL advisory lock {POSTGRES_LOCK_KEY}");
                wait.poll(&what, Attempt::Postgres(db)).await?;
                Ok(Self::Postgres)
            }
            DbBackend::MySql => {
                let row = one_row(db, "SELECT DATABASE() AS db", []).await?;
                let database = row.try_get::<Option<String>>("", "db")?.unwrap_or_default();
                let name = mysql_lock_name(&database);
                let what = format!("MySQL lock '{name}'");
                // GET_LOCK holds no table or metadata lock while it waits, so unlike
                // PostgreSQL's waiters it can block in the server, which wakes it at once.
                let got = get_lock(db, &name, 0).await?;
                let got = if got == Some(0) && !wait.timeout.is_zero() {
                    wait.announce(&what);
                    get_lock(db, &name, wait.timeout.as_secs()).await?
                } else {
                    got
                };
                match got {
                    Some(1) => Ok(Self::MySql(name)),
                    Some(_) => Err(wait.timed_out(&what)),
                    None => Err(DbErr::Migration(format!(
                        "could not take the migration lock ({what}): GET_LOCK returned NULL \
                         (the wait was killed, or the server ran out of memory)"
                    ))),
                }
            }
            DbBackend::Sqlite => {
                // The file SQLite itself opened, as an absolute path; empty when in memory.
                let rows = db
                    .query_all_raw(Statement::from_string(
                        DbBackend::Sqlite,
                        "PRAGMA database_list",
                    ))
                    .await?;
                let mut file = String::new();
                for row in rows {
                    if row.try_get::<String>("", "name")? == "main" {
                        file = row.try_get::<String>("", "file")?;
                    }
                }
                if file.is_empty() {
                    return Ok(Self::Nothing);
                }
                let path = PathBuf::from(file + SQLITE_LOCK_FILE_SUFFIX);
                let lock_file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)
                    .map_err(|err| {
                        DbErr::Migration(format!(
                            "cannot open the migration lock file {}: {err}",
                            path.display()
                        ))
                    })?;
                let what = format!("lock file {}", path.display());
                wait.poll(&what, Attempt::SqliteFile(&lock_file, &path))
                    .await?;
                Ok(Self::SqliteFile(lock_file, path))
            }
            other => Err(DbErr::Migration(format!(
                "no migration lock is implemented for {other:?}"
            ))),
        }
    }

    async fn release(self, db: &DatabaseConnection) -> Result<(), DbErr> {
        let (held, what) = match self {
            Self::Nothing => return Ok(()),
            Self::SqliteFile(file, path) => {
                return file.unlock().map_err(|err| {
                    DbErr::Migration(format!(
                        "cannot unlock the migration lock file {}: {err}",
                        path.display()
                    ))
                });
            }
            Self::Postgres => {
                let sql = "SELECT pg_advisory_unlock($1) AS unlocked";
                let row = one_row(db, sql, [POSTGRES_LOCK_KEY.into()]).await?;
                (
                    row.try_get::<bool>("", "unlocked")?,
                    format!("PostgreSQL advisory lock {POSTGRES_LOCK_KEY}"),
                )
            }
            Self::MySql(name) => {
                let sql = "SELECT CAST(RELEASE_LOCK(?) AS SIGNED) AS released";
                let row = one_row(db, sql, [name.as_str().into()]).await?;
                (
                    row.try_get::<Option<i64>>("", "released")? == Some(1),
                    format!("MySQL lock '{name}'"),
                )
            }
        };
        if held {
            return Ok(());
        }
        // Only a connection replaced during the run loses a session lock.
        Err(DbErr::Migration(format!(
            "the migration lock ({what}) was no longer held when the run ended: the database \
             connection was lost and replaced, so another migrator may have run at the same \
             time. Check the schema with `migration status`"
        )))
    }
}

/// `GET_LOCK(name, seconds)`: 1 when taken, 0 on timeout, NULL on error.
async fn get_lock(db: &DatabaseConnection, name: &str, seconds: u64) -> Result<Option<i64>, DbErr> {
    let sql = "SELECT CAST(GET_LOCK(?, ?) AS SIGNED) AS got";
    let row = one_row(db, sql, [name.into(), seconds.into()]).await?;
    row.try_get::<Option<i64>>("", "got")
}

async fn one_row<const N: usize>(
    db: &DatabaseConnection,
    sql: &str,
    values: [Value; N],
) -> Result<QueryResult, DbErr> {
    let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, values);
    db.query_one_raw(statement)
        .await?
        .ok_or_else(|| DbErr::Migration(format!("no row from `{sql}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_lock_names() {
        // docs/src/migrations.md names this key: changing it lets old and new migrators run together.
        assert_eq!(POSTGRES_LOCK_KEY, 7_883_946_363_647_714_606);
        assert_eq!(mysql_lock_name("notes"), "migrate:notes");
        let long = "d".repeat(100);
        assert_eq!(mysql_lock_name(&long).chars().count(), 64);
        assert_eq!(mysql_lock_name(&"é".repeat(100)).chars().count(), 64);
    }
}
