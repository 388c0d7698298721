//! The `jobs` table (created by the migration crate).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The job kind's name: which handler runs it.
    pub kind: String,
    /// The handler's input, as JSON.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// `pending`, `running` or `dead` (see [`super::State`]).
    pub state: String,
    /// Attempts begun, the running one included.
    pub attempts: i32,
    /// `None`: the `jobs.max_attempts` of the process that runs it.
    pub max_attempts: Option<i32>,
    /// When a pending job may be claimed.
    pub run_at: DateTimeUtc,
    /// When a running job's lease ends.
    pub lease_until: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
