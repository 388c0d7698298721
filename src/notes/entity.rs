//! The `notes` table as a SeaORM entity. The schema itself is created by the migration crate.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "Text")]
    pub text: String,
    pub completed: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Starts at 1 and rises with every change: the note's ETag.
    pub version: i64,
    /// The `sub` of the caller that created it (authentication on); "" otherwise.
    pub owner: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A note as a list shows it: the columns of the response, without the owner (the list is
/// already the caller's) and the version (a list carries no ETags). Fewer columns to read,
/// decode and drop per row: a page is a hundred rows.
#[derive(Clone, Debug, PartialEq, Eq, DerivePartialModel)]
#[sea_orm(entity = "Entity")]
pub struct Listed {
    pub id: i64,
    pub text: String,
    pub completed: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}
