//! The `idempotency_keys` table (created by the migration crate).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The owner's `sub`, or "" with authentication off.
    pub owner: String,
    pub idempotency_key: String,
    /// SHA-256 of method, path and body, in hex.
    pub fingerprint: String,
    /// The stored response's status; `None` while the first request runs.
    pub status: Option<i16>,
    /// The stored response's headers, a JSON object.
    #[sea_orm(column_type = "Text", nullable)]
    pub headers: Option<String>,
    #[sea_orm(column_type = "Blob", nullable)]
    pub body: Option<Vec<u8>>,
    /// Who runs the first request, and until when (its lease).
    pub lock_token: String,
    pub locked_until: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
