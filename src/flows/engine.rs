//! The per-request state machine.

use std::rc::Rc;

use crate::config::AuthMethod;
use crate::flows::authorization_code::{self, CodeLogin};
use crate::flows::grants::Grant;
use crate::flows::provider::Provider;
use crate::flows::provider_fetch::{FetchProgress, ProviderFetch};
use crate::flows::request::IncomingRequest;
use crate::flows::responses::{self, Rejection};
use crate::flows::settings::Settings;
use crate::flows::token_cache;
use crate::flows::token_lookup::LookupKind;
use crate::flows::tokens::{self, TokenSet};
use crate::flows::verify::{self, VerifiedLogin};
use crate::flows::{backchannel, bearer, client_credentials, outbound, password, refresh_param};
use crate::logout;
use crate::session::header::SID_SIZE;
use crate::session::{ended, Session, SessionCodec};
use crate::shared::SharedState;
use crate::step::{CallResponse, Note, OutboundRequest, Step};

/// What the flow needs from the world besides the request: the clock, randomness and the state
/// shared between workers.
pub struct Env<'a> {
    /// Seconds since the epoch.
    pub now: u64,
    /// 32 fresh random bytes (session ids, state, nonce, PKCE verifier), or `None` when the
    /// host has no randomness: then no session or login may start (see [`RequestFlow::no_randomness`]).
    pub random: &'a mut dyn FnMut() -> Option<[u8; 32]>,
    pub shared: &'a dyn SharedState,
}

/// Something worth counting (the adapter turns these into metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Login,
    SessionHit,
    SessionRefreshed,
    Logout,
    RevocationOk,
    RevocationFailed,
    IdpCallFailed,
    Rejected(&'static str),
}

/// One request's progress through the flows.
pub struct RequestFlow {
    request: IncomingRequest,
    provider: Option<Rc<Provider>>,
    provider_updated: bool,
    waiting: Waiting,
    events: Vec<Event>,
    notes: Vec<Note>,
    /// The session the request opened (its shared name and until when a copy could open it),
    /// so that destroying it also ends it on the node.
    opened: Option<(String, u64)>,
    /// The response destroys the opened session: it is recorded as ended (see `session::ended`).
    ends_session: bool,
}

mod api_clients;
mod authorize;
mod backchannel_logout;
mod code_flow;
mod logout_flow;
mod session_liveness;
mod session_refresh;

use api_clients::{BearerCheck, GrantLogin};
use authorize::{Authorized, Ending, SessionStep};
use logout_flow::LogoutInProgress;
use session_liveness::LivenessCheck;
use session_refresh::SessionRefresh;

/// How a fresh login got its tokens: decides the ID token's nonce check, the `auth_method` kept
/// in the session, and how the login ends.
enum LoginOrigin {
    /// A grant for the request's own credentials (password, client credentials, refresh token).
    Grant(Box<GrantLogin>),
    AuthorizationCode(Box<CodeLogin>),
}

impl LoginOrigin {
    fn nonce(&self) -> Option<&str> {
        match self {
            LoginOrigin::Grant(_) => None,
            LoginOrigin::AuthorizationCode(login) => login.nonce.as_deref(),
        }
    }
}

/// What the flow is waiting for from the identity provider.
enum Waiting {
    Nothing,
    Discovery(ProviderFetch),
    JwksRefetch(TokenSet, LoginOrigin),
    CodeExchange(Box<CodeLogin>),
    Grant(Box<GrantLogin>),
    BearerJwksRefetch(Box<BearerCheck>),
    /// Introspection or userinfo deciding whether a bearer token is accepted.
    TokenLookup(Box<BearerCheck>, LookupKind),
    /// Introspection or userinfo for an accepted request's requirements or headers.
    Enrich(Box<Authorized>, LookupKind),
    Refresh(Box<SessionRefresh>),
    /// Another request of the session is refreshing it: a poll, then look again.
    RefreshWait(Box<SessionRefresh>),
    /// The session check at the provider (`session_idp_check_interval`).
    Liveness(Box<LivenessCheck>),
    /// Another request of the session is checking it: a poll, then look again.
    LivenessWait(Box<LivenessCheck>),
    Revocation(Box<LogoutInProgress>),
    /// The back-channel logout token named a key the JWKS lacks.
    BackchannelJwksRefetch,
}

