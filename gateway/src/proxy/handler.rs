//! The async driver of one request: reads the client's request, runs it through the filter
//! chain (the bookkeeping is `pipeline.rs`; this module only feeds it and waits where it
//! waits), sends what the filters let through upstream, and runs the answer back.
//!
//! Request callbacks run in chain order, response callbacks in reverse (as Envoy's encoder
//! filters do). Local responses pass through the response callbacks of the filters that saw
//! the request, as in Envoy.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};

use crate::abi::headers::HeaderList;
use crate::abi::Action;
use crate::config::{Route, Service};
use crate::dispatch::to_header_map;
use crate::gateway::Gateway;
use crate::http::body::OutBody;
use crate::http::client::{Lease, Target};
use crate::log::{self, Level};
use crate::proxy::finish::{AccessRecord, StreamGuard};
use crate::proxy::forward::{self, ForwardContext};
use crate::proxy::pipeline::{Direction, Event, Filters, Pipeline, Progress};
use crate::proxy::reply::{self, HostError, Stop};
use crate::proxy::request::{self, Connection};
use crate::proxy::resources::Worker;
use crate::vm::exchange::{Exchange, LocalResponse};
use crate::vm::instance::StreamCallback;
use crate::vm::slot::{PluginSlot, VmError};

/// The request ends without an answer: the connection is closed (proxy_close_stream).
#[derive(Debug, thiserror::Error)]
#[error("stream reset by a filter")]
pub(crate) struct StreamReset;

/// Where the response body comes from.
enum BodySource {
    Upstream { body: Incoming, lease: Lease },
    Buffered(Vec<u8>),
}

/// What the request phase hands to the upstream step.
struct Forwarded {
    headers: HeaderList,
    body: Vec<u8>,
    trailers: Option<HeaderList>,
}

