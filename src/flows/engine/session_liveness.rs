//! The session check at the identity provider (`session_idp_check_interval`), between opening a
//! session and using it: the decision and its record are `session::liveness`; this is the call,
//! the one-check-per-session lock and what each answer does to the request.
//!
//! What is asked. Introspection of the session's refresh token when the provider has an
//! introspection endpoint (the refresh token lives as long as the login, and a logout with
//! `logout_revoke` or the provider ending its session makes it inactive), else of its access
//! token; without an introspection endpoint, a refresh (its new tokens are saved in the cookie
//! as any refresh's, so rotating refresh tokens stay usable).
//!
//! One check per session and node. The first request that finds the check due takes a lock in
//! shared data (leased for the call's timeout) and asks. The session's other requests that
//! arrive meanwhile wait for its answer the way a session refresh waits (a cheap GET of the
//! discovery document, then look again): they see the confirmation, the ended mark or the
//! failure in the record, so the provider gets one check and a few GETs. A request that polled
//! [`MAX_POLLS`] times checks on its own (a stuck lock only slows requests down).
//!
//! Every path holds the request until it is decided: the check is a `Step::Call` like any
//! other, and the request gate pauses the request while a call is out.

use crate::config::AuthMethod;
use crate::discovery;
use crate::flows::liveness_answer::{self, Answer};
use crate::flows::responses::Rejection;
use crate::flows::settings::Settings;
use crate::flows::tokens::TokenSet;
use crate::flows::{introspection, outbound, password};
use crate::session::liveness::{self, Decision, Policy, Unconfirmed};
use crate::session::{ended, Session, SessionPayload};
use crate::step::{CallResponse, Note, Step};

use super::session_refresh::{SessionRefresh, MAX_POLLS};
use super::{Env, RequestFlow, Waiting};

/// A session on its way through the check.
pub(in crate::flows) struct LivenessCheck {
    policy: Policy,
    session: Box<Session>,
    /// The session's name on this node (its login) and until when a copy could open it.
    identity: String,
    until: u64,
    by: CheckBy,
    polls: u32,
    holds_lock: bool,
}

/// How the provider is being asked.
enum CheckBy {
    /// Nothing sent yet (or waiting for another request's check).
    NotYet,
    Introspection,
    /// A refresh, applied to the session like any other when it succeeds.
    Refresh(Box<SessionRefresh>),
}

/// How long the lock is held at most: the call's timeout and a second.
fn lease_seconds(settings: &Settings) -> u64 {
    settings.config.timeout.div_ceil(1000).saturating_add(1)
}

impl RequestFlow {
    /// Uses the opened session, after a check at the provider when one is due.
    pub(super) fn session_with_idp_check(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        session: Session,
    ) -> Step {
        let (Some(policy), Some((identity, until))) =
            (Policy::from_config(&settings.config), self.opened.clone())
        else {
            return self.session_auth(settings, env, session);
        };
        let check = LivenessCheck {
            policy,
            session: Box::new(session),
            identity,
            until,
            by: CheckBy::NotYet,
            polls: 0,
            holds_lock: false,
        };
        self.check_liveness(settings, env, check)
    }

    fn check_liveness(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        mut check: LivenessCheck,
    ) -> Step {
        if ended::is_ended(env.shared, &check.identity, env.now) {
            // Another request's check (or a logout) ended it while this one waited.
            self.notes.push(Note::Info(
                "session cookie not usable: the session was ended on this node".into(),
            ));
            return self.end_dead_session(settings, env);
        }
        let record = liveness::read(env.shared, &check.identity, env.now);
        match liveness::decide(&check.policy, record, check.session.created_at(), env.now) {
            Decision::Serve => return self.session_auth(settings, env, *check.session),
            Decision::Unconfirmed(verdict) => {
                return self.unconfirmed(settings, env, check, verdict, "its last check failed")
            }
            Decision::Check => {}
        }
        let lock = liveness::lock_key(&check.identity);
        let lease_until = env.now.saturating_add(lease_seconds(settings));
        check.holds_lock = env.shared.try_lock(&lock, env.now, lease_until);
        if !check.holds_lock {
            if check.polls < MAX_POLLS {
                let url = discovery::discovery_url(&settings.config.issuer);
                match outbound::get(settings, &url) {
                    Ok(poll) => {
                        check.polls += 1;
                        return self.call(poll, Waiting::LivenessWait(Box::new(check)));
                    }
                    Err(e) => self.notes.push(Note::Warn(format!(
                        "cannot wait for the session check in flight ({e})"
                    ))),
                }
            }
            self.notes.push(Note::Warn(format!(
                "another request's check of this session did not finish after {} polls: checking here too",
                check.polls
            )));
        }
        self.send_check(settings, env, check)
    }

