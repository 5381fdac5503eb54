//! The pipeline's rules, over scripted filters: no sockets, no VMs.

use std::cell::RefCell;
use std::time::SystemTime;

use super::*;
use crate::vm::exchange::{LocalResponse, RequestInfo};
use StreamCallback::*;

type Script = Box<dyn FnMut(usize, StreamCallback, &mut Exchange) -> Action>;

/// Filters that answer what `script` says and record every callback.
struct Scripted {
    exchange: RefCell<Exchange>,
    script: Script,
    calls: Vec<(usize, StreamCallback)>,
    opened: Vec<usize>,
}

impl Scripted {
    fn new(
        filters: usize,
        script: impl FnMut(usize, StreamCallback, &mut Exchange) -> Action + 'static,
    ) -> Scripted {
        let address = "127.0.0.1:1".parse().expect("a socket address");
        let info = RequestInfo {
            client: address,
            local: address,
            connection_id: 1,
            request_id: "r".to_string(),
            protocol: "HTTP/1.1",
            started: SystemTime::now(),
            route_name: String::new(),
            service_name: String::new(),
        };
        Scripted {
            exchange: RefCell::new(Exchange::new(info, HeaderList::new(), filters)),
            script: Box::new(script),
            calls: Vec::new(),
            opened: Vec::new(),
        }
    }

    /// Filter `index` calls proxy_continue_stream (as from an HTTP call's answer).
    fn resume(&self, index: usize, direction: Direction) {
        let mut exchange = self.exchange.borrow_mut();
        match direction {
            Direction::Request => exchange.signals.continue_request.push(index),
            Direction::Response => exchange.signals.continue_response.push(index),
        }
    }

    fn take_calls(&mut self) -> Vec<(usize, StreamCallback)> {
        std::mem::take(&mut self.calls)
    }
}

impl Filters for Scripted {
    fn exchange(&self) -> &RefCell<Exchange> {
        &self.exchange
    }

    fn open(&mut self, index: usize) -> Result<(), Stop> {
        if !self.opened.contains(&index) {
            self.opened.push(index);
        }
        Ok(())
    }

    fn call(&mut self, index: usize, callback: StreamCallback) -> Result<Action, Stop> {
        self.calls.push((index, callback));
        let mut exchange = self.exchange.borrow_mut();
        Ok((self.script)(index, callback, &mut exchange))
    }

    fn name(&self, index: usize) -> String {
        format!("f{index}")
    }
}

fn continue_all(_: usize, _: StreamCallback, _: &mut Exchange) -> Action {
    Action::Continue
}

fn request(filters: usize, headers_end: bool) -> Pipeline {
    Pipeline::new(
        Direction::Request,
        (0..filters).collect(),
        headers_end,
        false,
    )
}

fn waiting_for(progress: Result<Progress, Stop>) -> (usize, &'static str) {
    match progress {
        Ok(Progress::Waiting(wait)) => (wait.filter, wait.phase),
        Ok(Progress::Done) => panic!("expected a wait, the pipeline is done"),
        Err(_) => panic!("expected a wait, the request stopped"),
    }
}

fn done(progress: Result<Progress, Stop>) {
    match progress {
        Ok(Progress::Done) => {}
        Ok(Progress::Waiting(wait)) => panic!("still waiting for {wait:?}"),
        Err(_) => panic!("the request stopped"),
    }
}

fn headers(end_of_stream: bool) -> StreamCallback {
    RequestHeaders {
        headers: 0,
        end_of_stream,
    }
}

fn body(size: usize, end_of_stream: bool) -> StreamCallback {
    RequestBody {
        size,
        end_of_stream,
    }
}

#[test]
fn events_pass_every_filter_in_order_and_access_follows_the_callbacks() {
    let mut filters = Scripted::new(2, |index, callback, exchange| {
        // Inside its callback a filter holds the matching map or body.
        let bit = match callback {
            RequestHeaders { .. } => access::REQUEST_HEADERS,
            _ => access::REQUEST_BODY,
        };
        assert!(exchange.allowed(index, bit), "{callback:?} of f{index}");
        Action::Continue
    });
    let mut pipe = request(2, false);
    done(pipe.push(&mut filters, Event::Headers));
    done(pipe.push(&mut filters, Event::Data(b"ab".to_vec(), false)));
    done(pipe.push(&mut filters, Event::Data(b"c".to_vec(), true)));
    assert_eq!(
        filters.take_calls(),
        vec![
            (0, headers(false)),
            (1, headers(false)),
            (0, body(2, false)),
            (1, body(2, false)),
            (0, body(1, true)),
            (1, body(1, true)),
        ]
    );
    assert_eq!(filters.opened, vec![0, 1]);
    assert_eq!(pipe.take_forward(), b"abc");
    let exchange = filters.exchange.borrow();
    assert!(!exchange.allowed(0, access::REQUEST_HEADERS | access::REQUEST_BODY));
    assert!(!exchange.allowed(1, access::REQUEST_HEADERS | access::REQUEST_BODY));
}

