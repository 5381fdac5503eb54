//! How every successful authentication ends, whatever the method: the authorization
//! requirements (403 `insufficient_scope` when the token is valid but lacks them), the data the
//! upstream headers need (an introspection or userinfo call, through the shared cache), the
//! session (renewed, replaced, created, or none), then the request goes upstream (or the code
//! flow ends as `login_action` says).

use serde_json::{Map, Value};

use crate::config::AuthMethod;
use crate::flows::authorization_code::{finish, CodeLogin};
use crate::flows::required_claims::{self, ClaimSources, Verdict};
use crate::flows::responses::{self, Rejection};
use crate::flows::settings::Settings;
use crate::flows::token_lookup::{self, LookupError, LookupKind};
use crate::flows::tokens::{self, TokenSet};
use crate::flows::upstream::{self, Extras};
use crate::flows::used_credential::UsedCredential;
use crate::flows::verify;
use crate::session::{ended, Session, SessionPayload};
use crate::step::{CallResponse, Step};
use crate::token;

use super::{Env, Event, Note, RequestFlow, Waiting};

/// An authenticated request on its way out.
pub(in crate::flows) struct Authorized {
    pub tokens: TokenSet,
    /// The method that authenticated this request.
    pub method: AuthMethod,
    /// When the access token expires (epoch seconds, 0: unknown), kept in a new session.
    pub expires: u64,
    /// The access token's claims, when it is a JWT (verified, or read from our own session).
    pub access_claims: Option<Map<String, Value>>,
    pub introspection: Lookup,
    pub userinfo: Lookup,
    pub session: SessionStep,
    pub ending: Ending,
    /// Where the credential was, for `hide_credentials`.
    pub used: Option<UsedCredential>,
    /// What to count once the request is let through.
    pub event: Option<Event>,
}

/// What happens to the session.
pub(in crate::flows) enum SessionStep {
    /// The request came with a valid session: renew its cookie when due.
    Renew(Box<Session>),
    /// The session's tokens were refreshed: save it with the new ones.
    Replace {
        session: Box<Session>,
        subject: Option<String>,
        /// The payload the session had: all but its tokens is kept.
        kept: SessionPayload,
    },
    /// A fresh authentication: a new session, unless `session` is not an enabled method or
    /// the method is in `disable_session`.
    Create { subject: Option<String> },
}

/// How the request ends.
pub(in crate::flows) enum Ending {
    Forward,
    CodeLogin(Box<CodeLogin>),
}

impl Authorized {
    pub(super) fn new(
        tokens: TokenSet,
        method: AuthMethod,
        expires: u64,
        session: SessionStep,
        ending: Ending,
    ) -> Authorized {
        Authorized {
            tokens,
            method,
            expires,
            access_claims: None,
            introspection: Lookup::NotAsked,
            userinfo: Lookup::NotAsked,
            session,
            ending,
            used: None,
            event: None,
        }
    }

    /// Reads the access token's claims when it is a JWT whose signature was checked before
    /// (at login) or that comes from the filter's own encrypted session.
    pub(super) fn with_trusted_access_claims(mut self) -> Authorized {
        if self.access_claims.is_none() && token::looks_like_jwt(self.tokens.access_token()) {
            self.access_claims = token::decode_unverified(self.tokens.access_token())
                .ok()
                .map(|(_, claims)| claims);
        }
        self
    }
}

impl RequestFlow {
    pub(super) fn authorize(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        mut auth: Authorized,
    ) -> Step {
        let config = &settings.config;
        if required_claims::any_configured(config) {
            auth = auth.with_trusted_access_claims();
            let sources = ClaimSources {
                introspection: auth.introspection.found(),
                access_token: auth.access_claims.as_ref(),
            };
            match required_claims::check(config, sources, auth.introspection.was_asked()) {
                Verdict::Allowed => {}
                Verdict::NeedsIntrospection => {
                    return self.look_up_for(settings, env, auth, LookupKind::Introspection)
                }
                Verdict::Denied(why) => {
                    return self.forbid(settings, Rejection::new("insufficient_scope", why))
                }
            }
        }
        if config.upstream_introspection_header.is_some() && !auth.introspection.was_asked() {
            return self.look_up_for(settings, env, auth, LookupKind::Introspection);
        }
        if config.upstream_user_info_header.is_some() && !auth.userinfo.was_asked() {
            return self.look_up_for(settings, env, auth, LookupKind::Userinfo);
        }
        self.let_through(settings, env, auth)
    }

    /// Asks the provider (or the cache) before deciding; a failed lookup leaves the data out.
    fn look_up_for(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        mut auth: Authorized,
        kind: LookupKind,
    ) -> Step {
        let Some(provider) = self.provider.clone() else {
            return self.discover(settings);
        };
        let token = auth.tokens.access_token().to_string();
        if let Some(answer) =
            token_lookup::cached(settings, env.shared, &provider, kind, &token, env.now)
        {
            return self.with_lookup(settings, env, auth, kind, Ok(answer));
        }
        match token_lookup::request(settings, &provider, kind, &token) {
            Ok(request) => self.call(request, Waiting::Enrich(Box::new(auth), kind)),
            Err(e) => {
                *auth.lookup_mut(kind) = Lookup::Failed;
                self.notes
                    .push(Note::Info(format!("{e}: going on without it")));
                self.authorize(settings, env, auth)
            }
        }
    }

    pub(super) fn on_enrich(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        response: CallResponse,
        auth: Authorized,
        kind: LookupKind,
    ) -> Step {
        let Some(provider) = self.provider.clone() else {
            return self.discover(settings);
        };
        let answer = token_lookup::answer(
            settings,
            env.shared,
            &provider,
            kind,
            auth.tokens.access_token(),
            &response,
            env.now,
        );
        self.with_lookup(settings, env, auth, kind, answer)
    }

