//! Trace export as users turn it on: the real `notes-service` binary, configured by `OTEL_*`
//! variables only, sending OTLP/HTTP to a receiver that runs inside the test and decodes what
//! arrives (protobuf, the default, and JSON). Also: nothing is sent unless asked, and
//! settings this build cannot honour stop start-up.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::common::process::{SERVICE, Service, command, post, run};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::{Span, span::SpanKind, status::StatusCode},
};
use poem::{EndpointExt, Request, Route, Server, handler, http, listener::TcpAcceptor, web::Data};
use prost::Message;
use serde_json::Value;

/// One POST the receiver got.
struct Received {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

/// What arrived, decoded: each span with its resource's attributes.
struct Exported {
    span: Span,
    resource: Vec<KeyValue>,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

/// An OTLP/HTTP receiver on a free loopback port, in a thread of its own. It answers every
/// POST with 200, on any path, and keeps what it was sent.
struct Receiver {
    addr: SocketAddr,
    inbox: Inbox,
}

#[handler]
async fn collect(req: &Request, body: Vec<u8>, inbox: Data<&Inbox>) -> http::StatusCode {
    let content_type = req.content_type().unwrap_or_default().to_owned();
    inbox.lock().unwrap().push(Received {
        path: req.uri().path().to_owned(),
        content_type,
        body,
    });
    http::StatusCode::OK
}

impl Receiver {
    fn start() -> Self {
        let inbox = Inbox::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let app = Route::new()
            .at("/*path", poem::post(collect))
            .data(inbox.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the receiver");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
                let _ = Server::new_with_acceptor(acceptor).run(app).await;
            });
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the receiver listens");
        Self { addr, inbox }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn posts(&self) -> usize {
        self.inbox.lock().unwrap().len()
    }

    /// Every span received so far, decoded by the content type it came with.
    fn spans(&self) -> Vec<Exported> {
        let inbox = self.inbox.lock().unwrap();
        let mut spans = Vec::new();
        for received in inbox.iter() {
            assert_eq!(received.path, "/v1/traces");
            let request = match received.content_type.as_str() {
                "application/x-protobuf" => ExportTraceServiceRequest::decode(&*received.body)
                    .expect("an OTLP protobuf body"),
                "application/json" => {
                    serde_json::from_slice(&received.body).expect("an OTLP JSON body")
                }
                other => panic!("unexpected content type {other:?}"),
            };
            for resource_spans in request.resource_spans {
                let resource = resource_spans.resource.unwrap_or_default().attributes;
                for scope in resource_spans.scope_spans {
                    spans.extend(scope.spans.into_iter().map(|span| Exported {
                        span,
                        resource: resource.clone(),
                    }));
                }
            }
        }
        spans
    }

    /// Waits until `done` holds for the spans received, and returns them.
    fn wait_for(&self, what: &str, done: impl Fn(&[Exported]) -> bool) -> Vec<Exported> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "{what} never arrived; got: {:?}",
                spans.iter().map(|e| &e.span.name).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|value: &AnyValue| value.value.as_ref())
}

fn string_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attributes, key)? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

fn int_attr(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attributes, key)? {
        any_value::Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn database_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("n.db").display())
}

/// The service on a fresh SQLite file, production profile (JSON logs), with extra variables.
fn service(dir: &tempfile::TempDir, vars: &[(&str, &str)]) -> Service {
    let mut cmd = command(SERVICE, "production");
    cmd.env("DATABASE_URL", database_url(dir))
        .env("APP__DATABASE__AUTO_MIGRATE", "true");
    for (key, value) in vars {
        cmd.env(key, value);
    }
    Service::start(cmd)
}

fn get_with_trace(path: &str, request_id: &str, traceparent: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nx-request-id: {request_id}\r\n\
         traceparent: {traceparent}\r\ntracestate: vendor=opaque\r\n\r\n"
    )
}

/// The JSON log line of the request with this id.
fn log_line(service: &Service, request_id: &str) -> Value {
    let output = service.output();
    output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "request" && l["span"]["request_id"] == request_id)
        .unwrap_or_else(|| panic!("a request line for {request_id}:\n{output}"))
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