#[test]
fn the_response_runs_in_the_given_order_and_opens_no_stream() {
    let mut filters = Scripted::new(2, continue_all);
    let mut pipe = Pipeline::new(Direction::Response, vec![1, 0], true, false);
    done(pipe.push(&mut filters, Event::Headers));
    let response_headers = ResponseHeaders {
        headers: 0,
        end_of_stream: true,
    };
    assert_eq!(
        filters.take_calls(),
        vec![(1, response_headers), (0, response_headers)]
    );
    assert!(filters.opened.is_empty());
}

#[test]
fn a_headers_pause_without_a_body_waits_until_the_filter_continues() {
    let mut filters = Scripted::new(2, |index, _, _| {
        if index == 0 {
            Action::Pause
        } else {
            Action::Continue
        }
    });
    let mut pipe = request(2, true);
    let wait = waiting_for(pipe.push(&mut filters, Event::Headers));
    assert_eq!(wait, (0, "proxy_on_request_headers"));
    assert_eq!(filters.take_calls(), vec![(0, headers(true))]);
    // A wake-up for something else changes nothing.
    assert_eq!(waiting_for(pipe.wake(&mut filters)), wait);
    assert!(filters
        .exchange
        .borrow()
        .allowed(0, access::REQUEST_HEADERS));
    filters.resume(0, Direction::Request);
    done(pipe.wake(&mut filters));
    assert_eq!(filters.take_calls(), vec![(1, headers(true))]);
    assert!(!filters
        .exchange
        .borrow()
        .allowed(0, access::REQUEST_HEADERS));
}

#[test]
fn a_continue_before_the_callback_does_not_undo_its_pause() {
    let mut filters = Scripted::new(1, |_, _, _| Action::Pause);
    filters.resume(0, Direction::Request);
    let mut pipe = request(1, true);
    assert_eq!(
        waiting_for(pipe.push(&mut filters, Event::Headers)),
        (0, "proxy_on_request_headers")
    );
}

#[test]
fn a_continue_from_inside_the_paused_callback_goes_on_at_once() {
    let mut filters = Scripted::new(2, |index, _, exchange| {
        if index == 0 {
            exchange.signals.continue_request.push(0);
            Action::Pause
        } else {
            Action::Continue
        }
    });
    let mut pipe = request(2, true);
    done(pipe.push(&mut filters, Event::Headers));
    assert_eq!(
        filters.take_calls(),
        vec![(0, headers(true)), (1, headers(true))]
    );
}

#[test]
fn a_headers_pause_holds_the_body_unseen_until_the_filter_resumes() {
    // Envoy's StopAllIterationAndWatermark: f0 gets no body callback while it holds the
    // headers; when it resumes, it gets everything in one callback, and then the next filter
    // sees the headers and that body.
    let mut filters = Scripted::new(2, |index, callback, _| match (index, callback) {
        (0, RequestHeaders { .. }) => Action::Pause,
        _ => Action::Continue,
    });
    let mut pipe = request(2, false);
    done(pipe.push(&mut filters, Event::Headers));
    done(pipe.push(&mut filters, Event::Data(b"ab".to_vec(), false)));
    let wait = waiting_for(pipe.push(&mut filters, Event::Data(b"c".to_vec(), true)));
    assert_eq!(wait, (0, "proxy_on_request_headers"));
    assert_eq!(filters.take_calls(), vec![(0, headers(false))]);
    filters.resume(0, Direction::Request);
    done(pipe.wake(&mut filters));
    assert_eq!(
        filters.take_calls(),
        vec![(0, body(3, true)), (1, headers(false)), (1, body(3, true))]
    );
    assert_eq!(pipe.take_forward(), b"abc");
}

#[test]
fn a_filter_holding_the_headers_that_resumes_mid_body_gets_what_arrived_so_far() {
    let mut filters = Scripted::new(1, |_, callback, _| match callback {
        RequestHeaders { .. } => Action::Pause,
        _ => Action::Continue,
    });
    let mut pipe = request(1, false);
    done(pipe.push(&mut filters, Event::Headers));
    done(pipe.push(&mut filters, Event::Data(b"ab".to_vec(), false)));
    filters.resume(0, Direction::Request);
    done(pipe.wake(&mut filters));
    done(pipe.push(&mut filters, Event::Data(b"c".to_vec(), true)));
    assert_eq!(
        filters.take_calls(),
        vec![(0, headers(false)), (0, body(2, false)), (0, body(1, true))]
    );
    assert_eq!(pipe.take_forward(), b"abc");
}

