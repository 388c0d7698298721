//! The real binaries as processes, as users run them: `notes-service` (help, config errors,
//! secrets in logs, JSON request logs, SIGTERM) and `migration` (up/status/down on every
//! backend, and the service's refusal to serve a database whose migrations are behind).

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use crate::common::{
    Backend, TestDatabase, migration_bin, migration_names,
    process::{SERVICE, Service, command, get, post, run},
};
use serde_json::json;

#[test]
fn help_describes_both_binaries() {
    let (status, text) = run(command(SERVICE, "development").arg("--help"));
    assert!(status.success(), "{text}");
    for needle in ["APP_ENV", "APP_CONFIG_DIR", "healthcheck", "DATABASE_URL"] {
        assert!(text.contains(needle), "--help mentions {needle}:\n{text}");
    }
    let (status, text) = run(command(migration_bin(), "development").arg("--help"));
    assert!(status.success(), "{text}");
    for needle in ["up", "down", "status", "fresh"] {
        assert!(
            text.contains(needle),
            "migration --help mentions {needle}:\n{text}"
        );
    }
}

#[test]
fn invalid_config_stops_start_up_naming_key_and_value() {
    let (status, text) = run(command(SERVICE, "development").env("APP__SERVER__PORT", "eighty"));
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(
        text.contains("server.port") && text.contains("eighty"),
        "{text}"
    );
    let (status, text) =
        run(command(SERVICE, "development").env("APP__METRICS__ADDRESS", "metrics:9464"));
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(
        text.contains("metrics.address") && text.contains("metrics:9464"),
        "{text}"
    );
    let (status, text) = run(&mut command(SERVICE, "no-such-profile"));
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(text.contains("no-such-profile"), "{text}");
}

#[test]
fn database_passwords_never_reach_the_output() {
    // Nothing listens on port 1: connecting fails, and the error is reported.
    let url = "postgres://notes:s3cret-pw@127.0.0.1:1/notes";
    let (status, service_text) = run(command(SERVICE, "production")
        .env("DATABASE_URL", url)
        .env("APP__DATABASE__CONNECT_TIMEOUT_SECONDS", "2"));
    assert!(!status.success());
    assert!(service_text.contains("cannot connect"), "{service_text}");
    assert!(
        service_text.contains("notes:***@127.0.0.1:1"),
        "{service_text}"
    );
    let (status, migration_text) = run(command(migration_bin(), "production")
        .env("DATABASE_URL", url)
        .arg("status"));
    // A one-line error and exit code 1, not a panic (101).
    assert_eq!(status.code(), Some(1), "{migration_text}");
    assert!(
        migration_text.contains("migration: cannot connect to the database")
            && !migration_text.contains("panicked"),
        "{migration_text}"
    );
    assert!(
        migration_text.contains("notes:***@127.0.0.1:1"),
        "{migration_text}"
    );
    for text in [service_text, migration_text] {
        assert!(!text.contains("s3cret-pw"), "password leaked:\n{text}");
    }
}

#[test]
fn production_logs_one_json_line_per_request_with_request_id() {
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", db.path().join("n.db").display());
    let (status, text) = run(command(migration_bin(), "production")
        .env("DATABASE_URL", &url)
        .arg("up"));
    assert!(status.success(), "{text}");
    let mut cmd = command(SERVICE, "production");
    cmd.env("DATABASE_URL", &url);
    let mut service = Service::start(cmd);
    let response = service.request(
        "GET /notes?limit=5 HTTP/1.1\r\nHost: t\r\nConnection: close\r\nx-request-id: trace-77\r\n\r\n",
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    service.terminate();
    assert!(service.wait(Duration::from_secs(10)).success());
    let output = service.output();
    let line = output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["path"] == "/notes")
        .unwrap_or_else(|| panic!("a JSON request line:\n{output}"));
    assert_eq!(line["method"], "GET");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].is_number(), "{line}");
    assert_eq!(line["span"]["request_id"], "trace-77", "{line}");
    for l in output.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(l).is_ok(),
            "every line is JSON: {l}"
        );
    }
}

