//! Logout, exactly as Kong's plugin does it (reference section 2): detection, revocation of the
//! refresh token then the access token (RFC 7009, best-effort), the session cookies expired,
//! then a redirect to the end-session endpoint, to `logout_redirect_uri`, or 204.
//!
//! Only the decisions live here, on the configuration and plain values; the flow that carries
//! a logout out (its calls and their answers) is `flows::engine::logout`.

pub mod detect;
pub mod logout_token;
pub mod revocation;

pub use detect::{is_logout_request, may_need_body};
pub use revocation::{revocation_outcome, Revocation, RevocationOutcome};

use crate::config::Config;
use crate::http::url;
use crate::step::LocalResponse;

/// The tokens to revoke, in Kong's order: the refresh token first, then the access token.
pub fn revocations(
    config: &Config,
    access_token: Option<&str>,
    refresh_token: Option<&str>,
) -> Vec<Revocation> {
    if !config.logout_revoke {
        return Vec::new();
    }
    let mut list = Vec::new();
    if let Some(token) = refresh_token.filter(|_| config.logout_revoke_refresh_token) {
        list.push(Revocation {
            token: token.to_string(),
            hint: "refresh_token",
        });
    }
    if let Some(token) = access_token.filter(|_| config.logout_revoke_access_token) {
        list.push(Revocation {
            token: token.to_string(),
            hint: "access_token",
        });
    }
    list
}

/// The answer that ends a logout: `Cache-Control: no-store`, the expiring session cookies, and
/// a 302 to the end-session endpoint (with `id_token_hint`, `post_logout_redirect_uri` and
/// `client_id` when known), else a 302 to `logout_redirect_uri`, else 204.
pub fn final_response(
    config: &Config,
    end_session_endpoint: Option<&str>,
    id_token: Option<&str>,
    clear_cookies: Vec<String>,
    http10: bool,
) -> LocalResponse {
    let redirect_uri = config.logout_redirect_uri.first().map(String::as_str);
    let location = match end_session_endpoint {
        Some(endpoint) => {
            let mut args: Vec<(&str, &str)> = Vec::new();
            if let Some(hint) = id_token {
                args.push(("id_token_hint", hint));
            }
            if let Some(uri) = redirect_uri {
                args.push(("post_logout_redirect_uri", uri));
            }
            if let Some(client_id) = config.client_id() {
                args.push(("client_id", client_id));
            }
            Some(url::append_query(endpoint, &args))
        }
        None => redirect_uri.map(str::to_string),
    };
    let mut headers = vec![("cache-control".to_string(), "no-store".to_string())];
    if http10 {
        headers.push(("pragma".to_string(), "no-cache".to_string()));
    }
    headers.extend(
        clear_cookies
            .into_iter()
            .map(|c| ("set-cookie".to_string(), c)),
    );
    let (status, reason) = match location {
        Some(location) => {
            headers.push(("location".to_string(), location));
            (302, "logout: redirect")
        }
        None => (204, "logout: no redirect configured"),
    };
    LocalResponse {
        status,
        headers,
        body: Vec::new(),
        reason: reason.to_string(),
    }
}
