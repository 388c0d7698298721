//! The pool's state right now, whatever the backend: what the metrics read at each scrape.

use sea_orm::{DatabaseConnection, DatabaseConnectionType};

use super::Db;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections, idle or in use (including any being opened).
    pub size: u32,
    pub idle: u32,
    pub max: u32,
    /// Database calls through `Db` that wait for a connection or hold one.
    pub calls_in_flight: u32,
}

impl PoolStats {
    pub fn in_use(&self) -> u32 {
        // `size` and `idle` are read one after the other: never report less than nothing.
        self.size.saturating_sub(self.idle)
    }

    /// How many calls wait for a connection, estimated as the calls in flight that do not
    /// hold one. sqlx does not count its waiters. A transaction from `begin` holds its
    /// connection without being a call in flight, so while one is open this reads low.
    pub fn waiting_estimate(&self) -> u32 {
        self.calls_in_flight.saturating_sub(self.in_use())
    }
}

impl Db {
    /// `None` for a connection that is not an sqlx pool of a compiled-in driver.
    pub fn pool_stats(&self) -> Option<PoolStats> {
        let (size, idle, max) = sqlx_pool_stats(self.pool())?;
        Some(PoolStats {
            size,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max,
            calls_in_flight: u32::try_from(self.calls_in_flight()).unwrap_or(u32::MAX),
        })
    }
}

/// (size, idle, max) of the sqlx pool under SeaORM. The per-driver getters panic on any other
/// kind of connection, so the kind is matched first.
fn sqlx_pool_stats(pool: &DatabaseConnection) -> Option<(u32, usize, u32)> {
    match &pool.inner {
        #[cfg(feature = "sqlite")]
        DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
            Some(counts(pool.get_sqlite_connection_pool()))
        }
        #[cfg(feature = "postgres")]
        DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
            Some(counts(pool.get_postgres_connection_pool()))
        }
        #[cfg(feature = "mysql")]
        DatabaseConnectionType::SqlxMySqlPoolConnection(_) => {
            Some(counts(pool.get_mysql_connection_pool()))
        }
        _ => None,
    }
}

fn counts<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>) -> (u32, usize, u32) {
    (
        pool.size(),
        pool.num_idle(),
        pool.options().get_max_connections(),
    )
}
