//! The end-to-end harness: the real test IdP (npm oidc-provider), the echo upstream and the real
//! filter in a real host, each on a free port, stopped when the [`Stack`] drops (also when a test
//! fails). The host is our gateway or Kong's Wasm engine (hosts.rs: [`on_both_hosts!`] runs each
//! test on both).
//!
//! What the suites share besides the stack is in [`support`] (stacks with a config, the
//! password login, the code-flow `Browser`, redirects and query arguments, what the upstream
//! got, the IdP's events, Kong's 401, and waiting on a condition) and the HTTP client in
//! [`http`]: use those before writing a helper in a suite, and add one there when a second
//! suite needs it.

// Each suite is its own crate and uses a part of this harness, so the rest is dead code there and
// its `pub` items are unreachable from that crate's root. Like a test body, the harness may
// unwrap, panic and index: a broken stack should stop the test where it broke.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod hosts;
pub mod http;
pub mod support;

pub use hosts::Host;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::Duration;

use serde_json::{json, Value};

pub const SESSION_SECRET: &str = "e2e-session-secret-0123456789abcdef";
pub const PLUGIN_ID: &str = "5f35b796-ced6-4c00-9b2a-90eef745f4f9";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// A free TCP port on 127.0.0.1 that no other test of this binary was given.
pub use test_http_client::free_port;

/// Builds the filter and the gateway once per test binary when `make` has not already.
fn ensure_built() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let root = repo_root();
        let wasm = target_dir().join("filters/openid_connect.wasm");
        if !wasm.exists() {
            let status = Command::new("make")
                .arg("wasm")
                .current_dir(&root)
                .status()
                .expect("make wasm");
            assert!(status.success(), "make wasm failed");
        }
        if !target_dir().join("debug/gateway").exists() {
            let status = Command::new("cargo")
                .args(["build", "-p", "gateway"])
                .current_dir(&root)
                .status()
                .expect("cargo build");
            assert!(status.success(), "building the gateway failed");
        }
        if !root.join("tests/idp/node_modules").exists() {
            let status = Command::new("make")
                .arg("node-deps")
                .current_dir(&root)
                .status()
                .expect("make node-deps");
            assert!(status.success(), "npm ci failed");
        }
    });
}

/// A child process killed on drop, with its output in a log file.
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
    /// nginx: stopped through its master (SIGTERM, then its workers by pid), not SIGKILL alone.
    nginx_master: bool,
}

