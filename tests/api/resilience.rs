//! What keeps the service answering when clients or the database misbehave: slow clients
//! lose their connection (`server.header_read_timeout_seconds`), a request stuck behind a
//! lock gets a 503 at its deadline (`server.request_timeout_seconds`) and its statement is
//! stopped, and a database server that goes away gives 503s within a second, then
//! recovers by itself.

use std::time::{Duration, Instant};

use crate::common::{Backend, TestApp, TestDatabase, problem, proxy::Proxy};
use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

backend_tests!(
    a_request_stuck_behind_a_lock_gets_503_at_its_deadline,
    clients_that_go_away_leave_no_transaction_open;
    servers: database_outage_gives_fast_503s_then_recovers
);

/// Clients that give up mid-request (a 1 ms timeout, so most go away while their handler
/// is inside its transaction) do not cut their handlers short: no pooled connection is left
/// inside a transaction, and every write answered afterwards is stored.
async fn clients_that_go_away_leave_no_transaction_open(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(1))
        .build()
        .unwrap();
    let gone = (0..300).map(|i| {
        impatient
            .post(app.url("/notes"))
            .header("idempotency-key", format!("abandoned-{i}"))
            .json(&json!({ "text": format!("abandoned {i}") }))
            .send()
    });
    futures_util::future::join_all(gone).await;
    // Their handlers finish on their own.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut acknowledged = Vec::new();
    for i in 0..50 {
        let note = app
            .create("/notes", &json!({ "text": format!("kept {i}") }))
            .await;
        acknowledged.push(note["id"].as_i64().unwrap());
    }
    let stored = |sql: String| {
        let db = app.db.clone();
        async move {
            let statement = sea_orm::Statement::from_string(db.get_database_backend(), sql);
            let row = db.query_one_raw(statement).await.unwrap().unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    let ids: Vec<String> = acknowledged.iter().map(i64::to_string).collect();
    let found = stored(format!(
        "SELECT COUNT(*) FROM notes WHERE id IN ({})",
        ids.join(", ")
    ))
    .await;
    assert_eq!(found, 50, "every acknowledged write is stored");
    let open = match backend {
        Backend::Postgres => {
            stored(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND state LIKE 'idle in transaction%'"
                    .to_owned(),
            )
            .await
        }
        Backend::MariaDb => {
            // A connection of this database that sleeps inside a transaction.
            stored(
                "SELECT COUNT(*) FROM information_schema.innodb_trx t \
                 JOIN information_schema.processlist p ON t.trx_mysql_thread_id = p.id \
                 WHERE p.db = DATABASE() AND p.command = 'Sleep'"
                    .to_owned(),
            )
            .await
        }
        Backend::Sqlite => 0,
    };
    assert_eq!(open, 0, "no connection is left inside a transaction");
    app.stop().await;
}

/// Whether the server has closed `stream` (reads EOF or a reset) within `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A response (e.g. a 408) may come first: keep reading until the close.
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_clients_and_idle_connections_are_closed() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.server.header_read_timeout_seconds = 1;
    })
    .await;
    // 300 clients that send half a request head and then nothing.
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream
            .write_all(b"GET /notes HTTP/1.1\r\nHost: slow\r\nX-Half: ")
            .await
            .unwrap();
        slow.push(stream);
    }
    // Meanwhile, the service serves everyone else.
    let started = Instant::now();
    assert_eq!(app.get("/health/live").await.status(), 200);
    assert!(started.elapsed() < Duration::from_millis(500));

    let mut open_after_3s = 0;
    for stream in &mut slow {
        if !closed_by_server(stream, Duration::from_secs(3)).await {
            open_after_3s += 1;
        }
    }
    assert_eq!(open_after_3s, 0, "slow-header connections still open");

    // An idle keep-alive connection is closed after the same timeout.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /health/live HTTP/1.1\r\nHost: idle\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    idle.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    assert!(closed_by_server(&mut idle, Duration::from_secs(3)).await);
    app.stop().await;
}

/// Holds a lock on the notes table from another session until dropped (rolled back).
async fn hold_lock(backend: Backend, url: &str) -> sea_orm::DatabaseTransaction {
    let other = Database::connect(url).await.unwrap();
    let txn = other.begin().await.unwrap();
    let lock = match backend {
        Backend::Postgres => "LOCK TABLE notes IN ACCESS EXCLUSIVE MODE",
        Backend::MariaDb => "SELECT * FROM notes FOR UPDATE",
        // WAL readers are never blocked: take the write lock, so a write must wait.
        Backend::Sqlite => {
            "INSERT INTO notes (text, completed, created_at, updated_at, version) \
                            VALUES ('lock', false, '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00', 1)"
        }
    };
    txn.execute_unprepared(lock).await.unwrap();
    txn
}

