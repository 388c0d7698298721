//! Which problem responses each kind of operation documents in the OpenAPI spec.
//!
//! A handler returns `Result<T, Problems<Read>>` (or `List`, `Create`, `Update`, `Delete`,
//! `Probe`): at run time it is an [`ApiError`] like any other, and `?` converts into it from
//! anything that converts into an `ApiError`; in the spec the operation lists exactly the
//! statuses of its kind, so clients and contract tests see what can really come back.
//! Wrappers add what an operation can do besides its kind, whatever the kind:
//! `Problems<Conflicting<Create>>` writes a unique field (409); `Problems<Keyed<Create>>`
//! takes an `Idempotency-Key` (400, 409 and 422 say so too).

use std::marker::PhantomData;

use poem_openapi::{
    ApiResponse,
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::Type,
};

use super::error::{ApiError, PROBLEM_CONTENT_TYPE, Problem};

/// An [`ApiError`] from an operation of kind `K`, documented as `K`'s problem responses.
#[derive(Debug)]
pub struct Problems<K>(pub ApiError, PhantomData<K>);

// `?` in a handler: anything that converts into an `ApiError` converts into `Problems`.
impl<K, E: Into<ApiError>> From<E> for Problems<K> {
    fn from(err: E) -> Self {
        Self(err.into(), PhantomData)
    }
}

impl<K> From<Problems<K>> for poem::Error {
    fn from(problems: Problems<K>) -> Self {
        problems.0.into()
    }
}

/// The statuses an operation kind can answer with a problem. The wrappers below set the two
/// flags; the descriptions follow from the statuses and the flags (see `problems`).
pub trait OperationKind: Send + Sync + 'static {
    const STATUSES: &'static [u16];
    /// It writes a unique field: 409 when the value is taken.
    const CONFLICTING: bool = false;
    /// It takes an `Idempotency-Key`: 400, 409 and 422 for the key.
    const KEYED: bool = false;
}

/// An operation of kind `K` that can also answer 409 Conflict: a unique field already has
/// the value sent (see `resource::Unique`).
#[derive(Debug)]
pub struct Conflicting<K>(PhantomData<K>);

impl<K: OperationKind> OperationKind for Conflicting<K> {
    const STATUSES: &'static [u16] = K::STATUSES;
    const CONFLICTING: bool = true;
    const KEYED: bool = K::KEYED;
}

/// An operation of kind `K` that takes an `Idempotency-Key` (see `idempotency`).
#[derive(Debug)]
pub struct Keyed<K>(PhantomData<K>);

impl<K: OperationKind> OperationKind for Keyed<K> {
    const STATUSES: &'static [u16] = K::STATUSES;
    const CONFLICTING: bool = K::CONFLICTING;
    const KEYED: bool = true;
}

/// `K`'s problem statuses, in order, each with its description.
fn problems<K: OperationKind>() -> Vec<(u16, &'static str)> {
    let mut statuses = K::STATUSES.to_vec();
    if K::CONFLICTING || K::KEYED {
        statuses.push(409);
    }
    if K::KEYED {
        statuses.extend([400, 422]);
    }
    statuses.sort_unstable();
    statuses.dedup();
    let described = |status| match (status, K::CONFLICTING, K::KEYED) {
        (400, _, true) => {
            "Malformed JSON, an invalid query or path parameter, or a bad `Idempotency-Key` \
             (missing, when `idempotency.required`); `errors` names it"
        }
        (409, true, true) => {
            "Another item already has a value that must be unique (`errors` names the \
             field); or a request with the same `Idempotency-Key` is still in flight: retry \
             after `Retry-After` seconds"
        }
        (409, false, true) => {
            "A request with the same `Idempotency-Key` is still in flight: retry after \
             `Retry-After` seconds to get its response"
        }
        (422, _, true) => {
            "Well-formed JSON that fails validation (`errors` names every bad field); or the \
             `Idempotency-Key` was used with another request (method, path or body)"
        }
        _ => description(status),
    };
    statuses
        .into_iter()
        .map(|status| (status, described(status)))
        .collect()
}

macro_rules! operation_kinds {
    ($($(#[$doc:meta])* $kind:ident => [$($status:literal),*];)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $kind;
        impl OperationKind for $kind {
            const STATUSES: &'static [u16] = &[$($status),*];
        }
    )*};
}

operation_kinds! {
    /// Lists a collection: bad parameters, or the database.
    List => [400, 500, 503];
    /// Reads one item by id.
    Read => [400, 404, 500, 503];
    /// Creates an item from a JSON body.
    Create => [400, 413, 415, 422, 500, 503];
    /// Replaces or changes an item from a JSON body, optionally `If-Match`.
    Update => [400, 404, 412, 413, 415, 422, 500, 503];
    /// Deletes an item by id, optionally `If-Match`.
    Delete => [400, 404, 412, 500, 503];
    /// A readiness probe: the database, or a drain before stopping, can fail it.
    Probe => [503];
}

/// The description of a problem response with this status.
pub fn description(status: u16) -> &'static str {
    match status {
        400 => "Malformed JSON, or an invalid query or path parameter (named in `errors`)",
        401 => {
            "No bearer token, or one that is not valid here (expired, another issuer or \
             audience, a bad signature): `WWW-Authenticate` says which"
        }
        403 => "The token does not grant the operation's scope (`WWW-Authenticate` names it)",
        404 => "No item with this id",
        409 => "Another item already has a value that must be unique; `errors` names the field",
        412 => "`If-Match` does not match the item's current `ETag`",
        413 => "The request body is larger than `server.request_body_limit`",
        415 => "The request body is not `application/json`",
        422 => "Well-formed JSON that fails validation; `errors` names every bad field",
        500 => "An internal error (details are in the service log)",
        503 => {
            "The database is unavailable, the identity provider cannot be reached for a \
             token's key, the service is draining before it stops (readiness), or the request \
             was not answered within `server.request_timeout_seconds`; retry after \
             `Retry-After` seconds"
        }
        _ => "An error",
    }
}

impl<K: OperationKind> ApiResponse for Problems<K> {
    fn meta() -> MetaResponses {
        let responses = problems::<K>()
            .into_iter()
            .map(|(status, description)| MetaResponse {
                description,
                status: Some(status),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: PROBLEM_CONTENT_TYPE,
                    schema: Problem::schema_ref(),
                }],
                headers: vec![],
            })
            .collect();
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_add_their_statuses_whatever_their_order() {
        let statuses = |problems: Vec<(u16, &str)>| -> Vec<u16> {
            problems.into_iter().map(|(status, _)| status).collect()
        };
        assert_eq!(
            statuses(problems::<Conflicting<Read>>()),
            [400, 404, 409, 500, 503]
        );
        assert_eq!(
            statuses(problems::<Keyed<Create>>()),
            [400, 409, 413, 415, 422, 500, 503]
        );
        assert_eq!(
            problems::<Keyed<Conflicting<Create>>>(),
            problems::<Conflicting<Keyed<Create>>>()
        );
        let conflict = |problems: Vec<(u16, &'static str)>| {
            problems
                .into_iter()
                .find(|(status, _)| *status == 409)
                .map(|(_, text)| text)
        };
        assert_eq!(
            conflict(problems::<Conflicting<Create>>()),
            Some(description(409))
        );
        let both = conflict(problems::<Keyed<Conflicting<Update>>>()).unwrap_or_default();
        assert!(
            both.contains("unique") && both.contains("Idempotency-Key"),
            "{both}"
        );
    }
}