    /// Asks the provider: introspection of the refresh token, else of the access token, else a
    /// refresh.
    fn send_check(&mut self, settings: &Settings, env: &mut Env, mut check: LivenessCheck) -> Step {
        let Some(provider) = self.provider.clone() else {
            self.release_check(env, &check);
            return self.discover(settings);
        };
        let audience = settings.config.session_audience.as_str();
        let Some((tokens, payload)) =
            SessionPayload::read(&check.session, audience).and_then(|mut payload| {
                let tokens = TokenSet::from_fields(std::mem::take(&mut payload.tokens))?;
                Some((tokens, payload))
            })
        else {
            // Nothing to ask about: the session path refuses a session without tokens.
            self.release_check(env, &check);
            return self.session_auth(settings, env, *check.session);
        };
        if introspection::endpoint(settings, &provider).is_some() {
            let (token, hint) = match tokens.refresh_token() {
                Some(refresh_token) => (refresh_token, "refresh_token"),
                None => (tokens.access_token(), "access_token"),
            };
            match introspection::request_with_hint(settings, &provider, token, hint) {
                Ok(request) => {
                    check.by = CheckBy::Introspection;
                    return self.call(request, Waiting::Liveness(Box::new(check)));
                }
                Err(e) => {
                    self.release_check(env, &check);
                    return self.check_failed(settings, env, check, &e.to_string());
                }
            }
        }
        let Some(refresh_token) = tokens.refresh_token().map(str::to_string) else {
            self.release_check(env, &check);
            self.notes.push(Note::Warn(
                "session not checked at the provider: no introspection endpoint and no refresh token"
                    .into(),
            ));
            return self.session_auth(settings, env, *check.session);
        };
        match password::refresh_request(settings, &provider, &refresh_token) {
            Ok(request) => {
                let session = (*check.session).clone();
                let refresh = SessionRefresh::new(session, tokens, payload, refresh_token);
                check.by = CheckBy::Refresh(Box::new(refresh));
                self.call(request, Waiting::Liveness(Box::new(check)))
            }
            Err(e) => {
                self.release_check(env, &check);
                self.check_failed(settings, env, check, &e.to_string())
            }
        }
    }

    /// A poll came back (its content does not matter): look at the record again.
    pub(super) fn on_liveness_wait(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        check: LivenessCheck,
    ) -> Step {
        self.check_liveness(settings, env, check)
    }

    /// The provider's answer to the check.
    pub(super) fn on_liveness(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        response: CallResponse,
        mut check: LivenessCheck,
    ) -> Step {
        self.release_check(env, &check);
        let answer = match check.by {
            CheckBy::Refresh(_) => liveness_answer::refresh_answer(&response),
            CheckBy::Introspection | CheckBy::NotYet => {
                liveness_answer::introspection_answer(&response)
            }
        };
        match answer {
            Answer::Alive => {
                liveness::confirm(env.shared, &check.identity, env.now, check.until);
                self.notes.push(Note::Info(
                    "session confirmed alive at the identity provider".into(),
                ));
                match std::mem::replace(&mut check.by, CheckBy::NotYet) {
                    CheckBy::Refresh(refresh) => self.on_refresh(settings, env, response, *refresh),
                    CheckBy::Introspection | CheckBy::NotYet => {
                        self.session_auth(settings, env, *check.session)
                    }
                }
            }
            Answer::Ended(reason) => {
                self.notes.push(Note::Info(format!(
                    "session cookie not usable: {reason}; the session is ended on this node"
                )));
                self.end_dead_session(settings, env)
            }
            Answer::Unknown(reason) => self.check_failed(settings, env, check, &reason),
        }
    }

    /// The provider gave no usable answer: the failure is recorded (no new call for a few
    /// seconds) and the failure rule decides; the session is never ended for it.
    fn check_failed(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        check: LivenessCheck,
        reason: &str,
    ) -> Step {
        let previous = liveness::read(env.shared, &check.identity, env.now);
        liveness::failed(env.shared, &check.identity, previous, env.now, check.until);
        let last = liveness::last_confirmed(previous, check.session.created_at());
        let verdict = liveness::when_unconfirmed(&check.policy, last, env.now);
        self.unconfirmed(settings, env, check, verdict, reason)
    }

    fn unconfirmed(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        check: LivenessCheck,
        verdict: Unconfirmed,
        reason: &str,
    ) -> Step {
        match verdict {
            Unconfirmed::ServeInGrace => {
                self.notes.push(Note::Warn(format!(
                    "session not confirmed at the identity provider ({reason}): served within session_idp_check_grace"
                )));
                self.session_auth(settings, env, *check.session)
            }
            Unconfirmed::Refuse => {
                let rejection = Rejection::new(
                    "session_unconfirmed",
                    format!("the identity provider could not confirm the session ({reason})"),
                );
                // Not destroyed: the session works again once the provider answers.
                self.reject(settings, rejection, false)
            }
        }
    }

    /// The provider no longer knows the session: ended as a logout ends it (marked for every
    /// worker, cookies expired), and the request goes on as one without a session: the code
    /// flow's redirect when that method is on, else 401.
    fn end_dead_session(&mut self, settings: &Settings, env: &mut Env) -> Step {
        self.ends_session = true;
        if settings.config.enabled(AuthMethod::AuthorizationCode) {
            return self.authorization_code(settings, env);
        }
        self.reject(
            settings,
            Rejection::new(
                "no_credentials",
                "no suitable authorization credentials were provided",
            ),
            true,
        )
    }

    fn release_check(&mut self, env: &mut Env, check: &LivenessCheck) {
        if check.holds_lock {
            env.shared.unlock(&liveness::lock_key(&check.identity));
        }
    }
}
