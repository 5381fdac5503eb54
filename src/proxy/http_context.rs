//! The per-request context: builds the core's view of the request, runs the flow, and carries
//! out each [`Step`].

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, LogLevel, MapType};

use crate::flows::{body_limit, Env, Event, IncomingRequest, Note, RequestFlow, Settings};
use crate::proxy::dispatch;
use crate::proxy::host;
use crate::proxy::metrics::Metrics;
use crate::proxy::shared::{HostSharedState, SharedExpiries, SharedKeys, SharedProviderCache};
use crate::request_gate::{Cue, Decision, RequestGate};
use crate::step::{CallResponse, Forward, LocalResponse, Step};

pub struct OidcHttp {
    context_id: u32,
    configured: Option<Parts>,
    flow: Option<RequestFlow>,
    /// Whether the request may go upstream: every request callback answers through it.
    gate: RequestGate,
    /// The call the flow waits for (tokens may be 0 on Kong, so no sentinel value).
    pending_call: Option<u32>,
    /// Headers to add to the upstream's response (e.g. a new session cookie).
    response_headers: Vec<(String, String)>,
}

struct Parts {
    settings: Rc<Settings>,
    provider: SharedProviderCache,
    shared: HostSharedState,
    metrics: Rc<Metrics>,
}

impl OidcHttp {
    pub fn new(
        context_id: u32,
        settings: Rc<Settings>,
        provider: SharedProviderCache,
        keys: SharedKeys,
        expiries: SharedExpiries,
        metrics: Rc<Metrics>,
    ) -> OidcHttp {
        let parts = Parts {
            settings,
            provider,
            shared: HostSharedState::new(keys, expiries),
            metrics,
        };
        OidcHttp {
            context_id,
            configured: Some(parts),
            flow: None,
            gate: RequestGate::new(),
            pending_call: None,
            response_headers: Vec::new(),
        }
    }

    /// A context for a root whose configuration was refused: it answers 500, never forwards.
    pub fn unconfigured(context_id: u32) -> OidcHttp {
        OidcHttp {
            context_id,
            configured: None,
            flow: None,
            gate: RequestGate::new(),
            pending_call: None,
            response_headers: Vec::new(),
        }
    }

    fn incoming_request(&self) -> IncomingRequest {
        let headers = host::headers(MapType::HttpRequestHeaders);
        let pseudo = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let method = pseudo(":method").to_ascii_uppercase();
        let scheme = match pseudo(":scheme") {
            s if s.is_empty() => "http".to_string(),
            s => s.to_ascii_lowercase(),
        };
        let mut authority = pseudo(":authority");
        if authority.is_empty() {
            authority = pseudo("host");
        }
        let path = pseudo(":path");
        let headers = headers
            .into_iter()
            .filter(|(n, _)| !n.starts_with(':'))
            .collect();
        let protocol = hostcalls::get_property(vec!["request", "protocol"])
            .ok()
            .flatten()
            .unwrap_or_default();
        let http10 = protocol.eq_ignore_ascii_case(b"HTTP/1.0");
        IncomingRequest {
            method,
            scheme,
            authority,
            path,
            headers,
            body: None,
            http10,
        }
    }

    /// Starts the flow from a request callback.
    fn start(&mut self, request: IncomingRequest) {
        let Some(parts) = self.configured.as_ref() else {
            self.refuse_unconfigured();
            return;
        };
        let provider = parts.provider.borrow_mut().current();
        let mut flow = RequestFlow::new(request, provider);
        let step = {
            let mut random = host::random_bytes;
            let mut env = Env {
                now: host::now(),
                random: &mut random,
                shared: &parts.shared,
            };
            flow.start(&parts.settings, &mut env)
        };
        self.flow = Some(flow);
        self.carry_out(step, true);
    }

    /// Does what the flow decided and tells the gate. `in_request_callback`: called from a
    /// request callback, whose answer then releases or holds the request; otherwise (a call's
    /// answer) a forward resumes the held request.
    fn carry_out(&mut self, mut step: Step, in_request_callback: bool) {
        loop {
            self.drain_flow_outputs();
            match step {
                Step::Forward(forward) => {
                    self.forward(forward);
                    if self.gate.decided(Decision::Forward, in_request_callback) {
                        self.resume();
                    }
                    return;
                }
                Step::Respond(response) => {
                    self.respond(response);
                    self.gate.decided(Decision::Answer, in_request_callback);
                    return;
                }
                Step::Call(request) => {
                    let Some(parts) = self.configured.as_ref() else {
                        self.refuse_unconfigured();
                        return;
                    };
                    match dispatch::send(&parts.settings, &request) {
                        Ok(token) => {
                            self.pending_call = Some(token);
                            self.gate.decided(Decision::Wait, in_request_callback);
                            return;
                        }
                        Err(reason) => {
                            self.log(LogLevel::Warn, &reason);
                            step = self.resume_flow(dispatch::refused(&reason));
                        }
                    }
                }
            }
        }
    }

    /// The answer to the request callback we are in: `Continue` only once the flow forwarded.
    fn callback_action(&mut self) -> Action {
        match self.gate.callback_cue() {
            Cue::Pass => Action::Continue,
            Cue::Hold | Cue::StartFlow => Action::Pause,
        }
    }

    fn resume_flow(&mut self, response: CallResponse) -> Step {
        let (Some(parts), Some(flow)) = (self.configured.as_ref(), self.flow.as_mut()) else {
            return Step::Respond(internal_error("no flow to resume"));
        };
        let mut random = host::random_bytes;
        let mut env = Env {
            now: host::now(),
            random: &mut random,
            shared: &parts.shared,
        };
        flow.on_call_response(&parts.settings, &mut env, response)
    }

