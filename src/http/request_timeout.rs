//! Middleware: a request not answered within the deadline gets a 503 problem with
//! `Retry-After`. Its handler is dropped, which cancels its database work on the client
//! side; the server side is bounded by the connection settings (PostgreSQL's
//! `statement_timeout`, MySQL's lock wait timeouts) set to the same deadline.

use std::time::Duration;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use super::error::ApiError;

pub struct RequestTimeout(pub Duration);

impl<E: Endpoint> Middleware<E> for RequestTimeout {
    type Output = RequestTimeoutEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestTimeoutEndpoint {
            inner,
            after: self.0,
        }
    }
}

pub struct RequestTimeoutEndpoint<E> {
    inner: E,
    after: Duration,
}

impl<E: Endpoint> Endpoint for RequestTimeoutEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        match tokio::time::timeout(self.after, self.inner.call(req)).await {
            Ok(result) => result.map(IntoResponse::into_response),
            Err(_) => Err(ApiError::Timeout { after: self.after }.into()),
        }
    }
}
