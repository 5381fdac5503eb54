//! The hosts the end-to-end suites run on: our gateway, and Kong 3.10's Wasm engine (nginx +
//! ngx_wasm_module + wasmtime 26, built by `make kong-engine`) configured the way Kong writes its
//! nginx.conf (hosts/kong/). Each suite puts its tests in [`on_both_hosts!`], which compiles
//! every test twice, in a `gateway` and a `kong` module; [`Host::of_this_test`] tells a
//! [`crate::common::Stack`] which one it is starting.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A proxy-wasm host the filter runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// Our gateway (gateway/), one process: proxy, admin API, workers.
    Gateway,
    /// Kong's Wasm engine in nginx (2 worker processes); Kong's Admin API is played by our
    /// gateway in admin-only mode, which writes the filter config and reloads nginx.
    Kong,
}

impl Host {
    /// The host of the running test: libtest runs each test on a thread named after its path,
    /// and [`on_both_hosts!`] puts the Kong copy of every test in a module named `kong`.
    pub fn of_this_test() -> Host {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("");
        if name.split("::").any(|segment| segment == "kong") {
            Host::Kong
        } else {
            Host::Gateway
        }
    }
}

/// Compiles the enclosed items (tests and their helpers) once per host: `gateway::<test>` runs on
/// our gateway, `kong::<test>` in Kong's Wasm engine. An item that cannot work in Kong's engine
/// starts with `#[gateway_only = "why"]` (before its other attributes): the Kong copy leaves it
/// out, and the README's host table lists it.
#[macro_export]
macro_rules! on_both_hosts {
    ($($body:tt)*) => {
        mod gateway {
            #![allow(unused_imports, dead_code)]
            use super::*;
            $crate::__hosts_keep_all! { $($body)* }
        }
        mod kong {
            #![allow(unused_imports, dead_code)]
            use super::*;
            $crate::__hosts_drop_gateway_only! { $($body)* }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __hosts_keep_all {
    () => {};
    (#[gateway_only = $why:literal] $item:item $($rest:tt)*) => {
        $item
        $crate::__hosts_keep_all! { $($rest)* }
    };
    ($item:item $($rest:tt)*) => {
        $item
        $crate::__hosts_keep_all! { $($rest)* }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __hosts_drop_gateway_only {
    () => {};
    (#[gateway_only = $why:literal] $item:item $($rest:tt)*) => {
        $crate::__hosts_drop_gateway_only! { $($rest)* }
    };
    ($item:item $($rest:tt)*) => {
        $item
        $crate::__hosts_drop_gateway_only! { $($rest)* }
    };
}

/// Kong's engine as `make kong-engine` links it.
pub fn engine_dir(root: &Path) -> PathBuf {
    std::env::var_os("KONG_ENGINE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/kong-engine"))
}

/// Fails the test (never skips it) when Kong's engine is not built.
pub fn require_engine(root: &Path) {
    let nginx = engine_dir(root).join("sbin/nginx");
    assert!(
        nginx.exists(),
        "Kong's Wasm engine is not built ({} is missing): run `make kong-engine` \
         (`make test` builds it first)",
        nginx.display()
    );
}

/// What nginx wrote to error.log: the filter's logs, and the engine's own alerts and crashes.
pub fn error_log(run_dir: &Path) -> String {
    use std::io::Read;
    let mut text = Vec::new();
    if let Ok(file) = std::fs::File::open(run_dir.join("logs/error.log")) {
        let _ = file.take(ERROR_LOG_LIMIT).read_to_end(&mut text);
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// The lines of error.log that show the engine misbehaving: a worker that died on a signal
/// (a crash), and `[alert]`/`[emerg]` lines (e.g. the `send() returned zero` spin).
pub fn engine_failures(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| {
            line.contains("exited on signal")
                || line.contains("[alert]")
                || line.contains("[emerg]")
        })
        .map(|line| line.chars().take(300).collect())
        .collect()
}

/// Stops nginx the way its docs say (SIGTERM to the master: fast shutdown of the workers), then
/// SIGKILLs the master and any worker left, by process id.
pub fn stop_nginx(master: u32) {
    let alive = |pid: u32| Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid);
    let workers = children(master);
    let _ = Command::new("kill")
        .args(["-TERM", &master.to_string()])
        .status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline
        && (alive(master) || workers.iter().any(|&w| alive(w)))
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for pid in workers.iter().chain(std::iter::once(&master)) {
        if alive(*pid) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(true)
}

/// The process ids whose parent is `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    let (_, rest) = stat.rsplit_once(')')?;
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// error.log may not grow past this: a worker caught in the `send() returned zero` loop writes
/// gigabytes a minute, which would fill the disk long before the test times out.
pub const ERROR_LOG_LIMIT: u64 = 256 * 1024 * 1024;

/// Watches error.log's size while a stack runs; past [`ERROR_LOG_LIMIT`] it stops nginx (the
/// test then fails on its next request) and says why on stderr, which the failed test shows.
pub struct LogGuard {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LogGuard {
    pub fn start(run_dir: &Path, master: u32) -> LogGuard {
        let stop = Arc::new(AtomicBool::new(false));
        let log = run_dir.join("logs/error.log");
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let size = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
                    if size > ERROR_LOG_LIMIT {
                        eprintln!(
                            "Kong's engine: {} grew past {} MB (a worker looping on an \
                             [alert]?): nginx stopped. First engine failures: {:?}",
                            log.display(),
                            ERROR_LOG_LIMIT >> 20,
                            first_failures(&log)
                        );
                        stop_nginx(master);
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        LogGuard {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The first engine failures of a (possibly huge) error.log, read from its first megabytes.
fn first_failures(log: &Path) -> Vec<String> {
    use std::io::Read;
    let mut head = Vec::new();
    if let Ok(file) = std::fs::File::open(log) {
        let _ = file.take(4 << 20).read_to_end(&mut head);
    }
    engine_failures(&String::from_utf8_lossy(&head))
        .into_iter()
        .take(5)
        .collect()
}
