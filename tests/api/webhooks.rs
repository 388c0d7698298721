//! Webhook subscriptions over HTTP, on every backend: CRUD with ETags, owner isolation, the
//! secret shown once, and URLs refused for pointing at private networks.

use crate::common::{
    Backend, TestApp, error_fields, ids, problem,
    resource::{Shape, TestedResource, owners, pages},
    tokens::{self, Signer, TestIssuer, keys},
};
use notes_service::webhooks::store;
use reqwest::{Method, header};
use serde_json::{Value, json};

/// The webhooks resource, for the suites that cover every resource.
pub const RESOURCE: TestedResource = TestedResource {
    collection: "/webhooks",
    item: "/webhooks/{id}",
    bodies: &["NewWebhook", "WebhookReplacement", "WebhookChanges"],
    conflicting: &[],
    keyed: &[],
    referenced: &[],
    read_scope: "webhooks:read",
    write_scope: "webhooks:write",
    list_shapes,
};

fn list_shapes() -> Vec<Shape> {
    let mut shapes = Vec::new();
    for owner in owners() {
        for page in pages() {
            let query = store::list_query(&owner, page);
            shapes.push(Shape::new("webhooks", format!("{owner:?} {page:?}"), query));
        }
    }
    shapes
}

backend_tests!(
    subscriptions_round_trip_with_etags,
    the_secret_is_only_in_the_201_and_rotation_returns_a_new_one,
    bodies_are_validated_field_by_field,
    urls_to_private_networks_are_refused,
    owners_see_only_their_own_subscriptions,
);

/// A test service whose webhooks may point at this machine (the tests' receivers).
pub async fn spawn_allowing_local(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |settings| {
        settings.webhooks.allow_private_networks = true;
    })
    .await
}

fn subscription(url: &str, events: &[&str]) -> Value {
    json!({"url": url, "events": events})
}

