//! The job queue against the real database, on every backend: a job commits or rolls back
//! with its transaction and then runs once; failures are retried with backoff; a job out of
//! attempts is dead, visible, and retried by hand; a job whose worker died is claimed again
//! (and the dead worker's late outcome is refused); a stopping queue gives its jobs back; an
//! unknown kind is dead without a crash; two queues on one database run each job once.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::common::{Backend, TestApp, TestDatabase, test_settings};
use notes_service::{
    config::JobsSettings,
    db::Db,
    jobs::{self, Job, JobError, NewJob, Queue, Registry, State, Wake, store},
};
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use serde::{Deserialize, Serialize};

backend_tests!(
    a_job_commits_or_rolls_back_with_its_transaction,
    a_failing_job_is_retried_with_backoff_then_gone,
    a_job_failing_every_attempt_is_dead_and_retried_by_hand,
    a_job_whose_lease_ran_out_is_claimed_again,
    a_stopping_queue_gives_its_jobs_back,
    an_unknown_kind_is_dead_and_counted,
    the_metrics_show_the_backlog,
    two_queues_run_each_job_once,
    a_worker_process_runs_jobs_and_serves_only_probes_and_metrics,
);

/// What the test kind does: fail its first `fail_first` calls, sleeping `sleep_ms` in each.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Script {
    tag: u64,
    fail_first: u32,
    sleep_ms: u64,
}

/// Every call of the test kind: its tag, and when.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<(u64, Instant)>>>);

impl Calls {
    fn record(&self, tag: u64) -> u32 {
        let mut calls = self.0.lock().unwrap();
        calls.push((tag, Instant::now()));
        calls.iter().filter(|(t, _)| *t == tag).count() as u32
    }

    fn of(&self, tag: u64) -> Vec<Instant> {
        let calls = self.0.lock().unwrap();
        calls
            .iter()
            .filter(|(t, _)| *t == tag)
            .map(|c| c.1)
            .collect()
    }

    fn per_tag(&self) -> HashMap<u64, u32> {
        let mut counts = HashMap::new();
        for (tag, _) in self.0.lock().unwrap().iter() {
            *counts.entry(*tag).or_default() += 1;
        }
        counts
    }
}

struct Scripted(Calls);

impl Job for Scripted {
    const KIND: &'static str = "test_scripted";
    type Payload = Script;

    async fn run(&self, script: Script) -> Result<(), JobError> {
        let call = self.0.record(script.tag);
        tokio::time::sleep(Duration::from_millis(script.sleep_ms)).await;
        if call <= script.fail_first {
            return Err(JobError::retry(format!("failure {call}")));
        }
        Ok(())
    }
}

fn settings(workers: u32) -> JobsSettings {
    JobsSettings {
        workers,
        poll_interval_ms: 50,
        backoff_base_ms: 200,
        backoff_max_seconds: 5,
        max_attempts: 3,
        lease_seconds: 30,
    }
}

/// The service on a fresh database, with no workers of its own: the tests run theirs.
async fn service(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |s| s.jobs.workers = 0).await
}

fn start(db: &Db, settings: &JobsSettings, calls: &Calls, wake: &Wake) -> Queue {
    let registry = Registry::default().with(Scripted(calls.clone()));
    Queue::start(db.clone(), registry, settings, wake.clone(), None)
}

async fn enqueue(db: &Db, script: &Script) -> i64 {
    let job = NewJob::new::<Scripted>(script).unwrap();
    jobs::enqueue(db, &job).await.unwrap()
}

async fn job_count(db: &Db) -> i64 {
    let sql = "SELECT COUNT(*) AS n FROM jobs";
    let statement = Statement::from_string(db.get_database_backend(), sql);
    let row = db.query_one_raw(statement).await.unwrap().unwrap();
    row.try_get("", "n").unwrap()
}

