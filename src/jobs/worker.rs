//! The workers of one process: a dispatcher claims as many jobs as there are free workers
//! (`jobs.workers`), runs each on a task of its own, and records each outcome. When idle it
//! waits for a local wake-up (a job enqueued by this process, see [`Wake`]) or for the poll
//! interval (jobs enqueued by other processes). Stopping, it claims nothing more, lets the
//! running jobs finish within a grace period, and gives back those that do not (pending at
//! once, the attempt not counted), so that no job waits for its lease to run out.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use tokio::{
    sync::{Notify, watch},
    task::{self, JoinError, JoinSet},
    time::Instant,
};

use super::{
    backoff,
    job::JobError,
    metrics::{JobMetrics, Outcome},
    registry::Registry,
    store::{self, Claimed},
};
use crate::{
    config::JobsSettings,
    db::{Db, clock::now},
};

/// Wakes this process's idle workers: call [`Wake::wake`] after committing a transaction that
/// enqueued jobs. Clones share one signal; a wake with no worker waiting is kept for the next.
#[derive(Debug, Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// The running workers; [`Queue::shutdown`] stops them.
pub struct Queue {
    /// Set to the grace period when the workers are to stop.
    stop: watch::Sender<Option<Duration>>,
    dispatcher: task::JoinHandle<()>,
}

impl Queue {
    /// Starts `settings.workers` workers (at least one) running the kinds in `registry`.
    pub fn start(
        db: Db,
        registry: Registry,
        settings: &JobsSettings,
        wake: Wake,
        metrics: Option<JobMetrics>,
    ) -> Self {
        let (stop, stopping) = watch::channel(None);
        let dispatcher = Dispatcher {
            workers: usize::try_from(settings.workers.max(1)).unwrap_or(1),
            attempt: Arc::new(Attempt {
                db,
                registry,
                settings: settings.clone(),
                metrics,
            }),
            wake,
            tasks: JoinSet::new(),
            held: HashMap::new(),
        };
        Self {
            stop,
            dispatcher: tokio::spawn(dispatcher.run(stopping)),
        }
    }

    /// Claims nothing more; waits up to `grace` for the running jobs, then gives back the
    /// rest. Returns when every job this process held is finished or given back.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(Some(grace));
        if let Err(err) = self.dispatcher.await {
            tracing::error!(error = %err, "the job dispatcher failed");
        }
    }
}

struct Dispatcher {
    workers: usize,
    attempt: Arc<Attempt>,
    wake: Wake,
    /// One task per running job.
    tasks: JoinSet<()>,
    /// The job each task runs, to settle it if the task panics or is aborted.
    held: HashMap<task::Id, Claimed>,
}

impl Dispatcher {
    async fn run(mut self, mut stopping: watch::Receiver<Option<Duration>>) {
        let poll = self.attempt.settings.poll_interval();
        let lease = self.attempt.settings.lease();
        // A claim is a transaction of several statements, run by this one task: claiming for
        // each job as it finishes made the claims the drain's limit (191 deliveries a second
        // on PostgreSQL). So while most workers are busy, claim for a quarter of them at once.
        let batch = (self.workers / 4).max(1);
        loop {
            let free = self.workers.saturating_sub(self.tasks.len());
            if free >= batch || (free > 0 && self.tasks.is_empty()) {
                match store::claim(&self.attempt.db, free as u64, lease).await {
                    Ok(jobs) => {
                        let full = jobs.len() == free;
                        for job in jobs {
                            self.spawn(job);
                        }
                        if full {
                            // Every worker is busy: wait for one to finish.
                            continue;
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "claiming jobs failed"),
                }
            }
            tokio::select! {
                _ = stopping.changed() => break,
                Some(done) = self.tasks.join_next_with_id() => self.finished(done).await,
                () = self.wake.0.notified(), if free > 0 => {}
                () = tokio::time::sleep(poll), if free > 0 => {}
            }
        }
        let grace = stopping.borrow().unwrap_or_default();
        self.stop(grace).await;
    }

    fn spawn(&mut self, job: Claimed) {
        let attempt = self.attempt.clone();
        let held = job.clone();
        let handle = self.tasks.spawn(async move { attempt.run(&job).await });
        self.held.insert(handle.id(), held);
    }

    /// A job's task ended: it settled its job itself, unless it panicked or was aborted.
    async fn finished(&mut self, done: Result<(task::Id, ()), JoinError>) {
        let (id, failure) = match done {
            Ok((id, ())) => (id, None),
            Err(err) => (err.id(), Some(err)),
        };
        let (Some(job), Some(failure)) = (self.held.remove(&id), failure) else {
            return;
        };
        if failure.is_panic() {
            let error = JobError::retry("the handler panicked");
            self.attempt.settle(&job, Err(error)).await;
        } else {
            self.attempt.give_back(&job).await;
        }
    }

    async fn stop(mut self, grace: Duration) {
        if !self.tasks.is_empty() {
            tracing::info!(
                jobs = self.tasks.len(),
                ?grace,
                "stopping: finishing running jobs"
            );
        }
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        while !self.tasks.is_empty() {
            tokio::select! {
                Some(done) = self.tasks.join_next_with_id() => self.finished(done).await,
                () = &mut deadline => break,
            }
        }
        if !self.tasks.is_empty() {
            tracing::info!(
                jobs = self.tasks.len(),
                "stopping: giving back unfinished jobs"
            );
        }
        self.tasks.abort_all();
        while let Some(done) = self.tasks.join_next_with_id().await {
            self.finished(done).await;
        }
    }
}

/// What running one attempt needs; shared by the job tasks.
struct Attempt {
    db: Db,
    registry: Registry,
    settings: JobsSettings,
    metrics: Option<JobMetrics>,
}

impl Attempt {
    async fn run(&self, job: &Claimed) {
        // Past its lease the job may be claimed again elsewhere: stop this attempt.
        let lease = self.settings.lease();
        let outcome = tokio::time::timeout(lease, self.registry.run(&job.kind, &job.payload))
            .await
            .unwrap_or_else(|_| Err(JobError::retry(format!("still running after {lease:?}"))));
        self.settle(job, outcome).await;
    }