async fn subscriptions_round_trip_with_etags(backend: Backend) {
    let app = spawn_allowing_local(backend).await;
    let response = app
        .post(
            "/webhooks",
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["note.deleted", "note.created"],
                    "description": "mine"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(location, format!("/webhooks/{id}"));
    assert_eq!(etag, "\"1\"");
    assert_eq!(created["url"], "http://127.0.0.1:9/hook");
    assert_eq!(created["events"], json!(["note.created", "note.deleted"]));
    assert_eq!(created["description"], "mine");
    assert_eq!(created["enabled"], true);

    // Read, and 304 with the ETag.
    let read = app.get(&location).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["etag"], etag.as_str());
    let unchanged = app
        .client
        .get(app.url(&location))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);

    // Replace with a stale ETag: 412, nothing written; with the right one: done.
    let replacement = json!({"url": "https://127.0.0.1:9/other", "events": ["note.updated"],
                             "enabled": false});
    let stale = app
        .client
        .put(app.url(&location))
        .header(header::IF_MATCH, "\"7\"")
        .json(&replacement)
        .send()
        .await
        .unwrap();
    problem(stale, 412).await;
    let replaced = app
        .client
        .put(app.url(&location))
        .header(header::IF_MATCH, &etag)
        .json(&replacement)
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), 200);
    assert_eq!(replaced.headers()["etag"], "\"2\"");
    let replaced: Value = replaced.json().await.unwrap();
    assert_eq!(replaced["url"], "https://127.0.0.1:9/other");
    assert_eq!(replaced["events"], json!(["note.updated"]));
    assert_eq!(replaced["description"], Value::Null);
    assert_eq!(replaced["enabled"], false);

    // Patch: fields left out stay; null clears the description.
    let patched = app
        .send_json(
            Method::PATCH,
            &location,
            &json!({"enabled": true, "description": "again"}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    assert_eq!(patched.headers()["etag"], "\"3\"");
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["enabled"], true);
    assert_eq!(patched["description"], "again");
    assert_eq!(patched["url"], "https://127.0.0.1:9/other");
    let cleared: Value = app
        .send_json(Method::PATCH, &location, &json!({"description": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["description"], Value::Null);

    // A keyset list with a Link header, as for notes.
    for i in 0..3 {
        app.create(
            "/webhooks",
            &subscription(&format!("http://127.0.0.1:9/{i}"), &["note.created"]),
        )
        .await;
    }
    let page = app.get("/webhooks?limit=2").await;
    assert_eq!(page.status(), 200);
    let next = crate::common::link_to(&page, "next").expect("a next link");
    let first: Value = page.json().await.unwrap();
    assert_eq!(ids(&first).len(), 2);
    assert_eq!(ids(&first)[0], id);
    assert!(first[0].get("secret").is_none());
    let rest: Value = app.get_json(&next).await;
    assert_eq!(ids(&rest).len(), 2);

    // Delete with a stale ETag: 412; then done; then 404.
    let stale = app
        .client
        .delete(app.url(&location))
        .header(header::IF_MATCH, "\"1\"")
        .send()
        .await
        .unwrap();
    problem(stale, 412).await;
    let deleted = app.client.delete(app.url(&location)).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    problem(app.get(&location).await, 404).await;
}

async fn the_secret_is_only_in_the_201_and_rotation_returns_a_new_one(backend: Backend) {
    let app = spawn_allowing_local(backend).await;
    let created = app
        .create(
            "/webhooks",
            &subscription("http://127.0.0.1:9/", &["note.created"]),
        )
        .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(secret.len(), "whsec_".len() + 44);
    let id = created["id"].as_i64().unwrap();
    let path = format!("/webhooks/{id}");
    let read = app.get_json(&path).await;
    assert!(read.get("secret").is_none(), "{read}");
    let patched: Value = app
        .send_json(Method::PATCH, &path, &json!({"enabled": false}))
        .await
        .json()
        .await
        .unwrap();
    assert!(patched.get("secret").is_none());
    let list = app.get_json("/webhooks").await;
    assert!(!list.to_string().contains("whsec_"));
    // A secret cannot be sent.
    let refused = app
        .post(
            "/webhooks",
            &json!({"url": "http://127.0.0.1:9/", "events": ["note.created"], "secret": secret}),
        )
        .await;
    assert_eq!(error_fields(&problem(refused, 422).await), ["secret"]);

    let rotated = app.post(&format!("{path}/rotate-secret"), &json!({})).await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap();
    assert!(new.starts_with("whsec_") && new != secret);
    assert!(rotated["previous_secret_expires_at"].is_string());
    // Rotation changes nothing a client sees.
    assert_eq!(app.get(&path).await.headers()["etag"], "\"2\"");
    problem(
        app.post("/webhooks/999999/rotate-secret", &json!({})).await,
        404,
    )
    .await;
}

async fn bodies_are_validated_field_by_field(backend: Backend) {
    let app = spawn_allowing_local(backend).await;
    for (body, fields) in [
        (
            json!({"url": "ftp://127.0.0.1/", "events": ["note.created"]}),
            vec!["url"],
        ),
        (
            json!({"url": "not a url", "events": ["note.created"]}),
            vec!["url"],
        ),
        (
            json!({"url": format!("http://127.0.0.1/{}", "a".repeat(2048)), "events": ["note.created"]}),
            vec!["url"],
        ),
        (
            json!({"url": "http://127.0.0.1/", "events": []}),
            vec!["events"],
        ),
        (
            json!({"url": "http://127.0.0.1/", "events": ["note.read"]}),
            vec!["events"],
        ),
        (
            json!({"url": "http://127.0.0.1/", "events": ["note.created", "note.created"]}),
            vec!["events"],
        ),
        (
            json!({"url": "http://127.0.0.1/", "events": ["note.created"], "description": "d".repeat(501)}),
            vec!["description"],
        ),
        (
            json!({"events": "note.created", "enabled": "yes"}),
            vec!["enabled", "events", "url"],
        ),
    ] {
        let response = app.post("/webhooks", &body).await;
        let mut named = error_fields(&problem(response, 422).await);
        named.sort();
        assert_eq!(named, fields, "{body}");
    }
    // 500 characters of description are fine, counted in characters.
    app.create(
        "/webhooks",
        &json!({"url": "http://127.0.0.1/", "events": ["note.created"], "description": "é".repeat(500)}),
    )
    .await;
}

async fn urls_to_private_networks_are_refused(backend: Backend) {
    // The default: private networks are not allowed.
    let app = TestApp::spawn(backend).await;
    for url in [
        "http://localhost/hook",
        "http://localhost:8080/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
        "http://10.0.0.1/",
        "http://192.168.0.10/",
        "http://172.16.0.1/",
        "http://[fd12::1]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
    ] {
        let response = app
            .post("/webhooks", &subscription(url, &["note.created"]))
            .await;
        let problem = problem(response, 422).await;
        assert_eq!(error_fields(&problem), ["url"], "{url}: {problem}");
    }
    // A PUT and a PATCH are checked too.
    let stored = notes_service::webhooks::store::create(
        &app.db,
        &notes_service::db::owner::Owner::Anyone,
        store::WebhookInput {
            url: "https://example.com/hook".to_owned(),
            events: vec![notes_service::webhooks::events::EventType::NoteCreated],
            description: None,
            enabled: true,
        },
        "whsec_AAAA".to_owned(),
    )
    .await
    .unwrap();
    let path = format!("/webhooks/{}", stored.id);
    let patched = app
        .send_json(Method::PATCH, &path, &json!({"url": "http://127.0.0.1/"}))
        .await;
    assert_eq!(error_fields(&problem(patched, 422).await), ["url"]);
    let replaced = app
        .send_json(
            Method::PUT,
            &path,
            &json!({"url": "http://[::1]:80/", "events": ["note.created"], "enabled": true}),
        )
        .await;
    assert_eq!(error_fields(&problem(replaced, 422).await), ["url"]);
    assert_eq!(app.get_json(&path).await["url"], "https://example.com/hook");
}

const AUDIENCE: &str = "notes-api";

fn token(issuer: &TestIssuer, sub: &str, scope: &str) -> String {
    let claims = tokens::patch(
        &tokens::claims(issuer.issuer(), AUDIENCE, sub),
        &json!({"scope": scope}),
    );
    tokens::mint(&Signer::Key(&keys().rs256), &json!({}), &claims)
}

async fn owners_see_only_their_own_subscriptions(backend: Backend) {
    let issuer = TestIssuer::with_test_keys().await;
    let issuer_url = issuer.issuer().to_owned();
    let app = TestApp::spawn_with(backend, move |settings| {
        settings.auth.issuer = issuer_url;
        settings.auth.audience = AUDIENCE.to_owned();
        settings.webhooks.allow_private_networks = true;
    })
    .await;
    let all = "webhooks:read webhooks:write";
    let (a, b) = (
        token(&issuer, "owner-a", all),
        token(&issuer, "owner-b", all),
    );
    let send = |method: Method, path: &str, token: &str| {
        app.client.request(method, app.url(path)).bearer_auth(token)
    };
    let body = subscription("http://127.0.0.1:9/", &["note.created"]);
    let created = send(Method::POST, "/webhooks", &a)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let path = format!("/webhooks/{id}");
    // B sees nothing of A's, and can change nothing of it.
    let listed: Value = send(Method::GET, "/webhooks", &b)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]));
    for method in [Method::GET, Method::DELETE] {
        let response = send(method.clone(), &path, &b).send().await.unwrap();
        problem(response, 404).await;
    }
    let patched = send(Method::PATCH, &path, &b)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    problem(patched, 404).await;
    let rotated = send(Method::POST, &format!("{path}/rotate-secret"), &b)
        .send()
        .await
        .unwrap();
    problem(rotated, 404).await;
    // A sees it; the scopes are enforced.
    let listed: Value = send(Method::GET, "/webhooks", &a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&listed), [id]);
    let notes_only = token(&issuer, "owner-a", "notes:read notes:write");
    let refused = send(Method::GET, "/webhooks", &notes_only)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let reader = token(&issuer, "owner-a", "webhooks:read");
    let refused = send(Method::POST, "/webhooks", &reader)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}
