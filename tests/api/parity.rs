//! One scripted session on every backend; the responses must be identical apart from ids
//! and times (which are checked for format, then replaced by placeholders).

use std::collections::HashMap;

use crate::common::{Backend, TestApp};
use reqwest::{Method, header};
use serde_json::{Value, json};

/// One step: method, path (`{n}` is the id of the n-th created note), raw JSON body, and a
/// `Prefer` header.
const SCRIPT: &[(&str, &str, Option<&str>, Option<&str>)] = &[
    (
        "POST",
        "/notes",
        Some(r#"{"text":"alpha","completed":false}"#),
        None,
    ),
    (
        "POST",
        "/notes/",
        Some(r#"{"text":"beta","completed":true}"#),
        None,
    ),
    (
        "POST",
        "/notes",
        Some(r#"{"text":"gamma 🦀 ünïcødé"}"#),
        None,
    ),
    ("GET", "/notes", None, None),
    ("GET", "/notes/", None, None),
    ("GET", "/notes?completed=true", None, None),
    ("GET", "/notes?completed=false&limit=1", None, None),
    ("GET", "/notes?limit=1&offset=1", None, None),
    ("GET", "/notes?offset=10", None, None),
    ("GET", "/notes?limit=1&after={1}", None, None),
    ("GET", "/notes?order=desc&limit=2", None, None),
    (
        "GET",
        "/notes?order=desc&after={2}&completed=false",
        None,
        None,
    ),
    ("GET", "/notes?completed=true", None, Some("count=exact")),
    ("GET", "/notes?offset=10001", None, None),
    ("GET", "/notes?offset=1&after={1}", None, None),
    ("GET", "/notes?after=x&order=up", None, None),
    ("PATCH", "/notes/{1}", Some(r#"{"completed":true}"#), None),
    ("PATCH", "/notes/{1}", Some(r#"{}"#), None),
    (
        "PUT",
        "/notes/{2}",
        Some(r#"{"text":"beta, replaced","completed":false}"#),
        None,
    ),
    ("GET", "/notes/{2}", None, None),
    ("DELETE", "/notes/{3}", None, None),
    ("GET", "/notes/{3}", None, None),
    ("DELETE", "/notes/{3}", None, None),
    (
        "PUT",
        "/notes/999999",
        Some(r#"{"text":"x","completed":true}"#),
        None,
    ),
    (
        "POST",
        "/notes",
        Some(r#"{"text":"","completed":"yes","id":5,"extra":1}"#),
        None,
    ),
    ("POST", "/notes", Some(r#"{"text":"#), None),
    ("PATCH", "/notes/{1}", Some(r#"{"text":null}"#), None),
    ("GET", "/notes?limit=0", None, None),
    ("GET", "/notes/abc", None, None),
    ("DELETE", "/notes", None, None),
    ("GET", "/notes", None, None),
];

/// Runs the script; returns one normalized line per step.
async fn transcript(backend: Backend) -> Vec<String> {
    let app = TestApp::spawn(backend).await;
    let mut created: Vec<i64> = Vec::new();
    let mut lines = Vec::new();
    for (method, path, body, prefer) in SCRIPT {
        let mut path = path.to_string();
        for (n, id) in created.iter().enumerate() {
            path = path.replace(&format!("{{{}}}", n + 1), &id.to_string());
        }
        let mut request = app
            .client
            .request(method.parse::<Method>().unwrap(), app.url(&path));
        if let Some(prefer) = prefer {
            request = request.header("prefer", *prefer);
        }
        if let Some(body) = body {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(*body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let keep = [
            "content-type",
            "x-total-count",
            "preference-applied",
            "etag",
            "link",
            "location",
            "allow",
        ];
        let headers: Vec<String> = keep
            .iter()
            .filter_map(|h| {
                response
                    .headers()
                    .get(*h)
                    .map(|v| format!("{h}={}", v.to_str().unwrap()))
            })
            .collect();
        let text = response.text().await.unwrap();
        let mut body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if *method == "POST" && status == 201 {
            created.push(body["id"].as_i64().unwrap());
        }
        let ids: HashMap<i64, usize> = created
            .iter()
            .enumerate()
            .map(|(n, id)| (*id, n + 1))
            .collect();
        normalize(&mut body, &ids);
        let mut line = format!(
            "{method} {} -> {status} {} {body}",
            placeholder_path(&path, &ids),
            headers.join(" ")
        );
        for (id, n) in &ids {
            line = line.replace(&format!("/notes/{id}"), &format!("/notes/#{n}"));
        }
        lines.push(line);
    }
    app.stop().await;
    lines
}

fn placeholder_path(path: &str, ids: &HashMap<i64, usize>) -> String {
    let mut path = path.to_owned();
    for (id, n) in ids {
        path = path.replace(&format!("/notes/{id}"), &format!("/notes/#{n}"));
    }
    path
}

/// Ids become `#n` (order of creation); timestamps, once checked, become `<time>`.
fn normalize(value: &mut Value, ids: &HashMap<i64, usize>) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| normalize(v, ids)),
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match key.as_str() {
                    "id" => {
                        let id = v.as_i64().expect("integer id");
                        *v = json!(format!("#{}", ids.get(&id).copied().unwrap_or(0)));
                    }
                    "created_at" | "updated_at" => {
                        let s = v.as_str().expect("timestamp string");
                        assert!(s.len() == 27 && s.ends_with('Z'), "UTC microseconds: {s}");
                        *v = json!("<time>");
                    }
                    _ => normalize(v, ids),
                }
            }
        }
        _ => {}
    }
}

// Named under both server backends, so that leaving out either skips it.
mod postgres {
    mod mariadb {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn every_backend_answers_the_same_session_identically() {
            super::super::every_backend_answers_the_same_session_identically().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgresql_scheme_is_the_same_as_postgres() {
        super::postgresql_scheme_is_the_same_as_postgres().await;
    }
}

async fn every_backend_answers_the_same_session_identically() {
    let backends = Backend::ALL;
    for backend in backends {
        backend.require();
    }
    let reference = transcript(backends[0]).await;
    assert_eq!(reference.len(), SCRIPT.len());
    for backend in &backends[1..] {
        let other = transcript(*backend).await;
        for (step, (a, b)) in reference.iter().zip(&other).enumerate() {
            assert_eq!(
                a,
                b,
                "step {step}: {} and {} differ",
                backends[0].name(),
                backend.name()
            );
        }
    }
}

async fn postgresql_scheme_is_the_same_as_postgres() {
    Backend::Postgres.require();
    let mut database = crate::common::TestDatabase::new(Backend::Postgres).await;
    database.url = database.url.replacen("postgres://", "postgresql://", 1);
    let settings = crate::common::test_settings(&database);
    assert!(settings.database.url.expose().starts_with("postgresql://"));
    let app = TestApp::start(database, settings).await;
    app.create("/notes", &json!({"text": "via postgresql://"}))
        .await;
    let list: Value = app.get_json("/notes").await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    app.stop().await;
}
