//! Drives one request through its filter chain, the upstream, and back.
//!
//! Request callbacks run in chain order, response callbacks in reverse (as Envoy's encoder
//! filters do). A filter that pauses holds its phase until it continues the stream, answers
//! locally, or the pause timeout fires. Bodies are handed to filters chunk by chunk as they
//! arrive (Pause before the end of the stream buffers, and the next call sees everything so
//! far), and are buffered before being sent on. Local responses pass through the response
//! callbacks of the filters that saw the request, as in Envoy.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};

use crate::abi::headers::HeaderList;
use crate::abi::Action;
use crate::config::host::{Authority, LocalResponseHeaders};
use crate::config::{Route, Service};
use crate::dispatch::to_header_map;
use crate::gateway::Gateway;
use crate::http::body::OutBody;
use crate::http::client::{Lease, Target};
use crate::log::{self, Level};
use crate::proxy::forward::{self, ForwardContext};
use crate::proxy::worker::{FinishQueue, Worker};
use crate::vm::exchange::{access, Exchange, LocalResponse, RequestInfo};
use crate::vm::instance::StreamCallback;
use crate::vm::slot::{PluginSlot, StreamHandle, VmError};

pub struct Connection {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub id: u64,
}

/// The request ends without an answer: the connection is closed (proxy_close_stream).
#[derive(Debug)]
pub struct StreamReset;

impl std::fmt::Display for StreamReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stream reset by a filter")
    }
}

impl std::error::Error for StreamReset {}

struct AccessRecord {
    client: SocketAddr,
    method: String,
    path: String,
    /// 0 until a response exists (a reset or an abandoned request).
    status: u16,
    bytes: usize,
    started: Instant,
}

/// A finished stream waiting for proxy_on_done/log/delete and its access log line.
pub struct Finished {
    exchange: Option<Rc<RefCell<Exchange>>>,
    filters: Vec<(Rc<PluginSlot>, StreamHandle)>,
    access: AccessRecord,
}

/// Owned by the request, then by the response body: when dropped (response sent, request
/// abandoned, or connection reset) the stream's end-of-life work is queued.
struct StreamGuard {
    queue: Rc<FinishQueue>,
    finished: Option<Finished>,
}

impl StreamGuard {
    fn finished(&mut self) -> Option<&mut Finished> {
        self.finished.as_mut()
    }

    fn enter(&mut self, slot: Rc<PluginSlot>, handle: StreamHandle) {
        if let Some(f) = self.finished() {
            f.filters.push((slot, handle));
        }
    }

    fn entered(&self) -> usize {
        self.finished.as_ref().map_or(0, |f| f.filters.len())
    }

    fn handle(&self, index: usize) -> Option<StreamHandle> {
        self.finished
            .as_ref()
            .and_then(|f| f.filters.get(index))
            .map(|(_, h)| *h)
    }

    /// Hands the guard to the response body, recording what the access log prints.
    fn attach(mut self, response: Response<OutBody>) -> Response<OutBody> {
        if let Some(f) = self.finished() {
            f.access.status = response.status().as_u16();
            f.access.bytes = response.body().len();
        }
        response.map(|body| body.with_guard(self))
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if let Some(finished) = self.finished.take() {
            self.queue.push(finished);
        }
    }
}

/// End-of-stream work, run by the worker's finish task.
pub fn finish(_worker: &Worker, finished: Finished) {
    if let Some(exchange) = &finished.exchange {
        for (index, (slot, handle)) in finished.filters.iter().enumerate() {
            {
                let mut exchange = exchange.borrow_mut();
                exchange.revoke(index, u8::MAX);
                exchange.grant(index, access::LOG);
            }
            slot.finish_stream(handle);
        }
    }
    let a = &finished.access;
    log::access(
        &a.client.to_string(),
        &a.method,
        &a.path,
        a.status,
        a.bytes,
        a.started.elapsed(),
    );
}

/// A response the gateway makes itself.
struct HostError {
    status: StatusCode,
    /// Kong's JSON `message` for the client.
    message: &'static str,
    /// The log line (why).
    log: String,
    /// Upstream failures go through the filters' response callbacks like a local reply;
    /// filter failures (traps, pause timeouts) do not.
    through_filters: bool,
}

const UNEXPECTED: &str = "An unexpected error occurred";

enum Stop {
    Local(LocalResponse),
    Error(HostError),
    Reset,
}

