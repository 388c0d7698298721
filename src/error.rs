//! Every failure a client can see, its status, and its RFC 9457 problem body.
//!
//! Handlers return `Result<_, ApiError>` and use `?`. Errors raised by poem and poem-openapi
//! themselves (unknown route, wrong method, bad parameters, ...) are turned into an
//! `ApiError` by [`ProblemDetails`], so every 4xx/5xx body is `application/problem+json`.
//! Internal details (driver, SQL, panics) are logged, never sent.

use std::{collections::HashMap, sync::Arc};

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response,
    error::{MethodNotAllowedError, NotFoundError, ResponseError},
    http::{Method, StatusCode, header},
};
use poem_openapi::{
    ApiResponse, Object,
    error::{ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError},
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::Type,
};
use sea_orm::DbErr;
use serde::Serialize;
use serde_json::Value;

use crate::api::pagination;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem: what went wrong, for people and programs.
#[derive(Debug, Clone, Object, Serialize)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// One entry per invalid field or parameter (validation problems only).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// One invalid field of a body, or one invalid parameter.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
pub struct FieldError {
    /// The field or parameter name, e.g. `text` or `limit`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no note with id {0}")]
    NoteNotFound(i64),
    #[error("invalid request body")]
    Validation(Vec<FieldError>),
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParameter { name: String, message: String },
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported media type")]
    UnsupportedMediaType { got: Option<String> },
    #[error("no route for {method} {path}")]
    RouteNotFound { method: Method, path: String },
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed {
        method: Method,
        path: String,
        allow: Vec<Method>,
    },
    #[error("the database is unavailable: {0}")]
    Unavailable(DbErr),
    #[error("internal error: {0}")]
    Internal(String),
    /// Any other error status poem reports (kept generic on purpose).
    #[error("{0}")]
    Http(StatusCode),
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        match err {
            // The pool is exhausted or the server went away: a retry may well succeed.
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::Unavailable(err),
            other => Self::Internal(other.to_string()),
        }
    }
}

const TYPE_BASE: &str = "urn:notes-service:problem:";

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoteNotFound(_) | Self::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::MalformedJson(_) | Self::InvalidParameter { .. } => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Http(status) => *status,
        }
    }

    /// The body sent to the client. Says nothing of internals.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let plain = |detail: String| Problem {
            problem_type: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            errors: None,
        };
        let typed = |kind: &str, title: &str, detail: String| Problem {
            problem_type: format!("{TYPE_BASE}{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors: None,
        };
        match self {
            Self::NoteNotFound(_) => typed("note-not-found", "Note not found", self.to_string()),
            Self::Validation(errors) => {
                let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
                Problem {
                    errors: Some(errors.clone()),
                    ..typed(
                        "validation-error",
                        "Invalid request body",
                        format!("invalid field(s): {}", fields.join(", ")),
                    )
                }
            }
            Self::MalformedJson(_) => typed("malformed-json", "Malformed JSON", self.to_string()),
            Self::InvalidParameter { name, message } => Problem {
                errors: Some(vec![FieldError::new(name.clone(), message.clone())]),
                ..typed("invalid-parameter", "Invalid parameter", self.to_string())
            },
            Self::PayloadTooLarge { .. } => plain(self.to_string()),
            Self::UnsupportedMediaType { got } => plain(match got {
                Some(got) => format!("Content-Type {got:?} is not supported: use application/json"),
                None => "a Content-Type header is required: use application/json".to_owned(),
            }),
            Self::RouteNotFound { .. } | Self::MethodNotAllowed { .. } => plain(self.to_string()),
            Self::Unavailable(_) => {
                plain("the database is not available right now; try again later".to_owned())
            }
            Self::Internal(_) => plain("an internal error occurred; it has been logged".to_owned()),
            Self::Http(status) => plain(format!("the request failed with status {status}")),
        }
    }

    fn render(&self) -> Response {
        match self {
            Self::Unavailable(err) => tracing::warn!(error = %err, "database unavailable"),
            Self::Internal(err) => tracing::error!(error = %err, "internal error"),
            _ => {}
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = Response::builder()
            .status(self.status())
            .content_type(PROBLEM_CONTENT_TYPE)
            .body(body);
        if let Self::MethodNotAllowed { allow, .. } = self {
            let allow: Vec<_> = allow.iter().map(Method::as_str).collect();
            if let Ok(value) = allow.join(", ").parse() {
                response.headers_mut().insert(header::ALLOW, value);
            }
        }
        response
    }
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        ApiError::status(self)
    }

    fn as_response(&self) -> Response {
        self.render()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.render()
    }
}

/// Documents the problem responses of every API operation in the OpenAPI spec.
impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        let problem = |status: u16, description: &'static str| MetaResponse {
            description,
            status: Some(status),
            status_range: None,
            content: vec![MetaMediaType {
                content_type: PROBLEM_CONTENT_TYPE,
                schema: Problem::schema_ref(),
            }],
            headers: vec![],
        };
        MetaResponses {
            responses: vec![
                problem(
                    400,
                    "Malformed JSON, or an invalid query or path parameter (named in `errors`)",
                ),
                problem(404, "The note does not exist"),
                problem(
                    413,
                    "The request body is larger than `server.request_body_limit`",
                ),
                problem(415, "The request body is not `application/json`"),
                problem(
                    422,
                    "Well-formed JSON that fails validation; `errors` names every bad field",
                ),
                problem(500, "An internal error (details are in the service log)"),
                problem(503, "The database is unavailable; retry later"),
            ],
        }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

