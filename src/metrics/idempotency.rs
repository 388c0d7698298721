//! `idempotency_requests_total{result}`: writes sent with an `Idempotency-Key`, by what
//! became of them: `stored` (run, response stored), `replayed` (the stored response sent
//! again), `in_flight` (409: the first is still running), `other_request` (422: the key was
//! used with another request).

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// The counter; clones share it.
#[derive(Clone, Default)]
pub struct IdempotencyMetrics(Family<ResultLabels, Counter>);

impl IdempotencyMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "idempotency_requests",
            "Writes sent with an Idempotency-Key, by result: stored, replayed, in_flight, \
             other_request",
            metrics.0.clone(),
        );
        metrics
    }

    pub fn count(&self, result: &'static str) {
        self.0.get_or_create(&ResultLabels { result }).inc();
    }
}