#[test]
fn request_and_statement_spans_continue_the_callers_trace() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let service = service(
        &dir,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=test",
            ),
            // What docker-compose.yml passes when .env sets nothing else.
            ("OTEL_EXPORTER_OTLP_HEADERS", ""),
            ("OTEL_SERVICE_NAME", ""),
            ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
            ("OTEL_TRACES_SAMPLER_ARG", ""),
        ],
    );
    let created = service.request(&post("/notes", r#"{"text":"traced"}"#));
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    let body = created.split("\r\n\r\n").nth(1).unwrap_or_default();
    let id = serde_json::from_str::<Value>(body).unwrap()["id"].clone();

    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let found = service.request(&get_with_trace(
        &format!("/notes/{id}"),
        "otel-ok",
        &traceparent,
    ));
    assert!(found.starts_with("HTTP/1.1 200"), "{found}");
    let missing = service.request(&get_with_trace(
        "/notes/999999",
        "otel-missing",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    ));
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");

    let is_server = |e: &Exported, status: i64| {
        e.span.kind == SpanKind::Server as i32
            && int_attr(&e.span.attributes, "http.response.status_code") == Some(status)
    };
    let spans = receiver.wait_for("the server spans of the GET requests", |spans| {
        spans.iter().any(|e| is_server(e, 200)) && spans.iter().any(|e| is_server(e, 404))
    });

    // The 200: named after the route template, in the caller's trace, under its span.
    let ok = spans.iter().find(|e| is_server(e, 200)).unwrap();
    let attributes = &ok.span.attributes;
    assert_eq!(ok.span.name, "GET /notes/{id}");
    assert_eq!(string_attr(attributes, "http.route"), Some("/notes/{id}"));
    assert_eq!(string_attr(attributes, "http.request.method"), Some("GET"));
    assert_eq!(
        string_attr(attributes, "url.path"),
        Some(format!("/notes/{id}").as_str())
    );
    assert_eq!(string_attr(attributes, "request_id"), Some("otel-ok"));
    assert_eq!(hex(&ok.span.trace_id), TRACE_ID);
    assert_eq!(hex(&ok.span.parent_span_id), PARENT_ID);
    assert_eq!(ok.span.trace_state, "vendor=opaque");
    assert_ne!(
        ok.span.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
    assert_eq!(
        string_attr(&ok.resource, "service.name"),
        Some("notes-service"),
        "the package name when OTEL_SERVICE_NAME is empty"
    );
    assert_eq!(
        string_attr(&ok.resource, "deployment.environment.name"),
        Some("test")
    );

    // Its SELECT: a client span under it, with the database conventions.
    let statement = spans
        .iter()
        .find(|e| e.span.parent_span_id == ok.span.span_id)
        .unwrap_or_else(|| panic!("a statement span under {}", ok.span.name));
    assert_eq!(statement.span.trace_id, ok.span.trace_id);
    assert_eq!(statement.span.kind, SpanKind::Client as i32);
    assert_eq!(
        string_attr(&statement.span.attributes, "db.system"),
        Some("sqlite")
    );
    assert_eq!(
        string_attr(&statement.span.attributes, "db.operation"),
        Some("SELECT")
    );

    // The 404 is the same route; a client error leaves the server span's status unset.
    let not_found = spans.iter().find(|e| is_server(e, 404)).unwrap();
    assert_eq!(not_found.span.name, "GET /notes/{id}");
    assert_eq!(
        string_attr(&not_found.span.attributes, "http.route"),
        Some("/notes/{id}")
    );
    assert_ne!(
        not_found.span.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );

    // A server error: the span's status is an error. (The table is gone, so the query fails.)
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(database_url(&dir))
            .await
            .unwrap();
        db.execute_unprepared("DROP TABLE notes").await.unwrap();
        db.close().await.unwrap();
    });
    let failed = service.request(&get_with_trace("/notes", "otel-500", &traceparent));
    assert!(failed.starts_with("HTTP/1.1 500"), "{failed}");
    let spans = receiver.wait_for("the server span of the 500", |spans| {
        spans.iter().any(|e| is_server(e, 500))
    });
    let failed = spans.iter().find(|e| is_server(e, 500)).unwrap();
    assert_eq!(failed.span.name, "GET /notes");
    assert_eq!(
        failed.span.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
    assert_eq!(
        string_attr(&failed.span.attributes, "error.type"),
        Some("500")
    );

    // The log line carries the request id and the trace id; statement spans stay out of logs.
    let line = log_line(&service, "otel-ok");
    assert_eq!(line["span"]["trace_id"], TRACE_ID, "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert!(
        !service.output().contains("\"level\":\"WARN\""),
        "empty OTEL_* values are unset, not invalid:\n{}",
        service.output()
    );
    assert!(
        !service.output().contains("sea_orm.query"),
        "statement spans in the log:\n{}",
        service.output()
    );
}

#[test]
fn json_protocol_and_the_last_spans_flushed_at_shutdown() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    // A batch delay longer than the test: only the shutdown can send the span.
    let mut service = service(
        &dir,
        &[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                &format!("{}/v1/traces", receiver.endpoint()),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_SERVICE_NAME", "notes-json"),
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ],
    );
    let list = service.request(&get_with_trace(
        "/notes?limit=5",
        "otel-json",
        &format!("00-{TRACE_ID}-{PARENT_ID}-01"),
    ));
    assert!(list.starts_with("HTTP/1.1 200"), "{list}");
    service.terminate();
    let status = service.wait(Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(200));
    assert!(status.success(), "{status:?}\n{}", service.output());

    assert!(
        receiver.posts() > 0,
        "nothing exported by the time the process exited"
    );
    let spans = receiver.spans();
    let list = spans
        .iter()
        .find(|e| e.span.name == "GET /notes")
        .unwrap_or_else(|| panic!("the list span:\n{}", service.output()));
    assert_eq!(hex(&list.span.trace_id), TRACE_ID);
    assert_eq!(
        string_attr(&list.resource, "service.name"),
        Some("notes-json")
    );
    assert!(
        receiver
            .inbox
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.content_type == "application/json")
    );
}

