//! Which problem responses each kind of operation documents in the OpenAPI spec.
//!
//! A handler returns `Result<T, Problems<Read>>` (or `List`, `Create`, `Update`, `Delete`,
//! `Probe`): at run time it is an [`ApiError`] like any other, and `?` converts into it from
//! anything that converts into an `ApiError`; in the spec the operation lists exactly the
//! statuses of its kind, so clients and contract tests see what can really come back.
//! Wrappers add what an operation can do besides its kind, whatever the kind:
//! `Problems<Conflicting<Create>>` writes a unique field (409); `Problems<Keyed<Create>>`
//! takes an `Idempotency-Key` (400, 409 and 422 say so too); `Problems<Referencing<Create>>`
//! writes a reference to another resource (422 for one that names nothing);
//! `Problems<Referenced<Delete>>` deletes an item that others may still reference under
//! `ON DELETE RESTRICT` (409).

use std::{
    collections::BTreeSet,
    marker::PhantomData,
    sync::{Mutex, PoisonError},
};

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

/// The statuses an operation kind can answer with a problem. The wrappers below set the
/// flags; the descriptions follow from the statuses and the flags (see `problems`).
pub trait OperationKind: Send + Sync + 'static {
    const STATUSES: &'static [u16];
    /// It writes a unique field: 409 when the value is taken.
    const CONFLICTING: bool = false;
    /// It takes an `Idempotency-Key`: 400, 409 and 422 for the key.
    const KEYED: bool = false;
    /// It writes a reference to another resource: 422 when it names nothing.
    const REFERENCING: bool = false;
    /// It deletes an item that others may still reference (`ON DELETE RESTRICT`): 409.
    const REFERENCED: bool = false;
    /// What its own 409 means, when it has one of its own (the item's state).
    const STATE_CONFLICT: Option<&'static str> = None;
}

/// Queues an item again (a `POST` below it, without a body): 409 when it is not in a state
/// that can be retried.
#[derive(Debug)]
pub struct Requeue;

impl OperationKind for Requeue {
    const STATUSES: &'static [u16] = &[400, 404, 409, 500, 503];
    const STATE_CONFLICT: Option<&'static str> =
        Some("It is not dead (pending or succeeded): there is nothing to retry");
}

/// An operation of kind `K` that can also answer 409 Conflict: a unique field already has
/// the value sent (see `resource::Unique`).
#[derive(Debug)]
pub struct Conflicting<K>(PhantomData<K>);

impl<K: OperationKind> OperationKind for Conflicting<K> {
    const STATUSES: &'static [u16] = K::STATUSES;
    const CONFLICTING: bool = true;
    const KEYED: bool = K::KEYED;
    const REFERENCING: bool = K::REFERENCING;
    const REFERENCED: bool = K::REFERENCED;
}

/// An operation of kind `K` that takes an `Idempotency-Key` (see `idempotency`).
#[derive(Debug)]
pub struct Keyed<K>(PhantomData<K>);

impl<K: OperationKind> OperationKind for Keyed<K> {
    const STATUSES: &'static [u16] = K::STATUSES;
    const CONFLICTING: bool = K::CONFLICTING;
    const KEYED: bool = true;
    const REFERENCING: bool = K::REFERENCING;
    const REFERENCED: bool = K::REFERENCED;
}

/// An operation of kind `K` whose body refers to another resource by id: its 422 also
/// covers an id that names nothing (see `resource::Reference`).
#[derive(Debug)]
pub struct Referencing<K>(PhantomData<K>);

impl<K: OperationKind> OperationKind for Referencing<K> {
    const STATUSES: &'static [u16] = K::STATUSES;
    const CONFLICTING: bool = K::CONFLICTING;
    const KEYED: bool = K::KEYED;
    const REFERENCING: bool = true;
    const REFERENCED: bool = K::REFERENCED;
}

/// An operation of kind `K` (a delete) that can also answer 409 Conflict: other items still
/// reference the item under `ON DELETE RESTRICT` (see `Resource::delete_error`).
#[derive(Debug)]
pub struct Referenced<K>(PhantomData<K>);

impl<K: OperationKind> OperationKind for Referenced<K> {
    const STATUSES: &'static [u16] = K::STATUSES;
    const CONFLICTING: bool = K::CONFLICTING;
    const KEYED: bool = K::KEYED;
    const REFERENCING: bool = K::REFERENCING;
    const REFERENCED: bool = true;
}

