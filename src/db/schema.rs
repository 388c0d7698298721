//! The schema at start-up: bring it up to date (`auto_migrate`), or refuse a database whose
//! migrations are behind and say how to fix it.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DbErr};

use crate::config::DatabaseSettings;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
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

/// Brings the schema up to date (`database.auto_migrate`), holding the database-wide
/// migration lock so that replicas starting together migrate once; or refuses a database
/// that is behind. `db`: the service's own handle, so the check goes the way its queries go
/// (through a transaction pooler, see `database.transaction_pooling`).
pub async fn prepare(
    db: &impl ConnectionTrait,
    settings: &DatabaseSettings,
) -> Result<(), SchemaError> {
    if settings.auto_migrate {
        return migration::up_exclusively(super::connect_options(settings))
            .await
            .map_err(SchemaError::Migrate);
    }
    // Read-only: a service account without DDL rights can still check.
    let pending = Migrator::get_pending_migrations_read_only(db)
        .await
        .map_err(SchemaError::Status)?;
    if pending.is_empty() {
        return Ok(());
    }
    let names: Vec<_> = pending.iter().map(|m| m.name().to_owned()).collect();
    Err(SchemaError::Pending {
        count: names.len(),
        names: names.join(", "),
    })
}