    /// Shares fetched documents, counts events and logs notes.
    fn drain_flow_outputs(&mut self) {
        let (Some(parts), Some(flow)) = (self.configured.as_ref(), self.flow.as_mut()) else {
            return;
        };
        if let Some(provider) = flow.take_provider_update() {
            parts.provider.borrow_mut().publish(&provider);
        }
        for event in flow.take_events() {
            parts.metrics.record(&event);
        }
        let notes = flow.take_notes();
        for note in notes {
            match note {
                Note::Info(message) => self.log(LogLevel::Info, &message),
                Note::Warn(message) => self.log(LogLevel::Warn, &message),
            }
        }
    }

    fn forward(&mut self, forward: Forward) {
        let map = MapType::HttpRequestHeaders;
        for name in &forward.remove_request_headers {
            let _ = hostcalls::remove_map_value(map, name);
        }
        for (name, value) in &forward.set_request_headers {
            let _ = hostcalls::set_map_value(map, name, Some(value));
        }
        if let Some(path) = &forward.new_path {
            let _ = hostcalls::set_map_value(map, ":path", Some(path));
        }
        if let Some(body) = &forward.new_body {
            // The whole buffered body is replaced: its current length is what the host holds.
            let held = hostcalls::get_buffer(BufferType::HttpRequestBody, 0, usize::MAX)
                .ok()
                .flatten()
                .map_or(0, |b| b.len());
            if let Err(status) = hostcalls::set_buffer(BufferType::HttpRequestBody, 0, held, body) {
                self.log(
                    LogLevel::Warn,
                    &format!("the host refused the new request body: {status:?}"),
                );
            }
        }
        self.response_headers = forward.add_response_headers;
    }

    fn respond(&self, response: LocalResponse) {
        let level = if response.status >= 500 {
            LogLevel::Error
        } else {
            LogLevel::Info
        };
        self.log(
            level,
            &format!("answered {}: {}", response.status, response.reason),
        );
        let headers: Vec<(&str, &str)> = response
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let body = (!response.body.is_empty()).then_some(response.body.as_slice());
        if let Err(status) =
            hostcalls::send_http_response(u32::from(response.status), headers, body)
        {
            self.log(
                LogLevel::Error,
                &format!("the host refused the local response: {status:?}"),
            );
            // Never let the request through: end it.
            let _ = hostcalls::reset_http_request();
        }
    }

    fn resume(&self) {
        if let Err(status) = hostcalls::resume_http_request() {
            self.log(
                LogLevel::Error,
                &format!("the host refused to resume the request: {status:?}"),
            );
        }
    }

    /// 413 for a body the flows would have to read that is over their cap
    /// ([`body_limit`]); counted as `rejections_body_too_large`.
    fn refuse_large_body(&mut self) {
        if let Some(parts) = self.configured.as_ref() {
            parts.metrics.record(&Event::Rejected("body_too_large"));
        }
        self.respond(body_limit::refusal());
        self.gate.decided(Decision::Answer, true);
    }

    fn refuse_unconfigured(&mut self) {
        self.respond(internal_error("the filter has no valid configuration"));
        self.gate.decided(Decision::Answer, true);
    }

    fn log(&self, level: LogLevel, message: &str) {
        host::log(
            level,
            &format!("openid-connect [{}]: {message}", self.context_id),
        );
    }
}

fn internal_error(reason: &str) -> LocalResponse {
    LocalResponse {
        status: 500,
        headers: vec![(
            "content-type".into(),
            "application/json; charset=utf-8".into(),
        )],
        body: br#"{"message":"An unexpected error occurred"}"#.to_vec(),
        reason: reason.to_string(),
    }
}

impl Context for OidcHttp {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if self.pending_call != Some(token_id) {
            return;
        }
        self.pending_call = None;
        let response = dispatch::read_response(body_size);
        let step = self.resume_flow(response);
        self.carry_out(step, false);
    }
}

impl HttpContext for OidcHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let request = self.incoming_request();
        let needs_body = match self.configured.as_ref() {
            // The body may carry credentials or the logout argument: the flow waits for it,
            // and the gate holds the headers meanwhile.
            Some(parts) => RequestFlow::needs_body(&parts.settings, &request),
            None => false,
        };
        if needs_body && !end_of_stream && body_limit::declared_too_large(&request) {
            self.refuse_large_body();
            return self.callback_action();
        }
        if self.gate.on_headers(needs_body, end_of_stream) == Cue::StartFlow {
            self.start(request);
        }
        self.callback_action()
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        // The host buffers the body while the flow waits for it: stop at the cap (13.7).
        if self.gate.collecting_body() && body_limit::too_large(body_size) {
            self.refuse_large_body();
            return self.callback_action();
        }
        if self.gate.on_body(end_of_stream) == Cue::StartFlow {
            let mut request = self.incoming_request();
            request.body = Some(host::buffer(BufferType::HttpRequestBody, body_size));
            self.start(request);
        }
        self.callback_action()
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        // Trailers end the body: a flow waiting for it starts now; otherwise they wait with
        // the request until the flow forwards it (the SDK's default would release it).
        if self.gate.on_trailers() == Cue::StartFlow {
            let mut request = self.incoming_request();
            request.body = Some(host::buffer(BufferType::HttpRequestBody, usize::MAX));
            self.start(request);
        }
        self.callback_action()
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        for (name, value) in std::mem::take(&mut self.response_headers) {
            let _ = hostcalls::add_map_value(MapType::HttpResponseHeaders, &name, &value);
        }
        Action::Continue
    }
}
