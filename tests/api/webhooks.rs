//! Webhook subscriptions over HTTP, on every backend: CRUD with ETags, owner isolation, the
//! secret shown once, and URLs refused for pointing at private networks; and the events of
//! note changes delivered to a receiver that verifies every signature with the Standard
//! Webhooks reference crate (`standardwebhooks`), retried, given up, retried by hand,
//! stopped by `410 Gone`, and signed with both secrets after a rotation.

use std::time::{Duration, Instant};

use crate::common::{
    Backend, TestApp, error_fields, ids, problem,
    receiver::{Receiver, all_verified},
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
    each_note_change_arrives_signed_with_its_payload,
    refused_and_replayed_writes_send_nothing,
    a_failing_receiver_is_retried_until_it_recovers,
    a_receiver_down_for_good_makes_a_dead_delivery_that_a_manual_retry_delivers,
    gone_disables_the_subscription,
    after_a_rotation_both_secrets_sign,
    private_hosts_are_checked_again_at_delivery,
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
            events: vec![notes_service::notes::api::NOTE_CREATED],
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

// Delivery.

/// Subscribes `receiver` to `events` and trusts the secret the 201 gives; returns the id.
async fn subscribe(app: &TestApp, receiver: &Receiver, events: &[&str]) -> i64 {
    let created = app
        .create("/webhooks", &subscription(&receiver.url(), events))
        .await;
    receiver.trust(created["secret"].as_str().unwrap());
    created["id"].as_i64().unwrap()
}

const ALL_EVENTS: [&str; 3] = ["note.created", "note.updated", "note.deleted"];

/// The subscription's deliveries, once `done` holds for all of them (failing after 20 s).
async fn deliveries_when(
    app: &TestApp,
    webhook: i64,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = app
            .get_json(&format!("/webhooks/{webhook}/deliveries"))
            .await;
        let list = list.as_array().cloned().unwrap_or_default();
        if done(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "deliveries: {list:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn each_note_change_arrives_signed_with_its_payload(backend: Backend) {
    let app = spawn_allowing_local(backend).await;
    let receiver = Receiver::start().await;
    let webhook = subscribe(&app, &receiver, &ALL_EVENTS).await;
    // Another subscription wants deletes only; a disabled one nothing at all.
    let deletes = Receiver::start().await;
    subscribe(&app, &deletes, &["note.deleted"]).await;
    let off = Receiver::start().await;
    let disabled = app
        .create(
            "/webhooks",
            &json!({"url": off.url(), "events": ALL_EVENTS, "enabled": false}),
        )
        .await;
    assert_eq!(disabled["enabled"], false);

    let note = app.create("/notes", &json!({"text": "one"})).await;
    let id = note["id"].as_i64().unwrap();
    let path = format!("/notes/{id}");
    let put = app
        .send_json(
            Method::PUT,
            &path,
            &json!({"text": "two", "completed": false}),
        )
        .await;
    assert_eq!(put.status(), 200);
    let patch = app
        .send_json(Method::PATCH, &path, &json!({"completed": true}))
        .await;
    assert_eq!(patch.status(), 200);
    let patched: Value = patch.json().await.unwrap();
    // An empty patch changes nothing, and says nothing.
    assert_eq!(
        app.send_json(Method::PATCH, &path, &json!({}))
            .await
            .status(),
        200
    );
    let delete = app.client.delete(app.url(&path)).send().await.unwrap();
    assert_eq!(delete.status(), 204);

    let received = receiver.wait_for(4).await;
    all_verified(&received);
    let of_type = |t: &str| -> Vec<Value> {
        received
            .iter()
            .filter(|r| r.body["type"] == t)
            .map(|r| r.body.clone())
            .collect()
    };
    let created = of_type("note.created");
    assert_eq!(created.len(), 1);
    let mut expected = note.clone();
    expected["version"] = json!(1);
    assert_eq!(created[0]["data"], expected);
    let updated = of_type("note.updated");
    assert_eq!(updated.len(), 2);
    let mut versions: Vec<i64> = updated
        .iter()
        .map(|u| u["data"]["version"].as_i64().unwrap())
        .collect();
    versions.sort();
    assert_eq!(versions, [2, 3]);
    let last = updated.iter().find(|u| u["data"]["version"] == 3).unwrap();
    let mut expected = patched.clone();
    expected["version"] = json!(3);
    assert_eq!(last["data"], expected);
    assert_eq!(of_type("note.deleted").len(), 1);
    assert_eq!(of_type("note.deleted")[0]["data"], json!({"id": id}));
    for r in &received {
        let timestamp = r.body["timestamp"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
            "{timestamp}"
        );
        assert!(r.message_id.starts_with("msg_"), "{}", r.message_id);
    }
    // The delete-only subscription got the delete; the disabled one nothing.
    let only = deletes.wait_for(1).await;
    all_verified(&only);
    assert_eq!(only[0].body["type"], "note.deleted");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 4);
    assert_eq!(deletes.received().len(), 1);
    assert!(off.received().is_empty());

    // The deliveries are listed, succeeded, with their message ids.
    let listed = deliveries_when(&app, webhook, |list| {
        list.len() == 4 && list.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    for d in &listed {
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["last_status"], 204);
        assert_eq!(d["last_error"], Value::Null);
        assert!(received.iter().any(|r| r.message_id == d["message_id"]));
    }
    let page = app
        .get(&format!("/webhooks/{webhook}/deliveries?limit=3"))
        .await;
    assert!(crate::common::link_to(&page, "next").is_some());
    problem(app.get("/webhooks/999999/deliveries").await, 404).await;
}

async fn refused_and_replayed_writes_send_nothing(backend: Backend) {
    let app = spawn_allowing_local(backend).await;
    let receiver = Receiver::start().await;
    subscribe(&app, &receiver, &ALL_EVENTS).await;
    let note = app.create("/notes", &json!({"text": "one"})).await;
    let path = format!("/notes/{}", note["id"]);
    // 412: stale ETags.
    for method in [Method::PUT, Method::PATCH] {
        let response = app
            .client
            .request(method, app.url(&path))
            .header(header::IF_MATCH, "\"9\"")
            .json(&json!({"text": "x", "completed": true}))
            .send()
            .await
            .unwrap();
        problem(response, 412).await;
    }
    let stale = app
        .client
        .delete(app.url(&path))
        .header(header::IF_MATCH, "\"9\"")
        .send()
        .await
        .unwrap();
    problem(stale, 412).await;
    // 404: a missing note.
    let missing = app
        .send_json(Method::PATCH, "/notes/999999", &json!({"text": "x"}))
        .await;
    problem(missing, 404).await;
    // A key replayed: the first write sends, its replays do not.
    for _ in 0..3 {
        let response = app
            .client
            .patch(app.url(&path))
            .header("Idempotency-Key", "once")
            .json(&json!({"completed": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url("/notes"))
            .header("Idempotency-Key", "create-once")
            .json(&json!({"text": "keyed"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    // A last change marks the end: everything before it has been sent by then.
    let marker = app.create("/notes", &json!({"text": "marker"})).await;
    let received = receiver.wait_for(4).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = if receiver.received().len() > received.len() {
        receiver.received()
    } else {
        received
    };
    all_verified(&received);
    let mut kinds: Vec<String> = received
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.body["type"].as_str().unwrap(),
                r.body["data"]["text"].as_str().unwrap_or("")
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "note.created keyed",
            "note.created marker",
            "note.created one",
            "note.updated one"
        ],
        "{marker}"
    );
}

async fn a_failing_receiver_is_retried_until_it_recovers(backend: Backend) {
    let app = spawn_allowing_local(backend).await;
    let receiver = Receiver::start().await;
    // 500, then 503 with Retry-After: 0, then a success (max_attempts is 3 in tests).
    receiver.answer(&[500, 503], 200);
    let webhook = subscribe(&app, &receiver, &["note.created"]).await;
    app.create("/notes", &json!({"text": "one"})).await;
    let received = receiver.wait_for(3).await;
    all_verified(&received);
    // One message, three attempts: the same webhook-id each time.
    assert!(
        received
            .iter()
            .all(|r| r.message_id == received[0].message_id)
    );
    let listed = deliveries_when(&app, webhook, |list| {
        list.len() == 1 && list[0]["status"] == "succeeded"
    })
    .await;
    assert_eq!(listed[0]["attempts"], 3);
    assert_eq!(listed[0]["last_status"], 200);
}

async fn a_receiver_down_for_good_makes_a_dead_delivery_that_a_manual_retry_delivers(
    backend: Backend,
) {
    let app = spawn_allowing_local(backend).await;
    let receiver = Receiver::start().await;
    receiver.answer(&[], 500);
    let webhook = subscribe(&app, &receiver, &["note.created"]).await;
    app.create("/notes", &json!({"text": "one"})).await;
    let listed = deliveries_when(&app, webhook, |list| {
        list.len() == 1 && list[0]["status"] == "dead"
    })
    .await;
    assert_eq!(listed[0]["attempts"], 3);
    assert_eq!(listed[0]["last_status"], 500);
    assert!(listed[0]["last_error"].as_str().unwrap().contains("500"));
    assert_eq!(listed[0]["next_attempt_at"], Value::Null);
    assert_eq!(receiver.received().len(), 3);

    // Back up: a manual retry delivers it, with the same webhook-id.
    receiver.answer(&[], 200);
    let delivery = listed[0]["id"].as_i64().unwrap();
    let retry = format!("/webhooks/{webhook}/deliveries/{delivery}/retry");
    assert_eq!(app.post(&retry, &json!({})).await.status(), 202);
    let received = receiver.wait_for(4).await;
    all_verified(&received);
    assert_eq!(received[3].message_id, received[0].message_id);
    let listed = deliveries_when(&app, webhook, |list| list[0]["status"] == "succeeded").await;
    assert_eq!(listed[0]["attempts"], 1);
    // Only a dead delivery can be retried; another subscription's or a missing one is 404.
    let not_dead = problem(app.post(&retry, &json!({})).await, 409).await;
    assert_eq!(
        not_dead["type"],
        "urn:notes-service:problem:delivery-not-dead"
    );
    problem(
        app.post(
            &format!("/webhooks/{webhook}/deliveries/999999/retry"),
            &json!({}),
        )
        .await,
        404,
    )
    .await;
    let other = subscribe(&app, &receiver, &["note.deleted"]).await;
    problem(
        app.post(
            &format!("/webhooks/{other}/deliveries/{delivery}/retry"),
            &json!({}),
        )
        .await,
        404,
    )
    .await;
}

async fn gone_disables_the_subscription(backend: Backend) {
    let app = spawn_allowing_local(backend).await;
    let receiver = Receiver::start().await;
    receiver.answer(&[], 410);
    let webhook = subscribe(&app, &receiver, &["note.created"]).await;
    app.create("/notes", &json!({"text": "one"})).await;
    let listed = deliveries_when(&app, webhook, |list| {
        list.len() == 1 && list[0]["status"] == "dead"
    })
    .await;
    assert_eq!(listed[0]["attempts"], 1);
    assert_eq!(listed[0]["last_status"], 410);
    let subscription = app.get(&format!("/webhooks/{webhook}")).await;
    assert_eq!(subscription.headers()["etag"], "\"2\"");
    let subscription: Value = subscription.json().await.unwrap();
    assert_eq!(subscription["enabled"], false);
    // Disabled: later changes are not sent.
    app.create("/notes", &json!({"text": "two"})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1);
    let listed = app
        .get_json(&format!("/webhooks/{webhook}/deliveries"))
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

async fn after_a_rotation_both_secrets_sign(backend: Backend) {
    let app = spawn_allowing_local(backend).await;
    let receiver = Receiver::start().await;
    let webhook = subscribe(&app, &receiver, &["note.created"]).await;
    app.create("/notes", &json!({"text": "before"})).await;
    let before = receiver.wait_for(1).await;
    assert_eq!(before[0].signatures, 1);
    let rotated: Value = app
        .post(&format!("/webhooks/{webhook}/rotate-secret"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    receiver.trust(rotated["secret"].as_str().unwrap());
    app.create("/notes", &json!({"text": "after"})).await;
    let received = receiver.wait_for(2).await;
    let after = &received[1];
    assert_eq!(after.body["data"]["text"], "after");
    // Two signatures, each verified by the reference library with its own secret.
    assert_eq!(after.signatures, 2);
    assert_eq!(after.verified, [true, true]);
}

async fn private_hosts_are_checked_again_at_delivery(backend: Backend) {
    // Private networks are not allowed; the subscriptions were stored some other way (say,
    // while they were, or before a name's address changed).
    let app = TestApp::spawn(backend).await;
    let receiver = Receiver::start().await;
    let port = receiver.addr.port();
    let mut ids = Vec::new();
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
    ] {
        let stored = store::create(
            &app.db,
            &notes_service::db::owner::Owner::Anyone,
            store::WebhookInput {
                url,
                events: vec![notes_service::notes::api::NOTE_CREATED],
                description: None,
                enabled: true,
            },
            notes_service::webhooks::secret::generate().unwrap(),
        )
        .await
        .unwrap();
        ids.push(stored.id);
    }
    app.create("/notes", &json!({"text": "one"})).await;
    for id in ids {
        let listed = deliveries_when(&app, id, |list| {
            list.len() == 1 && list[0]["attempts"].as_i64().unwrap_or(0) >= 1
        })
        .await;
        let error = listed[0]["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("loopback"), "{error}");
        assert_eq!(listed[0]["last_status"], Value::Null);
    }
    assert!(receiver.received().is_empty());
}
