//! The filter's configuration: the `config` object of Kong's openid-connect plugin.
//!
//! Users give the same JSON they give Kong (Kong passes it cjson-encoded, Envoy as a string).
//! [`Config::parse`] keeps Kong's field names, types, value sets and defaults. Every other field
//! of Kong 3.10's schema is recognised ([`kong_fields`]): absent, null or at Kong's default it is
//! accepted and ignored, as users paste the whole config Kong's Admin API shows; any other value
//! is refused as not supported yet. Problems are all reported at once, each naming its field.
//!
//! One field is ours: `dispatch_clusters`, for hosts (Envoy) whose HTTP calls go to named
//! clusters rather than to the authority of the identity provider's URL.
//!
//! The JSON Schema Kong loads beside the filter (`filter-config/openid_connect.meta.json`) is
//! generated from these types by [`schema::kong_config_schema`].

mod checks;
mod defaults;
mod error;
pub mod kong_fields;
mod parse;
pub mod schema;
mod types;
mod value;

#[cfg(test)]
mod api_clients_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use error::{ConfigError, FieldProblem, Problem};
pub use schema::{kong_config_schema, kong_filter_meta};
pub use types::{
    AuthMethod, ClientAuthMethod, HttpMethod, IdpCheckFailure, LoginAction, LoginRedirectMode,
    LoginToken, ParamType, ResponseMode, SameSite,
};

