//! `GET /metrics`: request metrics labelled by route template (never a raw path), the pool
//! gauges on every backend, the separate listener, and `metrics.enabled = false`.

use std::{collections::BTreeMap, time::Duration};

use crate::common::{Backend, TestApp};
use sea_orm::{DbErr, TransactionTrait};
use serde_json::json;

backend_tests!(pool_gauges_follow_the_pool);

/// One sample of the text format: `name{labels} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text format; the service's label values hold no quotes or escapes.
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once("=\"").expect("key=\"value\"");
                    (key.to_owned(), value.trim_end_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

/// The value of the one sample of `name` with exactly these labels (0 when absent).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == wanted)
        .map_or(0.0, |s| s.value)
}

/// `http_requests_total` for one method, route template and status (0 when never counted).
fn requests_total(samples: &[Sample], method: &str, route: &str, status: &str) -> f64 {
    value(
        samples,
        "http_requests_total",
        &[("method", method), ("route", route), ("status", status)],
    )
}

fn gauge(samples: &[Sample], name: &str) -> f64 {
    samples
        .iter()
        .find(|s| s.name == name && s.labels.is_empty())
        .unwrap_or_else(|| panic!("{name} is exported"))
        .value
}

async fn scrape_at(app: &TestApp, url: String) -> Vec<Sample> {
    let response = app.client.get(url).send().await.expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    parse(&response.text().await.expect("a text body"))
}

async fn scrape(app: &TestApp) -> Vec<Sample> {
    scrape_at(app, app.url("/metrics")).await
}

#[tokio::test]
async fn requests_are_counted_by_route_template_never_by_raw_path() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create("/notes", &json!({"text": "one"})).await;
    for (path, status) in [
        ("/notes/1", 200),
        ("/notes/1", 200),
        ("/notes/2", 404),
        ("/notes/abc", 400),
        ("/nothing", 404),
        ("/notes?limit=5&after=1", 200),
        ("/notes/", 200),
    ] {
        assert_eq!(app.get(path).await.status(), status, "{path}");
    }
    let delete = app.client.delete(app.url("/metrics")).send().await.unwrap();
    assert_eq!(delete.status(), 405, "/metrics takes GET only");
    assert_eq!(delete.headers()["allow"], "GET");

    let samples = scrape(&app).await;
    let total = |method, route, status| requests_total(&samples, method, route, status);
    assert_eq!(total("POST", "/notes", "201"), 1.0);
    assert_eq!(total("GET", "/notes/{id}", "200"), 2.0);
    assert_eq!(total("GET", "/notes/{id}", "404"), 1.0);
    assert_eq!(total("GET", "/notes/{id}", "400"), 1.0);
    assert_eq!(
        total("GET", "/notes", "200"),
        2.0,
        "query and slash dropped"
    );
    assert_eq!(total("GET", "unmatched", "404"), 1.0);
    assert_eq!(total("DELETE", "/metrics", "405"), 1.0);
    // The scrape being answered is in flight; the earlier requests are not.
    assert_eq!(gauge(&samples, "http_requests_in_flight"), 1.0);

    let routes = ["/notes", "/notes/{id}", "/metrics", "unmatched"];
    for sample in samples.iter().filter(|s| s.name.starts_with("http_")) {
        if let Some(route) = sample.labels.get("route") {
            assert!(routes.contains(&route.as_str()), "{sample:?}");
        }
        for label in sample.labels.values() {
            assert!(
                !label.contains('?') && !label.contains("abc") && !label.contains("nothing"),
                "a raw path in a label: {sample:?}"
            );
        }
    }

    // The latency histogram has the same series, each with every bucket.
    for counted in samples.iter().filter(|s| s.name == "http_requests_total") {
        let labels: Vec<(&str, &str)> = counted
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let count = value(&samples, "http_request_duration_seconds_count", &labels);
        assert_eq!(count, counted.value, "{labels:?}");
        for le in ["0.001", "0.1", "10", "+Inf"] {
            let bucket = samples.iter().find(|s| {
                s.name == "http_request_duration_seconds_bucket"
                    && s.labels.get("le").map(String::as_str) == Some(le)
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
            });
            let bucket = bucket.unwrap_or_else(|| panic!("bucket le={le} of {labels:?}"));
            assert!(bucket.value <= count);
            if le == "+Inf" {
                assert_eq!(bucket.value, count);
            }
        }
    }
    app.stop().await;
}

/// A request cut short before the router answers (deadline, body too large) keeps its route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_cut_short_keep_their_route() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.server.request_timeout_seconds = 1;
        s.server.request_body_limit = 4096;
        s.database.max_connections = Some(1);
        s.database.min_connections = Some(1);
    })
    .await;
    // The only connection is taken: the next read waits until the deadline.
    let held = app.db.pool().begin().await.expect("a transaction");
    assert_eq!(app.get("/notes/1").await.status(), 503);
    drop(held);
    let big = json!({"text": "a".repeat(5000), "completed": false});
    assert_eq!(app.post("/notes", &big).await.status(), 413);

    let samples = scrape(&app).await;
    let total = |method, route, status| requests_total(&samples, method, route, status);
    assert_eq!(total("GET", "/notes/{id}", "503"), 1.0);
    assert_eq!(total("POST", "/notes", "413"), 1.0);
    app.stop().await;
}