impl Process {
    fn spawn(name: &str, mut command: Command, log_dir: &Path) -> Process {
        let log = log_dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        command
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null());
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Process {
            name: name.to_string(),
            child,
            log,
            nginx_master: false,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        if self.nginx_master && self.running() {
            hosts::stop_nginx(self.child.id());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `url` until it answers (any status), for up to 30 s.
pub fn wait_until_up(addr: &str, path: &str, what: &str) {
    wait_until_up_within(addr, path, what, Duration::from_secs(30))
}

/// Polls `url` until it answers (any status), for up to `limit`.
pub fn wait_until_up_within(addr: &str, path: &str, what: &str, limit: Duration) {
    let up = test_http_client::wait_until(limit, || {
        http::try_send(addr, "GET", path, &[], b"").is_ok()
    });
    assert!(up, "{what} did not come up at {addr}{path}");
}

/// Waits up to `limit` until `ready` holds for the server `process` started; fails at once,
/// with the process's output and `detail`, when the process exited instead (e.g. it could not
/// bind a port), rather than after the whole wait.
fn wait_for_process(
    process: &mut Process,
    what: &str,
    limit: Duration,
    mut ready: impl FnMut() -> bool,
    detail: impl Fn() -> String,
) {
    let mut exited = false;
    let up = test_http_client::wait_until(limit, || {
        exited = !process.running();
        exited || ready()
    });
    assert!(
        !exited,
        "{what} exited before it was ready:\n{}{}",
        process.log_text(),
        detail()
    );
    assert!(
        up,
        "{what} was not ready within {limit:?}:\n{}{}",
        process.log_text(),
        detail()
    );
}

/// Waits until Kong's engine answers on its status listener.
fn wait_for_nginx(nginx: &mut Process, kong_dir: &Path, status: &str) {
    wait_for_process(
        nginx,
        &format!("Kong's Wasm engine (status listener {status})"),
        Duration::from_secs(120),
        || http::try_send(status, "GET", "/status", &[], b"").is_ok(),
        || {
            let log = std::fs::read_to_string(kong_dir.join("logs/error.log"));
            format!("\nerror.log:\n{}", log.unwrap_or_default())
        },
    );
}

/// Waits until `gateway` answers on `admin` ([`is_the_gateway`]).
fn wait_for_gateway(gateway: &mut Process, admin: &str) {
    let pid = gateway.id();
    wait_for_process(
        gateway,
        &format!("the gateway (its own /status at {admin})"),
        Duration::from_secs(60),
        || is_the_gateway(admin, pid),
        String::new,
    );
}

/// Whether the gateway process `pid` answers `GET /status` on `admin` (it says its pid there,
/// also in the admin-only mode that plays Kong's Admin API). Any answer is not enough: the admin
/// port was picked free, and another test's server can take it before the gateway, still
/// compiling the filter, binds it; that server's answer is not the gateway's.
pub fn is_the_gateway(admin: &str, pid: u32) -> bool {
    http::try_send(admin, "GET", "/status", &[], b"").is_ok_and(|status| {
        status.status == 200
            && serde_json::from_slice::<Value>(&status.body)
                .is_ok_and(|status| status["server"]["pid"] == pid)
    })
}

/// Options of a stack.
pub struct StackOptions {
    pub plugin_config: Value,
    /// Extra flags for the IdP (`--jwt-access-tokens`, `--no-end-session`, ...); `{proxy_port}`
    /// in a flag is replaced by the gateway's port.
    pub idp_args: Vec<&'static str>,
    pub start_idp: bool,
    pub workers: usize,
    /// The host; by default the one of the running test ([`Host::of_this_test`]).
    pub host: Option<Host>,
    /// Use the IdP already listening on this port (another stack's) instead of starting one:
    /// a second node of the same fleet ([`Stack::start_another_node`]).
    pub idp_port: Option<u16>,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            plugin_config: json!({}),
            idp_args: Vec::new(),
            start_idp: true,
            workers: 2,
            host: None,
            idp_port: None,
        }
    }
}

/// IdP + echo upstream + the host with the filter.
pub struct Stack {
    pub host: Host,
    pub idp_port: u16,
    pub echo_port: u16,
    pub proxy_port: u16,
    pub admin_port: u16,
    /// Declared before the processes it talks to, so it stops first on drop.
    log_guard: Option<hosts::LogGuard>,
    pub nginx: Option<Process>,
    /// Kong's engine: nginx's prefix (nginx.conf, logs/error.log, filter-config.json).
    pub kong_dir: Option<PathBuf>,
    /// Our gateway; with Kong's engine, the gateway in admin-only mode playing Kong's Admin API.
    pub gateway: Process,
    pub idp: Option<Process>,
    pub echo: Process,
    pub dir: tempdir::TempDir,
}

pub mod tempdir {
    /// A temporary directory removed on drop.
    pub struct TempDir(pub std::path::PathBuf);
    impl TempDir {
        pub fn new(prefix: &str) -> TempDir {
            let unique = format!(
                "{prefix}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            );
            let dir = std::env::temp_dir().join(unique.replace([' ', ':', '{', '}', ','], "_"));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            if std::env::var_os("KEEP_E2E_LOGS").is_none() {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }
}

impl Stack {
    /// The base plugin config every test starts from: the IdP, the client, a session secret.
    pub fn base_config(idp_port: u16) -> Value {
        json!({
            "issuer": format!("http://127.0.0.1:{idp_port}"),
            "client_id": ["kong"],
            "client_secret": ["secret"],
            "session_secret": SESSION_SECRET,
        })
    }

    pub fn start(options: StackOptions) -> Stack {
        let host = options.host.unwrap_or_else(Host::of_this_test);
        if host == Host::Kong {
            hosts::require_engine(&repo_root());
        }
        ensure_built();
        let dir = tempdir::TempDir::new("oidc-e2e");
        let (idp_port, echo_port, proxy_port, admin_port) = (
            options.idp_port.unwrap_or_else(free_port),
            free_port(),
            free_port(),
            free_port(),
        );
        let root = repo_root();

        let idp = (options.start_idp && options.idp_port.is_none()).then(|| {
            let mut command = Command::new("node");
            command
                .arg(root.join("tests/idp/server.js"))
                .args(["--port", &idp_port.to_string()]);
            command.args([
                "--jwks-file",
                dir.path().join("jwks.json").to_str().unwrap(),
            ]);
            // `{proxy_port}` in an IdP flag is the gateway's port (picked above), e.g. for
            // the back-channel logout URI the IdP posts to.
            let proxy = proxy_port.to_string();
            command.arg("--quiet").args(
                options
                    .idp_args
                    .iter()
                    .map(|a| a.replace("{proxy_port}", &proxy)),
            );
            let process = Process::spawn("idp", command, dir.path());
            wait_until_up(
                &format!("127.0.0.1:{idp_port}"),
                "/.well-known/openid-configuration",
                "the IdP",
            );
            process
        });

        let mut echo_command = Command::new("node");
        echo_command
            .arg(root.join("tests/echo/server.js"))
            .args(["--port", &echo_port.to_string()]);
        let echo = Process::spawn("echo", echo_command, dir.path());
        wait_until_up(&format!("127.0.0.1:{echo_port}"), "/", "the echo upstream");

        let mut config = Stack::base_config(idp_port);
        if let (Value::Object(base), Value::Object(extra)) = (&mut config, options.plugin_config) {
            base.extend(extra);
        }
        let wasm = target_dir().join("filters/openid_connect.wasm");
        let gateway_config = json!({
            "proxy_listen": format!("127.0.0.1:{proxy_port}"),
            "admin_listen": format!("127.0.0.1:{admin_port}"),
            "workers": options.workers,
            // As the filter is deployed in Envoy (envoy/envoy.yaml): a headers Pause still
            // lets the filter read the body it needs (Envoy 1.35's opt-in).
            "host_behaviour": { "allow_on_headers_stop_iteration": true },
            "services": [{
                "id": "5fa9e468-0007-4d7e-9aeb-49ca9edd6ccd",
                "name": "echo",
                "url": format!("http://127.0.0.1:{echo_port}"),
                "routes": [{ "id": "0f3e7e2a-4c3b-4d47-9d6a-2b8a7c1e5d10", "paths": ["/"] }],
            }],
            "plugins": [{
                "id": PLUGIN_ID,
                "name": "openid-connect",
                "wasm": wasm.to_str().unwrap(),
                "service": "5fa9e468-0007-4d7e-9aeb-49ca9edd6ccd",
                "config": config,
            }],
        });
        // JSON is YAML: the gateway reads it as its YAML config.
        let config_path = dir.path().join("gateway.yaml");
        std::fs::write(
            &config_path,
            serde_json::to_vec_pretty(&gateway_config).unwrap(),
        )
        .unwrap();
        let mut gateway_command = Command::new(target_dir().join("debug/gateway"));
        gateway_command.arg("--config").arg(&config_path);
        let kong_dir = (host == Host::Kong).then(|| dir.path().join("kong"));
        if let Some(kong_dir) = &kong_dir {
            // Kong's Admin API: our gateway without proxy or workers; each config change is
            // written for nginx and applied by a reload that waits for the new workers.
            let reload = root.join("hosts/kong/nginx.sh");
            gateway_command
                .arg("--export-config")
                .arg(kong_dir.join("filter-config.json"))
                .arg("--on-change")
                .arg(format!(
                    "'{}' reload '{}'",
                    reload.display(),
                    kong_dir.display()
                ));
            std::fs::create_dir_all(kong_dir).unwrap();
        }
        let mut gateway = Process::spawn("gateway", gateway_command, dir.path());
        wait_for_gateway(&mut gateway, &format!("127.0.0.1:{admin_port}"));

        let nginx = kong_dir.as_ref().map(|kong_dir| {
            let status_port = free_port();
            let mut command = Command::new(root.join("hosts/kong/nginx.sh"));
            command
                .arg("start")
                .arg(kong_dir)
                .env("PROXY_LISTEN", format!("127.0.0.1:{proxy_port}"))
                .env("UPSTREAM", format!("127.0.0.1:{echo_port}"))
                .env("STATUS_LISTEN", format!("127.0.0.1:{status_port}"))
                .env("FILTER_WASM", &wasm)
                .env("FILTER_CONFIG_FILE", kong_dir.join("filter-config.json"))
                .env("WORKERS", options.workers.to_string())
                .env("LOG_LEVEL", "info");
            let mut process = Process::spawn("nginx", command, dir.path());
            process.nginx_master = true;
            // Workers accept connections once they have compiled and configured the filter
            // (seconds per worker; more when the suites run in parallel on 2 cores).
            wait_for_nginx(&mut process, kong_dir, &format!("127.0.0.1:{status_port}"));
            process
        });

        let log_guard = match (&kong_dir, &nginx) {
            (Some(dir), Some(nginx)) => Some(hosts::LogGuard::start(dir, nginx.id())),
            _ => None,
        };
        Stack {
            host,
            log_guard,
            idp_port,
            echo_port,
            proxy_port,
            admin_port,
            nginx,
            kong_dir,
            gateway,
            idp,
            echo,
            dir,
        }
    }

    /// Another node of the same fleet: its own host process(es), shared data and upstream,
    /// with the same IdP as this stack (which must have started one). Nodes share nothing but
    /// the IdP and the plugin config given.
    pub fn start_another_node(&self, options: StackOptions) -> Stack {
        Stack::start(StackOptions {
            idp_port: Some(self.idp_port),
            host: Some(self.host),
            ..options
        })
    }

    pub fn proxy(&self) -> String {
        format!("127.0.0.1:{}", self.proxy_port)
    }

    pub fn admin(&self) -> String {
        format!("127.0.0.1:{}", self.admin_port)
    }

    pub fn idp_addr(&self) -> String {
        format!("127.0.0.1:{}", self.idp_port)
    }

    pub fn client(&self) -> http::Client {
        http::Client::new(&self.proxy())
    }

    /// What the IdP recorded (`GET /__test/events`).
    pub fn idp_events(&self) -> Vec<Value> {
        let response = http::send(&self.idp_addr(), "GET", "/__test/events", &[], b"");
        match response.json() {
            Value::Array(events) => events,
            Value::Object(mut o) => match o.remove("events") {
                Some(Value::Array(events)) => events,
                _ => panic!("unexpected events shape"),
            },
            other => panic!("unexpected events shape: {other}"),
        }
    }

    pub fn clear_idp_events(&self) {
        http::send(&self.idp_addr(), "DELETE", "/__test/events", &[], b"");
    }

    /// Makes the IdP fail an endpoint (`POST /__test/fail`).
    pub fn idp_fail(&self, rule: Value) {
        let body = rule.to_string();
        let response = http::send(
            &self.idp_addr(),
            "POST",
            "/__test/fail",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert!(
            response.status < 300,
            "fail switch refused: {}",
            response.text()
        );
    }

    /// `PATCH /plugins/{id}` with a JSON config fragment.
    pub fn patch_config(&self, config: Value) -> http::Response {
        let body = json!({ "config": config }).to_string();
        http::send(
            &self.admin(),
            "PATCH",
            &format!("/plugins/{PLUGIN_ID}"),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
    }

    /// Introspects a token at the IdP as the `kong` client.
    pub fn introspect(&self, token: &str) -> Value {
        let body = format!("token={}", urlencode(token));
        let auth = http::basic("kong", "secret");
        http::send(
            &self.idp_addr(),
            "POST",
            "/token/introspection",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", &auth),
            ],
            body.as_bytes(),
        )
        .json()
    }

    /// The host's log: the filter's lines (and, in Kong's engine, nginx's error.log).
    pub fn gateway_log(&self) -> String {
        match &self.kong_dir {
            Some(dir) => hosts::error_log(dir),
            None => self.gateway.log_text(),
        }
    }

    /// Kong's engine only: error.log lines that show a crashed worker, an `[alert]` or `[emerg]`.
    pub fn engine_failures(&self) -> Vec<String> {
        self.kong_dir
            .as_ref()
            .map(|dir| hosts::engine_failures(&hosts::error_log(dir)))
            .unwrap_or_default()
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
