//! A version per note, raised by every change: the note's ETag, and what a conditional
//! update (`If-Match`) compares atomically in its `WHERE` clause.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Notes::Table)
                    .add_column(big_integer(Notes::Version).default(1))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Notes::Table)
                    .drop_column(Notes::Version)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Notes {
    Table,
    Version,
}
