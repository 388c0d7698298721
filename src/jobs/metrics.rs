//! The queue's counter: attempts by job kind and what became of them. Registered by
//! `crate::metrics`, which also reads the queue's gauges from the database at each scrape.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

#[derive(Debug, Clone, Default)]
pub struct JobMetrics(Family<AttemptLabels, Counter>);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    /// A registered kind's name, or `unknown`: never a name read from the table unchecked.
    kind: String,
    result: &'static str,
}

/// What became of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Retried,
    Dead,
}

impl JobMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "job_attempts",
            "Job attempts finished, by kind and result: succeeded, retried (failed, to be tried \
             again), dead (failed for the last time)",
            metrics.0.clone(),
        );
        metrics
    }

    pub fn count(&self, kind: &str, outcome: Outcome) {
        let result = match outcome {
            Outcome::Succeeded => "succeeded",
            Outcome::Retried => "retried",
            Outcome::Dead => "dead",
        };
        self.0
            .get_or_create(&AttemptLabels {
                kind: kind.to_owned(),
                result,
            })
            .inc();
    }
}
