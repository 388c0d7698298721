//! Middleware: CORS for the origins in `server.cors_allowed_origins`, so a browser front end
//! on another origin can call the API. A request from any other origin is served as if it
//! had no `Origin` header: no CORS headers, so the browser keeps the response from the page.
//!
//! Why not poem's `Cors`: it answers 403 to every request from an origin it does not allow
//! (API clients that send `Origin` included), and it replaces the response's `Vary` header
//! (losing the list's `Vary: Prefer`) instead of adding to it. tower-http's `CorsLayer`
//! cannot be attached: poem's tower adapter wraps `Service<poem::Request>`.

use std::collections::HashSet;

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
};

/// What a browser may send, and what script may read, cross-origin.
const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
const ALLOW_HEADERS: &str = "authorization, content-type, idempotency-key, if-match, \
     if-none-match, prefer, x-request-id, traceparent, tracestate";
const EXPOSE_HEADERS: &str = "link, location, etag, x-total-count, preference-applied, \
     x-request-id, retry-after, www-authenticate, idempotent-replayed";
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: &str = "600";

pub struct Cors {
    /// `None`: any origin (`*` in the settings).
    origins: Option<HashSet<HeaderValue>>,
}

impl Cors {
    /// From the validated settings: origins such as `https://app.example.com`, or `*`.
    pub fn new(origins: &[String]) -> Self {
        let any = origins.iter().any(|o| o == "*");
        let origins = (!any).then(|| {
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect()
        });
        Self { origins }
    }
}

impl<E: Endpoint> Middleware<E> for Cors {
    type Output = CorsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CorsEndpoint {
            inner,
            origins: self.origins.clone(),
        }
    }
}

pub struct CorsEndpoint<E> {
    inner: E,
    origins: Option<HashSet<HeaderValue>>,
}

impl<E: Endpoint> Endpoint for CorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .filter(|origin| {
                self.origins
                    .as_ref()
                    .is_none_or(|set| set.contains(*origin))
            })
            .cloned();
        let preflight = req.method() == Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let mut response = match (&origin, preflight) {
            (Some(_), true) => preflight_response(),
            _ => match self.inner.call(req).await {
                Ok(output) => output.into_response(),
                Err(err) => err.into_response(),
            },
        };
        let headers = response.headers_mut();
        // The answer depends on `Origin` (and, for a preflight, on what it asks for).
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            if !preflight {
                insert(
                    headers,
                    header::ACCESS_CONTROL_EXPOSE_HEADERS,
                    EXPOSE_HEADERS,
                );
            }
        }
        Ok(response)
    }
}

fn preflight_response() -> Response {
    let mut response = Response::builder().status(StatusCode::NO_CONTENT).finish();
    let headers = response.headers_mut();
    insert(headers, header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS);
    insert(headers, header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS);
    insert(headers, header::ACCESS_CONTROL_MAX_AGE, MAX_AGE);
    headers.append(
        header::VARY,
        HeaderValue::from_static("Access-Control-Request-Method, Access-Control-Request-Headers"),
    );
    response
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &'static str) {
    headers.insert(name, HeaderValue::from_static(value));
}