/// Where the response body comes from.
enum BodySource {
    Upstream { body: Incoming, lease: Lease },
    Buffered(Vec<u8>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Request,
    Response,
}

/// The access bits of one direction's header map, body and trailers.
struct Bits {
    headers: u8,
    body: u8,
    trailers: u8,
}

impl Bits {
    fn of(direction: Direction) -> Bits {
        match direction {
            Direction::Request => Bits {
                headers: access::REQUEST_HEADERS,
                body: access::REQUEST_BODY,
                trailers: access::REQUEST_TRAILERS,
            },
            Direction::Response => Bits {
                headers: access::RESPONSE_HEADERS,
                body: access::RESPONSE_BODY,
                trailers: access::RESPONSE_TRAILERS,
            },
        }
    }
}

/// What travels through a direction's filters, in order.
enum Event {
    Headers,
    Data(Vec<u8>, bool),
    Trailers,
}

/// What each filter (by position in the direction's order) has let through so far.
#[derive(Default, Clone)]
struct Hold {
    headers_passed: bool,
    /// Body data the filter has seen but not let through (it paused before the end).
    buffer: Vec<u8>,
    /// The filter paused its headers callback: as Envoy's host turns that Pause into
    /// `StopAllIterationAndWatermark`, body data and trailers wait here, unseen by the filter,
    /// until it resumes; then they are delivered to it (Envoy's `commonContinue`).
    stopped_all: bool,
    /// Body data that arrived while `stopped_all`.
    waiting: Vec<u8>,
    /// The body ended while `stopped_all`.
    waiting_end: bool,
    /// Trailers arrived while `stopped_all`.
    waiting_trailers: bool,
}

/// One direction (request or response) travelling through the chain. A filter that pauses
/// holds what it has seen; the message continues past it when it returns Continue from a
/// later callback or calls proxy_continue_stream.
struct Pipeline {
    direction: Direction,
    /// Chain indexes in processing order.
    order: Vec<usize>,
    /// The message has no body.
    headers_end: bool,
    holds: Vec<Hold>,
    /// Body data that got past every filter.
    forward: Vec<u8>,
}

impl Pipeline {
    fn new(direction: Direction, order: Vec<usize>, headers_end: bool) -> Pipeline {
        Pipeline {
            direction,
            holds: vec![Hold::default(); order.len()],
            order,
            headers_end,
            forward: Vec::new(),
        }
    }
}

/// What the request phase hands to the upstream step.
struct Forwarded {
    headers: HeaderList,
    body: Vec<u8>,
    trailers: Option<HeaderList>,
}

pub async fn handle(
    worker: Rc<Worker>,
    connection: Rc<Connection>,
    request: Request<Incoming>,
) -> Result<Response<OutBody>, StreamReset> {
    let gateway = worker.gateway.clone();
    gateway.own_metrics.requests.record(1);
    let (parts, body) = request.into_parts();
    let raw_target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let normalized = crate::uri::normalize_target(raw_target);
    let mut guard = StreamGuard {
        queue: worker.finished.clone(),
        finished: Some(Finished {
            exchange: None,
            filters: Vec::new(),
            access: AccessRecord {
                client: connection.peer,
                method: parts.method.to_string(),
                path: raw_target.to_string(),
                status: 0,
                bytes: 0,
                started: Instant::now(),
            },
        }),
    };
    let original_path = match normalized {
        Ok(path) => path,
        Err(why) => {
            log::gateway(
                Level::Info,
                &format!(
                    "refused the request path from {} ({why}): 400",
                    connection.peer
                ),
            );
            return Ok(guard.attach(kong_error(StatusCode::BAD_REQUEST, "Bad request")));
        }
    };
    let route_path = original_path.split('?').next().unwrap_or("/");
    let Some(matched) = gateway.router.find(route_path) else {
        return Ok(guard.attach(kong_error(
            StatusCode::NOT_FOUND,
            "no Route matched with those values",
        )));
    };
    let route = &gateway.config.routes[matched.route];
    let service = &gateway.config.services[route.service];
    let chain: Vec<Rc<PluginSlot>> = gateway
        .router
        .chain(matched.route)
        .iter()
        .filter(|p| gateway.plugins[**p].enabled())
        .filter_map(|p| worker.slots.get(*p).cloned())
        .collect();
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(new_request_id);
    let info = RequestInfo {
        client: connection.peer,
        local: connection.local,
        connection_id: connection.id,
        request_id,
        protocol: if parts.version == http::Version::HTTP_10 {
            "HTTP/1.0"
        } else {
            "HTTP/1.1"
        },
        started: SystemTime::now(),
        route_name: route.name.clone(),
        service_name: service.name.clone(),
    };
    let trusted = gateway.config.trusted_ips.contains(connection.peer.ip());
    let mut headers = forward::request_header_list(&parts);
    if gateway.config.host.authority == Authority::ServerName {
        // Kong's engine: `:authority` is the server name and port; Host stays a header.
        let host = headers.get(b":authority").map(<[u8]>::to_vec);
        let server = format!(
            "{}:{}",
            gateway.config.host.server_name,
            connection.local.port()
        );
        headers.replace(b":authority", server.as_bytes());
        if let Some(host) = host {
            headers.add(b"host", &host);
        }
    }
    if !trusted {
        forward::strip_untrusted_forwarding(&mut headers);
    }
    // Filters see the path that routing used and that goes upstream.
    headers.replace(b":path", original_path.as_bytes());
    let exchange = Rc::new(RefCell::new(Exchange::new(info, headers, chain.len())));
    if let Some(f) = guard.finished() {
        f.exchange = Some(exchange.clone());
    }
    let mut flow = Flow {
        gateway: &gateway,
        worker: &worker,
        chain,
        exchange,
        guard: &mut guard,
        method: parts.method.clone(),
        route,
        service,
        prefix: &matched.prefix,
        connection: &connection,
        original_path: &original_path,
    };
    let response = flow.run(body).await?;
    Ok(guard.attach(response))
}

struct Flow<'a> {
    gateway: &'a Gateway,
    worker: &'a Rc<Worker>,
    chain: Vec<Rc<PluginSlot>>,
    exchange: Rc<RefCell<Exchange>>,
    guard: &'a mut StreamGuard,
    method: http::Method,
    route: &'a Route,
    service: &'a Service,
    prefix: &'a str,
    connection: &'a Connection,
    original_path: &'a str,
}