async fn a_request_stuck_behind_a_lock_gets_503_at_its_deadline(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.server.request_timeout_seconds = 1).await;
    let note = app.create("/notes", &json!({"text": "locked"})).await;
    let path = format!("/notes/{}", note["id"]);
    let lock = hold_lock(backend, &app.database.url).await;

    let started = Instant::now();
    // A write waits for the lock on every backend.
    let stuck = app
        .send_json(reqwest::Method::PATCH, &path, &json!({"completed": true}))
        .await;
    let waited = started.elapsed();
    assert_eq!(stuck.headers()["retry-after"], "1");
    let body = problem(stuck, 503).await;
    assert_eq!(body["type"], "urn:notes-service:problem:timeout");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(2500),
        "answered after {waited:?}"
    );

    if backend == Backend::Postgres {
        // The list is stuck too, and statement_timeout stops its statement on the server.
        let stuck = app.get("/notes").await;
        problem(stuck, 503).await;
        let admin = Database::connect(&app.database.url).await.unwrap();
        let waiting = "SELECT count(*) AS n FROM pg_stat_activity \
                       WHERE datname = current_database() AND wait_event_type = 'Lock'";
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let row = admin.query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                waiting,
            ));
            let n: i64 = row.await.unwrap().unwrap().try_get("", "n").unwrap();
            if n == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{n} statements still wait for the lock"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    drop(lock);
    // Once the lock is gone, the same write goes through.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = app
            .send_json(reqwest::Method::PATCH, &path, &json!({"completed": true}))
            .await;
        if response.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "{}", response.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

/// The service runs against `backend` through a proxy; the proxy is cut (the server is
/// gone: connections reset, new ones refused), then restored.
async fn database_outage_gives_fast_503s_then_recovers(backend: Backend) {
    let mut database = TestDatabase::new(backend).await;
    let proxy = Proxy::start(crate::common::proxy::target_of(&database.url)).await;
    database.url = proxy.url_through(&database.url);
    let settings = crate::common::test_settings(&database);
    let app = TestApp::start(database, settings).await;
    app.create("/notes", &json!({"text": "before the outage"}))
        .await;

    // A blip: every pooled connection is reset, the server is back at once. Requests on a
    // broken connection may get a 503 to retry, never a 500, and the pool heals.
    for _ in 0..20 {
        assert_eq!(app.get("/notes").await.status(), 200);
    }
    proxy.cut();
    proxy.restore().await;
    let mut statuses = Vec::new();
    let blip = Instant::now();
    while statuses.last() != Some(&200) {
        assert!(
            blip.elapsed() < Duration::from_secs(3),
            "not healed: {statuses:?}"
        );
        statuses.push(app.get("/notes").await.status().as_u16());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );

    proxy.cut();
    for (attempt, path) in ["/notes", "/notes", "/health/ready", "/notes/1"]
        .iter()
        .enumerate()
    {
        let started = Instant::now();
        let response = app.get(path).await;
        let took = started.elapsed();
        assert_eq!(response.headers()["retry-after"], "1", "{path}");
        let body = problem(response, 503).await;
        assert!(
            took < Duration::from_secs(1),
            "{path} (attempt {attempt}) took {took:?}: {body}"
        );
    }
    assert_eq!(
        app.get("/health/live").await.status(),
        200,
        "liveness needs no database"
    );

    proxy.restore().await;
    let back = Instant::now();
    loop {
        let response = app.get("/notes").await;
        if response.status() == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "not recovered: {}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "{}: recovered {:?} after the server came back",
        backend.name(),
        back.elapsed()
    );
    // Readiness comes back once the pool holds its warm connections again (the probe
    // refills it): until then it sends new traffic elsewhere, while requests here succeed.
    loop {
        let ready = app.get("/health/ready").await;
        if ready.status() == 200 {
            break;
        }
        let body = ready.text().await.unwrap_or_default();
        assert!(back.elapsed() < Duration::from_secs(5), "not ready: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("{}: ready again {:?} after", backend.name(), back.elapsed());
    app.create("/notes", &json!({"text": "after the outage"}))
        .await;
    app.stop().await;
}
