//! What operators and clients rely on around the API, on every backend: problem details for
//! routing errors (405 with `Allow`), health probes that tell the database's state, request
//! ids, the served OpenAPI document and Swagger UI.

use crate::common::{Backend, TestApp, problem, resource::TestedResource};
use reqwest::{Method, header};
use serde_json::{Value, json};

backend_tests!(
    routing_errors_are_problems_with_allow,
    health_probes_report_database_state,
    request_id_is_echoed_or_generated;
    servers: the_pool_is_full_before_the_service_listens,
);

/// A server backend's pool holds `database.min_connections` (by default all 10) before the
/// service listens, so the first requests do not wait for connections; readiness says so.
async fn the_pool_is_full_before_the_service_listens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pool = app.db.pool_stats().expect("an sqlx pool");
    assert_eq!((pool.size, pool.max), (10, 10), "{pool:?}");
    assert_eq!(app.get("/health/ready").await.status(), 200);
    app.stop().await;
}

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

/// An operation as the spec must document it.
struct Operation {
    path: &'static str,
    method: &'static str,
    /// With authentication on; it off removes 401 and 403.
    statuses: Vec<u16>,
    scope: &'static str,
}

/// Every operation of a resource with the usual ones (list and create on its collection;
/// read, replace, change and delete on an item), with the statuses of its kind and its scope.
fn operations(resource: &TestedResource) -> Vec<Operation> {
    let update = [200, 400, 404, 412, 413, 415, 422, 500, 503];
    let operations: [(&str, &str, &[u16]); 6] = [
        (resource.collection, "get", &[200, 400, 500, 503]),
        (
            resource.collection,
            "post",
            &[201, 400, 413, 415, 422, 500, 503],
        ),
        (resource.item, "get", &[200, 304, 400, 404, 500, 503]),
        (resource.item, "put", &update),
        (resource.item, "patch", &update),
        (resource.item, "delete", &[204, 400, 404, 412, 500, 503]),
    ];
    operations
        .into_iter()
        .map(|(path, method, statuses)| {
            let mut statuses = statuses.to_vec();
            statuses.extend([401, 403]);
            if resource.conflicting.contains(&method)
                || resource.keyed.contains(&method)
                || resource.referenced.contains(&method)
            {
                statuses.push(409);
            }
            statuses.sort();
            let scope = match method {
                "get" => resource.read_scope,
                _ => resource.write_scope,
            };
            Operation {
                path,
                method,
                statuses,
                scope,
            }
        })
        .collect()
}

/// The statuses an operation documents.
fn documented_statuses(spec: &Value, path: &str, method: &str) -> Vec<u16> {
    let mut statuses: Vec<u16> = spec["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is documented"))
        .keys()
        .map(|status| status.parse().unwrap())
        .collect();
    statuses.sort();
    statuses
}

/// The issuer and audience `openapi.json` is rendered for: the document with authentication
/// on is the API's full contract.
const EXAMPLE_ISSUER: &str = "https://id.example.com/realms/notes";
const EXAMPLE_AUDIENCE: &str = "notes-api";

fn checked_in_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json")
}

fn checked_in() -> Value {
    serde_json::from_str(&std::fs::read_to_string(checked_in_path()).unwrap_or_default())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn served_spec_matches_the_checked_in_openapi_json() {
    // The provider is not reachable: the service starts anyway, and its document does not
    // depend on the provider.
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.auth.issuer = EXAMPLE_ISSUER.to_owned();
        settings.auth.audience = EXAMPLE_AUDIENCE.to_owned();
    })
    .await;
    let served: Value = app.get_json("/openapi.json").await;
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        let pretty = serde_json::to_string_pretty(&served).unwrap() + "\n";
        std::fs::write(checked_in_path(), pretty).unwrap();
    }
    assert!(
        served == checked_in(),
        "the served spec differs from openapi.json: review the API change, then run \
         `UPDATE_OPENAPI=1 NOTES_TEST_BACKENDS=sqlite scripts/test --test api operations::served_spec` and commit openapi.json"
    );
    // Each operation documents exactly the problems it can answer with, and its scope.
    for resource in crate::RESOURCES {
        for operation in operations(resource) {
            let (path, method) = (operation.path, operation.method);
            assert_eq!(
                documented_statuses(&served, path, method),
                operation.statuses,
                "{method} {path}"
            );
            let parameters = served["paths"][path][method]["parameters"].as_array();
            let key = parameters
                .into_iter()
                .flatten()
                .find(|p| p["name"] == "Idempotency-Key");
            assert_eq!(
                key.is_some(),
                resource.keyed.contains(&method),
                "{method} {path}: Idempotency-Key"
            );
            assert_eq!(
                served["paths"][path][method]["security"],
                json!([{"openIdConnect": [operation.scope]}, {"bearerToken": []}]),
                "{method} {path}"
            );
        }
    }
    let discovery = format!("{EXAMPLE_ISSUER}/.well-known/openid-configuration");
    assert_eq!(
        served["components"]["securitySchemes"]["openIdConnect"]["openIdConnectUrl"],
        discovery
    );
    assert_eq!(
        served["components"]["securitySchemes"]["bearerToken"]["scheme"],
        "bearer"
    );
    // The probes need no token.
    assert_eq!(documented_statuses(&served, "/health/live", "get"), [200]);
    assert_eq!(
        documented_statuses(&served, "/health/ready", "get"),
        [200, 503]
    );
    assert!(served["paths"]["/health/ready"]["get"]["security"].is_null());
    // Request bodies are closed: the service refuses fields it does not know.
    for schema in crate::RESOURCES.iter().flat_map(|r| r.bodies) {
        assert_eq!(
            served["components"]["schemas"][schema]["additionalProperties"], false,
            "{schema}"
        );
    }
    app.stop().await;
}

/// `openapi.json` without what authentication adds: the security schemes, each
/// operation's security requirement, and its 401 and 403 answers.
fn without_authentication(mut spec: Value) -> Value {
    if let Some(components) = spec["components"].as_object_mut() {
        components.remove("securitySchemes");
    }
    for operation in spec["paths"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .flat_map(|path| path.as_object_mut().unwrap().values_mut())
    {
        let operation = operation.as_object_mut().unwrap();
        if operation.remove("security").is_some() {
            let responses = operation["responses"].as_object_mut().unwrap();
            responses.remove("401");
            responses.remove("403");
        }
    }
    spec
}

#[tokio::test]
async fn with_authentication_off_the_spec_requires_no_token() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let served: Value = app.get_json("/openapi.json").await;
    assert!(
        served == without_authentication(checked_in()),
        "with authentication off, the served spec is openapi.json without its security: {served}"
    );
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
