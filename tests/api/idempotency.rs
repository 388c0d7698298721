//! `Idempotency-Key` on `POST /notes` and `PATCH /notes/{id}`, on every backend: a retry with
//! the key gets the first answer back and writes nothing; another request with the key is a
//! 422; concurrent requests with one key make one note; a refusal stores nothing; keys are the
//! owner's; they expire and are purged; and across a `kill -9` of the real binary, every note
//! retried with its key exists exactly once.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::common::{
    Backend, TestApp, TestDatabase, ids, link_to, problem,
    process::{SERVICE, Service, command},
    tokens::{self, TestIssuer, keys},
};
use reqwest::{Client, Method, Response, StatusCode, header};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

backend_tests!(
    a_retry_with_its_key_gets_the_first_answer_and_writes_nothing,
    bad_keys_are_400_and_a_required_key_must_be_sent,
    concurrent_requests_with_one_key_make_one_note,
    a_refused_write_stores_nothing_so_its_retry_runs_again,
    keys_expire_and_are_purged,
    two_owners_may_use_the_same_key,
    every_note_exists_once_across_a_crash,
);

async fn keyed(app: &TestApp, method: Method, path: &str, key: &str, body: &Value) -> Response {
    app.client
        .request(method, app.url(path))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("the request reaches the service")
}

/// Status, `Location`, `ETag`, `Content-Type` and body: what a replay must repeat.
async fn answer(response: Response) -> (u16, [Option<String>; 3], Vec<u8>, bool) {
    let headers = response.headers();
    let get = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    let kept = [
        get(header::LOCATION),
        get(header::ETAG),
        get(header::CONTENT_TYPE),
    ];
    let replayed = headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let status = response.status().as_u16();
    (
        status,
        kept,
        response.bytes().await.unwrap().to_vec(),
        replayed,
    )
}

async fn note_count(app: &TestApp) -> usize {
    app.get_json("/notes?limit=1000")
        .await
        .as_array()
        .unwrap()
        .len()
}

/// `idempotency_requests_total{result=…}` now.
async fn counted(app: &TestApp, result: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    let series = format!("idempotency_requests_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0.0, |value| value.parse().unwrap())
}

async fn a_retry_with_its_key_gets_the_first_answer_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"text": "once", "completed": false});
    let first = answer(keyed(&app, Method::POST, "/notes", "\"create-1\"", &body).await).await;
    assert_eq!(first.0, 201);
    assert!(!first.3, "a first answer is not a replay");
    // The same key, bare or quoted, and the same request: the same answer, replayed.
    for key in ["\"create-1\"", "create-1"] {
        let again = answer(keyed(&app, Method::POST, "/notes", key, &body).await).await;
        assert_eq!((again.0, &again.1, &again.2), (first.0, &first.1, &first.2));
        assert!(again.3, "Idempotent-Replayed: true");
    }
    assert_eq!(note_count(&app).await, 1);

    // The same key with another body: 422, nothing written.
    let other = keyed(
        &app,
        Method::POST,
        "/notes",
        "create-1",
        &json!({"text": "twice"}),
    )
    .await;
    let problem_body = problem(other, 422).await;
    assert_eq!(
        problem_body["type"],
        "urn:notes-service:problem:idempotency-key-reused"
    );
    assert_eq!(note_count(&app).await, 1);

    // PATCH: the retry gets the first answer even after the note changed since.
    let path = first.1[0].clone().unwrap();
    let patch = json!({"completed": true});
    let changed = answer(keyed(&app, Method::PATCH, &path, "patch-1", &patch).await).await;
    assert_eq!(changed.0, 200);
    app.send_json(Method::PATCH, &path, &json!({"text": "later"}))
        .await
        .error_for_status()
        .unwrap();
    let again = answer(keyed(&app, Method::PATCH, &path, "patch-1", &patch).await).await;
    assert_eq!(
        (again.0, &again.1, &again.2),
        (changed.0, &changed.1, &changed.2)
    );
    assert!(again.3);
    let now: Value = app.get_json(&path).await;
    assert_eq!(
        (now["text"].as_str(), now["completed"].as_bool()),
        (Some("later"), Some(true))
    );
    // The same key on another note's path is another request.
    let other_note = app.create("/notes", &json!({"text": "other"})).await;
    let elsewhere = format!("/notes/{}", other_note["id"]);
    problem(
        keyed(&app, Method::PATCH, &elsewhere, "patch-1", &patch).await,
        422,
    )
    .await;

    // Without a key, as before: every POST writes.
    app.create("/notes", &body).await;
    app.create("/notes", &body).await;
    assert_eq!(note_count(&app).await, 4);
    assert_eq!(counted(&app, "stored").await, 2.0);
    assert_eq!(counted(&app, "replayed").await, 3.0);
    assert_eq!(counted(&app, "other_request").await, 2.0);
    app.stop().await;
}

