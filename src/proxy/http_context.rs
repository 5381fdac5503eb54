//! The per-request context: builds the core's view of the request, runs the flow, and carries
//! out each [`Step`].

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, LogLevel, MapType};

use crate::discovery;
use crate::flows::{body_limit, Env, Event, IncomingRequest, Note, RequestFlow, Settings};
use crate::proxy::call_order::{self, Batch, Plan};
use crate::proxy::dispatch;
use crate::proxy::host;
use crate::proxy::metrics::Metrics;
use crate::proxy::shared::{HostData, HostSharedState, SharedProviderCache};
use crate::request_gate::{BodyDelivery, Cue, Decision, RequestGate};
use crate::shared::SharedKeys;
use crate::step::{CallResponse, Forward, LocalResponse, OutboundRequest, Step};

pub(super) struct OidcHttp {
    context_id: u32,
    configured: Option<Parts>,
    flow: Option<RequestFlow>,
    /// Whether the request may go upstream: every request callback answers through it.
    gate: RequestGate,
    /// The calls the flow waits for (tokens may be 0 on Kong, so no sentinel value).
    batch: Option<Batch>,
    /// Calls held back until the spacer's answer (see `call_order`), and the spacer's token.
    deferred: Option<(Vec<OutboundRequest>, u32)>,
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
    pub(super) fn new(
        context_id: u32,
        settings: Rc<Settings>,
        provider: SharedProviderCache,
        keys: SharedKeys,
        metrics: Rc<Metrics>,
    ) -> OidcHttp {
        let parts = Parts {
            settings,
            provider,
            shared: HostSharedState::new(HostData, keys, host::now).with_random(host::random_bytes),
            metrics,
        };
        OidcHttp {
            context_id,
            configured: Some(parts),
            flow: None,
            gate: RequestGate::new(),
            batch: None,
            deferred: None,
            response_headers: Vec::new(),
        }
    }

