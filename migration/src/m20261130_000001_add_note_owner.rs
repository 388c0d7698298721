//! Who a note belongs to: the `sub` of the token that created it, when authentication is on
//! (NULL for notes created with it off; those are served to no one while it is on). An
//! owner's list pages by `(owner, id)`, filtered by `(owner, completed, id)`: index range
//! scans at any depth, like the unscoped lists. On SQLite and PostgreSQL the two indexes are
//! partial (`WHERE owner IS NOT NULL`), so that with authentication off a write does not
//! maintain them; MySQL/MariaDB have no partial indexes.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Notes::Table)
                    // OpenID Connect's limit for `sub`; 1,020 bytes in utf8mb4, so it fits in a
                    // MySQL index key (3,072 bytes) with the other columns.
                    .add_column(string_len_null(Notes::Owner, 255))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_notes_owner_id", vec![Notes::Owner, Notes::Id]),
            (
                "idx_notes_owner_completed_id",
                vec![Notes::Owner, Notes::Completed, Notes::Id],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Notes::Table);
            for column in columns {
                index.col(column);
            }
            if manager.get_database_backend() != DatabaseBackend::MySql {
                index.and_where(Expr::col(Notes::Owner).is_not_null());
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["idx_notes_owner_completed_id", "idx_notes_owner_id"] {
            manager
                .drop_index(Index::drop().name(name).table(Notes::Table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Notes::Table)
                    .drop_column(Notes::Owner)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Notes {
    Table,
    Id,
    Completed,
    Owner,
}