/// The openid-connect plugin configuration, as far as this filter implements it.
///
/// Field names are Kong's. Arrays that Kong leaves null are empty here; strings Kong leaves
/// null are `None`. Durations are whole seconds unless a field says otherwise.
///
/// Each field is declared once, here: its doc comment, type and default
/// (`#[serde(default = "defaults::name")]` when Kong's default is not null) are what the
/// parser reads (the derived `Deserialize`, with Kong's rules for each type: `value.rs`), what
/// the JSON Schema and the configuration reference show. A new field needs a line here, its
/// default in `defaults.rs` if it has one, and a check in `checks.rs` if its type does not say
/// everything.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Config {
    // --- The identity provider -------------------------------------------------------------
    /// The discovery endpoint or the issuer identifier (an http or https URL). Without
    /// `/.well-known/openid-configuration` at its end, that path is appended for discovery.
    pub issuer: String,
    /// How long (seconds) discovered documents are used before they are fetched again.
    #[serde(default = "defaults::rediscovery_lifetime")]
    pub rediscovery_lifetime: u64,
    /// Network timeout for every call to the identity provider, in milliseconds.
    #[serde(default = "defaults::timeout")]
    pub timeout: u64,
    /// The token endpoint; overrides the discovered one.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// The revocation endpoint; overrides the discovered one.
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// The end session endpoint (RP-initiated logout); overrides the discovered one.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    /// The JWKS endpoint; overrides the discovered `jwks_uri` (a Kong 3.14 field).
    #[serde(default)]
    pub jwks_endpoint: Option<String>,
    /// Not a Kong field: where the filter sends its calls to the identity provider. Maps an
    /// authority of the provider's URLs (`host:port`, or `host` when the URL has no port) to the
    /// name the host's HTTP call takes: an Envoy cluster name. An authority without an entry is
    /// itself the target, which is what Kong expects.
    #[serde(default)]
    pub dispatch_clusters: BTreeMap<String, String>,

    // --- The client ------------------------------------------------------------------------
    /// The client id the filter uses at the identity provider. Kong's multi-client arrays are
    /// not supported yet: at most one value.
    #[serde(default)]
    pub client_id: Vec<String>,
    /// The client secret (at most one value, as `client_id`).
    #[serde(default)]
    pub client_secret: Vec<String>,
    /// The client authentication method (at most one value). Unset: each endpoint's own method,
    /// else what discovery advertises, else `client_secret_basic` when a secret is set.
    #[serde(default)]
    pub client_auth: Vec<ClientAuthMethod>,
    /// The client authentication method at the token endpoint; unset: `client_auth`.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<ClientAuthMethod>,
    /// The client authentication method at the revocation endpoint; unset: `client_auth`.
    #[serde(default)]
    pub revocation_endpoint_auth_method: Option<ClientAuthMethod>,
    /// The client authentication method at the introspection endpoint; unset: `client_auth`.
    #[serde(default)]
    pub introspection_endpoint_auth_method: Option<ClientAuthMethod>,

    // --- Credentials and grants ------------------------------------------------------------
    /// The credential types and grants to accept. Of Kong's nine this filter implements all
    /// but `kong_oauth2` (which checks tokens of Kong's oauth2 plugin); Kong's default (all
    /// nine) enables the other eight.
    #[serde(default = "defaults::auth_methods")]
    pub auth_methods: Vec<AuthMethod>,
    /// Where to look for username and password, in this order.
    #[serde(default = "defaults::password_param_type")]
    #[schemars(schema_with = "schema::grant_locations")]
    pub password_param_type: Vec<ParamType>,
    /// The scopes asked for at the token endpoint.
    #[serde(default = "defaults::scopes")]
    pub scopes: Vec<String>,
    /// The audience asked for at the token endpoint.
    #[serde(default)]
    pub audience: Vec<String>,
    /// Refresh expired access tokens of a session with its refresh token.
    #[serde(default = "defaults::refresh_tokens")]
    pub refresh_tokens: bool,
    /// Remove the credentials used for authentication from the proxied request.
    #[serde(default)]
    pub hide_credentials: bool,

    // --- Session ---------------------------------------------------------------------------
    /// The secret session cookies are encrypted and authenticated with. Kong generates a random
    /// one per issuer when unset; a filter cannot share such a secret across its workers and
    /// instances, so set it.
    #[serde(default)]
    pub session_secret: Option<String>,
    /// The session cookie name.
    #[serde(default = "defaults::session_cookie_name")]
    pub session_cookie_name: String,
    /// The session cookie `Path`.
    #[serde(default = "defaults::session_cookie_path")]
    pub session_cookie_path: String,
    /// The session cookie `Domain`; unset: none (the cookie goes to the request's host only).
    #[serde(default)]
    pub session_cookie_domain: Option<String>,
    /// The session cookie `SameSite` (`Default` sends none).
    #[serde(default = "defaults::session_cookie_same_site")]
    pub session_cookie_same_site: SameSite,
    /// Mark the session cookie `HttpOnly`.
    #[serde(default = "defaults::session_cookie_http_only")]
    pub session_cookie_http_only: bool,
    /// Mark the session cookie `Secure`; unset: when the request came over https.
    #[serde(default)]
    pub session_cookie_secure: Option<bool>,
    /// How long (seconds) a session may be used before it must be renewed; 0 disables.
    #[serde(default = "defaults::session_rolling_timeout")]
    pub session_rolling_timeout: u64,
    /// How long (seconds) a session may be renewed before logging in again; 0 disables.
    #[serde(default = "defaults::session_absolute_timeout")]
    pub session_absolute_timeout: u64,
    /// How long (seconds) a session may stay unused; 0 disables.
    #[serde(default = "defaults::session_idling_timeout")]
    pub session_idling_timeout: u64,
    /// The session audience: the application the session belongs to.
    #[serde(default = "defaults::session_audience")]
    pub session_audience: String,
    /// Not a Kong field (Kong never asks the provider about a cookie session): confirm at the
    /// identity provider, at most every this many seconds per session and node, that the
    /// session is still alive there (introspection of its refresh token, else of its access
    /// token, else a refresh); a session the provider no longer knows ends as at logout. This
    /// is how a logout on one node, or at the provider, reaches every node. Null or 0: never
    /// (Kong's behaviour).
    #[serde(default)]
    pub session_idp_check_interval: Option<u64>,
    /// Not a Kong field: what a due session check does when the provider cannot answer (down,
    /// timeout, 5xx): `grace` serves the session until `session_idp_check_grace` seconds have
    /// passed since its last good confirmation, then refuses it (401) until the provider
    /// answers again; `refuse` refuses it at once. Neither ends the session.
    #[serde(default = "defaults::session_idp_check_failure")]
    pub session_idp_check_failure: IdpCheckFailure,
    /// Not a Kong field: seconds a session is served without a good confirmation while the
    /// provider cannot answer, with `session_idp_check_failure=grace`.
    #[serde(default = "defaults::session_idp_check_grace")]
    pub session_idp_check_grace: u64,

    // --- Logout ----------------------------------------------------------------------------
    /// A request path ending with this suffix logs out.
    #[serde(default)]
    pub logout_uri_suffix: Option<String>,
    /// Not a Kong field (Kong has no back-channel logout): a POST to a path ending with this
    /// suffix is an OpenID Connect Back-Channel Logout 1.0 request from the identity provider
    /// (a `logout_token` form argument); the sessions it names end on this node at once.
    /// Absent (null): no back-channel logout endpoint, as in Kong.
    #[serde(default)]
    pub logout_backchannel_uri_suffix: Option<String>,
    /// The request methods that can log out.
    #[serde(default = "defaults::logout_methods")]
    pub logout_methods: Vec<HttpMethod>,
    /// A request with this query argument logs out.
    #[serde(default)]
    pub logout_query_arg: Option<String>,
    /// A request with this body argument logs out (checked only with `logout_uri_suffix`, as Kong does).
    #[serde(default)]
    pub logout_post_arg: Option<String>,
    /// Revoke the session's tokens at the identity provider on logout.
    #[serde(default)]
    pub logout_revoke: bool,
    /// With `logout_revoke`: revoke the access token.
    #[serde(default = "defaults::logout_revoke_access_token")]
    pub logout_revoke_access_token: bool,
    /// With `logout_revoke`: revoke the refresh token.
    #[serde(default = "defaults::logout_revoke_refresh_token")]
    pub logout_revoke_refresh_token: bool,
    /// Where to send the client after logout (at most one value, as `client_id`).
    #[serde(default)]
    pub logout_redirect_uri: Vec<String>,
    /// The name of the token parameter in revocation requests.
    #[serde(default = "defaults::revocation_token_param_name")]
    pub revocation_token_param_name: String,

    // --- Authorization code flow (browser login) -------------------------------------------
    /// The authorization endpoint; overrides the discovered one.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Where the identity provider sends the browser back (at most one value, as `client_id`);
    /// unset: the URL of the request that started the login, without its query.
    #[serde(default)]
    pub redirect_uri: Vec<String>,
    /// How the identity provider returns the authorization response: `query` or `form_post`.
    #[serde(default = "defaults::response_mode")]
    pub response_mode: ResponseMode,
    /// Use PKCE (S256); unset: when discovery advertises `code_challenge_methods_supported`.
    #[serde(default)]
    pub require_proof_key_for_code_exchange: Option<bool>,
    /// Check that the ID token's `nonce` is the one sent with the authorization request.
    #[serde(default = "defaults::verify_nonce")]
    pub verify_nonce: bool,
    /// After the login: proxy the callback request (`upstream`), answer with the tokens
    /// (`response`), or redirect (`redirect`, to `login_redirect_uri` or the original URL).
    #[serde(default = "defaults::login_action")]
    pub login_action: LoginAction,
    /// The tokens `login_action` `response` and `redirect` hand to the client.
    #[serde(default = "defaults::login_tokens")]
    pub login_tokens: Vec<LoginToken>,
    /// Where `login_action=redirect` puts the tokens: the URL `fragment` or its `query`.
    #[serde(default = "defaults::login_redirect_mode")]
    pub login_redirect_mode: LoginRedirectMode,
    /// Where `login_action=redirect` sends the client (at most one value, as `client_id`);
    /// unset: the URL that started the login.
    #[serde(default)]
    pub login_redirect_uri: Vec<String>,
    /// Give the original request's query arguments back after the login.
    #[serde(default)]
    pub preserve_query_args: bool,
    /// The name of the cookie that carries the authorization request's state to the callback.
    #[serde(default = "defaults::authorization_cookie_name")]
    pub authorization_cookie_name: String,
    /// The authorization cookie `Path`.
    #[serde(default = "defaults::authorization_cookie_path")]
    pub authorization_cookie_path: String,
    /// The authorization cookie `Domain`; unset: none.
    #[serde(default)]
    pub authorization_cookie_domain: Option<String>,
    /// The authorization cookie `SameSite` (`Default` sends none).
    #[serde(default = "defaults::authorization_cookie_same_site")]
    pub authorization_cookie_same_site: SameSite,
    /// Mark the authorization cookie `HttpOnly`.
    #[serde(default = "defaults::authorization_cookie_http_only")]
    pub authorization_cookie_http_only: bool,
    /// Mark the authorization cookie `Secure`; unset: when the request came over https.
    #[serde(default)]
    pub authorization_cookie_secure: Option<bool>,
    /// How long (seconds) a started login may take before its authorization cookie expires.
    #[serde(default = "defaults::authorization_rolling_timeout")]
    pub authorization_rolling_timeout: u64,

    // --- Token verification ----------------------------------------------------------------
    /// Leeway (seconds) for the `exp`, `nbf`, `iat` and `auth_time` claims.
    #[serde(default)]
    pub leeway: u64,
    /// Verify token signatures.
    #[serde(default = "defaults::verify_signature")]
    pub verify_signature: bool,
    /// Verify the standard claims of tokens.
    #[serde(default = "defaults::verify_claims")]
    pub verify_claims: bool,
    /// The issuers (`iss`) tokens may come from; unset: the discovered issuer.
    #[serde(default)]
    pub issuers_allowed: Vec<String>,
    /// Audiences the access token (or its introspection) must carry, read from
    /// `audience_claim`. Each entry is a space-separated list that must all be present; one
    /// matching entry is enough. Missing: 403 `insufficient_scope`.
    #[serde(default)]
    pub audience_required: Vec<String>,
    /// The path of the audience claim (more than one name: a claim nested in objects).
    #[serde(default = "defaults::audience_claim")]
    pub audience_claim: Vec<String>,
    /// Scopes the access token (or its introspection) must carry, read from `scopes_claim`;
    /// entries as in `audience_required`.
    #[serde(default)]
    pub scopes_required: Vec<String>,
    /// The path of the scopes claim (a space-separated string or an array).
    #[serde(default = "defaults::scopes_claim")]
    pub scopes_claim: Vec<String>,
    /// Groups the access token (or its introspection) must carry, read from `groups_claim`;
    /// entries as in `audience_required`.
    #[serde(default)]
    pub groups_required: Vec<String>,
    /// The path of the groups claim.
    #[serde(default = "defaults::groups_claim")]
    pub groups_claim: Vec<String>,
    /// Roles the access token (or its introspection) must carry, read from `roles_claim`;
    /// entries as in `audience_required`.
    #[serde(default)]
    pub roles_required: Vec<String>,
    /// The path of the roles claim.
    #[serde(default = "defaults::roles_claim")]
    pub roles_claim: Vec<String>,
    /// Accept tokens signed with HS256/384/512, verified with the client secret (never with a
    /// key of the JWKS).
    #[serde(default)]
    pub enable_hs_signatures: bool,

    // --- API clients: bearer tokens, introspection, userinfo, grants -----------------------
    /// Where to look for a bearer token, in this order: `header` (`Authorization: Bearer`,
    /// then `access-token`, then `x-access-token`), `cookie` (`bearer_token_cookie_name`),
    /// `query` and `body` (the `access_token` argument).
    #[serde(default = "defaults::bearer_token_param_type")]
    pub bearer_token_param_type: Vec<ParamType>,
    /// The cookie a bearer token may come in (with `cookie` in `bearer_token_param_type`).
    #[serde(default)]
    pub bearer_token_cookie_name: Option<String>,
    /// Where to look for the client id and secret of the client credentials grant, in this
    /// order: `header` (`Authorization: Basic`, with `Grant-Type` absent or
    /// `client_credentials`), `query` and `body` (`client_id` and `client_secret`).
    #[serde(default = "defaults::password_param_type")]
    #[schemars(schema_with = "schema::grant_locations")]
    pub client_credentials_param_type: Vec<ParamType>,
    /// The name of the argument or header a refresh token comes in (the `refresh_token`
    /// method); unset: the method finds nothing.
    #[serde(default)]
    pub refresh_token_param_name: Option<String>,
    /// Where to look for the refresh token, in this order.
    #[serde(default = "defaults::password_param_type")]
    #[schemars(schema_with = "schema::grant_locations")]
    pub refresh_token_param_type: Vec<ParamType>,
    /// The introspection endpoint (RFC 7662); overrides the discovered one.
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    /// The `token_type_hint` sent with introspection requests.
    #[serde(default = "defaults::introspection_hint")]
    pub introspection_hint: String,
    /// Refuse tokens whose introspection does not say `"active": true`.
    #[serde(default = "defaults::introspection_check_active")]
    pub introspection_check_active: bool,
    /// Also introspect JWT bearer tokens that verified (to catch revoked ones).
    #[serde(default)]
    pub introspect_jwt_tokens: bool,
    /// The name of the token parameter in introspection requests.
    #[serde(default = "defaults::introspection_token_param_name")]
    pub introspection_token_param_name: String,
    /// The userinfo endpoint; overrides the discovered one.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// The auth methods that never create a session cookie.
    #[serde(default)]
    pub disable_session: Vec<AuthMethod>,

    // --- Caching (in the host's shared data, seen by every worker) --------------------------
    /// Cache the tokens of the password, client credentials and refresh token grants, keyed by
    /// a hash of the issuer, the grant and its credentials; entries expire with the token.
    #[serde(default = "defaults::cache_tokens")]
    pub cache_tokens: bool,
    /// A salt added to the token cache key.
    #[serde(default)]
    pub cache_tokens_salt: Option<String>,
    /// Add the configured `scopes` to the token cache key.
    #[serde(default)]
    pub token_cache_key_include_scope: bool,
    /// Cache introspection results until `cache_ttl` or the token's `exp`, whichever is first.
    #[serde(default = "defaults::cache_introspection")]
    pub cache_introspection: bool,
    /// Cache userinfo answers for `cache_ttl` seconds.
    #[serde(default = "defaults::cache_user_info")]
    pub cache_user_info: bool,
    /// The longest time (seconds) a cached entry is used; 0: no limit other than the token's
    /// expiry. Also the lifetime of results that carry no expiry.
    #[serde(default = "defaults::cache_ttl")]
    pub cache_ttl: u64,

    // --- Upstream headers ------------------------------------------------------------------
    /// The header that carries the access token upstream: `authorization:bearer` sends
    /// `Authorization: Bearer <token>`; another value is a header name; null sends none.
    #[serde(default = "defaults::upstream_access_token_header")]
    pub upstream_access_token_header: Option<String>,
    /// The header that carries the id token upstream.
    #[serde(default)]
    pub upstream_id_token_header: Option<String>,
    /// Top-level claims sent upstream, each in the header of the same index in `upstream_headers_names`.
    #[serde(default)]
    pub upstream_headers_claims: Vec<String>,
    /// The header names for `upstream_headers_claims`.
    #[serde(default)]
    pub upstream_headers_names: Vec<String>,
    /// The header that carries the introspection result upstream (base64 of its JSON).
    #[serde(default)]
    pub upstream_introspection_header: Option<String>,
    /// The header that carries the userinfo answer upstream (base64 of its JSON).
    #[serde(default)]
    pub upstream_user_info_header: Option<String>,

    // --- Error responses -------------------------------------------------------------------
    /// The message of 401 responses.
    #[serde(default = "defaults::unauthorized_error_message")]
    pub unauthorized_error_message: String,
    /// Redirect refused requests here instead of answering 401 (at most one value, as `client_id`).
    #[serde(default)]
    pub unauthorized_redirect_uri: Vec<String>,
    /// The message of 403 responses.
    #[serde(default = "defaults::forbidden_error_message")]
    pub forbidden_error_message: String,
    /// Add the error's detail to failure responses.
    #[serde(default)]
    pub display_errors: bool,
    /// Send the RFC 6750 error code in `WWW-Authenticate`.
    #[serde(default = "defaults::expose_error_code")]
    pub expose_error_code: bool,
}

