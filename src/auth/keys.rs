//! The identity provider's signing keys. They are found by OpenID Connect discovery
//! (`{issuer}/.well-known/openid-configuration`, its `jwks_uri`) unless `auth.jwks_uri` names
//! them, fetched in the background at start-up and then every `keys_refresh_seconds`, and
//! fetched again when a token names a key id not seen yet — at most once every
//! `keys_refetch_min_seconds`, so a key rotated in at the provider works without a restart
//! while a flood of made-up key ids cannot hammer the provider. A failed fetch keeps the keys
//! already known: an unreachable provider does not stop tokens it signed before.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock, Weak},
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse},
};

use super::fetch::JsonFetcher;

/// One public key, and the algorithms it may verify.
pub struct VerifyingKey {
    pub key: DecodingKey,
    algorithms: &'static [Algorithm],
}

impl VerifyingKey {
    /// Reads a JWK; `None` for keys that cannot verify signatures here (encryption keys,
    /// symmetric keys, unknown curves).
    fn from_jwk(jwk: &Jwk) -> Option<Self> {
        if matches!(&jwk.common.public_key_use, Some(use_) if *use_ != PublicKeyUse::Signature) {
            return None;
        }
        let family: &'static [Algorithm] = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => &[
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => &[Algorithm::ES256],
                EllipticCurve::P384 => &[Algorithm::ES384],
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                &[Algorithm::EdDSA]
            }
            // Symmetric (`oct`) keys never verify: HMAC tokens are refused.
            _ => return None,
        };
        // A key that names its algorithm verifies that one only (RFC 8725 §3.1).
        let algorithms = match jwk.common.key_algorithm {
            Some(named) => {
                let named: Algorithm = named.to_string().parse().ok()?;
                let at = family.iter().position(|alg| *alg == named)?;
                &family[at..=at]
            }
            None => family,
        };
        let key = DecodingKey::from_jwk(jwk).ok()?;
        Some(Self { key, algorithms })
    }

    pub fn verifies(&self, algorithm: Algorithm) -> bool {
        self.algorithms.contains(&algorithm)
    }
}

/// What a key lookup found.
pub enum Lookup {
    Found(Arc<VerifyingKey>),
    /// The provider's current keys hold none for this token.
    Unknown,
    /// The key is not known and the provider could not be asked: try again later.
    Unavailable,
}

#[derive(Default)]
struct KeyState {
    by_id: HashMap<String, Arc<VerifyingKey>>,
    /// Keys published without a `kid`.
    unnamed: Vec<Arc<VerifyingKey>>,
    /// Whether the last fetch failed (the provider was unreachable or answered nonsense).
    last_fetch_failed: bool,
}

/// Where the keys come from.
struct KeySource {
    fetcher: JsonFetcher,
    issuer: String,
    /// The discovery document's URL (`{issuer}/.well-known/openid-configuration`).
    discovery_url: String,
    /// `auth.jwks_uri`, else what discovery said (kept once known).
    jwks_uri: tokio::sync::Mutex<Option<String>>,
}

pub struct SigningKeys {
    state: RwLock<KeyState>,
    source: KeySource,
    /// When the keys were last fetched (or tried); held while fetching, so that one fetch
    /// serves every request waiting for it.
    fetched_at: tokio::sync::Mutex<Option<Instant>>,
    refetch_min: Duration,
}