#[test]
fn when_only_the_end_arrived_while_holding_the_next_filter_sees_a_headers_only_message() {
    let mut filters = Scripted::new(2, |index, callback, _| match (index, callback) {
        (0, RequestHeaders { .. }) => Action::Pause,
        _ => Action::Continue,
    });
    let mut pipe = request(2, false);
    done(pipe.push(&mut filters, Event::Headers));
    waiting_for(pipe.push(&mut filters, Event::Data(Vec::new(), true)));
    filters.resume(0, Direction::Request);
    done(pipe.wake(&mut filters));
    assert_eq!(
        filters.take_calls(),
        vec![(0, headers(false)), (1, headers(true))]
    );
}

#[test]
fn trailers_that_arrive_while_holding_are_delivered_after_the_body() {
    let mut filters = Scripted::new(1, |_, callback, _| match callback {
        RequestHeaders { .. } => Action::Pause,
        _ => Action::Continue,
    });
    let mut pipe = request(1, false);
    done(pipe.push(&mut filters, Event::Headers));
    done(pipe.push(&mut filters, Event::Data(b"ab".to_vec(), false)));
    let wait = waiting_for(pipe.push(&mut filters, Event::Trailers));
    assert_eq!(wait, (0, "proxy_on_request_headers"));
    filters.resume(0, Direction::Request);
    done(pipe.wake(&mut filters));
    assert_eq!(
        filters.take_calls(),
        vec![
            (0, headers(false)),
            (0, body(2, false)),
            (0, RequestTrailers { trailers: 0 })
        ]
    );
    assert_eq!(pipe.take_forward(), b"ab");
}

#[test]
fn with_allow_on_headers_stop_iteration_the_body_comes_and_its_continue_releases_all() {
    let mut filters = Scripted::new(2, |index, callback, exchange| match (index, callback) {
        (0, RequestHeaders { .. }) => Action::Pause,
        (0, RequestBody { .. }) => {
            // f0 still holds its headers in its body callback, so it can change them.
            assert!(exchange.allowed(0, access::REQUEST_HEADERS));
            Action::Continue
        }
        _ => Action::Continue,
    });
    let mut pipe = Pipeline::new(Direction::Request, vec![0, 1], false, true);
    done(pipe.push(&mut filters, Event::Headers));
    done(pipe.push(&mut filters, Event::Data(b"ab".to_vec(), true)));
    assert_eq!(
        filters.take_calls(),
        vec![
            (0, headers(false)),
            (0, body(2, true)),
            (1, headers(false)),
            (1, body(2, true))
        ]
    );
    assert!(!filters
        .exchange
        .borrow()
        .allowed(0, access::REQUEST_HEADERS));
    assert_eq!(pipe.take_forward(), b"ab");
}

#[test]
fn a_body_pause_before_the_end_buffers_and_the_next_call_sees_everything() {
    let mut filters = Scripted::new(2, |index, callback, _| match (index, callback) {
        (0, RequestBody { end_of_stream, .. }) if !end_of_stream => Action::Pause,
        _ => Action::Continue,
    });
    let mut pipe = request(2, false);
    done(pipe.push(&mut filters, Event::Headers));
    done(pipe.push(&mut filters, Event::Data(b"ab".to_vec(), false)));
    done(pipe.push(&mut filters, Event::Data(b"c".to_vec(), true)));
    assert_eq!(
        filters.take_calls(),
        vec![
            (0, headers(false)),
            (1, headers(false)),
            (0, body(2, false)),
            (0, body(3, true)),
            (1, body(3, true))
        ]
    );
    assert_eq!(pipe.take_forward(), b"abc");
}

#[test]
fn a_pause_at_the_end_of_the_body_keeps_the_body_in_reach_until_the_filter_continues() {
    let mut filters = Scripted::new(1, |_, callback, _| match callback {
        RequestBody { .. } => Action::Pause,
        _ => Action::Continue,
    });
    let mut pipe = request(1, false);
    done(pipe.push(&mut filters, Event::Headers));
    let wait = waiting_for(pipe.push(&mut filters, Event::Data(b"ab".to_vec(), true)));
    assert_eq!(wait, (0, "proxy_on_request_body"));
    assert!(filters.exchange.borrow().allowed(0, access::REQUEST_BODY));
    // The filter rewrites the body while it holds it.
    *filters.exchange.borrow_mut().body_mut(true) = Some(b"xyz".to_vec());
    filters.resume(0, Direction::Request);
    done(pipe.wake(&mut filters));
    assert!(!filters.exchange.borrow().allowed(0, access::REQUEST_BODY));
    assert_eq!(pipe.take_forward(), b"xyz");
}