#[test]
fn sigterm_finishes_the_in_flight_request_then_exits_0() {
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", db.path().join("n.db").display());
    let mut cmd = command(SERVICE, "test");
    cmd.env("DATABASE_URL", &url)
        .env("APP__SERVER__SHUTDOWN_GRACE_SECONDS", "10");
    let mut service = Service::start(cmd);

    // Send the head and half of the body, so the request is in flight when SIGTERM arrives.
    let body = r#"{"text":"written during shutdown","completed":true}"#;
    let request = post("/notes", body);
    let (first, second) = request.split_at(request.len() - body.len() / 2);
    let mut stream = TcpStream::connect(("127.0.0.1", service.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(first.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    service.terminate();
    std::thread::sleep(Duration::from_millis(500));

    // New connections are no longer accepted...
    assert!(
        TcpStream::connect(("127.0.0.1", service.port)).is_err(),
        "the listener is closed after SIGTERM"
    );
    // ...but the one in flight completes.
    stream.write_all(second.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "in-flight request answered: {response:?}\n{}",
        service.output()
    );
    let status = service.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", service.output());

    // The note was really stored.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let notes = rt.block_on(async {
        use notes_service::{
            db::keyset::{Direction, PageSpec},
            db::owner::Owner,
            notes::store,
        };
        let db = sea_orm::Database::connect(&url).await.unwrap();
        let first_page = PageSpec {
            after: None,
            offset: 0,
            limit: 10,
            direction: Direction::Ascending,
        };
        store::list(
            &db,
            &Owner::Anyone,
            store::NoteFilter::default(),
            first_page,
        )
        .await
        .unwrap()
        .items
    });
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].text, "written during shutdown");
}

// ---- The migration binary and the schema check, on every backend ----

backend_tests!(migration_binary_up_status_down_up, auto_migrate_on_and_off);

async fn migration_binary_up_status_down_up(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let migrate = |args: &[&str]| {
        let mut cmd = command(migration_bin(), "production");
        cmd.env("DATABASE_URL", &db.url).args(args);
        run(&mut cmd)
    };
    let serve = || {
        let mut cmd = command(SERVICE, "production");
        cmd.env("DATABASE_URL", &db.url);
        cmd
    };

    let names = migration_names();
    let (first, last) = (&names[0], &names[names.len() - 1]);

    // A fresh database: production refuses it and says what to do.
    let (status, text) = run(&mut serve());
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        text.contains("pending") && text.contains("migration up"),
        "{text}"
    );

    let (status, text) = migrate(&["status"]);
    assert!(status.success(), "{text}");
    assert!(
        text.contains(first.as_str()) && text.contains("Pending"),
        "{text}"
    );

    let (status, text) = migrate(&["up"]);
    assert!(status.success(), "{text}");
    assert!(
        text.contains(&format!("Applying migration '{first}'")),
        "{text}"
    );
    let (status, text) = migrate(&["up"]);
    assert!(status.success(), "{text}");
    assert!(
        text.contains("No pending migrations"),
        "up twice is a no-op: {text}"
    );
    let (status, text) = migrate(&["status"]);
    assert!(status.success() && text.contains("Applied"), "{text}");

    // Now the service serves it.
    let mut service = Service::start(serve());
    let created = service.request(&post("/notes", r#"{"text":"after up","completed":false}"#));
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    service.terminate();
    assert!(service.wait(Duration::from_secs(10)).success());

    // Down one step: the service refuses the schema again; up brings it back, data kept.
    let (status, text) = migrate(&["down"]);
    assert!(status.success(), "{text}");
    assert!(
        text.contains(&format!("Rolling back migration '{last}'")),
        "{text}"
    );
    let (status, text) = run(&mut serve());
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains(last.as_str()), "{text}");
    let (status, text) = migrate(&["up"]);
    assert!(status.success(), "{text}");
    let service = Service::start(serve());
    let list = service.request(&get("/notes"));
    assert!(
        list.starts_with("HTTP/1.1 200") && list.contains("after up"),
        "{list}"
    );
    drop(service);
    // Down all the way removes the schema; up brings it back, empty.
    let (status, text) = migrate(&["down", "-n", &names.len().to_string()]);
    assert!(
        status.success() && text.contains(&format!("Rolling back migration '{first}'")),
        "{text}"
    );
    let (status, text) = migrate(&["up"]);
    assert!(status.success(), "{text}");
    let service = Service::start(serve());
    let list = service.request(&get("/notes"));
    assert!(
        list.starts_with("HTTP/1.1 200") && list.ends_with("[]"),
        "{list}"
    );
}

async fn auto_migrate_on_and_off(backend: Backend) {
    use notes_service::{
        app::{Application, StartupError},
        db::schema::SchemaError,
    };

    let db = TestDatabase::new(backend).await;
    let mut settings = crate::common::test_settings(&db);
    settings.database.auto_migrate = false;
    match Application::build(settings.clone()).await {
        Err(StartupError::Schema(SchemaError::Pending { count, names })) => {
            let expected = migration_names();
            assert_eq!(count, expected.len());
            for name in &expected {
                assert!(names.contains(name.as_str()), "{name} in {names}");
            }
        }
        Err(other) => panic!("expected pending migrations, got {other}"),
        Ok(_) => panic!("a database without schema was served with auto_migrate off"),
    }
    settings.database.auto_migrate = true;
    let app = crate::common::TestApp::start(db, settings.clone()).await;
    app.create("/notes", &json!({"text": "migrated at start"}))
        .await;
    app.stop().await;
}
