//! The service behind PgBouncer in transaction pooling, which hands each transaction
//! whichever server connection is free:
//! - Debian bookworm's PgBouncer 1.18 cannot carry named prepared statements: with
//!   `database.transaction_pooling = true`, creates, reads, conditional updates, deletes and
//!   keyset pagination all work under concurrent load, through fewer server connections than
//!   the service has client connections; without it the service cannot even connect
//!   (PgBouncer refuses sqlx's startup parameters).
//! - PgBouncer 1.24 (Debian trixie, in a container) with `max_prepared_statements` tracks
//!   them: the same checks pass with the setting off, sqlx's statement cache in use.
//!
//! Needs the `pgbouncer` binary (Debian: `apt-get install pgbouncer`; `scripts/test` installs
//! it) or `NOTES_TEST_PGBOUNCER=/path/to/pgbouncer`, the image in `NOTES_TEST_PGBOUNCER_IMAGE`
//! (`scripts/test` builds it: `.ci/registryless/docker-setup.sh pgbouncer`), and the
//! PostgreSQL backend.

use std::{
    net::TcpListener,
    os::unix::fs::PermissionsExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::common::{
    Backend, TestDatabase, all_pages, migration_bin,
    process::{SERVICE, Service, command, run},
};
use reqwest::Client;
use serde_json::{Value, json};
use testcontainers_modules::testcontainers::{
    ContainerAsync, GenericImage, ImageExt, runners::AsyncRunner,
};

const WRITERS: usize = 8;
const NOTES_PER_WRITER: usize = 6;

fn pgbouncer_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NOTES_TEST_PGBOUNCER") {
        return path.into();
    }
    for candidate in ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"] {
        if std::path::Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    panic!(
        "the PgBouncer test needs the pgbouncer binary: on Debian/Ubuntu `apt-get install \
         pgbouncer` (scripts/test installs it), or set NOTES_TEST_PGBOUNCER. To run without \
         PostgreSQL: NOTES_TEST_BACKENDS=sqlite,mariadb"
    );
}

