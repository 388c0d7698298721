//! A real OpenID Connect provider for the tests: tools/oidc-provider (panva's oidc-provider on
//! Node.js) as a process, one per test binary, started on first use and stopped when the
//! binary exits (as containers.rs does with the database servers). Its clients get JWT access
//! tokens (RFC 9068) for [`AUDIENCE`] with the client-credentials grant; each client is an
//! owner, its `sub` is its id. The provider takes the API's scopes from the checked-in
//! openapi.json (every scope in an operation's `security`) and refuses a client scope that is
//! not among them.
//!
//! It needs Node.js 20.19+ and npm. The provider's packages are installed (`npm ci`, from
//! tools/oidc-provider/package-lock.json) when missing or older than the lock file. Without
//! Node.js the tests that use it fail and say how to install it; tests that use it have `oidc`
//! in their names (module or function), so `cargo test -- --skip oidc` leaves them out.

use std::{
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, Once, mpsc},
    time::Duration,
};

use serde_json::Value;
use tokio::sync::OnceCell;

/// The API the provider issues tokens for (the `aud` of every token).
pub const AUDIENCE: &str = "notes-api";

/// The lifetime of the provider's access tokens (`--token-ttl`).
pub const TOKEN_TTL_SECONDS: i64 = 600;

/// A client of the provider: an owner of notes. Its tokens' `sub` and `client_id` are its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderClient {
    pub id: &'static str,
    secret: &'static str,
    /// The scopes it may be given.
    pub scope: &'static str,
    /// The algorithm its access tokens are signed with.
    pub alg: &'static str,
}

impl ProviderClient {
    /// Test clients: the secret is the id.
    const fn new(id: &'static str, scope: &'static str, alg: &'static str) -> Self {
        Self {
            id,
            secret: id,
            scope,
            alg,
        }
    }

    /// The `sub` of its tokens.
    pub fn sub(&self) -> &'static str {
        self.id
    }
}

/// Named, not `*` (every scope the API declares): the tests ask for these, and a read-only
/// client must stay read-only whatever scopes other resources add.
const READ_WRITE: &str = "notes:read notes:write";

/// Two owners with both scopes (RS256), for ownership tests.
pub const OWNER_A: ProviderClient = ProviderClient::new("owner-a", READ_WRITE, "RS256");
pub const OWNER_B: ProviderClient = ProviderClient::new("owner-b", READ_WRITE, "RS256");
/// An owner that may only read: asking for `notes:write` is refused by the provider.
pub const READER: ProviderClient = ProviderClient::new("reader", "notes:read", "RS256");
/// Owners whose tokens are signed with the other algorithms.
pub const OWNER_PS256: ProviderClient = ProviderClient::new("owner-ps256", READ_WRITE, "PS256");
pub const OWNER_ES256: ProviderClient = ProviderClient::new("owner-es256", READ_WRITE, "ES256");
pub const OWNER_EDDSA: ProviderClient = ProviderClient::new("owner-eddsa", READ_WRITE, "EdDSA");

pub const CLIENTS: [ProviderClient; 6] = [
    OWNER_A,
    OWNER_B,
    READER,
    OWNER_PS256,
    OWNER_ES256,
    OWNER_EDDSA,
];

/// The running provider.
pub struct OidcProvider {
    issuer: String,
    resource: String,
    http: reqwest::Client,
}