impl Flow<'_> {
    async fn run(&mut self, body: Incoming) -> Result<Response<OutBody>, StreamReset> {
        let forwarded = match self.request_phase(body).await {
            Ok(forwarded) => forwarded,
            Err(stop) => return self.stopped(stop, false).await,
        };
        let (head, source) = match self.upstream(forwarded).await {
            Ok(answer) => answer,
            Err(stop) => return self.stopped(stop, false).await,
        };
        match self.response_phase(head, source).await {
            Ok(response) => Ok(response),
            Err(stop) => self.stopped(stop, true).await,
        }
    }

    fn filter_name(&self, index: usize) -> String {
        self.chain
            .get(index)
            .map(|slot| self.gateway.plugins[slot.plugin].spec.scope_label())
            .unwrap_or_default()
    }

    fn vm_error(&self, index: usize, error: VmError) -> Stop {
        Stop::Error(HostError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: UNEXPECTED,
            log: format!(
                "filter {} failed the request: {error}",
                self.filter_name(index)
            ),
            through_filters: false,
        })
    }

    fn callback(&self, index: usize, callback: StreamCallback) -> Result<Action, Stop> {
        let (Some(slot), Some(handle)) = (self.chain.get(index), self.guard.handle(index)) else {
            return Ok(Action::Continue);
        };
        slot.stream_callback(&handle, callback)
            .map_err(|e| self.vm_error(index, e))
    }

    /// Acts on what filters signalled: a failure, a reset or a local response stop the
    /// request. Returns whether filter `index` asked to continue `direction` (and forgets it).
    fn signals(&self, index: usize, direction: Direction) -> Result<bool, Stop> {
        let mut exchange = self.exchange.borrow_mut();
        let signals = &mut exchange.signals;
        if let Some(reason) = signals.failure.take() {
            return Err(Stop::Error(HostError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: UNEXPECTED,
                log: format!("request failed: {reason}"),
                through_filters: false,
            }));
        }
        if signals.reset {
            return Err(Stop::Reset);
        }
        if let Some(local) = signals.local_response.take() {
            return Err(Stop::Local(local));
        }
        let pending = match direction {
            Direction::Request => &mut signals.continue_request,
            Direction::Response => &mut signals.continue_response,
        };
        let asked = pending.contains(&index);
        pending.retain(|i| *i != index);
        Ok(asked)
    }

    /// A continue issued before a callback does not undo a Pause the callback returns (as in
    /// Envoy, continuing a stream that is not stopped does nothing).
    fn forget_continue(&self, index: usize, direction: Direction) {
        let mut exchange = self.exchange.borrow_mut();
        let pending = match direction {
            Direction::Request => &mut exchange.signals.continue_request,
            Direction::Response => &mut exchange.signals.continue_response,
        };
        pending.retain(|i| *i != index);
    }

    /// Waits until filter `index` continues `direction`, answers, or the pause times out.
    async fn wait_for_continue(
        &self,
        index: usize,
        direction: Direction,
        phase: &str,
    ) -> Result<(), Stop> {
        let timeout = self.gateway.config.pause_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.signals(index, direction)? {
                return Ok(());
            }
            let notify = self.exchange.borrow().notify.clone();
            if tokio::time::timeout_at(deadline, notify.notified())
                .await
                .is_err()
                && !self.signals(index, direction)?
            {
                return Err(Stop::Error(HostError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    message: UNEXPECTED,
                    log: format!(
                        "filter {} paused the request in {phase} and neither resumed nor answered it within {} ms",
                        self.filter_name(index),
                        timeout.as_millis()
                    ),
                    through_filters: false,
                }));
            }
        }
    }

    /// Filter order for a direction: chain order for requests, reverse for responses.
    fn order(&self, direction: Direction) -> Vec<usize> {
        let entered = self.guard.entered();
        match direction {
            Direction::Request => (0..self.chain.len()).collect(),
            Direction::Response => (0..entered).rev().collect(),
        }
    }

    /// Passes `events` through the pipeline from position `from` on; what gets past the last
    /// filter is kept (body data in `pipe.forward`).
    async fn deliver(
        &mut self,
        pipe: &mut Pipeline,
        from: usize,
        events: Vec<Event>,
    ) -> Result<(), Stop> {
        let mut events = events;
        for position in from..pipe.order.len() {
            if events.is_empty() {
                return Ok(());
            }
            let mut next = Vec::new();
            for event in events {
                next.extend(self.step(pipe, position, event).await?);
            }
            events = next;
        }
        for event in events {
            if let Event::Data(data, _) = event {
                pipe.forward.extend_from_slice(&data);
            }
        }
        Ok(())
    }

    /// One filter handles one event; returns what it lets through.
    async fn step(
        &mut self,
        pipe: &mut Pipeline,
        position: usize,
        event: Event,
    ) -> Result<Vec<Event>, Stop> {
        let index = pipe.order[position];
        let direction = pipe.direction;
        let bits = Bits::of(direction);
        match event {
            Event::Headers => {
                if direction == Direction::Request && self.guard.entered() == index {
                    let slot = self.chain[index].clone();
                    let handle = slot
                        .create_stream(&self.exchange, index)
                        .map_err(|e| self.vm_error(index, e))?;
                    self.guard.enter(slot, handle);
                }
                let headers = {
                    let mut exchange = self.exchange.borrow_mut();
                    exchange.grant(index, bits.headers);
                    match direction {
                        Direction::Request => exchange.request_headers.len(),
                        Direction::Response => exchange.response_headers.len(),
                    }
                };
                let callback = match direction {
                    Direction::Request => StreamCallback::RequestHeaders {
                        headers,
                        end_of_stream: pipe.headers_end,
                    },
                    Direction::Response => StreamCallback::ResponseHeaders {
                        headers,
                        end_of_stream: pipe.headers_end,
                    },
                };
                self.forget_continue(index, direction);
                let action = self.callback(index, callback)?;
                let resumed = self.signals(index, direction)?;
                if action == Action::Pause && !resumed {
                    if !pipe.headers_end {
                        if self.gateway.config.host.allow_on_headers_stop_iteration {
                            // Envoy's allow_on_headers_stop_iteration: the body is still
                            // delivered to this filter, which may continue from a body callback.
                            return Ok(Vec::new());
                        }
                        // Envoy's default (and Kong): the body and trailers wait, unseen,
                        // until the filter resumes.
                        pipe.holds[position].stopped_all = true;
                        return Ok(Vec::new());
                    }
                    self.wait_for_continue(index, direction, callback.name())
                        .await?;
                }
                Ok(self.release_headers(pipe, position).into_iter().collect())
            }
            Event::Data(chunk, end) if pipe.holds[position].stopped_all => {
                let hold = &mut pipe.holds[position];
                hold.waiting.extend_from_slice(&chunk);
                hold.waiting_end |= end;
                if !end {
                    return Ok(Vec::new());
                }
                // All of the body is here and the filter still holds the headers.
                self.wait_for_continue(index, direction, headers_callback(direction))
                    .await?;
                self.resume_stopped_all(pipe, position).await
            }
            Event::Trailers if pipe.holds[position].stopped_all => {
                pipe.holds[position].waiting_trailers = true;
                self.wait_for_continue(index, direction, headers_callback(direction))
                    .await?;
                self.resume_stopped_all(pipe, position).await
            }
            Event::Data(chunk, end) => self.body_step(pipe, position, chunk, end).await,
            Event::Trailers => self.trailers_step(pipe, position).await,
        }
    }

    /// A filter that held everything since its headers callback resumed: as Envoy's
    /// `commonContinue`, the headers go on to the next filter, then the data that waited is
    /// delivered to this filter (`end_of_stream` when the body ended and no trailers came),
    /// then the trailers. Returns what gets past this filter.
    async fn resume_stopped_all(
        &mut self,
        pipe: &mut Pipeline,
        position: usize,
    ) -> Result<Vec<Event>, Stop> {
        let hold = &mut pipe.holds[position];
        hold.stopped_all = false;
        let data = std::mem::take(&mut hold.waiting);
        let ended = hold.waiting_end;
        let trailers = std::mem::take(&mut hold.waiting_trailers);
        if data.is_empty() && ended && !trailers {
            // Nothing but the end arrived: the headers go on as a complete message, and this
            // filter gets no body callback (Envoy does the same).
            pipe.headers_end = true;
        }
        let mut out: Vec<Event> = self.release_headers(pipe, position).into_iter().collect();
        if !data.is_empty() {
            out.extend(
                self.body_step(pipe, position, data, ended && !trailers)
                    .await?,
            );
        }
        if trailers {
            out.extend(self.trailers_step(pipe, position).await?);
        }
        Ok(out)
    }

    /// One body chunk through the filter at `position`, its headers already let through.
    async fn body_step(
        &mut self,
        pipe: &mut Pipeline,
        position: usize,
        chunk: Vec<u8>,
        end: bool,
    ) -> Result<Vec<Event>, Stop> {
        let index = pipe.order[position];
        let direction = pipe.direction;
        let bits = Bits::of(direction);
        {
            {
                let mut buffer = std::mem::take(&mut pipe.holds[position].buffer);
                buffer.extend_from_slice(&chunk);
                let size = buffer.len();
                let callback = match direction {
                    Direction::Request => StreamCallback::RequestBody {
                        size,
                        end_of_stream: end,
                    },
                    Direction::Response => StreamCallback::ResponseBody {
                        size,
                        end_of_stream: end,
                    },
                };
                {
                    let mut exchange = self.exchange.borrow_mut();
                    *exchange.body_mut(direction == Direction::Request) = Some(buffer);
                    exchange.grant(index, bits.body);
                }
                self.forget_continue(index, direction);
                let mut outcome = self.callback(index, callback).and_then(|action| {
                    let resumed = self.signals(index, direction)?;
                    Ok(action == Action::Pause && !resumed)
                });
                if matches!(outcome, Ok(true)) && end {
                    // The whole body is here: wait for the filter, the body still in reach.
                    outcome = self
                        .wait_for_continue(index, direction, callback.name())
                        .await
                        .map(|()| false);
                }
                let buffer = {
                    let mut exchange = self.exchange.borrow_mut();
                    exchange.revoke(index, bits.body);
                    exchange
                        .body_mut(direction == Direction::Request)
                        .take()
                        .unwrap_or_default()
                };
                if outcome? {
                    pipe.holds[position].buffer = buffer;
                    return Ok(Vec::new());
                }
                let mut out: Vec<Event> =
                    self.release_headers(pipe, position).into_iter().collect();
                out.push(Event::Data(buffer, end));
                Ok(out)
            }
        }
    }

    /// The trailers through the filter at `position`, its headers already let through.
    async fn trailers_step(
        &mut self,
        pipe: &mut Pipeline,
        position: usize,
    ) -> Result<Vec<Event>, Stop> {
        let index = pipe.order[position];
        let direction = pipe.direction;
        let bits = Bits::of(direction);
        {
            {
                let trailers = {
                    let mut exchange = self.exchange.borrow_mut();
                    exchange.grant(index, bits.trailers);
                    match direction {
                        Direction::Request => exchange
                            .request_trailers
                            .as_ref()
                            .map_or(0, HeaderList::len),
                        Direction::Response => exchange
                            .response_trailers
                            .as_ref()
                            .map_or(0, HeaderList::len),
                    }
                };
                let callback = match direction {
                    Direction::Request => StreamCallback::RequestTrailers { trailers },
                    Direction::Response => StreamCallback::ResponseTrailers { trailers },
                };
                self.forget_continue(index, direction);
                let action = self.callback(index, callback)?;
                let resumed = self.signals(index, direction)?;
                if action == Action::Pause && !resumed {
                    self.wait_for_continue(index, direction, callback.name())
                        .await?;
                }
                self.exchange.borrow_mut().revoke(index, bits.trailers);
                let mut out: Vec<Event> =
                    self.release_headers(pipe, position).into_iter().collect();
                let held = std::mem::take(&mut pipe.holds[position].buffer);
                if !held.is_empty() {
                    out.push(Event::Data(held, false));
                }
                out.push(Event::Trailers);
                Ok(out)
            }
        }
    }

    /// Marks the headers as let through by the filter at `position` (once).
    fn release_headers(&self, pipe: &mut Pipeline, position: usize) -> Option<Event> {
        let hold = &mut pipe.holds[position];
        if hold.headers_passed {
            return None;
        }
        hold.headers_passed = true;
        let index = pipe.order[position];
        self.exchange
            .borrow_mut()
            .revoke(index, Bits::of(pipe.direction).headers);
        Some(Event::Headers)
    }

    /// A filter continued while the message was still arriving: let through what it held.
    async fn on_wake(&mut self, pipe: &mut Pipeline) -> Result<(), Stop> {
        for position in 0..pipe.order.len() {
            let index = pipe.order[position];
            if !self.signals(index, pipe.direction)? {
                continue;
            }
            if pipe.holds[position].stopped_all {
                let out = self.resume_stopped_all(pipe, position).await?;
                if !out.is_empty() {
                    self.deliver(pipe, position + 1, out).await?;
                }
                continue;
            }
            let mut out: Vec<Event> = self.release_headers(pipe, position).into_iter().collect();
            let held = std::mem::take(&mut pipe.holds[position].buffer);
            if !held.is_empty() {
                out.push(Event::Data(held, false));
            }
            if !out.is_empty() {
                self.deliver(pipe, position + 1, out).await?;
            }
        }
        Ok(())
    }

    /// Feeds a body as it arrives, staying responsive to filters that continue meanwhile.
    async fn pump(
        &mut self,
        pipe: &mut Pipeline,
        body: &mut Incoming,
        timeout: Option<std::time::Duration>,
    ) -> Result<(), Stop> {
        let max = self.gateway.config.max_body_bytes;
        let mut total = 0usize;
        loop {
            let notify = self.exchange.borrow().notify.clone();
            let next = async {
                tokio::select! {
                    frame = body.frame() => Some(frame),
                    _ = notify.notified() => None,
                }
            };
            let next = match timeout {
                Some(limit) => tokio::time::timeout(limit, next)
                    .await
                    .map_err(|_| self.stall_error(pipe.direction, limit))?,
                None => next.await,
            };
            let frame = match next {
                None => {
                    self.on_wake(pipe).await?;
                    continue;
                }
                Some(frame) => frame,
            };
            match frame {
                None => {
                    return self
                        .deliver(pipe, 0, vec![Event::Data(Vec::new(), true)])
                        .await
                }
                Some(Err(e)) => {
                    return Err(match pipe.direction {
                        Direction::Request => {
                            log::gateway(Level::Debug, &format!("client request body failed: {e}"));
                            Stop::Reset
                        }
                        Direction::Response => {
                            self.body_error(pipe.direction, format!("the body failed: {e}"))
                        }
                    })
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        total += data.len();
                        if total > max {
                            return Err(self.body_error(
                                pipe.direction,
                                format!("the body is larger than max_body_bytes ({max})"),
                            ));
                        }
                        let end = body.is_end_stream();
                        self.deliver(pipe, 0, vec![Event::Data(data.to_vec(), end)])
                            .await?;
                        if end {
                            return Ok(());
                        }
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            let mut list = HeaderList::new();
                            for (name, value) in &trailers {
                                list.add(name.as_str().as_bytes(), value.as_bytes());
                            }
                            *self
                                .exchange
                                .borrow_mut()
                                .trailers_mut(pipe.direction == Direction::Request) = Some(list);
                            self.deliver(pipe, 0, vec![Event::Trailers]).await?;
                        }
                        return Ok(());
                    }
                },
            }
        }
    }

    /// No body data for `limit`: nginx's client_body_timeout (408) or the upstream's (502).
    fn stall_error(&self, direction: Direction, limit: std::time::Duration) -> Stop {
        let why = format!("the body stalled for {} ms", limit.as_millis());
        match direction {
            Direction::Request => Stop::Error(HostError {
                status: StatusCode::REQUEST_TIMEOUT,
                message: "Request timeout",
                log: format!("request body refused: {why} (client_body_timeout)"),
                through_filters: false,
            }),
            Direction::Response => self.body_error(direction, why),
        }
    }

    fn body_error(&self, direction: Direction, why: String) -> Stop {
        Stop::Error(match direction {
            Direction::Request => HostError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: "Request size limit exceeded",
                log: format!("request body refused: {why}"),
                through_filters: false,
            },
            Direction::Response => HostError {
                status: StatusCode::BAD_GATEWAY,
                message: "An invalid response was received from the upstream server",
                log: format!("upstream response failed: {why}"),
                through_filters: false,
            },
        })
    }

    async fn request_phase(&mut self, mut body: Incoming) -> Result<Forwarded, Stop> {
        let headers_end = body.is_end_stream();
        let mut pipe = Pipeline::new(
            Direction::Request,
            self.order(Direction::Request),
            headers_end,
        );
        self.deliver(&mut pipe, 0, vec![Event::Headers]).await?;
        if !headers_end {
            let timeout = self.gateway.config.client.body_timeout;
            self.pump(&mut pipe, &mut body, Some(timeout)).await?;
        }
        let exchange = self.exchange.borrow();
        Ok(Forwarded {
            headers: exchange.request_headers.clone(),
            body: pipe.forward,
            trailers: exchange.request_trailers.clone(),
        })
    }

    async fn upstream(&mut self, forwarded: Forwarded) -> Result<(HeaderList, BodySource), Stop> {
        let context = ForwardContext {
            service: self.service,
            route: self.route,
            prefix: self.prefix,
            client: self.connection.peer,
            listener: self.connection.local,
            original_path: self.original_path,
            trusted: self
                .gateway
                .config
                .trusted_ips
                .contains(self.connection.peer.ip()),
        };
        let request = forward::upstream_request(&forwarded.headers, &context).map_err(|e| {
            Stop::Error(HostError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: UNEXPECTED,
                log: format!("cannot build the upstream request: {e}"),
                through_filters: false,
            })
        })?;
        let target = Target {
            scheme: self.service.scheme,
            host: self.service.host.clone(),
            port: self.service.port,
            tls_name: self.service.host.clone(),
        };
        let body = Bytes::from(forwarded.body);
        let trailers = forwarded.trailers.as_ref().map(to_header_map);
        let build = || {
            let mut upstream = Request::new(OutBody::new(body.clone(), trailers.clone()));
            *upstream.method_mut() = request.method.clone();
            *upstream.uri_mut() = request
                .path
                .parse()
                .unwrap_or_else(|_| http::Uri::from_static("/"));
            *upstream.headers_mut() = request.headers.clone();
            upstream
        };
        let timeout = self.gateway.config.upstream_timeout;
        let sent = tokio::time::timeout(timeout, self.worker.client.send(&target, build)).await;
        let (response, lease) = match sent {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                return Err(Stop::Error(HostError {
                    status: StatusCode::BAD_GATEWAY,
                    message: "An invalid response was received from the upstream server",
                    log: format!("upstream {target} failed: {e}"),
                    through_filters: true,
                }))
            }
            Err(_) => {
                return Err(Stop::Error(HostError {
                    status: StatusCode::GATEWAY_TIMEOUT,
                    message: "The upstream server is timing out",
                    log: format!(
                        "upstream {target} did not answer within {} ms",
                        timeout.as_millis()
                    ),
                    through_filters: true,
                }))
            }
        };
        let head = forward::response_header_list(response.status(), response.headers());
        Ok((
            head,
            BodySource::Upstream {
                body: response.into_body(),
                lease,
            },
        ))
    }

    async fn response_phase(
        &mut self,
        head: HeaderList,
        source: BodySource,
    ) -> Result<Response<OutBody>, Stop> {
        let headers_end = match &source {
            BodySource::Upstream { body, .. } => body.is_end_stream(),
            BodySource::Buffered(data) => data.is_empty(),
        };
        self.exchange.borrow_mut().response_headers = head;
        let mut pipe = Pipeline::new(
            Direction::Response,
            self.order(Direction::Response),
            headers_end,
        );
        self.deliver(&mut pipe, 0, vec![Event::Headers]).await?;
        match source {
            BodySource::Buffered(data) => {
                if !headers_end {
                    self.deliver(&mut pipe, 0, vec![Event::Data(data, true)])
                        .await?;
                }
            }
            BodySource::Upstream { mut body, lease } => {
                if !headers_end {
                    let timeout = self.gateway.config.upstream_timeout;
                    self.pump(&mut pipe, &mut body, Some(timeout)).await?;
                }
                lease.release();
            }
        }
        let exchange = self.exchange.borrow();
        let head = exchange.response_headers.clone();
        let trailers = exchange.response_trailers.clone();
        drop(exchange);
        Ok(self.build_response(&head, pipe.forward, trailers))
    }

    fn build_response(
        &self,
        head: &HeaderList,
        body: Vec<u8>,
        trailers: Option<HeaderList>,
    ) -> Response<OutBody> {
        let status = head
            .get_str(":status")
            .and_then(|s| s.parse::<u16>().ok())
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::BAD_GATEWAY);
        let keep_length = self.method == http::Method::HEAD || status == StatusCode::NOT_MODIFIED;
        let headers = forward::response_headers(head, keep_length);
        let mut response = Response::new(OutBody::new(body, trailers.as_ref().map(to_header_map)));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }

    /// Answers after a stop. A local response from the request phase (and an upstream error)
    /// passes through the response callbacks of the filters that saw the request; one from
    /// the response phase is sent as is.
    async fn stopped(
        &mut self,
        stop: Stop,
        in_response: bool,
    ) -> Result<Response<OutBody>, StreamReset> {
        let (head, body) = match stop {
            Stop::Reset => return Err(StreamReset),
            Stop::Error(error) => {
                log::gateway(Level::Error, &error.log);
                let (head, body) = kong_error_parts(error.status, error.message);
                if !error.through_filters || in_response {
                    return Ok(self.build_response(&head, body, None));
                }
                (head, body)
            }
            Stop::Local(local) => {
                self.log_local(&local);
                let (head, body) =
                    local_parts(local, self.gateway.config.host.local_response_headers);
                if in_response {
                    return Ok(self.build_response(&head, body, None));
                }
                (head, body)
            }
        };
        match self.response_phase(head, BodySource::Buffered(body)).await {
            Ok(response) => Ok(response),
            Err(Stop::Reset) => Err(StreamReset),
            Err(Stop::Local(local)) => {
                self.log_local(&local);
                let (head, body) =
                    local_parts(local, self.gateway.config.host.local_response_headers);
                Ok(self.build_response(&head, body, None))
            }
            Err(Stop::Error(error)) => {
                log::gateway(Level::Error, &error.log);
                let (head, body) = kong_error_parts(error.status, error.message);
                Ok(self.build_response(&head, body, None))
            }
        }
    }

    fn log_local(&self, local: &LocalResponse) {
        if log::enabled(Level::Debug) {
            log::gateway(
                Level::Debug,
                &format!(
                    "filter {} answered {} locally{}",
                    self.filter_name(local.filter),
                    local.status,
                    if local.details.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", local.details)
                    }
                ),
            );
        }
    }
}

