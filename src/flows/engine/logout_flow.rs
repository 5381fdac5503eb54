//! The logout flow (Kong's order, see `crate::logout` for the decisions): the session's tokens
//! are marked revoked on the node and revoked at the provider (RFC 7009, best-effort, the
//! calls sent together), the session is ended for every worker and its cookies expired, then
//! the answer redirects to the end-session endpoint, to `logout_redirect_uri`, or is 204.

use std::collections::VecDeque;

use crate::flows::revocation::revocation_request;
use crate::flows::settings::Settings;
use crate::flows::token_cache;
use crate::flows::tokens::TokenSet;
use crate::flows::{outbound, Env, Event, Note, RequestFlow};
use crate::logout::{self, Revocation, RevocationOutcome};
use crate::session::Session;
use crate::step::{CallResponse, Step};

use super::Waiting;

/// A logout between its revocation calls.
pub(super) struct LogoutInProgress {
    pending: VecDeque<Revocation>,
    /// The revocations whose calls are out, in the order they were sent.
    current: Vec<Revocation>,
    followed_redirect: bool,
    id_token: Option<String>,
    clear_cookies: Vec<String>,
}

impl RequestFlow {
    pub(super) fn begin_logout(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        session: Option<Session>,
    ) -> Step {
        let audience = settings.config.session_audience.clone();
        let mut logout = LogoutInProgress {
            pending: VecDeque::new(),
            current: Vec::new(),
            followed_redirect: false,
            id_token: None,
            clear_cookies: Vec::new(),
        };
        if let Some(mut session) = session {
            if let Some((tokens, payload)) = TokenSet::from_session(&session, &audience) {
                logout.id_token = tokens.id_token().map(str::to_string);
                logout.pending = logout::revocations(
                    &settings.config,
                    Some(tokens.access_token()),
                    tokens.refresh_token(),
                )
                .into();
                if !logout.pending.is_empty() {
                    let until = Some(payload.expires)
                        .filter(|e| *e > env.now)
                        .unwrap_or(env.now.saturating_add(settings.config.cache_ttl.max(1)));
                    token_cache::mark_revoked(env.shared, &tokens, until);
                }
            }
            // Ended for every worker at once, not only in this browser (issue 10, part 1).
            self.ends_session = true;
            let codec = settings.session_codec(&self.request.scheme);
            logout.clear_cookies = if session.remove(&audience) {
                codec.clear_carried(&self.request.cookie_headers(), Some(&session))
            } else {
                let Some(sid) = (env.random)() else {
                    return self.no_randomness(settings);
                };
                match self.save_session(settings, codec, &mut session, env.now, sid) {
                    Ok(cookies) => cookies,
                    Err(refused) => return *refused,
                }
            };
        }
        if logout.clear_cookies.is_empty()
            && self.request.has_any_cookie(&settings.session_cookie_names)
        {
            // An unreadable (tampered, expired, partly sent) session: expire all it carried.
            logout.clear_cookies = settings
                .session_codec(&self.request.scheme)
                .clear_carried(&self.request.cookie_headers(), None);
        }
        self.events.push(Event::Logout);
        self.next_revocation(settings, logout)
    }

    /// Sends every pending revocation at once, in Kong's order (refresh token, then access
    /// token), and waits for all of them. Chaining them (the second from the first's answer)
    /// hangs Kong's engine: the first call's cleanup hands its body buffer back after the
    /// second call took it (see ../shared/reference/hosts.md); sending both from one callback
    /// is safe.
    fn next_revocation(&mut self, settings: &Settings, mut logout: LogoutInProgress) -> Step {
        let Some(provider) = self.provider.as_ref() else {
            return self.discover(settings);
        };
        let mut requests = Vec::new();
        while let Some(revocation) = logout.pending.pop_front() {
            match revocation_request(settings, provider, &revocation) {
                Ok(request) => {
                    requests.push(request);
                    logout.current.push(revocation);
                }
                Err(e) => {
                    let line = format!("{} revocation skipped: {e}", revocation.hint);
                    // No endpoint at all was announced once per node when the documents were
                    // fetched (provider_fetch::announce): a warning per logout adds nothing.
                    self.notes
                        .push(match provider.revocation_endpoint(settings) {
                            None => Note::Info(line),
                            Some(_) => Note::Warn(line),
                        });
                    self.events.push(Event::RevocationFailed);
                }
            }
        }
        if !requests.is_empty() {
            logout.followed_redirect = false;
            self.waiting = Waiting::Revocation(Box::new(logout));
            return Step::CallAll(requests);
        }
        self.finish_logout(settings, logout)
    }

    fn finish_logout(&mut self, settings: &Settings, logout: LogoutInProgress) -> Step {
        let Some(provider) = self.provider.as_ref() else {
            return self.discover(settings);
        };
        let http10 = self.request.http10;
        let response = logout::final_response(
            &settings.config,
            provider.end_session_endpoint(settings),
            logout.id_token.as_deref(),
            logout.clear_cookies,
            http10,
        );
        Step::Respond(response)
    }

    /// The answers to the revocations sent together (in their order). A 302 is followed once
    /// with GET, as Kong does; the follow-ups go out together once every answer is in (a GET
    /// has no body, so sending it from this answer is safe in Kong's engine too).
    pub(super) fn on_revocations(
        &mut self,
        settings: &Settings,
        responses: Vec<CallResponse>,
        mut logout: LogoutInProgress,
    ) -> Step {
        let sent = std::mem::take(&mut logout.current);
        let mut follow_ups = Vec::new();
        for (index, revocation) in sent.into_iter().enumerate() {
            let hint = revocation.hint;
            let response = responses.get(index).cloned().unwrap_or_default();
            match logout::revocation_outcome(&response) {
                RevocationOutcome::Revoked => {
                    self.notes.push(Note::Info(format!("{hint} revoked")));
                    self.events.push(Event::RevocationOk);
                }
                RevocationOutcome::Redirected(location) if !logout.followed_redirect => {
                    if let Ok(request) = outbound::get(settings, &location) {
                        follow_ups.push((revocation, request));
                        continue;
                    }
                    self.notes.push(Note::Warn(format!(
                        "{hint} revocation redirected to an invalid URL"
                    )));
                    self.events.push(Event::RevocationFailed);
                }
                RevocationOutcome::Redirected(_) => {
                    self.notes
                        .push(Note::Warn(format!("{hint} revocation redirected twice")));
                    self.events.push(Event::RevocationFailed);
                }
                RevocationOutcome::Failed(reason) => {
                    self.notes
                        .push(Note::Warn(format!("{hint} revocation failed: {reason}")));
                    self.events.push(Event::RevocationFailed);
                }
            }
        }
        if !follow_ups.is_empty() {
            logout.followed_redirect = true;
            let (revocations, requests): (Vec<_>, Vec<_>) = follow_ups.into_iter().unzip();
            logout.current = revocations;
            self.waiting = Waiting::Revocation(Box::new(logout));
            return Step::CallAll(requests);
        }
        self.finish_logout(settings, logout)
    }
}
