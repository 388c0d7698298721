//! Authentication and ownership, on every backend: with `auth.issuer` set, every `/notes`
//! route needs a bearer token from the issuer, for the audience, with the route's scope, and
//! each caller sees and changes only its own notes. Tokens come from the real OpenID Connect
//! provider (tools/oidc-provider, tests named `oidc_…`) and, for every attack and for key
//! rotation and outages, from the tests' own keys behind a test issuer.

use std::time::Duration;

use crate::common::{
    Backend, TestApp, ids, link_to,
    oidc::{self, OWNER_A, OWNER_B, READER},
    problem,
    tokens::{self, Crafted, Outage, Signer, TestIssuer, keys},
};
use notes_service::{
    config::Settings,
    db::owner::Owner,
    notes::{
        store::{self, NoteInput},
        text::NoteText,
    },
};
use reqwest::{Method, RequestBuilder, Response, header};
use serde_json::{Value, json};

backend_tests!(
    oidc_owners_see_and_change_only_their_own_notes,
    oidc_scopes_are_enforced_per_operation,
    every_attack_token_is_401_and_never_reaches_the_data,
    missing_and_garbage_authorization_is_a_clear_4xx,
    keys_rotate_in_and_survive_the_provider_going_down,
    the_service_starts_while_the_provider_is_down,
);

/// What the test issuer's tokens name in `aud`.
const AUDIENCE: &str = "notes-api";

/// Settings for an issuer: refetching unknown keys at most every second, so that the tests
/// see the rate limit without waiting long.
fn with_issuer(issuer: &str, audience: &str) -> impl FnOnce(&mut Settings) {
    let (issuer, audience) = (issuer.to_owned(), audience.to_owned());
    move |settings| {
        settings.auth.issuer = issuer;
        settings.auth.audience = audience;
        settings.auth.keys_refetch_min_seconds = 1;
    }
}

async fn send(app: &TestApp, method: Method, path: &str, token: &str) -> Response {
    authorized(app.client.request(method, app.url(path)), token)
        .send()
        .await
        .expect("the request reaches the service")
}

fn authorized(request: RequestBuilder, token: &str) -> RequestBuilder {
    request.bearer_auth(token)
}

async fn create(app: &TestApp, token: &str, text: &str) -> Value {
    let response = authorized(app.client.post(app.url("/notes")), token)
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "create {text:?}");
    response.json().await.unwrap()
}

/// Every note `token` lists, following `next` links `limit` at a time.
async fn listed(app: &TestApp, token: &str, first: &str) -> Vec<i64> {
    let mut all = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(path) = next {
        let page = send(app, Method::GET, &path, token).await;
        assert_eq!(page.status(), 200, "{path}");
        next = link_to(&page, "next");
        all.extend(ids(&page.json::<Value>().await.unwrap()));
    }
    all
}