pub(crate) async fn handle(
    worker: Rc<Worker>,
    connection: Rc<Connection>,
    request: Request<Incoming>,
) -> Result<Response<OutBody>, StreamReset> {
    let gateway = worker.gateway.clone();
    gateway.own_metrics.requests.record(1);
    let (parts, body) = request.into_parts();
    let raw_target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut guard = StreamGuard::new(
        worker.finished.clone(),
        AccessRecord {
            client: connection.peer,
            method: parts.method.to_string(),
            path: raw_target.to_string(),
            status: 0,
            bytes: 0,
            started: Instant::now(),
        },
    );
    let original_path = match crate::uri::normalize_target(raw_target) {
        Ok(path) => path,
        Err(why) => {
            log::gateway(
                Level::Info,
                &format!(
                    "refused the request path from {} ({why}): 400",
                    connection.peer
                ),
            );
            return Ok(guard.attach(reply::kong_error(StatusCode::BAD_REQUEST, "Bad request")));
        }
    };
    let route_path = original_path.split('?').next().unwrap_or("/");
    let Some(matched) = gateway.router.find(route_path) else {
        return Ok(guard.attach(reply::kong_error(
            StatusCode::NOT_FOUND,
            "no Route matched with those values",
        )));
    };
    let Some((route, service)) = gateway.config.routes.get(matched.route).and_then(|route| {
        let service = gateway.config.services.get(route.service)?;
        Some((route, service))
    }) else {
        // The router only knows the config's routes, each with its service.
        return Ok(guard.attach(reply::kong_error(
            StatusCode::NOT_FOUND,
            "no Route matched with those values",
        )));
    };
    let chain = request::chain(&gateway, &worker, &matched);
    let info = request::request_info(&parts, &connection, route, service);
    let headers = request::filter_view(&gateway, &parts, &connection, &original_path);
    let exchange = Rc::new(RefCell::new(Exchange::new(info, headers, chain.len())));
    guard.set_exchange(exchange.clone());
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

impl Filters for Flow<'_> {
    fn exchange(&self) -> &RefCell<Exchange> {
        &self.exchange
    }

    fn open(&mut self, index: usize) -> Result<(), Stop> {
        if self.guard.entered() != index {
            return Ok(());
        }
        let Some(slot) = self.chain.get(index).cloned() else {
            return Ok(());
        };
        let handle = slot
            .create_stream(&self.exchange, index)
            .map_err(|e| self.vm_error(index, e))?;
        self.guard.enter(slot, handle);
        Ok(())
    }

    fn call(&mut self, index: usize, callback: StreamCallback) -> Result<Action, Stop> {
        let (Some(slot), Some(handle)) = (self.chain.get(index), self.guard.handle(index)) else {
            return Ok(Action::Continue);
        };
        slot.stream_callback(&handle, callback)
            .map_err(|e| self.vm_error(index, e))
    }

    fn name(&self, index: usize) -> String {
        self.chain
            .get(index)
            .and_then(|slot| self.gateway.plugins.get(slot.plugin))
            .map(|plugin| plugin.spec.scope_label())
            .unwrap_or_default()
    }
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

    fn vm_error(&self, index: usize, error: VmError) -> Stop {
        Stop::Error(HostError::unexpected(format!(
            "filter {} failed the request: {error}",
            self.name(index)
        )))
    }

    /// A new pipeline for `direction`: chain order for requests; for responses, the reverse
    /// order of the filters that saw the request.
    fn pipeline(&self, direction: Direction, headers_end: bool) -> Pipeline {
        let order = match direction {
            Direction::Request => (0..self.chain.len()).collect(),
            Direction::Response => (0..self.guard.entered()).rev().collect(),
        };
        let stop_headers_only = self.gateway.config.host.allow_on_headers_stop_iteration;
        Pipeline::new(direction, order, headers_end, stop_headers_only)
    }

    /// Feeds one event and waits while a filter holds the message.
    async fn feed(&mut self, pipe: &mut Pipeline, event: Event) -> Result<(), Stop> {
        let progress = pipe.push(self, event)?;
        self.settle(pipe, progress).await
    }

    /// Waits for each wait of the pipeline to end: the filter continues or answers (the
    /// exchange is notified), or the pause timeout fires.
    async fn settle(&mut self, pipe: &mut Pipeline, mut progress: Progress) -> Result<(), Stop> {
        let timeout = self.gateway.config.pause_timeout;
        while let Progress::Waiting(wait) = progress {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let notify = self.exchange.borrow().notify.clone();
                let expired = tokio::time::timeout_at(deadline, notify.notified())
                    .await
                    .is_err();
                progress = pipe.wake(self)?;
                if progress != Progress::Waiting(wait.clone()) {
                    break;
                }
                if expired {
                    return Err(pipe.timed_out(self, timeout.as_millis()));
                }
            }
        }
        Ok(())
    }

    /// Feeds a body as it arrives, staying responsive to filters that continue meanwhile.
    /// `limit` bounds the wait for each frame (client_body_timeout, or the upstream's).
    async fn pump(
        &mut self,
        pipe: &mut Pipeline,
        direction: Direction,
        body: &mut Incoming,
        limit: Duration,
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
            let next = tokio::time::timeout(limit, next)
                .await
                .map_err(|_| stall_error(direction, limit))?;
            let Some(frame) = next else {
                let progress = pipe.wake(self)?;
                self.settle(pipe, progress).await?;
                continue;
            };
            let frame = match frame {
                None => return self.feed(pipe, Event::Data(Vec::new(), true)).await,
                Some(Err(e)) => return Err(frame_error(direction, &e)),
                Some(Ok(frame)) => frame,
            };
            match frame.into_data() {
                Ok(data) => {
                    total += data.len();
                    if total > max {
                        return Err(body_error(
                            direction,
                            format!("the body is larger than max_body_bytes ({max})"),
                        ));
                    }
                    let end = body.is_end_stream();
                    self.feed(pipe, Event::Data(data.to_vec(), end)).await?;
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
                            .trailers_mut(direction == Direction::Request) = Some(list);
                        self.feed(pipe, Event::Trailers).await?;
                    }
                    return Ok(());
                }
            }
        }
    }

    async fn request_phase(&mut self, mut body: Incoming) -> Result<Forwarded, Stop> {
        let headers_end = body.is_end_stream();
        let mut pipe = self.pipeline(Direction::Request, headers_end);
        self.feed(&mut pipe, Event::Headers).await?;
        if !headers_end {
            let limit = self.gateway.config.client.body_timeout;
            self.pump(&mut pipe, Direction::Request, &mut body, limit)
                .await?;
        }
        let exchange = self.exchange.borrow();
        Ok(Forwarded {
            headers: exchange.request_headers.clone(),
            body: pipe.take_forward(),
            trailers: exchange.request_trailers.clone(),
        })
    }

    /// Sends what the filters let through to the service; its head and body come back.
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
            Stop::Error(HostError::unexpected(format!(
                "cannot build the upstream request: {e}"
            )))
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
        let mut pipe = self.pipeline(Direction::Response, headers_end);
        self.feed(&mut pipe, Event::Headers).await?;
        match source {
            BodySource::Buffered(data) => {
                if !headers_end {
                    self.feed(&mut pipe, Event::Data(data, true)).await?;
                }
            }
            BodySource::Upstream { mut body, lease } => {
                if !headers_end {
                    let limit = self.gateway.config.upstream_timeout;
                    self.pump(&mut pipe, Direction::Response, &mut body, limit)
                        .await?;
                }
                lease.release();
            }
        }
        let exchange = self.exchange.borrow();
        let head = exchange.response_headers.clone();
        let trailers = exchange.response_trailers.clone();
        drop(exchange);
        Ok(reply::build_response(
            &self.method,
            &head,
            pipe.take_forward(),
            trailers,
        ))
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
                let through_filters = error.through_filters && !in_response;
                let parts = self.error_parts(error);
                if !through_filters {
                    return Ok(self.respond(parts));
                }
                parts
            }
            Stop::Local(local) => {
                let parts = self.local_parts(local);
                if in_response {
                    return Ok(self.respond(parts));
                }
                parts
            }
        };
        match self.response_phase(head, BodySource::Buffered(body)).await {
            Ok(response) => Ok(response),
            Err(Stop::Reset) => Err(StreamReset),
            Err(Stop::Local(local)) => {
                let parts = self.local_parts(local);
                Ok(self.respond(parts))
            }
            Err(Stop::Error(error)) => {
                let parts = self.error_parts(error);
                Ok(self.respond(parts))
            }
        }
    }

    fn respond(&self, (head, body): (HeaderList, Vec<u8>)) -> Response<OutBody> {
        reply::build_response(&self.method, &head, body, None)
    }

    /// Logs a gateway error and makes its Kong-shaped answer.
    fn error_parts(&self, error: HostError) -> (HeaderList, Vec<u8>) {
        log::gateway(Level::Error, &error.log);
        reply::kong_error_parts(error.status, error.message)
    }

    /// Logs a filter's local response and makes its head and body.
    fn local_parts(&self, local: LocalResponse) -> (HeaderList, Vec<u8>) {
        if log::enabled(Level::Debug) {
            log::gateway(
                Level::Debug,
                &format!(
                    "filter {} answered {} locally{}",
                    self.name(local.filter),
                    local.status,
                    if local.details.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", local.details)
                    }
                ),
            );
        }
        reply::local_parts(local, self.gateway.config.host.local_response_headers)
    }
}

/// The body failed to arrive: the client's ends the request without an answer, the
/// upstream's is a 502.
fn frame_error(direction: Direction, error: &hyper::Error) -> Stop {
    match direction {
        Direction::Request => {
            log::gateway(
                Level::Debug,
                &format!("client request body failed: {error}"),
            );
            Stop::Reset
        }
        Direction::Response => body_error(direction, format!("the body failed: {error}")),
    }
}

/// No body data for `limit`: nginx's client_body_timeout (408) or the upstream's (502).
fn stall_error(direction: Direction, limit: Duration) -> Stop {
    let why = format!("the body stalled for {} ms", limit.as_millis());
    match direction {
        Direction::Request => Stop::Error(HostError {
            status: StatusCode::REQUEST_TIMEOUT,
            message: "Request timeout",
            log: format!("request body refused: {why} (client_body_timeout)"),
            through_filters: false,
        }),
        Direction::Response => body_error(direction, why),
    }
}

/// A body past the size limit or broken: 413 for requests, 502 for responses.
fn body_error(direction: Direction, why: String) -> Stop {
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
