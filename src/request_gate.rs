//! When the host may let the client's request go upstream.
//!
//! A proxy-wasm host passes a request on as soon as one of the filter's request callbacks
//! (headers, body, trailers) answers `Continue`, and after `resume_http_request`. An
//! authentication filter must therefore answer `Pause` from *every* one of them until it has
//! decided, whatever order the host delivers them in: Envoy delivers trailers after the last
//! body chunk (HTTP/2, gRPC), a body chunk may arrive while a call to the identity provider is
//! pending, and Kong's engine never says "end of stream" in the headers callback.
//!
//! [`RequestGate`] is that rule in one place, free of host calls so that every ordering can be
//! tested (see the property test below). The adapter asks it what to answer from each callback
//! and tells it what the flow decided; it is the only code that may release a request.

/// What the adapter does with the callback it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    /// Start the flow now: everything it may need has arrived.
    StartFlow,
    /// Answer `Pause`: the host keeps the request (and what follows it).
    Hold,
    /// Answer `Continue`: the flow let the request through.
    Pass,
}

/// When a host delivers the request body to a filter that needs it before deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyDelivery {
    /// Only while the filter holds the headers (Envoy with `allow_on_headers_stop_iteration`,
    /// our gateway with the same switch): the headers are paused, and nothing goes upstream.
    WhileHeadersHeld,
    /// Only after the filter lets the headers continue (Kong's engine: the body step runs in
    /// nginx's content phase, after the access phase the headers step pauses; nginx proxies
    /// nothing before that step ends, and request headers stay writable in it).
    AfterHeadersContinue,
}

/// What the flow decided about the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Forward it upstream.
    Forward,
    /// Answer it locally; it never goes upstream.
    Answer,
    /// Ask the identity provider first; the flow decides again on the answer.
    Wait,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Headers arrived; the flow needs the whole body and waits for its end.
    CollectingBody,
    /// No flow yet (before the headers callback).
    Arriving,
    /// The flow runs or waits on a call.
    Deciding,
    /// The flow forwarded the request.
    Released,
    /// The filter answered the request itself.
    Answered,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestGate {
    phase: Phase,
    /// A callback answered `Pause`, so the host holds the request until it is resumed.
    host_holds: bool,
}

impl Default for RequestGate {
    fn default() -> Self {
        RequestGate::new()
    }
}

impl RequestGate {
    pub fn new() -> RequestGate {
        RequestGate {
            phase: Phase::Arriving,
            host_holds: false,
        }
    }

    /// The request headers arrived. `needs_body`: the flow may need the body (credentials or
    /// logout arguments in a form); `end_of_stream`: the host says no body follows;
    /// `delivery`: how this host gives the body to a filter that waits for it. `Pass` here
    /// never forwards anything: it is only answered where the host proxies nothing before
    /// the body step, which then holds the request until the flow decides.
    pub fn on_headers(
        &mut self,
        needs_body: bool,
        end_of_stream: bool,
        delivery: BodyDelivery,
    ) -> Cue {
        if self.phase != Phase::Arriving {
            return self.hold_unless_released();
        }
        if needs_body && !end_of_stream {
            self.phase = Phase::CollectingBody;
            return match delivery {
                BodyDelivery::WhileHeadersHeld => self.hold(),
                BodyDelivery::AfterHeadersContinue => Cue::Pass,
            };
        }
        self.phase = Phase::Deciding;
        Cue::StartFlow
    }

    /// A request body chunk arrived; `end_of_stream` when it is the last one.
    pub fn on_body(&mut self, end_of_stream: bool) -> Cue {
        match self.phase {
            Phase::CollectingBody if end_of_stream => {
                self.phase = Phase::Deciding;
                Cue::StartFlow
            }
            _ => self.hold_unless_released(),
        }
    }

    /// Request trailers arrived: the body (if any) is complete.
    pub fn on_trailers(&mut self) -> Cue {
        match self.phase {
            Phase::CollectingBody => {
                self.phase = Phase::Deciding;
                Cue::StartFlow
            }
            _ => self.hold_unless_released(),
        }
    }

