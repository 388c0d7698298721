//! The request's span as OpenTelemetry sees it (HTTP server semantic conventions): the caller's
//! trace continued from `traceparent`, a name from the route template (`GET /notes/{id}`),
//! `http.*` and `url.path` attributes, error status for 5xx. `request_log` calls it only when
//! traces are exported.

use opentelemetry::{
    Context, KeyValue,
    propagation::{Extractor, TextMapPropagator},
    trace::{Status, TraceContextExt},
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use poem::{
    Request,
    http::{HeaderMap, Method, StatusCode},
};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::http::method::standard_name;

/// Gives the request span its parent and request attributes, starts it, and records its
/// trace id on it (so every log line in the request carries it). The returned context is
/// the started OpenTelemetry span, for [`finish`].
pub fn start(span: &Span, req: &Request) -> Context {
    if req.headers().contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&Headers(req.headers()));
        // Fails only for a span no layer records; it then stays a root, which is harmless.
        let _ = span.set_parent(parent);
    }
    // Set before the span starts, so that a sampler sees them.
    let (method, original) = method_attribute(req.method());
    span.set_attribute("http.request.method", method);
    if let Some(original) = original {
        span.set_attribute("http.request.method_original", original);
    }
    span.set_attribute("url.path", req.uri().path().to_owned());
    let cx = span.context();
    span.record(
        "trace_id",
        tracing::field::display(cx.span().span_context().trace_id()),
    );
    cx
}

/// Names the span after the route template (`/notes/{id}`) and records the response.
/// Without a route (an unknown path) the span is named after the method alone, as the
/// conventions ask.
pub fn finish(cx: &Context, method: &Method, route: Option<&str>, status: StatusCode) {
    let span = cx.span();
    let verb = match method_attribute(method) {
        (_, Some(_)) => "HTTP",
        (known, None) => known,
    };
    match route {
        Some(route) => {
            span.update_name(format!("{verb} {route}"));
            span.set_attribute(KeyValue::new("http.route", route.to_owned()));
        }
        None => span.update_name(verb),
    }
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    // 4xx is the client's doing: the server span's status stays unset.
    if status.is_server_error() {
        span.set_attribute(KeyValue::new("error.type", status.as_str().to_owned()));
        span.set_status(Status::error(""));
    }
}

/// The method as the conventions spell it (`_OTHER` for a non-standard one), and the original
/// when it is not standard.
fn method_attribute(method: &Method) -> (&'static str, Option<String>) {
    match standard_name(method) {
        Some(name) => (name, None),
        None => ("_OTHER", Some(method.as_str().to_owned())),
    }
}

/// Request headers as the propagator reads them.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_follow_the_conventions() {
        assert_eq!(method_attribute(&Method::GET), ("GET", None));
        assert_eq!(method_attribute(&Method::PATCH), ("PATCH", None));
        let odd = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(method_attribute(&odd), ("_OTHER", Some("PURGE".to_owned())));
    }
}
