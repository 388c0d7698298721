//! The notes resource over HTTP, on every backend: create, read, replace, change and
//! delete, the seed tutorial's routes, the text rules, timestamps and 64-bit ids, and many
//! writers at once.

use crate::common::{
    Backend, TestApp, counted, error_fields, ids, problem,
    resource::{Shape, TestedResource, owners, pages},
};
use notes_service::notes::store;
use reqwest::{Method, header};
use serde_json::{Value, json};

/// The notes resource, for the suites that cover every resource.
pub const RESOURCE: TestedResource = TestedResource {
    collection: "/notes",
    item: "/notes/{id}",
    bodies: &["NewNote", "NoteReplacement", "NoteChanges"],
    conflicting: &[],
    keyed: &["post", "patch"],
    // Nothing references notes in the shipped schema.
    referenced: &[],
    read_scope: "notes:read",
    write_scope: "notes:write",
    list_shapes,
};

/// Every list query shape: each owner scope, filter and page.
fn list_shapes() -> Vec<Shape> {
    let mut shapes = Vec::new();
    for owner in owners() {
        for completed in [None, Some(true), Some(false)] {
            for page in pages() {
                let query = store::list_query(&owner, store::NoteFilter { completed }, page);
                let label = format!("{owner:?} completed={completed:?} {page:?}");
                shapes.push(Shape::new("notes", label, query));
            }
        }
    }
    shapes
}

backend_tests!(
    create_answers_201_with_location_and_the_note,
    seed_routes_work_with_and_without_trailing_slash,
    get_replace_patch_delete_round_trip,
    missing_notes_are_404_problems,
    text_length_limit_is_in_characters,
    text_round_trips_unicode_exactly,
    timestamps_are_utc_microseconds_and_updated_on_change,
    concurrent_writers_and_readers_all_succeed,
    ids_are_64_bit,
);

/// A note's JSON body.
pub fn note_json(text: &str, completed: bool) -> Value {
    json!({"text": text, "completed": completed})
}

