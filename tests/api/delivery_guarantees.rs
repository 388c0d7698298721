//! What the events promise, with the real binary as processes: every committed note change
//! reaches the receiver across `kill -9` of the service mid-load, and no event arrives for a
//! write that did not commit (on every backend); two `notes-service worker` processes on one
//! PostgreSQL or MariaDB drain a backlog and deliver each delivery exactly once.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use crate::common::{
    Backend, TestDatabase,
    process::{SERVICE, Service, command},
    receiver::{Received, Receiver, all_verified},
};
use reqwest::{Client, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

backend_tests!(
    every_committed_change_is_delivered_across_crashes;
    servers: two_worker_processes_deliver_each_delivery_once,
);

/// An event as the receiver can identify it: its type, the note's id and the note's version
/// (0 for a delete, whose `data` is the id only).
type Event = (String, i64, i64);

fn event_of(received: &Received) -> Event {
    let body = &received.body;
    (
        body["type"].as_str().unwrap_or_default().to_owned(),
        body["data"]["id"].as_i64().unwrap_or_default(),
        body["data"]["version"].as_i64().unwrap_or(0),
    )
}

/// A `notes-service` process on `database` that may deliver to a receiver on 127.0.0.1.
fn service(database: &TestDatabase, role: Option<&str>, workers: u32) -> Service {
    let mut cmd = command(SERVICE, "test");
    cmd.args(role)
        .env("DATABASE_URL", &database.url)
        .env("APP__WEBHOOKS__ALLOW_PRIVATE_NETWORKS", "true")
        .env("APP__JOBS__WORKERS", workers.to_string())
        // A killed process's claimed deliveries are claimed again when their lease ends;
        // each attempt is given up before it does.
        .env("APP__JOBS__LEASE_SECONDS", "3")
        .env("APP__WEBHOOKS__TIMEOUT_SECONDS", "2")
        // A request cut by the crash is not what these tests are about: no retries run out.
        .env("APP__WEBHOOKS__MAX_ATTEMPTS", "50")
        .env("APP__SERVER__REQUEST_TIMEOUT_SECONDS", "2");
    Service::start(cmd)
}

/// Subscribes the receiver to every note event through `base`, and trusts its secret.
async fn subscribe(client: &Client, base: &str, receiver: &Receiver) {
    let created: Value = client
        .post(format!("{base}/webhooks"))
        .json(&json!({
            "url": receiver.url(),
            "events": ["note.created", "note.updated", "note.deleted"],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    receiver.trust(created["secret"].as_str().expect("a secret in the 201"));
}

/// Every note with its version, from the database itself (the API shows versions as ETags).
async fn stored_notes(database: &TestDatabase) -> HashMap<i64, i64> {
    let db = sea_orm::Database::connect(database.url.as_str())
        .await
        .unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id, version FROM notes",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            (
                row.try_get::<i64>("", "id").unwrap(),
                row.try_get::<i64>("", "version").unwrap(),
            )
        })
        .collect()
}

/// The version a write's answer names in its `ETag`.
fn version_of(response: &reqwest::Response) -> i64 {
    response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_matches('"').parse().ok())
        .expect("a write's answer has an ETag")
}

