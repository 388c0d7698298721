//! Every failure a client can see, its status, and its RFC 9457 problem body.
//!
//! Handlers return `Result<_, Problems<Kind>>` (see `error_docs`) and use `?` on anything
//! that converts into an [`ApiError`]. Errors raised by poem and poem-openapi themselves are
//! turned into an `ApiError` by the `problem_details` middleware, so every 4xx/5xx body is
//! `application/problem+json`. Internal details (driver, SQL, panics) are logged, never sent.
//! The vocabulary is resource-agnostic: a resource adds no variant.

use poem::{
    IntoResponse, Response,
    error::ResponseError,
    http::{HeaderValue, Method, StatusCode, header},
};
use std::sync::Arc;

use poem_openapi::Object;
use sea_orm::DbErr;
use serde::Serialize;

use crate::db::errors::ForeignKeyFailure;

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

/// Which reference of a body names nothing (see `resource::Reference`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingReference {
    /// The body field, e.g. `note_id`.
    pub field: &'static str,
    /// The singular name of what it refers to, e.g. `note`.
    pub parent: &'static str,
    /// The id it named, when known: always from the owner check, from the database only on
    /// PostgreSQL (whose error shows the key).
    pub id: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `resource` is the singular name used in the problem type: `note` gives
    /// `urn:notes-service:problem:note-not-found`.
    #[error("no {resource} with id {id}")]
    NotFound { resource: &'static str, id: i64 },
    /// An `If-Match` that does not name the item's current version; `etag` is the current
    /// one, sent back so the client knows what it is.
    #[error("{resource} {id} has changed: its current ETag is {etag}")]
    PreconditionFailed {
        resource: &'static str,
        id: i64,
        etag: String,
    },
    /// A unique index already holds the value; `field` names the body field it guards when
    /// the resource says so (see `resource::Unique`).
    #[error("{} conflicts with an existing one", resource.unwrap_or("the item"))]
    Conflict {
        resource: Option<&'static str>,
        field: Option<&'static str>,
    },
    /// A write names, by id, an item that does not exist, or (authentication on) that is
    /// another owner's: the two answer alike, so the answer does not tell whether another
    /// owner's item exists. 422, as a validation failure: the body is well-formed and the
    /// operation's own target is fine, but what the body says is wrong (it names nothing),
    /// which no retry of the same request can change. Not 404 (the URL's item is not what is
    /// missing) nor 409 (nothing conflicts; the client must send another value). `None` when
    /// the database refused the write and the resource cannot tell which reference failed.
    #[error("a referenced item does not exist")]
    ReferenceNotFound(Option<MissingReference>),
    /// A delete refused because other items still reference the item (a foreign key with
    /// `ON DELETE RESTRICT`): the item's state conflicts with the request until those are
    /// deleted.
    #[error("{} is still referenced by other items", resource.unwrap_or("the item"))]
    StillReferenced { resource: Option<&'static str> },
    /// The item is not in a state the operation applies to (a delivery retried that is not
    /// dead). `problem` is the problem type's name (`delivery-not-dead`).
    #[error("{detail}")]
    WrongState {
        problem: &'static str,
        detail: String,
    },
    /// No bearer token (`refusal` is `None`), or one that is refused for the reason given
    /// (RFC 6750 §3: `error="invalid_token"`). `realm` goes into the challenge.
    #[error("authentication failed")]
    Unauthorized {
        realm: Arc<str>,
        refusal: Option<&'static str>,
    },
    /// A valid token without the scope the operation needs.
    #[error("the token does not grant the scope {scope}")]
    InsufficientScope {
        realm: Arc<str>,
        scope: &'static str,
    },
    /// The token's signing key is not known and the identity provider cannot be reached.
    #[error("the identity provider's signing keys cannot be fetched")]
    IdentityProviderUnavailable,
    /// A request with the same `Idempotency-Key` is still being answered.
    #[error("a request with this Idempotency-Key is still in flight")]
    IdempotencyKeyInUse,
    /// The `Idempotency-Key` was used before with another request (method, path or body).
    #[error("this Idempotency-Key was used with another request")]
    IdempotencyKeyReused,
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
    /// The service should not be sent requests now (a readiness condition failed).
    #[error("not ready: {0}")]
    NotReady(&'static str),
    #[error("the request was not answered within {after:?}")]
    Timeout { after: std::time::Duration },
    /// A statement stopped by its time bound, or a lock waited for too long.
    #[error("the database did not answer in time: {0}")]
    DatabaseTimeout(DbErr),
    #[error("internal error: {0}")]
    Internal(String),
    /// Any other error status poem reports (kept generic on purpose).
    #[error("{0}")]
    Http(StatusCode),
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        // A resource that declares its references names the field (see
        // `Resource::write_error` and `delete_error`). Without that context, the side the
        // backend reports decides; where it reports none (SQLite's plain "FOREIGN KEY
        // constraint failed": a missing parent, or a parent's delete under `NO ACTION`), the
        // 409 `still-referenced`: a referencing resource maps its writes through
        // `write_error` (docs/adding-a-resource.md), while a parent's delete handler, which
        // knows nothing of its children, is the one that converts plainly. Never a 500.
        if let Some(violation) = crate::db::errors::foreign_key_violation(&err) {
            return match violation.failure {
                Some(ForeignKeyFailure::MissingParent) => Self::ReferenceNotFound(None),
                Some(ForeignKeyFailure::StillReferenced) | None => {
                    Self::StillReferenced { resource: None }
                }
            };
        }
        match err {
            // The pool is exhausted or the server went away: a retry may well succeed.
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::Unavailable(err),
            // A resource that says which index guards which field names it (see
            // `Resource::write_error`); without that, still a 409, never a 500.
            _ if crate::db::errors::unique_violation(&err).is_some() => Self::Conflict {
                resource: None,
                field: None,
            },
            _ if crate::db::errors::connection_lost(&err) => Self::Unavailable(err),
            _ if crate::db::errors::timed_out(&err) => Self::DatabaseTimeout(err),
            other => Self::Internal(other.to_string()),
        }
    }
}

const TYPE_BASE: &str = "urn:notes-service:problem:";

/// `Retry-After` on 503s.
const RETRY_AFTER_SECONDS: u32 = 1;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound { .. } | Self::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::Conflict { .. }
            | Self::StillReferenced { .. }
            | Self::WrongState { .. }
            | Self::IdempotencyKeyInUse => StatusCode::CONFLICT,
            Self::IdempotencyKeyReused | Self::ReferenceNotFound(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::MalformedJson(_) | Self::InvalidParameter { .. } => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_)
            | Self::NotReady(_)
            | Self::IdentityProviderUnavailable
            | Self::Timeout { .. }
            | Self::DatabaseTimeout(_) => StatusCode::SERVICE_UNAVAILABLE,
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
        let typed = |kind: &str, title: String, detail: String| Problem {
            problem_type: format!("{TYPE_BASE}{kind}"),
            title,
            status: status.as_u16(),
            detail,
            errors: None,
        };
        match self {
            Self::NotFound { resource, .. } => typed(
                &format!("{resource}-not-found"),
                format!("{} not found", capitalized(resource)),
                self.to_string(),
            ),
            Self::PreconditionFailed { .. } => typed(
                "precondition-failed",
                "Precondition failed".to_owned(),
                format!("{self}; read it again and retry with that ETag"),
            ),
            Self::Conflict { resource, field } => {
                let item = resource.unwrap_or("item");
                let detail = match field {
                    Some(field) => format!("another {item} already has this `{field}`"),
                    None => format!("another {item} already has one of these values"),
                };
                Problem {
                    errors: field.map(|field| vec![FieldError::new(field, "is already taken")]),
                    ..typed("already-exists", "Already exists".to_owned(), detail)
                }
            }
            Self::ReferenceNotFound(missing) => {
                let detail = match missing {
                    Some(m) => format!("no {} with the id in `{}`", m.parent, m.field),
                    None => "the body refers to an item that does not exist".to_owned(),
                };
                Problem {
                    errors: missing.as_ref().map(|m| {
                        let message = match m.id {
                            Some(id) => format!("no {} with id {id}", m.parent),
                            None => format!("no {} with the id given", m.parent),
                        };
                        vec![FieldError::new(m.field, message)]
                    }),
                    ..typed(
                        "reference-not-found",
                        "Reference not found".to_owned(),
                        detail,
                    )
                }
            }
            Self::StillReferenced { resource } => typed(
                "still-referenced",
                "Still referenced".to_owned(),
                format!(
                    "other items still refer to this {}: delete them first",
                    resource.unwrap_or("item")
                ),
            ),
            Self::WrongState { problem, detail } => {
                typed(problem, "Conflict".to_owned(), detail.clone())
            }
            Self::IdempotencyKeyInUse => typed(
                "idempotency-key-in-use",
                "Request in flight".to_owned(),
                "a request with this Idempotency-Key is still being answered; retry after \
                 `Retry-After` seconds to get its response"
                    .to_owned(),
            ),
            Self::IdempotencyKeyReused => typed(
                "idempotency-key-reused",
                "Idempotency-Key reused".to_owned(),
                "this Idempotency-Key was used with another request (method, path or body); \
                 use a new key for a new request"
                    .to_owned(),
            ),
            Self::Unauthorized { refusal: None, .. } => typed(
                "unauthorized",
                "Unauthorized".to_owned(),
                "this operation needs a bearer token: `Authorization: Bearer <access token>`"
                    .to_owned(),
            ),
            Self::Unauthorized {
                refusal: Some(why), ..
            } => typed(
                "invalid-token",
                "Invalid token".to_owned(),
                (*why).to_owned(),
            ),
            Self::InsufficientScope { scope, .. } => typed(
                "insufficient-scope",
                "Insufficient scope".to_owned(),
                format!("the token does not grant the scope `{scope}`"),
            ),
            Self::IdentityProviderUnavailable => typed(
                "identity-provider-unavailable",
                "Identity provider unavailable".to_owned(),
                "the token's signing key cannot be fetched from the identity provider right \
                 now; try again later"
                    .to_owned(),
            ),
            Self::Validation(errors) => {
                let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
                Problem {
                    errors: Some(errors.clone()),
                    ..typed(
                        "validation-error",
                        "Invalid request body".to_owned(),
                        format!("invalid field(s): {}", fields.join(", ")),
                    )
                }
            }
            Self::MalformedJson(_) => typed(
                "malformed-json",
                "Malformed JSON".to_owned(),
                self.to_string(),
            ),
            Self::InvalidParameter { name, message } => Problem {
                errors: Some(vec![FieldError::new(name.clone(), message.clone())]),
                ..typed(
                    "invalid-parameter",
                    "Invalid parameter".to_owned(),
                    self.to_string(),
                )
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
            Self::NotReady(why) => plain(format!("{why}; send requests to another instance")),
            Self::DatabaseTimeout(_) => typed(
                "timeout",
                "Request timed out".to_owned(),
                "the database did not answer in time; try again later".to_owned(),
            ),
            Self::Timeout { after } => typed(
                "timeout",
                "Request timed out".to_owned(),
                format!(
                    "the request was not answered within {} s; try again later",
                    after.as_secs_f64()
                ),
            ),
            Self::Internal(_) => plain("an internal error occurred; it has been logged".to_owned()),
            Self::Http(status) => plain(format!("the request failed with status {status}")),
        }
    }

    /// The problem response, with the headers its status calls for.
    pub fn render(&self) -> Response {
        match self {
            Self::Unavailable(err) => tracing::warn!(error = %err, "database unavailable"),
            Self::Timeout { after } => tracing::warn!(?after, "request timed out"),
            Self::DatabaseTimeout(err) => tracing::warn!(error = %err, "database timed out"),
            Self::Internal(err) => tracing::error!(error = %err, "internal error"),
            Self::IdentityProviderUnavailable => {
                tracing::warn!("a token's signing key is unknown and the provider is unreachable")
            }
            _ => {}
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = Response::builder()
            .status(self.status())
            .content_type(PROBLEM_CONTENT_TYPE)
            .body(body);
        let extra_header = match self {
            Self::MethodNotAllowed { allow, .. } => {
                let allow: Vec<_> = allow.iter().map(Method::as_str).collect();
                Some((header::ALLOW, allow.join(", ")))
            }
            Self::PreconditionFailed { etag, .. } => Some((header::ETAG, etag.clone())),
            // RFC 6750 §3: the challenge, and why the token was refused.
            Self::Unauthorized { realm, refusal } => Some((
                header::WWW_AUTHENTICATE,
                match refusal {
                    None => format!("Bearer realm=\"{realm}\""),
                    Some(why) => format!(
                        "Bearer realm=\"{realm}\", error=\"invalid_token\", \
                         error_description=\"{why}\""
                    ),
                },
            )),
            Self::InsufficientScope { realm, scope } => Some((
                header::WWW_AUTHENTICATE,
                format!(
                    "Bearer realm=\"{realm}\", error=\"insufficient_scope\", scope=\"{scope}\""
                ),
            )),
            // These pass by themselves: say when to come back.
            Self::IdempotencyKeyInUse
            | Self::Unavailable(_)
            | Self::NotReady(_)
            | Self::IdentityProviderUnavailable
            | Self::Timeout { .. }
            | Self::DatabaseTimeout(_) => {
                Some((header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string()))
            }
            _ => None,
        };
        if let Some((name, value)) = extra_header
            && let Ok(value) = HeaderValue::from_str(&value)
        {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
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
