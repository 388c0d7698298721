//! Column types that migrations share, so that a column means the same on every backend.

use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

/// A UTC timestamp with microsecond precision on every backend.
///
/// MySQL's `TIMESTAMP` (what `timestamp_with_time_zone` maps to there) keeps whole seconds
/// and ends in 2038, so MySQL/MariaDB get `DATETIME(6)`; the service always writes UTC.
/// (The first two migrations spell the same column out themselves.)
pub fn utc_timestamp(manager: &SchemaManager, name: impl IntoIden, nullable: bool) -> ColumnDef {
    let mut column = ColumnDef::new(name);
    match manager.get_database_backend() {
        DatabaseBackend::MySql => column.custom(Alias::new("DATETIME(6)")),
        _ => column.timestamp_with_time_zone(),
    };
    match nullable {
        true => column.null(),
        false => column.not_null(),
    };
    column
}
