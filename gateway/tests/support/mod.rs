//! Test harness for the conformance tests: builds the conformance filter to wasm once, starts
//! the real `gateway` binary on free ports (stopped on drop, also when a test fails), runs small
//! local HTTP servers as upstreams and identity providers, and sends requests through the
//! workspace's test HTTP client (test-support/http-client), whose parser its servers use too.
// Each conformance suite is its own crate and uses a part of this support, so the rest is dead
// code there and its `pub` items are unreachable from that crate's root. Like a test body, it
// may unwrap, panic and index: a broken setup should stop the test where it broke.
#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use test_http_client as client;
use test_http_client::Wire;
pub use test_http_client::{Message, Response};

pub const SERVICE_ID: &str = "5fa9e468-0007-4d7e-9aeb-49ca9edd6ccd";
pub const ROUTE_ID: &str = "6fa9e468-0007-4d7e-9aeb-49ca9edd6ccd";
pub const PLUGIN_ID: &str = "5f35b796-ced6-4c00-9b2a-90eef745f4f9";

// ---------------------------------------------------------------------------------------------
// The conformance filter

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("gateway/ has a parent")
        .to_path_buf()
}

fn newest_mtime(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let mtime = if path.is_dir() {
                newest_mtime(&path)
            } else {
                entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH)
            };
            newest = newest.max(mtime);
        }
    }
    newest
}

fn is_stale(wasm: &Path, sources: &Path) -> bool {
    match fs::metadata(wasm).and_then(|m| m.modified()) {
        Ok(built) => built < newest_mtime(sources),
        Err(_) => true,
    }
}

/// The conformance filter's .wasm, built (once per test binary, under a file lock shared with
/// other test binaries) when missing or older than its sources.
pub fn conformance_wasm() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let workspace = workspace_dir();
            let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace.join("target"));
            let wasm = target.join("wasm32-wasip1/release/conformance_filter.wasm");
            let sources = workspace.join("gateway/conformance-filter");
            if !is_stale(&wasm, &sources) {
                return wasm;
            }
            fs::create_dir_all(&target).expect("create the target dir");
            let lock = File::create(target.join("conformance-filter.build-lock")).expect("create the build lock");
            lock.lock().expect("take the build lock");
            if is_stale(&wasm, &sources) {
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
                let status = Command::new(cargo)
                    .args(["build", "--release", "--target", "wasm32-wasip1", "-p", "conformance-filter"])
                    .current_dir(&workspace)
                    .status()
                    .expect("run cargo");
                assert!(
                    status.success(),
                    "building the conformance filter failed (is the target installed? rustup target add wasm32-wasip1)"
                );
            }
            let _ = lock.unlock();
            wasm
        })
        .clone()
}

/// One of the proxy-wasm Rust SDK's own example filters (`gateway/sdk-examples`, unmodified),
/// built for wasm32-wasip1 when missing or older than its sources, like the conformance filter.
pub fn sdk_example_wasm(name: &str) -> PathBuf {
    let workspace = workspace_dir();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let wasm = target.join(format!("wasm32-wasip1/release/examples/{name}.wasm"));
    let sources = workspace.join("gateway/sdk-examples");
    if !is_stale(&wasm, &sources) {
        return wasm;
    }
    fs::create_dir_all(&target).expect("create the target dir");
    let lock = File::create(target.join("sdk-examples.build-lock")).expect("create the build lock");
    lock.lock().expect("take the build lock");
    if is_stale(&wasm, &sources) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip1",
                "-p",
                "sdk-examples",
                "--example",
                name,
            ])
            .current_dir(&workspace)
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the SDK example {name} failed");
    }
    let _ = lock.unlock();
    wasm
}

// ---------------------------------------------------------------------------------------------
// Temporary directories and ports

pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "gateway-test-{label}-{}-{n}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&path).expect("create a temp dir");
        TempDir { path }
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path.join(name);
        fs::write(&path, contents).expect("write a temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A port that is free now and that no other test of this binary was given (see
/// `test_http_client::free_port` for why not the kernel's `bind(0)`).
pub use test_http_client::free_port;

/// A port nothing listens on.
pub fn dead_port() -> u16 {
    free_port()
}

pub use test_http_client::wait_until;

// ---------------------------------------------------------------------------------------------
// Test servers' messages

/// A received request, as a test server sees it.
pub struct TestRequest {
    pub method: String,
    pub path: String,
    pub message: Message,
}

impl TestRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.message.header(name)
    }

    pub fn query(&self, key: &str) -> Option<String> {
        let query = self.path.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then(|| v.to_string())
        })
    }
}

