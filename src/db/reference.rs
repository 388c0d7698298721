//! Whether a caller may make a row refer to another: a foreign key only knows that the
//! parent row exists, not whose it is. With authentication on, a reminder must not attach
//! to another owner's note, and the answer must not tell that note exists: another owner's
//! row answers exactly as a missing one.
//!
//! Call it before the insert or update that writes the reference. The foreign key still
//! guards the moment between the check and the write: a parent deleted meanwhile fails the
//! write with a foreign-key violation (see `errors::foreign_key_violation`), which the
//! resource reports as the same missing reference.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PrimaryKeyTrait, QueryFilter, SelectExt,
};

use super::owner::Owner;

/// Whether the row `id` of the table whose owner column is `owner_column` exists and is
/// `owner`'s (any row with authentication off). One primary-key lookup: `SELECT 1 FROM
/// notes WHERE id = ? AND owner = ?`.
pub async fn visible<C, Id>(
    db: &impl ConnectionTrait,
    owner: &Owner,
    owner_column: C,
    id: Id,
) -> Result<bool, DbErr>
where
    C: ColumnTrait,
    C::EntityName: EntityTrait,
    Id: Into<<<C::EntityName as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType>,
{
    <C::EntityName as EntityTrait>::find_by_id(id)
        .filter(owner.condition(owner_column))
        .exists(db)
        .await
}