impl OidcProvider {
    /// `http://127.0.0.1:PORT` (no trailing slash), what the service's `auth.issuer` is set to.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        AUDIENCE
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// The token endpoint's answer to a client-credentials request by `client` for `scopes`
    /// (space-separated; "" asks for none), for tests of refusals.
    pub async fn request_token(&self, client: &ProviderClient, scopes: &str) -> reqwest::Response {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials")
            .append_pair("resource", &self.resource);
        if !scopes.is_empty() {
            form.append_pair("scope", scopes);
        }
        self.http
            .post(format!("{}/token", self.issuer))
            .basic_auth(client.id, Some(client.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.finish())
            .send()
            .await
            .expect("the provider's token endpoint answers")
    }

    /// A fresh access token for `client` with `scopes` (space-separated).
    pub async fn token(&self, client: &ProviderClient, scopes: &str) -> String {
        let response = self.request_token(client, scopes).await;
        let status = response.status();
        let body: Value = response.json().await.expect("a JSON token response");
        assert_eq!(status, 200, "token for {} ({scopes}): {body}", client.id);
        body["access_token"]
            .as_str()
            .expect("an access_token")
            .to_owned()
    }
}

/// The provider of this test binary, started on first use.
pub async fn provider() -> &'static OidcProvider {
    static PROVIDER: OnceCell<Result<OidcProvider, String>> = OnceCell::const_new();
    let started = PROVIDER
        .get_or_init(|| async {
            tokio::task::spawn_blocking(start)
                .await
                .unwrap_or_else(|e| Err(format!("starting the provider panicked: {e}")))
        })
        .await;
    match started {
        Ok(provider) => provider,
        Err(err) => panic!("{err}"),
    }
}

const HOW_TO_INSTALL: &str = "These tests run a real OpenID Connect provider (tools/oidc-provider) \
     and need Node.js 20.19 or later with npm. Debian 13: apt-get install nodejs npm; Debian 12 \
     and older Ubuntu releases ship an older Node.js: install Node.js 22 LTS from the Node.js \
     project's Debian packages (NodeSource) or release binaries, or with nvm. The tests that \
     need no identity provider run without it: cargo test --workspace -- --skip oidc (the \
     tests that start the provider have `oidc` in their names)";

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/oidc-provider")
}

/// The child, for the exit handler.
static CHILD: Mutex<Option<Child>> = Mutex::new(None);
static CLEANUP: Once = Once::new();

extern "C" fn stop_provider() {
    let child = CHILD.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(mut child) = child {
        // SIGTERM lets it close its port; it exits within milliseconds (else killed).
        if let Ok(pid) = i32::try_from(child.id()) {
            // Safety: signals our own child, still unreaped, so the pid is still its.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        for _ in 0..100 {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn start() -> Result<OidcProvider, String> {
    check_node()?;
    let dir = provider_dir();
    install(&dir)?;
    CLEANUP.call_once(|| {
        // Safety: registers a plain function; it runs once, at process exit.
        unsafe { libc::atexit(stop_provider) };
    });

    let clients: Vec<Value> = CLIENTS
        .iter()
        .map(|c| {
            serde_json::json!({
                "client_id": c.id, "client_secret": c.secret, "scope": c.scope, "alg": c.alg,
            })
        })
        .collect();
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("provider.mjs"))
        .args(["--port", "0", "--audience", AUDIENCE])
        .args(["--token-ttl", &TOKEN_TTL_SECONDS.to_string()])
        .arg("--clients")
        .arg(Value::from(clients).to_string())
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        // A developer's settings for the provider must not reach the tests' one.
        if key.starts_with("OIDC_") {
            cmd.env_remove(key);
        }
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // Safety: prctl is async-signal-safe. The provider gets SIGTERM if the thread that
        // started it ends (the binary killed without running its exit handler).
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
    }

    // A thread that lives as long as the provider: it starts it (so that the death signal
    // above is tied to it, not to a test's thread) and reads its stdout to the end.
    let stderr_lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let (ready_tx, ready_rx) = mpsc::channel::<Result<String, String>>();
    let stderr_for_thread = stderr_lines.clone();
    std::thread::Builder::new()
        .name("oidc-provider".into())
        .spawn(move || {
            let mut child = match cmd.spawn() {
                Ok(child) => child,
                Err(err) => {
                    let _ = ready_tx.send(Err(format!("cannot run node: {err}")));
                    return;
                }
            };
            let stdout = child.stdout.take().expect("piped stdout");
            let stderr = child.stderr.take().expect("piped stderr");
            *CHILD.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
            std::thread::spawn(move || keep_last_lines(stderr, &stderr_for_thread));
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("oidc-provider ready: ") {
                    let _ = ready_tx.send(Ok(rest.to_owned()));
                }
            }
            let _ = ready_tx.send(Err("the provider exited".to_owned()));
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;

    let ready = ready_rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| "no ready line within 30 s".to_owned())
        .and_then(|r| r);
    let ready = match ready {
        Ok(ready) => ready,
        Err(err) => {
            // Give stderr's reader a moment to collect the reason.
            std::thread::sleep(Duration::from_millis(200));
            let stderr = stderr_lines
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .join("\n");
            return Err(format!(
                "the OpenID Connect provider did not start ({err}):\n{stderr}"
            ));
        }
    };
    // `issuer=http://127.0.0.1:PORT audience=notes-api resource=urn:notes-api`
    let field = |name: &str| {
        ready
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
            .ok_or_else(|| format!("no {name} in the provider's ready line: {ready}"))
    };
    let http = reqwest::Client::builder()
        // Tests run on runtimes of their own: a pooled connection would die with its runtime.
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(OidcProvider {
        issuer: field("issuer")?,
        resource: field("resource")?,
        http,
    })
}