#[test]
fn a_filter_that_continues_while_the_body_arrives_lets_its_buffer_through() {
    let mut filters = Scripted::new(2, |index, callback, _| match (index, callback) {
        (0, RequestBody { .. }) => Action::Pause,
        _ => Action::Continue,
    });
    let mut pipe = request(2, false);
    done(pipe.push(&mut filters, Event::Headers));
    done(pipe.push(&mut filters, Event::Data(b"ab".to_vec(), false)));
    filters.take_calls();
    filters.resume(0, Direction::Request);
    done(pipe.wake(&mut filters));
    assert_eq!(filters.take_calls(), vec![(1, body(2, false))]);
    assert_eq!(pipe.take_forward(), b"ab");
}

#[test]
fn a_local_response_stops_the_request_before_the_next_filter() {
    let mut filters = Scripted::new(2, |index, _, exchange| {
        if index == 0 {
            exchange.signals.local_response = Some(LocalResponse {
                status: 403,
                headers: HeaderList::new(),
                body: b"no".to_vec(),
                details: String::new(),
                filter: 0,
            });
        }
        Action::Pause
    });
    let mut pipe = request(2, true);
    match pipe.push(&mut filters, Event::Headers) {
        Err(Stop::Local(local)) => assert_eq!(local.status, 403),
        _ => panic!("expected the local response"),
    }
    assert_eq!(filters.take_calls(), vec![(0, headers(true))]);
}

#[test]
fn a_local_response_while_waiting_takes_the_body_out_of_the_filters_reach() {
    let mut filters = Scripted::new(1, |_, callback, _| match callback {
        RequestBody { .. } => Action::Pause,
        _ => Action::Continue,
    });
    let mut pipe = request(1, false);
    done(pipe.push(&mut filters, Event::Headers));
    waiting_for(pipe.push(&mut filters, Event::Data(b"ab".to_vec(), true)));
    filters.exchange.borrow_mut().signals.reset = true;
    assert!(matches!(pipe.wake(&mut filters), Err(Stop::Reset)));
    assert!(!filters.exchange.borrow().allowed(0, access::REQUEST_BODY));
}

#[test]
fn a_wait_that_times_out_names_the_filter_and_the_callback() {
    let mut filters = Scripted::new(1, |_, callback, _| match callback {
        RequestTrailers { .. } => Action::Pause,
        _ => Action::Continue,
    });
    let mut pipe = request(1, false);
    done(pipe.push(&mut filters, Event::Headers));
    done(pipe.push(&mut filters, Event::Data(b"ab".to_vec(), false)));
    waiting_for(pipe.push(&mut filters, Event::Trailers));
    match pipe.timed_out(&mut filters, 300) {
        Stop::Error(error) => {
            assert_eq!(error.status, http::StatusCode::INTERNAL_SERVER_ERROR);
            assert!(!error.through_filters);
            assert_eq!(
                error.log,
                "filter f0 paused the request in proxy_on_request_trailers and neither resumed nor answered it within 300 ms"
            );
        }
        _ => panic!("expected a gateway error"),
    }
}

#[test]
fn a_filter_failure_signalled_during_a_callback_is_a_500() {
    let mut filters = Scripted::new(1, |_, _, exchange| {
        exchange.signals.failure = Some("chained dispatch".to_string());
        Action::Continue
    });
    let mut pipe = request(1, true);
    match pipe.push(&mut filters, Event::Headers) {
        Err(Stop::Error(error)) => assert_eq!(error.log, "request failed: chained dispatch"),
        _ => panic!("expected a gateway error"),
    }
}

#[test]
fn each_wait_has_its_own_identity() {
    // The driver restarts the pause timeout when a wait ends and another begins.
    let mut filters = Scripted::new(2, |_, _, _| Action::Pause);
    let mut pipe = request(2, true);
    let first = pipe.push(&mut filters, Event::Headers);
    filters.resume(0, Direction::Request);
    let second = pipe.wake(&mut filters);
    match (first, second) {
        (Ok(Progress::Waiting(a)), Ok(Progress::Waiting(b))) => {
            assert_eq!((a.filter, b.filter), (0, 1));
            assert_ne!(a, b);
        }
        _ => panic!("expected two waits"),
    }
}
