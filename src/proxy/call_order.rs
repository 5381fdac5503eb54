//! When a stream may dispatch its next call to the identity provider, and how a batch of calls
//! sent together is answered. Free of host calls, so the sequencing rules can be tested.
//!
//! Kong's engine (ngx_wasm_module a376e67c, Kong 3.10) runs a call's cleanup *after* its
//! `on_http_call_response`: `ngx_http_proxy_wasm_dispatch_destroy` then puts the call's request
//! body buffer back on the stream's free list (`rctx->free_bufs = call->req_body`). A call with
//! a body dispatched from inside that callback takes the same buffer, so the cleanup hands it
//! out twice and the next send loops forever on a chain link pointing to itself (observed: the
//! logout's second revocation spun the worker at 100% CPU). A call *without* a body leaves the
//! free list alone, so dispatching anything from its answer is safe (the session refresh polls
//! and discovery -> JWKS do this and work in that engine). Hence the rule here:
//!
//! * calls that don't depend on each other go out together from one callback
//!   ([`Step::CallAll`](crate::step::Step), the logout's revocations);
//! * a call with a body is never dispatched from the answer of a call with a body: the adapter
//!   first sends a body-less GET of the discovery document (a "spacer") and dispatches the call
//!   from the spacer's answer, whose cleanup touches no buffer. It costs one cheap GET and only
//!   happens for rare chains (a grant falling back to the next grant, a login then an
//!   introspection).
//!
//! A root context has no stream at all: its call cleanups free a fake request, and a dispatch
//! from its `on_http_call_response` crashed the worker. The root therefore dispatches only from
//! `on_tick` (see `proxy::root`).

use crate::step::{CallResponse, OutboundRequest};

/// How to send the calls a flow asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    /// Dispatch them now.
    Now,
    /// Dispatch a body-less spacer now and the calls from its answer.
    AfterSpacer,
}

/// `answered_had_body`: `None` in a request callback, else whether the call being answered
/// carried a body.
pub(super) fn plan(answered_had_body: Option<bool>, next: &[OutboundRequest]) -> Plan {
    let next_has_body = next.iter().any(|request| !request.body.is_empty());
    if answered_had_body == Some(true) && next_has_body {
        Plan::AfterSpacer
    } else {
        Plan::Now
    }
}

/// Calls in flight for one stream, answered in the order they were sent.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// Per call: its host token (None when the host refused it) and whether it had a body.
    calls: Vec<(Option<u32>, bool)>,
    answers: Vec<Option<CallResponse>>,
    /// Whether the flow asked for one call (answered with `on_call_response`) or a batch.
    pub single: bool,
}

impl Batch {
    pub(super) fn new(single: bool) -> Batch {
        Batch {
            single,
            ..Batch::default()
        }
    }

    /// Records a dispatched call (`token`) or a refused one (`Err`, answered at once).
    pub(super) fn sent(&mut self, outcome: Result<u32, CallResponse>, had_body: bool) {
        match outcome {
            Ok(token) => {
                self.calls.push((Some(token), had_body));
                self.answers.push(None);
            }
            Err(answer) => {
                self.calls.push((None, had_body));
                self.answers.push(Some(answer));
            }
        }
    }

    /// Whether the call with this token had a body (false for an unknown token).
    pub(super) fn had_body(&self, token: u32) -> bool {
        self.position(token)
            .and_then(|index| self.calls.get(index))
            .is_some_and(|(_, body)| *body)
    }

    /// Stores an answer; true when it was ours.
    pub(super) fn answer(&mut self, token: u32, response: CallResponse) -> bool {
        match self.position(token) {
            Some(index) => {
                if let Some(slot) = self.answers.get_mut(index) {
                    *slot = Some(response);
                }
                if let Some(call) = self.calls.get_mut(index) {
                    call.0 = None;
                }
                true
            }
            None => false,
        }
    }

    /// Every answer, in the order the calls were sent, once all are in.
    pub(super) fn complete(&mut self) -> Option<Vec<CallResponse>> {
        if self.answers.iter().any(Option::is_none) {
            return None;
        }
        Some(self.answers.drain(..).flatten().collect())
    }

