//! Several service processes on one PostgreSQL database, as replicas behind a load
//! balancer: they start together (auto-migrating once, under the migration lock), and
//! concurrent creates and conditional updates spread across them lose nothing; every
//! replica then reads the same notes.

use std::process::Command;

use crate::common::{
    Backend, TestDatabase, all_pages,
    process::{SERVICE, Service, command},
};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const REPLICAS: usize = 3;
const CREATES_PER_REPLICA: usize = 20;
const COUNTERS: usize = 8;
const INCREMENTS_PER_WRITER: usize = 5;

/// Adds one to the counter in note `url`'s text, through `If-Match`, retrying on 412.
async fn increment(client: &Client, url: &str) -> u32 {
    let mut conflicts = 0;
    loop {
        let read = client.get(url).send().await.unwrap();
        assert_eq!(read.status(), 200);
        let etag = read.headers()["etag"].to_str().unwrap().to_owned();
        let note: Value = read.json().await.unwrap();
        let count: u32 = note["text"].as_str().unwrap().parse().unwrap();
        let write = client
            .patch(url)
            .header("if-match", etag)
            .json(&json!({ "text": (count + 1).to_string() }))
            .send()
            .await
            .unwrap();
        match write.status() {
            StatusCode::OK => return conflicts,
            StatusCode::PRECONDITION_FAILED => conflicts += 1,
            other => panic!("PATCH {url}: {other}"),
        }
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn three_replicas_on_one_postgres_lose_nothing_and_agree() {
        super::three_replicas_on_one_postgres_lose_nothing_and_agree().await;
    }
}

async fn three_replicas_on_one_postgres_lose_nothing_and_agree() {
    Backend::Postgres.require();
    let db = TestDatabase::new(Backend::Postgres).await;
    // Start together on an empty database: each auto-migrates (test profile), one at a time.
    let starting: Vec<_> = (0..REPLICAS)
        .map(|_| {
            let mut cmd: Command = command(SERVICE, "test");
            cmd.env("DATABASE_URL", &db.url);
            std::thread::spawn(move || Service::start(cmd))
        })
        .collect();
    let replicas: Vec<Service> = starting.into_iter().map(|s| s.join().unwrap()).collect();
    let bases: Vec<String> = replicas
        .iter()
        .map(|r| format!("http://127.0.0.1:{}", r.port))
        .collect();
    let client = Client::new();

    // Concurrent creates, spread over the replicas.
    let creates: Vec<_> = (0..REPLICAS * CREATES_PER_REPLICA)
        .map(|i| {
            let (client, base) = (client.clone(), bases[i % REPLICAS].clone());
            tokio::spawn(async move {
                let response = client
                    .post(format!("{base}/notes"))
                    .json(&json!({"text": "0", "completed": i % 2 == 0}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201);
                response.json::<Value>().await.unwrap()["id"]
                    .as_i64()
                    .unwrap()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for create in creates {
        ids.push(create.await.unwrap());
    }

    // Concurrent conditional increments: every replica increments the same counters.
    let mut writers = Vec::new();
    for id in &ids[..COUNTERS] {
        for base in &bases {
            let (client, url) = (client.clone(), format!("{base}/notes/{id}"));
            writers.push(tokio::spawn(async move {
                let mut conflicts = 0;
                for _ in 0..INCREMENTS_PER_WRITER {
                    conflicts += increment(&client, &url).await;
                }
                conflicts
            }));
        }
    }
    let mut conflicts = 0;
    for writer in writers {
        conflicts += writer.await.unwrap();
    }
    eprintln!("{conflicts} writes were refused with 412 and retried");

    // Nothing lost: every counter holds every increment, on every replica.
    let expected = (REPLICAS * INCREMENTS_PER_WRITER).to_string();
    for base in &bases {
        for id in &ids[..COUNTERS] {
            let note: Value = client
                .get(format!("{base}/notes/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(note["text"], expected.as_str(), "note {id} via {base}");
        }
    }
    // Every replica lists the same notes, all of them.
    let listings = [
        all_pages(&client, &bases[0], "/notes?limit=25").await,
        all_pages(&client, &bases[1], "/notes?limit=25").await,
        all_pages(&client, &bases[2], "/notes?limit=25").await,
    ];
    assert_eq!(listings[0].len(), ids.len());
    assert_eq!(listings[0], listings[1]);
    assert_eq!(listings[0], listings[2]);
    for mut replica in replicas {
        replica.terminate();
        assert!(replica.wait(std::time::Duration::from_secs(10)).success());
    }
}
