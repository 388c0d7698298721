//! Middleware: a request not answered within the deadline gets a 503 problem with
//! `Retry-After`.
//!
//! The handler runs on a task of its own and always to its end: neither the deadline nor a
//! client that goes away cancels it half-way. A handler dropped between a transaction's
//! `BEGIN` and its end can return its pooled connection still inside the transaction, where
//! later requests' writes would be answered but never committed. Work that outlives the
//! deadline is bounded by the database settings given the same deadline (PostgreSQL's
//! `statement_timeout`, MySQL's lock wait timeouts, SQLite's busy timeout).

use std::{sync::Arc, time::Duration};

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use tracing::Instrument;

use super::error::ApiError;

pub struct RequestTimeout(pub Duration);

impl<E: Endpoint + 'static> Middleware<E> for RequestTimeout {
    type Output = RequestTimeoutEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestTimeoutEndpoint {
            inner: Arc::new(inner),
            after: self.0,
        }
    }
}

pub struct RequestTimeoutEndpoint<E> {
    inner: Arc<E>,
    after: Duration,
}

impl<E: Endpoint + 'static> Endpoint for RequestTimeoutEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let inner = self.inner.clone();
        // In the request's span: its logs and statement spans stay under it.
        let handler = tokio::spawn(
            async move { inner.call(req).await.map(IntoResponse::into_response) }.in_current_span(),
        );
        match tokio::time::timeout(self.after, handler).await {
            Ok(Ok(result)) => result,
            // The handler panicked (its task caught it).
            Ok(Err(_)) => Err(ApiError::Internal("a handler panicked".to_owned()).into()),
            Err(_) => Err(ApiError::Timeout { after: self.after }.into()),
        }
    }
}
