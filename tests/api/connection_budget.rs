//! When PostgreSQL refuses a connection (too many connections: here the role's
//! `CONNECTION LIMIT`, the same SQLSTATE 53300 as the server's `max_connections`), the
//! requests that needed a new connection get a 503 problem with `Retry-After`, the process
//! keeps running with `/health/live` at 200 (so an orchestrator does not restart it into a
//! crash loop), and once connections are free again requests succeed by themselves.

use std::time::Duration;

use crate::common::{
    Backend, TestDatabase,
    process::{SERVICE, Service, command},
};
use reqwest::Client;
use sea_orm::{ConnectionTrait, Database, TransactionTrait};

/// The service's connections: one for the health probe, two for its pool.
const ROLE_LIMIT: u32 = 3;

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refused_connections_give_503_and_the_service_recovers() {
        super::refused_connections_give_503_and_the_service_recovers().await;
    }
}

async fn refused_connections_give_503_and_the_service_recovers() {
    Backend::Postgres.require();
    let db = TestDatabase::new(Backend::Postgres).await;
    let admin = Database::connect(&db.url).await.unwrap();
    // A role of its own (superusers ignore connection limits), owning the test database.
    let role = format!("notes_{}", uuid::Uuid::new_v4().simple());
    let database = url::Url::parse(&db.url).unwrap().path()[1..].to_owned();
    admin
        .execute_unprepared(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'app' CONNECTION LIMIT {ROLE_LIMIT}; \
             ALTER DATABASE {database} OWNER TO {role}"
        ))
        .await
        .unwrap();
    let mut app_url = url::Url::parse(&db.url).unwrap();
    app_url.set_username(&role).unwrap();
    app_url.set_password(Some("app")).unwrap();

    let mut cmd = command(SERVICE, "test");
    cmd.env("DATABASE_URL", app_url.as_str())
        .env("APP__DATABASE__MAX_CONNECTIONS", "10")
        // Start with one connection: the role's limit is the point of the test.
        .env("APP__DATABASE__MIN_CONNECTIONS", "1")
        .env("APP__DATABASE__ACQUIRE_TIMEOUT_SECONDS", "1")
        // Only requests use the pool here: a job worker's claim could open the last connection
        // the role has, and the request that must be refused would take it and wait.
        .env("APP__JOBS__WORKERS", "0");
    let mut service = Service::start(cmd);
    let base = format!("http://127.0.0.1:{}", service.port);
    let client = Client::new();
    let created = client
        .post(format!("{base}/notes"))
        .json(&serde_json::json!({"text": "kept", "completed": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // Hold a lock that makes every list wait, in a session of the superuser (outside the
    // role's limit): two lists then hold the two connections the role has left.
    let locker = admin.begin().await.unwrap();
    locker
        .execute_unprepared("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let waiting: Vec<_> = (0..ROLE_LIMIT - 1)
        .map(|_| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move { client.get(format!("{base}/notes")).send().await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The next request needs a connection PostgreSQL refuses: 503, not a hang or a crash.
    let refused = client.get(format!("{base}/notes")).send().await.unwrap();
    assert!(
        refused.headers().contains_key("retry-after"),
        "{:?}",
        refused.headers()
    );
    let problem = crate::common::problem(refused, 503).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not available"),
        "{problem}"
    );
    let live = client
        .get(format!("{base}/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        live.status(),
        200,
        "liveness does not depend on the database"
    );
    // The pool could have grown to 10: PostgreSQL refused it at the role's limit.
    let row = admin
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE usename = '{role}'"),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), i64::from(ROLE_LIMIT));

    // Connections come free: the waiting requests finish, new ones succeed.
    locker.commit().await.unwrap();
    for request in waiting {
        assert_eq!(request.await.unwrap().unwrap().status(), 200);
    }
    // New requests succeed again (within a moment on a busy machine: the database probe
    // may have seen a slow answer meanwhile).
    let mut listed = client.get(format!("{base}/notes")).send().await.unwrap();
    for _ in 0..20 {
        if listed.status() == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        listed = client.get(format!("{base}/notes")).send().await.unwrap();
    }
    assert_eq!(listed.status(), 200);
    let ready = client
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    service.terminate();
    let status = service.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", service.output());
    let _ = admin.close().await;
}
