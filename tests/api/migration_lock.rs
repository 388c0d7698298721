//! The migration lock, on every backend: replicas that migrate at the same time take turns.
//!
//! - four `migration up` processes started together on a fresh database all succeed, and each
//!   migration is applied exactly once;
//! - `migration status` takes no lock and writes nothing, so it cannot break an `up` it meets;
//! - a lock held elsewhere makes `migration up` say that it waits, give up after
//!   `MIGRATION_LOCK_TIMEOUT_SECONDS`, and proceed as soon as the lock is released;
//! - `migration::up_exclusively`, the service's auto-migration, is safe to call concurrently.

use std::{
    io::Read,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::common::{Backend, TestDatabase, migration_bin, migration_names};
use migration::lock;
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, Statement};

backend_tests!(
    four_ups_at_once_apply_each_migration_once,
    status_reads_without_writing_beside_an_up,
    a_held_lock_makes_up_wait_then_time_out_or_proceed,
    up_exclusively_twice_at_once,
);

/// A `migration` process whose stdout and stderr are collected as they arrive.
struct Migration {
    child: Child,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Migration {
    /// Starts `migration ARGS` on `db` with only the given settings in its environment.
    fn start(db: &TestDatabase, env: &[(&str, &str)], args: &[&str]) -> Self {
        let mut cmd = Command::new(migration_bin());
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("APP_")
                || key.starts_with("MIGRATION_")
                || key == "DATABASE_URL"
                || key == "RUST_LOG"
            {
                cmd.env_remove(key.as_ref());
            }
        }
        let mut child = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("DATABASE_URL", &db.url)
            .envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the migration binary starts");
        let output = Arc::new(Mutex::new(String::new()));
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        let readers = streams
            .into_iter()
            .map(|mut stream| {
                let output = output.clone();
                std::thread::spawn(move || {
                    let mut buf = [0; 4096];
                    while let Ok(n @ 1..) = stream.read(&mut buf) {
                        let text = String::from_utf8_lossy(&buf[..n]);
                        output.lock().unwrap().push_str(&text);
                    }
                })
            })
            .collect();
        Self {
            child,
            output,
            readers,
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits for the output to contain `needle`, while the process runs.
    fn wait_for_output(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.output().contains(needle) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "exited ({status}) before printing {needle:?}:\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within {within:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit (killing it after `within`); returns its status and output.
    fn finish(mut self, within: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "migration still running after {within:?}:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        (status, self.output())
    }
}

impl Drop for Migration {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many times `output` says a migration is being applied.
fn applied_count(output: &str) -> usize {
    output.matches("Applying migration '").count()
}

/// The versions recorded in `seaql_migrations`, in order, duplicates included.
async fn recorded_versions(db: &TestDatabase) -> Vec<String> {
    let conn = sea_orm::Database::connect(&db.url).await.unwrap();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT version FROM seaql_migrations ORDER BY version",
        ))
        .await
        .unwrap();
    let _ = conn.close().await;
    rows.iter()
        .map(|row| row.try_get::<String>("", "version").unwrap())
        .collect()
}

async fn four_ups_at_once_apply_each_migration_once(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let started = Instant::now();
    let runs: Vec<_> = (0..4)
        .map(|_| Migration::start(&db, &[], &["up"]))
        .collect();
    let results: Vec<_> = tokio::task::block_in_place(|| {
        runs.into_iter()
            .map(|run| run.finish(Duration::from_secs(120)))
            .collect()
    });
    let elapsed = started.elapsed();
    let all = results
        .iter()
        .map(|(_, out)| out.as_str())
        .collect::<Vec<_>>()
        .join("\n----\n");
    for (status, output) in &results {
        assert!(status.success(), "every `up` succeeds ({status}):\n{all}");
        assert!(!output.contains("panicked"), "{all}");
    }
    assert_eq!(
        applied_count(&all),
        migration_names().len(),
        "each migration is applied once, by one of the four:\n{all}"
    );
    assert_eq!(recorded_versions(&db).await, migration_names());
    eprintln!(
        "{}: four concurrent `migration up` took {elapsed:?}; {} of them waited for the lock",
        backend.name(),
        all.matches("waiting for the migration lock").count()
    );

    let (status, output) = tokio::task::block_in_place(|| {
        Migration::start(&db, &[], &["up"]).finish(Duration::from_secs(60))
    });
    assert!(status.success(), "{output}");
    assert!(output.contains("No pending migrations"), "{output}");
    assert_eq!(applied_count(&output), 0, "{output}");
}

async fn status_reads_without_writing_beside_an_up(backend: Backend) {
    // On a fresh database, `status` used to create the migration table without the lock,
    // racing the `up` that creates it (PostgreSQL: both could fail).
    for _ in 0..3 {
        let db = TestDatabase::new(backend).await;
        let mut runs: Vec<_> = (0..3)
            .map(|_| Migration::start(&db, &[], &["status"]))
            .collect();
        runs.insert(1, Migration::start(&db, &[], &["up"]));
        let results: Vec<_> = tokio::task::block_in_place(|| {
            runs.into_iter()
                .map(|run| run.finish(Duration::from_secs(120)))
                .collect()
        });
        let all = results
            .iter()
            .map(|(_, out)| out.as_str())
            .collect::<Vec<_>>()
            .join("\n----\n");
        assert!(results.iter().all(|(status, _)| status.success()), "{all}");
        assert_eq!(applied_count(&all), migration_names().len(), "{all}");
        assert_eq!(recorded_versions(&db).await, migration_names());
    }

    // Alone on a fresh database, `status` reports everything pending and creates nothing.
    let db = TestDatabase::new(backend).await;
    let (status, output) = tokio::task::block_in_place(|| {
        Migration::start(&db, &[], &["status"]).finish(Duration::from_secs(60))
    });
    assert!(status.success() && output.contains("Pending"), "{output}");
    let conn = sea_orm::Database::connect(&db.url).await.unwrap();
    let probe = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT version FROM seaql_migrations",
        ))
        .await;
    assert!(probe.is_err(), "status created the migration table");
}