    /// Records how the attempt ended: the job deleted, pending again after its backoff, or
    /// dead.
    async fn settle(&self, job: &Claimed, outcome: Result<(), JobError>) {
        let max_attempts = job
            .max_attempts
            .unwrap_or_else(|| i32::try_from(self.settings.max_attempts).unwrap_or(i32::MAX));
        let (record, counted) = match outcome {
            Ok(()) => (Record::Done, Outcome::Succeeded),
            Err(JobError::Retry { error, after }) if job.attempt < max_attempts => {
                let wait = after.map_or_else(
                    || {
                        let retry = u32::try_from(job.attempt).unwrap_or(1);
                        let (base, max) =
                            (self.settings.backoff_base(), self.settings.backoff_max());
                        backoff::delay(retry, base, max)
                    },
                    |after| after.min(self.settings.backoff_max()),
                );
                tracing::info!(job = job.id, kind = %job.kind, attempt = job.attempt, ?wait, %error, "job failed; retrying");
                (Record::RetryAt(now() + wait, error), Outcome::Retried)
            }
            Err(err) => {
                tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempt, error = %err, "job dead");
                (Record::Dead(err.message().to_owned()), Outcome::Dead)
            }
        };
        match self.record(job, &record).await {
            Ok(true) => self.count(job, counted),
            Ok(false) => tracing::info!(
                job = job.id,
                attempt = job.attempt,
                "job claimed again meanwhile (its lease ran out): this attempt's outcome is dropped"
            ),
            Err(err) => tracing::warn!(
                job = job.id,
                error = %err,
                "recording a job's outcome failed: it runs again when its lease ends"
            ),
        }
    }

    /// Writes the outcome, trying again while the database refuses (an outage, a pool
    /// exhausted for a moment) for as long as the lease could still be this attempt's: the
    /// work is done, and a record that gives up makes the job run again when its lease ends.
    /// Writing after the lease is harmless: the write names the attempt, and another
    /// worker's claim since makes it change nothing.
    async fn record(&self, job: &Claimed, record: &Record) -> Result<bool, DbErr> {
        let give_up_at = Instant::now() + self.settings.lease();
        let mut pause = Duration::from_millis(50);
        loop {
            let written = match record {
                Record::Done => store::complete(&self.db, job).await,
                Record::RetryAt(at, error) => store::retry_at(&self.db, job, *at, error).await,
                Record::Dead(error) => store::bury(&self.db, job, error).await,
            };
            match written {
                Err(err) if Instant::now() + pause < give_up_at => {
                    tracing::info!(job = job.id, error = %err, ?pause, "recording a job's outcome failed; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                written => return written,
            }
        }
    }

    /// Gives an unfinished job back (the process is stopping).
    async fn give_back(&self, job: &Claimed) {
        if let Err(err) = store::release(&self.db, job).await {
            tracing::warn!(
                job = job.id,
                error = %err,
                "giving a job back failed: it runs again when its lease ends"
            );
        }
    }

    fn count(&self, job: &Claimed, outcome: Outcome) {
        if let Some(metrics) = &self.metrics {
            let kind = if self.registry.knows(&job.kind) {
                job.kind.as_str()
            } else {
                "unknown"
            };
            metrics.count(kind, outcome);
        }
    }
}

/// The outcome of an attempt, as it is written to the job's row.
enum Record {
    /// Succeeded: the job is deleted.
    Done,
    /// Failed: pending again at this time, with this error.
    RetryAt(DateTime<Utc>, String),
    /// Out of attempts, or not worth another: dead, with this error.
    Dead(String),
}
