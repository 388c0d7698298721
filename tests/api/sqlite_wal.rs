//! SQLite's write-ahead log stays bounded under sustained writes.
//!
//! SQLite checkpoints the log (copies it into the database, then starts it again from the
//! top) from a hook that runs when an autocommit write is stepped to its end. sqlx reads one
//! row of an `INSERT ... RETURNING` and then resets the statement: that commits, but runs no
//! hook, so without care the log is never checkpointed by the service and grows by every
//! write (about 100 MB a second under load). The service also checkpoints from a connection
//! of its own (`database.sqlite.checkpoint_interval_ms`), so that requests rarely wait for it.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::common::{Backend, TestApp};

/// Enough writes that an unbounded log would pass the bound several times over (about
/// 20 KB of log per note: the row, three indexes and the sequence; 4,000 writes made 82 MiB
/// before the fix).
const WRITES: usize = 6_000;
const CLIENTS: usize = 16;
/// SQLite checkpoints every 1000 pages (4 MiB), and starts the log again at the next write
/// after a checkpoint that copied it all. While the service's own checkpointer holds the
/// checkpoint lock, a writer's checkpoint is skipped and tried at its next commit, so on a
/// busy machine the log runs past 4 MiB for a while (9 MiB was seen): the bound leaves room
/// for that, far below what a log that never restarts reaches.
const BOUND: u64 = 24 << 20;

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_stays_bounded_under_sustained_writes() {
        let backend = crate::common::Backend::Sqlite;
        backend.require();
        super::the_log_stays_bounded_under_sustained_writes(backend).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_is_checkpointed_in_the_background() {
        let backend = crate::common::Backend::Sqlite;
        backend.require();
        super::the_log_is_checkpointed_in_the_background(backend).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_journal_size_limit_is_set() {
        let backend = crate::common::Backend::Sqlite;
        backend.require();
        super::the_journal_size_limit_is_set(backend).await;
    }
}

async fn the_log_stays_bounded_under_sustained_writes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let wal = log_path(&app);
    let largest = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (wal, largest, done) = (wal.clone(), largest.clone(), done.clone());
        async move {
            while !done.load(Ordering::Relaxed) {
                largest.fetch_max(size_of(&wal), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    let clients = (0..CLIENTS).map(|client| {
        let (http, url) = (app.client.clone(), app.url("/notes"));
        tokio::spawn(async move {
            for i in 0..WRITES / CLIENTS {
                let response = http
                    .post(&url)
                    .json(&json!({ "text": format!("note {i} of client {client}") }))
                    .send()
                    .await
                    .expect("POST /notes reaches the service");
                assert_eq!(response.status(), 201, "every write is stored");
            }
        })
    });
    for client in futures_util::future::join_all(clients).await {
        client.expect("a client task ends");
    }
    done.store(true, Ordering::Relaxed);
    sampler.await.expect("the sampler ends");
    let largest = largest.load(Ordering::Relaxed).max(size_of(&wal));
    assert!(
        largest <= BOUND,
        "the -wal file reached {} MiB over {WRITES} writes (bound {} MiB): the log is not \
         being checkpointed and restarted",
        largest >> 20,
        BOUND >> 20
    );
    let stored = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM notes",
        ))
        .await
        .expect("count the notes")
        .and_then(|row| row.try_get::<i64>("", "n").ok());
    assert_eq!(
        stored,
        Some(WRITES as i64),
        "every acknowledged write is stored"
    );
    app.stop().await;
}

/// With `database.sqlite.checkpoint_interval_ms` set, the service's own connection copies the
/// log into the database soon after writes stop; SQLite alone would leave the last frames
/// (those since its last checkpoint at 1000 pages) in the log until the next writes.
async fn the_log_is_checkpointed_in_the_background(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.database.sqlite.checkpoint_interval_ms = 5;
    })
    .await;
    for i in 0..50 {
        app.create("/notes", &json!({ "text": format!("note {i}") }))
            .await;
    }
    let shm = PathBuf::from(log_path(&app).to_string_lossy().replace("-wal", "-shm"));
    let mut progress = backfill(&shm);
    for _ in 0..200 {
        if progress.0 > 0 && progress.0 == progress.1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        progress = backfill(&shm);
    }
    let (frames, copied) = progress;
    assert!(frames > 0, "the writes went to the log");
    assert_eq!(
        copied, frames,
        "every frame of the log was copied into the database"
    );
    app.stop().await;
}

/// (frames in the log, frames copied into the database) from the wal-index (the -shm file),
/// read without taking part: its header (48 bytes, twice) holds `mxFrame` at byte 16, the
/// checkpoint information after it `nBackfill` at byte 96, both in native byte order
/// (https://www.sqlite.org/walformat.html).
fn backfill(shm: &PathBuf) -> (u32, u32) {
    let bytes = std::fs::read(shm).expect("read the -shm file");
    let word = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (word(16), word(96))
}

/// `database.sqlite.journal_size_limit_bytes` reaches the pool's connection: when the log
/// starts again from the top, its file is cut back to that size.
async fn the_journal_size_limit_is_set(backend: Backend) {
    let limit: u64 = 3 << 20;
    let app = TestApp::spawn_with(backend, |settings| {
        settings.database.sqlite.journal_size_limit_bytes = limit;
    })
    .await;
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "PRAGMA journal_size_limit",
        ))
        .await
        .expect("read the pragma")
        .expect("a row");
    let set: i64 = row
        .try_get_by_index(0)
        .expect("journal_size_limit is a number");
    assert_eq!(
        set as u64, limit,
        "the pool's connection has the configured limit"
    );
    app.stop().await;
}

/// The `-wal` file beside the test's SQLite database.
fn log_path(app: &TestApp) -> PathBuf {
    let url = &app.database.url;
    let path = url
        .strip_prefix("sqlite://")
        .and_then(|rest| rest.split('?').next())
        .expect("a sqlite:// URL");
    PathBuf::from(format!("{path}-wal"))
}

fn size_of(path: &PathBuf) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}