/// Waits until `done` holds, at most `limit`.
async fn until<F: std::future::Future<Output = bool>>(
    limit: Duration,
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn state_of(db: &Db, id: i64) -> Option<jobs::entity::Model> {
    store::get(db, id).await.unwrap()
}

async fn a_job_commits_or_rolls_back_with_its_transaction(backend: Backend) {
    let app = service(backend).await;
    let calls = Calls::default();
    let wake = Wake::default();
    // No polling within the test: only the wake-up can start the job quickly.
    let mut settings = settings(2);
    settings.poll_interval_ms = 60_000;
    let queue = start(&app.db, &settings, &calls, &wake);
    // Let the queue find the queue empty and go idle.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let txn = app.db.begin().await.unwrap();
    let rolled_back = Script {
        tag: 1,
        ..Script::default()
    };
    jobs::enqueue(&txn, &NewJob::new::<Scripted>(&rolled_back).unwrap())
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    assert_eq!(job_count(&app.db).await, 0, "a rolled-back job is gone");

    let txn = app.db.begin().await.unwrap();
    let committed = Script {
        tag: 2,
        ..Script::default()
    };
    jobs::enqueue(&txn, &NewJob::new::<Scripted>(&committed).unwrap())
        .await
        .unwrap();
    txn.commit().await.unwrap();
    let enqueued = Instant::now();
    wake.wake();
    until(Duration::from_secs(5), "the committed job ran", || async {
        job_count(&app.db).await == 0
    })
    .await;
    let ran = calls.of(2);
    assert_eq!(ran.len(), 1, "the committed job ran once");
    assert!(
        ran[0] - enqueued < Duration::from_secs(5),
        "woken, not polled (poll interval 60 s)"
    );
    // Nothing runs twice, nothing from the rolled-back transaction runs at all.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(calls.per_tag(), HashMap::from([(2, 1)]));
    queue.shutdown(Duration::from_secs(1)).await;
    app.stop().await;
}

async fn a_failing_job_is_retried_with_backoff_then_gone(backend: Backend) {
    let app = service(backend).await;
    let calls = Calls::default();
    let settings = settings(2);
    let id = enqueue(
        &app.db,
        &Script {
            tag: 7,
            fail_first: 2,
            sleep_ms: 0,
        },
    )
    .await;
    let queue = start(&app.db, &settings, &calls, &Wake::default());
    until(Duration::from_secs(15), "the job succeeded", || async {
        state_of(&app.db, id).await.is_none()
    })
    .await;
    let ran = calls.of(7);
    assert_eq!(ran.len(), 3, "two failures, then a success");
    // Equal jitter: retry n waits between half and all of 200 ms x 2^(n-1).
    let (first, second) = (ran[1] - ran[0], ran[2] - ran[1]);
    assert!(
        first >= Duration::from_millis(100),
        "first retry after {first:?}"
    );
    assert!(
        second >= Duration::from_millis(200),
        "second retry after {second:?}"
    );
    queue.shutdown(Duration::from_secs(1)).await;
    app.stop().await;
}

async fn a_job_failing_every_attempt_is_dead_and_retried_by_hand(backend: Backend) {
    let app = service(backend).await;
    let calls = Calls::default();
    let mut settings = settings(2);
    settings.backoff_base_ms = 10;
    // Fails 3 times: dead after max_attempts = 3; the fourth call (after a retry by hand)
    // succeeds.
    let id = enqueue(
        &app.db,
        &Script {
            tag: 3,
            fail_first: 3,
            sleep_ms: 0,
        },
    )
    .await;
    let queue = start(&app.db, &settings, &calls, &Wake::default());
    until(Duration::from_secs(10), "the job is dead", || async {
        state_of(&app.db, id)
            .await
            .is_some_and(|job| job.state == State::Dead.as_str())
    })
    .await;
    let dead = state_of(&app.db, id).await.unwrap();
    assert_eq!(dead.attempts, 3);
    assert_eq!(dead.last_error.as_deref(), Some("failure 3"));
    assert_eq!(dead.lease_until, None);
    // Dead stays dead: kept, and not run again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(calls.of(3).len(), 3);
    assert!(state_of(&app.db, id).await.is_some());

    assert!(store::retry_dead(&app.db, id).await.unwrap());
    assert!(
        !store::retry_dead(&app.db, id).await.unwrap(),
        "only a dead job is retried by hand"
    );
    until(
        Duration::from_secs(10),
        "the retried job succeeded",
        || async { state_of(&app.db, id).await.is_none() },
    )
    .await;
    assert_eq!(calls.of(3).len(), 4);
    queue.shutdown(Duration::from_secs(1)).await;
    app.stop().await;
}

async fn a_job_whose_lease_ran_out_is_claimed_again(backend: Backend) {
    let app = service(backend).await;
    let script = Script {
        tag: 5,
        ..Script::default()
    };
    let id = enqueue(&app.db, &script).await;
    // A worker claims it and dies: its lease runs out.
    let lease = Duration::from_millis(300);
    let dead_worker = store::claim(&app.db, 10, lease).await.unwrap();
    assert_eq!(dead_worker.len(), 1);
    assert_eq!((dead_worker[0].id, dead_worker[0].attempt), (id, 1));
    assert!(
        store::claim(&app.db, 10, lease).await.unwrap().is_empty(),
        "held while its lease runs"
    );
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    let second = store::claim(&app.db, 10, lease).await.unwrap();
    assert_eq!(second.len(), 1, "claimed again once the lease ran out");
    assert_eq!((second[0].id, second[0].attempt), (id, 2));
    // The first worker, back from the dead, may not finish it.
    assert!(!store::complete(&app.db, &dead_worker[0]).await.unwrap());
    assert!(!store::bury(&app.db, &dead_worker[0], "late").await.unwrap());
    assert_eq!(
        state_of(&app.db, id).await.unwrap().state,
        State::Running.as_str()
    );

    // The second dies too; a queue picks the job up once its lease ends, and runs it.
    let calls = Calls::default();
    let queue = start(&app.db, &settings(2), &calls, &Wake::default());
    until(Duration::from_secs(10), "the job ran", || async {
        state_of(&app.db, id).await.is_none()
    })
    .await;
    assert_eq!(calls.of(5).len(), 1);
    queue.shutdown(Duration::from_secs(1)).await;
    app.stop().await;
}

async fn a_stopping_queue_gives_its_jobs_back(backend: Backend) {
    let app = service(backend).await;
    let calls = Calls::default();
    let slow = Script {
        tag: 9,
        fail_first: 0,
        sleep_ms: 60_000,
    };
    let quick = Script {
        tag: 10,
        fail_first: 0,
        sleep_ms: 50,
    };
    let slow_id = enqueue(&app.db, &slow).await;
    let quick_id = enqueue(&app.db, &quick).await;
    let queue = start(&app.db, &settings(2), &calls, &Wake::default());
    until(Duration::from_secs(10), "both jobs started", || async {
        calls.of(9).len() == 1 && calls.of(10).len() == 1
    })
    .await;
    let stopping = Instant::now();
    queue.shutdown(Duration::from_millis(500)).await;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "within the grace"
    );
    // The quick one finished within the grace period; the slow one is pending again, its
    // attempt not counted, free for another worker at once.
    assert!(state_of(&app.db, quick_id).await.is_none());
    let given_back = state_of(&app.db, slow_id).await.unwrap();
    assert_eq!(given_back.state, State::Pending.as_str());
    assert_eq!(given_back.attempts, 0);
    assert_eq!(given_back.lease_until, None);
    let claimed = store::claim(&app.db, 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].id, claimed[0].attempt), (slow_id, 1));
    app.stop().await;
}

