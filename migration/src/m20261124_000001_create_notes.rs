use sea_orm_migration::{prelude::*, schema::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Notes::Table)
                    .col(big_pk_auto(Notes::Id))
                    .col(text(Notes::Text))
                    .col(boolean(Notes::Completed).default(false))
                    .col(timestamp_col(manager, Notes::CreatedAt))
                    .col(timestamp_col(manager, Notes::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Serves `GET /notes?completed=...`, which pages in id order.
        manager
            .create_index(
                Index::create()
                    .name("idx_notes_completed_id")
                    .table(Notes::Table)
                    .col(Notes::Completed)
                    .col(Notes::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Notes::Table).to_owned())
            .await
    }
}

/// A UTC timestamp with microsecond precision on every backend.
///
/// MySQL's `TIMESTAMP` (what `timestamp_with_time_zone` maps to there) keeps whole seconds
/// and ends in 2038, so MySQL/MariaDB get `DATETIME(6)`; the service always writes UTC.
fn timestamp_col(manager: &SchemaManager, name: Notes) -> ColumnDef {
    match manager.get_database_backend() {
        DatabaseBackend::MySql => ColumnDef::new(name)
            .custom(Alias::new("DATETIME(6)"))
            .not_null()
            .to_owned(),
        _ => timestamp_with_time_zone(name),
    }
}

#[derive(DeriveIden)]
enum Notes {
    Table,
    Id,
    Text,
    Completed,
    CreatedAt,
    UpdatedAt,
}
