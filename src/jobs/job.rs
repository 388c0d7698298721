//! What a job kind is (a name, a serde payload, a handler) and what its handler may answer.

use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use serde::{Serialize, de::DeserializeOwned};

/// A kind of job: one type per kind, registered once in the process's [`super::Registry`].
///
/// ```ignore
/// pub struct SendMail { mailer: Mailer }
///
/// impl Job for SendMail {
///     const KIND: &'static str = "send_mail";
///     type Payload = Mail;
///     async fn run(&self, mail: Mail) -> Result<(), JobError> {
///         self.mailer.send(&mail).await.map_err(JobError::retry)
///     }
/// }
/// ```
///
/// A job may run more than once (its worker can die after the work and before the job is
/// deleted): make `run` idempotent, or tolerate a repeat.
pub trait Job: Send + Sync + 'static {
    /// Stored in every job of this kind: never rename it while jobs of it may be queued.
    /// At most 64 characters.
    const KIND: &'static str;
    type Payload: Serialize + DeserializeOwned + Send;

    fn run(&self, payload: Self::Payload) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// Why an attempt failed, and what should happen next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// Try again later: after `after` if given (say, a receiver's `Retry-After`; at most
    /// `jobs.backoff_max_seconds`), else after the backoff. Dead after the last attempt.
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Trying again cannot help (a payload that makes no sense, a refusal for good): dead
    /// at once.
    GiveUp { error: String },
}

impl JobError {
    pub fn retry(error: impl std::fmt::Display) -> Self {
        Self::Retry {
            error: error.to_string(),
            after: None,
        }
    }

    pub fn retry_after(error: impl std::fmt::Display, after: Duration) -> Self {
        Self::Retry {
            error: error.to_string(),
            after: Some(after),
        }
    }

    pub fn give_up(error: impl std::fmt::Display) -> Self {
        Self::GiveUp {
            error: error.to_string(),
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Retry { error, .. } | Self::GiveUp { error } => error,
        }
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// A job to enqueue: its kind, its payload as JSON, and when and how often it may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub kind: &'static str,
    pub payload: String,
    /// `None`: at once.
    pub run_at: Option<DateTime<Utc>>,
    /// `None`: `jobs.max_attempts` of the process that runs it.
    pub max_attempts: Option<u32>,
}

impl NewJob {
    /// A job of kind `J` with `payload`, to run at once.
    pub fn new<J: Job>(payload: &J::Payload) -> Result<Self, DbErr> {
        let payload = serde_json::to_string(payload)
            .map_err(|err| DbErr::Json(format!("the payload of a {} job: {err}", J::KIND)))?;
        Ok(Self {
            kind: J::KIND,
            payload,
            run_at: None,
            max_attempts: None,
        })
    }

    /// Not before `at`.
    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }

    /// At most `attempts` attempts (at least 1), whatever `jobs.max_attempts` says.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }
}
