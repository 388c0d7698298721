//! The `webhooks` table (subscriptions) as a SeaORM entity. The schema is created by the
//! migration crate.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The `sub` of the caller that created it (authentication on); "" otherwise.
    pub owner: String,
    pub url: String,
    /// The event types it wants, comma-separated (see [`super::events::EventType`]).
    pub events: String,
    pub description: Option<String>,
    pub enabled: bool,
    /// `whsec_` + base64: signs every delivery. Never shown again after the 201.
    pub secret: String,
    /// The secret before the last rotation, until `previous_secret_expires_at`.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Starts at 1 and rises with every change: the subscription's ETag.
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A subscription as a list shows it: without the owner and the secrets.
#[derive(Clone, Debug, PartialEq, Eq, DerivePartialModel)]
#[sea_orm(entity = "Entity")]
pub struct Listed {
    pub id: i64,
    pub url: String,
    pub events: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub version: i64,
}

impl From<Model> for Listed {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            url: m.url,
            events: m.events,
            description: m.description,
            enabled: m.enabled,
            created_at: m.created_at,
            updated_at: m.updated_at,
            version: m.version,
        }
    }
}
