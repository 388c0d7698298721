//! HTTP request metrics and the middleware that records them: a counter and a latency
//! histogram by method, route template and status, and a gauge of requests in flight.

use std::{sync::Arc, time::Instant};

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, endpoint::EitherEndpoint, http::Method,
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};

use super::Metrics;
use crate::http::{method::standard_name, route_table::RouteTable};

/// The route label of a request no route serves (a 404 from the router).
pub const UNMATCHED: &str = "unmatched";

/// Upper bounds in seconds, 1 ms to 10 s: an API's answers, from a cached read to a request
/// that hits the deadline (`server.request_timeout_seconds`, 10 by default).
const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Arc<str>,
    status: u16,
}

/// Handles to the request metrics; the registry holds the same ones.
pub struct RequestMetrics {
    total: Family<RequestLabels, Counter>,
    duration: Family<RequestLabels, Histogram>,
    in_flight: Gauge,
}

impl RequestMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            total: Family::default(),
            duration: Family::new_with_constructor(|| Histogram::new(BUCKETS)),
            in_flight: Gauge::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            metrics.total.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request (until the response head is ready), by method, \
             route template and status",
            Unit::Seconds,
            metrics.duration.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being answered now",
            metrics.in_flight.clone(),
        );
        metrics
    }

    fn record(&self, labels: &RequestLabels, seconds: f64) {
        self.total.get_or_create(labels).inc();
        self.duration.get_or_create(labels).observe(seconds);
    }
}

/// Middleware: records every request it wraps. `None` (metrics disabled) adds nothing at all.
pub struct RecordRequests {
    metrics: Option<Arc<Metrics>>,
    routes: Arc<RouteTable>,
}

impl RecordRequests {
    /// `routes` names the route templates: a path no route in it serves is `unmatched`.
    pub fn new(metrics: Option<Arc<Metrics>>, routes: Arc<RouteTable>) -> Self {
        Self { metrics, routes }
    }
}

impl<E: Endpoint> Middleware<E> for RecordRequests {
    type Output = EitherEndpoint<E, RecordRequestsEndpoint<E>>;

    fn transform(&self, inner: E) -> Self::Output {
        match &self.metrics {
            None => EitherEndpoint::A(inner),
            Some(metrics) => EitherEndpoint::B(RecordRequestsEndpoint {
                inner,
                metrics: metrics.clone(),
                routes: self.routes.clone(),
                unmatched: UNMATCHED.into(),
            }),
        }
    }
}

pub struct RecordRequestsEndpoint<E> {
    inner: E,
    metrics: Arc<Metrics>,
    routes: Arc<RouteTable>,
    unmatched: Arc<str>,
}

impl<E: Endpoint> Endpoint for RecordRequestsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let requests = self.metrics.requests();
        // Matched on the route table rather than taken from the router's answer, so that a
        // request cut short before routing finishes (timeout, body too large) keeps its route.
        let route = self
            .routes
            .template(req.uri().path())
            .unwrap_or(&self.unmatched)
            .clone();
        let method = method_label(req.method());
        let _in_flight = InFlight::enter(&requests.in_flight);
        let response = self.inner.call(req).await.map(IntoResponse::into_response);
        let status = match &response {
            Ok(response) => response.status(),
            Err(err) => err.status(),
        };
        let labels = RequestLabels {
            method,
            route,
            status: status.as_u16(),
        };
        requests.record(&labels, started.elapsed().as_secs_f64());
        response
    }
}

/// One request in flight; dropped when it ends, or when the client goes away mid-request.
struct InFlight<'a>(&'a Gauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The standard methods by name; any other (clients may send anything) is one label, `OTHER`.
fn method_label(method: &Method) -> &'static str {
    standard_name(method).unwrap_or("OTHER")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_set_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let custom = Method::from_bytes(b"PURGE").expect("a valid method token");
        assert_eq!(method_label(&custom), "OTHER");
    }
}
