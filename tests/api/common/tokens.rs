//! Access tokens the tests sign themselves, with the committed test-only keys in
//! tests/fixtures/auth/ (one or more per algorithm), for every way a token can be wrong; and
//! [`TestIssuer`], a small HTTP server standing in for an identity provider: discovery and a
//! JWKS whose keys can be rotated at run time, that can go down and come back, and that counts
//! the JWKS fetches it gets.
//!
//! - [`mint`] signs any header and claims (any `alg`, `none` and HMAC included);
//! - [`claims`] gives valid RFC 9068 claims, [`patch`] changes or removes some of them;
//! - [`Crafted`] names each attack of the issue and [`crafted`] makes its token: each one is
//!   valid except in the one way its name says;
//! - [`tamper`] changes a signed token's payload and keeps its signature.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{
    Algorithm, EncodingKey,
    jwk::{Jwk, PublicKeyUse},
};
use serde_json::{Map, Value, json};
use tokio::{net::TcpListener, task::JoinSet};

/// The lifetime of a [`claims`] token: the local provider's.
pub const LIFETIME_SECONDS: i64 = super::oidc::TOKEN_TTL_SECONDS;

/// Far enough outside any sensible leeway (the issue asks for a small one).
pub const SKEW_SECONDS: i64 = 3600;

/// A committed test-only key pair (tests/fixtures/auth/README.md).
pub struct TestKey {
    /// Its `kid`: `test-` and the file name (`test-rs256`).
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
    /// The public key, SubjectPublicKeyInfo PEM as OpenSSL writes it.
    pub public_pem: String,
}

impl TestKey {
    fn load(name: &str, alg: Algorithm) -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/auth");
        let read = |file: String| {
            std::fs::read(dir.join(&file))
                .unwrap_or_else(|e| panic!("tests/fixtures/auth/{file}: {e}"))
        };
        let private = read(format!("{name}.key.pem"));
        let encoding = match alg {
            Algorithm::RS256 | Algorithm::PS256 => EncodingKey::from_rsa_pem(&private),
            Algorithm::ES256 => EncodingKey::from_ec_pem(&private),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(&private),
            other => panic!("no test key for {other:?}"),
        }
        .unwrap_or_else(|e| panic!("tests/fixtures/auth/{name}.key.pem: {e}"));
        let public_pem = String::from_utf8(read(format!("{name}.pub.pem"))).expect("a PEM file");
        Self {
            kid: format!("test-{name}"),
            alg,
            encoding,
            public_pem,
        }
    }

    /// The public key, DER (the body of [`TestKey::public_pem`]).
    pub fn public_der(&self) -> Vec<u8> {
        let body: String = self
            .public_pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        STANDARD.decode(body).expect("a base64 PEM body")
    }

    /// The public JWK an issuer publishes for it: `kid`, `alg`, `use: sig`.
    pub fn jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.encoding, self.alg).expect("a public JWK");
        jwk.common.key_id = Some(self.kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk
    }
}

/// Every test key. An issuer starts with [`KeySet::published`].
pub struct KeySet {
    pub rs256: TestKey,
    pub ps256: TestKey,
    pub es256: TestKey,
    pub eddsa: TestKey,
    /// Never published: signs "another key's signature" and "unknown kid".
    pub other_rs256: TestKey,
    /// Published only once a test rotates it in ([`TestIssuer::rotate_in`]).
    pub rotated_rs256: TestKey,
}

impl KeySet {
    /// The keys valid tokens are signed with, one per algorithm; what a [`TestIssuer`]
    /// publishes when it starts.
    pub fn published(&self) -> [&TestKey; 4] {
        [&self.rs256, &self.ps256, &self.es256, &self.eddsa]
    }
}

