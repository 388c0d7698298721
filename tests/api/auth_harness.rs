//! The identity harness checks itself: the real provider's tokens are what the service will be
//! given (RFC 9068 JWTs that verify against the provider's own JWKS), each crafted token is
//! wrong in exactly the way its name says, and the test issuer rotates keys and goes down and
//! up. Nothing here involves the service.

use std::time::Duration;

use crate::common::{
    oidc::{self, AUDIENCE, CLIENTS, OWNER_A, OWNER_B, READER, TOKEN_TTL_SECONDS},
    tokens::{self, Crafted, Outage, Signer, TestIssuer, UNKNOWN_KID, keys},
};
use jsonwebtoken::{
    Algorithm, DecodingKey, Validation, decode, decode_header,
    errors::ErrorKind,
    jwk::{Jwk, JwkSet},
};
use serde_json::{Value, json};

/// Fetches the JWKS of `issuer` the way a resource server does: discovery, then `jwks_uri`.
async fn discovered_jwks(issuer: &str) -> JwkSet {
    let http = reqwest::Client::new();
    let discovery: Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery answers")
        .json()
        .await
        .expect("a JSON discovery document");
    assert_eq!(discovery["issuer"], issuer, "discovery names the issuer");
    let jwks_uri = discovery["jwks_uri"].as_str().expect("a jwks_uri");
    http.get(jwks_uri)
        .send()
        .await
        .expect("the JWKS answers")
        .json()
        .await
        .expect("a JSON JWK set")
}

/// Strict RFC 9068 validation of `token` against `jwks`: the key by `kid`, the algorithm
/// pinned to the key's, iss, aud, exp, sub required.
fn verify(token: &str, jwks: &JwkSet, issuer: &str) -> jsonwebtoken::errors::Result<Value> {
    let header = decode_header(token)?;
    let kid = header.kid.as_deref().unwrap_or_default();
    let jwk: &Jwk = jwks.find(kid).ok_or(jsonwebtoken::errors::Error::from(
        ErrorKind::InvalidKeyFormat,
    ))?;
    let alg: Algorithm = jwk
        .common
        .key_algorithm
        .expect("published keys name their alg")
        .try_into()?;
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 5;
    // Off by default in jsonwebtoken.
    validation.validate_nbf = true;
    Ok(decode::<Value>(token, &DecodingKey::from_jwk(jwk)?, &validation)?.claims)
}

#[tokio::test]
async fn oidc_provider_tokens_are_rfc9068_jwts_that_verify_against_its_own_jwks() {
    let provider = oidc::provider().await;
    let token = provider.token(&OWNER_A, "notes:read notes:write").await;
    let jwks = discovered_jwks(provider.issuer()).await;

    let (header, _) = tokens::decode_parts(&token);
    assert_eq!(header["typ"], "at+jwt", "{header}");
    assert_eq!(header["alg"], "RS256", "{header}");
    let claims = verify(&token, &jwks, provider.issuer()).expect("the token verifies");
    assert_eq!(claims["iss"], provider.issuer());
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["sub"], OWNER_A.sub());
    assert_eq!(claims["client_id"], OWNER_A.id);
    assert_eq!(claims["scope"], "notes:read notes:write");
    let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
    assert_eq!(exp.zip(iat).map(|(e, i)| e - i), Some(TOKEN_TTL_SECONDS));
    assert!(
        (iat.unwrap_or(0) - tokens::now()).abs() < 60,
        "issued now: {claims}"
    );
}

#[tokio::test]
async fn oidc_each_client_is_its_own_owner_and_signs_with_its_algorithm() {
    let provider = oidc::provider().await;
    let jwks = discovered_jwks(provider.issuer()).await;
    let mut subs = Vec::new();
    for client in CLIENTS {
        let token = provider.token(&client, "notes:read").await;
        let (header, _) = tokens::decode_parts(&token);
        assert_eq!(header["alg"], client.alg, "{}: {header}", client.id);
        let claims = verify(&token, &jwks, provider.issuer())
            .unwrap_or_else(|e| panic!("{}'s token verifies: {e}", client.id));
        assert_eq!(claims["sub"], client.sub());
        assert_eq!(claims["scope"], "notes:read");
        subs.push(claims["sub"].as_str().unwrap_or_default().to_owned());
    }
    assert_ne!(OWNER_A.sub(), OWNER_B.sub());
    subs.sort();
    subs.dedup();
    assert_eq!(subs.len(), CLIENTS.len(), "one sub per client: {subs:?}");
}