/// The migration lock of `db`, taken from outside any migration, the way another migrator
/// would hold it. Dropping or [`Holder::release`]-ing it gives it back.
enum Holder {
    /// A session that took the lock; closing the session releases it.
    Session(DatabaseConnection),
    File(std::fs::File),
}

impl Holder {
    async fn take(db: &TestDatabase) -> Self {
        match db.backend {
            Backend::Sqlite => {
                let path = db
                    .url
                    .strip_prefix("sqlite://")
                    .and_then(|rest| rest.split('?').next())
                    .expect("a sqlite file URL");
                let path = PathBuf::from(format!("{path}{}", lock::SQLITE_LOCK_FILE_SUFFIX));
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .unwrap();
                file.try_lock().expect("the lock file is free");
                Self::File(file)
            }
            Backend::Postgres | Backend::MariaDb => {
                let conn = migration::connect_single(ConnectOptions::new(&db.url))
                    .await
                    .unwrap();
                let sql = if db.backend == Backend::Postgres {
                    format!(
                        "SELECT CAST(pg_try_advisory_lock({}) AS INT) AS got",
                        lock::POSTGRES_LOCK_KEY
                    )
                } else {
                    let url = url::Url::parse(&db.url).unwrap();
                    let name = lock::mysql_lock_name(url.path().trim_start_matches('/'));
                    format!("SELECT CAST(GET_LOCK('{name}', 0) AS SIGNED) AS got")
                };
                let row = conn
                    .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
                    .await
                    .unwrap()
                    .unwrap();
                let got: i64 = match db.backend {
                    Backend::Postgres => row.try_get::<i32>("", "got").unwrap().into(),
                    _ => row.try_get::<i64>("", "got").unwrap(),
                };
                assert_eq!(got, 1, "the lock is free");
                Self::Session(conn)
            }
        }
    }

    async fn release(self) {
        match self {
            Self::Session(conn) => conn.close().await.unwrap(),
            Self::File(file) => drop(file),
        }
    }
}

async fn a_held_lock_makes_up_wait_then_time_out_or_proceed(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let holder = Holder::take(&db).await;

    // Held for longer than this `up` waits: it says it waits, then gives up, having changed
    // nothing.
    let started = Instant::now();
    let (status, output) = tokio::task::block_in_place(|| {
        Migration::start(&db, &[(lock::LOCK_TIMEOUT_ENV, "1")], &["up"])
            .finish(Duration::from_secs(60))
    });
    let waited = started.elapsed();
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains("waiting for the migration lock held by another process"),
        "{output}"
    );
    assert!(output.contains("timed out after 1 s"), "{output}");
    assert!(output.contains(lock::LOCK_TIMEOUT_ENV), "{output}");
    assert_eq!(applied_count(&output), 0, "{output}");
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    assert!(!output.contains("panicked"), "{output}");

    // Released while this `up` waits: it proceeds and applies the migrations.
    let mut run = Migration::start(&db, &[(lock::LOCK_TIMEOUT_ENV, "60")], &["up"]);
    tokio::task::block_in_place(|| {
        run.wait_for_output("waiting for the migration lock", Duration::from_secs(30))
    });
    assert_eq!(applied_count(&run.output()), 0, "{}", run.output());
    holder.release().await;
    let (status, output) = tokio::task::block_in_place(|| run.finish(Duration::from_secs(60)));
    assert!(status.success(), "{output}");
    assert_eq!(applied_count(&output), migration_names().len(), "{output}");
    assert_eq!(recorded_versions(&db).await, migration_names());
}

async fn up_exclusively_twice_at_once(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let mut options = ConnectOptions::new(&db.url);
    options.sqlx_logging(false);
    // As the service opens SQLite: WAL (set by both connections on a brand-new file) and a
    // busy timeout.
    if backend == Backend::Sqlite {
        options.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5))
        });
    }
    let (first, second) = tokio::join!(
        migration::up_exclusively(options.clone()),
        migration::up_exclusively(options.clone()),
    );
    first.expect("the first concurrent up_exclusively succeeds");
    second.expect("the second concurrent up_exclusively succeeds");
    assert_eq!(recorded_versions(&db).await, migration_names());
    // Again, with nothing pending: a no-op.
    migration::up_exclusively(options).await.unwrap();
    assert_eq!(recorded_versions(&db).await, migration_names());
}