impl SigningKeys {
    pub fn new(
        fetcher: JsonFetcher,
        issuer: &str,
        discovery_url: String,
        jwks_uri: Option<&str>,
        refetch_min: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            state: RwLock::default(),
            source: KeySource {
                fetcher,
                issuer: issuer.to_owned(),
                discovery_url,
                jwks_uri: tokio::sync::Mutex::new(jwks_uri.map(str::to_owned)),
            },
            fetched_at: tokio::sync::Mutex::new(None),
            refetch_min,
        })
    }

    /// Fetches the keys now, then every `every`, until the keys are dropped. Start-up does not
    /// wait for it: a provider that is down does not stop the service from starting.
    pub fn refresh_in_background(self: &Arc<Self>, every: Duration) {
        let keys: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(strong) = keys.upgrade() else {
                    return;
                };
                strong.fetch(true).await;
                drop(strong);
                tokio::time::sleep(every).await;
            }
        });
    }

    /// The key that verifies a token signed with `algorithm` under key id `kid`. A key id not
    /// known yet fetches the keys again (rate-limited) before it counts as unknown.
    pub async fn find(&self, kid: Option<&str>, algorithm: Algorithm) -> Lookup {
        if let Some(key) = self.known(kid, algorithm) {
            return Lookup::Found(key);
        }
        self.fetch(false).await;
        match self.known(kid, algorithm) {
            Some(key) => Lookup::Found(key),
            None if self.read().last_fetch_failed => Lookup::Unavailable,
            None => Lookup::Unknown,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, KeyState> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn known(&self, kid: Option<&str>, algorithm: Algorithm) -> Option<Arc<VerifyingKey>> {
        let state = self.read();
        match kid {
            Some(kid) => state.by_id.get(kid).cloned(),
            // No key id: only when exactly one key could have signed it.
            None => {
                let mut candidates = state
                    .unnamed
                    .iter()
                    .chain(state.by_id.values())
                    .filter(|key| key.verifies(algorithm));
                match (candidates.next(), candidates.next()) {
                    (Some(only), None) => Some(only.clone()),
                    _ => None,
                }
            }
        }
    }

    /// Fetches the keys, unless they were fetched (or tried) within `refetch_min` and this is
    /// not the schedule. Concurrent callers wait for one fetch.
    async fn fetch(&self, scheduled: bool) {
        let mut fetched_at = self.fetched_at.lock().await;
        if !scheduled && fetched_at.is_some_and(|at| at.elapsed() < self.refetch_min) {
            return;
        }
        *fetched_at = Some(Instant::now());
        let result = self.source.keys().await;
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok((by_id, unnamed)) => {
                if state.last_fetch_failed {
                    tracing::info!("identity provider's signing keys fetched again");
                }
                *state = KeyState {
                    by_id,
                    unnamed,
                    last_fetch_failed: false,
                };
            }
            Err(err) => {
                state.last_fetch_failed = true;
                tracing::warn!(
                    error = %err,
                    "cannot fetch the identity provider's signing keys; keeping those known"
                );
            }
        }
    }
}

type Keys = (HashMap<String, Arc<VerifyingKey>>, Vec<Arc<VerifyingKey>>);

impl KeySource {
    async fn keys(&self) -> Result<Keys, String> {
        let jwks_uri = self.jwks_uri().await?;
        let document = self.fetcher.get(&jwks_uri).await?;
        let listed = document["keys"]
            .as_array()
            .ok_or_else(|| format!("{jwks_uri}: no `keys` array"))?;
        let (mut by_id, mut unnamed) = (HashMap::new(), Vec::new());
        // One by one: a key this service cannot use (an encryption key, say) is skipped.
        for jwk in listed
            .iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value.clone()).ok())
        {
            let Some(key) = VerifyingKey::from_jwk(&jwk).map(Arc::new) else {
                continue;
            };
            match jwk.common.key_id {
                Some(kid) => {
                    by_id.insert(kid, key);
                }
                None => unnamed.push(key),
            }
        }
        if by_id.is_empty() && unnamed.is_empty() {
            return Err(format!("{jwks_uri}: no signing key this service can use"));
        }
        Ok((by_id, unnamed))
    }

    /// `auth.jwks_uri`, or the one the discovery document names.
    async fn jwks_uri(&self) -> Result<String, String> {
        let mut known = self.jwks_uri.lock().await;
        if let Some(uri) = known.as_ref() {
            return Ok(uri.clone());
        }
        let url = &self.discovery_url;
        let document = self.fetcher.get(url).await?;
        // OpenID Connect Discovery 1.0 §4.3: the document names the issuer exactly.
        if document["issuer"].as_str() != Some(self.issuer.as_str()) {
            return Err(format!(
                "{url}: its issuer {} is not auth.issuer {:?}",
                document["issuer"], self.issuer
            ));
        }
        let uri = document["jwks_uri"]
            .as_str()
            .ok_or_else(|| format!("{url}: no jwks_uri"))?
            .to_owned();
        *known = Some(uri.clone());
        Ok(uri)
    }
}