async fn bad_keys_are_400_and_a_required_key_must_be_sent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"text": "keyed"});
    let long = "k".repeat(256);
    for bad in ["\"\"", "\"unterminated", "\"a\"b\"", long.as_str()] {
        let response = keyed(&app, Method::POST, "/notes", bad, &body).await;
        let refused = problem(response, 400).await;
        assert_eq!(refused["errors"][0]["field"], "Idempotency-Key", "{bad:?}");
    }
    let not_ascii = app
        .client
        .post(app.url("/notes"))
        .header(
            "idempotency-key",
            header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    problem(not_ascii, 400).await;
    let twice = app
        .client
        .post(app.url("/notes"))
        .header("idempotency-key", "a")
        .header("idempotency-key", "b")
        .json(&body)
        .send()
        .await
        .unwrap();
    problem(twice, 400).await;
    assert_eq!(note_count(&app).await, 0);
    app.stop().await;

    let app = TestApp::spawn_with(backend, |s| s.idempotency.required = true).await;
    let missing = problem(app.post("/notes", &body).await, 400).await;
    assert_eq!(missing["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(
        keyed(&app, Method::POST, "/notes", "k", &body)
            .await
            .status(),
        201
    );
    // Reads and deletes take no key.
    assert_eq!(app.get("/notes").await.status(), 200);
    let spec: Value = app.get_json("/openapi.json").await;
    let parameters = spec["paths"]["/notes"]["post"]["parameters"]
        .as_array()
        .unwrap();
    let key = parameters
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .unwrap();
    assert_eq!(key["required"], true);
    assert!(key["description"].as_str().unwrap().contains("86400 s"));
    app.stop().await;
}

async fn concurrent_requests_with_one_key_make_one_note(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"text": "32 at once"});
    let answers = futures_util::future::join_all(
        (0..32).map(|_| keyed(&app, Method::POST, "/notes", "one-key", &body)),
    )
    .await;
    // Each waits for the one that commits first, and gets its answer: no 409 to retry.
    let mut locations = Vec::new();
    let mut replayed = 0;
    for response in answers {
        assert_eq!(response.status(), StatusCode::CREATED);
        locations.push(response.headers()[header::LOCATION].clone());
        if response.headers().get("idempotent-replayed").is_some() {
            replayed += 1;
        }
    }
    assert!(
        locations.iter().all(|l| *l == locations[0]),
        "every 201 names one note"
    );
    assert_eq!(replayed, 31, "all but the first are replays");
    assert_eq!(note_count(&app).await, 1);
    app.stop().await;
}