fn headers_callback(direction: Direction) -> &'static str {
    match direction {
        Direction::Request => "proxy_on_request_headers",
        Direction::Response => "proxy_on_response_headers",
    }
}

/// The head and body of a local response; a body without a content type is text/plain. With
/// `local_response_headers: last` (Kong's engine) a repeated header keeps only its last value.
fn local_parts(local: LocalResponse, repeated: LocalResponseHeaders) -> (HeaderList, Vec<u8>) {
    let mut head = HeaderList::new();
    head.add(b":status", local.status.to_string().as_bytes());
    for (name, value) in local.headers.iter() {
        if name.first() == Some(&b':') {
            continue;
        }
        match repeated {
            LocalResponseHeaders::All => head.add(name, value),
            LocalResponseHeaders::Last => head.replace(name, value),
        }
    }
    if !local.body.is_empty() && head.get(b"content-type").is_none() {
        head.add(b"content-type", b"text/plain");
    }
    (head, local.body)
}

/// Kong's error shape: `{"message": "..."}`.
fn kong_error_parts(status: StatusCode, message: &str) -> (HeaderList, Vec<u8>) {
    let mut head = HeaderList::new();
    head.add(b":status", status.as_str().as_bytes());
    head.add(b"content-type", b"application/json; charset=utf-8");
    let body = serde_json::json!({ "message": message })
        .to_string()
        .into_bytes();
    (head, body)
}

fn kong_error(status: StatusCode, message: &str) -> Response<OutBody> {
    let (_, body) = kong_error_parts(status, message);
    let mut response = Response::new(OutBody::new(body, None));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A random (version 4) UUID for `request.id` when the client sent no x-request-id.
fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::getrandom(&mut bytes).is_err() {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = nanos.to_le_bytes();
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
