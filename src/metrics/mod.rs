//! Prometheus metrics: the registry and its text encoding (served at `GET /metrics`), HTTP
//! request metrics labelled by route template (`requests`), the database pool read at each
//! scrape (`pool`), authentication failures by reason (`auth`), and the endpoint itself
//! (`endpoint`), the job queue read from the database at each scrape (`jobs`); it also
//! registers the counters plumbing below it keeps (`http::idempotency::IdempotencyMetrics`,
//! `jobs::metrics::JobMetrics`, `webhooks::metrics::WebhookMetrics`).
//!
//! Label values are bounded: the route label is a template from the route table
//! (`/notes/{id}`) or `unmatched`, never a raw path; methods outside the standard set are
//! `OTHER`. Ids and query strings cannot grow the number of series.

pub mod auth;
pub mod endpoint;
pub mod jobs;
pub mod pool;
pub mod requests;

use std::sync::Arc;

use prometheus_client::{encoding::prometheus_text, registry::Registry};

use self::{auth::AuthFailures, jobs::QueueGauges, pool::PoolCollector, requests::RequestMetrics};
use crate::{
    db::Db, http::idempotency::IdempotencyMetrics, jobs::metrics::JobMetrics,
    webhooks::metrics::WebhookMetrics,
};

/// Everything exported at `/metrics`. Built once per service; cheap to share.
pub struct Metrics {
    registry: Registry,
    requests: RequestMetrics,
    auth_failures: AuthFailures,
    idempotency: IdempotencyMetrics,
    jobs: JobMetrics,
    queue: QueueGauges,
    webhooks: WebhookMetrics,
}

impl Metrics {
    pub fn new(db: Db) -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = RequestMetrics::register(&mut registry);
        let auth_failures = AuthFailures::register(&mut registry);
        let idempotency = IdempotencyMetrics::register(&mut registry);
        let jobs = JobMetrics::register(&mut registry);
        let queue = QueueGauges::register(&mut registry, db.clone());
        let webhooks = WebhookMetrics::register(&mut registry);
        registry.register_collector(Box::new(PoolCollector::new(db)));
        Arc::new(Self {
            registry,
            requests,
            auth_failures,
            idempotency,
            jobs,
            queue,
            webhooks,
        })
    }

    pub fn requests(&self) -> &RequestMetrics {
        &self.requests
    }

    pub fn auth_failures(&self) -> &AuthFailures {
        &self.auth_failures
    }

    pub fn idempotency(&self) -> &IdempotencyMetrics {
        &self.idempotency
    }

    pub fn jobs(&self) -> &JobMetrics {
        &self.jobs
    }

    pub fn webhooks(&self) -> &WebhookMetrics {
        &self.webhooks
    }

    /// Reads what is read from the database, before a scrape.
    pub async fn refresh(&self) {
        self.queue.refresh().await;
    }

    /// The Prometheus text format (version 0.0.4), which every scraper reads.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;
