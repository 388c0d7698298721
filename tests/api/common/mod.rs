//! Test harness: start the real service on port 0 against a fresh database of a chosen
//! backend, and talk HTTP to it.
//!
//! Backends: SQLite (a temp file), PostgreSQL and MariaDB (one container per backend per test
//! binary, started by testcontainers, and a fresh database per test). Choose with
//! `NOTES_TEST_BACKENDS=sqlite,postgres,mariadb` (default: all). Images come from
//! `NOTES_TEST_POSTGRES_IMAGE` / `NOTES_TEST_MARIADB_IMAGE`; an existing server can be used
//! instead with `NOTES_TEST_POSTGRES_URL` / `NOTES_TEST_MARIADB_URL` (an admin URL).
//!
//! Identity: `oidc` runs a real OpenID Connect provider (Node.js) for tokens of real clients;
//! `tokens` signs tokens with test-only keys and serves them from a JWKS server of its own.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod containers;
pub mod oidc;
pub mod process;
pub mod proxy;
pub mod receiver;
pub mod resource;
pub mod tokens;

use std::{collections::HashMap, net::SocketAddr, path::PathBuf};

use migration::MigratorTrait as _;
use notes_service::{app::Application, config::Settings};
use reqwest::{Client, Response};
use serde_json::Value;
use tokio::{sync::oneshot, task::JoinHandle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MariaDb,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::MariaDb];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MariaDb => "mariadb",
        }
    }

    /// Fails the test unless `NOTES_TEST_BACKENDS` selects this backend. A test for a backend
    /// left out is not run at all: `scripts/test` skips it by name (`--skip postgres::`), so
    /// it is neither run nor counted as passed; run on its own, it fails and says so.
    pub fn require(self) {
        assert!(
            self.selected(),
            "{name} is not in NOTES_TEST_BACKENDS, so this {name} test must not run: \
             scripts/test skips it (cargo test ... -- --skip {name}::)",
            name = self.name()
        );
    }

    /// Whether `NOTES_TEST_BACKENDS` selects this backend (all are selected by default).
    pub fn selected(self) -> bool {
        let chosen = std::env::var("NOTES_TEST_BACKENDS").unwrap_or_default();
        let chosen = chosen.trim();
        if chosen.is_empty() || chosen == "all" {
            return true;
        }
        let names: Vec<_> = chosen.split(',').map(str::trim).collect();
        for name in &names {
            assert!(
                Backend::ALL.iter().any(|b| b.name() == *name),
                "NOTES_TEST_BACKENDS: unknown backend {name:?} (use sqlite, postgres, mariadb or all)"
            );
        }
        names.contains(&self.name())
    }
}

/// Generates one `#[tokio::test]` per backend for each listed `async fn name(Backend)`:
/// `sqlite::name`, `postgres::name`, `mariadb::name`; the backend is in the name so that
/// `scripts/test` can skip the backends `NOTES_TEST_BACKENDS` leaves out (`--skip
/// postgres::`). Names after `servers:` get the PostgreSQL and MariaDB tests only:
/// `backend_tests!(a, b; servers: c)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)? $(; servers: $($server:ident),* $(,)?)?) => {
        $crate::backend_tests!(@backend sqlite, Sqlite, $($name),*);
        $crate::backend_tests!(@backend postgres, Postgres, $($name,)* $($($server),*)?);
        $crate::backend_tests!(@backend mariadb, MariaDb, $($name,)* $($($server),*)?);
    };
    (@backend $module:ident, $variant:ident, $($name:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = $crate::common::Backend::$variant;
                    backend.require();
                    super::$name(backend).await;
                }
            )*
        }
    };
}

/// A fresh, empty database of one backend; dropped (SQLite: deleted) with the test.
pub struct TestDatabase {
    pub backend: Backend,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("create a temp dir");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("notes.db").display()
                );
                Self {
                    backend,
                    url,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres | Backend::MariaDb => Self {
                backend,
                url: containers::fresh_database(backend).await,
                _dir: None,
            },
        }
    }
}