/// The test keys, read once per test binary.
pub fn keys() -> &'static KeySet {
    static KEYS: LazyLock<KeySet> = LazyLock::new(|| KeySet {
        rs256: TestKey::load("rs256", Algorithm::RS256),
        ps256: TestKey::load("ps256", Algorithm::PS256),
        es256: TestKey::load("es256", Algorithm::ES256),
        eddsa: TestKey::load("eddsa", Algorithm::EdDSA),
        other_rs256: TestKey::load("other-rs256", Algorithm::RS256),
        rotated_rs256: TestKey::load("rotated-rs256", Algorithm::RS256),
    });
    &KEYS
}

/// How [`mint`] signs.
pub enum Signer<'a> {
    /// With a test key, as its algorithm. Header defaults: its `alg` and `kid`.
    Key(&'a TestKey),
    /// With a test key's private key, but under another algorithm of the same family (e.g.
    /// PS256 with the RS256 key): the header's `alg` does not match the key's JWK.
    KeyAs(&'a TestKey, Algorithm),
    /// HMAC (`alg` HS256/384/512) with these bytes as the secret. No `kid` by default.
    Hmac(Algorithm, Vec<u8>),
    /// `alg: none` and an empty signature (`header.payload.`).
    Unsigned,
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_secs()).expect("seconds fit in i64")
}

/// Valid RFC 9068 access-token claims for `sub`, as the local provider issues them (a
/// client-credentials token: `client_id` = `sub`): both scopes, issued now, expiring in
/// [`LIFETIME_SECONDS`].
pub fn claims(issuer: &str, audience: &str, sub: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer,
        "aud": audience,
        "sub": sub,
        "client_id": sub,
        "scope": "notes:read notes:write",
        "iat": now,
        "exp": now + LIFETIME_SECONDS,
        "jti": uuid::Uuid::new_v4().simple().to_string(),
    })
}

/// `base` with `changes` merged in; a `null` in `changes` removes the member.
pub fn patch(base: &Value, changes: &Value) -> Value {
    let mut out: Map<String, Value> = base.as_object().cloned().unwrap_or_default();
    for (key, value) in changes.as_object().into_iter().flatten() {
        if value.is_null() {
            out.remove(key);
        } else {
            out.insert(key.clone(), value.clone());
        }
    }
    Value::Object(out)
}

fn alg_name(alg: Algorithm) -> Value {
    serde_json::to_value(alg).expect("an algorithm name")
}

/// A compact JWS of `claims`, signed by `signer`. The header is `{"alg", "typ": "at+jwt",
/// "kid"}` (from the signer) with `header` patched in ([`patch`]: `{"typ": null}` removes
/// `typ`, `{"alg": "RS512"}` lies about the algorithm). Claims go in exactly as given.
pub fn mint(signer: &Signer, header: &Value, claims: &Value) -> String {
    let (alg, kid) = match signer {
        Signer::Key(key) => (alg_name(key.alg), Some(key.kid.as_str())),
        Signer::KeyAs(key, alg) => (alg_name(*alg), Some(key.kid.as_str())),
        Signer::Hmac(alg, _) => (alg_name(*alg), None),
        Signer::Unsigned => (json!("none"), None),
    };
    let mut base = json!({"alg": alg, "typ": "at+jwt"});
    if let Some(kid) = kid {
        base["kid"] = json!(kid);
    }
    let header = patch(&base, header);
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = match signer {
        Signer::Key(key) => jsonwebtoken::crypto::sign(input.as_bytes(), &key.encoding, key.alg),
        Signer::KeyAs(key, alg) => {
            jsonwebtoken::crypto::sign(input.as_bytes(), &key.encoding, *alg)
        }
        Signer::Hmac(alg, secret) => {
            let key = EncodingKey::from_secret(secret).expect("a non-empty HMAC secret");
            jsonwebtoken::crypto::sign(input.as_bytes(), &key, *alg)
        }
        Signer::Unsigned => Ok(String::new()),
    }
    .expect("the token is signed");
    format!("{input}.{signature}")
}

/// `token` with its payload changed by `change`, header and signature kept.
pub fn tamper(token: &str, change: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    let mut payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(parts[1])
            .expect("a base64url payload"),
    )
    .expect("a JSON payload");
    change(&mut payload);
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    )
}

