//! Webhook subscriptions: an owner's URL that is sent the events it asks for, signed with a
//! secret of its own (Standard Webhooks). After a rotation the previous secret is kept, with
//! its expiry, so that deliveries carry both signatures for a while.

use crate::columns::utc_timestamp;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Webhooks::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Webhooks::Id))
                    // As for notes: the token's `sub`, or '' with authentication off.
                    .col(string_len(Webhooks::Owner, 255).default(""))
                    .col(string_len(Webhooks::Url, 2048))
                    // The event types, comma-separated: `note.created,note.deleted`.
                    .col(string_len(Webhooks::Events, 255))
                    .col(string_len_null(Webhooks::Description, 500))
                    .col(boolean(Webhooks::Enabled).default(true))
                    // `whsec_` + base64 of 32 bytes; kept as is, since signing needs it.
                    .col(string_len(Webhooks::Secret, 64))
                    .col(string_len_null(Webhooks::PreviousSecret, 64))
                    .col(utc_timestamp(
                        manager,
                        Webhooks::PreviousSecretExpiresAt,
                        true,
                    ))
                    .col(utc_timestamp(manager, Webhooks::CreatedAt, false))
                    .col(utc_timestamp(manager, Webhooks::UpdatedAt, false))
                    .col(big_integer(Webhooks::Version).default(1))
                    .to_owned(),
            )
            .await?;
        // An owner's list pages by (owner, id); an event finds its owner's subscriptions by it.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhooks_owner_id")
                    .table(Webhooks::Table)
                    .col(Webhooks::Owner)
                    .col(Webhooks::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Webhooks::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    Owner,
    Url,
    Events,
    Description,
    Enabled,
    Secret,
    PreviousSecret,
    PreviousSecretExpiresAt,
    CreatedAt,
    UpdatedAt,
    Version,
}
