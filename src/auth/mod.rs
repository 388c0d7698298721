//! Who is calling. With `auth.issuer` set, the service is an OAuth 2.0 resource server: every
//! operation that takes a [`Caller`] needs a bearer token (RFC 6750), a JWT access token
//! (RFC 9068) that the OpenID Connect provider signed for `auth.audience`, holding the
//! operation's scope; the caller is the token's `sub`, and sees only its own rows. With
//! `auth.issuer` empty, authentication is off and every caller is anyone.
//!
//! - `keys`: the provider's signing keys (discovery, JWKS, refresh, rotation), fetched by
//!   `fetch`;
//! - `token`: validating a token;
//! - `caller`: the handler parameter that authenticates and checks a scope, and how a
//!   resource declares its scopes.
//!
//! Verified tokens are kept by the SHA-256 of the token until they expire (bounded), so a
//! token used again costs a hash instead of a signature check. No token is ever logged.

pub mod caller;
pub mod fetch;
pub mod keys;
pub mod token;

use std::{sync::Arc, time::Duration};

use poem::http::HeaderValue;
use sha2::{Digest, Sha256};

pub use self::caller::{AuthState, Caller, Scope};
use self::{
    fetch::JsonFetcher,
    keys::SigningKeys,
    token::{Refusal, Rules, Verified},
};
use crate::{
    config::AuthSettings, db::owner::Owner, http::error::ApiError, metrics::auth::AuthFailures,
};

/// Why authentication failed, as counted in `auth_failures_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No bearer token.
    Missing,
    /// A token that is not valid here (any reason but its expiry).
    Invalid,
    Expired,
    /// A valid token without the operation's scope.
    InsufficientScope,
    /// The token's key could not be fetched from the provider.
    Unavailable,
}

impl Failure {
    pub fn label(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Invalid => "invalid",
            Self::Expired => "expired",
            Self::InsufficientScope => "insufficient_scope",
            Self::Unavailable => "unavailable",
        }
    }
}

pub struct Authenticator {
    keys: Arc<SigningKeys>,
    rules: Rules,
    realm: Arc<str>,
    verified: quick_cache::sync::Cache<[u8; 32], Arc<Verified>>,
    failures: Option<AuthFailures>,
}

impl Authenticator {
    /// The authenticator `settings` describe, or `None` when authentication is off. Starts
    /// fetching the provider's keys in the background (it does not wait for them).
    pub fn start(settings: &AuthSettings, failures: Option<AuthFailures>) -> Option<Arc<Self>> {
        if !settings.enabled() {
            return None;
        }
        tracing::info!(
            issuer = %settings.issuer,
            audience = %settings.audience,
            "authentication on: /notes needs bearer tokens from this issuer"
        );
        let fetcher = JsonFetcher::new(Duration::from_secs(settings.http_timeout_seconds));
        let jwks_uri = Some(settings.jwks_uri.as_str()).filter(|uri| !uri.is_empty());
        let keys = SigningKeys::new(
            fetcher,
            &settings.issuer,
            settings.discovery_url(),
            jwks_uri,
            Duration::from_secs(settings.keys_refetch_min_seconds),
        );
        keys.refresh_in_background(Duration::from_secs(settings.keys_refresh_seconds));
        Some(Arc::new(Self {
            keys,
            rules: Rules {
                issuer: settings.issuer.clone(),
                audience: settings.audience.clone(),
                leeway: Duration::from_secs(settings.leeway_seconds),
            },
            realm: settings.realm.as_str().into(),
            verified: quick_cache::sync::Cache::new(settings.token_cache_size),
            failures,
        }))
    }

    /// The owner an `Authorization` header authenticates, if its token holds `scope`.
    pub async fn authenticate(
        &self,
        authorization: Option<&HeaderValue>,
        scope: &'static str,
    ) -> Result<Owner, ApiError> {
        let verified = match bearer_token(authorization) {
            Bearer::None => return Err(self.refuse(Failure::Missing, None)),
            Bearer::Malformed => Err(Refusal::Invalid(
                "the Authorization header is not `Bearer <token>`",
            )),
            Bearer::Token(token) => self.verify(token).await,
        };
        let verified = verified.map_err(|refusal| match refusal {
            Refusal::Invalid(why) => self.refuse(Failure::Invalid, Some(why)),
            Refusal::Expired => self.refuse(Failure::Expired, Some("the token has expired")),
            Refusal::KeysUnavailable => self.refuse(Failure::Unavailable, None),
        })?;
        if !verified.scopes.contains(scope) {
            return Err(self.refuse(Failure::InsufficientScope, Some(scope)));
        }
        Ok(Owner::Subject(verified.subject.clone()))
    }

    /// A verified token from the cache while it has not expired, else verified now.
    async fn verify(&self, token: &str) -> Result<Arc<Verified>, Refusal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(verified) = self.verified.get(&digest) {
            let now = jsonwebtoken::get_current_timestamp();
            if verified.expires_at + self.rules.leeway.as_secs() < now {
                self.verified.remove(&digest);
                return Err(Refusal::Expired);
            }
            return Ok(verified);
        }
        let verified = Arc::new(token::verify(token, &self.keys, &self.rules).await?);
        self.verified.insert(digest, verified.clone());
        Ok(verified)
    }

    /// The error for a failure, counted. `detail`: why the token is invalid, or the scope
    /// that is missing.
    fn refuse(&self, failure: Failure, detail: Option<&'static str>) -> ApiError {
        if let Some(failures) = &self.failures {
            failures.count(failure.label());
        }
        let realm = self.realm.clone();
        match (failure, detail) {
            (Failure::Unavailable, _) => ApiError::IdentityProviderUnavailable,
            (Failure::InsufficientScope, Some(scope)) => {
                ApiError::InsufficientScope { realm, scope }
            }
            (_, refusal) => ApiError::Unauthorized { realm, refusal },
        }
    }
}

/// What an `Authorization` header holds.
#[derive(Debug, PartialEq, Eq)]
enum Bearer<'a> {
    /// No header, or another scheme (`Basic ...`): answered with a bare challenge.
    None,
    /// The `Bearer` scheme without a token68 after it (RFC 6750 §2.1).
    Malformed,
    Token(&'a str),
}

/// Reads `Authorization: Bearer <token>`; the scheme is case-insensitive.
fn bearer_token(authorization: Option<&HeaderValue>) -> Bearer<'_> {
    let Some(value) = authorization else {
        return Bearer::None;
    };
    let Ok(value) = value.to_str() else {
        return Bearer::Malformed;
    };
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Bearer::None;
    }
    let token68 = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    match !token.is_empty() && token.chars().all(token68) {
        true => Bearer::Token(token),
        false => Bearer::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bearer_token68_is_a_token() {
        // What each header reads as, written as the test expects it.
        let read = |value: HeaderValue| format!("{:?}", bearer_token(Some(&value)));
        let text = HeaderValue::from_static;
        assert_eq!(read(text("Bearer abc.def-_")), "Token(\"abc.def-_\")");
        assert_eq!(read(text("bearer x")), "Token(\"x\")");
        assert_eq!(read(text("Basic dXNlcjpwdw==")), "None");
        assert_eq!(bearer_token(None), Bearer::None);
        for malformed in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a\"b",
            "BEARER  x",
        ] {
            assert_eq!(read(text(malformed)), "Malformed", "{malformed:?}");
        }
        let binary = HeaderValue::from_bytes(b"Bearer \xff").unwrap();
        assert_eq!(read(binary), "Malformed");
    }
}