#[test]
fn nothing_is_exported_unless_asked() {
    let receiver = Receiver::start();
    let endpoint = receiver.endpoint();
    let cases: [&[(&str, &str)]; 4] = [
        &[],
        // How compose passes an unset variable through: empty means off.
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
        ],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SDK_DISABLED", "true"),
        ],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_TRACES_EXPORTER", "none"),
        ],
    ];
    let dirs: Vec<_> = cases.iter().map(|_| tempfile::tempdir().unwrap()).collect();
    let services: Vec<_> = cases
        .iter()
        .zip(&dirs)
        .map(|(vars, dir)| {
            let mut vars = vars.to_vec();
            vars.push(("OTEL_BSP_SCHEDULE_DELAY", "50"));
            service(dir, &vars)
        })
        .collect();
    for (i, service) in services.iter().enumerate() {
        let response = service.request(&get_with_trace(
            "/notes/1",
            &format!("off-{i}"),
            &format!("00-{TRACE_ID}-{PARENT_ID}-01"),
        ));
        assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    }
    // Ten times the batch delay.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.posts(), 0, "the receiver was sent something");
    for (i, service) in services.iter().enumerate() {
        let line = log_line(service, &format!("off-{i}"));
        assert!(line["span"].get("trace_id").is_none(), "case {i}: {line}");
        assert!(
            !service.output().contains("exporting traces"),
            "case {i}:\n{}",
            service.output()
        );
    }
}

#[test]
fn settings_this_build_cannot_honour_stop_start_up() {
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1");
    for vars in [
        [endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
        [endpoint, ("OTEL_TRACES_EXPORTER", "zipkin")],
        [
            endpoint,
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://collector.example:4318",
            ),
        ],
    ] {
        let mut cmd = command(SERVICE, "production");
        cmd.envs(vars);
        let (status, text) = run(&mut cmd);
        // The last setting wins and is the one named.
        let (key, value) = vars[1];
        assert_eq!(status.code(), Some(2), "{key}={value}: {text}");
        assert!(text.contains(key) && text.contains(value), "{text}");
    }
}
