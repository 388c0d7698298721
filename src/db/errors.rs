//! What a database error means for the caller, across backends.

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
