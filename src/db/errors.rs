//! What a database error means for the caller, across backends: a lost connection, a
//! statement stopped by its time bound, a unique index refusing a duplicate.

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
