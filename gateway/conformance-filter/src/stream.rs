//! The HTTP context: one behaviour per mode, reported back through headers and bodies.

use crate::config::Mode;
use crate::shared::{increment_counter, instance_id, read_counter};
use crate::{log, Shared};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel};
use std::time::Duration;

pub struct Stream {
    shared: Shared,
    call_token: Option<u32>,
    /// Dispatch: the value taken from the call's answer, echoed on the response.
    from_call: Option<String>,
    request_body_calls: u32,
    response_body_calls: u32,
    /// Lifecycle: a call dispatched from on_done, after which proxy_done is called.
    deferred_done: bool,
}

impl Stream {
    pub fn new(shared: Shared) -> Stream {
        Stream {
            shared,
            call_token: None,
            from_call: None,
            request_body_calls: 0,
            response_body_calls: 0,
            deferred_done: false,
        }
    }

    fn mode(&self) -> Mode {
        self.shared.config.mode
    }

    fn path(&self) -> String {
        self.get_http_request_header(":path").unwrap_or_default()
    }

    fn respond(&self, status: u32, headers: Vec<(&str, &str)>, body: &str) -> Action {
        let instance = instance_id();
        let mut all = headers;
        all.push(("x-vm-instance", &instance));
        all.push(("x-label", &self.shared.config.label));
        self.send_http_response(status, all, Some(body.as_bytes()));
        Action::Pause
    }

    fn dispatch(&mut self) -> Action {
        let config = self.shared.config.clone();
        let value = self
            .get_http_request_header("x-call-value")
            .unwrap_or_default();
        let path = format!("{}?value={}", config.call_path, value);
        let headers = vec![
            (":method", "GET"),
            (":path", path.as_str()),
            (":authority", config.authority.as_str()),
            (":scheme", config.scheme.as_str()),
            ("x-call-value", value.as_str()),
        ];
        let timeout = Duration::from_millis(config.timeout_ms);
        match self.dispatch_http_call(&config.upstream, headers, None, vec![], timeout) {
            Ok(token) => {
                self.call_token = Some(token);
                Action::Pause
            }
            Err(status) => {
                self.respond(500, vec![("x-dispatch-status", &format!("{status:?}"))], "")
            }
        }
    }

    fn dispatch_bad(&mut self) -> Action {
        let config = self.shared.config.clone();
        let all = [
            (":method", "GET"),
            (":path", "/"),
            (":authority", config.authority.as_str()),
        ];
        let headers: Vec<(&str, &str)> = all
            .iter()
            .copied()
            .filter(|(name, _)| *name != config.omit)
            .collect();
        let result = self.dispatch_http_call(
            &config.upstream,
            headers,
            None,
            vec![],
            Duration::from_millis(config.timeout_ms),
        );
        let text = match result {
            Ok(_) => "Ok".to_string(),
            Err(status) => format!("{status:?}"),
        };
        self.respond(200, vec![("x-dispatch-result", &text)], "")
    }

