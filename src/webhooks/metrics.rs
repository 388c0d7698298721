//! Webhook delivery metrics: attempts by result, and how long each took (connect, send and
//! response). Registered by `crate::metrics`.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

/// Seconds: from a receiver on the same network to one at the timeout.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Clone)]
pub struct WebhookMetrics {
    deliveries: Family<ResultLabels, Counter>,
    duration: Histogram,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

impl WebhookMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            deliveries: Family::default(),
            duration: Histogram::new(BUCKETS),
        };
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts, by result: succeeded (2xx), retried (failed, to be tried \
             again), dead (failed for the last time, or 410 Gone)",
            metrics.deliveries.clone(),
        );
        registry.register(
            "webhook_delivery_duration_seconds",
            "How long each webhook delivery attempt took, from connecting to the response's head",
            metrics.duration.clone(),
        );
        metrics
    }

    pub fn count(&self, result: &'static str, seconds: f64) {
        self.deliveries
            .get_or_create(&ResultLabels { result })
            .inc();
        self.duration.observe(seconds);
    }
}
