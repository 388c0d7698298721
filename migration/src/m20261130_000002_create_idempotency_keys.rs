//! Idempotency keys (the `Idempotency-Key` header, IETF httpapi draft-07): one row per key and
//! owner, holding the fingerprint of the first request and, once it succeeded, its stored
//! response, written in the same transaction as the write it answers. While the first request
//! runs, the row holds a lease (`lock_token`, `locked_until`). Rows past `expires_at` are
//! purged in batches.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .if_not_exists()
                    .col(big_pk_auto(IdempotencyKeys::Id))
                    // The owner's `sub`, or "" with authentication off (one shared space).
                    // Both 255 ASCII characters at most: the unique key fits MySQL's limit.
                    .col(string_len(IdempotencyKeys::Owner, 255))
                    .col(string_len(IdempotencyKeys::IdempotencyKey, 255))
                    // SHA-256 of method, path and body, in hex.
                    .col(string_len(IdempotencyKeys::Fingerprint, 64))
                    // NULL while the first request runs.
                    .col(small_integer_null(IdempotencyKeys::Status))
                    .col(text_null(IdempotencyKeys::Headers))
                    .col(body_col(manager))
                    .col(string_len(IdempotencyKeys::LockToken, 36))
                    .col(timestamp_col(manager, IdempotencyKeys::LockedUntil))
                    .col(timestamp_col(manager, IdempotencyKeys::CreatedAt))
                    .col(timestamp_col(manager, IdempotencyKeys::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_keys_owner_key")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::Owner)
                    .col(IdempotencyKeys::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The purge finds expired rows by this.
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_keys_expires_at")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }
}

/// The stored response body: MySQL's BLOB holds 64 KiB, too little for every response;
/// MEDIUMBLOB holds 16 MiB.
fn body_col(manager: &SchemaManager) -> ColumnDef {
    match manager.get_database_backend() {
        DatabaseBackend::MySql => ColumnDef::new(IdempotencyKeys::Body)
            .custom(Alias::new("MEDIUMBLOB"))
            .null()
            .to_owned(),
        _ => blob_null(IdempotencyKeys::Body),
    }
}

/// A UTC timestamp with microsecond precision on every backend (as for notes).
fn timestamp_col(manager: &SchemaManager, name: IdempotencyKeys) -> ColumnDef {
    match manager.get_database_backend() {
        DatabaseBackend::MySql => ColumnDef::new(name)
            .custom(Alias::new("DATETIME(6)"))
            .not_null()
            .to_owned(),
        _ => timestamp_with_time_zone(name),
    }
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Id,
    Owner,
    IdempotencyKey,
    Fingerprint,
    Status,
    Headers,
    Body,
    LockToken,
    LockedUntil,
    CreatedAt,
    ExpiresAt,
}
