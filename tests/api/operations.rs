//! What operators and clients rely on around the API, on every backend: problem details for
//! routing errors (405 with `Allow`), health probes that tell the database's state, request
//! ids, the served OpenAPI document and Swagger UI.

use crate::common::{Backend, TestApp, problem};
use reqwest::{Method, header};
use serde_json::{Value, json};

backend_tests!(
    routing_errors_are_problems_with_allow,
    health_probes_report_database_state,
    request_id_is_echoed_or_generated,
);

/// GETs `path` with an `x-request-id` header; returns the id the response carries.
async fn request_id_answered(app: &TestApp, path: &str, id: &str) -> String {
    let response = app
        .client
        .get(app.url(path))
        .header("x-request-id", id)
        .send()
        .await
        .unwrap();
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn routing_errors_are_problems_with_allow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = problem(app.get("/nothing/here").await, 404).await;
    assert!(body["detail"].as_str().unwrap().contains("/nothing/here"));

    let cases = [
        (Method::DELETE, "/notes", "GET, POST"),
        (Method::PUT, "/notes/", "GET, POST"),
        (Method::POST, "/notes/1", "GET, PUT, PATCH, DELETE"),
        (Method::POST, "/health/live", "GET"),
    ];
    for (method, path, allow) in cases {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        let mut allowed: Vec<_> = response.headers()[header::ALLOW]
            .to_str()
            .unwrap()
            .split(", ")
            .map(str::to_owned)
            .collect();
        allowed.sort();
        let mut expected: Vec<_> = allow.split(", ").map(str::to_owned).collect();
        expected.sort();
        assert_eq!(allowed, expected, "{method} {path}");
        problem(response, 405).await;
    }
    app.stop().await;
}

async fn health_probes_report_database_state(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let live = app.get("/health/live").await;
    assert_eq!(live.status(), 200);
    assert_eq!(live.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 200);

    // Take the database away: readiness and data routes answer 503, liveness stays up,
    // and no driver text reaches the client.
    app.db.pool().close_by_ref().await.unwrap();
    let body = problem(app.get("/health/ready").await, 503).await;
    let list = problem(app.get("/notes").await, 503).await;
    for body in [&body, &list] {
        let text = body.to_string().to_lowercase();
        for leak in ["pool", "sqlx", "sql", "connection closed", "select"] {
            assert!(!text.contains(leak), "{leak:?} leaked: {text}");
        }
    }
    assert_eq!(app.get("/health/live").await.status(), 200);
    app.stop().await;
}

async fn request_id_is_echoed_or_generated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let generated = app.get("/notes").await;
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

    assert_eq!(
        request_id_answered(&app, "/notes", "abc-123").await,
        "abc-123"
    );
    // Errors carry it too.
    assert_eq!(
        request_id_answered(&app, "/missing", "err-1").await,
        "err-1"
    );
    // An unusable id (spaces, too long) is replaced, not echoed.
    for bad in ["has space", &"x".repeat(200)] {
        let id = request_id_answered(&app, "/notes", bad).await;
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "{bad:?} was replaced by {id}"
        );
    }
    app.stop().await;
}

/// A resource with the usual operations: list and create on its collection; read, replace,
/// change and delete on an item. Each resource is listed once in [`RESOURCES`].
struct Resource {
    collection: &'static str,
    item: &'static str,
    /// Its request body schemas (all closed: unknown fields are refused).
    bodies: &'static [&'static str],
    /// Methods that can also answer 409: they write a field that must be unique.
    conflicting: &'static [&'static str],
}

const RESOURCES: &[Resource] = &[Resource {
    collection: "/notes",
    item: "/notes/{id}",
    bodies: &["NewNote", "NoteReplacement", "NoteChanges"],
    conflicting: &[],
}];

impl Resource {
    /// Every operation's path, method and documented statuses, by the kind of operation.
    fn operations(&self) -> Vec<(String, &'static str, Vec<String>)> {
        let update = [200, 400, 404, 412, 413, 415, 422, 500, 503];
        let operations: [(&str, &str, &[u16]); 6] = [
            (self.collection, "get", &[200, 400, 500, 503]),
            (
                self.collection,
                "post",
                &[201, 400, 413, 415, 422, 500, 503],
            ),
            (self.item, "get", &[200, 304, 400, 404, 500, 503]),
            (self.item, "put", &update),
            (self.item, "patch", &update),
            (self.item, "delete", &[204, 400, 404, 412, 500, 503]),
        ];
        operations
            .into_iter()
            .map(|(path, method, statuses)| {
                let mut statuses = statuses.to_vec();
                if self.conflicting.contains(&method) {
                    statuses.push(409);
                    statuses.sort();
                }
                let statuses = statuses.iter().map(u16::to_string).collect();
                (path.to_owned(), method, statuses)
            })
            .collect()
    }
}

/// The statuses an operation documents, in the spec's order.
fn documented_statuses(spec: &Value, path: &str, method: &str) -> Vec<String> {
    spec["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is documented"))
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn served_spec_matches_the_checked_in_openapi_json() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let served: Value = app.get_json("/openapi.json").await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        let pretty = serde_json::to_string_pretty(&served).unwrap() + "\n";
        std::fs::write(&path, pretty).unwrap();
    }
    let checked_in: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
            .unwrap_or(Value::Null);
    assert!(
        served == checked_in,
        "the served spec differs from openapi.json: review the API change, then run \
         `UPDATE_OPENAPI=1 cargo test --test api operations::served_spec` and commit openapi.json"
    );
    // Each operation documents exactly the problems it can answer with.
    for resource in RESOURCES {
        for (path, method, statuses) in resource.operations() {
            assert_eq!(
                documented_statuses(&served, &path, method),
                statuses,
                "{method} {path}"
            );
        }
    }
    assert_eq!(documented_statuses(&served, "/health/live", "get"), ["200"]);
    assert_eq!(
        documented_statuses(&served, "/health/ready", "get"),
        ["200", "503"]
    );
    // Request bodies are closed: the service refuses fields it does not know.
    for schema in RESOURCES.iter().flat_map(|r| r.bodies) {
        assert_eq!(
            served["components"]["schemas"][schema]["additionalProperties"], false,
            "{schema}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for path in ["/docs", "/docs/"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("swagger"), "{path} serves Swagger UI");
    }
    app.stop().await;
}