    fn shared_data(&mut self) -> Action {
        let path = self.path();
        if path.starts_with("/incr") {
            return match increment_counter("conformance.counter") {
                Ok((value, retries)) => self.respond(
                    200,
                    vec![
                        ("x-counter", &value.to_string()),
                        ("x-cas-retries", &retries.to_string()),
                    ],
                    "",
                ),
                Err(status) => {
                    self.respond(500, vec![("x-shared-status", &format!("{status:?}"))], "")
                }
            };
        }
        if path.starts_with("/set-zero") {
            // Two writes with CAS 0 to one key: Envoy takes both, Kong's engine refuses the
            // second (CAS 0 means "only if absent" there).
            let key = "conformance.zero";
            let first = hostcalls::set_shared_data(key, Some(b"a"), None);
            let second = hostcalls::set_shared_data(key, Some(b"b"), None);
            return self.respond(
                200,
                vec![
                    ("x-first", &format!("{first:?}")),
                    ("x-second", &format!("{second:?}")),
                ],
                "",
            );
        }
        if path.starts_with("/cas-stale") {
            let key = "conformance.cas";
            let _ = hostcalls::set_shared_data(key, Some(b"a"), None);
            let cas = hostcalls::get_shared_data(key)
                .ok()
                .and_then(|(_, cas)| cas);
            let first = hostcalls::set_shared_data(key, Some(b"b"), cas);
            let second = hostcalls::set_shared_data(key, Some(b"c"), cas);
            let final_value = hostcalls::get_shared_data(key)
                .ok()
                .and_then(|(value, _)| value)
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default();
            return self.respond(
                200,
                vec![
                    ("x-cas", &format!("{cas:?}")),
                    ("x-first", &format!("{first:?}")),
                    ("x-second", &format!("{second:?}")),
                    ("x-final", &final_value),
                ],
                "",
            );
        }
        let missing = format!("{:?}", hostcalls::get_shared_data("conformance.never-set"));
        let (value, cas) = read_counter("conformance.counter");
        self.respond(
            200,
            vec![
                ("x-counter", &value.to_string()),
                ("x-cas", &format!("{cas:?}")),
                ("x-missing", &missing),
            ],
            "",
        )
    }

    fn metrics(&mut self) -> Action {
        let Some(ids) = self.shared.metrics else {
            return self.respond(500, vec![], "metrics were not defined");
        };
        let value: u64 = self
            .get_http_request_header("x-value")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let increment = hostcalls::increment_metric(ids.counter, 1);
        let decrement = hostcalls::increment_metric(ids.counter, -1);
        let gauge = hostcalls::record_metric(ids.gauge, value);
        let histogram = hostcalls::record_metric(ids.histogram, value);
        let counter = format!("{:?}", hostcalls::get_metric(ids.counter));
        let gauge_value = format!("{:?}", hostcalls::get_metric(ids.gauge));
        let unknown = format!("{:?}", hostcalls::increment_metric(999_999, 1));
        self.respond(
            200,
            vec![
                ("x-increment", &format!("{increment:?}")),
                ("x-decrement", &format!("{decrement:?}")),
                ("x-record", &format!("{gauge:?} {histogram:?}")),
                ("x-counter", &counter),
                ("x-gauge", &gauge_value),
                ("x-unknown-metric", &unknown),
            ],
            "",
        )
    }

    fn properties(&mut self) -> Action {
        let names = [
            "request.path",
            "request.url_path",
            "request.method",
            "request.scheme",
            "request.host",
            "request.id",
            "request.protocol",
            "request.query",
            "request.headers.x-prop",
            "source.address",
            "source.port",
            "destination.address",
            "destination.port",
            "connection.mtls",
            "plugin_name",
            "plugin_root_id",
            "plugin_vm_id",
            "node.id",
            "no.such.property",
            "conformance.marker",
        ];
        self.set_property(vec!["conformance", "marker"], Some(b"set-by-filter"));
        let mut out = serde_json::Map::new();
        for name in names {
            let path: Vec<&str> = name.splitn(3, '.').collect();
            let path = if name.starts_with("request.headers.") {
                path
            } else {
                name.split('.').collect()
            };
            let value = match self.get_property(path) {
                None => serde_json::Value::Null,
                Some(bytes) => decode_property(name, &bytes),
            };
            out.insert(name.to_string(), value);
        }
        let body = serde_json::Value::Object(out).to_string();
        self.respond(200, vec![("content-type", "application/json")], &body)
    }

    fn edit_request_headers(&mut self) -> Action {
        for name in [":method", ":path", ":authority", ":scheme"] {
            let value = self.get_http_request_header(name).unwrap_or_default();
            let header = format!("x-seen-{}", name.trim_start_matches(':'));
            self.set_http_request_header(&header, Some(&value));
        }
        self.add_http_request_header("x-added", "1");
        self.add_http_request_header("x-added", "2");
        self.set_http_request_header("x-replaced", Some("new"));
        self.remove_http_request_header("x-remove-me");
        if self.get_http_request_header("x-drop-cookie").is_some() {
            self.remove_http_request_header("cookie");
        }
        let count = self.get_http_request_headers().len();
        self.set_http_request_header("x-pair-count", Some(&count.to_string()));
        // Round-trip the whole map through get/set pairs, pseudo-headers included.
        let mut all = self.get_http_request_headers();
        all.push(("x-roundtrip".to_string(), "yes".to_string()));
        let pairs: Vec<(&str, &str)> = all.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        self.set_http_request_headers(pairs);
        if let Some(path) = &self.shared.config.rewrite_path {
            self.set_http_request_header(":path", Some(path));
        }
        Action::Continue
    }