/// The decoded header and payload of a compact JWS (nothing checked).
pub fn decode_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut next = || -> Value {
        let part = parts.next().expect("a JWS part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    let header = next();
    let payload = next();
    (header, payload)
}

/// A valid token for `sub` signed by `key` (any of [`KeySet::published`]; or
/// [`KeySet::rotated_rs256`] once rotated in).
pub fn valid(key: &TestKey, issuer: &str, audience: &str, sub: &str) -> String {
    mint(
        &Signer::Key(key),
        &json!({}),
        &claims(issuer, audience, sub),
    )
}

/// The attacks of the issue. Each token is valid (right issuer, audience, times, `sub`,
/// scopes, a published key) except in the one way its name says; every one must get 401.
/// A key rotated in after start-up is not here: see [`TestIssuer::rotate_in`] and [`valid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crafted {
    /// `exp` an hour ago (and `iat` before it).
    Expired,
    /// `nbf` in an hour (and `exp` after it).
    NotYetValid,
    /// `iat` in an hour (no `nbf`).
    IssuedInTheFuture,
    /// `iss` another issuer.
    WrongIssuer,
    /// `iss` the issuer with a `/` added: not equal, so refused.
    IssuerWithTrailingSlash,
    /// `aud` another API.
    WrongAudience,
    /// No `exp`.
    NoExp,
    /// No `sub`.
    NoSub,
    /// `alg: none`, no signature (with the RS256 key's `kid`).
    AlgNone,
    /// HS256 with the RS256 key's public PEM (as published) as the HMAC secret, and that
    /// key's `kid`: algorithm confusion.
    Hs256KeyedWithPublicPem,
    /// The same with the public key's DER bytes.
    Hs256KeyedWithPublicDer,
    /// PS256 signed with the private key whose JWK says RS256: the algorithm does not match
    /// the key.
    AlgNotTheKeys,
    /// A valid RS256 token for `notes:read` whose payload was then changed to
    /// `notes:read notes:write`: the signature no longer matches.
    TamperedPayload,
    /// Signed by a key that is not published, under the `kid` of one that is.
    AnotherKeysSignature,
    /// Signed by a key that is not published, under a `kid` the issuer does not have.
    UnknownKid,
}

impl Crafted {
    pub const ALL: [Crafted; 15] = [
        Crafted::Expired,
        Crafted::NotYetValid,
        Crafted::IssuedInTheFuture,
        Crafted::WrongIssuer,
        Crafted::IssuerWithTrailingSlash,
        Crafted::WrongAudience,
        Crafted::NoExp,
        Crafted::NoSub,
        Crafted::AlgNone,
        Crafted::Hs256KeyedWithPublicPem,
        Crafted::Hs256KeyedWithPublicDer,
        Crafted::AlgNotTheKeys,
        Crafted::TamperedPayload,
        Crafted::AnotherKeysSignature,
        Crafted::UnknownKid,
    ];
}

/// The kid of [`Crafted::UnknownKid`].
pub const UNKNOWN_KID: &str = "test-unknown";

