//! Who a note belongs to: the `sub` of the token that created it, when authentication is on;
//! '' for notes created with it off (those are served to no one while it is on). Not NULL:
//! a unique index that includes the owner then holds with authentication off too (NULLs are
//! all distinct in a unique index). An owner's list pages by `(owner, id)`, filtered by
//! `(owner, completed, id)`: index range scans at any depth, like the unscoped lists.

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
                    // OpenID Connect's limit for `sub`; 1,020 bytes in utf8mb4, so it fits in a
                    // MySQL index key (3,072 bytes) with the other columns.
                    .add_column(string_len(Notes::Owner, 255).default(""))
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