    fn edit_response_headers(&mut self) -> Action {
        let status = self.get_http_response_header(":status").unwrap_or_default();
        self.set_http_response_header("x-upstream-status", Some(&status));
        self.add_http_response_header("x-resp-added", "a");
        self.add_http_response_header("x-resp-added", "b");
        self.remove_http_response_header("x-upstream-secret");
        self.set_http_response_header("x-resp-replaced", Some("new"));
        Action::Continue
    }

    fn log_everything(&mut self) -> Action {
        let marker = self
            .get_http_request_header("x-log-marker")
            .unwrap_or_default();
        for (level, name) in [
            (LogLevel::Trace, "trace"),
            (LogLevel::Debug, "debug"),
            (LogLevel::Info, "info"),
            (LogLevel::Warn, "warn"),
            (LogLevel::Error, "error"),
            (LogLevel::Critical, "critical"),
        ] {
            log(level, &format!("conformance-log {name} {marker}"));
        }
        println!("conformance-stdout {marker}");
        eprintln!("conformance-stderr {marker}");
        let level = format!("{:?}", hostcalls::get_log_level());
        let now = self
            .get_current_time()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.respond(
            200,
            vec![("x-log-level", &level), ("x-now", &now.to_string())],
            "",
        )
    }

    fn unsupported(&mut self) -> Action {
        // SAFETY: plain imports with integer arguments; the host owns their behaviour.
        let (unknown, downstream) =
            unsafe { (proxy_not_a_real_hostcall(7), proxy_continue_stream(2)) };
        let foreign = format!(
            "{:?}",
            hostcalls::call_foreign_function("no_such_function", None)
        );
        let grpc = format!(
            "{:?}",
            self.dispatch_grpc_call(
                "cluster",
                "svc",
                "Method",
                vec![],
                None,
                Duration::from_secs(1)
            )
        );
        self.respond(
            200,
            vec![
                ("x-unknown", &unknown.to_string()),
                ("x-continue-downstream", &downstream.to_string()),
                ("x-foreign", &foreign),
                ("x-grpc", &grpc),
            ],
            "",
        )
    }

    fn lifecycle_counts(&mut self) -> Action {
        let (done, _) = read_counter("conformance.done");
        let (logged, _) = read_counter("conformance.log");
        let (deleted, _) = read_counter("conformance.delete");
        self.respond(
            200,
            vec![
                ("x-done", &done.to_string()),
                ("x-log", &logged.to_string()),
                ("x-delete", &deleted.to_string()),
            ],
            "",
        )
    }
}

#[link(wasm_import_module = "env")]
extern "C" {
    /// Not part of any ABI: the host must still link it and answer UNIMPLEMENTED.
    fn proxy_not_a_real_hostcall(value: u32) -> u32;
    #[link_name = "proxy_continue_stream"]
    fn proxy_continue_stream(stream_type: u32) -> u32;
}

/// Envoy encodes integer properties as 8 little-endian bytes and booleans as one byte.
fn decode_property(name: &str, bytes: &[u8]) -> serde_json::Value {
    let integer = matches!(
        name,
        "source.port" | "destination.port" | "plugin_root_id_int"
    );
    if integer {
        if let Ok(array) = <[u8; 8]>::try_from(bytes) {
            return serde_json::Value::from(i64::from_le_bytes(array));
        }
    }
    if name == "connection.mtls" {
        if let [b] = bytes {
            return serde_json::Value::Bool(*b != 0);
        }
    }
    serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned())
}