    /// A context for a root whose configuration was refused: it answers 500, never forwards.
    pub(super) fn unconfigured(context_id: u32) -> OidcHttp {
        OidcHttp {
            context_id,
            configured: None,
            flow: None,
            gate: RequestGate::new(),
            batch: None,
            deferred: None,
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
        // URLs the filter builds (the default redirect_uri) use the client's Host header, as
        // Kong's kong.request.get_host does: Kong's engine fills `:authority` from server_name
        // and the listening port. Envoy has no `host` header (HTTP/1 Host is `:authority`).
        let mut authority = pseudo("host");
        if authority.is_empty() {
            authority = pseudo(":authority");
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
        let mut notes = Vec::new();
        let provider = parts.provider.borrow_mut().current(&HostData, &mut notes);
        self.log_notes(notes);
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
        self.carry_out(step, None);
    }

    /// Does what the flow decided and tells the gate. `answered_had_body`: `None` when called
    /// from a request callback (whose answer then releases or holds the request); otherwise
    /// from a call's answer (a forward resumes the held request), saying whether that call
    /// had a body (see `call_order` for why that matters).
    fn carry_out(&mut self, mut step: Step, answered_had_body: Option<bool>) {
        let in_request_callback = answered_had_body.is_none();
        loop {
            self.drain_flow_outputs();
            let (requests, single) = match step {
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
                Step::Call(request) => (vec![request], true),
                Step::CallAll(requests) => (requests, false),
            };
            let Some(parts) = self.configured.as_ref() else {
                self.refuse_unconfigured();
                return;
            };
            if call_order::plan(answered_had_body, &requests) == Plan::AfterSpacer {
                let spacer = crate::flows::outbound::get(
                    &parts.settings,
                    &discovery::discovery_url(&parts.settings.config.issuer),
                )
                .map_err(dispatch::DispatchError::from)
                .and_then(|spacer| dispatch::send(&parts.settings, &spacer));
                match spacer {
                    Ok(token) => {
                        self.deferred = Some((requests, token));
                        self.batch = Some(Batch::new(single));
                        self.gate.decided(Decision::Wait, in_request_callback);
                        return;
                    }
                    Err(reason) => {
                        // Never dispatch the call unsafely: it fails like a refused one.
                        let reason = reason.to_string();
                        self.log(LogLevel::Warn, &reason);
                        step = self.answer_flow(
                            single,
                            requests
                                .iter()
                                .map(|_| dispatch::refused(&reason))
                                .collect(),
                        );
                        continue;
                    }
                }
            }
            let mut batch = Batch::new(single);
            for request in &requests {
                let outcome = dispatch::send(&parts.settings, request).map_err(|reason| {
                    let reason = reason.to_string();
                    self.log(LogLevel::Warn, &reason);
                    dispatch::refused(&reason)
                });
                batch.sent(outcome, !request.body.is_empty());
            }
            match batch.complete() {
                // Every dispatch was refused: the flow goes on with those failures.
                Some(answers) => step = self.answer_flow(single, answers),
                None => {
                    self.batch = Some(batch);
                    self.gate.decided(Decision::Wait, in_request_callback);
                    return;
                }
            }
        }
    }

    /// Feeds the answers of the last calls to the flow.
    fn answer_flow(&mut self, single: bool, answers: Vec<CallResponse>) -> Step {
        if single {
            let response = answers.into_iter().next().unwrap_or_default();
            return self.resume_flow(response);
        }
        self.with_flow(|flow, settings, env| flow.on_call_responses(settings, env, answers))
    }

    /// Runs `step` on the current flow with a fresh environment (clock, randomness, shared data).
    fn with_flow(
        &mut self,
        step: impl FnOnce(&mut RequestFlow, &Settings, &mut Env) -> Step,
    ) -> Step {
        let (Some(parts), Some(flow)) = (self.configured.as_ref(), self.flow.as_mut()) else {
            return Step::Respond(internal_error("no flow to resume"));
        };
        let mut random = host::random_bytes;
        let mut env = Env {
            now: host::now(),
            random: &mut random,
            shared: &parts.shared,
        };
        step(flow, &parts.settings, &mut env)
    }

    /// The answer to the request callback we are in: `Continue` only once the flow forwarded.
    fn callback_action(&mut self) -> Action {
        match self.gate.callback_cue() {
            Cue::Pass => Action::Continue,
            Cue::Hold | Cue::StartFlow => Action::Pause,
        }
    }

    fn resume_flow(&mut self, response: CallResponse) -> Step {
        self.with_flow(|flow, settings, env| flow.on_call_response(settings, env, response))
    }

    /// Shares fetched documents, counts events and logs notes.
    fn drain_flow_outputs(&mut self) {
        let (Some(parts), Some(flow)) = (self.configured.as_ref(), self.flow.as_mut()) else {
            return;
        };
        let mut notes = flow.take_notes();
        if let Some(provider) = flow.take_provider_update() {
            let missing = parts
                .provider
                .borrow_mut()
                .publish(&HostData, &provider, &mut notes);
            parts.metrics.record_missing_endpoints(&missing);
        }
        for event in flow.take_events() {
            parts.metrics.record(&event);
        }
        notes.extend(parts.shared.take_notes());
        self.log_notes(notes);
    }

    fn log_notes(&self, notes: Vec<Note>) {
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
            // Kong's engine only marks a removed request header deleted, and nginx's proxy
            // module still sends it (it does not skip such entries); a replaced value does
            // reach the upstream. So blank it first (Kong: the upstream gets an empty value),
            // then remove it (Envoy and our gateway: gone). A second line of the same header
            // stays in Kong (it cannot be reached by name once the first is replaced).
            let _ = hostcalls::set_map_value(map, name, Some(""));
            let _ = hostcalls::remove_map_value(map, name);
        }
        for (name, value) in &forward.set_request_headers {
            let _ = hostcalls::set_map_value(map, name, Some(value));
        }
        if let Some(path) = &forward.new_path {
            let _ = hostcalls::set_map_value(map, ":path", Some(path));
            // Kong proxies to `$upstream_uri` (set before the filter chain runs), so a new
            // `:path` alone never reaches the upstream there; the variable is writable.
            if host::has_nginx_variable("upstream_uri") {
                if let Err(status) =
                    hostcalls::set_property(vec!["ngx", "upstream_uri"], Some(path.as_bytes()))
                {
                    self.log(
                        LogLevel::Warn,
                        &format!("the host refused the new upstream_uri: {status:?}"),
                    );
                }
            }
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

/// Whether the request's Content-Length promises a non-empty body.
fn declares_content(request: &IncomingRequest) -> bool {
    request
        .header("content-length")
        .and_then(|length| length.trim().parse::<u64>().ok())
        .is_some_and(|length| length > 0)
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
        if let Some((requests, spacer)) = self.deferred.take() {
            if spacer != token_id {
                self.deferred = Some((requests, spacer));
                return;
            }
            // The spacer (a body-less GET) answered: the held calls go out from here.
            let single = self.batch.take().is_none_or(|b| b.single);
            let step = if single {
                requests.into_iter().next().map_or_else(
                    || Step::Respond(internal_error("no call to send")),
                    Step::Call,
                )
            } else {
                Step::CallAll(requests)
            };
            self.carry_out(step, Some(false));
            return;
        }
        let Some(batch) = self.batch.as_mut() else {
            return;
        };
        let had_body = batch.had_body(token_id);
        if !batch.answer(token_id, dispatch::read_response(body_size)) {
            return;
        }
        let Some(answers) = batch.complete() else {
            return;
        };
        let single = batch.single;
        self.batch = None;
        let step = self.answer_flow(single, answers);
        self.carry_out(step, Some(had_body));
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
        let delivery = host::body_delivery();
        // Kong's engine runs no body step for an empty body (chunked with no data), and a
        // request whose headers continued would then be proxied undecided: there, wait for a
        // body only when Content-Length promises one, else decide from the headers alone.
        let needs_body = needs_body
            && (delivery == BodyDelivery::WhileHeadersHeld || declares_content(&request));
        match self.gate.on_headers(needs_body, end_of_stream, delivery) {
            Cue::StartFlow => {
                self.start(request);
                self.callback_action()
            }
            // The host proxies nothing before the body step (see `BodyDelivery`).
            Cue::Pass => Action::Continue,
            Cue::Hold => Action::Pause,
        }
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
