//! The drain on SIGTERM, on the real binary: readiness flips to 503 at once, new connections
//! and requests are still served for `server.drain_seconds`, every response asks its client
//! to close the connection, then the listener closes and the process exits 0. Ctrl-C does not
//! drain. And the drain each shipped profile sets.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use crate::common::process::{SERVICE, Service, command, get, post};

/// A response read off a kept-alive connection: status, lower-cased headers, body.
struct Response {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Response {
    fn closes(&self) -> bool {
        self.headers
            .get("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Sends one request on `stream` (kept alive) and reads exactly one response.
fn exchange(stream: &mut BufReader<TcpStream>, request: &str) -> Response {
    stream.get_mut().write_all(request.as_bytes()).unwrap();
    let mut status_line = String::new();
    stream.read_line(&mut status_line).unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {status_line:?}"));
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: usize = headers["content-length"].parse().unwrap();
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    Response {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

fn connect(port: u16) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("the service accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    BufReader::new(stream)
}

fn keep_alive_get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}

/// Whether the server closed `stream` (EOF) rather than keep it open for another request.
fn closed_by_server(stream: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    matches!(stream.read_to_end(&mut rest), Ok(0))
}

fn sqlite_service(drain_seconds: u64) -> (tempfile::TempDir, Service) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("n.db").display());
    let mut cmd = command(SERVICE, "test");
    cmd.env("DATABASE_URL", &url)
        .env("APP__SERVER__DRAIN_SECONDS", drain_seconds.to_string());
    (dir, Service::start(cmd))
}

#[test]
fn sigterm_drains_then_closes_the_listener_and_exits_0() {
    const DRAIN: u64 = 3;
    let (_dir, mut service) = sqlite_service(DRAIN);

    // Before: ready, and a kept-alive connection stays open.
    let mut kept = connect(service.port);
    let ready = exchange(&mut kept, &keep_alive_get("/health/ready"));
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(!ready.closes(), "no Connection: close before SIGTERM");

    service.terminate();
    let signalled = Instant::now();
    std::thread::sleep(Duration::from_millis(300));

    // Readiness has flipped, on a new connection: the service still accepts.
    let mut fresh = connect(service.port);
    let not_ready = exchange(&mut fresh, &keep_alive_get("/health/ready"));
    assert_eq!(not_ready.status, 503, "{}", not_ready.body);
    assert_eq!(
        not_ready.headers["content-type"],
        "application/problem+json"
    );
    assert!(not_ready.headers.contains_key("retry-after"));
    assert!(
        not_ready.body.contains("shutting down"),
        "{}",
        not_ready.body
    );
    assert!(
        not_ready.closes(),
        "draining responses close the connection"
    );
    assert!(closed_by_server(&mut fresh));

    // The connection kept alive from before SIGTERM is served, then told to go elsewhere.
    let listed = exchange(&mut kept, &keep_alive_get("/notes"));
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(
        listed.closes(),
        "Connection: close on a kept-alive connection"
    );
    assert!(closed_by_server(&mut kept));

    // Writes are served during the drain too, on new connections.
    let created = service.request(&post("/notes", r#"{"text":"drained","completed":false}"#));
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");

    // Still accepting near the end of the drain...
    let wait_until = Duration::from_secs(DRAIN) - Duration::from_millis(700);
    std::thread::sleep(wait_until.saturating_sub(signalled.elapsed()));
    let late = service.request(&get("/notes"));
    assert!(
        late.starts_with("HTTP/1.1 200") && late.contains("drained"),
        "served {:?} after SIGTERM: {late}",
        signalled.elapsed()
    );

    // ...then the listener closes and the process exits 0.
    let status = service.wait(Duration::from_secs(DRAIN + 10));
    assert_eq!(status.code(), Some(0), "{}", service.output());
    assert!(
        signalled.elapsed() >= Duration::from_secs(DRAIN),
        "exited after {:?}, before the drain of {DRAIN} s ended",
        signalled.elapsed()
    );
    assert!(TcpStream::connect(("127.0.0.1", service.port)).is_err());
    let output = service.output();
    assert!(output.contains("draining"), "{output}");
}

#[test]
fn ctrl_c_does_not_drain() {
    let (_dir, mut service) = sqlite_service(60);
    let status = std::process::Command::new("kill")
        .args(["-INT", &service.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = service.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", service.output());
    assert!(
        !service.output().contains("draining"),
        "{}",
        service.output()
    );
}

#[test]
fn each_profile_drains_as_documented() {
    let load = |profile| {
        notes_service::config::Settings::load_with_env(
            &crate::common::config_dir(),
            profile,
            HashMap::new(),
        )
        .unwrap()
        .server
        .drain_seconds
    };
    assert_eq!(
        load("development"),
        0,
        "Ctrl-C in development stops at once"
    );
    assert_eq!(load("test"), 0);
    // Covers a 5 s readiness period twice (deploy/ probes every 5 s).
    assert_eq!(load("production"), 10);
}