fn is_utc_micros(value: &Value) -> bool {
    let s = value.as_str().unwrap_or_default();
    // 2026-11-24T16:24:34.123456Z
    s.len() == 27
        && s.ends_with('Z')
        && s.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

async fn create_answers_201_with_location_and_the_note(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.post("/notes", &note_json("buy milk", false)).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let note: Value = response.json().await.unwrap();
    assert_eq!(note["text"], "buy milk");
    assert_eq!(note["completed"], false);
    let id = note["id"].as_i64().expect("an integer id");
    assert_eq!(location, format!("/notes/{id}"));
    let fetched: Value = app.get_json(&location).await;
    assert_eq!(fetched, note);

    // `completed` may be left out on create; it defaults to false.
    let response = app.post("/notes", &json!({"text": "call mum"})).await;
    assert_eq!(response.status(), 201);
    let note: Value = response.json().await.unwrap();
    assert_eq!(note["completed"], false);
    app.stop().await;
}

async fn seed_routes_work_with_and_without_trailing_slash(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // As in FastAPI's tutorial: POST /notes/ and GET /notes/ with a bare array.
    let created = app.post("/notes/", &note_json("seed", true)).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    for path in ["/notes/", "/notes"] {
        let response = app.get(path).await;
        assert_eq!(
            response.status(),
            200,
            "GET {path} answers directly, no redirect"
        );
        let list: Value = response.json().await.unwrap();
        assert_eq!(list, json!([created.clone()]), "GET {path} is a bare array");
    }
    let id = created["id"].as_i64().unwrap();
    let response = app.get(&format!("/notes/{id}/")).await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

async fn get_replace_patch_delete_round_trip(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let note = app.create("/notes", &json!({"text": "draft"})).await;
    let path = format!("/notes/{}", note["id"]);

    let replaced = app
        .send_json(Method::PUT, &path, &note_json("final", true))
        .await;
    assert_eq!(replaced.status(), 200);
    let replaced: Value = replaced.json().await.unwrap();
    assert_eq!(
        (replaced["text"].as_str(), replaced["completed"].as_bool()),
        (Some("final"), Some(true))
    );
    assert_eq!(replaced["id"], note["id"]);
    assert_eq!(replaced["created_at"], note["created_at"]);

    let patched = app
        .send_json(Method::PATCH, &path, &json!({"completed": false}))
        .await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        patched["text"], "final",
        "PATCH keeps fields it was not given"
    );
    assert_eq!(patched["completed"], false);

    let unchanged = app.send_json(Method::PATCH, &path, &json!({})).await;
    assert_eq!(unchanged.status(), 200);
    assert_eq!(
        unchanged.json::<Value>().await.unwrap(),
        patched,
        "an empty PATCH changes nothing"
    );

    assert_eq!(app.get_json(&path).await, patched);

    let deleted = app.client.delete(app.url(&path)).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(deleted.text().await.unwrap(), "");
    problem(app.get(&path).await, 404).await;
    let list: Value = app.get_json("/notes").await;
    assert_eq!(list, json!([]));
    app.stop().await;
}

async fn missing_notes_are_404_problems(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = problem(app.get("/notes/4242").await, 404).await;
    assert_eq!(body["type"], "urn:notes-service:problem:note-not-found");
    assert!(body["detail"].as_str().unwrap().contains("4242"));
    problem(
        app.send_json(Method::PUT, "/notes/4242", &note_json("x", true))
            .await,
        404,
    )
    .await;
    problem(
        app.send_json(Method::PATCH, "/notes/4242", &json!({"text": "x"}))
            .await,
        404,
    )
    .await;
    problem(
        app.send_json(Method::PATCH, "/notes/4242", &json!({}))
            .await,
        404,
    )
    .await;
    problem(
        app.client
            .delete(app.url("/notes/4242"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    // An id that is not an integer names the parameter.
    let body = problem(app.get("/notes/abc").await, 400).await;
    assert_eq!(error_fields(&body), ["id"]);
    app.stop().await;
}

async fn text_length_limit_is_in_characters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // 10000 four-byte characters: at the limit, and 40000 bytes of UTF-8.
    let longest = "🦀".repeat(10_000);
    let note = app.create("/notes", &json!({"text": longest})).await;
    assert_eq!(note["text"], longest);
    let stored: Value = app.get_json(&format!("/notes/{}", note["id"])).await;
    assert_eq!(stored["text"], longest);
    let too_long = app
        .post("/notes", &note_json(&"a".repeat(10_001), false))
        .await;
    let body = problem(too_long, 422).await;
    assert_eq!(error_fields(&body), ["text"]);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("10000")
    );
    app.stop().await;
}

async fn text_round_trips_unicode_exactly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for text in [
        "plain",
        "  padded  ",
        "line\nbreak\ttab",
        "ünïcødé — “quotes” 日本語 🦀👩‍👩‍👧",
        "'; DROP TABLE notes; --",
        "back\\slash and \"quotes\" and %_ wildcards",
    ] {
        let note = app.create("/notes", &json!({"text": text})).await;
        let stored: Value = app.get_json(&format!("/notes/{}", note["id"])).await;
        assert_eq!(stored["text"], text);
    }
    app.stop().await;
}

async fn timestamps_are_utc_microseconds_and_updated_on_change(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = chrono::Utc::now();
    let note = app.create("/notes", &json!({"text": "time"})).await;
    assert!(is_utc_micros(&note["created_at"]), "{}", note["created_at"]);
    assert_eq!(note["created_at"], note["updated_at"]);
    let created: chrono::DateTime<chrono::Utc> =
        note["created_at"].as_str().unwrap().parse().unwrap();
    assert!(created >= before - chrono::Duration::seconds(1));

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let path = format!("/notes/{}", note["id"]);
    let patched: Value = app
        .send_json(Method::PATCH, &path, &json!({"completed": true}))
        .await
        .json()
        .await
        .unwrap();
    assert!(is_utc_micros(&patched["updated_at"]));
    assert_eq!(patched["created_at"], note["created_at"]);
    assert!(patched["updated_at"].as_str() > note["updated_at"].as_str());
    // What is read back equals what the write returned, to the microsecond.
    assert_eq!(app.get_json(&path).await, patched);
    app.stop().await;
}

async fn concurrent_writers_and_readers_all_succeed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let client = app.client.clone();
        let base = app.url("");
        tasks.push(tokio::spawn(async move {
            let response = if i % 4 == 3 {
                client.get(format!("{base}/notes")).send().await.unwrap()
            } else {
                client
                    .post(format!("{base}/notes"))
                    .json(&note_json(&format!("concurrent {i}"), false))
                    .send()
                    .await
                    .unwrap()
            };
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }));
    }
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert!(status == 200 || status == 201, "{status}: {body}");
    }
    assert_eq!(counted(&app, "/notes").await, 48);
    let all = app.get("/notes?limit=1000").await;
    let mut seen = ids(&all.json().await.unwrap());
    seen.dedup();
    assert_eq!(seen.len(), 48, "every write got its own id");
    app.stop().await;
}

async fn ids_are_64_bit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let big = i64::from(i32::MAX) + 10;
    problem(app.get(&format!("/notes/{big}")).await, 404).await;
    problem(app.get(&format!("/notes/{}", i64::MAX)).await, 404).await;
    let body = problem(app.get("/notes/9223372036854775808").await, 400).await;
    assert_eq!(error_fields(&body), ["id"]);
    app.stop().await;
}
