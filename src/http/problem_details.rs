//! Middleware: every error, ours or the framework's, becomes an RFC 9457 problem response.
//! poem and poem-openapi report unknown routes, wrong methods, bad parameters and wrong
//! content types with their own types and wording; they are mapped onto [`ApiError`] here.

use std::sync::Arc;

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response,
    error::{MethodNotAllowedError, NotFoundError},
    http::Method,
};
use poem_openapi::error::{
    ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError,
};

use super::{error::ApiError, pagination, route_table::RouteTable};

pub struct ProblemDetails(pub Arc<RouteTable>);

impl<E: Endpoint> Middleware<E> for ProblemDetails {
    type Output = ProblemDetailsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ProblemDetailsEndpoint {
            inner,
            routes: self.0.clone(),
        }
    }
}

pub struct ProblemDetailsEndpoint<E> {
    inner: E,
    routes: Arc<RouteTable>,
}

impl<E: Endpoint> Endpoint for ProblemDetailsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        match self.inner.call(req).await {
            Ok(output) => Ok(output.into_response()),
            Err(err) => Ok(classify(&self.routes, err, &method, &path).render()),
        }
    }
}

/// Turns an error raised by poem or poem-openapi into the matching `ApiError`.
fn classify(routes: &RouteTable, err: poem::Error, method: &Method, path: &str) -> ApiError {
    let err = match err.downcast::<ApiError>() {
        Ok(ours) => return ours,
        Err(theirs) => theirs,
    };
    if err.is::<NotFoundError>() {
        return ApiError::RouteNotFound {
            method: method.clone(),
            path: path.to_owned(),
        };
    }
    if err.is::<MethodNotAllowedError>() {
        return ApiError::MethodNotAllowed {
            method: method.clone(),
            path: path.to_owned(),
            allow: routes.allowed_methods(path),
        };
    }
    // poem-openapi's wording names Rust types; say what the parameter accepts instead.
    let invalid = |name: String| {
        let accepts = routes.accepted(path, &name);
        let message = match pagination::hint(&name) {
            Some(hint) => format!("{accepts}; {hint}"),
            None => accepts.to_owned(),
        };
        ApiError::InvalidParameter { name, message }
    };
    if let Some(e) = err.downcast_ref::<ParseParamError>() {
        return invalid(e.name.to_owned());
    }
    if let Some(e) = err.downcast_ref::<ParsePathError>() {
        return invalid(routes.path_param_name(path, e.name));
    }
    if let Some(e) = err.downcast_ref::<ContentTypeError>() {
        return ApiError::UnsupportedMediaType {
            got: match e {
                ContentTypeError::NotSupported { content_type } => Some(content_type.clone()),
                _ => None,
            },
        };
    }
    if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        return ApiError::MalformedJson(e.reason.clone());
    }
    let status = err.status();
    if status.is_server_error() {
        return ApiError::Internal(err.to_string());
    }
    ApiError::Http(status)
}

/// The response for a panic in a handler: logged, then a plain 500 problem.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Internal("a handler panicked".to_owned()).render()
}
