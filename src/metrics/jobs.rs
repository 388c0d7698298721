//! The job queue's gauges, read from the database at each scrape (one statement, bounded in
//! time so that a slow database does not hang the scrape; on failure the last values stay).

use std::{sync::atomic::AtomicU64, time::Duration};

use prometheus_client::{metrics::gauge::Gauge, registry::Registry};

use crate::{db::Db, jobs::store};

/// How long a scrape waits for the queue's counts.
const READ_TIMEOUT: Duration = Duration::from_secs(1);

pub struct QueueGauges {
    db: Db,
    pending: Gauge,
    running: Gauge,
    dead: Gauge,
    oldest_due_age: Gauge<f64, AtomicU64>,
}

impl QueueGauges {
    pub fn register(registry: &mut Registry, db: Db) -> Self {
        let gauges = Self {
            db,
            pending: Gauge::default(),
            running: Gauge::default(),
            dead: Gauge::default(),
            oldest_due_age: Gauge::default(),
        };
        registry.register(
            "jobs_pending",
            "Jobs waiting to run (due or waiting for a retry)",
            gauges.pending.clone(),
        );
        registry.register(
            "jobs_running",
            "Jobs claimed by a worker",
            gauges.running.clone(),
        );
        registry.register(
            "jobs_dead",
            "Jobs out of attempts, kept until retried by hand",
            gauges.dead.clone(),
        );
        registry.register(
            "jobs_oldest_pending_age_seconds",
            "How long the longest-waiting due job has waited past its run time (0: none \
             waits): how far the workers are behind",
            gauges.oldest_due_age.clone(),
        );
        gauges
    }

    pub async fn refresh(&self) {
        match tokio::time::timeout(READ_TIMEOUT, store::stats(&self.db)).await {
            Ok(Ok(stats)) => {
                self.pending.set(stats.pending);
                self.running.set(stats.running);
                self.dead.set(stats.dead);
                self.oldest_due_age.set(stats.oldest_due_age.as_secs_f64());
            }
            Ok(Err(err)) => tracing::debug!(error = %err, "reading the job queue's counts failed"),
            Err(_) => tracing::debug!("reading the job queue's counts timed out"),
        }
    }
}

impl std::fmt::Debug for QueueGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueGauges")
    }
}
