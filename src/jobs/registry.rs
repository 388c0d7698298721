//! Which handler runs which kind of job in this process.

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc};

use super::job::{Job, JobError};

type Running<'a> = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send + 'a>>;

/// A job kind's handler behind its name: decodes the payload, then runs the kind.
trait Handler: Send + Sync {
    fn handle<'a>(&'a self, payload: &'a str) -> Running<'a>;
}

impl<J: Job> Handler for J {
    fn handle<'a>(&'a self, payload: &'a str) -> Running<'a> {
        Box::pin(async move {
            // A payload this kind cannot read will not read better on a retry.
            let payload = serde_json::from_str(payload).map_err(|err| {
                JobError::give_up(format!("the payload is not a {} payload: {err}", J::KIND))
            })?;
            self.run(payload).await
        })
    }
}

/// The job kinds this process runs: `Registry::default().with(SendMail::new(..))`.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Arc<dyn Handler>>,
}

impl Registry {
    /// Adds a kind; a second registration of the same name replaces the first.
    pub fn with<J: Job>(mut self, job: J) -> Self {
        self.handlers.insert(J::KIND, Arc::new(job));
        self
    }

    /// Whether `kind` has a handler here (the metrics label only known kinds).
    pub fn knows(&self, kind: &str) -> bool {
        self.handlers.contains_key(kind)
    }

    /// Runs a job of `kind` with `payload`; an unknown kind is given up, so that its job is
    /// dead (and visible) instead of being claimed again and again.
    pub async fn run(&self, kind: &str, payload: &str) -> Result<(), JobError> {
        let Some(handler) = self.handlers.get(kind).cloned() else {
            return Err(JobError::give_up(format!(
                "no handler for job kind {kind:?} in this process"
            )));
        };
        handler.handle(payload).await
    }
}