async fn a_refused_write_stores_nothing_so_its_retry_runs_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let note = app.create("/notes", &json!({"text": "guarded"})).await;
    let path = format!("/notes/{}", note["id"]);
    let patch = json!({"completed": true});
    let stale = |etag: &'static str| {
        app.client
            .patch(app.url(&path))
            .header("idempotency-key", "guarded-1")
            .header(header::IF_MATCH, etag)
            .json(&patch)
    };
    // 412 twice: the refusal was not stored, so the retry ran again.
    for _ in 0..2 {
        problem(stale("\"7\"").send().await.unwrap(), 412).await;
    }
    // Then the same key and request with the right ETag runs, and is what is stored.
    let done = stale("\"1\"").send().await.unwrap();
    assert_eq!(done.status(), 200);
    // A missing note is a 404, not stored either.
    let missing = keyed(&app, Method::PATCH, "/notes/999999", "missing-1", &patch).await;
    problem(missing, 404).await;
    let missing = keyed(&app, Method::PATCH, "/notes/999999", "missing-1", &patch).await;
    let body = problem(missing, 404).await;
    assert_eq!(body["type"], "urn:notes-service:problem:note-not-found");
    // A body that fails validation never reserves the key.
    let invalid = keyed(
        &app,
        Method::POST,
        "/notes",
        "invalid-1",
        &json!({"text": ""}),
    )
    .await;
    problem(invalid, 422).await;
    let valid = keyed(
        &app,
        Method::POST,
        "/notes",
        "invalid-1",
        &json!({"text": "fixed"}),
    )
    .await;
    assert_eq!(valid.status(), 201);
    app.stop().await;
}

/// How many rows the idempotency table holds.
async fn key_rows(app: &TestApp) -> i64 {
    let sql = "SELECT COUNT(*) FROM idempotency_keys";
    let statement = Statement::from_string(app.db.get_database_backend(), sql);
    let row = app.db.query_one_raw(statement).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn keys_expire_and_are_purged(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.server.request_timeout_seconds = 1;
        s.idempotency.ttl_seconds = 2;
        s.idempotency.purge_interval_seconds = 1;
        s.idempotency.purge_batch = 2;
    })
    .await;
    for i in 0..5 {
        let key = format!("short-{i}");
        let response = keyed(&app, Method::POST, "/notes", &key, &json!({"text": key})).await;
        assert_eq!(response.status(), 201);
    }
    assert_eq!(key_rows(&app).await, 5);
    // After the TTL the key is free again: another request with it runs.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let reused = keyed(
        &app,
        Method::POST,
        "/notes",
        "short-0",
        &json!({"text": "new"}),
    )
    .await;
    assert_eq!(reused.status(), 201);
    // And the purge (batches of 2) removes the expired rows, keeping the live one.
    let mut left = i64::MAX;
    for _ in 0..40 {
        left = key_rows(&app).await;
        if left == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(left, 1, "expired keys are purged");
    assert_eq!(note_count(&app).await, 6);
    app.stop().await;
}

async fn two_owners_may_use_the_same_key(backend: Backend) {
    let issuer = TestIssuer::with_test_keys().await;
    let app = TestApp::spawn_with(backend, |s| {
        s.auth.issuer = issuer.issuer().to_owned();
        s.auth.audience = "notes-api".to_owned();
    })
    .await;
    let token = |sub| tokens::valid(&keys().rs256, issuer.issuer(), "notes-api", sub);
    let post = |token: String, text: &'static str| {
        app.client
            .post(app.url("/notes"))
            .bearer_auth(token)
            .header("idempotency-key", "shared-key")
            .json(&json!({ "text": text }))
            .send()
    };
    let one = post(token("owner-1"), "one's").await.unwrap();
    let two = post(token("owner-2"), "two's").await.unwrap();
    assert_eq!(
        (one.status(), two.status()),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    let (one, two): (Value, Value) = (one.json().await.unwrap(), two.json().await.unwrap());
    assert_ne!(one["id"], two["id"]);
    // Each owner's retry replays its own answer.
    let again: Value = post(token("owner-2"), "two's")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again, two);
    app.stop().await;
}