/// A test server's answer: status, headers, body, optional trailers (sent chunked).
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: u16,
    pub message: Message,
}

impl TestResponse {
    pub fn new(status: u16) -> TestResponse {
        TestResponse {
            status,
            message: Message::default(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> TestResponse {
        self.message
            .headers
            .push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> TestResponse {
        self.message.body = body.into();
        self
    }

    pub fn trailer(mut self, name: &str, value: &str) -> TestResponse {
        self.message
            .trailers
            .push((name.to_string(), value.to_string()));
        self
    }
}

fn write_message(
    out: &mut impl Write,
    start: &str,
    message: &Message,
    extra: &[(&str, String)],
) -> std::io::Result<()> {
    let mut head = format!("{start}\r\n");
    for (name, value) in message
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .chain(extra.iter().map(|(n, v)| (*n, v.clone())))
    {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if message.trailers.is_empty() {
        head.push_str(&format!("content-length: {}\r\n\r\n", message.body.len()));
        out.write_all(head.as_bytes())?;
        out.write_all(&message.body)?;
    } else {
        head.push_str("transfer-encoding: chunked\r\n\r\n");
        out.write_all(head.as_bytes())?;
        if !message.body.is_empty() {
            out.write_all(format!("{:x}\r\n", message.body.len()).as_bytes())?;
            out.write_all(&message.body)?;
            out.write_all(b"\r\n")?;
        }
        let mut tail = String::from("0\r\n");
        for (name, value) in &message.trailers {
            tail.push_str(&format!("{name}: {value}\r\n"));
        }
        tail.push_str("\r\n");
        out.write_all(tail.as_bytes())?;
    }
    out.flush()
}

// ---------------------------------------------------------------------------------------------
// Test servers

type Handler = dyn Fn(&TestRequest) -> TestResponse + Send + Sync;

/// A threaded HTTP/1.1 server (keep-alive, one thread per connection) on a free port.
pub struct TestServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    pub requests: Arc<AtomicUsize>,
}

impl TestServer {
    pub fn start(
        handler: impl Fn(&TestRequest) -> TestResponse + Send + Sync + 'static,
    ) -> TestServer {
        TestServer::spawn(Arc::new(handler), None)
    }

    /// The same, over TLS with the given rustls server config.
    pub fn start_tls(
        config: Arc<rustls::ServerConfig>,
        handler: impl Fn(&TestRequest) -> TestResponse + Send + Sync + 'static,
    ) -> TestServer {
        TestServer::spawn(Arc::new(handler), Some(config))
    }

    fn spawn(handler: Arc<Handler>, tls: Option<Arc<rustls::ServerConfig>>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test server");
        let port = listener.local_addr().expect("local addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let accept = {
            let stop = stop.clone();
            let requests = requests.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let handler = handler.clone();
                    let requests = requests.clone();
                    let tls = tls.clone();
                    std::thread::spawn(move || match tls {
                        None => serve(stream, &*handler, &requests),
                        Some(config) => {
                            let Ok(connection) = rustls::ServerConnection::new(config) else {
                                return;
                            };
                            serve(
                                rustls::StreamOwned::new(connection, stream),
                                &*handler,
                                &requests,
                            )
                        }
                    });
                }
            })
        };
        TestServer {
            port,
            stop,
            accept: Some(accept),
            requests,
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve<S: Read + Write>(stream: S, handler: &Handler, requests: &AtomicUsize) {
    let mut wire = Wire::new(stream);
    while let Some(message) = wire.message(false, false) {
        requests.fetch_add(1, Ordering::Relaxed);
        let mut parts = message.start.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("/").to_string();
        let close = message
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let request = TestRequest {
            method,
            path,
            message,
        };
        let response = handler(&request);
        let start = format!("HTTP/1.1 {} X", response.status);
        if write_message(&mut wire.stream, &start, &response.message, &[]).is_err() || close {
            return;
        }
    }
}

/// A gate for a test server's handler: each `pass` waits for one `release` by the test. A slow
/// service thus answers when the test says so (after it checked what must happen first), not
/// after a guessed time that a busy machine can outlast.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<usize>, Condvar)>);

impl Gate {
    /// How long `pass` waits at most, so a failed test never leaves a server thread behind.
    const LIMIT: Duration = Duration::from_secs(60);

    pub fn new() -> Gate {
        Gate::default()
    }

    /// Lets one waiting (or the next) `pass` through.
    pub fn release(&self) {
        let (permits, wakeup) = &*self.0;
        *permits.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        wakeup.notify_all();
    }

    /// Waits for a release (at most [`Gate::LIMIT`]).
    pub fn pass(&self) {
        let (permits, wakeup) = &*self.0;
        let guard = permits.lock().unwrap_or_else(|p| p.into_inner());
        let (mut guard, _) = wakeup
            .wait_timeout_while(guard, Gate::LIMIT, |permits| *permits == 0)
            .unwrap_or_else(|p| p.into_inner());
        *guard = guard.saturating_sub(1);
    }
}

/// The upstream most tests use: `/raw...` echoes the request body as is, anything else answers
/// a JSON description of the request (method, path, headers with repeated names as arrays,
/// body) plus an `x-upstream-secret` header filters may remove.
pub fn echo_server() -> TestServer {
    TestServer::start(|request| {
        if request.path.starts_with("/raw") {
            return TestResponse::new(200)
                .header("content-type", "text/plain")
                .body(request.message.body.clone());
        }
        let mut headers: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        for (name, value) in &request.message.headers {
            let key = name.to_ascii_lowercase();
            match headers.get_mut(&key) {
                Some(serde_json::Value::Array(items)) => items.push(value.clone().into()),
                Some(existing) => *existing = serde_json::json!([existing.clone(), value]),
                None => {
                    headers.insert(key, value.clone().into());
                }
            }
        }
        let body = serde_json::json!({
            "method": request.method,
            "path": request.path,
            "headers": headers,
            "body": String::from_utf8_lossy(&request.message.body),
        });
        TestResponse::new(200)
            .header("content-type", "application/json")
            .header("x-upstream-secret", "s3cret")
            .body(body.to_string())
    })
}

// ---------------------------------------------------------------------------------------------
// Client

fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// One request on a fresh connection (`Connection: close`).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    client::send(&addr(port), method, path, headers, body)
}

/// The same, running `after_sent` once the whole request is written (e.g. releasing a
/// [`Gate`] so a service answers only after the gateway has the request body).
pub fn request_then(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    after_sent: impl FnOnce(),
) -> Response {
    client::send_then(&addr(port), method, path, headers, body, after_sent)
}

/// A request written by hand (the whole head, `\r\n` line ends, blank line included).
pub fn raw_request(port: u16, head: &str, body: &[u8]) -> Response {
    client::try_exchange(&addr(port), &[head.as_bytes(), body], false, || {})
        .unwrap_or_else(|e| panic!("{e}"))
}

pub fn get(port: u16, path: &str) -> Response {
    request(port, "GET", path, &[], b"")
}

/// A request whose body is sent chunked, one write per chunk.
pub fn request_chunked(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    chunks: &[&[u8]],
) -> Response {
    request_chunked_then(port, path, headers, chunks, || {})
}

/// The same, running `after_sent` once the whole request is written.
pub fn request_chunked_then(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    chunks: &[&[u8]],
    after_sent: impl FnOnce(),
) -> Response {
    client::send_chunked_then(&addr(port), path, headers, chunks, after_sent)
}

// ---------------------------------------------------------------------------------------------
// The gateway process

/// A running `gateway`; killed (and waited for) on drop.
pub struct Gateway {
    child: Child,
    pub proxy_port: u16,
    pub admin_port: u16,
    pub dir: TempDir,
}

/// The usual config: one service (`${UPSTREAM_PORT}`), one route `/`, one conformance plugin
/// on the service with `plugin_config` (JSON) as its config, plus `extra` top-level YAML.
pub fn single_plugin_yaml(plugin_config: &str, extra: &str) -> String {
    format!(
        "proxy_listen: 127.0.0.1:${{PROXY_PORT}}
admin_listen: 127.0.0.1:${{ADMIN_PORT}}
workers: ${{WORKERS:-2}}
{extra}
services:
  - id: {SERVICE_ID}
    name: echo
    url: http://127.0.0.1:${{UPSTREAM_PORT}}
    routes:
      - id: {ROUTE_ID}
        name: all
        paths: [\"/\"]
plugins:
  - id: {PLUGIN_ID}
    name: conformance
    wasm: ${{WASM}}
    service: {SERVICE_ID}
    config: {plugin_config}
"
    )
}

impl Gateway {
    /// Writes `yaml` to a temp dir and starts the gateway with `env` (plus PROXY_PORT,
    /// ADMIN_PORT and WASM), waiting until the admin API answers.
    pub fn start(yaml: &str, env: &[(&str, String)]) -> Gateway {
        Gateway::start_with(TempDir::new("gw"), yaml, env, &[])
    }

    pub fn start_with(dir: TempDir, yaml: &str, env: &[(&str, String)], args: &[&str]) -> Gateway {
        let config = dir.write("gateway.yaml", yaml);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (proxy_port, admin_port) = (free_port(), free_port());
            let mut child = spawn_gateway(&dir, &config, proxy_port, admin_port, env, args);
            match wait_ready(&mut child, admin_port) {
                Ok(()) => {
                    return Gateway {
                        child,
                        proxy_port,
                        admin_port,
                        dir,
                    }
                }
                Err(exit) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let stderr =
                        fs::read_to_string(dir.path.join("stderr.log")).unwrap_or_default();
                    if stderr.contains("cannot listen") && attempt < 3 {
                        continue;
                    }
                    panic!("the gateway did not start ({exit}); stderr:\n{stderr}");
                }
            }
        }
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path.join("stderr.log")).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(self.dir.path.join("stdout.log")).unwrap_or_default()
    }

    pub fn get(&self, path: &str) -> Response {
        get(self.proxy_port, path)
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        request(self.proxy_port, method, path, headers, body)
    }

    pub fn admin(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        request(self.admin_port, method, path, headers, body)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn spawn_gateway(
    dir: &TempDir,
    config: &Path,
    proxy: u16,
    admin: u16,
    env: &[(&str, String)],
    args: &[&str],
) -> Child {
    let stdout = File::create(dir.path.join("stdout.log")).expect("create stdout.log");
    let stderr = File::create(dir.path.join("stderr.log")).expect("create stderr.log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_gateway"));
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .env("PROXY_PORT", proxy.to_string())
        .env("ADMIN_PORT", admin.to_string())
        .env("WASM", conformance_wasm())
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    for (name, value) in env {
        command.env(name, value);
    }
    command.spawn().expect("start the gateway binary")
}

/// Waits until `child` answers `GET /status` on `admin_port`. The answer must carry the
/// child's pid: a port picked free can be taken by another test's server before the gateway
/// (still compiling its filters) binds it, and that server's 200 is not the gateway's.
pub fn wait_ready(child: &mut Child, admin_port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid = serde_json::Value::from(child.id());
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status}"));
        }
        let ready = TcpStream::connect_timeout(
            &([127, 0, 0, 1], admin_port).into(),
            Duration::from_millis(200),
        )
        .is_ok()
            && client::try_send(&addr(admin_port), "GET", "/status", &[], b"").is_ok_and(|r| {
                r.status == 200
                    && serde_json::from_slice::<serde_json::Value>(&r.message.body)
                        .is_ok_and(|status| status["server"]["pid"] == pid)
            });
        if ready {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("not ready within 60 s".to_string())
}

/// Runs the gateway on a config that must be refused; returns its exit status and stderr.
pub fn run_expecting_failure(yaml: &str, env: &[(&str, String)]) -> (ExitStatus, String) {
    let dir = TempDir::new("bad");
    let config = dir.write("gateway.yaml", yaml);
    let mut child = spawn_gateway(&dir, &config, free_port(), free_port(), env, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the gateway accepted a config it should refuse:\n{yaml}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        fs::read_to_string(dir.path.join("stderr.log")).unwrap_or_default(),
    )
}