    fn position(&self, token: u32) -> Option<usize> {
        self.calls.iter().position(|(t, _)| *t == Some(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::Step;

    fn post(path: &str) -> OutboundRequest {
        OutboundRequest {
            method: "POST".into(),
            scheme: "http".into(),
            authority: "idp".into(),
            path: path.into(),
            headers: vec![],
            body: b"token=x".to_vec(),
            timeout_ms: 1000,
        }
    }

    fn get(path: &str) -> OutboundRequest {
        OutboundRequest {
            method: "GET".into(),
            body: vec![],
            ..post(path)
        }
    }

    /// Kong's engine as far as dispatching goes: a call with a body dispatched while the
    /// answer of a call with a body is being delivered corrupts the stream (the worker hangs).
    #[derive(Default)]
    struct KongModel {
        next_token: u32,
        in_flight: Vec<(u32, OutboundRequest)>,
        answering_had_body: Option<bool>,
        sent: Vec<OutboundRequest>,
    }

    impl KongModel {
        fn dispatch(&mut self, request: &OutboundRequest) -> u32 {
            assert!(
                self.answering_had_body != Some(true) || request.body.is_empty(),
                "{} {} dispatched from the answer of a call with a body: Kong's engine hangs",
                request.method,
                request.path
            );
            let token = self.next_token;
            self.next_token += 1;
            self.in_flight.push((token, request.clone()));
            self.sent.push(request.clone());
            token
        }
    }

    /// The adapter's use of [`plan`] and [`Batch`], over a scripted flow that asks for
    /// `steps` one after the other (each answered 200).
    fn run(steps: Vec<Step>) -> Vec<OutboundRequest> {
        let mut host = KongModel::default();
        let mut batch: Option<Batch> = None;
        let mut deferred: Option<Vec<OutboundRequest>> = None;
        let mut spacer: Option<u32> = None;
        let mut steps = steps.into_iter();
        let issue = |host: &mut KongModel,
                     batch: &mut Option<Batch>,
                     deferred: &mut Option<Vec<OutboundRequest>>,
                     spacer: &mut Option<u32>,
                     requests: Vec<OutboundRequest>,
                     single: bool| {
            match plan(host.answering_had_body, &requests) {
                Plan::AfterSpacer => {
                    *spacer = Some(host.dispatch(&get("/.well-known/openid-configuration")));
                    *deferred = Some(requests);
                    *batch = Some(Batch::new(single));
                }
                Plan::Now => {
                    let mut b = Batch::new(single);
                    for request in &requests {
                        b.sent(Ok(host.dispatch(request)), !request.body.is_empty());
                    }
                    *batch = Some(b);
                }
            }
        };
        let first = steps.next();
        if let Some(Step::Call(r)) = first.clone() {
            issue(
                &mut host,
                &mut batch,
                &mut deferred,
                &mut spacer,
                vec![r],
                true,
            );
        } else if let Some(Step::CallAll(rs)) = first {
            issue(&mut host, &mut batch, &mut deferred, &mut spacer, rs, false);
        }
        while !host.in_flight.is_empty() {
            let (token, request) = host.in_flight.remove(0);
            host.answering_had_body = Some(!request.body.is_empty());
            if spacer == Some(token) {
                spacer = None;
                let requests = deferred.take().unwrap_or_default();
                let single = batch.as_ref().is_some_and(|b| b.single);
                issue(
                    &mut host,
                    &mut batch,
                    &mut deferred,
                    &mut spacer,
                    requests,
                    single,
                );
            } else if let Some(b) = batch.as_mut() {
                assert!(b.answer(
                    token,
                    CallResponse {
                        status: Some(200),
                        ..CallResponse::default()
                    }
                ));
                if b.complete().is_some() {
                    match steps.next() {
                        Some(Step::Call(r)) => issue(
                            &mut host,
                            &mut batch,
                            &mut deferred,
                            &mut spacer,
                            vec![r],
                            true,
                        ),
                        Some(Step::CallAll(rs)) => {
                            issue(&mut host, &mut batch, &mut deferred, &mut spacer, rs, false)
                        }
                        _ => batch = None,
                    }
                }
            }
            host.answering_had_body = None;
        }
        host.sent
    }

    #[test]
    fn revocations_sent_together_keep_kongs_order_and_need_no_spacer() {
        let sent = run(vec![Step::CallAll(vec![
            post("/revoke?refresh"),
            post("/revoke?access"),
        ])]);
        let paths: Vec<&str> = sent.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/revoke?refresh", "/revoke?access"]);
    }

    #[test]
    #[should_panic(expected = "Kong's engine hangs")]
    fn chained_revocations_without_a_spacer_hang_kong() {
        // What the old adapter did: the second revocation straight from the first's answer.
        let mut host = KongModel::default();
        let token = host.dispatch(&post("/revoke?refresh"));
        host.in_flight.retain(|(t, _)| *t != token);
        host.answering_had_body = Some(true);
        host.dispatch(&post("/revoke?access"));
    }

    #[test]
    fn a_post_after_a_post_goes_out_after_a_spacer() {
        let sent = run(vec![
            Step::Call(post("/token?password")),
            Step::Call(post("/token?client_credentials")),
            Step::Call(get("/userinfo")),
            Step::Call(post("/introspect")),
        ]);
        let paths: Vec<&str> = sent.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/token?password",
                "/.well-known/openid-configuration",
                "/token?client_credentials",
                "/userinfo",
                "/introspect"
            ]
        );
    }

    #[test]
    fn a_batch_completes_in_sending_order_whatever_the_answer_order() {
        let mut batch = Batch::new(false);
        batch.sent(Ok(7), true);
        batch.sent(Ok(0), true);
        let answer = |status| CallResponse {
            status: Some(status),
            ..CallResponse::default()
        };
        assert!(batch.answer(0, answer(204)));
        assert!(batch.complete().is_none());
        assert!(!batch.answer(9, answer(500)));
        assert!(batch.answer(7, answer(200)));
        let all = batch.complete().unwrap();
        assert_eq!(all[0].status, Some(200));
        assert_eq!(all[1].status, Some(204));
    }
}
