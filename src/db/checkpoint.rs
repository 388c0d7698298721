//! SQLite's write-ahead log, copied into the database off the request path.
//!
//! SQLite checkpoints (copies the log into the database file, then starts the log again from
//! the top) on the connection whose commit takes the log past 1000 pages, and with
//! `synchronous = normal` that checkpoint also syncs the log and the database file to disk.
//! With one pooled connection, the request that commits it waits for all that, and so does
//! every request queued behind it. A connection of its own checkpoints every few
//! milliseconds instead, in PASSIVE mode (it never blocks a writer), so that the commit that
//! crosses 1000 pages finds little or nothing left to copy and sync, and still starts the log
//! again. Nothing is synced less: the same syncs happen, on another thread.
//!
//! Measured (release build, server pinned to one core, `wrk -t1 -c16`, 60 s of `POST /notes`):
//! p99 6.9 ms and max 14 ms with SQLite's own checkpoints only, 4.8 ms and 12 ms with this
//! one every 5 ms (the performance chapter has the whole comparison). While the log does not
//! change (an idle service) it runs no statement: it looks at the `-wal` file only.

use std::{path::PathBuf, time::Duration};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};

use super::{ConnectError, connect_options};
use crate::config::DatabaseSettings;

/// A connection that checkpoints the log of the service's SQLite database.
pub struct Checkpointer {
    connection: DatabaseConnection,
    interval: Duration,
    /// The `-wal` file: while its size and modification time stay the same, there is nothing
    /// new to copy.
    log: PathBuf,
}

impl Checkpointer {
    /// Opens the checkpointer's connection: `None` unless the database is an SQLite file and
    /// `database.sqlite.checkpoint_interval_ms` is not 0.
    pub async fn open(settings: &DatabaseSettings) -> Result<Option<Self>, ConnectError> {
        let interval = Duration::from_millis(settings.sqlite.checkpoint_interval_ms);
        let Some(file) = migration::sqlite_file(settings.url.expose()) else {
            return Ok(None);
        };
        if interval.is_zero() {
            return Ok(None);
        }
        let mut log = file.as_os_str().to_owned();
        log.push("-wal");
        let mut options = connect_options(settings);
        options.max_connections(1).min_connections(1);
        let connection =
            migration::connect(options)
                .await
                .map_err(|source| ConnectError::Connect {
                    url: settings.url.clone(),
                    source,
                })?;
        Ok(Some(Self {
            connection,
            interval,
            log: log.into(),
        }))
    }

    /// Checkpoints every interval in which the log changed, on its own task, until the
    /// handle is aborted. Failures are logged and tried again next time.
    pub fn start(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut seen = None;
            loop {
                tokio::time::sleep(self.interval).await;
                let now = std::fs::metadata(&self.log)
                    .ok()
                    .map(|log| (log.len(), log.modified().ok()));
                if now.is_none() || now == seen {
                    continue;
                }
                seen = now;
                if let Err(err) = passive_checkpoint(&self.connection).await {
                    tracing::warn!(error = %err, "checkpointing the SQLite log failed");
                }
            }
        })
    }
}

/// As much of the log as no reader still needs, without waiting for anyone.
pub async fn passive_checkpoint(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let statement =
        Statement::from_string(db.get_database_backend(), "PRAGMA wal_checkpoint(PASSIVE)");
    db.query_all_raw(statement).await.map(|_| ())
}