/// The real binary takes keyed POSTs from 16 clients and gets `kill -9` mid-load, three
/// times; every client retries what was not acknowledged, with its key, against the restarted
/// service. Afterwards every note exists exactly once. (Without keys, one run of this kind
/// left a note stored twice.)
async fn every_note_exists_once_across_a_crash(backend: Backend) {
    const CLIENTS: usize = 16;
    const NOTES: usize = 480;
    let database = TestDatabase::new(backend).await;
    let start = || {
        let mut cmd = command(SERVICE, "test");
        // A short deadline: a request stuck behind the database is answered (503) soon.
        cmd.env("DATABASE_URL", &database.url)
            .env("APP__SERVER__REQUEST_TIMEOUT_SECONDS", "2");
        Service::start(cmd)
    };
    let pending: Arc<Mutex<VecDeque<usize>>> = Arc::new(Mutex::new((0..NOTES).collect()));
    let acknowledged: Arc<Mutex<HashMap<usize, i64>>> = Arc::default();
    let client = Client::new();
    for round in 0..4 {
        let service = start();
        let base = format!("http://127.0.0.1:{}", service.port);
        let crash = round < 3;
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (pending, acknowledged) = (pending.clone(), acknowledged.clone());
                let (client, base) = (client.clone(), base.clone());
                tokio::spawn(async move {
                    loop {
                        let Some(note) = pending.lock().unwrap().pop_front() else {
                            return;
                        };
                        let sent = client
                            .post(format!("{base}/notes"))
                            .header("idempotency-key", format!("crash-note-{note}"))
                            .json(&json!({ "text": format!("note {note}") }))
                            .send()
                            .await;
                        match sent {
                            Ok(response) if response.status() == StatusCode::CREATED => {
                                let body: Value = response.json().await.unwrap();
                                let id = body["id"].as_i64().unwrap();
                                let earlier = acknowledged.lock().unwrap().insert(note, id);
                                assert!(earlier.is_none_or(|e| e == id), "note {note}: {id}");
                            }
                            // The database busy: retried. (A request the crash cut off left
                            // nothing: its key is free at once, no 409 to wait out.)
                            Ok(response)
                                if response.status() == StatusCode::SERVICE_UNAVAILABLE =>
                            {
                                pending.lock().unwrap().push_back(note);
                                tokio::time::sleep(Duration::from_millis(200)).await;
                            }
                            Ok(response) => panic!("note {note}: {}", response.status()),
                            // The service is gone: the answer was lost; retry later.
                            Err(_) => {
                                pending.lock().unwrap().push_back(note);
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        if crash {
            let target = acknowledged.lock().unwrap().len() + NOTES / 8;
            while acknowledged.lock().unwrap().len() < target.min(NOTES) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // SAFETY: kill(2) on the child's pid.
            unsafe { libc::kill(service.pid() as i32, libc::SIGKILL) };
        }
        for client in clients {
            client.await.unwrap();
        }
        drop(service);
    }
    assert!(pending.lock().unwrap().is_empty());
    assert_eq!(acknowledged.lock().unwrap().len(), NOTES);

    // Every note exactly once, and each is the one its client was told about.
    let service = start();
    let base = format!("http://127.0.0.1:{}", service.port);
    let mut texts: HashMap<String, Vec<i64>> = HashMap::new();
    let mut next = Some("/notes?limit=1000".to_owned());
    while let Some(path) = next {
        let page = client.get(format!("{base}{path}")).send().await.unwrap();
        next = link_to(&page, "next");
        let list: Value = page.json().await.unwrap();
        for (note, id) in list.as_array().unwrap().iter().zip(ids(&list)) {
            let text = note["text"].as_str().unwrap().to_owned();
            texts.entry(text).or_default().push(id);
        }
    }
    assert_eq!(texts.len(), NOTES);
    for (note, id) in acknowledged.lock().unwrap().iter() {
        assert_eq!(
            texts[&format!("note {note}")],
            vec![*id],
            "note {note} exactly once"
        );
    }
}
