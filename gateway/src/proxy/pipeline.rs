//! One direction of a request (the request, or the response) travelling through the filter
//! chain: the synchronous bookkeeping of who has seen and let through what. No I/O and no
//! waiting here: when a filter pauses where the message cannot go on without it, the pipeline
//! reports [`Progress::Waiting`] and the async driver (`handler.rs`) waits for a wake-up (the
//! filter continued, answered, or the pause timed out) and calls [`Pipeline::wake`].
//!
//! Filters are reached through [`Filters`], so the rules are tested without sockets or VMs:
//! - Headers, body chunks and trailers pass the filters in order; a filter that pauses holds
//!   what it has seen; the message continues past it when it returns Continue from a later
//!   callback or calls proxy_continue_stream.
//! - A Pause from the headers callback of a message with a body holds everything, as Envoy's
//!   host does (proxy-wasm-cpp-host turns it into `StopAllIterationAndWatermark`): body data
//!   and trailers wait unseen until the filter resumes, then they are delivered to it as
//!   Envoy's `commonContinue` does. With `allow_on_headers_stop_iteration` (Envoy 1.35's
//!   opt-in) it stops only the headers and the body callbacks still come.
//! - A body Pause before the end of the stream buffers (the next call's size covers all of it,
//!   Envoy's `StopIterationAndBuffer`); a Pause at the end waits for a continue.
//! - Each callback gets the matching map and buffer access for as long as the filter holds
//!   them, and loses it when it lets them through.

use std::cell::RefCell;
use std::collections::VecDeque;

use crate::abi::headers::HeaderList;
use crate::abi::Action;
use crate::proxy::reply::{HostError, Stop};
use crate::vm::exchange::{access, Exchange};
use crate::vm::instance::StreamCallback;

/// The filter chain as the pipeline sees it.
pub(crate) trait Filters {
    /// The request's shared state: maps, bodies, access bits and the filters' signals.
    fn exchange(&self) -> &RefCell<Exchange>;
    /// Gives filter `index` its stream context before its first callback (request headers).
    fn open(&mut self, index: usize) -> Result<(), Stop>;
    /// Runs one callback of filter `index`.
    fn call(&mut self, index: usize, callback: StreamCallback) -> Result<Action, Stop>;
    /// The filter's name for log lines.
    fn name(&self, index: usize) -> String;
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Direction {
    Request,
    Response,
}

impl Direction {
    fn headers_callback(self) -> &'static str {
        match self {
            Direction::Request => "proxy_on_request_headers",
            Direction::Response => "proxy_on_response_headers",
        }
    }
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
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Headers,
    /// A body chunk, and whether it ends the body.
    Data(Vec<u8>, bool),
    Trailers,
}

/// What each filter (by position in the direction's order) has let through so far.
#[derive(Default, Clone)]
struct Hold {
    headers_passed: bool,
    /// Body data the filter has seen but not let through (it paused before the end).
    buffer: Vec<u8>,
    /// The filter paused its headers callback and holds everything (StopAll).
    stopped_all: bool,
    /// Body data that arrived while `stopped_all`, unseen by the filter.
    waiting: Vec<u8>,
    /// The body ended while `stopped_all`.
    waiting_end: bool,
    /// Trailers arrived while `stopped_all`.
    waiting_trailers: bool,
}

/// What a paused filter must do before the message can go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    /// Its headers callback paused a message without a body: let the headers through.
    Headers,
    /// It held everything and all of the message is here: deliver what waited.
    StoppedAll,
    /// Its callback for the end of the body paused: the body stays in its reach until it
    /// continues.
    BodyEnd,
    /// Its trailers callback paused.
    Trailers,
}

#[derive(Debug)]
struct Blocked {
    position: usize,
    phase: &'static str,
    then: Then,
    wait: u64,
}

/// The pipeline waits for filter `filter` to continue (or answer) in callback `phase`. Each
/// wait has its own identity, so the driver knows when a wait ended and another began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wait {
    pub(crate) filter: usize,
    pub(crate) phase: &'static str,
    id: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Everything given so far went as far as the filters let it.
    Done,
    Waiting(Wait),
}