fn challenge(response: &Response) -> String {
    response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// `auth_failures_total{reason=…}` as `/metrics` has it now.
async fn failures(app: &TestApp, reason: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    let series = format!("auth_failures_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0.0, |value| value.parse().unwrap())
}

async fn oidc_owners_see_and_change_only_their_own_notes(backend: Backend) {
    let provider = oidc::provider().await;
    let app =
        TestApp::spawn_with(backend, with_issuer(provider.issuer(), provider.audience())).await;
    let (a, b) = (
        provider.token(&OWNER_A, "notes:read notes:write").await,
        provider.token(&OWNER_B, "notes:read notes:write").await,
    );
    // A note from before authentication was turned on has no owner: no one is served it.
    let text = NoteText::parse("from before".to_owned()).unwrap();
    let input = NoteInput {
        text,
        completed: false,
    };
    let unowned = store::create(&app.db, &Owner::Anyone, input).await.unwrap();

    let mut mine = Vec::new();
    for i in 0..5 {
        mine.push(
            create(&app, &a, &format!("a{i}")).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let theirs = create(&app, &b, "b0").await;
    let theirs_id = theirs["id"].as_i64().unwrap();
    for i in 1..3 {
        create(&app, &b, &format!("b{i}")).await;
    }

    // Lists, keyset cursors in both orders, filters and totals are the owner's own.
    assert_eq!(listed(&app, &a, "/notes?limit=2").await, mine);
    let mut newest_first = mine.clone();
    newest_first.reverse();
    assert_eq!(
        listed(&app, &a, "/notes?limit=2&order=desc").await,
        newest_first
    );
    assert_eq!(
        listed(&app, &a, "/notes?completed=false&limit=3").await,
        mine
    );
    assert_eq!(listed(&app, &b, "/notes").await.len(), 3);
    let counted = authorized(app.client.get(app.url("/notes")), &a)
        .header("prefer", "count=exact")
        .send()
        .await
        .unwrap();
    assert_eq!(counted.headers()["x-total-count"], "5");
    assert!(!listed(&app, &a, "/notes").await.contains(&unowned.id));

    // Another owner's note is a 404 for every method, as if it did not exist, and is not
    // changed; its ETag does not help.
    let path = format!("/notes/{theirs_id}");
    let etag = "\"1\"";
    for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
        let mut request = authorized(app.client.request(method.clone(), app.url(&path)), &a);
        if method == Method::PUT || method == Method::PATCH {
            request = request.json(&json!({"text": "taken over", "completed": true}));
        }
        let response = request.header(header::IF_MATCH, etag).send().await.unwrap();
        let body = problem(response, 404).await;
        assert_eq!(
            body["type"], "urn:notes-service:problem:note-not-found",
            "{method}"
        );
    }
    let still = send(&app, Method::GET, &path, &b).await;
    assert_eq!(still.status(), 200);
    assert_eq!(still.json::<Value>().await.unwrap(), theirs);
    let unowned_path = format!("/notes/{}", unowned.id);
    assert_eq!(
        send(&app, Method::GET, &unowned_path, &a).await.status(),
        404
    );

    // The owner reads, changes (with its ETag) and deletes its own.
    let own = format!("/notes/{}", mine[0]);
    let read = send(&app, Method::GET, &own, &a).await;
    let etag = read.headers()[header::ETAG].to_str().unwrap().to_owned();
    let changed = authorized(app.client.patch(app.url(&own)), &a)
        .header(header::IF_MATCH, etag)
        .json(&json!({"completed": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(send(&app, Method::DELETE, &own, &a).await.status(), 204);
    assert_eq!(listed(&app, &a, "/notes").await, mine[1..]);
    app.stop().await;
}

async fn oidc_scopes_are_enforced_per_operation(backend: Backend) {
    let provider = oidc::provider().await;
    let app =
        TestApp::spawn_with(backend, with_issuer(provider.issuer(), provider.audience())).await;
    let reader = provider.token(&READER, "notes:read").await;
    let writer_only = provider.token(&OWNER_A, "notes:write").await;
    let note = create(&app, &writer_only, "written").await;
    let path = format!("/notes/{}", note["id"]);

    // Reading needs notes:read, every write notes:write.
    assert_eq!(
        send(&app, Method::GET, "/notes", &reader).await.status(),
        200
    );
    for (method, target, token, scope) in [
        (Method::GET, "/notes", &writer_only, "notes:read"),
        (Method::GET, path.as_str(), &writer_only, "notes:read"),
        (Method::POST, "/notes", &reader, "notes:write"),
        (Method::PUT, path.as_str(), &reader, "notes:write"),
        (Method::PATCH, path.as_str(), &reader, "notes:write"),
        (Method::DELETE, path.as_str(), &reader, "notes:write"),
    ] {
        let response = authorized(app.client.request(method.clone(), app.url(target)), token)
            .json(&json!({"text": "x", "completed": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            challenge(&response),
            format!(
                "Bearer realm=\"notes-service\", error=\"insufficient_scope\", scope=\"{scope}\""
            ),
            "{method} {target}"
        );
        let body = problem(response, 403).await;
        assert_eq!(body["type"], "urn:notes-service:problem:insufficient-scope");
    }
    assert_eq!(failures(&app, "insufficient_scope").await, 6.0);
    // The note is unchanged.
    let a_reader = provider.token(&OWNER_A, "notes:read").await;
    let read = send(&app, Method::GET, &path, &a_reader).await;
    assert_eq!(read.json::<Value>().await.unwrap(), note);
    app.stop().await;
}

async fn every_attack_token_is_401_and_never_reaches_the_data(backend: Backend) {
    let issuer = TestIssuer::with_test_keys().await;
    let app = TestApp::spawn_with(backend, with_issuer(issuer.issuer(), AUDIENCE)).await;
    // Valid tokens of every algorithm are served (and create the owner's data).
    for key in keys().published() {
        let token = tokens::valid(key, issuer.issuer(), AUDIENCE, "owner-1");
        create(&app, &token, &format!("by {:?}", key.alg)).await;
    }
    let valid = tokens::valid(&keys().rs256, issuer.issuer(), AUDIENCE, "owner-1");
    // A second use of the same token is served from the cache, still valid.
    assert_eq!(
        send(&app, Method::GET, "/notes", &valid).await.status(),
        200
    );

    for case in Crafted::ALL {
        let token = tokens::crafted(case, issuer.issuer(), AUDIENCE, "owner-1");
        for (method, path) in [(Method::GET, "/notes"), (Method::POST, "/notes")] {
            let response = authorized(app.client.request(method.clone(), app.url(path)), &token)
                .json(&json!({"text": "forged"}))
                .send()
                .await
                .unwrap();
            let header = challenge(&response);
            assert!(
                header.starts_with("Bearer realm=\"notes-service\", error=\"invalid_token\""),
                "{case:?} {method}: {header}"
            );
            let body = problem(response, 401).await;
            assert_eq!(
                body["type"], "urn:notes-service:problem:invalid-token",
                "{case:?}"
            );
            let text = body.to_string();
            assert!(!text.contains(&token), "{case:?}: the token is echoed");
            if case == Crafted::Expired {
                assert_eq!(body["detail"], "the token has expired");
            }
        }
    }
    assert_eq!(failures(&app, "expired").await, 2.0);
    assert_eq!(failures(&app, "invalid").await, 28.0);
    // Nothing forged was written.
    assert_eq!(listed(&app, &valid, "/notes").await.len(), 4);
    app.stop().await;
}

async fn missing_and_garbage_authorization_is_a_clear_4xx(backend: Backend) {
    let issuer = TestIssuer::with_test_keys().await;
    let app = TestApp::spawn_with(backend, with_issuer(issuer.issuer(), AUDIENCE)).await;
    // No token: a bare challenge.
    let response = app.get("/notes").await;
    assert_eq!(challenge(&response), "Bearer realm=\"notes-service\"");
    let body = problem(response, 401).await;
    assert_eq!(body["type"], "urn:notes-service:problem:unauthorized");
    // Another scheme is no bearer token either.
    let basic = app
        .client
        .get(app.url("/notes"))
        .header(header::AUTHORIZATION, "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(challenge(&basic), "Bearer realm=\"notes-service\"");
    problem(basic, 401).await;
    assert_eq!(failures(&app, "missing").await, 2.0);

    // Garbage after `Bearer`: an invalid token, never a 500.
    let huge = format!("Bearer {}", "a".repeat(20_000));
    let garbage: Vec<Vec<u8>> = vec![
        b"Bearer".to_vec(),
        b"Bearer ".to_vec(),
        b"Bearer not a token".to_vec(),
        b"Bearer a.b.c".to_vec(),
        b"Bearer \xff\xfe".to_vec(),
        b"Bearer ..".to_vec(),
        huge.into_bytes(),
    ];
    for value in garbage {
        let response = app
            .client
            .get(app.url("/notes"))
            .header(
                header::AUTHORIZATION,
                header::HeaderValue::from_bytes(&value).unwrap(),
            )
            .send()
            .await
            .unwrap();
        let label = String::from_utf8_lossy(&value[..value.len().min(20)]).into_owned();
        assert!(
            challenge(&response).contains("error=\"invalid_token\""),
            "{label}"
        );
        problem(response, 401).await;
    }
    // A header too large for the server is refused before the service sees it: a 4xx.
    let oversized = app
        .client
        .get(app.url("/notes"))
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", "a".repeat(1 << 20)),
        )
        .send()
        .await;
    if let Ok(response) = oversized {
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    // What needs no token: probes, the spec, the docs, the metrics.
    for path in [
        "/health/live",
        "/health/ready",
        "/openapi.json",
        "/docs",
        "/metrics",
    ] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
    app.stop().await;
}

async fn keys_rotate_in_and_survive_the_provider_going_down(backend: Backend) {
    let issuer = TestIssuer::with_test_keys().await;
    let app = TestApp::spawn_with(backend, with_issuer(issuer.issuer(), AUDIENCE)).await;
    let token = |key| tokens::valid(key, issuer.issuer(), AUDIENCE, "owner-1");
    assert_eq!(
        send(&app, Method::GET, "/notes", &token(&keys().rs256))
            .await
            .status(),
        200
    );

    // A key rotated in at the provider works at once: its unknown kid fetches the keys again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fetches = issuer.jwks_fetches();
    issuer.rotate_in(&keys().rotated_rs256);
    let rotated = token(&keys().rotated_rs256);
    assert_eq!(
        send(&app, Method::GET, "/notes", &rotated).await.status(),
        200
    );
    assert_eq!(issuer.jwks_fetches(), fetches + 1);

    // Made-up key ids do not hammer the provider: at most one fetch a second.
    let requests = issuer.jwks_requests();
    let flood = std::time::Instant::now();
    for i in 0..20 {
        let forged = tokens::mint(
            &Signer::Key(&keys().other_rs256),
            &json!({"kid": format!("made-up-{i}")}),
            &tokens::claims(issuer.issuer(), AUDIENCE, "owner-1"),
        );
        let response = send(&app, Method::GET, "/notes", &forged).await;
        problem(response, 401).await;
    }
    let allowed = 1 + flood.elapsed().as_secs() as usize;
    assert!(
        issuer.jwks_requests() <= requests + allowed,
        "20 unknown kids in {:?}: at most {allowed} refetches",
        flood.elapsed()
    );

    // The provider goes down: tokens signed with keys already fetched keep working...
    issuer.down(Outage::Refused).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh = tokens::mint(
        &Signer::Key(&keys().es256),
        &json!({}),
        &tokens::patch(
            &tokens::claims(issuer.issuer(), AUDIENCE, "owner-2"),
            &json!({"jti": "after the outage began"}),
        ),
    );
    assert_eq!(
        send(&app, Method::GET, "/notes", &fresh).await.status(),
        200
    );
    // ...and a token whose key cannot be had now gets 503 with Retry-After, not 401 or 500.
    issuer.rotate_in(&keys().other_rs256);
    let unknown = token(&keys().other_rs256);
    let response = send(&app, Method::GET, "/notes", &unknown).await;
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    let body = problem(response, 503).await;
    assert_eq!(
        body["type"],
        "urn:notes-service:problem:identity-provider-unavailable"
    );
    assert_eq!(failures(&app, "unavailable").await, 1.0);

    // Back up: the same token works once the keys can be fetched again.
    issuer.up().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        send(&app, Method::GET, "/notes", &unknown).await.status(),
        200
    );
    app.stop().await;
}

async fn the_service_starts_while_the_provider_is_down(backend: Backend) {
    let issuer = TestIssuer::with_test_keys().await;
    issuer.down(Outage::Unavailable).await;
    let app = TestApp::spawn_with(backend, with_issuer(issuer.issuer(), AUDIENCE)).await;
    assert_eq!(app.get("/health/ready").await.status(), 200);
    let token = tokens::valid(&keys().rs256, issuer.issuer(), AUDIENCE, "owner-1");
    let response = send(&app, Method::GET, "/notes", &token).await;
    problem(response, 503).await;
    issuer.up().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        send(&app, Method::GET, "/notes", &token).await.status(),
        200
    );
    create(&app, &token, "after the provider came up").await;
    app.stop().await;
}

/// The real binary with authentication on: an issuer without an audience stops start-up
/// with a message naming `audience`; a running service logs requests with and without
/// tokens, bad ones included, and no line holds a token.
#[test]
fn the_binary_needs_an_audience_and_never_logs_a_token() {
    use crate::common::process::{SERVICE, Service, command, run};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let issuer = runtime.block_on(TestIssuer::with_test_keys());
    let dir = tempfile::tempdir().unwrap();
    let database = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("notes.db").display()
    );

    let (status, output) = run(command(SERVICE, "test")
        .env("DATABASE_URL", &database)
        .env("APP__AUTH__ISSUER", issuer.issuer()));
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("auth.audience"), "{output}");

    let mut cmd = command(SERVICE, "production");
    cmd.env("DATABASE_URL", &database)
        .env("APP__DATABASE__AUTO_MIGRATE", "true")
        .env("APP__AUTH__ISSUER", issuer.issuer())
        .env("APP__AUTH__AUDIENCE", AUDIENCE);
    let mut service = Service::start(cmd);
    let valid = tokens::valid(&keys().es256, issuer.issuer(), AUDIENCE, "owner-1");
    let expired = tokens::crafted(Crafted::Expired, issuer.issuer(), AUDIENCE, "owner-1");
    for token in [&valid, &expired] {
        let answer = service.request(&format!(
            "GET /notes HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n"
        ));
        assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    }
    service.terminate();
    service.wait(Duration::from_secs(10));
    let logged = service.output();
    assert!(
        logged.contains("\"path\":\"/notes\""),
        "requests are logged: {logged}"
    );
    for token in [&valid, &expired] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!logged.contains(signature), "a token was logged: {logged}");
    }
}
