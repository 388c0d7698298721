//! `GET /metrics`, on the main port or on a listener of its own (`metrics.address`).

use std::sync::Arc;

use poem::{
    Endpoint, EndpointExt, IntoResponse, Response, Route, endpoint::make, get, http::Method,
};

use super::{CONTENT_TYPE, Metrics};
use crate::http::{error::ApiError, problem_details::ProblemDetails, route_table::RouteTable};

pub const PATH: &str = "/metrics";

/// The endpoint: GET only, so that another method gets a 405 naming it.
pub fn endpoint(metrics: Arc<Metrics>) -> impl Endpoint + 'static {
    get(make(move |_| {
        let metrics = metrics.clone();
        async move {
            metrics.refresh().await;
            scrape(&metrics)
        }
    }))
}

fn scrape(metrics: &Metrics) -> Response {
    match metrics.encode() {
        Ok(text) => text.with_content_type(CONTENT_TYPE).into_response(),
        // Writing into a String does not fail; a collector could.
        Err(_) => ApiError::Internal("encoding the metrics failed".to_owned()).render(),
    }
}

/// What the separate metrics listener serves: `/metrics` and nothing else, with the same
/// problem responses as the API for anything else.
pub fn standalone(metrics: Arc<Metrics>) -> impl Endpoint + 'static {
    let mut routes = RouteTable::default();
    routes.add(PATH, vec![Method::GET]);
    Route::new()
        .at(PATH, endpoint(metrics))
        .with(ProblemDetails(Arc::new(routes)))
}