/// `K`'s problem statuses, in order, each with its description.
fn problems<K: OperationKind>() -> Vec<(u16, &'static str)> {
    let mut statuses = K::STATUSES.to_vec();
    if K::CONFLICTING || K::KEYED || K::REFERENCED {
        statuses.push(409);
    }
    if K::KEYED {
        statuses.extend([400, 422]);
    }
    if K::REFERENCING {
        statuses.push(422);
    }
    statuses.sort_unstable();
    statuses.dedup();
    let described = |status| match status {
        400 if K::KEYED => {
            "Malformed JSON, an invalid query or path parameter, or a bad `Idempotency-Key` \
             (missing, when `idempotency.required`); `errors` names it"
        }
        409 => conflict::<K>(),
        422 => unprocessable::<K>(),
        _ => description(status),
    };
    statuses
        .into_iter()
        .map(|status| (status, described(status)))
        .collect()
}

/// What a 409 of `K` means: each reason it can have, alone in its own words, or several
/// joined with "; or".
fn conflict<K: OperationKind>() -> &'static str {
    if let Some(described) = K::STATE_CONFLICT {
        return described;
    }
    // (flag, said alone, said among others)
    let reasons = [
        (
            K::CONFLICTING,
            description(409),
            "another item already has a value that must be unique (`errors` names the field)",
        ),
        (
            K::REFERENCED,
            "Other items still refer to this one: delete them first",
            "other items still refer to this one (delete them first)",
        ),
        (
            K::KEYED,
            "A request with the same `Idempotency-Key` is still in flight: retry after \
             `Retry-After` seconds to get its response",
            "a request with the same `Idempotency-Key` is still in flight: retry after \
             `Retry-After` seconds",
        ),
    ];
    let given: Vec<_> = reasons.iter().filter(|(flag, _, _)| *flag).collect();
    match given.as_slice() {
        [(_, alone, _)] => alone,
        [] => description(409),
        several => {
            let joined: Vec<_> = several.iter().map(|(_, _, among)| *among).collect();
            interned(capitalized(&joined.join("; or ")))
        }
    }
}

/// What a 422 of `K` means: validation, a reference to nothing, a reused key.
fn unprocessable<K: OperationKind>() -> &'static str {
    if !K::REFERENCING && !K::KEYED {
        return description(422);
    }
    let invalid = match K::REFERENCING {
        true => "Well-formed JSON that fails validation, or refers to an item that does not exist",
        false => "Well-formed JSON that fails validation",
    };
    interned(match K::KEYED {
        true => format!(
            "{invalid} (`errors` names every bad field); or the `Idempotency-Key` was used \
             with another request (method, path or body)"
        ),
        false => format!("{invalid}; `errors` names every bad field"),
    })
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A description composed at run time, kept for the process's life as the spec's types
/// require: each distinct text once (a handful: one per combination of flags in use).
fn interned(text: String) -> &'static str {
    static TEXTS: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut texts = TEXTS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(&known) = texts.get(text.as_str()) {
        return known;
    }
    let text: &'static str = Box::leak(text.into_boxed_str());
    texts.insert(text);
    text
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
    /// An action on one item (a `POST` to a path below it), without a body.
    Action => [400, 404, 500, 503];
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

    #[test]
    fn references_add_a_409_to_deletes_and_a_reason_to_422() {
        let described = |problems: Vec<(u16, &'static str)>, status: u16| {
            problems
                .into_iter()
                .find(|(s, _)| *s == status)
                .map(|(_, text)| text)
                .unwrap_or_default()
        };
        assert_eq!(
            problems::<Referenced<Delete>>()
                .into_iter()
                .map(|(status, _)| status)
                .collect::<Vec<_>>(),
            [400, 404, 409, 412, 500, 503]
        );
        let referenced = described(problems::<Referenced<Delete>>(), 409);
        assert!(
            referenced.starts_with("Other items still refer"),
            "{referenced}"
        );
        assert_eq!(
            problems::<Referencing<Create>>()
                .into_iter()
                .map(|(status, _)| status)
                .collect::<Vec<_>>(),
            problems::<Create>()
                .into_iter()
                .map(|(status, _)| status)
                .collect::<Vec<_>>()
        );
        let missing = described(problems::<Referencing<Create>>(), 422);
        assert!(missing.contains("does not exist"), "{missing}");
        let both = described(problems::<Keyed<Referencing<Update>>>(), 422);
        assert!(
            both.contains("does not exist") && both.contains("Idempotency-Key"),
            "{both}"
        );
        assert_eq!(
            problems::<Keyed<Referencing<Update>>>(),
            problems::<Referencing<Keyed<Update>>>()
        );
        // Without the new flags, the texts are those the spec always had.
        assert_eq!(described(problems::<Create>(), 422), description(422));
        assert_eq!(
            described(problems::<Keyed<Create>>(), 422),
            "Well-formed JSON that fails validation (`errors` names every bad field); or the \
             `Idempotency-Key` was used with another request (method, path or body)"
        );
        let all = described(problems::<Referenced<Conflicting<Keyed<Update>>>>(), 409);
        assert!(
            all.starts_with("Another item already has a value that must be unique")
                && all.contains("; or other items still refer")
                && all.contains("; or a request with the same `Idempotency-Key`"),
            "{all}"
        );
    }
}