/// The token of one attack, for `sub` at `issuer` / `audience`.
pub fn crafted(case: Crafted, issuer: &str, audience: &str, sub: &str) -> String {
    let keys = keys();
    let good = claims(issuer, audience, sub);
    let now = now();
    let rs256 = Signer::Key(&keys.rs256);
    let none = json!({});
    match case {
        Crafted::Expired => mint(
            &rs256,
            &none,
            &patch(
                &good,
                &json!({"iat": now - 2 * SKEW_SECONDS, "exp": now - SKEW_SECONDS}),
            ),
        ),
        Crafted::NotYetValid => mint(
            &rs256,
            &none,
            &patch(
                &good,
                &json!({"nbf": now + SKEW_SECONDS, "exp": now + SKEW_SECONDS + LIFETIME_SECONDS}),
            ),
        ),
        Crafted::IssuedInTheFuture => mint(
            &rs256,
            &none,
            &patch(
                &good,
                &json!({"iat": now + SKEW_SECONDS, "exp": now + SKEW_SECONDS + LIFETIME_SECONDS}),
            ),
        ),
        Crafted::WrongIssuer => mint(
            &rs256,
            &none,
            &patch(&good, &json!({"iss": "http://issuer.invalid"})),
        ),
        Crafted::IssuerWithTrailingSlash => mint(
            &rs256,
            &none,
            &patch(&good, &json!({"iss": format!("{issuer}/")})),
        ),
        Crafted::WrongAudience => {
            mint(&rs256, &none, &patch(&good, &json!({"aud": "another-api"})))
        }
        Crafted::NoExp => mint(&rs256, &none, &patch(&good, &json!({"exp": null}))),
        Crafted::NoSub => mint(&rs256, &none, &patch(&good, &json!({"sub": null}))),
        Crafted::AlgNone => mint(&Signer::Unsigned, &json!({"kid": keys.rs256.kid}), &good),
        Crafted::Hs256KeyedWithPublicPem => mint(
            &Signer::Hmac(Algorithm::HS256, keys.rs256.public_pem.clone().into_bytes()),
            &json!({"kid": keys.rs256.kid}),
            &good,
        ),
        Crafted::Hs256KeyedWithPublicDer => mint(
            &Signer::Hmac(Algorithm::HS256, keys.rs256.public_der()),
            &json!({"kid": keys.rs256.kid}),
            &good,
        ),
        Crafted::AlgNotTheKeys => mint(&Signer::KeyAs(&keys.rs256, Algorithm::PS256), &none, &good),
        Crafted::TamperedPayload => {
            let read_only = mint(
                &rs256,
                &none,
                &patch(&good, &json!({"scope": "notes:read"})),
            );
            tamper(&read_only, |claims| {
                claims["scope"] = json!("notes:read notes:write");
            })
        }
        Crafted::AnotherKeysSignature => mint(
            &Signer::Key(&keys.other_rs256),
            &json!({"kid": keys.rs256.kid}),
            &good,
        ),
        Crafted::UnknownKid => mint(
            &Signer::Key(&keys.other_rs256),
            &json!({"kid": UNKNOWN_KID}),
            &good,
        ),
    }
}

/// How a [`TestIssuer`] is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Nothing listens: connections are refused, open ones dropped.
    Refused,
    /// Every request gets 503.
    Unavailable,
    /// Connections are accepted and requests read, but never answered.
    Hanging,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Up,
    Down(Outage),
}

struct IssuerState {
    issuer: String,
    keys: Mutex<Vec<Jwk>>,
    mode: Mutex<Mode>,
    jwks_requests: AtomicUsize,
    jwks_served: AtomicUsize,
    discovery_requests: AtomicUsize,
}

/// An identity provider's public side on 127.0.0.1: `/.well-known/openid-configuration`
/// (`issuer`, `jwks_uri`) and `/jwks`. Lives on the test's runtime; stops when dropped.
pub struct TestIssuer {
    addr: SocketAddr,
    state: Arc<IssuerState>,
    running: Mutex<Option<JoinSet<()>>>,
}

impl TestIssuer {
    /// Listens on a free port and publishes `keys`.
    pub async fn start(keys: &[&TestKey]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("a local address");
        let issuer = Self {
            addr,
            state: Arc::new(IssuerState {
                issuer: format!("http://{addr}"),
                keys: Mutex::new(keys.iter().map(|k| k.jwk()).collect()),
                mode: Mutex::new(Mode::Up),
                jwks_requests: AtomicUsize::new(0),
                jwks_served: AtomicUsize::new(0),
                discovery_requests: AtomicUsize::new(0),
            }),
            running: Mutex::new(None),
        };
        issuer.serve(listener);
        issuer
    }

    /// Starts with [`KeySet::published`].
    pub async fn with_test_keys() -> Self {
        Self::start(&keys().published()).await
    }