    /// The flow decided. Returns whether the adapter must call `resume_http_request`: only when
    /// it forwards from outside a request callback (a call's answer) while the host holds the
    /// request. Inside a callback, the callback's `Continue` releases it.
    pub fn decided(&mut self, decision: Decision, in_request_callback: bool) -> bool {
        match decision {
            Decision::Forward if self.phase == Phase::Deciding => {
                self.phase = Phase::Released;
                let resume = !in_request_callback && self.host_holds;
                if resume {
                    self.host_holds = false;
                }
                resume
            }
            Decision::Forward => false,
            Decision::Answer => {
                self.phase = Phase::Answered;
                false
            }
            Decision::Wait => false,
        }
    }

    /// The answer to the request callback the adapter is in, after the flow (if it ran).
    pub fn callback_cue(&mut self) -> Cue {
        self.hold_unless_released()
    }

    /// Whether the flow waits for the rest of the body (the host buffers it meanwhile).
    pub fn collecting_body(&self) -> bool {
        self.phase == Phase::CollectingBody
    }

    /// Whether the flow has let the request through.
    pub fn released(&self) -> bool {
        self.phase == Phase::Released
    }

    fn hold_unless_released(&mut self) -> Cue {
        if self.phase == Phase::Released {
            Cue::Pass
        } else {
            self.hold()
        }
    }

