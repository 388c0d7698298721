//! Whether a database server answers, watched in the background on a connection of its
//! own. While it is down, database calls fail at once (the request answers 503 within a
//! second) instead of each waiting for the pool's acquire timeout, and calls already
//! waiting are released; when the server is back, calls go through again by themselves.
//! A separate connection, so that a busy pool (all connections in use) never looks "down".

use std::{future::Future, sync::Arc, time::Duration};

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use tokio::sync::{Notify, watch};

/// How long one probe may take before the server counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone, Default)]
pub struct Availability {
    /// `None`: not watched (SQLite, or the probe turned off): every call goes through.
    watch: Option<Arc<Watch>>,
}

struct Watch {
    down: watch::Sender<bool>,
    /// Wakes the prober early when a call saw a connection error.
    suspect: Notify,
}

impl Availability {
    /// Starts probing the database `options` describes every `interval`.
    pub fn watch(mut options: ConnectOptions, interval: Duration) -> Self {
        // The probe keeps its one connection for good (it is never idle): a probe that had to
        // reconnect while the server is at max_connections would be refused, and report a
        // server that answers as down.
        options
            .max_connections(1)
            .min_connections(0)
            .idle_timeout(None::<Duration>)
            .max_lifetime(None::<Duration>)
            .connect_timeout(PROBE_TIMEOUT)
            .acquire_timeout(PROBE_TIMEOUT)
            .connect_lazy(true)
            .sqlx_logging(false);
        let watch = Arc::new(Watch {
            down: watch::Sender::new(false),
            suspect: Notify::new(),
        });
        tokio::spawn(probe(Arc::downgrade(&watch), options, interval));
        Self { watch: Some(watch) }
    }

    /// An error when the database is known to be down.
    pub fn check(&self) -> Result<(), DbErr> {
        match &self.watch {
            Some(watch) if *watch.down.borrow() => Err(unavailable()),
            _ => Ok(()),
        }
    }

    /// Runs `call` unless the database is known to be down; ends it early if the database
    /// goes down meanwhile.
    pub async fn run<T>(&self, call: impl Future<Output = Result<T, DbErr>>) -> Result<T, DbErr> {
        let Some(watch) = &self.watch else {
            return call.await;
        };
        let mut down = watch.down.subscribe();
        if *down.borrow_and_update() {
            return Err(unavailable());
        }
        tokio::select! {
            result = call => {
                if matches!(result, Err(DbErr::ConnectionAcquire(_) | DbErr::Conn(_))) {
                    watch.suspect.notify_one();
                }
                result
            }
            _ = down.wait_for(|down| *down) => Err(unavailable()),
        }
    }
}

fn unavailable() -> DbErr {
    DbErr::Conn(sea_orm::RuntimeErr::Internal(
        "the database server does not answer (probed)".to_owned(),
    ))
}

/// Probes until the `Availability` is dropped: every `interval` while up, and 4 times as
/// often (at least every 250 ms) while down or after a slow answer, so that recovery (or a
/// real outage) is noticed quickly.
async fn probe(watch: std::sync::Weak<Watch>, options: ConnectOptions, interval: Duration) {
    let probe = match Database::connect(options).await {
        Ok(connection) => connection,
        Err(err) => {
            tracing::error!(error = %err, "cannot set up the database probe");
            return;
        }
    };
    let mut slow_before = false;
    loop {
        let answer = answers(&probe).await;
        let Some(watch) = watch.upgrade() else {
            let _ = probe.close().await;
            return;
        };
        // A refusal or an error is an outage at once. One slow answer may be this machine
        // being busy, not the server being gone: it takes two in a row.
        let healthy = match answer {
            Answer::Yes => true,
            Answer::Failed => false,
            Answer::Slow => !std::mem::replace(&mut slow_before, true),
        };
        if !matches!(answer, Answer::Slow) {
            slow_before = false;
        }
        let was_down = watch.down.send_replace(!healthy);
        match (was_down, healthy) {
            (false, false) => tracing::warn!("database server down: answering 503 at once"),
            (true, true) => tracing::info!("database server back"),
            _ => {}
        }
        let wait = if healthy && !slow_before {
            interval
        } else {
            (interval / 4).min(Duration::from_millis(250))
        };
        let _ = tokio::time::timeout(wait, watch.suspect.notified()).await;
    }
}

enum Answer {
    Yes,
    Failed,
    /// No answer within `PROBE_TIMEOUT`.
    Slow,
}

async fn answers(probe: &DatabaseConnection) -> Answer {
    match tokio::time::timeout(PROBE_TIMEOUT, probe.ping()).await {
        Ok(Ok(())) => Answer::Yes,
        Ok(Err(_)) => Answer::Failed,
        Err(_) => Answer::Slow,
    }
}
