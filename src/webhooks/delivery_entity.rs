//! The `webhook_deliveries` table (created by the migration crate).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub webhook_id: i64,
    pub event_type: String,
    /// The body sent, exactly as signed.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// The `webhook-id` header: the same on every attempt of this delivery.
    pub message_id: String,
    /// `pending`, `succeeded` or `dead` (see [`super::deliveries::Status`]).
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// The HTTP status of the last attempt's response, if it got one.
    pub last_status: Option<i32>,
    /// Why the last attempt failed (no response, or a status that is not a success).
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    /// When a pending delivery is next tried.
    pub next_attempt_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A delivery as a list shows it: without the payload.
#[derive(Clone, Debug, PartialEq, Eq, DerivePartialModel)]
#[sea_orm(entity = "Entity")]
pub struct Listed {
    pub id: i64,
    pub event_type: String,
    pub message_id: String,
    pub status: String,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}
