//! `Idempotency-Key` (IETF httpapi draft-07) for any write: a retry with the same key and the
//! same request gets the first response back, byte for byte, with `Idempotent-Replayed: true`,
//! and nothing is written again. A resource opts an operation in with one line:
//!
//! ```ignore
//! async fn create(&self, caller: Caller<WriteNotes>, key: IdempotencyKey,
//!                 body: ValidatedJson<NewNote>)
//!     -> Result<Idempotent<CreateResponse>, Problems<Keyed<Create>>> {
//!     key.once(&self.db, caller.owner(), async |db| { /* the write, on `db` */ }).await
//! }
//! ```
//!
//! With a key, the write runs in a transaction that then stores the key with its response (a
//! success only): both are committed or neither is, so a request that fails or crashes leaves
//! the key free for its retry, and no lease is needed. A second request with the key while
//! the first runs waits for the first's outcome at the key's unique index, then gets the
//! first's answer (its own write rolled back), or runs if the first stored nothing. One row
//! and one statement in the write's transaction: a keyed write costs one insert more than a
//! plain one. Keys are scoped to the owner, and expire after `idempotency.ttl_seconds`.

use std::{fmt::Write, marker::PhantomData, time::Duration};

use poem::{
    Body, IntoResponse, Request, RequestBody, Response,
    http::{HeaderName, HeaderValue, StatusCode, header},
};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions,
    registry::{MetaHeader, MetaParamIn, MetaResponses, MetaSchema, MetaSchemaRef, Registry},
    types::Type,
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
};
use sea_orm::{DatabaseTransaction, TransactionTrait};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::db::{
    Db,
    executor::Executor,
    idempotency::{self, Earlier, KeyUse, Stored, StoredResponse},
    owner::Owner,
};

/// The header a client sends.
pub const HEADER: &str = "Idempotency-Key";
/// The header on a replayed response.
pub const REPLAYED: &str = "idempotent-replayed";
/// The longest key, in characters (printable ASCII).
pub const MAX_KEY_CHARS: usize = 255;
/// What `parse_key` accepts: a quoted string of 1 to 255 printable ASCII characters (`"`
/// and `\` escaped by a backslash), or 1 to 255 bare ones not starting with `"` or a space.
const KEY_PATTERN: &str = r#"^(?:"(?:[ !#-\[\]-~]|\\["\\]){1,255}"|[!#-~][ -~]{0,254})$"#;
/// The response headers stored with a key and replayed (with the body and status).
const STORED_HEADERS: [HeaderName; 3] = [header::LOCATION, header::ETAG, header::CONTENT_TYPE];

/// How keys are handled, as configured (request data, see `app::routes`).
#[derive(Clone)]
pub struct IdempotencyPolicy {
    /// Refuse a write without a key.
    pub required: bool,
    pub ttl: Duration,
    pub metrics: Option<IdempotencyMetrics>,
}

impl IdempotencyPolicy {
    fn count(&self, result: &'static str) {
        if let Some(metrics) = &self.metrics {
            metrics.count(result);
        }
    }
}

/// The `Idempotency-Key` of a write, if it has one; as a handler parameter it reads and
/// checks the header, and fingerprints the request (method, path, body).
pub struct IdempotencyKey {
    used: Option<Used>,
    policy: IdempotencyPolicy,
}

struct Used {
    key: String,
    /// SHA-256 of method, path and body, in hex.
    fingerprint: String,
}

/// The key an `Idempotency-Key` header holds: an sf-string (`"8e03978e-..."`, RFC 9651, with
/// `\"` and `\\` escapes) or, as many clients send, the bare key; 1 to 255 printable ASCII
/// characters either way.
fn parse_key(header: &HeaderValue) -> Result<String, &'static str> {
    const RULE: &str = "must be 1 to 255 printable ASCII characters, as a quoted string \
                        (\"...\") or bare";
    let value = header.to_str().map_err(|_| RULE)?;
    let key = match value.strip_prefix('"') {
        Some(rest) => {
            let inner = rest.strip_suffix('"').ok_or(RULE)?;
            let mut key = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some(escaped @ ('"' | '\\')) => key.push(escaped),
                        _ => return Err(RULE),
                    },
                    '"' => return Err(RULE),
                    c => key.push(c),
                }
            }
            key
        }
        None if value.starts_with(' ') => return Err(RULE),
        None => value.to_owned(),
    };
    let printable = |c: char| (' '..='~').contains(&c);
    match !key.is_empty() && key.len() <= MAX_KEY_CHARS && key.chars().all(printable) {
        true => Ok(key),
        false => Err(RULE),
    }
}

