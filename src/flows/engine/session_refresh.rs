//! Refreshing a session's expired access token, once per session however many of its
//! requests arrive at the same time.
//!
//! The first request takes a lock in shared data named after the refresh token's hash (with a
//! lease as long as the refresh call may take) and refreshes; it then stores the new tokens in
//! shared data under the same hash. The others find the lock taken and wait for those tokens,
//! then save them in their own session cookie. A request that comes later with the old cookie
//! finds the stored tokens at once, which matters when the provider rotates refresh tokens:
//! a second refresh with the old one would fail and end the session.
//!
//! How a waiting request waits. A paused proxy-wasm HTTP context is only called again for
//! the HTTP calls it dispatched itself: nothing else can resume it on every host. Envoy lets a
//! root context resume it from `on_tick` with `set_effective_context`, but Kong's
//! ngx_wasm_module implements `proxy_set_effective_context` as a no-op (continuing would resume
//! the root), and the ABI has no timer per request. So a waiting request polls: it sends a
//! harmless GET of the discovery document and looks at the shared data when the answer
//! arrives, again until the tokens are there, the lease ran out (then it takes the lock and
//! refreshes itself), or it polled [`MAX_POLLS`] times (then it refreshes without the lock, so
//! that a stuck lock can only slow requests down, never block them). The identity provider
//! thus sees one refresh and a few cheap GETs while it runs. This works the same on Envoy,
//! Kong and the project's gateway, and is plain sans-IO logic the tests can drive.

use crate::config::AuthMethod;
use crate::discovery;
use crate::flows::password;
use crate::flows::responses::Rejection;
use crate::flows::settings::Settings;
use crate::flows::token_cache;
use crate::flows::tokens::{self, TokenSet};
use crate::flows::{outbound, verify};
use crate::session::{Session, SessionPayload};
use crate::shared::cache::{self as shared_cache, CacheKind};
use crate::step::{CallResponse, Step};

use super::authorize::{Authorized, Ending, SessionStep};
use super::{Env, Event, Note, RequestFlow, Waiting};

/// Polls a waiting request makes at most before it refreshes on its own.
pub(super) const MAX_POLLS: u32 = 200;

/// A session whose access token expired, on its way to new tokens.
pub(in crate::flows) struct SessionRefresh {
    session: Box<Session>,
    previous: TokenSet,
    /// The rest of the session's payload (its tokens are `previous`), kept with the new ones.
    kept: SessionPayload,
    refresh_token: String,
    /// The hash of the refresh token: names the lock and the shared result.
    key: String,
    polls: u32,
    holds_lock: bool,
}

impl SessionRefresh {
    pub(super) fn new(
        session: Session,
        previous: TokenSet,
        kept: SessionPayload,
        refresh_token: String,
    ) -> SessionRefresh {
        let key = shared_cache::digest(&["refresh_token#", &refresh_token]);
        SessionRefresh {
            session: Box::new(session),
            previous,
            kept,
            refresh_token,
            key,
            polls: 0,
            holds_lock: false,
        }
    }
}

/// How long the lock is held at most: the refresh call's timeout and a second.
fn lease_seconds(settings: &Settings) -> u64 {
    settings.config.timeout.div_ceil(1000).saturating_add(1)
}

impl RequestFlow {
    pub(super) fn refresh_session(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        mut refresh: SessionRefresh,
    ) -> Step {
        if let Some(tokens) = refreshed_by_another(env, &refresh.key) {
            self.notes.push(Note::Info(
                "session tokens refreshed by a concurrent request: using them".into(),
            ));
            return self.apply_refresh(settings, env, refresh, tokens, Event::SessionHit);
        }
        let Some(provider) = self.provider.clone() else {
            return self.discover(settings);
        };
        let until = env.now.saturating_add(lease_seconds(settings));
        refresh.holds_lock = env.shared.try_lock(&refresh.key, env.now, until);
        if !refresh.holds_lock {
            if refresh.polls < MAX_POLLS {
                let url = discovery::discovery_url(&settings.config.issuer);
                match outbound::get(settings, &url) {
                    Ok(poll) => {
                        refresh.polls += 1;
                        return self.call(poll, Waiting::RefreshWait(Box::new(refresh)));
                    }
                    Err(e) => self.notes.push(Note::Warn(format!(
                        "cannot wait for the concurrent refresh ({e})"
                    ))),
                }
            }
            self.notes.push(Note::Warn(format!(
                "another request's refresh of this session did not finish after {} polls: refreshing here too",
                refresh.polls
            )));
        }
        match password::refresh_request(settings, &provider, &refresh.refresh_token) {
            Ok(request) => self.call(request, Waiting::Refresh(Box::new(refresh))),
            Err(e) => {
                self.release(env, &refresh);
                self.unexpected(settings, Rejection::new("token_endpoint", e))
            }
        }
    }

    /// A poll came back (its content does not matter): look again.
    pub(super) fn on_refresh_wait(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        refresh: SessionRefresh,
    ) -> Step {
        self.refresh_session(settings, env, refresh)
    }

    pub(super) fn on_refresh(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        response: CallResponse,
        refresh: SessionRefresh,
    ) -> Step {
        let tokens = match TokenSet::from_response(&response) {
            Ok(tokens) => tokens.merged_after_refresh(&refresh.previous),
            Err(e) => {
                self.release(env, &refresh);
                return self.reject(
                    settings,
                    Rejection::new("refresh_failed", e.to_string()),
                    true,
                );
            }
        };
        if let Some(provider) = self.provider.as_ref() {
            if tokens.id_token() != refresh.previous.id_token() {
                let original = refresh.previous.id_token();
                if let Err(e) =
                    verify::verify_refresh(settings, provider, &tokens, original, env.now)
                {
                    self.release(env, &refresh);
                    return self.reject(
                        settings,
                        Rejection::new("invalid_token", e.to_string()),
                        true,
                    );
                }
            }
        }
        // Shared for the session's other requests, until the new access token expires.
        let expires_at = token_cache::expiry(settings, &tokens, env.now);
        env.shared.cache_put(
            CacheKind::Refreshed,
            &refresh.key,
            &token_cache::encode(&tokens),
            expires_at,
        );
        self.release(env, &refresh);
        self.apply_refresh(settings, env, refresh, tokens, Event::SessionRefreshed)
    }

    fn release(&mut self, env: &mut Env, refresh: &SessionRefresh) {
        if refresh.holds_lock {
            env.shared.unlock(&refresh.key);
        }
    }

    fn apply_refresh(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        refresh: SessionRefresh,
        tokens: TokenSet,
        event: Event,
    ) -> Step {
        let audience = &settings.config.session_audience;
        let subject = refresh.session.subject(audience).map(str::to_string);
        let expires = tokens::expiry(&tokens, env.now);
        let step = SessionStep::Replace {
            session: refresh.session,
            subject,
            kept: refresh.kept,
        };
        let mut auth = Authorized::new(tokens, AuthMethod::Session, expires, step, Ending::Forward);
        auth.event = Some(event);
        self.authorize(settings, env, auth)
    }
}

/// The tokens another request of the session got, if it already did and no logout revoked
/// them since (a copy of the old cookie must not pick up revoked tokens: finding 13.9).
fn refreshed_by_another(env: &Env, key: &str) -> Option<TokenSet> {
    let bytes = env.shared.cache_get(CacheKind::Refreshed, key, env.now)?;
    token_cache::decode(&bytes)
        .filter(|tokens| !token_cache::any_revoked(env.shared, tokens, env.now))
}
