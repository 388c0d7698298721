//! What a database error means for the caller, across backends: a lost connection, a
//! statement stopped by its time bound, a unique index refusing a duplicate, a foreign key
//! refusing a child without its parent or the delete of a parent still referenced.

use sea_orm::{DbErr, RuntimeErr};

/// The connection broke under the statement (the server restarted, a proxy dropped it): the
/// pool replaces it, and a retry may well succeed.
pub fn connection_lost(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error;

    match err {
        DbErr::Query(RuntimeErr::SqlxError(err)) | DbErr::Exec(RuntimeErr::SqlxError(err)) => {
            matches!(
                err.as_ref(),
                Error::Io(_) | Error::Protocol(_) | Error::PoolClosed | Error::WorkerCrashed
            )
        }
        _ => false,
    }
}

/// The statement was stopped for taking too long, or waited too long for a lock: PostgreSQL
/// `statement_timeout` / `lock_timeout` (SQLSTATE 57014, 55P03), MySQL/MariaDB lock wait
/// timeouts (errors 1205, 3024 and MariaDB's 1969), SQLite busy (5, and its extended codes).
/// A retry later may well succeed.
pub fn timed_out(err: &DbErr) -> bool {
    let (DbErr::Query(RuntimeErr::SqlxError(err)) | DbErr::Exec(RuntimeErr::SqlxError(err))) = err
    else {
        return false;
    };
    let Some(database) = err.as_database_error() else {
        return false;
    };
    #[cfg(feature = "postgres")]
    if let Some(pg) = database.try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>() {
        return matches!(pg.code(), "57014" | "55P03");
    }
    #[cfg(feature = "mysql")]
    if let Some(mysql) = database.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>() {
        return matches!(mysql.number(), 1205 | 3024 | 1969);
    }
    #[cfg(feature = "sqlite")]
    if database
        .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
        .is_some()
    {
        // SQLITE_BUSY and its extended codes (the low byte is 5).
        let code = database.code();
        return code.is_some_and(|c| c.parse::<u32>().is_ok_and(|c| c & 0xff == 5));
    }
    false
}

/// A write refused because a unique index already holds its value, as far as the backend
/// says which: PostgreSQL names the constraint and its columns, MySQL/MariaDB the index,
/// SQLite the columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UniqueViolation {
    /// The unique index (or constraint) that refused the write.
    pub index: Option<String>,
    /// Its columns, without the table name.
    pub columns: Vec<String>,
}

/// `Some` when `err` is a unique-constraint violation, on any backend.
pub fn unique_violation(err: &DbErr) -> Option<UniqueViolation> {
    let sea_orm::SqlErr::UniqueConstraintViolation(message) = err.sql_err()? else {
        return None;
    };
    #[cfg(feature = "postgres")]
    if let DbErr::Query(RuntimeErr::SqlxError(sqlx)) | DbErr::Exec(RuntimeErr::SqlxError(sqlx)) =
        err
        && let Some(pg) = sqlx
            .as_database_error()
            .and_then(|e| e.try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>())
    {
        // detail: `Key (url)=(https://example.com) already exists.`
        let columns = pg
            .detail()
            .and_then(|detail| {
                detail
                    .strip_prefix("Key (")?
                    .split_once(")=(")
                    .map(|(c, _)| c)
            })
            .map(|columns| columns.split(", ").map(str::to_owned).collect())
            .unwrap_or_default();
        return Some(UniqueViolation {
            index: pg.constraint().map(str::to_owned),
            columns,
        });
    }
    // SQLite: `UNIQUE constraint failed: bookmarks.url`
    if let Some(columns) = message.strip_prefix("UNIQUE constraint failed: ") {
        let columns = columns
            .split(", ")
            .map(|column| column.rsplit('.').next().unwrap_or(column).to_owned())
            .collect();
        return Some(UniqueViolation {
            index: None,
            columns,
        });
    }
    // MySQL/MariaDB: `Duplicate entry 'x' for key 'idx_bookmarks_url'` (MySQL 8 writes
    // `bookmarks.idx_bookmarks_url`).
    let index = message
        .rsplit_once(" for key '")
        .and_then(|(_, key)| key.strip_suffix('\''))
        .map(|key| key.rsplit('.').next().unwrap_or(key).to_owned());
    Some(UniqueViolation {
        index,
        columns: Vec::new(),
    })
}