fn fingerprint(request: &Request, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(request.method().as_str());
    hash.update([0]);
    hash.update(request.uri().path());
    hash.update([0]);
    hash.update(body);
    hash.finalize()
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

impl<'a> ApiExtractor<'a> for IdempotencyKey {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];
    type ParamType = ();
    type ParamRawType = ();

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Header)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(MetaSchemaRef::Inline(Box::new(MetaSchema {
            min_length: Some(1),
            // A quoted key is two characters longer than the key.
            max_length: Some(MAX_KEY_CHARS + 2),
            pattern: Some(KEY_PATTERN.to_owned()),
            ..MetaSchema::new("string")
        })))
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        options: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let policy = request
            .data::<IdempotencyPolicy>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("no IdempotencyPolicy in the request data".into()))?;
        let invalid = |message: &str| ApiError::InvalidParameter {
            name: options.name.to_owned(),
            message: message.to_owned(),
        };
        let mut values = request.headers().get_all(options.name).iter();
        let key = match (values.next(), values.next()) {
            (None, _) if policy.required => return Err(invalid("is required").into()),
            (None, _) => None,
            (Some(_), Some(_)) => return Err(invalid("must be sent once").into()),
            (Some(value), None) => Some(parse_key(value).map_err(invalid)?),
        };
        let used = match key {
            None => None,
            Some(key) => {
                // The body is read here for its fingerprint, then handed on to the body
                // parameter as it was.
                let bytes = body.take()?.into_vec().await?;
                let fingerprint = fingerprint(request, &bytes);
                *body = RequestBody::new(Body::from_vec(bytes));
                Some(Used { key, fingerprint })
            }
        };
        Ok(Self { used, policy })
    }
}

impl IdempotencyKey {
    /// Runs `write` once per key: on the pool without a key; with one, in a transaction
    /// that also stores its response, or not at all when the key's response is stored
    /// (replayed), its request still runs (409) or the key was used for another request
    /// (422).
    pub async fn once<R>(
        self,
        db: &Db,
        owner: &Owner,
        write: impl AsyncFnOnce(Executor<'_>) -> Result<R, ApiError>,
    ) -> Result<Idempotent<R>, ApiError>
    where
        R: IntoResponse,
    {
        let Some(used) = self.used else {
            let response = write(Executor::Pool(db)).await?;
            return Ok(Idempotent::new(response.into_response()));
        };
        let policy = self.policy;
        let owner = owner.value();
        let key = KeyUse {
            owner: &owner,
            key: &used.key,
            fingerprint: &used.fingerprint,
        };
        let txn: DatabaseTransaction = db.begin().await?;
        let response = match write(Executor::Transaction(&txn)).await {
            Ok(response) => response.into_response(),
            Err(err) => {
                txn.rollback().await?;
                // The same request sent twice at once: the first one's commit can make the
                // second fail (a unique value taken, a version moved on). Its answer is this
                // one's.
                if let Earlier::Done(stored) = idempotency::earlier(db, &key).await? {
                    policy.count("replayed");
                    return Ok(Idempotent::replay(stored));
                }
                return Err(err);
            }
        };
        // Only a success is stored: a refusal rolls its write back and a retry runs again.
        if !response.status().is_success() {
            txn.rollback().await?;
            return Ok(Idempotent::new(response));
        }
        let (parts, body) = response.into_parts();
        let bytes = body
            .into_bytes()
            .await
            .map_err(|err| ApiError::Internal(format!("reading a response body: {err}")))?;
        let stored = StoredResponse {
            status: parts.status.as_u16(),
            // In the response's own order.
            headers: parts
                .headers
                .iter()
                .filter(|(name, _)| STORED_HEADERS.contains(name))
                .filter_map(|(name, value)| {
                    Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                })
                .collect(),
            body: bytes.to_vec(),
        };
        if idempotency::store(&txn, &key, &stored, policy.ttl).await? == Stored::Saved {
            txn.commit().await?;
            policy.count("stored");
            return Ok(Idempotent::new(Response::from_parts(
                parts,
                Body::from(bytes),
            )));
        }
        // A request with the key committed first (this one waited for it at the key's row):
        // this write goes, and the first one's answer is returned.
        txn.rollback().await?;
        match idempotency::earlier(db, &key).await? {
            Earlier::Done(stored) => {
                policy.count("replayed");
                Ok(Idempotent::replay(stored))
            }
            Earlier::OtherRequest => {
                policy.count("other_request");
                Err(ApiError::IdempotencyKeyReused)
            }
            Earlier::Undecided => {
                policy.count("in_flight");
                Err(ApiError::IdempotencyKeyInUse)
            }
        }
    }
}

/// The response of a write that may be a replay: documented as `R`, plus the
/// `Idempotent-Replayed` header.
pub struct Idempotent<R> {
    response: Response,
    documented: PhantomData<R>,
}

impl<R> Idempotent<R> {
    fn new(response: Response) -> Self {
        Self {
            response,
            documented: PhantomData,
        }
    }