impl Context for Stream {
    fn on_done(&mut self) -> bool {
        if self.mode() == Mode::Lifecycle {
            self.lifecycle_on_done()
        } else {
            true
        }
    }

    fn on_http_call_response(
        &mut self,
        token: u32,
        num_headers: usize,
        body_size: usize,
        num_trailers: usize,
    ) {
        if self.deferred_done {
            let _ = hostcalls::done();
            return;
        }
        if self.call_token != Some(token) {
            self.respond(500, vec![("x-error", "unexpected call token")], "");
            return;
        }
        if self.shared.config.chain && self.from_call.is_none() && num_headers > 0 {
            // The second call, from the first one's answer.
            self.from_call = Some(String::new());
            let config = self.shared.config.clone();
            let headers = vec![
                (":method", "GET"),
                (":path", config.call_path.as_str()),
                (":authority", config.authority.as_str()),
            ];
            let timeout = Duration::from_millis(config.timeout_ms);
            match self.dispatch_http_call(&config.upstream, headers, None, vec![], timeout) {
                Ok(token) => self.call_token = Some(token),
                Err(status) => {
                    let status = format!("{status:?}");
                    self.respond(500, vec![("x-second-dispatch", &status)], "");
                }
            }
            return;
        }
        if num_headers == 0 {
            let size = body_size.to_string();
            self.respond(
                502,
                vec![("x-call-failed", "true"), ("x-call-body-size", &size)],
                "call failed",
            );
            return;
        }
        let echo = self
            .get_http_call_response_header("x-echo-value")
            .unwrap_or_default();
        let status = self
            .get_http_call_response_header(":status")
            .unwrap_or_default();
        let body = self
            .get_http_call_response_body(0, body_size)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let trailer = self
            .get_http_call_response_trailer("x-call-trailer")
            .unwrap_or_default();
        self.set_http_request_header("x-from-call", Some(&echo));
        self.set_http_request_header("x-call-status", Some(&status));
        self.set_http_request_header("x-call-body", Some(&body));
        self.set_http_request_header(
            "x-call-trailers",
            Some(&format!("{num_trailers}:{trailer}")),
        );
        self.from_call = Some(echo);
        self.resume_http_request();
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        match self.mode() {
            Mode::Noop | Mode::Body => Action::Continue,
            Mode::Dispatch => self.dispatch(),
            Mode::DispatchBad => self.dispatch_bad(),
            Mode::SharedData => self.shared_data(),
            Mode::Tick => {
                let (total, _) = read_counter("conformance.ticks");
                let mine = self.shared.ticks.get().to_string();
                self.respond(
                    200,
                    vec![("x-ticks", &mine), ("x-ticks-total", &total.to_string())],
                    "",
                )
            }
            Mode::Metrics => self.metrics(),
            Mode::LocalResponse => {
                let config = self.shared.config.clone();
                let mut headers: Vec<(&str, &str)> = config
                    .cookies
                    .iter()
                    .map(|c| ("set-cookie", c.as_str()))
                    .collect();
                headers.push(("x-local", "yes"));
                self.respond(config.status, headers, &config.body)
            }
            Mode::Trap => {
                let path = self.path();
                if path.starts_with("/trap") {
                    panic!("conformance filter: trap requested by {path}");
                }
                if path.starts_with("/spin") {
                    spin_forever();
                }
                if path.starts_with("/leak") {
                    // 8 MiB that are never freed, per request: the instance grows until the
                    // host's memory cap stops it.
                    let block = vec![1u8; 8 << 20];
                    std::hint::black_box(Box::leak(block.into_boxed_slice()));
                }
                Action::Continue
            }
            Mode::Configure => {
                let raw = self.shared.raw_config.clone();
                let vm = self.shared.vm_config.to_string();
                let root = self.shared.root_id.to_string();
                self.respond(200, vec![("x-vm-config", &vm), ("x-root-id", &root)], &raw)
            }
            Mode::Properties => self.properties(),
            Mode::Headers => {
                let eos = end_of_stream.to_string();
                self.set_http_request_header("x-headers-eos", Some(&eos));
                self.edit_request_headers()
            }
            Mode::PauseForever => Action::Pause,
            Mode::Log => self.log_everything(),
            Mode::Unsupported => self.unsupported(),
            Mode::HoldHeadersForBody => {
                if end_of_stream {
                    Action::Continue
                } else {
                    Action::Pause
                }
            }
            Mode::Lifecycle => {
                if self.path().starts_with("/counts") {
                    self.lifecycle_counts()
                } else {
                    Action::Continue
                }
            }
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.mode() == Mode::HoldHeadersForBody {
            self.request_body_calls += 1;
            if !end_of_stream {
                return Action::Pause;
            }
            let body = self.get_http_request_body(0, body_size).unwrap_or_default();
            let seen = format!(
                "{}:{}",
                self.request_body_calls,
                String::from_utf8_lossy(&body)
            );
            self.set_http_request_header("x-body-seen-with-headers", Some(&seen));
            return Action::Continue;
        }
        if self.mode() != Mode::Body {
            return Action::Continue;
        }
        self.request_body_calls += 1;
        if !end_of_stream {
            return Action::Pause;
        }
        let body = self.get_http_request_body(0, body_size).unwrap_or_default();
        let mut wrapped = b"req(".to_vec();
        wrapped.extend_from_slice(&body);
        wrapped.push(b')');
        self.set_http_request_body(0, body_size, &wrapped);
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        match self.mode() {
            Mode::HoldHeadersForBody if !end_of_stream => return Action::Pause,
            Mode::Dispatch => {
                if let Some(value) = self.from_call.clone() {
                    self.add_http_response_header("x-from-call", &value);
                }
            }
            Mode::Trap => {
                self.add_http_response_header("x-vm-instance", &instance_id());
                let label = self.shared.config.label.clone();
                self.add_http_response_header("x-label", &label);
            }
            Mode::Headers => {
                self.set_http_response_header("x-response-eos", Some(&end_of_stream.to_string()));
                return self.edit_response_headers();
            }
            Mode::Body => {
                let calls = self.request_body_calls.to_string();
                self.add_http_response_header("x-request-body-calls", &calls);
            }
            _ => {}
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.mode() == Mode::HoldHeadersForBody {
            if !end_of_stream {
                return Action::Pause;
            }
            self.set_http_response_header("x-response-body-size", Some(&body_size.to_string()));
            return Action::Continue;
        }
        if self.mode() != Mode::Body {
            return Action::Continue;
        }
        self.response_body_calls += 1;
        if !end_of_stream {
            return Action::Pause;
        }
        // Prepend and append through the spec's start/size conventions.
        self.set_http_response_body(0, 0, b"resp(");
        self.set_http_response_body(usize::MAX, 0, b")");
        Action::Continue
    }

    fn on_log(&mut self) {
        if self.mode() == Mode::Lifecycle {
            let _ = increment_counter("conformance.log");
        }
    }
}

impl Stream {
    fn lifecycle_on_done(&mut self) -> bool {
        let _ = increment_counter("conformance.done");
        if !self.shared.config.defer_done {
            return true;
        }
        let config = self.shared.config.clone();
        let headers = vec![
            (":method", "GET"),
            (":path", "/"),
            (":authority", config.authority.as_str()),
        ];
        match self.dispatch_http_call(
            &config.upstream,
            headers,
            None,
            vec![],
            Duration::from_secs(5),
        ) {
            Ok(_) => {
                self.deferred_done = true;
                false
            }
            Err(status) => {
                log(
                    LogLevel::Error,
                    &format!("deferred done: dispatch failed: {status:?}"),
                );
                true
            }
        }
    }
}

/// The SDK drops the context on proxy_on_delete; counting here observes that callback.
impl Drop for Stream {
    fn drop(&mut self) {
        if self.mode() == Mode::Lifecycle {
            let _ = increment_counter("conformance.delete");
        }
    }
}

/// A callback that never returns (until the host's deadline interrupts it).
fn spin_forever() -> ! {
    let mut counter = 0u64;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}
