//! One request through the state machine: `start`, then each scripted answer fed to the call
//! the flow made, every step and call recorded for the test to read.

use std::rc::Rc;

use crate::flows::harness::{provider, request, with_env, MemoryShared};
use crate::flows::{IncomingRequest, Provider, RequestFlow, Settings};
use crate::step::{CallResponse, Forward, LocalResponse, OutboundRequest, Step};

pub(crate) struct Run {
    pub(crate) steps: Vec<Step>,
    /// Every call the flow made, in order.
    pub(crate) calls: Vec<OutboundRequest>,
    pub(crate) flow: RequestFlow,
    pub(crate) shared: Rc<MemoryShared>,
    /// Answers gathered for calls sent together (fed once all are in).
    answers: Vec<CallResponse>,
}

impl Run {
    /// With the usual [`provider`] and shared data of its own.
    pub(crate) fn new(settings: &Settings, request: IncomingRequest, now: u64) -> Run {
        Run::with_shared(settings, request, now, Rc::default())
    }

    /// With the usual provider over `shared` (what other requests left there).
    pub(crate) fn with_shared(
        settings: &Settings,
        request: IncomingRequest,
        now: u64,
        shared: Rc<MemoryShared>,
    ) -> Run {
        Run::start(settings, request, Some(provider()), now, shared)
    }

    /// `GET /` with the one header `(name, value)` (credentials, a cookie), with shared data
    /// of its own.
    pub(crate) fn get(settings: &Settings, header: (&str, &str), now: u64) -> Run {
        Run::get_over(settings, header, now, &Rc::default())
    }

    /// [`Run::get`] over `shared` (what other requests left there).
    pub(crate) fn get_over(
        settings: &Settings,
        (name, value): (&str, &str),
        now: u64,
        shared: &Rc<MemoryShared>,
    ) -> Run {
        let request = request("GET", "/", &[(name, value)]);
        Run::with_shared(settings, request, now, shared.clone())
    }

    /// With `provider` (`None`: not discovered yet) and shared data of its own.
    pub(crate) fn with_provider(
        settings: &Settings,
        request: IncomingRequest,
        provider: Option<Rc<Provider>>,
        now: u64,
    ) -> Run {
        Run::start(settings, request, provider, now, Rc::default())
    }

    pub(crate) fn start(
        settings: &Settings,
        request: IncomingRequest,
        provider: Option<Rc<Provider>>,
        now: u64,
        shared: Rc<MemoryShared>,
    ) -> Run {
        let mut flow = RequestFlow::new(request, provider);
        let step = with_env(now, &*shared, |env| flow.start(settings, env));
        let mut run = Run {
            steps: vec![],
            calls: vec![],
            flow,
            shared,
            answers: vec![],
        };
        run.record(step);
        run
    }

    fn record(&mut self, step: Step) {
        match &step {
            Step::Call(call) => self.calls.push(call.clone()),
            Step::CallAll(calls) => self.calls.extend(calls.iter().cloned()),
            _ => {}
        }
        self.steps.push(step);
    }

    /// Answers the last call; for calls sent together, answers them one at a time and feeds
    /// them all once the last is in (in the order they were sent).
    pub(crate) fn feed(
        &mut self,
        settings: &Settings,
        response: CallResponse,
        now: u64,
    ) -> &mut Run {
        if let Some(Step::CallAll(calls)) = self.steps.last() {
            let expected = calls.len();
            self.answers.push(response);
            if self.answers.len() == expected {
                let answers = std::mem::take(&mut self.answers);
                self.feed_all(settings, answers, now);
            }
            return self;
        }
        assert!(
            matches!(self.steps.last(), Some(Step::Call(_))),
            "no call to answer: {:?}",
            self.steps.last()
        );
        let shared = self.shared.clone();
        let step = with_env(now, &*shared, |env| {
            self.flow.on_call_response(settings, env, response)
        });
        self.record(step);
        self
    }

    /// Answers every call of the last [`Step::CallAll`] at once (in the order they were sent).
    pub(crate) fn feed_all(
        &mut self,
        settings: &Settings,
        responses: Vec<CallResponse>,
        now: u64,
    ) -> &mut Run {
        match self.steps.last() {
            Some(Step::CallAll(calls)) => assert_eq!(calls.len(), responses.len()),
            other => panic!("no calls sent together to answer: {other:?}"),
        }
        let shared = self.shared.clone();
        let step = with_env(now, &*shared, |env| {
            self.flow.on_call_responses(settings, env, responses)
        });
        self.record(step);
        self
    }

    pub(crate) fn last(&self) -> &Step {
        self.steps.last().expect("a step")
    }

    pub(crate) fn forward(&self) -> &Forward {
        match self.last() {
            Step::Forward(forward) => forward,
            other => panic!("expected Forward, got {other:?}"),
        }
    }

    pub(crate) fn response(&self) -> &LocalResponse {
        match self.last() {
            Step::Respond(response) => response,
            other => panic!("expected a local response, got {other:?}"),
        }
    }

    /// The call the flow waits on now.
    pub(crate) fn call(&self) -> &OutboundRequest {
        match self.last() {
            Step::Call(call) => call,
            other => panic!("expected a call, got {other:?}"),
        }
    }

    /// The last call the flow made (it may have decided since).
    pub(crate) fn last_call(&self) -> &OutboundRequest {
        self.calls.last().expect("a call")
    }

    /// The log lines so far, as one string to search.
    pub(crate) fn notes(&mut self) -> String {
        format!("{:?}", self.flow.take_notes())
    }
}
