//! Schema migrations for notes-service.
//!
//! This crate stands alone: it knows nothing of the service. The service links it to apply
//! or check migrations at start-up; operators run the `migration` binary (see `main.rs`).

pub use sea_orm_migration::prelude::*;

use std::time::Duration;

use sea_orm_migration::sea_orm::{ConnectOptions, Database, DatabaseConnection, DatabaseExecutor};

pub mod lock;
mod m20261124_000001_create_notes;
mod m20261125_000001_add_note_version;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_notes::Migration),
            Box::new(m20261125_000001_add_note_version::Migration),
        ]
    }
}

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
    let result = wait
        .exclusively(&db, <Migrator as MigratorTrait>::up(&db, None))
        .await;
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

/// The [`Migrator`] as the `migration` binary runs it: `up`, `down`, `fresh`, `refresh` and
/// `reset` hold the migration lock for their whole run; `status` only reads (it does not
/// create the migration table) and takes no lock. Give it to
/// `sea_orm_migration::cli::run_cli_with_connection` with a connection from
/// [`connect_single`].
pub struct LockingMigrator {
    wait: lock::Wait,
}

impl LockingMigrator {
    /// Waits up to `MIGRATION_LOCK_TIMEOUT_SECONDS` (default [`lock::DEFAULT_LOCK_TIMEOUT`])
    /// for the lock, saying so on stderr. Errs on an invalid `MIGRATION_LOCK_TIMEOUT_SECONDS`.
    pub fn from_env() -> Result<Self, String> {
        Ok(Self {
            wait: lock::Wait::from_env(lock::Notice::Stderr)?,
        })
    }
}

/// The connection behind a CLI command (the CLI always passes one, never a transaction).
fn connection<'c>(
    db: impl IntoSchemaManagerConnection<'c>,
) -> Result<&'c DatabaseConnection, DbErr> {
    match db.into_database_executor() {
        DatabaseExecutor::Connection(db) => Ok(db),
        _ => Err(DbErr::Migration(
            "the migration lock needs a database connection, not a transaction".to_owned(),
        )),
    }
}

#[async_trait::async_trait]
impl sea_orm_migration::MigratorTraitSelf for LockingMigrator {
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        <Migrator as MigratorTrait>::migrations()
    }

    fn migration_table_name(&self) -> DynIden {
        <Migrator as MigratorTrait>::migration_table_name()
    }

    // `status` takes no lock, so it must not write. sea-orm-migration's own `status` first
    // creates the migration table (CREATE TABLE IF NOT EXISTS), which on a fresh PostgreSQL
    // database races with a locked `up` creating it: both can fail on
    // "pg_type_typname_nsp_index". So here `install` does nothing and the status is read
    // without creating the table. The commands that change the schema delegate to `Migrator`,
    // whose own `install` runs under the lock.
    async fn install<C>(&self, _db: &C) -> Result<(), DbErr>
    where
        C: ConnectionTrait,
    {
        Ok(())
    }

    async fn get_migration_with_status<C>(
        &self,
        db: &C,
    ) -> Result<Vec<sea_orm_migration::Migration>, DbErr>
    where
        C: ConnectionTrait,
    {
        <Migrator as MigratorTrait>::get_migration_with_status_read_only(db).await
    }

    async fn fresh<'c, C>(&self, db: C) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        let db = connection(db)?;
        self.wait
            .exclusively(db, <Migrator as MigratorTrait>::fresh(db))
            .await
    }

    async fn refresh<'c, C>(&self, db: C) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        let db = connection(db)?;
        self.wait
            .exclusively(db, <Migrator as MigratorTrait>::refresh(db))
            .await
    }

    async fn reset<'c, C>(&self, db: C) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        let db = connection(db)?;
        self.wait
            .exclusively(db, <Migrator as MigratorTrait>::reset(db))
            .await
    }

    async fn uninstall<'c, C>(&self, db: C) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        let db = connection(db)?;
        self.wait
            .exclusively(db, <Migrator as MigratorTrait>::uninstall(db))
            .await
    }

    async fn up<'c, C>(&self, db: C, steps: Option<u32>) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        let db = connection(db)?;
        self.wait
            .exclusively(db, <Migrator as MigratorTrait>::up(db, steps))
            .await
    }

    async fn down<'c, C>(&self, db: C, steps: Option<u32>) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        let db = connection(db)?;
        self.wait
            .exclusively(db, <Migrator as MigratorTrait>::down(db, steps))
            .await
    }
}

/// `database.url` as the service would resolve it (without `DATABASE_URL`, which the caller
/// checks first): `APP__DATABASE__URL`, else the config files for `APP_ENV`.
/// Returns `Ok(None)` when no config directory exists, so `-u`/`DATABASE_URL` can still be used.
pub fn config_database_url() -> Result<Option<String>, String> {
    use config::{Config, Environment, File};

    let dir = std::env::var("APP_CONFIG_DIR").unwrap_or_else(|_| "config".to_owned());
    let profile = std::env::var("APP_ENV").unwrap_or_else(|_| "development".to_owned());
    let dir = std::path::Path::new(&dir);
    if !dir.join("default.toml").exists() {
        return Ok(std::env::var("APP__DATABASE__URL").ok());
    }
    // As the service: a profile without its file is a mistake (APP_ENV=producton), not a
    // reason to migrate the default database.
    let profile_file = dir.join(format!("{profile}.toml"));
    if !profile_file.is_file() {
        return Err(format!(
            "APP_ENV = {profile:?}: there is no {}",
            profile_file.display()
        ));
    }
    let settings = Config::builder()
        .add_source(File::from(dir.join("default.toml")))
        .add_source(File::from(profile_file))
        .add_source(File::from(dir.join("local.toml")).required(false))
        .add_source(
            Environment::with_prefix("APP")
                .prefix_separator("__")
                .separator("__"),
        )
        .build()
        .map_err(|err| format!("cannot read the configuration in {}: {err}", dir.display()))?;
    settings
        .get_string("database.url")
        .map(Some)
        .map_err(|err| format!("no usable `database.url` in the configuration: {err}"))
}

/// The URL with any password replaced by `***`, for logs and output.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => raw.to_owned(),
        Err(_) => "<unparsable database URL>".to_owned(),
    }
}

/// For a file-backed `sqlite:` URL, creates the file's directory so a first run just works.
pub fn prepare_sqlite_file(url: &str) -> std::io::Result<()> {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Ok(());
    };
    let path = rest.trim_start_matches("//");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(());
    }
    match std::path::Path::new(path).parent() {
        Some(parent) if !parent.as_os_str().is_empty() => std::fs::create_dir_all(parent),
        _ => Ok(()),
    }
}
