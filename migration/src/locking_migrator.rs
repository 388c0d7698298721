//! The migrator the `migration` binary runs: SeaORM's commands, each holding the migration
//! lock ([`crate::lock`]) while it changes the schema.

use sea_orm_migration::{
    IntoSchemaManagerConnection, MigrationTrait, MigratorTrait,
    sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseExecutor, DbErr},
    sea_query::DynIden,
};

use crate::{Migrator, lock};
use sea_orm_migration::prelude::async_trait;

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