/// The paths the app serves, their methods (to answer 405 with an `Allow` header) and what
/// each parameter accepts (to word a bad parameter in our own terms).
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<(Vec<Segment>, Vec<Method>)>,
    /// (path as in the spec, parameter name) -> what the parameter accepts.
    params: HashMap<(String, String), String>,
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    /// `{name}` in the spec's path.
    Variable(String),
}

impl RouteTable {
    /// Reads paths, methods and parameters from an OpenAPI document, so they cannot drift
    /// from the API. Paths outside the document are added with [`RouteTable::add`].
    pub fn from_spec(spec_json: &str) -> Self {
        let mut table = Self::default();
        let spec: Value = serde_json::from_str(spec_json).unwrap_or_default();
        let empty = serde_json::Map::new();
        let paths = spec["paths"].as_object().unwrap_or(&empty);
        for (path, operations) in paths {
            let operations = operations.as_object().unwrap_or(&empty);
            let methods = operations
                .keys()
                .filter_map(|m| m.to_ascii_uppercase().parse::<Method>().ok())
                .collect();
            table.add(path, methods);
            let params = operations
                .values()
                .filter_map(|op| op["parameters"].as_array())
                .flatten();
            for param in params {
                if let Some(name) = param["name"].as_str() {
                    let accepts = accepted_values(&spec, &param["schema"]);
                    table
                        .params
                        .insert((path.clone(), name.to_owned()), accepts);
                }
            }
        }
        table
    }

    /// `path` uses `{param}` for a variable segment, as OpenAPI does.
    pub fn add(&mut self, path: &str, methods: Vec<Method>) {
        let segments = path
            .trim_matches('/')
            .split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Variable(name.to_owned()),
                    None => Segment::Literal(s.to_owned()),
                },
            )
            .collect();
        self.routes.push((segments, methods));
    }

    /// Why `value` of parameter `name` on `path` was refused, in the API's own words.
    fn parameter_message(&self, path: &str, name: &str) -> String {
        let template = self.find(path).map(|(segments, _)| {
            let parts: Vec<_> = segments
                .iter()
                .map(|s| match s {
                    Segment::Literal(s) => s.clone(),
                    Segment::Variable(v) => format!("{{{v}}}"),
                })
                .collect();
            format!("/{}", parts.join("/"))
        });
        let accepts = template
            .and_then(|t| self.params.get(&(t, name.to_owned())))
            .map_or("is not valid", String::as_str);
        match pagination::hint(name) {
            Some(hint) => format!("{accepts}; {hint}"),
            None => accepts.to_owned(),
        }
    }

    /// The route matching `path`: its segments and allowed methods.
    fn find(&self, path: &str) -> Option<&(Vec<Segment>, Vec<Method>)> {
        let parts: Vec<_> = path.trim_matches('/').split('/').collect();
        self.routes.iter().find(|(segments, _)| {
            segments.len() == parts.len()
                && segments.iter().zip(&parts).all(|(seg, part)| match seg {
                    Segment::Literal(s) => s == part,
                    Segment::Variable(_) => true,
                })
        })
    }

    /// poem-openapi names path parameters `param0`, `param1`, ... in errors; this gives the
    /// name the spec uses instead.
    fn path_param_name(&self, path: &str, internal: &str) -> String {
        let index = internal
            .strip_prefix("param")
            .and_then(|n| n.parse::<usize>().ok());
        let named = self.find(path).and_then(|(segments, _)| {
            segments
                .iter()
                .filter_map(|s| match s {
                    Segment::Variable(name) => Some(name.clone()),
                    Segment::Literal(_) => None,
                })
                .nth(index?)
        });
        named.unwrap_or_else(|| internal.to_owned())
    }

    /// Turns an error raised by poem or poem-openapi into the matching `ApiError`.
    fn classify(&self, err: poem::Error, method: &Method, path: &str) -> ApiError {
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
                allow: self.find(path).map(|(_, m)| m.clone()).unwrap_or_default(),
            };
        }
        // poem-openapi's own wording names Rust types; say what the parameter accepts.
        if let Some(e) = err.downcast_ref::<ParseParamError>() {
            return ApiError::InvalidParameter {
                name: e.name.to_owned(),
                message: self.parameter_message(path, e.name),
            };
        }
        if let Some(e) = err.downcast_ref::<ParsePathError>() {
            let name = self.path_param_name(path, e.name);
            return ApiError::InvalidParameter {
                message: self.parameter_message(path, &name),
                name,
            };
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
}

/// What a parameter with this JSON schema accepts, e.g. "must be an integer from 1 to 1000".
fn accepted_values(spec: &Value, schema: &Value) -> String {
    let schema = match schema["$ref"].as_str() {
        Some(reference) => spec
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or(schema),
        None => schema,
    };
    if let Some(choices) = schema["enum"].as_array() {
        let choices: Vec<_> = choices.iter().filter_map(Value::as_str).collect();
        return format!("must be one of: {}", choices.join(", "));
    }
    let number = |key: &str| schema[key].as_f64().map(|n| n.to_string());
    match schema["type"].as_str() {
        Some("boolean") => "must be true or false".to_owned(),
        Some("integer") => match (number("minimum"), number("maximum")) {
            (Some(min), Some(max)) => format!("must be an integer from {min} to {max}"),
            (Some(min), None) => format!("must be an integer of at least {min}"),
            (None, Some(max)) => format!("must be an integer of at most {max}"),
            // Unbounded in the spec means the full 64-bit range.
            (None, None) => "must be a 64-bit integer".to_owned(),
        },
        _ => "is not valid".to_owned(),
    }
}

/// Middleware: renders every error as a problem response.
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
            Err(err) => Ok(self.routes.classify(err, &method, &path).render()),
        }
    }
}

/// The response for a panic in a handler: logged, then a plain 500 problem.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Internal("a handler panicked".to_owned()).render()
}
