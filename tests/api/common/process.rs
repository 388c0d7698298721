//! The real binaries as processes, as users run them: a clean environment for the service's
//! settings, a `notes-service` started on a free port, raw HTTP/1.1 requests to it.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

pub const SERVICE: &str = env!("CARGO_BIN_EXE_notes-service");

/// A command with a clean environment for the service's settings.
pub fn command(program: impl AsRef<std::ffi::OsStr>, profile: &str) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars() {
        // OTEL_*: a developer's tracing settings must not reach (or change) the tests.
        if key.starts_with("APP_")
            || key.starts_with("OTEL_")
            || key == "DATABASE_URL"
            || key == "RUST_LOG"
        {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("APP_CONFIG_DIR", super::config_dir())
        .env("APP_ENV", profile)
        // Tests stop services with SIGTERM: no drain (production's is 10 s) unless a test
        // sets one.
        .env("APP__SERVER__DRAIN_SECONDS", "0")
        .stdin(Stdio::null());
    cmd
}

/// Runs to completion; returns the status and stdout+stderr.
pub fn run(cmd: &mut Command) -> (ExitStatus, String) {
    let output = cmd.output().expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status, text)
}

/// A running `notes-service` process; killed if the test ends early.
pub struct Service {
    child: Child,
    pub port: u16,
    output: Arc<Mutex<Vec<String>>>,
}

impl Service {
    /// Starts the binary on 127.0.0.1:<free port> and waits for its "listening" line.
    pub fn start(mut cmd: Command) -> Self {
        cmd.env("APP__SERVER__HOST", "127.0.0.1")
            .env("APP__SERVER__PORT", "0")
            .env("APP__LOG__LEVEL", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("notes-service starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    output.lock().unwrap().push(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let port = output.lock().unwrap().iter().find_map(|line| {
                let rest = line.split("listening on http://").nth(1)?;
                let addr: String = rest
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '"')
                    .collect();
                addr.rsplit(':').next()?.parse::<u16>().ok()
            });
            if let Some(port) = port {
                return Self {
                    child,
                    port,
                    output,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "notes-service exited ({status}) before listening:\n{}",
                    output.lock().unwrap().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "notes-service did not start:\n{}",
                output.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// One HTTP/1.1 request on a fresh connection; returns the whole response.
    pub fn request(&self, head_and_body: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(head_and_body.as_bytes()).unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    pub fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {within:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

pub fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
}