/// The `migration` binary, built beside the service's (same target directory).
pub fn migration_bin() -> PathBuf {
    let service = std::path::Path::new(env!("CARGO_BIN_EXE_notes-service"));
    let bin = service.parent().expect("a bin dir").join("migration");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// The repository's `config/` directory: the tests load the real files.
pub fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// Settings of the `test` profile pointed at `database`, as the service would load them.
pub fn test_settings(database: &TestDatabase) -> Settings {
    let env = HashMap::from([("DATABASE_URL".to_owned(), database.url.clone())]);
    Settings::load_with_env(&config_dir(), "test", env).expect("the test profile loads")
}

/// A running service on 127.0.0.1:<free port>.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The separate metrics listener, when `metrics.address` is set.
    pub metrics_addr: Option<SocketAddr>,
    pub client: Client,
    pub database: TestDatabase,
    pub db: notes_service::db::Db,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts the service with settings adjusted by `adjust`.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Self {
        let database = TestDatabase::new(backend).await;
        let mut settings = test_settings(&database);
        adjust(&mut settings);
        Self::start(database, settings).await
    }

    pub async fn start(database: TestDatabase, settings: Settings) -> Self {
        let app = Application::build(settings)
            .await
            .expect("the service starts");
        let addr = app.local_addr();
        let metrics_addr = app.metrics_addr();
        let db = app.db().clone();
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            addr,
            metrics_addr,
            client: Client::new(),
            database,
            db,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET reaches the service")
    }

    /// GETs `path` and returns its JSON body, whatever the status.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.expect("a JSON body")
    }

    pub async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> Response {
        self.client
            .request(method, self.url(path))
            .json(body)
            .send()
            .await
            .expect("request reaches the service")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send_json(reqwest::Method::POST, path, body).await
    }

    /// Creates an item by POSTing `body` to `collection` (`/notes`); returns it, asserting
    /// a 201.
    pub async fn create(&self, collection: &str, body: &Value) -> Value {
        let response = self.post(collection, body).await;
        assert_eq!(response.status(), 201, "POST {collection} {body}");
        response.json().await.expect("a JSON item")
    }

    /// Stops the service gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("the server task ends");
        }
    }
}

/// The body of a problem response, after checking its content type and status field.
pub async fn problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("a JSON problem");
    assert_eq!(body["status"], status);
    for key in ["type", "title", "detail"] {
        assert!(body[key].is_string(), "problem has a string {key}: {body}");
    }
    body
}

/// The `field` names listed in a problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The migrations this build knows, oldest first: checks follow whatever a team adds.
pub fn migration_names() -> Vec<String> {
    migration::Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

/// The URL of the `Link` relation `rel`, as sent (relative to the service).
pub fn link_to(response: &reqwest::Response, rel: &str) -> Option<String> {
    let header = response
        .headers()
        .get(reqwest::header::LINK)?
        .to_str()
        .unwrap();
    header.split(", ").find_map(|link| {
        let (url, params) = link.split_once(">; ")?;
        (params == format!("rel=\"{rel}\"")).then(|| url.trim_start_matches('<').to_owned())
    })
}

/// Every item of a list, following `next` links from `first` (a path such as `/notes?limit=7`)
/// on the service at `base`.
pub async fn all_pages(client: &Client, base: &str, first: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(path) = next {
        let page = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(page.status(), 200, "GET {path}");
        next = link_to(&page, "next");
        items.extend(page.json::<Vec<Value>>().await.unwrap());
    }
    items
}

pub fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect()
}

/// `X-Total-Count`, when the response has one.
pub fn total(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get("x-total-count")
        .map(|v| v.to_str().unwrap().parse().unwrap())
}

/// How many items a list (`/notes?completed=true`) counts with `Prefer: count=exact`.
pub async fn counted(app: &TestApp, list: &str) -> u64 {
    let response = app
        .client
        .get(app.url(list))
        .header("prefer", "count=exact")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    total(&response).expect("X-Total-Count with Prefer: count=exact")
}
