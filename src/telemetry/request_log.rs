//! Middleware: one log line per request, under the request's id. The same span is the
//! request's OpenTelemetry server span when traces are exported (see `request_span`).

use std::{sync::Arc, time::Instant};

use poem::{Endpoint, IntoResponse, Middleware, Request, Response, http::HeaderValue};
use tracing::Instrument;

use super::{otel, request_span};
use crate::http::route_table::RouteTable;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Middleware: takes `x-request-id` from the request (when it is a sane token) or makes one,
/// echoes it in the response, and logs method, path, status and latency under it. With
/// trace export on, the span also carries `trace_id` and becomes the OpenTelemetry span.
pub struct RequestLog {
    /// Names the span's route as the spec writes it (`/notes/{id}`).
    routes: Arc<RouteTable>,
}

impl RequestLog {
    pub fn new(routes: Arc<RouteTable>) -> Self {
        Self { routes }
    }
}

impl<E: Endpoint> Middleware<E> for RequestLog {
    type Output = RequestLogEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestLogEndpoint {
            inner,
            routes: self.routes.clone(),
        }
    }
}

pub struct RequestLogEndpoint<E> {
    inner: E,
    routes: Arc<RouteTable>,
}

/// Accept a client's id only if it cannot garble a log line or a header.
fn usable_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

impl<E: Endpoint> Endpoint for RequestLogEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let id = req
            .header(REQUEST_ID_HEADER)
            .filter(|id| usable_id(id))
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let (span, otel_cx) = if otel::active() {
            let span = tracing::info_span!(
                "request",
                request_id = %id,
                trace_id = tracing::field::Empty,
                otel.kind = "server",
            );
            let cx = request_span::start(&span, &req);
            (span, Some(cx))
        } else {
            (tracing::info_span!("request", request_id = %id), None)
        };
        let mut response = match self.inner.call(req).instrument(span.clone()).await {
            Ok(output) => output.into_response(),
            Err(err) => err.into_response(),
        };
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        if let Some(cx) = &otel_cx {
            // The route table, as the metrics use it: a request cut short before routing
            // finished (a timeout, a body too large) keeps its route.
            let route = self.routes.template(&path);
            request_span::finish(cx, &method, route.map(|r| &**r), response.status());
        }
        // A number (not a string) in JSON logs, to the microsecond.
        let latency_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        tracing::info!(
            parent: &span,
            method = %method,
            path = %path,
            status = response.status().as_u16(),
            latency_ms,
            "request"
        );
        Ok(response)
    }
}