    fn with_lookup(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        mut auth: Authorized,
        kind: LookupKind,
        answer: Result<Map<String, Value>, LookupError>,
    ) -> Step {
        let outcome = match (kind, answer) {
            (LookupKind::Userinfo, Ok(claims))
                if !verify::userinfo_subject_matches(&auth.tokens, &claims) =>
            {
                self.notes.push(Note::Warn(
                    "the userinfo answer's sub is not the ID token's: not used".into(),
                ));
                Lookup::Failed
            }
            (_, Ok(answer)) => Lookup::Found(answer),
            (_, Err(e)) => {
                self.notes
                    .push(Note::Info(format!("{e}: going on without it")));
                Lookup::Failed
            }
        };
        *auth.lookup_mut(kind) = outcome;
        self.authorize(settings, env, auth)
    }

    /// The session step, then the request goes on.
    fn let_through(&mut self, settings: &Settings, env: &mut Env, auth: Authorized) -> Step {
        let Authorized {
            tokens,
            method,
            expires,
            introspection,
            userinfo,
            session,
            ending,
            used,
            event,
            ..
        } = auth;
        let config = &settings.config;
        let codec = settings.session_codec(&self.request.scheme);
        let cookies = match session {
            SessionStep::Renew(mut session) => {
                let Some(sid) = (env.random)() else {
                    return self.no_randomness(settings);
                };
                match codec.refresh(&mut session, env.now, sid) {
                    Ok(cookies) => cookies.unwrap_or_default(),
                    Err(e) => {
                        self.notes
                            .push(Note::Warn(format!("session renewal failed: {e}")));
                        Vec::new()
                    }
                }
            }
            SessionStep::Replace {
                mut session,
                subject,
                kept,
            } => {
                let expires = tokens::expiry(&tokens, env.now);
                kept.with_tokens(tokens.fields().clone(), expires).store(
                    &mut session,
                    &config.session_audience,
                    subject,
                );
                let Some(sid) = (env.random)() else {
                    return self.no_randomness(settings);
                };
                match self.save_session(settings, codec, &mut session, env.now, sid) {
                    Ok(cookies) => cookies,
                    Err(refused) => return *refused,
                }
            }
            SessionStep::Create { subject } => {
                if !config.enabled(AuthMethod::Session) || config.disable_session.contains(&method)
                {
                    Vec::new()
                } else {
                    let Some(sid) = (env.random)() else {
                        return self.no_randomness(settings);
                    };
                    let mut session = codec.start(env.now);
                    let login_id = ended::new_login_id(&sid);
                    SessionPayload::new(tokens.fields().clone(), expires, method, Some(login_id))
                        .store(&mut session, &config.session_audience, subject);
                    match self.save_session(settings, codec, &mut session, env.now, sid) {
                        Ok(cookies) => cookies,
                        Err(refused) => return *refused,
                    }
                }
            }
        };
        if let Some(event) = event {
            self.events.push(event);
        }
        let extras = Extras {
            introspection: introspection.found(),
            userinfo: userinfo.found(),
            used_credential: used.as_ref(),
        };
        match ending {
            Ending::Forward => {
                let mut forward = upstream::forward_with(settings, &self.request, &tokens, &extras);
                forward
                    .add_response_headers
                    .extend(cookies.into_iter().map(|c| ("set-cookie".to_string(), c)));
                Step::Forward(forward)
            }
            Ending::CodeLogin(login) => {
                let mut step = finish::finish(settings, &self.request, &tokens, *login, cookies);
                if let Step::Forward(forward) = &mut step {
                    // The code flow builds its own edits; add what only lookups provide.
                    forward
                        .set_request_headers
                        .extend(upstream::document_headers(settings, &extras));
                }
                step
            }
        }
    }

    /// 403 `insufficient_scope`; the session the client sent is destroyed (Kong's
    /// `forbidden_destroy_session`, on by default).
    fn forbid(&mut self, settings: &Settings, rejection: Rejection) -> Step {
        self.events.push(Event::Rejected(rejection.label));
        self.ends_session = true;
        let clear = if self.request.has_any_cookie(&settings.session_cookie_names) {
            settings.session_codec(&self.request.scheme).clear(None)
        } else {
            Vec::new()
        };
        Step::Respond(responses::forbidden(settings, &rejection, clear))
    }
}

/// What asking the provider about the access token (introspection, userinfo) gave.
pub(in crate::flows) enum Lookup {
    /// Not asked (yet).
    NotAsked,
    /// Asked, and nothing usable came back: the request goes on without it.
    Failed,
    Found(Map<String, Value>),
}

impl Lookup {
    /// An answer the request came with (a bearer token's introspection), or none yet.
    pub(super) fn from_answer(answer: Option<Map<String, Value>>) -> Lookup {
        answer.map_or(Lookup::NotAsked, Lookup::Found)
    }

    pub(super) fn was_asked(&self) -> bool {
        !matches!(self, Lookup::NotAsked)
    }

    pub(super) fn found(&self) -> Option<&Map<String, Value>> {
        match self {
            Lookup::Found(answer) => Some(answer),
            Lookup::NotAsked | Lookup::Failed => None,
        }
    }
}

impl Authorized {
    fn lookup_mut(&mut self, kind: LookupKind) -> &mut Lookup {
        match kind {
            LookupKind::Introspection => &mut self.introspection,
            LookupKind::Userinfo => &mut self.userinfo,
        }
    }
}