/// Waits until the receiver got every event of `expected` (failing after `within`).
async fn until_received(receiver: &Receiver, expected: &BTreeSet<Event>, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let got: HashSet<Event> = receiver.received().iter().map(event_of).collect();
        let missing: Vec<_> = expected.iter().filter(|e| !got.contains(*e)).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} committed changes never arrived, e.g. {:?}",
            missing.len(),
            expected.len(),
            &missing[..missing.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One client's note: create, two patches, and for every other note a delete. Each change
/// whose success was answered is recorded in `acknowledged`. Returns false once the service
/// is gone (the answer was lost, so the change may or may not have committed).
async fn change_one_note(
    client: &Client,
    base: &str,
    n: usize,
    acknowledged: &Mutex<Vec<Event>>,
) -> bool {
    let ack = |event: &str, id: i64, version: i64| {
        acknowledged
            .lock()
            .unwrap()
            .push((event.to_owned(), id, version));
    };
    let created = client
        .post(format!("{base}/notes"))
        .json(&json!({ "text": format!("note {n}") }))
        .send()
        .await;
    let id = match created {
        Ok(response) if response.status() == StatusCode::CREATED => {
            let version = version_of(&response);
            let note: Value = response.json().await.unwrap();
            let id = note["id"].as_i64().unwrap();
            ack("note.created", id, version);
            id
        }
        // The database busy or the deadline passed: rolled back, nothing to deliver.
        Ok(response) if response.status() == StatusCode::SERVICE_UNAVAILABLE => return true,
        Ok(response) => panic!("POST /notes: {}", response.status()),
        Err(_) => return false,
    };
    for completed in [true, false] {
        match client
            .patch(format!("{base}/notes/{id}"))
            .json(&json!({ "completed": completed }))
            .send()
            .await
        {
            Ok(response) if response.status() == StatusCode::OK => {
                ack("note.updated", id, version_of(&response));
            }
            Ok(response) if response.status() == StatusCode::SERVICE_UNAVAILABLE => return true,
            Ok(response) => panic!("PATCH /notes/{id}: {}", response.status()),
            Err(_) => return false,
        }
    }
    if n.is_multiple_of(2) {
        match client.delete(format!("{base}/notes/{id}")).send().await {
            Ok(response) if response.status() == StatusCode::NO_CONTENT => {
                ack("note.deleted", id, 0);
            }
            Ok(response) if response.status() == StatusCode::SERVICE_UNAVAILABLE => return true,
            Ok(response) => panic!("DELETE /notes/{id}: {}", response.status()),
            Err(_) => return false,
        }
    }
    true
}

/// The real binary, delivering with its own workers while 8 clients change notes, gets
/// `kill -9` three times, each after another 150 acknowledged changes. After the last restart
/// every committed change arrives: each one a client was told succeeded, and each one the
/// database holds (a change whose answer the crash cut off may have committed). No event
/// arrives that the database contradicts (a rolled-back write's), and retries of an event
/// keep its `webhook-id`.
async fn every_committed_change_is_delivered_across_crashes(backend: Backend) {
    const CLIENTS: usize = 8;
    const CHANGES_PER_ROUND: usize = 150;
    let database = TestDatabase::new(backend).await;
    let receiver = Receiver::start().await;
    let client = Client::new();
    let acknowledged: Arc<Mutex<Vec<Event>>> = Arc::default();
    let next_note = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut last = None;
    for round in 0..4 {
        let running = service(&database, None, 4);
        let base = format!("http://127.0.0.1:{}", running.port);
        if round == 0 {
            subscribe(&client, &base, &receiver).await;
        }
        let enough = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (client, base) = (client.clone(), base.clone());
                let (acknowledged, next_note, enough) =
                    (acknowledged.clone(), next_note.clone(), enough.clone());
                tokio::spawn(async move {
                    while !enough.load(Ordering::Relaxed) {
                        let n = next_note.fetch_add(1, Ordering::Relaxed);
                        if !change_one_note(&client, &base, n, &acknowledged).await {
                            return;
                        }
                    }
                })
            })
            .collect();
        let target = acknowledged.lock().unwrap().len() + CHANGES_PER_ROUND;
        let deadline = Instant::now() + Duration::from_secs(60);
        while acknowledged.lock().unwrap().len() < target {
            assert!(Instant::now() < deadline, "the clients stalled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if round < 3 {
            // SAFETY: kill(2) on the child's pid.
            unsafe { libc::kill(running.pid() as i32, libc::SIGKILL) };
        } else {
            enough.store(true, Ordering::Relaxed);
        }
        for client in clients {
            client.await.unwrap();
        }
        if round < 3 {
            drop(running);
        } else {
            last = Some(running);
        }
    }
    let running = last.unwrap();

    // What committed: every change a client was told of, and every version the database holds.
    let stored = stored_notes(&database).await;
    let mut committed: BTreeSet<Event> = acknowledged.lock().unwrap().iter().cloned().collect();
    for (&id, &version) in &stored {
        committed.insert(("note.created".to_owned(), id, 1));
        committed.extend((2..=version).map(|v| ("note.updated".to_owned(), id, v)));
    }
    until_received(&receiver, &committed, Duration::from_secs(90)).await;

    let received = receiver.received();
    all_verified(&received);
    let deleted: HashSet<i64> = received
        .iter()
        .map(event_of)
        .filter(|(kind, ..)| kind == "note.deleted")
        .map(|(_, id, _)| id)
        .collect();
    let mut message_ids: HashMap<Event, HashSet<String>> = HashMap::new();
    for r in &received {
        let event = event_of(r);
        let (kind, id, version) = &event;
        // Nothing the database contradicts: a note's events up to its version, or a deleted
        // note's, or its delete.
        let consistent = match kind.as_str() {
            "note.deleted" => !stored.contains_key(id),
            "note.created" | "note.updated" => {
                stored.get(id).is_some_and(|v| v >= version) || deleted.contains(id)
            }
            _ => false,
        };
        assert!(consistent, "an event no commit explains: {event:?}");
        message_ids
            .entry(event)
            .or_default()
            .insert(r.message_id.clone());
    }
    eprintln!(
        "{} committed changes ({} acknowledged), {} requests received",
        committed.len(),
        acknowledged.lock().unwrap().len(),
        received.len()
    );
    for (event, ids) in &message_ids {
        assert_eq!(ids.len(), 1, "{event:?} sent as several messages: {ids:?}");
    }
    assert!(
        committed.len() >= 4 * CHANGES_PER_ROUND,
        "{} changes",
        committed.len()
    );
    drop(running);
}

