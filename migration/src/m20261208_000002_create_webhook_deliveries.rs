//! Webhook deliveries: one row per event per subscription, inserted in the transaction of the
//! change that made the event (with the job that sends it), kept with its outcome so that an
//! owner can see what was sent, what failed and why, and retry what is dead. Deleted with its
//! subscription.

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
                    .table(WebhookDeliveries::Table)
                    .if_not_exists()
                    .col(big_pk_auto(WebhookDeliveries::Id))
                    .col(big_integer(WebhookDeliveries::WebhookId))
                    // `note.created`, ...
                    .col(string_len(WebhookDeliveries::EventType, 32))
                    // The body sent, exactly (the signature covers its bytes).
                    .col(text(WebhookDeliveries::Payload))
                    // The `webhook-id` header: the same on every attempt.
                    .col(string_len(WebhookDeliveries::MessageId, 64))
                    // pending | succeeded | dead
                    .col(string_len(WebhookDeliveries::Status, 16))
                    .col(integer(WebhookDeliveries::Attempts).default(0))
                    .col(integer_null(WebhookDeliveries::LastStatus))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(utc_timestamp(
                        manager,
                        WebhookDeliveries::NextAttemptAt,
                        true,
                    ))
                    .col(utc_timestamp(manager, WebhookDeliveries::CreatedAt, false))
                    .col(utc_timestamp(manager, WebhookDeliveries::UpdatedAt, false))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_deliveries_webhook")
                            .from(WebhookDeliveries::Table, WebhookDeliveries::WebhookId)
                            .to(Webhooks::Table, Webhooks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A subscription's deliveries are listed by (webhook_id, id).
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_webhook_id")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::WebhookId)
                    .col(WebhookDeliveries::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    WebhookId,
    EventType,
    Payload,
    MessageId,
    Status,
    Attempts,
    LastStatus,
    LastError,
    NextAttemptAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
}