pub(crate) struct Pipeline {
    direction: Direction,
    /// Chain indexes in processing order.
    order: Vec<usize>,
    /// The message has no body.
    headers_end: bool,
    /// Envoy's `allow_on_headers_stop_iteration`.
    stop_headers_only: bool,
    holds: Vec<Hold>,
    /// Stands in for the hold of a position outside `order` (none is ever asked for).
    spare: Hold,
    /// Events waiting to enter the filter at each position.
    queues: Vec<VecDeque<Event>>,
    /// Body data that got past every filter.
    forward: Vec<u8>,
    blocked: Option<Blocked>,
    /// A wake-up scan in progress: the next position whose continue is checked.
    scan: Option<usize>,
    waits: u64,
}

impl Pipeline {
    pub(crate) fn new(
        direction: Direction,
        order: Vec<usize>,
        headers_end: bool,
        stop_headers_only: bool,
    ) -> Pipeline {
        Pipeline {
            direction,
            holds: vec![Hold::default(); order.len()],
            spare: Hold::default(),
            queues: (0..order.len()).map(|_| VecDeque::new()).collect(),
            order,
            headers_end,
            stop_headers_only,
            forward: Vec::new(),
            blocked: None,
            scan: None,
            waits: 0,
        }
    }

    /// Feeds one event to the first filter and runs as far as the filters let it.
    pub(crate) fn push(
        &mut self,
        filters: &mut impl Filters,
        event: Event,
    ) -> Result<Progress, Stop> {
        self.emit(None, vec![event]);
        self.run(filters)
    }

    /// A filter may have continued (the exchange was notified). While the pipeline waits,
    /// only the filter it waits for is asked; otherwise every filter is, in order, and what a
    /// continuing filter held goes on.
    pub(crate) fn wake(&mut self, filters: &mut impl Filters) -> Result<Progress, Stop> {
        match self.blocked.take() {
            Some(blocked) => {
                let index = self.index(blocked.position);
                match self.signals(filters, index) {
                    Ok(true) => {
                        let out = self.then(filters, blocked.position, blocked.then)?;
                        self.emit(Some(blocked.position), out);
                    }
                    Ok(false) => self.blocked = Some(blocked),
                    Err(stop) => {
                        self.abandon(filters, &blocked);
                        return Err(stop);
                    }
                }
            }
            None => self.scan = Some(0),
        }
        self.run(filters)
    }

    /// The wait outlived the pause timeout: the request fails with a 500.
    pub(crate) fn timed_out(&mut self, filters: &mut impl Filters, timeout_ms: u128) -> Stop {
        let Some(blocked) = self.blocked.take() else {
            return Stop::Error(HostError::unexpected(
                "a pause timed out while no filter held the request".to_string(),
            ));
        };
        self.abandon(filters, &blocked);
        Stop::Error(HostError::unexpected(format!(
            "filter {} paused the request in {} and neither resumed nor answered it within {timeout_ms} ms",
            filters.name(self.index(blocked.position)),
            blocked.phase,
        )))
    }