    fn hold(&mut self) -> Cue {
        self.host_holds = true;
        Cue::Hold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the host may deliver next.
    #[derive(Debug, Clone, Copy)]
    enum HostEvent {
        BodyChunk,
        LastBodyChunk,
        Trailers,
        CallAnswer,
    }

    /// A host that releases the request upstream when a request callback answers `Continue`
    /// or the filter resumes it, and a scripted flow that waits on `calls` calls and then
    /// forwards or answers. The gate must release nothing before the flow forwards.
    struct Model {
        gate: RequestGate,
        calls_left: usize,
        finally_forward: bool,
        call_pending: bool,
        flow_started: bool,
        forward_decided: bool,
        released_upstream: bool,
    }

    impl Model {
        fn run_flow(&mut self, in_callback: bool) {
            self.flow_started = true;
            self.decide(in_callback);
        }

        fn decide(&mut self, in_callback: bool) {
            let decision = if self.calls_left > 0 {
                self.calls_left -= 1;
                self.call_pending = true;
                Decision::Wait
            } else if self.finally_forward {
                self.forward_decided = true;
                Decision::Forward
            } else {
                Decision::Answer
            };
            if self.gate.decided(decision, in_callback) {
                self.check_release();
            }
        }

        fn callback(&mut self, cue: Cue) {
            let cue = match cue {
                Cue::StartFlow => {
                    self.run_flow(true);
                    self.gate.callback_cue()
                }
                other => other,
            };
            if cue == Cue::Pass {
                self.check_release();
            }
        }

        fn check_release(&mut self) {
            assert!(
                self.forward_decided,
                "the request went upstream before the flow decided"
            );
            self.released_upstream = true;
        }
    }

    fn event() -> impl Strategy<Value = HostEvent> {
        prop_oneof![
            Just(HostEvent::BodyChunk),
            Just(HostEvent::LastBodyChunk),
            Just(HostEvent::Trailers),
            Just(HostEvent::CallAnswer),
        ]
    }

    proptest! {
        #[test]
        fn nothing_is_released_before_the_flow_forwards(
            needs_body in any::<bool>(),
            headers_end_stream in any::<bool>(),
            nginx_like in any::<bool>(),
            calls in 0usize..4,
            finally_forward in any::<bool>(),
            events in proptest::collection::vec(event(), 0..12),
        ) {
            let mut model = Model {
                gate: RequestGate::new(),
                calls_left: calls,
                finally_forward,
                call_pending: false,
                flow_started: false,
                forward_decided: false,
                released_upstream: false,
            };
            let delivery = if nginx_like {
                BodyDelivery::AfterHeadersContinue
            } else {
                BodyDelivery::WhileHeadersHeld
            };
            let cue = model.gate.on_headers(needs_body, headers_end_stream, delivery);
            // A host that delivers the body only after the headers continue (nginx) proxies
            // nothing at that point: its body step holds the request.
            let waits_for_body = needs_body && !headers_end_stream;
            if nginx_like && waits_for_body && cue == Cue::Pass {
                // not a release
            } else {
                model.callback(cue);
            }
            for event in events {
                match event {
                    HostEvent::BodyChunk => {
                        let cue = model.gate.on_body(false);
                        model.callback(cue);
                    }
                    HostEvent::LastBodyChunk => {
                        let cue = model.gate.on_body(true);
                        model.callback(cue);
                    }
                    HostEvent::Trailers => {
                        let cue = model.gate.on_trailers();
                        model.callback(cue);
                    }
                    HostEvent::CallAnswer if model.call_pending => {
                        model.call_pending = false;
                        model.decide(false);
                    }
                    HostEvent::CallAnswer => {}
                }
            }
            // Once the flow forwarded and every call was answered, the request is not stuck:
            // it went upstream through a callback's Continue or a resume.
            if model.forward_decided && !model.call_pending {
                prop_assert!(model.released_upstream || !model.gate.host_holds);
            }
            if !model.finally_forward {
                prop_assert!(!model.released_upstream);
            }
        }
    }

    #[test]
    fn trailers_while_a_call_is_pending_hold_the_request() {
        let mut gate = RequestGate::new();
        assert_eq!(
            gate.on_headers(false, false, BodyDelivery::WhileHeadersHeld),
            Cue::StartFlow
        );
        assert!(!gate.decided(Decision::Wait, true));
        assert_eq!(gate.callback_cue(), Cue::Hold);
        assert_eq!(gate.on_body(true), Cue::Hold);
        assert_eq!(gate.on_trailers(), Cue::Hold);
        // The call's answer forwards: the held request is resumed.
        assert!(gate.decided(Decision::Forward, false));
        assert_eq!(gate.on_trailers(), Cue::Pass);
    }

    #[test]
    fn trailers_end_the_body_a_flow_waits_for() {
        let mut gate = RequestGate::new();
        assert_eq!(
            gate.on_headers(true, false, BodyDelivery::WhileHeadersHeld),
            Cue::Hold
        );
        assert_eq!(gate.on_body(false), Cue::Hold);
        assert_eq!(gate.on_trailers(), Cue::StartFlow);
    }

    #[test]
    fn on_nginx_the_body_step_holds_the_request_until_the_flow_decides() {
        let mut gate = RequestGate::new();
        assert_eq!(
            gate.on_headers(true, false, BodyDelivery::AfterHeadersContinue),
            Cue::Pass
        );
        assert!(gate.collecting_body());
        assert_eq!(gate.on_body(true), Cue::StartFlow);
        assert!(!gate.decided(Decision::Wait, true));
        assert_eq!(gate.callback_cue(), Cue::Hold);
        // The body step was paused: the call's answer resumes it.
        assert!(gate.decided(Decision::Forward, false));
    }

    #[test]
    fn an_answered_request_is_never_passed() {
        let mut gate = RequestGate::new();
        assert_eq!(
            gate.on_headers(false, false, BodyDelivery::WhileHeadersHeld),
            Cue::StartFlow
        );
        assert!(!gate.decided(Decision::Answer, true));
        assert_eq!(gate.callback_cue(), Cue::Hold);
        assert_eq!(gate.on_body(true), Cue::Hold);
        assert_eq!(gate.on_trailers(), Cue::Hold);
        assert!(!gate.decided(Decision::Forward, false));
        assert_eq!(gate.on_trailers(), Cue::Hold);
    }
}