/// Read at each scrape: a held connection shows as in use, and a call queued behind it as
/// waiting.
async fn pool_gauges_follow_the_pool(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.database.max_connections = Some(1);
        s.database.min_connections = Some(0);
        // No job workers: their claims would queue for the one connection and be counted.
        // (The scrape's own read of the job queue gives up after a second, before the
        // gauges are written.)
        s.jobs.workers = 0;
    })
    .await;
    app.create("/notes", &json!({"text": "one"})).await;

    let samples = scrape(&app).await;
    assert_eq!(gauge(&samples, "db_pool_max_connections"), 1.0);
    let size = gauge(&samples, "db_pool_size");
    let idle = value(&samples, "db_pool_connections", &[("state", "idle")]);
    let in_use = value(&samples, "db_pool_connections", &[("state", "in_use")]);
    assert!(size <= 1.0 && size >= idle, "size {size}, idle {idle}");
    assert_eq!(in_use, size - idle);
    assert_eq!(gauge(&samples, "db_calls_in_flight"), 0.0);
    assert_eq!(gauge(&samples, "db_pool_waiting_estimate"), 0.0);

    // Hold the only connection in a transaction through the service's handle...
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (began, has_begun) = tokio::sync::oneshot::channel::<()>();
    let db = app.db.clone();
    let holder = tokio::spawn(async move {
        db.transaction::<_, (), DbErr>(|_| {
            Box::pin(async move {
                let _ = began.send(());
                let _ = released.await;
                Ok(())
            })
        })
        .await
    });
    has_begun.await.expect("the transaction began");
    // ...so that a request waits for it.
    let waiting = tokio::spawn({
        let (client, url) = (app.client.clone(), app.url("/notes"));
        async move { client.get(url).send().await.map(|r| r.status()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let samples = scrape(&app).await;
    assert_eq!(gauge(&samples, "db_pool_size"), 1.0);
    assert_eq!(
        value(&samples, "db_pool_connections", &[("state", "in_use")]),
        1.0
    );
    assert_eq!(
        value(&samples, "db_pool_connections", &[("state", "idle")]),
        0.0
    );
    assert_eq!(gauge(&samples, "db_calls_in_flight"), 2.0);
    assert_eq!(gauge(&samples, "db_pool_waiting_estimate"), 1.0);
    assert_eq!(gauge(&samples, "http_requests_in_flight"), 2.0);

    let _ = release.send(());
    holder.await.unwrap().expect("the transaction commits");
    assert_eq!(waiting.await.unwrap().expect("a response"), 200);
    let samples = scrape(&app).await;
    assert_eq!(gauge(&samples, "db_calls_in_flight"), 0.0);
    assert_eq!(gauge(&samples, "db_pool_waiting_estimate"), 0.0);
    app.stop().await;
}

#[tokio::test]
async fn a_separate_listener_serves_metrics_and_the_main_port_does_not() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.metrics.address = "127.0.0.1:0".to_owned();
    })
    .await;
    let metrics_addr = app.metrics_addr.expect("a metrics listener");
    assert_ne!(metrics_addr.port(), app.addr.port());
    let metrics_url = |path: &str| format!("http://{metrics_addr}{path}");

    assert_eq!(app.get("/notes").await.status(), 200);
    crate::common::problem(app.get("/metrics").await, 404).await;

    let samples = scrape_at(&app, metrics_url("/metrics")).await;
    let total = |route: &str, status: &str| {
        value(
            &samples,
            "http_requests_total",
            &[("method", "GET"), ("route", route), ("status", status)],
        )
    };
    assert_eq!(total("/notes", "200"), 1.0, "the main port's requests");
    assert_eq!(total("unmatched", "404"), 1.0, "/metrics on the main port");
    assert!(samples.iter().any(|s| s.name == "db_pool_size"));

    let other = app.client.get(metrics_url("/notes")).send().await.unwrap();
    crate::common::problem(other, 404).await;
    let delete = app
        .client
        .delete(metrics_url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.headers()["allow"], "GET");
    crate::common::problem(delete, 405).await;
    app.stop().await;
}

#[tokio::test]
async fn disabled_metrics_serve_nothing() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.metrics.enabled = false;
        s.metrics.address = "127.0.0.1:0".to_owned();
    })
    .await;
    assert_eq!(app.metrics_addr, None, "no listener when disabled");
    assert_eq!(app.get("/notes").await.status(), 200);
    crate::common::problem(app.get("/metrics").await, 404).await;
    app.stop().await;
}
