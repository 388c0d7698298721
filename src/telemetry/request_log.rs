//! Middleware: one log line per request, under the request's id.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response, http::HeaderValue};
use tracing::Instrument;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Middleware: takes `x-request-id` from the request (when it is a sane token) or makes one,
/// echoes it in the response, and logs method, path, status and latency under it.
pub struct RequestLog;

impl<E: Endpoint> Middleware<E> for RequestLog {
    type Output = RequestLogEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestLogEndpoint { inner }
    }
}

pub struct RequestLogEndpoint<E> {
    inner: E,
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
        let span = tracing::info_span!("request", request_id = %id);
        let mut response = match self.inner.call(req).instrument(span.clone()).await {
            Ok(output) => output.into_response(),
            Err(err) => err.into_response(),
        };
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
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