    fn replay(stored: StoredResponse) -> Self {
        let mut response = Response::builder()
            .status(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK))
            .body(stored.body);
        let headers = response.headers_mut();
        for (name, value) in stored.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.append(name, value);
            }
        }
        headers.insert(REPLAYED, HeaderValue::from_static("true"));
        Self::new(response)
    }
}

impl<R: Send> IntoResponse for Idempotent<R> {
    fn into_response(self) -> Response {
        self.response
    }
}

impl<R: ApiResponse + Send> ApiResponse for Idempotent<R> {
    fn meta() -> MetaResponses {
        let mut meta = R::meta();
        for response in &mut meta.responses {
            response.headers.push(MetaHeader {
                name: "Idempotent-Replayed".to_owned(),
                description: Some(
                    "`true` when this is the stored response of an earlier request with the \
                     same `Idempotency-Key`"
                        .to_owned(),
                ),
                required: false,
                deprecated: false,
                schema: bool::schema_ref(),
            });
        }
        meta
    }

    fn register(registry: &mut Registry) {
        R::register(registry);
    }
}

/// `idempotency_requests_total{result}`: keyed writes by what became of them: `stored` (run,
/// response stored), `replayed`, `in_flight` (409), `other_request` (422). The metrics
/// registry (`metrics::Metrics`) registers it.
#[derive(Clone, Default)]
pub struct IdempotencyMetrics(Family<ResultLabels, Counter>);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

impl IdempotencyMetrics {
    pub fn register(registry: &mut prometheus_client::registry::Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "idempotency_requests",
            "Writes sent with an Idempotency-Key, by result: stored, replayed, in_flight, \
             other_request",
            metrics.0.clone(),
        );
        metrics
    }

    fn count(&self, result: &'static str) {
        self.0.get_or_create(&ResultLabels { result }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_pattern_accepts_what_the_parser_accepts() {
        let pattern = regex::Regex::new(KEY_PATTERN).unwrap();
        let long = "k".repeat(255);
        let too_long = "k".repeat(256);
        for (value, accepted) in [
            ("\"8e03978e-40d5\"", true),
            ("8e03978e-40d5", true),
            (r#""a \"b\" \\c""#, true),
            ("a\"b", true),
            (long.as_str(), true),
            (too_long.as_str(), false),
            ("\"\"", false),
            ("\"open", false),
            ("\"a\"b\"", false),
            (r#""a\b""#, false),
            (" lead", false),
        ] {
            let parsed = parse_key(&HeaderValue::from_str(value).unwrap()).is_ok();
            assert_eq!(parsed, accepted, "parser: {value:?}");
            assert_eq!(pattern.is_match(value), accepted, "pattern: {value:?}");
        }
    }

    #[test]
    fn keys_are_sf_strings_or_bare_printable_ascii() {
        let parse = |value: &str| parse_key(&HeaderValue::from_str(value).unwrap());
        assert_eq!(parse("\"8e03978e-40d5\"").as_deref(), Ok("8e03978e-40d5"));
        assert_eq!(parse("8e03978e-40d5").as_deref(), Ok("8e03978e-40d5"));
        assert_eq!(parse(r#""a \"b\" \\c""#).as_deref(), Ok(r#"a "b" \c"#));
        assert_eq!(parse(&"k".repeat(255)).map(|k| k.len()), Ok(255));
        for bad in [
            "",
            "\"\"",
            "\"open",
            "\"a\"b\"",
            r#""a\b""#,
            &"k".repeat(256),
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let binary = HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap();
        assert!(parse_key(&binary).is_err());
    }
}