/// Through the service's own workers (whose registry has no test kind): every job here is of
/// a kind it does not know.
async fn an_unknown_kind_is_dead_and_counted(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.jobs.workers = 2).await;
    let job = NewJob {
        kind: "no_such_kind",
        payload: "{}".to_owned(),
        run_at: None,
        max_attempts: None,
    };
    let id = jobs::enqueue(&app.db, &job).await.unwrap();
    // Polled (test profile: every 200 ms): the enqueue was not through the service.
    until(Duration::from_secs(10), "the job is dead", || async {
        state_of(&app.db, id)
            .await
            .is_some_and(|job| job.state == State::Dead.as_str())
    })
    .await;
    let dead = state_of(&app.db, id).await.unwrap();
    assert_eq!(dead.attempts, 1, "dead at once, not retried");
    let error = dead.last_error.unwrap_or_default();
    assert!(
        error.contains("no handler for job kind \"no_such_kind\""),
        "{error}"
    );

    let metrics = app.get("/metrics").await.text().await.unwrap();
    for series in [
        "job_attempts_total{kind=\"unknown\",result=\"dead\"} 1",
        "jobs_dead 1",
        "jobs_pending 0",
        "jobs_oldest_pending_age_seconds 0.0",
    ] {
        assert!(
            metrics.lines().any(|l| l == series),
            "{series} in\n{metrics}"
        );
    }
    app.stop().await;
}