    /// The body data that got past every filter.
    pub(crate) fn take_forward(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.forward)
    }

    fn index(&self, position: usize) -> usize {
        self.order.get(position).copied().unwrap_or(usize::MAX)
    }

    fn hold(&mut self, position: usize) -> &mut Hold {
        // Positions come from `order`, whose length `holds` shares: `spare` is never used.
        match self.holds.get_mut(position) {
            Some(hold) => hold,
            None => &mut self.spare,
        }
    }

    /// Puts `events` let through by the filter at `from` (None: the message's source) before
    /// the next filter, or into `forward` past the last one.
    fn emit(&mut self, from: Option<usize>, events: Vec<Event>) {
        let next = from.map_or(0, |p| p + 1);
        match self.queues.get_mut(next) {
            Some(queue) => queue.extend(events),
            None => {
                for event in events {
                    if let Event::Data(data, _) = event {
                        self.forward.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    /// Moves queued events through the filters, the earliest position first (so every event
    /// passes a filter before anything goes to the next one), then continues a wake-up scan.
    fn run(&mut self, filters: &mut impl Filters) -> Result<Progress, Stop> {
        loop {
            if let Some(blocked) = &self.blocked {
                return Ok(Progress::Waiting(Wait {
                    filter: self.index(blocked.position),
                    phase: blocked.phase,
                    id: blocked.wait,
                }));
            }
            let queued = self
                .queues
                .iter_mut()
                .enumerate()
                .find_map(|(position, queue)| queue.pop_front().map(|event| (position, event)));
            if let Some((position, event)) = queued {
                let out = self.step(filters, position, event)?;
                self.emit(Some(position), out);
                continue;
            }
            let Some(position) = self.scan else {
                return Ok(Progress::Done);
            };
            self.scan = Some(position + 1).filter(|next| *next < self.order.len());
            let out = self.wakened(filters, position)?;
            self.emit(Some(position), out);
        }
    }

    /// The filter at `position` continued while the message was still arriving: what it held
    /// goes on.
    fn wakened(&mut self, filters: &mut impl Filters, position: usize) -> Result<Vec<Event>, Stop> {
        if !self.signals(filters, self.index(position))? {
            return Ok(Vec::new());
        }
        if self.hold(position).stopped_all {
            return Ok(self.resume_stopped_all(filters, position));
        }
        Ok(self.release_held(filters, position))
    }

    /// One filter handles one event; returns what it lets through.
    fn step(
        &mut self,
        filters: &mut impl Filters,
        position: usize,
        event: Event,
    ) -> Result<Vec<Event>, Stop> {
        let phase = self.direction.headers_callback();
        match event {
            Event::Headers => self.headers_step(filters, position),
            Event::Data(chunk, end) if self.hold(position).stopped_all => {
                let hold = self.hold(position);
                hold.waiting.extend_from_slice(&chunk);
                hold.waiting_end |= end;
                if !end {
                    return Ok(Vec::new());
                }
                // All of the body is here and the filter still holds the headers.
                self.block(filters, position, phase, Then::StoppedAll)
            }
            Event::Trailers if self.hold(position).stopped_all => {
                self.hold(position).waiting_trailers = true;
                self.block(filters, position, phase, Then::StoppedAll)
            }
            Event::Data(chunk, end) => self.body_step(filters, position, chunk, end),
            Event::Trailers => self.trailers_step(filters, position),
        }
    }

    fn headers_step(
        &mut self,
        filters: &mut impl Filters,
        position: usize,
    ) -> Result<Vec<Event>, Stop> {
        let index = self.index(position);
        let direction = self.direction;
        if direction == Direction::Request {
            filters.open(index)?;
        }
        let headers = {
            let mut exchange = filters.exchange().borrow_mut();
            exchange.grant(index, Bits::of(direction).headers);
            match direction {
                Direction::Request => exchange.request_headers.len(),
                Direction::Response => exchange.response_headers.len(),
            }
        };
        let end_of_stream = self.headers_end;
        let callback = match direction {
            Direction::Request => StreamCallback::RequestHeaders {
                headers,
                end_of_stream,
            },
            Direction::Response => StreamCallback::ResponseHeaders {
                headers,
                end_of_stream,
            },
        };
        if !self.paused(filters, index, callback)? {
            return Ok(self
                .release_headers(filters, position)
                .into_iter()
                .collect());
        }
        if end_of_stream {
            return self.block(filters, position, callback.name(), Then::Headers);
        }
        if !self.stop_headers_only {
            // Envoy's default (and Kong): the body and trailers wait, unseen, until the filter
            // resumes. With allow_on_headers_stop_iteration the body is still delivered to
            // this filter, which may continue from a body callback.
            self.hold(position).stopped_all = true;
        }
        Ok(Vec::new())
    }

    /// One body chunk through the filter at `position`, its headers already let through.
    fn body_step(
        &mut self,
        filters: &mut impl Filters,
        position: usize,
        chunk: Vec<u8>,
        end: bool,
    ) -> Result<Vec<Event>, Stop> {
        let index = self.index(position);
        let request = self.direction == Direction::Request;
        let mut buffer = std::mem::take(&mut self.hold(position).buffer);
        buffer.extend_from_slice(&chunk);
        let size = buffer.len();
        let callback = if request {
            StreamCallback::RequestBody {
                size,
                end_of_stream: end,
            }
        } else {
            StreamCallback::ResponseBody {
                size,
                end_of_stream: end,
            }
        };
        {
            let mut exchange = filters.exchange().borrow_mut();
            *exchange.body_mut(request) = Some(buffer);
            exchange.grant(index, Bits::of(self.direction).body);
        }
        let paused = self.paused(filters, index, callback);
        if matches!(paused, Ok(true)) && end {
            // The whole body is here: wait for the filter, the body still in its reach.
            return self.block(filters, position, callback.name(), Then::BodyEnd);
        }
        let buffer = self.take_body(filters, index);
        if paused? {
            self.hold(position).buffer = buffer;
            return Ok(Vec::new());
        }
        let mut out: Vec<Event> = self
            .release_headers(filters, position)
            .into_iter()
            .collect();
        out.push(Event::Data(buffer, end));
        Ok(out)
    }

    /// The trailers through the filter at `position`, its headers already let through.
    fn trailers_step(
        &mut self,
        filters: &mut impl Filters,
        position: usize,
    ) -> Result<Vec<Event>, Stop> {
        let index = self.index(position);
        let direction = self.direction;
        let trailers = {
            let mut exchange = filters.exchange().borrow_mut();
            exchange.grant(index, Bits::of(direction).trailers);
            let list = match direction {
                Direction::Request => exchange.request_trailers.as_ref(),
                Direction::Response => exchange.response_trailers.as_ref(),
            };
            list.map_or(0, HeaderList::len)
        };
        let callback = match direction {
            Direction::Request => StreamCallback::RequestTrailers { trailers },
            Direction::Response => StreamCallback::ResponseTrailers { trailers },
        };
        if self.paused(filters, index, callback)? {
            return self.block(filters, position, callback.name(), Then::Trailers);
        }
        self.then(filters, position, Then::Trailers)
    }

    /// Runs a callback; whether the filter paused (and did not continue meanwhile). A
    /// continue issued before the callback does not undo a Pause it returns (as in Envoy,
    /// continuing a stream that is not stopped does nothing).
    fn paused(
        &mut self,
        filters: &mut impl Filters,
        index: usize,
        callback: StreamCallback,
    ) -> Result<bool, Stop> {
        self.forget_continue(filters, index);
        let action = filters.call(index, callback)?;
        let resumed = self.signals(filters, index)?;
        Ok(action == Action::Pause && !resumed)
    }

    /// The filter at `position` must continue before `then` can happen: at once if it
    /// already did, else the pipeline waits.
    fn block(
        &mut self,
        filters: &mut impl Filters,
        position: usize,
        phase: &'static str,
        then: Then,
    ) -> Result<Vec<Event>, Stop> {
        self.waits += 1;
        let blocked = Blocked {
            position,
            phase,
            then,
            wait: self.waits,
        };
        match self.signals(filters, self.index(position)) {
            Ok(true) => self.then(filters, position, then),
            Ok(false) => {
                self.blocked = Some(blocked);
                Ok(Vec::new())
            }
            Err(stop) => {
                self.abandon(filters, &blocked);
                Err(stop)
            }
        }
    }

    /// What happens when the filter at `position` continues; returns what it lets through.
    fn then(
        &mut self,
        filters: &mut impl Filters,
        position: usize,
        then: Then,
    ) -> Result<Vec<Event>, Stop> {
        let index = self.index(position);
        match then {
            Then::Headers => Ok(self
                .release_headers(filters, position)
                .into_iter()
                .collect()),
            Then::StoppedAll => Ok(self.resume_stopped_all(filters, position)),
            Then::BodyEnd => {
                let buffer = self.take_body(filters, index);
                let mut out: Vec<Event> = self
                    .release_headers(filters, position)
                    .into_iter()
                    .collect();
                out.push(Event::Data(buffer, true));
                Ok(out)
            }
            Then::Trailers => {
                filters
                    .exchange()
                    .borrow_mut()
                    .revoke(index, Bits::of(self.direction).trailers);
                let mut out = self.release_held(filters, position);
                out.push(Event::Trailers);
                Ok(out)
            }
        }
    }

    /// The request stops while a filter holds its body: the body leaves its reach.
    fn abandon(&mut self, filters: &mut impl Filters, blocked: &Blocked) {
        if blocked.then == Then::BodyEnd {
            let index = self.index(blocked.position);
            self.take_body(filters, index);
        }
    }

    /// Revokes the filter's body access and takes the body back from the exchange.
    fn take_body(&self, filters: &mut impl Filters, index: usize) -> Vec<u8> {
        let request = self.direction == Direction::Request;
        let mut exchange = filters.exchange().borrow_mut();
        exchange.revoke(index, Bits::of(self.direction).body);
        exchange.body_mut(request).take().unwrap_or_default()
    }

    /// A filter that held everything since its headers callback resumed: as Envoy's
    /// `commonContinue`, the headers go on to the next filter, then the data that waited is
    /// delivered to this filter (`end_of_stream` when the body ended and no trailers came),
    /// then the trailers: they are put back in front of its queue.
    fn resume_stopped_all(&mut self, filters: &mut impl Filters, position: usize) -> Vec<Event> {
        let hold = self.hold(position);
        hold.stopped_all = false;
        let data = std::mem::take(&mut hold.waiting);
        let ended = std::mem::take(&mut hold.waiting_end);
        let trailers = std::mem::take(&mut hold.waiting_trailers);
        if data.is_empty() && ended && !trailers {
            // Nothing but the end arrived: the headers go on as a complete message, and this
            // filter gets no body callback (Envoy does the same).
            self.headers_end = true;
        }
        if let Some(queue) = self.queues.get_mut(position) {
            if trailers {
                queue.push_front(Event::Trailers);
            }
            if !data.is_empty() {
                queue.push_front(Event::Data(data, ended && !trailers));
            }
        }
        self.release_headers(filters, position)
            .into_iter()
            .collect()
    }

    /// Marks the headers as let through by the filter at `position` (once).
    /// Lets through what the filter at `position` held: its headers (unless already passed),
    /// then the body chunks buffered behind them, as one chunk that does not end the stream.
    fn release_held(&mut self, filters: &mut impl Filters, position: usize) -> Vec<Event> {
        let mut out: Vec<Event> = self
            .release_headers(filters, position)
            .into_iter()
            .collect();
        let held = std::mem::take(&mut self.hold(position).buffer);
        if !held.is_empty() {
            out.push(Event::Data(held, false));
        }
        out
    }

    fn release_headers(&mut self, filters: &mut impl Filters, position: usize) -> Option<Event> {
        let hold = self.hold(position);
        if hold.headers_passed {
            return None;
        }
        hold.headers_passed = true;
        let index = self.index(position);
        filters
            .exchange()
            .borrow_mut()
            .revoke(index, Bits::of(self.direction).headers);
        Some(Event::Headers)
    }

    /// Acts on what filters signalled: a failure, a reset or a local response stop the
    /// request. Returns whether filter `index` asked to continue this direction (and forgets
    /// it).
    fn signals(&self, filters: &mut impl Filters, index: usize) -> Result<bool, Stop> {
        let mut exchange = filters.exchange().borrow_mut();
        let signals = &mut exchange.signals;
        if let Some(reason) = signals.failure.take() {
            return Err(Stop::Error(HostError::unexpected(format!(
                "request failed: {reason}"
            ))));
        }
        if signals.reset {
            return Err(Stop::Reset);
        }
        if let Some(local) = signals.local_response.take() {
            return Err(Stop::Local(local));
        }
        let pending = match self.direction {
            Direction::Request => &mut signals.continue_request,
            Direction::Response => &mut signals.continue_response,
        };
        let asked = pending.contains(&index);
        pending.retain(|i| *i != index);
        Ok(asked)
    }

    fn forget_continue(&self, filters: &mut impl Filters, index: usize) {
        let mut exchange = filters.exchange().borrow_mut();
        let pending = match self.direction {
            Direction::Request => &mut exchange.signals.continue_request,
            Direction::Response => &mut exchange.signals.continue_response,
        };
        pending.retain(|i| *i != index);
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