    /// `http://127.0.0.1:PORT`, no trailing slash (what `iss` holds).
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.state.issuer)
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.state.issuer)
    }

    /// Publishes exactly `keys` from now on.
    pub fn publish(&self, keys: &[&TestKey]) {
        *lock(&self.state.keys) = keys.iter().map(|k| k.jwk()).collect();
    }

    /// Adds `key` to the published set (a provider rotating a new key in).
    pub fn rotate_in(&self, key: &TestKey) {
        lock(&self.state.keys).push(key.jwk());
    }

    /// Stops publishing the key `kid` (a provider retiring an old key).
    pub fn retire(&self, kid: &str) {
        lock(&self.state.keys).retain(|jwk| jwk.common.key_id.as_deref() != Some(kid));
    }

    /// The `kid`s published now.
    pub fn kids(&self) -> Vec<String> {
        lock(&self.state.keys)
            .iter()
            .filter_map(|jwk| jwk.common.key_id.clone())
            .collect()
    }

    /// Goes down in the way `outage` says (from up, or from another outage).
    pub async fn down(&self, outage: Outage) {
        *lock(&self.state.mode) = Mode::Down(outage);
        if outage == Outage::Refused {
            let running = lock(&self.running).take();
            if let Some(mut tasks) = running {
                // Wait until the listener is dropped: from then on, connects are refused.
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
            }
        } else {
            self.listen_again().await;
        }
    }

    /// Back up, on the same port. Requests left hanging are answered now.
    pub async fn up(&self) {
        *lock(&self.state.mode) = Mode::Up;
        self.listen_again().await;
    }

    async fn listen_again(&self) {
        if lock(&self.running).is_some() {
            return;
        }
        // The aborted listener is dropped shortly after the abort: retry the bind briefly.
        for _ in 0..200 {
            if let Ok(listener) = TcpListener::bind(self.addr).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} could not be bound again", self.addr);
    }

    /// Requests for the JWKS received, whatever the answer (503 and hanging ones too).
    pub fn jwks_requests(&self) -> usize {
        self.state.jwks_requests.load(Ordering::SeqCst)
    }

    /// JWKS documents served (200).
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_served.load(Ordering::SeqCst)
    }

    /// Requests for the discovery document received, whatever the answer.
    pub fn discovery_requests(&self) -> usize {
        self.state.discovery_requests.load(Ordering::SeqCst)
    }

    fn serve(&self, listener: TcpListener) {
        let mut tasks = JoinSet::new();
        let state = self.state.clone();
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let held = connections.clone();
        tasks.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                lock(&held).spawn(async move {
                    let service = service_fn(move |request| answer(state.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        // Aborting the accept task drops the listener; the connections go with their set.
        tasks.spawn(async move {
            let _keep = connections;
            std::future::pending::<()>().await;
        });
        *lock(&self.running) = Some(tasks);
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        if let Some(mut tasks) = lock(&self.running).take() {
            tasks.abort_all();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

async fn answer(
    state: Arc<IssuerState>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = request.uri().path().to_owned();
    let counter = match path.as_str() {
        "/.well-known/openid-configuration" => Some(&state.discovery_requests),
        "/jwks" => Some(&state.jwks_requests),
        _ => None,
    };
    if let Some(counter) = counter {
        counter.fetch_add(1, Ordering::SeqCst);
    }
    // Hanging: hold the request until the issuer is up or down in another way.
    while *lock(&state.mode) == Mode::Down(Outage::Hanging) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mode = *lock(&state.mode);
    let (status, body) = match mode {
        Mode::Down(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "temporarily_unavailable"}),
        ),
        Mode::Up => match path.as_str() {
            "/.well-known/openid-configuration" => (StatusCode::OK, discovery(&state.issuer)),
            "/jwks" => {
                state.jwks_served.fetch_add(1, Ordering::SeqCst);
                let keys = lock(&state.keys).clone();
                (StatusCode::OK, json!({"keys": keys}))
            }
            _ => (StatusCode::NOT_FOUND, json!({"error": "not_found"})),
        },
    };
    let response = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a response");
    Ok(response)
}

/// An OpenID Provider Metadata document with the members the specification requires.
fn discovery(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
        "grant_types_supported": ["client_credentials"],
    })
}