/// A PgBouncer in transaction mode in front of the database at `url`; killed on drop.
struct PgBouncer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PgBouncer {
    fn start(url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // PgBouncer drops root for `nobody` (below), which must read these files.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = free_port();
        let users = dir.path().join("users.txt");
        std::fs::write(&users, "\"notes\" \"\"\n").unwrap();
        let config = dir.path().join("pgbouncer.ini");
        // Clients log in as `notes` without a password (loopback only); PgBouncer logs in to
        // PostgreSQL with the real credentials. Three server connections for the service's
        // eight client connections: transactions really move between server connections.
        // The reset query drops the statements a transaction prepared when it ends.
        std::fs::write(
            &config,
            format!(
                "[databases]\n\
                 {databases}\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 auth_type = trust\n\
                 auth_file = {users}\n\
                 pool_mode = transaction\n\
                 default_pool_size = 3\n\
                 max_client_conn = 100\n\
                 server_reset_query = DEALLOCATE ALL\n\
                 server_reset_query_always = 1\n",
                databases = databases_line(url),
                users = users.display(),
            ),
        )
        .unwrap();
        for file in [&users, &config] {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let mut cmd = Command::new(pgbouncer_binary());
        // PgBouncer refuses to run as root.
        if unsafe { libc::geteuid() } == 0 {
            cmd.args(["-u", "nobody"]);
        }
        let child = cmd
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "pgbouncer is not listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }
}

/// `url`'s database, through a PgBouncer listening on `port` that lets `notes` in without a
/// password.
fn url_through(port: u16, url: &str) -> String {
    let mut url = url::Url::parse(url).unwrap();
    url.set_port(Some(port)).unwrap();
    url.set_username("notes").unwrap();
    url.set_password(None).unwrap();
    url.to_string()
}

/// The `[databases]` line that sends every database to `url`'s server with its credentials.
fn databases_line(url: &str) -> String {
    let server = url::Url::parse(url).unwrap();
    format!(
        "* = host={host} port={port} user={user} password={password}",
        host = server.host_str().unwrap(),
        port = server.port().unwrap(),
        user = server.username(),
        password = server.password().unwrap_or_default(),
    )
}

/// PgBouncer 1.24 from `NOTES_TEST_PGBOUNCER_IMAGE`, in transaction mode with prepared
/// statement tracking, in front of the database at `url`; removed on drop. It shares the
/// host's network, so it reaches the test PostgreSQL at the published port `url` names.
struct PgBouncerContainer {
    _container: ContainerAsync<GenericImage>,
    port: u16,
}

impl PgBouncerContainer {
    async fn start(url: &str) -> Self {
        let reference = std::env::var("NOTES_TEST_PGBOUNCER_IMAGE").unwrap_or_else(|_| {
            panic!(
                "the PgBouncer 1.24 test needs NOTES_TEST_PGBOUNCER_IMAGE: scripts/test builds \
                 and sets it (.ci/registryless/docker-setup.sh pgbouncer). To run without \
                 PostgreSQL: NOTES_TEST_BACKENDS=sqlite,mariadb"
            )
        });
        // A colon after the last slash is a tag; before it, a registry's port.
        let (name, tag) = match reference.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, tag),
            _ => (reference.as_str(), "latest"),
        };
        let port = free_port();
        // As the 1.18 test: 3 server connections for the service's 8. Statements stay
        // prepared on the server connections (no reset query); PgBouncer prepares each on
        // whichever connection a client's Bind reaches. PgBouncer refuses sqlx's startup
        // parameters `extra_float_digits` and `options` (the service's `statement_timeout`)
        // unless ignored. Tracking `statement_timeout` instead (`track_extra_parameters`) was
        // accepted but never applied (SHOW statement_timeout gave 0): it goes on the role.
        let ini = format!(
            "[databases]\n\
             {databases}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = /etc/pgbouncer/userlist.txt\n\
             pool_mode = transaction\n\
             max_prepared_statements = 200\n\
             ignore_startup_parameters = extra_float_digits, options\n\
             default_pool_size = 3\n\
             max_client_conn = 100\n",
            databases = databases_line(url),
        );
        let container = GenericImage::new(name, tag)
            .with_network("host")
            .with_env_var("PGBOUNCER_INI", ini)
            .with_env_var("PGBOUNCER_USERLIST", "\"notes\" \"\"")
            .start()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {reference} ({e}): build it with \
                     .ci/registryless/docker-setup.sh pgbouncer (scripts/test does)"
                )
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "pgbouncer 1.24 is not listening");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            _container: container,
            port,
        }
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn through(port: u16, db: &TestDatabase, transaction_pooling: bool) -> Command {
    let mut cmd = command(SERVICE, "test");
    cmd.env("DATABASE_URL", url_through(port, &db.url))
        .env("APP__DATABASE__AUTO_MIGRATE", "false")
        .env("APP__DATABASE__MAX_CONNECTIONS", "8")
        .env(
            "APP__DATABASE__TRANSACTION_POOLING",
            transaction_pooling.to_string(),
        );
    cmd
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn crud_and_pagination_through_pgbouncer_in_transaction_mode() {
        super::crud_and_pagination_through_pgbouncer_in_transaction_mode().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn prepared_statements_through_pgbouncer_1_24_in_transaction_mode() {
        super::prepared_statements_through_pgbouncer_1_24_in_transaction_mode().await;
    }
}

/// A fresh PostgreSQL database, migrated.
async fn migrated_database() -> TestDatabase {
    Backend::Postgres.require();
    let db = TestDatabase::new(Backend::Postgres).await;
    // Migrations go to PostgreSQL itself: their lock belongs to one session.
    let (status, text) = run(command(migration_bin(), "production")
        .env("DATABASE_URL", &db.url)
        .arg("up"));
    assert!(status.success(), "{text}");
    db
}

async fn crud_and_pagination_through_pgbouncer_in_transaction_mode() {
    let db = migrated_database().await;
    let bouncer = PgBouncer::start(&db.url);

    // Without the setting: PgBouncer 1.18 refuses the connection outright.
    let (status, text) = run(&mut through(bouncer.port, &db, false));
    assert!(!status.success(), "{text}");
    assert!(text.contains("unsupported startup parameter"), "{text}");

    let service = Service::start(through(bouncer.port, &db, true));
    crud_and_pagination(&service).await;
}

async fn prepared_statements_through_pgbouncer_1_24_in_transaction_mode() {
    let db = migrated_database().await;
    let bouncer = PgBouncerContainer::start(&db.url).await;
    let service = Service::start(through(bouncer.port, &db, false));
    crud_and_pagination(&service).await;
}

/// Concurrent creates and reads, keyset pages, `If-Match` updates and deletes through
/// `service`, whose 8 connections share PgBouncer's 3.
async fn crud_and_pagination(service: &Service) {
    let base = format!("http://127.0.0.1:{}", service.port);
    let client = Client::new();

    // Concurrent creates, each read back at once (often on another server connection).
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for n in 0..NOTES_PER_WRITER {
                    let text = format!("w{writer} n{n}");
                    let created = client
                        .post(format!("{base}/notes"))
                        .json(&json!({"text": text, "completed": n % 2 == 0}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
                    let note: Value = created.json().await.unwrap();
                    let id = note["id"].as_i64().unwrap();
                    let read = client
                        .get(format!("{base}/notes/{id}"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(read.status(), 200);
                    assert_eq!(read.json::<Value>().await.unwrap()["text"], text.as_str());
                    ids.push(id);
                }
                ids
            })
        })
        .collect();
    let mut ids = Vec::new();
    for writer in writers {
        ids.extend(writer.await.unwrap());
    }
    ids.sort_unstable();
    let total = WRITERS * NOTES_PER_WRITER;
    assert_eq!(ids.len(), total);

    // Keyset pagination, both ways and filtered, while other requests run beside it.
    let listers: Vec<_> = (0..4)
        .map(|_| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move { all_pages(&client, &base, "/notes?limit=7").await })
        })
        .collect();
    for lister in listers {
        assert_eq!(crate::common::ids(&Value::from(lister.await.unwrap())), ids);
    }
    let newest_first = all_pages(&client, &base, "/notes?limit=5&order=desc").await;
    let mut reversed = ids.clone();
    reversed.reverse();
    assert_eq!(crate::common::ids(&Value::from(newest_first)), reversed);
    let completed = all_pages(&client, &base, "/notes?limit=4&completed=true").await;
    assert_eq!(completed.len(), total / 2);
    assert!(completed.iter().all(|n| n["completed"] == true));

    // Conditional updates (a transaction each), concurrently on different notes.
    let updaters: Vec<_> = ids
        .iter()
        .take(16)
        .map(|&id| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let url = format!("{base}/notes/{id}");
                let read = client.get(&url).send().await.unwrap();
                let etag = read.headers()["etag"].to_str().unwrap().to_owned();
                let patched = client
                    .patch(&url)
                    .header("if-match", &etag)
                    .json(&json!({"text": format!("patched {id}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(patched.status(), 200);
                // The old ETag no longer matches.
                let stale = client
                    .put(&url)
                    .header("if-match", &etag)
                    .json(&json!({"text": "stale", "completed": true}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(stale.status(), 412);
            })
        })
        .collect();
    for updater in updaters {
        updater.await.unwrap();
    }
    let note: Value = client
        .get(format!("{base}/notes/{}", ids[3]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(note["text"], format!("patched {}", ids[3]));

    // Deletes.
    for &id in &ids[..10] {
        let deleted = client
            .delete(format!("{base}/notes/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        let gone = client
            .get(format!("{base}/notes/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), 404);
    }
    let left = all_pages(&client, &base, "/notes?limit=9").await;
    assert_eq!(crate::common::ids(&Value::from(left)), ids[10..]);
    let ready = client
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[test]
fn transaction_pooling_is_refused_where_it_cannot_work() {
    let load = |vars: &[(&str, &str)]| {
        let env = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        notes_service::config::Settings::load_with_env(
            &crate::common::config_dir(),
            "production",
            env,
        )
    };
    let pooled = ("APP__DATABASE__TRANSACTION_POOLING", "true");
    let on_sqlite = load(&[pooled]).unwrap_err().to_string();
    assert!(
        on_sqlite.contains("database.transaction_pooling") && on_sqlite.contains("postgres:"),
        "{on_sqlite}"
    );
    let postgres = ("DATABASE_URL", "postgres://notes@127.0.0.1:6432/notes");
    let migrating = load(&[pooled, postgres, ("APP__DATABASE__AUTO_MIGRATE", "true")])
        .unwrap_err()
        .to_string();
    assert!(
        migrating.contains("database.auto_migrate") && migrating.contains("migration up"),
        "{migrating}"
    );
    assert!(load(&[pooled, postgres]).is_ok());
}
