//! Validating a JWT access token as RFC 9068 (JWT profile for OAuth 2.0 access tokens) and
//! RFC 8725 (JWT best current practices) ask: an asymmetric algorithm only (never `none`,
//! never HMAC, so a public key can never be used as a shared secret), the algorithm the
//! signing key is for, the issuer exactly, the audience among `aud`, `exp` required, `nbf`
//! and `iat` checked with a small leeway, `sub` required, `typ` `at+jwt` or `JWT` or absent.

use std::{collections::HashSet, sync::Arc, time::Duration};

use jsonwebtoken::{Algorithm, Validation, decode, decode_header, errors::ErrorKind};
use serde::Deserialize;

use super::keys::{Lookup, SigningKeys};

/// The signature algorithms accepted: asymmetric ones only.
const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Longer tokens are refused unread (a JWT from a provider is a few kilobytes at most).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The longest `sub` accepted: OpenID Connect's limit, and the owner column's width.
pub const MAX_SUBJECT_CHARS: usize = 255;

/// A token that passed every check.
#[derive(Debug, Clone)]
pub struct Verified {
    pub subject: Arc<str>,
    pub scopes: HashSet<String>,
    /// `exp`, in seconds since the epoch.
    pub expires_at: u64,
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a valid token for this service; the text says why, for `error_description`.
    Invalid(&'static str),
    Expired,
    /// Its key cannot be had: the provider is unreachable.
    KeysUnavailable,
}

/// What a token must satisfy besides its signature.
pub struct Rules {
    pub issuer: String,
    pub audience: String,
    pub leeway: Duration,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    scope: Option<String>,
    /// Some providers (Entra ID, Okta) list scopes in `scp`, as a string or an array.
    #[serde(default)]
    scp: Option<Scopes>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scopes {
    Joined(String),
    Listed(Vec<String>),
}

pub async fn verify(token: &str, keys: &SigningKeys, rules: &Rules) -> Result<Verified, Refusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refusal::Invalid("the token is too long"));
    }
    let header = decode_header(token).map_err(|_| Refusal::Invalid("the token is malformed"))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(Refusal::Invalid("the token's algorithm is not accepted"));
    }
    let typ_ok = header.typ.as_deref().is_none_or(|typ| {
        ["at+jwt", "application/at+jwt", "JWT"]
            .iter()
            .any(|accepted| typ.eq_ignore_ascii_case(accepted))
    });
    if !typ_ok {
        return Err(Refusal::Invalid("the token is not an access token (typ)"));
    }
    let key = match keys.find(header.kid.as_deref(), header.alg).await {
        Lookup::Found(key) => key,
        Lookup::Unknown => return Err(Refusal::Invalid("the token's signing key is unknown")),
        Lookup::Unavailable => return Err(Refusal::KeysUnavailable),
    };
    if !key.verifies(header.alg) {
        return Err(Refusal::Invalid(
            "the token's algorithm does not match its key",
        ));
    }
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&rules.issuer]);
    validation.set_audience(&[&rules.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = rules.leeway.as_secs();
    validation.validate_nbf = true;
    let claims = decode::<Claims>(token, &key.key, &validation)
        .map_err(|err| match err.kind() {
            ErrorKind::ExpiredSignature => Refusal::Expired,
            ErrorKind::ImmatureSignature => Refusal::Invalid("the token is not valid yet (nbf)"),
            ErrorKind::InvalidIssuer => Refusal::Invalid("the token is from another issuer"),
            ErrorKind::InvalidAudience => Refusal::Invalid("the token is for another audience"),
            ErrorKind::MissingRequiredClaim(_) => {
                Refusal::Invalid("the token lacks a required claim (exp, iss, aud, sub)")
            }
            ErrorKind::InvalidSignature => Refusal::Invalid("the token's signature is invalid"),
            _ => Refusal::Invalid("the token is malformed"),
        })?
        .claims;
    let now = jsonwebtoken::get_current_timestamp();
    if claims
        .iat
        .is_some_and(|iat| iat > now + rules.leeway.as_secs())
    {
        return Err(Refusal::Invalid("the token is issued in the future (iat)"));
    }
    if claims.sub.is_empty() || claims.sub.chars().count() > MAX_SUBJECT_CHARS {
        return Err(Refusal::Invalid("the token's subject is empty or too long"));
    }
    let mut scopes: HashSet<String> = claims
        .scope
        .iter()
        .flat_map(|joined| joined.split_whitespace())
        .map(str::to_owned)
        .collect();
    match claims.scp {
        Some(Scopes::Joined(joined)) => {
            scopes.extend(joined.split_whitespace().map(str::to_owned));
        }
        Some(Scopes::Listed(listed)) => scopes.extend(listed),
        None => {}
    }
    Ok(Verified {
        subject: claims.sub.into(),
        scopes,
        expires_at: claims.exp,
    })
}