/// What a foreign key refused, as far as the backend says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignKeyFailure {
    /// An insert or update of a child row names a parent row that does not exist (or no
    /// longer: it was deleted meanwhile).
    MissingParent,
    /// A delete (or a key update) of a parent row that child rows still reference, under
    /// `ON DELETE RESTRICT` / `NO ACTION`.
    StillReferenced,
}

/// A write refused by a foreign key. PostgreSQL and MySQL/MariaDB say which side failed and
/// name the constraint; SQLite says only "FOREIGN KEY constraint failed", and which side
/// failed only for a delete refused by `ON DELETE RESTRICT`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForeignKeyViolation {
    /// Which side failed; `None` when the backend does not say (SQLite, but for `RESTRICT`).
    pub failure: Option<ForeignKeyFailure>,
    /// The foreign key constraint's name (PostgreSQL, MySQL/MariaDB).
    pub constraint: Option<String>,
    /// The referencing (child) columns, where the backend names them: MySQL/MariaDB when it
    /// gives the constraint's definition, PostgreSQL for a missing parent.
    pub columns: Vec<String>,
    /// The key value the child row named, as the backend prints it (PostgreSQL, for a
    /// missing parent: `7`; `1, 2` for a key of two columns).
    pub key: Option<String>,
}

/// `Some` when `err` is a foreign-key violation, on any backend: PostgreSQL SQLSTATE 23503,
/// MySQL/MariaDB errors 1451/1452 (and the older 1216/1217, and the cascade's duplicate-key
/// errors 1557/1761/1762, side unknown), SQLite's "FOREIGN KEY constraint failed" with the
/// extended code 787 (side unknown: a missing parent, or a delete under `NO ACTION`) or 1811
/// (`SQLITE_CONSTRAINT_TRIGGER`: an `ON DELETE RESTRICT` refusing a delete, which SeaORM's
/// `sql_err` does not recognise).
pub fn foreign_key_violation(err: &DbErr) -> Option<ForeignKeyViolation> {
    #[cfg(feature = "sqlite")]
    if let Some(violation) = sqlite_restrict(err) {
        return Some(violation);
    }
    let sea_orm::SqlErr::ForeignKeyConstraintViolation(message) = err.sql_err()? else {
        return None;
    };
    let (DbErr::Query(RuntimeErr::SqlxError(sqlx)) | DbErr::Exec(RuntimeErr::SqlxError(sqlx))) =
        err
    else {
        return Some(ForeignKeyViolation::default());
    };
    let database = sqlx.as_database_error()?;
    #[cfg(feature = "postgres")]
    if let Some(pg) = database.try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>() {
        return Some(postgres_foreign_key(
            pg.constraint(),
            pg.detail().unwrap_or_default(),
        ));
    }
    #[cfg(feature = "mysql")]
    if let Some(mysql) = database.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>() {
        return Some(mysql_foreign_key(mysql.number(), &message));
    }
    let _ = (database, message);
    // SQLite's 787: `FOREIGN KEY constraint failed`, nothing more.
    Some(ForeignKeyViolation::default())
}

/// SQLite refuses the delete of a parent under `ON DELETE RESTRICT` at once, as a trigger
/// would: extended code 1811, message `FOREIGN KEY constraint failed`.
#[cfg(feature = "sqlite")]
fn sqlite_restrict(err: &DbErr) -> Option<ForeignKeyViolation> {
    let (DbErr::Query(RuntimeErr::SqlxError(sqlx)) | DbErr::Exec(RuntimeErr::SqlxError(sqlx))) =
        err
    else {
        return None;
    };
    let database = sqlx.as_database_error()?;
    database
        .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
        .filter(|_| {
            database.code().as_deref() == Some("1811")
                && database.message() == "FOREIGN KEY constraint failed"
        })
        .map(|_| ForeignKeyViolation {
            failure: Some(ForeignKeyFailure::StillReferenced),
            ..Default::default()
        })
}