/// The API process runs no workers and takes 2,000 note creations: a backlog of 2,000
/// deliveries. Two `notes-service worker` processes then drain it together: every delivery
/// arrives exactly once, and each process delivered a share.
async fn two_worker_processes_deliver_each_delivery_once(backend: Backend) {
    const NOTES: usize = 2000;
    let database = TestDatabase::new(backend).await;
    let receiver = Receiver::start().await;
    let client = Client::new();
    let api = service(&database, None, 0);
    let base = format!("http://127.0.0.1:{}", api.port);
    subscribe(&client, &base, &receiver).await;
    let next_note = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let creators: Vec<_> = (0..16)
        .map(|_| {
            let (client, base, next_note) = (client.clone(), base.clone(), next_note.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                while next_note.fetch_add(1, Ordering::Relaxed) < NOTES {
                    let response = client
                        .post(format!("{base}/notes"))
                        .json(&json!({ "text": "backlog" }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::CREATED);
                    let note: Value = response.json().await.unwrap();
                    ids.push(note["id"].as_i64().unwrap());
                }
                ids
            })
        })
        .collect();
    let mut created = BTreeSet::new();
    for creator in creators {
        created.extend(creator.await.unwrap());
    }
    assert_eq!(created.len(), NOTES);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        receiver.received().is_empty(),
        "the API process (jobs.workers = 0) delivered"
    );

    let workers = [
        service(&database, Some("worker"), 8),
        service(&database, Some("worker"), 8),
    ];
    let expected: BTreeSet<Event> = created
        .iter()
        .map(|&id| ("note.created".to_owned(), id, 1))
        .collect();
    until_received(&receiver, &expected, Duration::from_secs(120)).await;
    // Time for a second delivery of anything to arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = receiver.received();
    all_verified(&received);
    let message_ids: HashSet<&str> = received.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(received.len(), NOTES, "each delivery exactly once");
    assert_eq!(message_ids.len(), NOTES);

    for worker in &workers {
        let metrics = client
            .get(format!("http://127.0.0.1:{}/metrics", worker.port))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let succeeded: f64 = metrics
            .lines()
            .find_map(|line| line.strip_prefix("webhook_deliveries_total{result=\"succeeded\"} "))
            .and_then(|value| value.parse().ok())
            .unwrap_or(0.0);
        assert!(
            succeeded > 0.0,
            "each worker process delivered a share:\n{}",
            worker.output()
        );
    }
}