impl Config {
    /// Parses and checks a configuration (a JSON object), reporting every problem at once.
    pub fn parse(json: &[u8]) -> Result<Config, ConfigError> {
        parse::parse(json)
    }

    /// Whether requests may authenticate with `method`: listed in `auth_methods` and
    /// implemented by this filter.
    pub fn enabled(&self, method: AuthMethod) -> bool {
        method.is_supported() && self.auth_methods.contains(&method)
    }

    /// The client id, if one is configured.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.first().map(String::as_str)
    }

    /// The client secret, if one is configured.
    pub fn client_secret(&self) -> Option<&str> {
        self.client_secret.first().map(String::as_str)
    }

    /// The URL to send the client to after logout, if one is configured.
    pub fn logout_redirect_uri(&self) -> Option<&str> {
        self.logout_redirect_uri.first().map(String::as_str)
    }

    /// Where the identity provider sends the browser back, if one is configured.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.redirect_uri.first().map(String::as_str)
    }

    /// Where `login_action=redirect` sends the client, if one is configured.
    pub fn login_redirect_uri(&self) -> Option<&str> {
        self.login_redirect_uri.first().map(String::as_str)
    }

    /// Where refused requests are redirected, if one is configured.
    pub fn unauthorized_redirect_uri(&self) -> Option<&str> {
        self.unauthorized_redirect_uri.first().map(String::as_str)
    }

    /// The target of an HTTP call to `authority` (`host[:port]` as in the URL) over `scheme`:
    /// the cluster `dispatch_clusters` maps it to, else the authority itself (Kong's rule).
    /// An entry written with the scheme's default port matches a URL without a port, and the
    /// other way round.
    pub fn dispatch_target<'a>(&'a self, scheme: &str, authority: &'a str) -> &'a str {
        if let Some(cluster) = self.dispatch_clusters.get(authority) {
            return cluster;
        }
        let default_port = if scheme.eq_ignore_ascii_case("https") {
            "443"
        } else {
            "80"
        };
        let (host, port) = split_authority(authority);
        let alternative = match port {
            Some(port) if port == default_port => host.to_string(),
            Some(_) => return authority,
            None => format!("{authority}:{default_port}"),
        };
        self.dispatch_clusters
            .get(&alternative)
            .map_or(authority, String::as_str)
    }
}

/// `host[:port]` split at the port, if there is one (`[::1]:8080` has one, `[::1]` none).
fn split_authority(authority: &str) -> (&str, Option<&str>) {
    if authority.ends_with(']') {
        return (authority, None);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (host, Some(port))
        }
        _ => (authority, None),
    }
}

impl fmt::Debug for Config {
    /// The configuration as JSON with the secrets blanked, so that it can be logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = serde_json::to_value(self).map_err(|_| fmt::Error)?;
        if let Some(fields) = shown.as_object_mut() {
            for secret in ["client_secret", "session_secret"] {
                if fields.get(secret).is_some_and(|v| !v.is_null()) {
                    fields.insert(
                        secret.to_string(),
                        serde_json::Value::String("<redacted>".to_string()),
                    );
                }
            }
        }
        write!(f, "Config {shown}")
    }
}
