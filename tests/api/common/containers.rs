//! PostgreSQL and MariaDB servers for the tests: one container per backend per test binary,
//! started by testcontainers on first use and removed when the binary exits; each test gets a
//! fresh database on it.

use std::{
    sync::{LazyLock, Mutex, Once},
    time::Duration,
};

use sea_orm::{ConnectionTrait, Database};
use testcontainers_modules::{
    mariadb::Mariadb,
    postgres::Postgres,
    testcontainers::{ContainerAsync, Image, ImageExt, runners::AsyncRunner},
};
use tokio::sync::OnceCell;

use super::Backend;

/// Containers live on this runtime, not on a test's own (which ends with the test).
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime for the test containers")
});

enum Running {
    Postgres(ContainerAsync<Postgres>),
    MariaDb(ContainerAsync<Mariadb>),
}

static RUNNING: Mutex<Vec<Running>> = Mutex::new(Vec::new());
static POSTGRES: OnceCell<Result<String, String>> = OnceCell::const_new();
static MARIADB: OnceCell<Result<String, String>> = OnceCell::const_new();
static CLEANUP: Once = Once::new();

extern "C" fn remove_containers() {
    let running = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(|e| e.into_inner()));
    RUNTIME.block_on(async {
        for container in running {
            let _ = match container {
                Running::Postgres(c) => c.rm().await,
                Running::MariaDb(c) => c.rm().await,
            };
        }
    });
}

/// `name:tag` from an env var, else the official image.
fn image_name(var: &str, default: &str) -> (String, String) {
    let reference = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_owned(), tag.to_owned()),
        _ => (reference, "latest".to_owned()),
    }
}

fn how_to_skip(backend: Backend) -> String {
    let var = match backend {
        Backend::Postgres => "NOTES_TEST_POSTGRES_URL",
        _ => "NOTES_TEST_MARIADB_URL",
    };
    format!(
        "The {name} tests need Docker (or an existing server). Start Docker, or run without \
         {name}: NOTES_TEST_BACKENDS=sqlite cargo test --workspace, or point {var} at a server \
         whose user may create databases.",
        name = backend.name()
    )
}

/// The admin URL of the server for `backend`, starting its container on first use.
async fn server(backend: Backend) -> String {
    let cell = match backend {
        Backend::Postgres => &POSTGRES,
        Backend::MariaDb => &MARIADB,
        Backend::Sqlite => unreachable!("SQLite needs no server"),
    };
    let result = cell
        .get_or_init(|| async move {
            let existing = match backend {
                Backend::Postgres => std::env::var("NOTES_TEST_POSTGRES_URL"),
                _ => std::env::var("NOTES_TEST_MARIADB_URL"),
            };
            if let Ok(url) = existing {
                return Ok(url);
            }
            let started = RUNTIME.spawn(start_container(backend)).await;
            started.map_err(|e| e.to_string()).and_then(|r| r)
        })
        .await;
    match result {
        Ok(url) => url.clone(),
        Err(err) => panic!("{err}\n{}", how_to_skip(backend)),
    }
}

async fn start_container(backend: Backend) -> Result<String, String> {
    CLEANUP.call_once(|| {
        // Safety: registers a plain function; it runs once, at process exit.
        unsafe { libc::atexit(remove_containers) };
    });
    let (running, url) = match backend {
        Backend::Postgres => {
            // Room for every test's pool at once (the default is 100).
            let (container, port) = start_image(
                Postgres::default(),
                ["-c", "fsync=off", "-c", "max_connections=500"],
                "NOTES_TEST_POSTGRES_IMAGE",
                "postgres:17-alpine",
                5432,
            )
            .await?;
            let url = format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres");
            (Running::Postgres(container), url)
        }
        _ => {
            let (container, port) = start_image(
                Mariadb::default(),
                ["--max-connections=500"],
                "NOTES_TEST_MARIADB_IMAGE",
                "mariadb:11",
                3306,
            )
            .await?;
            (
                Running::MariaDb(container),
                format!("mysql://root@127.0.0.1:{port}/test"),
            )
        }
    };
    RUNNING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(running);
    Ok(url)
}

/// Starts `image` under the name in env var `var` (else `default`) with arguments `cmd`;
/// returns the container and the host port mapped to `port`.
async fn start_image<I: Image>(
    image: I,
    cmd: impl IntoIterator<Item = &'static str>,
    var: &str,
    default: &str,
    port: u16,
) -> Result<(ContainerAsync<I>, u16), String> {
    let (name, tag) = image_name(var, default);
    let container = image
        .with_name(&name)
        .with_tag(&tag)
        .with_cmd(cmd)
        .with_startup_timeout(Duration::from_secs(120))
        .start()
        .await
        .map_err(|e| format!("cannot start {name}:{tag} with testcontainers: {e}"))?;
    let host_port = container
        .get_host_port_ipv4(port)
        .await
        .map_err(|e| e.to_string())?;
    Ok((container, host_port))
}

/// Creates an empty database on the backend's server and returns its URL.
pub async fn fresh_database(backend: Backend) -> String {
    let admin_url = server(backend).await;
    let name = format!("notes_test_{}", uuid::Uuid::new_v4().simple());
    // A server that just printed "ready" may still reset the first connections: retry briefly.
    let mut attempt = 0;
    let admin = loop {
        match Database::connect(&admin_url).await {
            Ok(db) => break db,
            Err(err) if attempt < 50 => {
                attempt += 1;
                let _ = err;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => panic!("cannot connect to the {} server: {err}", backend.name()),
        }
    };
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE on {}: {e}", backend.name()));
    let _ = admin.close().await;
    let mut url = url::Url::parse(&admin_url).expect("a valid admin URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}