fn keep_last_lines(stream: impl Read, lines: &Mutex<Vec<String>>) {
    for line in BufReader::new(stream).lines().map_while(Result::ok) {
        let mut lines = lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == 50 {
            lines.remove(0);
        }
        lines.push(line);
    }
}

/// `node` (20.19 or later) and `npm` run.
fn check_node() -> Result<(), String> {
    let version = |program: &str| -> Result<String, String> {
        let output = Command::new(program)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {program} ({e}). {HOW_TO_INSTALL}"))?;
        if !output.status.success() {
            return Err(format!("`{program} --version` failed. {HOW_TO_INSTALL}"));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let node = version("node")?;
    version("npm")?;
    let mut parts = node
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < (20, 19) {
        return Err(format!("node {node} is too old. {HOW_TO_INSTALL}"));
    }
    Ok(())
}

const MARKER: &str = ".installed-package-lock.json";

fn installed(dir: &Path, lock: &[u8]) -> bool {
    std::fs::read(dir.join("node_modules").join(MARKER)).is_ok_and(|marker| marker == lock)
}

/// Installs the provider's packages when node_modules is missing or was installed from
/// another lock file. `npm ci` runs in a scratch folder renamed into place, so that test
/// binaries (or scripts/dev-oidc-provider) installing at the same time never see a
/// half-written node_modules: the later rename fails and finds the install done.
fn install(dir: &Path) -> Result<(), String> {
    let lock = std::fs::read(dir.join("package-lock.json"))
        .map_err(|e| format!("{}/package-lock.json: {e}", dir.display()))?;
    if installed(dir, &lock) {
        return Ok(());
    }
    let scratch = tempfile::Builder::new()
        .prefix(".install-")
        .tempdir_in(dir)
        .map_err(|e| format!("a scratch folder in {}: {e}", dir.display()))?;
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(dir.join(file), scratch.path().join(file))
            .map_err(|e| format!("copying {file}: {e}"))?;
    }
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(scratch.path())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run npm ({e}). {HOW_TO_INSTALL}"))?;
    if !output.status.success() {
        return Err(format!(
            "`npm ci` failed in {} (is the npm registry reachable?):\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let fresh = scratch.path().join("node_modules");
    std::fs::write(fresh.join(MARKER), &lock).map_err(|e| e.to_string())?;
    let target = dir.join("node_modules");
    if target.exists() && !installed(dir, &lock) {
        // Stale: moved into the scratch folder, removed with it.
        let _ = std::fs::rename(&target, scratch.path().join("stale-node_modules"));
    }
    match std::fs::rename(&fresh, &target) {
        Ok(()) => Ok(()),
        Err(_) if installed(dir, &lock) => Ok(()),
        Err(e) => Err(format!("moving node_modules into {}: {e}", dir.display())),
    }
}