#[tokio::test]
async fn oidc_a_read_only_client_cannot_get_write() {
    let provider = oidc::provider().await;
    let response = provider
        .request_token(&READER, "notes:read notes:write")
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("a JSON error");
    assert_eq!(body["error"], "invalid_scope", "{body}");

    let token = provider.token(&READER, "notes:read").await;
    assert_eq!(tokens::decode_parts(&token).1["scope"], "notes:read");
    // No scope asked for: a token without any.
    let token = provider.token(&OWNER_A, "").await;
    assert!(tokens::decode_parts(&token).1.get("scope").is_none());
}

#[tokio::test]
async fn valid_crafted_tokens_verify_for_every_algorithm() {
    let issuer = TestIssuer::with_test_keys().await;
    let jwks = discovered_jwks(issuer.issuer()).await;
    for key in keys().published() {
        let token = tokens::valid(key, issuer.issuer(), AUDIENCE, "someone");
        let (header, _) = tokens::decode_parts(&token);
        assert_eq!(header["kid"], key.kid.as_str());
        assert_eq!(header["typ"], "at+jwt");
        let claims = verify(&token, &jwks, issuer.issuer())
            .unwrap_or_else(|e| panic!("{:?} token verifies: {e}", key.alg));
        assert_eq!(claims["sub"], "someone");
    }
}

/// What a strict verifier says of each attack; together with the checks in
/// `crafted_tokens_are_wrong_in_exactly_their_own_way`, the token is otherwise valid.
fn expected_failure(case: Crafted) -> fn(&ErrorKind) -> bool {
    match case {
        Crafted::Expired => |e| matches!(e, ErrorKind::ExpiredSignature),
        Crafted::NotYetValid => |e| matches!(e, ErrorKind::ImmatureSignature),
        // jsonwebtoken does not check iat: verified below by hand.
        Crafted::IssuedInTheFuture => |_| false,
        Crafted::WrongIssuer | Crafted::IssuerWithTrailingSlash => {
            |e| matches!(e, ErrorKind::InvalidIssuer)
        }
        Crafted::WrongAudience => |e| matches!(e, ErrorKind::InvalidAudience),
        Crafted::NoExp => |e| matches!(e, ErrorKind::MissingRequiredClaim(c) if c == "exp"),
        Crafted::NoSub => |e| matches!(e, ErrorKind::MissingRequiredClaim(c) if c == "sub"),
        // `none` is not an algorithm jsonwebtoken can even parse.
        Crafted::AlgNone => |e| matches!(e, ErrorKind::Json(_)),
        Crafted::Hs256KeyedWithPublicPem
        | Crafted::Hs256KeyedWithPublicDer
        | Crafted::AlgNotTheKeys => |e| matches!(e, ErrorKind::InvalidAlgorithm),
        Crafted::TamperedPayload | Crafted::AnotherKeysSignature => {
            |e| matches!(e, ErrorKind::InvalidSignature)
        }
        Crafted::UnknownKid => |e| matches!(e, ErrorKind::InvalidKeyFormat),
    }
}

