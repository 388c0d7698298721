//! `auth_failures_total{reason}`: requests refused by authentication, by reason only (never by
//! token or subject, so the number of series stays five).

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    reason: &'static str,
}

/// The counter; clones share it.
#[derive(Clone, Default)]
pub struct AuthFailures(Family<FailureLabels, Counter>);

impl AuthFailures {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let failures = Self::default();
        registry.register(
            "auth_failures",
            "Requests refused by authentication, by reason: missing, invalid, expired, \
             insufficient_scope, unavailable",
            failures.0.clone(),
        );
        failures
    }

    /// Counts one refusal; `reason` is one of the five in the help text.
    pub fn count(&self, reason: &'static str) {
        self.0.get_or_create(&FailureLabels { reason }).inc();
    }
}