impl RequestFlow {
    /// `provider` is what the workers share (None before the first discovery).
    pub fn new(request: IncomingRequest, provider: Option<Rc<Provider>>) -> RequestFlow {
        RequestFlow {
            request,
            provider,
            provider_updated: false,
            waiting: Waiting::Nothing,
            events: Vec::new(),
            notes: Vec::new(),
            opened: None,
            ends_session: false,
        }
    }

    /// Whether the flows may read the request body (a form or JSON body that can carry
    /// credentials or the logout argument); the adapter then buffers it before [`start`](Self::start).
    pub fn needs_body(settings: &Settings, request: &IncomingRequest) -> bool {
        let config = &settings.config;
        let looks_for_bearer = [
            AuthMethod::Bearer,
            AuthMethod::Introspection,
            AuthMethod::Userinfo,
        ]
        .into_iter()
        .any(|m| config.enabled(m));
        (config.enabled(AuthMethod::Password) && password::may_need_body(settings, request))
            || (looks_for_bearer && bearer::may_need_body(settings, request))
            || (config.enabled(AuthMethod::ClientCredentials)
                && client_credentials::may_need_body(settings, request))
            || (config.enabled(AuthMethod::RefreshToken)
                && refresh_param::may_need_body(settings, request))
            || authorization_code::may_need_body(settings, request)
            || logout::may_need_body(&settings.config, request)
            || backchannel::may_need_body(settings, request)
    }