#[tokio::test]
async fn crafted_tokens_are_wrong_in_exactly_their_own_way() {
    let issuer = TestIssuer::with_test_keys().await;
    let jwks = discovered_jwks(issuer.issuer()).await;
    let keys = keys();
    let now = tokens::now();
    for case in Crafted::ALL {
        let token = tokens::crafted(case, issuer.issuer(), AUDIENCE, "someone");
        let (header, claims) = tokens::decode_parts(&token);
        let signature = token.rsplit('.').next().unwrap_or_default();

        // The one thing wrong.
        match case {
            Crafted::Expired => assert!(claims["exp"].as_i64() < Some(now - 600)),
            Crafted::NotYetValid => assert!(claims["nbf"].as_i64() > Some(now + 600)),
            Crafted::IssuedInTheFuture => {
                assert!(claims["iat"].as_i64() > Some(now + 600));
                assert!(claims.get("nbf").is_none());
            }
            Crafted::WrongIssuer => assert_ne!(claims["iss"], issuer.issuer()),
            Crafted::IssuerWithTrailingSlash => {
                assert_eq!(claims["iss"], format!("{}/", issuer.issuer()));
            }
            Crafted::WrongAudience => assert_ne!(claims["aud"], AUDIENCE),
            Crafted::NoExp => assert!(claims.get("exp").is_none()),
            Crafted::NoSub => assert!(claims.get("sub").is_none()),
            Crafted::AlgNone => {
                assert_eq!(header["alg"], "none");
                assert_eq!(signature, "");
            }
            Crafted::Hs256KeyedWithPublicPem | Crafted::Hs256KeyedWithPublicDer => {
                assert_eq!(header["alg"], "HS256");
                assert_eq!(header["kid"], keys.rs256.kid.as_str());
                let secret = if case == Crafted::Hs256KeyedWithPublicPem {
                    keys.rs256.public_pem.as_bytes().to_vec()
                } else {
                    keys.rs256.public_der()
                };
                // It really is that HMAC: a verifier confusing the two would accept it.
                let mut hmac = Validation::new(Algorithm::HS256);
                hmac.set_issuer(&[issuer.issuer()]);
                hmac.set_audience(&[AUDIENCE]);
                let key = DecodingKey::from_secret(&secret).expect("an HMAC key");
                decode::<Value>(&token, &key, &hmac).expect("a valid HS256 token");
            }
            Crafted::AlgNotTheKeys => {
                assert_eq!(header["alg"], "PS256");
                assert_eq!(header["kid"], keys.rs256.kid.as_str());
                let published = jwks.find(&keys.rs256.kid).expect("published");
                assert_eq!(
                    published.common.key_algorithm,
                    Some(jsonwebtoken::jwk::KeyAlgorithm::RS256)
                );
                // A real PS256 signature by that RSA key.
                let mut ps256 = Validation::new(Algorithm::PS256);
                ps256.set_issuer(&[issuer.issuer()]);
                ps256.set_audience(&[AUDIENCE]);
                let key = DecodingKey::from_jwk(published).expect("an RSA key");
                decode::<Value>(&token, &key, &ps256).expect("a valid PS256 signature");
            }
            Crafted::TamperedPayload => assert_eq!(claims["scope"], "notes:read notes:write"),
            Crafted::AnotherKeysSignature => {
                assert_eq!(header["kid"], keys.rs256.kid.as_str());
            }
            Crafted::UnknownKid => {
                assert_eq!(header["kid"], UNKNOWN_KID);
                assert!(jwks.find(UNKNOWN_KID).is_none());
            }
        }

        // Everything else as in a valid token.
        let good = tokens::claims(issuer.issuer(), AUDIENCE, "someone");
        for claim in ["iss", "aud", "sub", "scope", "exp", "iat"] {
            let differs = claims.get(claim) != good.get(claim);
            let may_differ = matches!(
                (case, claim),
                (_, "exp" | "iat")
                    | (
                        Crafted::WrongIssuer | Crafted::IssuerWithTrailingSlash,
                        "iss"
                    )
                    | (Crafted::WrongAudience, "aud")
                    | (Crafted::NoSub, "sub")
            );
            assert!(
                !differs || may_differ,
                "{case:?}: {claim} differs: {claims}"
            );
        }
        if !matches!(
            case,
            Crafted::Expired | Crafted::IssuedInTheFuture | Crafted::NoExp
        ) {
            let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
            assert!(
                iat <= Some(now + 1) && exp > Some(now),
                "{case:?}: {claims}"
            );
        }
        assert_eq!(header["typ"], "at+jwt", "{case:?}");

        // And a strict verifier refuses it for that reason.
        match verify(&token, &jwks, issuer.issuer()) {
            Ok(_) if case == Crafted::IssuedInTheFuture => {}
            Ok(claims) => panic!("{case:?} verified: {claims}"),
            Err(err) => assert!(
                expected_failure(case)(err.kind()),
                "{case:?} refused for another reason: {err:?}"
            ),
        }
    }
}