/// The gauges read at scrape time: the backlog, and how late its most overdue job is.
async fn the_metrics_show_the_backlog(backend: Backend) {
    let app = service(backend).await;
    let now = chrono::Utc::now();
    let script = Script::default();
    for run_at in [
        now - chrono::Duration::seconds(5),
        now + chrono::Duration::hours(1),
    ] {
        let job = NewJob::new::<Scripted>(&script).unwrap().run_at(run_at);
        jobs::enqueue(&app.db, &job).await.unwrap();
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let sample = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in\n{metrics}"))
            .parse()
            .unwrap()
    };
    assert_eq!(sample("jobs_pending"), 2.0);
    assert_eq!(sample("jobs_running"), 0.0);
    assert_eq!(sample("jobs_dead"), 0.0);
    let age = sample("jobs_oldest_pending_age_seconds");
    assert!((4.5..60.0).contains(&age), "age {age}");
    app.stop().await;
}

async fn two_queues_run_each_job_once(backend: Backend) {
    const JOBS: u64 = 500;
    let app = service(backend).await;
    let txn = app.db.begin().await.unwrap();
    for tag in 0..JOBS {
        let job = NewJob::new::<Scripted>(&Script {
            tag,
            ..Script::default()
        })
        .unwrap();
        jobs::enqueue(&txn, &job).await.unwrap();
    }
    txn.commit().await.unwrap();
    // Two pools, as two processes would have.
    let database = crate::common::test_settings(&app.database).database;
    let timeout = Duration::from_secs(10);
    let (one, two) = (
        notes_service::db::connect(&database, timeout)
            .await
            .unwrap(),
        notes_service::db::connect(&database, timeout)
            .await
            .unwrap(),
    );
    let calls = Calls::default();
    let settings = settings(4);
    let queues = [
        start(&one, &settings, &calls, &Wake::default()),
        start(&two, &settings, &calls, &Wake::default()),
    ];
    until(
        Duration::from_secs(120),
        "the backlog is drained",
        || async { job_count(&app.db).await == 0 },
    )
    .await;
    for queue in queues {
        queue.shutdown(Duration::from_secs(1)).await;
    }
    let counts = calls.per_tag();
    assert_eq!(counts.len() as u64, JOBS, "every job ran");
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(repeated.is_empty(), "ran more than once: {repeated:?}");
    app.stop().await;
}

/// `notes-service worker`, in process: its workers run jobs; it serves the probes and
/// `/metrics`, and no API.
async fn a_worker_process_runs_jobs_and_serves_only_probes_and_metrics(backend: Backend) {
    use notes_service::app::Application;

    let database = TestDatabase::new(backend).await;
    let mut settings = test_settings(&database);
    settings.jobs.workers = 0;
    assert!(
        Application::build_worker(settings.clone()).await.is_err(),
        "a worker process without workers is refused"
    );
    settings.jobs.workers = 2;
    let worker = Application::build_worker(settings).await.unwrap();
    let (addr, db) = (worker.local_addr(), worker.db().clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run_until(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let status = |path: &'static str| {
        let client = client.clone();
        async move {
            let response = client
                .get(format!("http://{addr}{path}"))
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        }
    };
    assert_eq!(status("/health/live").await, 200);
    assert_eq!(status("/health/ready").await, 200);
    assert_eq!(status("/metrics").await, 200);
    assert_eq!(status("/notes").await, 404);
    assert_eq!(status("/openapi.json").await, 404);
    // Its workers run (this job's kind is unknown to them: dead at once).
    let job = NewJob {
        kind: "no_such_kind",
        payload: "{}".to_owned(),
        run_at: None,
        max_attempts: None,
    };
    let id = jobs::enqueue(&db, &job).await.unwrap();
    until(
        Duration::from_secs(10),
        "the worker ran the job",
        || async {
            state_of(&db, id)
                .await
                .is_some_and(|job| job.state == State::Dead.as_str())
        },
    )
    .await;
    let _ = stop.send(());
    running.await.unwrap();
}