    /// Provider documents this flow fetched, for the adapter to share (taken once).
    pub fn take_provider_update(&mut self) -> Option<Rc<Provider>> {
        if !std::mem::take(&mut self.provider_updated) {
            return None;
        }
        self.provider.clone()
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    /// Decides what to do with the request.
    pub fn start(&mut self, settings: &Settings, env: &mut Env) -> Step {
        let step = if self.provider.is_none() {
            self.discover(settings)
        } else {
            self.authenticate(settings, env)
        };
        self.end_destroyed_session(env);
        step
    }

    /// A session this request destroyed is ended for every worker (issue 10, part 1).
    fn end_destroyed_session(&mut self, env: &Env) {
        if std::mem::take(&mut self.ends_session) {
            if let Some((identity, until)) = self.opened.take() {
                ended::record(env.shared, &identity, until);
            }
        }
    }

    /// The opened session, unless the node ended it (logged out or destroyed before): then
    /// it is refused like an expired one.
    fn unless_ended(
        &mut self,
        settings: &Settings,
        env: &Env,
        session: Session,
    ) -> Option<Session> {
        let audience = settings.config.session_audience.as_str();
        let identity = ended::identity(&session, audience);
        // Read before the marks (see `MarksGeneration`): a session a worker found unmarked
        // at this generation is still unmarked, and its marks need not be read again.
        let generation = env.shared.marks_generation();
        let unmarked = generation.is_some_and(|g| session.notes().unmarked_at(&g));
        if !unmarked {
            if backchannel::ended_by_provider(settings, env.shared, &session, env.now) {
                self.notes.push(Note::Info(
                    "session cookie not usable: the identity provider ended the session (back-channel logout)".into(),
                ));
                return None;
            }
            if ended::is_ended(env.shared, &identity, env.now) {
                self.notes.push(Note::Info(
                    "session cookie not usable: the session was ended on this node (logout)".into(),
                ));
                return None;
            }
        }
        session.notes().set_not_ended_at(generation);
        let codec = settings.session_codec(&self.request.scheme);
        let until = ended::open_until(codec.settings(), &session, env.now);
        self.opened = Some((identity, until));
        Some(session)
    }

    /// Continues after the identity provider answered the last [`Step::Call`].
    pub fn on_call_response(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        response: CallResponse,
    ) -> Step {
        let step = self.continue_after_call(settings, env, response);
        self.end_destroyed_session(env);
        step
    }

    fn continue_after_call(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        response: CallResponse,
    ) -> Step {
        if response.status.is_none() {
            self.notes.push(Note::Warn(format!(
                "identity provider call failed: {}",
                response.failure_reason()
            )));
            self.events.push(Event::IdpCallFailed);
        }
        match std::mem::replace(&mut self.waiting, Waiting::Nothing) {
            Waiting::Nothing => self.unexpected(
                settings,
                Rejection::new("internal", "an answer arrived for no call"),
            ),
            Waiting::Discovery(fetch) => self.on_discovery(settings, env, fetch, response),
            Waiting::JwksRefetch(tokens, origin) => {
                self.on_jwks_refetch(settings, env, response, tokens, origin)
            }
            Waiting::CodeExchange(login) => self.on_code_exchange(settings, env, response, *login),
            Waiting::Grant(login) => self.on_grant(settings, env, response, *login),
            Waiting::BearerJwksRefetch(check) => {
                self.on_bearer_jwks_refetch(settings, env, response, *check)
            }
            Waiting::TokenLookup(check, kind) => {
                self.on_token_lookup(settings, env, response, *check, kind)
            }
            Waiting::Enrich(auth, kind) => self.on_enrich(settings, env, response, *auth, kind),
            Waiting::Refresh(refresh) => self.on_refresh(settings, env, response, *refresh),
            Waiting::RefreshWait(refresh) => self.on_refresh_wait(settings, env, *refresh),
            Waiting::Liveness(check) => self.on_liveness(settings, env, response, *check),
            Waiting::LivenessWait(check) => self.on_liveness_wait(settings, env, *check),
            Waiting::Revocation(logout) => self.on_revocations(settings, vec![response], *logout),
            Waiting::BackchannelJwksRefetch => {
                self.on_backchannel_jwks_refetch(settings, env, response)
            }
        }
    }

    /// Continues after the identity provider answered every call of the last
    /// [`Step::CallAll`], in the order they were sent.
    pub fn on_call_responses(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        responses: Vec<CallResponse>,
    ) -> Step {
        if !matches!(self.waiting, Waiting::Revocation(_)) {
            // Only the logout sends calls together; anything else answers one call at a time.
            return match responses.into_iter().next() {
                Some(response) => self.on_call_response(settings, env, response),
                None => self.unexpected(
                    settings,
                    Rejection::new("internal", "an answer arrived for no call"),
                ),
            };
        }
        for response in responses.iter().filter(|r| r.status.is_none()) {
            self.notes.push(Note::Warn(format!(
                "identity provider call failed: {}",
                response.failure_reason()
            )));
            self.events.push(Event::IdpCallFailed);
        }
        match std::mem::replace(&mut self.waiting, Waiting::Nothing) {
            Waiting::Revocation(logout) => self.on_revocations(settings, responses, *logout),
            _ => self.unexpected(
                settings,
                Rejection::new("internal", "an answer arrived for no call"),
            ),
        }
    }

    fn call(&mut self, request: OutboundRequest, waiting: Waiting) -> Step {
        self.waiting = waiting;
        Step::Call(request)
    }

    // Discovery (a request that finds no documents fetches them itself) and the JWKS refetch.

    fn discover(&mut self, settings: &Settings) -> Step {
        match ProviderFetch::start(settings) {
            Ok((fetch, request)) => self.call(request, Waiting::Discovery(fetch)),
            Err(e) => self.unexpected(settings, Rejection::new("discovery_failed", e)),
        }
    }

    fn on_discovery(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        fetch: ProviderFetch,
        response: CallResponse,
    ) -> Step {
        match fetch.on_response(settings, &response, env.now) {
            FetchProgress::Next(fetch, request) => self.call(request, Waiting::Discovery(fetch)),
            FetchProgress::Done(provider) => {
                if provider.jwks.is_empty() {
                    self.notes.push(Note::Warn(
                        "the provider publishes no keys: tokens cannot be verified".into(),
                    ));
                }
                self.provider = Some(Rc::new(provider));
                self.provider_updated = true;
                self.authenticate(settings, env)
            }
            FetchProgress::Failed(e) => {
                self.unexpected(settings, Rejection::new("discovery_failed", e))
            }
        }
    }

    /// After a token named a key the JWKS lacks: take the new keys (or keep the old ones when the
    /// refetch failed) and finish the login.
    fn on_jwks_refetch(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        response: CallResponse,
        tokens: TokenSet,
        origin: LoginOrigin,
    ) -> Step {
        self.adopt_refetched_jwks(&response, env.now);
        self.complete_login(settings, env, tokens, origin, false)
    }

    // Authentication, in Kong's order.

    fn authenticate(&mut self, settings: &Settings, env: &mut Env) -> Step {
        // The identity provider's back-channel logout: answered here, never forwarded.
        if backchannel::is_backchannel_request(settings, &self.request) {
            return self.backchannel_logout(settings, env, true);
        }
        let codec = settings.session_codec(&self.request.scheme);
        let cookie_sent = self.request.has_any_cookie(&settings.session_cookie_names);
        let session = if cookie_sent {
            match codec.open(&self.request.cookie_headers(), env.now) {
                Ok(session) => self.unless_ended(settings, env, session),
                Err(e) => {
                    self.notes
                        .push(Note::Info(format!("session cookie not usable: {e}")));
                    None
                }
            }
        } else {
            None
        };

        if logout::is_logout_request(&settings.config, &self.request) {
            return self.begin_logout(settings, env, session);
        }

        let audience = settings.config.session_audience.as_str();
        if settings.config.enabled(AuthMethod::Session) {
            if let Some(session) = session.filter(|s| s.data(audience).is_some()) {
                return self.session_with_idp_check(settings, env, session);
            }
        }

        // Programs: a bearer token, a refresh token, then their own credentials.
        let config = &settings.config;
        if [
            AuthMethod::Bearer,
            AuthMethod::Introspection,
            AuthMethod::Userinfo,
        ]
        .into_iter()
        .any(|m| config.enabled(m))
        {
            if let Some(found) = bearer::find_token(settings, &self.request) {
                return self.bearer(settings, env, found);
            }
        }
        if config.enabled(AuthMethod::RefreshToken) {
            if let Some((refresh_token, used)) =
                refresh_param::find_refresh_token(settings, &self.request)
            {
                return self.grant(
                    settings,
                    env,
                    vec![Grant::RefreshToken {
                        refresh_token,
                        used,
                    }],
                );
            }
        }
        let mut grants = Vec::new();
        if config.enabled(AuthMethod::Password) {
            grants.extend(password::find_credentials(settings, &self.request).map(Grant::Password));
        }
        if config.enabled(AuthMethod::ClientCredentials) {
            grants.extend(
                client_credentials::find_credentials(settings, &self.request)
                    .map(Grant::ClientCredentials),
            );
        }
        if !grants.is_empty() {
            return self.grant(settings, env, grants);
        }

        if settings.config.enabled(AuthMethod::AuthorizationCode) {
            return self.authorization_code(settings, env);
        }

        let destroy = cookie_sent;
        self.reject(
            settings,
            Rejection::new(
                "no_credentials",
                "no suitable authorization credentials were provided",
            ),
            destroy,
        )
    }

    /// Verifies the tokens of a fresh login, then lets the request through with a new session
    /// (see `authorize`).
    fn complete_login(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        tokens: TokenSet,
        origin: LoginOrigin,
        may_refetch_keys: bool,
    ) -> Step {
        let Some(provider) = self.provider.as_ref() else {
            return self.discover(settings);
        };
        let verified =
            match verify::verify_login(settings, provider, &tokens, origin.nonce(), env.now) {
                Ok(verified) => verified,
                Err(e)
                    if e.is_unknown_key()
                        && may_refetch_keys
                        && env.shared.claim_jwks_refetch(env.now) =>
                {
                    let url =
                        Provider::jwks_endpoint(settings, &provider.metadata).map(str::to_string);
                    if let Some(Ok(request)) = url.map(|u| outbound::get(settings, &u)) {
                        self.notes
                            .push(Note::Info(format!("{e}: refetching the JWKS")));
                        return self.call(request, Waiting::JwksRefetch(tokens, origin));
                    }
                    return self.refuse_login(
                        settings,
                        env,
                        origin,
                        Rejection::new("invalid_token", e.to_string()),
                    );
                }
                Err(e) => {
                    return self.refuse_login(
                        settings,
                        env,
                        origin,
                        Rejection::new("invalid_token", e.to_string()),
                    )
                }
            };
        let expires = tokens::expiry(&tokens, env.now);
        let subject = VerifiedLogin::subject(&verified);
        let (method, ending, used) = match origin {
            LoginOrigin::Grant(login) => {
                self.remember_grant_tokens(settings, env, &login, &tokens);
                (
                    login.grant.method(),
                    Ending::Forward,
                    login.grant.used_credential().cloned(),
                )
            }
            LoginOrigin::AuthorizationCode(login) => (
                AuthMethod::AuthorizationCode,
                Ending::CodeLogin(login),
                None,
            ),
        };
        let mut auth = Authorized::new(
            tokens,
            method,
            expires,
            SessionStep::Create { subject },
            ending,
        );
        auth.access_claims = verified.access_token_claims;
        auth.used = used;
        auth.event = Some(Event::Login);
        self.authorize(settings, env, auth)
    }

    /// A login whose tokens failed verification: 401, the way its flow refuses; tokens from
    /// the token cache are asked for again instead.
    fn refuse_login(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        origin: LoginOrigin,
        rejection: Rejection,
    ) -> Step {
        match origin {
            LoginOrigin::Grant(login) if login.from_cache => {
                self.retry_grant_uncached(settings, env, *login)
            }
            LoginOrigin::Grant(_) => self.reject(settings, rejection, false),
            LoginOrigin::AuthorizationCode(login) => {
                self.refuse_callback(settings, rejection, login.clear_cookies)
            }
        }
    }

    // Session authentication.

    fn session_auth(&mut self, settings: &Settings, env: &mut Env, session: Session) -> Step {
        let audience = settings.config.session_audience.clone();
        let Some((tokens, payload)) = TokenSet::from_session(&session, &audience) else {
            return self.reject(
                settings,
                Rejection::new("invalid_session", "the session holds no tokens"),
                true,
            );
        };
        let unmarked = session.notes().tokens_unmarked();
        if !unmarked && token_cache::any_revoked(env.shared, &tokens, env.now) {
            // A copy of a session whose tokens a logout revoked (finding 13.9).
            return self.reject(
                settings,
                Rejection::new(
                    "invalid_token",
                    "the session's tokens were revoked at logout",
                ),
                true,
            );
        }
        session.notes().set_tokens_unmarked();
        let expires = payload.expires;
        if expires != 0 && expires <= env.now {
            let refresh_token = tokens.refresh_token().map(str::to_string);
            return match (
                settings.config.refresh_tokens,
                refresh_token,
                self.provider.is_some(),
            ) {
                (true, Some(refresh_token), true) => {
                    let refresh = SessionRefresh::new(session, tokens, payload, refresh_token);
                    self.refresh_session(settings, env, refresh)
                }
                _ => self.reject(
                    settings,
                    Rejection::new("token_expired", "the access token has expired"),
                    true,
                ),
            };
        }
        let step = SessionStep::Renew(Box::new(session));
        let mut auth = Authorized::new(tokens, AuthMethod::Session, expires, step, Ending::Forward);
        auth.event = Some(Event::SessionHit);
        self.authorize(settings, env, auth)
    }

    // Refusals.

    /// 401; `destroy_session` expires the session cookies the client sent
    /// (unauthorized_destroy_session, on by default in Kong).
    fn reject(&mut self, settings: &Settings, rejection: Rejection, destroy_session: bool) -> Step {
        self.events.push(Event::Rejected(rejection.label));
        self.ends_session |= destroy_session;
        let clear = if destroy_session {
            settings
                .session_codec(&self.request.scheme)
                .clear_carried(&self.request.cookie_headers(), None)
        } else {
            Vec::new()
        };
        Step::Respond(responses::unauthorized(settings, &rejection, clear))
    }

    /// 500 when the host gave no randomness: a session id or login secret drawn from anything
    /// else (a clock, a counter) could repeat across workers (AES-GCM nonce reuse) or be
    /// guessed, so nothing is started. Counted as `rejections_no_randomness`.
    fn no_randomness(&mut self, settings: &Settings) -> Step {
        self.unexpected(
            settings,
            Rejection::new(
                "no_randomness",
                "the host gave no randomness: no session id, state or nonce can be drawn",
            ),
        )
    }

    /// The cookies of `session` saved under the new id `sid`, or the 500 a session that cannot
    /// be written gets (boxed: a `Step` is large, and this is the rare path).
    fn save_session(
        &mut self,
        settings: &Settings,
        codec: &SessionCodec,
        session: &mut Session,
        now: u64,
        sid: [u8; SID_SIZE],
    ) -> Result<Vec<String>, Box<Step>> {
        codec.save(session, now, sid).map_err(|e| {
            Box::new(self.unexpected(settings, Rejection::new("session_save", e.to_string())))
        })
    }

    fn unexpected(&mut self, settings: &Settings, rejection: Rejection) -> Step {
        self.events.push(Event::Rejected(rejection.label));
        Step::Respond(responses::unexpected(settings, &rejection))
    }
}