/// PostgreSQL's detail says the side and the key: `Key (note_id)=(7) is not present in table
/// "notes".` (a missing parent: the child's columns) or `Key (id)=(7) is still referenced
/// from table "reminders".` (the parent's columns, not carried).
fn postgres_foreign_key(constraint: Option<&str>, detail: &str) -> ForeignKeyViolation {
    let key = detail
        .strip_prefix("Key (")
        .and_then(|rest| rest.split_once(")=("));
    let (failure, columns, value) = match key {
        Some((columns, rest)) if rest.contains(") is not present in table ") => {
            let value = rest
                .split_once(") is not present in table ")
                .map(|(v, _)| v);
            (
                Some(ForeignKeyFailure::MissingParent),
                columns.split(", ").map(unquoted).collect(),
                value.map(str::to_owned),
            )
        }
        Some((_, rest)) if rest.contains(") is still referenced from table ") => {
            (Some(ForeignKeyFailure::StillReferenced), Vec::new(), None)
        }
        _ => (None, Vec::new(), None),
    };
    ForeignKeyViolation {
        failure,
        constraint: constraint.map(str::to_owned),
        columns,
        key: value,
    }
}

/// MySQL/MariaDB: `Cannot add or update a child row: a foreign key constraint fails
/// (`db`.`reminders`, CONSTRAINT `fk_reminders_note` FOREIGN KEY (`note_id`) REFERENCES
/// `notes` (`id`) ON DELETE CASCADE)` (1452), `Cannot delete or update a parent row: ...`
/// (1451, the same definition). 1216 and 1217 are the same two without the definition.
fn mysql_foreign_key(number: u16, message: &str) -> ForeignKeyViolation {
    let failure = match number {
        1216 | 1452 => Some(ForeignKeyFailure::MissingParent),
        1217 | 1451 => Some(ForeignKeyFailure::StillReferenced),
        _ => None,
    };
    let constraint = message
        .split_once("CONSTRAINT `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(name, _)| name.to_owned());
    let columns = message
        .split_once(" FOREIGN KEY (")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(columns, _)| columns.split(", ").map(unquoted).collect())
        .unwrap_or_default();
    ForeignKeyViolation {
        failure,
        constraint,
        columns,
        key: None,
    }
}

/// A column name without the quotes a backend put around it.
fn unquoted(name: &str) -> String {
    name.trim_matches(|c| c == '`' || c == '"').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_details_say_the_side_the_columns_and_the_key() {
        let missing = postgres_foreign_key(
            Some("fk_reminders_note"),
            "Key (note_id)=(7) is not present in table \"notes\".",
        );
        assert_eq!(
            missing,
            ForeignKeyViolation {
                failure: Some(ForeignKeyFailure::MissingParent),
                constraint: Some("fk_reminders_note".to_owned()),
                columns: vec!["note_id".to_owned()],
                key: Some("7".to_owned()),
            }
        );
        let referenced = postgres_foreign_key(
            Some("fk_reminders_note"),
            "Key (id)=(7) is still referenced from table \"reminders\".",
        );
        assert_eq!(referenced.failure, Some(ForeignKeyFailure::StillReferenced));
        assert!(referenced.columns.is_empty() && referenced.key.is_none());
        assert_eq!(postgres_foreign_key(None, "").failure, None);
    }

    #[test]
    fn mysql_messages_say_the_side_the_constraint_and_the_columns() {
        let missing = mysql_foreign_key(
            1452,
            "Cannot add or update a child row: a foreign key constraint fails \
             (`notes`.`reminders`, CONSTRAINT `fk_reminders_note` FOREIGN KEY (`note_id`) \
             REFERENCES `notes` (`id`) ON DELETE CASCADE)",
        );
        assert_eq!(
            missing,
            ForeignKeyViolation {
                failure: Some(ForeignKeyFailure::MissingParent),
                constraint: Some("fk_reminders_note".to_owned()),
                columns: vec!["note_id".to_owned()],
                key: None,
            }
        );
        let referenced = mysql_foreign_key(
            1451,
            "Cannot delete or update a parent row: a foreign key constraint fails \
             (`notes`.`pins`, CONSTRAINT `fk_pins` FOREIGN KEY (`a`, `b`) REFERENCES `notes` \
             (`x`, `y`))",
        );
        assert_eq!(referenced.failure, Some(ForeignKeyFailure::StillReferenced));
        assert_eq!(referenced.constraint.as_deref(), Some("fk_pins"));
        assert_eq!(referenced.columns, ["a", "b"]);
        let bare = mysql_foreign_key(
            1217,
            "Cannot delete or update a parent row: a foreign key constraint fails",
        );
        assert_eq!(bare.failure, Some(ForeignKeyFailure::StillReferenced));
        assert_eq!(bare.constraint, None);
    }
}
