//! The plugin config: which behaviour to show, and its parameters.

use serde::Deserialize;

/// The behaviour a plugin instance shows; each conformance test picks one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Every callback continues (the benchmark's filter).
    #[default]
    Noop,
    /// Pause in request headers, call `upstream`, resume with a header from the answer.
    Dispatch,
    /// Dispatch with one required pseudo-header left out (`omit`) and report the status.
    DispatchBad,
    /// Shared data: `/incr` (CAS loop), `/get`, `/cas-stale`.
    SharedData,
    /// A tick every `tick_ms`; requests read how many ticks this VM and all VMs saw.
    Tick,
    /// Counter, gauge and histogram updates per request.
    Metrics,
    /// Answer every request locally with `status`, `cookies` as Set-Cookie headers and `body`.
    LocalResponse,
    /// Buffer the request and response bodies (Pause until end of stream) and wrap them.
    Body,
    /// Panic (a trap) on `/trap`, loop for ever on `/spin`, leak 8 MiB per request on `/leak`;
    /// otherwise continue and label the response (with the instance id).
    Trap,
    /// Answer with the plugin config text this VM was configured with.
    Configure,
    /// Answer with a JSON object of host properties.
    Properties,
    /// Read and edit request and response headers, pseudo-headers included.
    Headers,
    /// Pause in request headers and never resume.
    PauseForever,
    /// Log at every level, write to stdout and stderr, report the host's log level.
    Log,
    /// Count on_done/on_log/on_delete in shared data; optionally finish late with proxy_done.
    Lifecycle,
    /// Call hostcalls this host does not support and report the statuses they return.
    Unsupported,
    /// Pause in the headers until the whole body has arrived, then edit the (still held)
    /// headers from the last body callback and continue; the same on the response side.
    HoldHeadersForBody,
}

/// The plugin config (JSON). Unknown fields are ignored so tests can add their own.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    pub mode: Mode,
    /// Dispatch target: `host:port` or a cluster name.
    pub upstream: String,
    pub authority: String,
    pub scheme: String,
    pub call_path: String,
    pub timeout_ms: u64,
    /// DispatchBad: the header to leave out of the call (`:method`, `:path`, `:authority`).
    pub omit: String,
    pub tick_ms: u64,
    pub status: u32,
    pub cookies: Vec<String>,
    pub body: String,
    /// When set, on_configure logs this reason at error level and refuses the config.
    pub reject: Option<String>,
    /// Headers: replace `:path` with this before the request goes upstream.
    pub rewrite_path: Option<String>,
    /// Lifecycle: return false from on_done and call proxy_done after a dispatched call.
    pub defer_done: bool,
    /// Copied to responses as `x-label`, so a test can see which config is live.
    pub label: String,
    /// Dispatch: from the first call's answer, start a second call (what Kong's engine breaks
    /// on), and resume only after the second answer.
    pub chain: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Noop,
            upstream: String::new(),
            authority: String::new(),
            scheme: "http".to_string(),
            call_path: "/echo".to_string(),
            timeout_ms: 5000,
            omit: String::new(),
            tick_ms: 0,
            status: 200,
            cookies: Vec::new(),
            body: String::new(),
            reject: None,
            rewrite_path: None,
            defer_done: false,
            label: String::new(),
            chain: false,
        }
    }
}

impl Config {
    /// An empty config means the defaults (no-op), as a filter without config would run.
    pub fn parse(text: &[u8]) -> Result<Config, String> {
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(Config::default());
        }
        serde_json::from_slice(text).map_err(|e| format!("config is not valid JSON: {e}"))
    }
}