#[tokio::test]
async fn mint_signs_whatever_header_and_claims_it_is_given() {
    let keys = keys();
    let token = tokens::mint(
        &Signer::Key(&keys.es256),
        &json!({"typ": null, "kid": "chosen", "x-extra": 1}),
        &json!({"anything": ["at", "all"]}),
    );
    let (header, claims) = tokens::decode_parts(&token);
    assert_eq!(
        header,
        json!({"alg": "ES256", "kid": "chosen", "x-extra": 1})
    );
    assert_eq!(claims, json!({"anything": ["at", "all"]}));
    // Signed by the ES256 key, whatever the header says.
    let key = DecodingKey::from_jwk(&keys.es256.jwk()).expect("a key");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    decode::<Value>(&token, &key, &validation).expect("the signature verifies");
}

#[tokio::test]
async fn the_test_issuer_rotates_keys_and_goes_down_and_up() {
    let issuer = TestIssuer::with_test_keys().await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .expect("a client");
    let kids = |jwks: &JwkSet| -> Vec<String> {
        jwks.keys
            .iter()
            .filter_map(|k| k.common.key_id.clone())
            .collect()
    };

    let jwks = discovered_jwks(issuer.issuer()).await;
    assert_eq!(kids(&jwks).len(), 4);
    assert!(!kids(&jwks).contains(&keys().rotated_rs256.kid));
    assert_eq!((issuer.discovery_requests(), issuer.jwks_fetches()), (1, 1));

    // A key rotated in is published at once; a retired one is gone.
    issuer.rotate_in(&keys().rotated_rs256);
    let jwks = discovered_jwks(issuer.issuer()).await;
    assert!(kids(&jwks).contains(&keys().rotated_rs256.kid));
    let token = tokens::valid(&keys().rotated_rs256, issuer.issuer(), AUDIENCE, "x");
    verify(&token, &jwks, issuer.issuer()).expect("the rotated key's token verifies");
    issuer.retire(&keys().rs256.kid);
    assert!(!issuer.kids().contains(&keys().rs256.kid));
    assert_eq!(issuer.jwks_fetches(), 2);

    // Refused: nothing listens.
    issuer.down(Outage::Refused).await;
    let err = http
        .get(issuer.jwks_uri())
        .send()
        .await
        .expect_err("refused");
    assert!(err.is_connect(), "{err:?}");
    issuer.up().await;
    assert_eq!(
        http.get(issuer.jwks_uri())
            .send()
            .await
            .map(|r| r.status())
            .ok(),
        Some(reqwest::StatusCode::OK)
    );

    // Unavailable: 503, counted as a request, not as a fetch.
    issuer.down(Outage::Unavailable).await;
    let response = http.get(issuer.jwks_uri()).send().await.expect("an answer");
    assert_eq!(response.status(), 503);
    assert_eq!((issuer.jwks_requests(), issuer.jwks_fetches()), (4, 3));

    // Hanging: no answer until it is up again.
    issuer.down(Outage::Hanging).await;
    let err = http
        .get(issuer.jwks_uri())
        .send()
        .await
        .expect_err("no answer");
    assert!(err.is_timeout(), "{err:?}");
    let pending = tokio::spawn({
        let (http, url) = (reqwest::Client::new(), issuer.jwks_uri());
        async move { http.get(url).send().await.map(|r| r.status()) }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!pending.is_finished());
    issuer.up().await;
    let status = pending
        .await
        .expect("the request task")
        .expect("answered once up");
    assert_eq!(status, 200);
}
