//! What the e2e suites share besides the stack itself: stacks with a plugin config, the
//! password login, a browser's code flow login at the IdP's form, reading redirects and what
//! the upstream got, the IdP's events, Kong's 401, and waiting on a condition (never a fixed
//! sleep). Add a helper here when a second suite would need it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::http::{basic, Client, Response};
use super::{Stack, StackOptions};

/// A stack whose plugin config is the base one with `config` over it.
pub fn stack_with(config: Value) -> Stack {
    stack_with_idp(config, Vec::new())
}

/// [`stack_with`], the IdP started with `idp_args` (`--jwt-access-tokens`, ...).
pub fn stack_with_idp(config: Value, idp_args: Vec<&'static str>) -> Stack {
    Stack::start(StackOptions {
        plugin_config: config,
        idp_args,
        ..Default::default()
    })
}

/// The user's scenario: sessions and the password grant, logout at `/logout` by POST with
/// revocation.
pub fn seed_config() -> Value {
    json!({
        "auth_methods": ["session", "password"],
        "logout_uri_suffix": "/logout",
        "logout_methods": ["POST"],
        "logout_revoke": true,
    })
}

/// Logs john in with Basic credentials (the password grant); the client keeps the session
/// cookie. Returns the upstream's answer (the echo of the request it got).
pub fn login(client: &mut Client) -> Response {
    let response = client.request("GET", "/", &[("Authorization", &basic("john", "doe"))], b"");
    assert_eq!(
        response.status,
        200,
        "login failed: {} {:?}",
        response.text(),
        response.headers
    );
    assert!(
        client.cookies.contains_key("session"),
        "no session cookie: {:?}",
        response.headers
    );
    response
}

/// The bearer token the upstream got, from the echo of its request.
pub fn bearer_of(echo: &Value) -> String {
    let authorization = echo["headers"]["authorization"]
        .as_str()
        .expect("an Authorization header upstream");
    authorization
        .strip_prefix("Bearer ")
        .expect("a bearer token upstream")
        .to_string()
}

/// How many requests reached the echo upstream (it logs one line per request).
pub fn upstream_requests(stack: &Stack) -> usize {
    stack
        .echo
        .log_text()
        .lines()
        .filter(|l| l.starts_with("request "))
        .count()
}

/// Kong's 401: the JSON message and a Bearer challenge for the realm.
pub fn assert_unauthorized(response: &Response) {
    assert_eq!(
        response.status,
        401,
        "{} {:?}",
        response.text(),
        response.headers
    );
    assert_eq!(response.json(), json!({"message": "Unauthorized"}));
    let challenge = response
        .header("www-authenticate")
        .expect("WWW-Authenticate");
    assert!(
        challenge.starts_with("Bearer realm=\"127.0.0.1\""),
        "{challenge}"
    );
}

/// The events of `kind` the IdP recorded.
pub fn events_of(stack: &Stack, kind: &str) -> Vec<Value> {
    stack
        .idp_events()
        .into_iter()
        .filter(|e| e["type"] == kind)
        .collect()
}

/// `path?query` of an absolute or relative URL.
pub fn target_of(location: &str) -> String {
    match location.split_once("://") {
        Some((_, rest)) => rest
            .find('/')
            .map(|i| rest[i..].to_string())
            .unwrap_or_else(|| "/".into()),
        None => location.to_string(),
    }
}

/// The query arguments of a URL, decoded.
pub fn query_of(url: &str) -> Vec<(String, String)> {
    let query = url
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or(""))
        .unwrap_or("");
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

pub fn arg(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// The Location of a redirect (asserting it is one).
pub fn location(response: &Response) -> String {
    assert!(
        matches!(response.status, 302 | 303),
        "expected a redirect, got {} {}",
        response.status,
        response.text()
    );
    response
        .header("location")
        .expect("a Location header")
        .to_string()
}

/// A browser: one cookie jar for the gateway, one for the IdP.
pub struct Browser {
    pub app: Client,
    pub idp: Client,
}

impl Browser {
    pub fn new(stack: &Stack) -> Browser {
        Browser {
            app: stack.client(),
            idp: Client::new(&stack.idp_addr()),
        }
    }

    /// Opens a protected page and expects the redirect to the IdP; returns the authorization URL.
    pub fn open_protected(&mut self, target: &str) -> String {
        let response = self.app.get(target);
        assert_eq!(response.status, 302, "{}", response.text());
        assert_eq!(response.header("cache-control"), Some("no-store"));
        assert!(
            self.app.cookies.contains_key("authorization"),
            "no authorization cookie: {:?}",
            response.headers
        );
        location(&response)
    }

    /// At the IdP: the authorization request, the login form with john/doe, the redirect back.
    /// Returns the last IdP response (the redirect to the callback, or the form_post page).
    pub fn sign_in(&mut self, authorization_url: &str) -> Response {
        let response = self.idp.get(&target_of(authorization_url));
        let interaction = target_of(&location(&response));
        assert!(interaction.starts_with("/interaction/"), "{interaction}");
        let form = self.idp.get(&interaction);
        assert_eq!(form.status, 200);
        assert!(
            form.text().contains("name=\"password\""),
            "the login page: {}",
            form.text()
        );
        let login = self.idp.request(
            "POST",
            &format!("{interaction}/login"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"username=john&password=doe",
        );
        let resume = target_of(&location(&login));
        self.idp.get(&resume)
    }

    /// The login up to the IdP's redirect; returns the callback URL.
    pub fn login_until_callback(&mut self, target: &str) -> String {
        let authorization_url = self.open_protected(target);
        location(&self.sign_in(&authorization_url))
    }

    /// The whole login: the callback lands on the page (200); returns the page.
    pub fn login(&mut self, target: &str) -> Response {
        let callback = self.login_until_callback(target);
        let landed = self.app.get(&target_of(&callback));
        assert_eq!(landed.status, 200, "{}", landed.text());
        landed
    }
}

/// Seconds since the epoch, as the hosts read their clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
}

pub use test_http_client::wait_until;

/// Waits until the clock (whole seconds, as the hosts compare times) has reached `epoch`.
pub fn wait_for_second(epoch: u64) {
    let limit = Duration::from_secs(epoch.saturating_sub(unix_now()) + 2);
    assert!(
        wait_until(limit, || unix_now() >= epoch),
        "the clock never reached {epoch}"
    );
}

/// Waits until the host's log has a line with `text`.
pub fn wait_for_log(stack: &Stack, text: &str) {
    let logged = wait_until(Duration::from_secs(10), || {
        stack.gateway_log().contains(text)
    });
    assert!(
        logged,
        "the gateway never logged {text:?}:\n{}",
        stack.gateway_log()
    );
}
