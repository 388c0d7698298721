//! Versioned writes, for any resource whose rows carry a `version` that every change raises
//! (it is the row's ETag): a write names the versions it may apply to, and the check and the
//! write are one statement, so of two writers holding the same version exactly one wins.

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, DeleteMany, EntityTrait, Select, TransactionSession,
    TransactionTrait, UpdateMany,
};

/// Which versions a write may apply to. `None`: any.
pub type Expected<'a> = Option<&'a [i64]>;

/// What became of a write that names its row by id.
#[derive(Debug, PartialEq, Eq)]
pub enum Written<T> {
    /// Applied: for an update the row as it now is, for a delete nothing.
    Done(T),
    /// No row has this id.
    Missing,
    /// The row's version is not one of those expected; nothing was written.
    Stale { current_version: i64 },
}

/// Whether `version` is one of `expected` (any version when `None`).
pub fn allows(expected: Expected<'_>, version: i64) -> bool {
    expected.is_none_or(|versions| versions.contains(&version))
}

/// What a versioned write that changed nothing found: `current_version` is the row's version
/// read back after the miss, `None` when no row has the id.
pub fn missed<T>(current_version: Option<i64>) -> Written<T> {
    match current_version {
        Some(current_version) => Written::Stale { current_version },
        None => Written::Missing,
    }
}

/// Runs `update` (the changed columns and the raised version, filtered to one row by id and
/// owner and to the expected versions) and returns the row as it now is: `UPDATE ...
/// RETURNING` where the backend can, else (MySQL/MariaDB) read back by `row` in the same
/// transaction, so what is returned is this write's result, not a later one. When nothing was
/// written, `row` (the same row whatever its version) tells a missing row from a stale one.
pub async fn update<E: EntityTrait>(
    db: &(impl ConnectionTrait + TransactionTrait),
    update: UpdateMany<E>,
    row: Select<E>,
    version: fn(&E::Model) -> i64,
) -> Result<Written<E::Model>, DbErr> {
    let written = match db.get_database_backend() {
        DbBackend::Postgres | DbBackend::Sqlite => update.exec_with_returning(db).await?.pop(),
        _ => {
            let txn = db.begin().await?;
            let applied = update.exec(&txn).await?.rows_affected > 0;
            let now = match applied {
                true => row.clone().one(&txn).await?,
                false => None,
            };
            txn.commit().await?;
            now
        }
    };
    match written {
        Some(now) => Ok(Written::Done(now)),
        None => Ok(missed(row.one(db).await?.as_ref().map(version))),
    }
}

/// Runs `delete` (filtered to one row by id and owner and to the expected versions); when it
/// deleted nothing, `row` (the same row whatever its version) tells missing from stale.
pub async fn delete<E: EntityTrait>(
    db: &impl ConnectionTrait,
    delete: DeleteMany<E>,
    row: Select<E>,
    version: fn(&E::Model) -> i64,
) -> Result<Written<()>, DbErr> {
    if delete.exec(db).await?.rows_affected > 0 {
        return Ok(Written::Done(()));
    }
    Ok(missed(row.one(db).await?.as_ref().map(version)))
}
