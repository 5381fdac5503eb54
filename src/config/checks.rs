//! Checks that need the whole, typed configuration, one function per concern. Each reports
//! its problems under the field a user has to change; [`check_config`] runs them all, so every
//! problem is reported at once.
//!
//! A new field gets its check here, in the function of its concern (or a new one listed in
//! [`check_config`]); its type, default and schema come from its declaration in [`Config`].

use std::collections::BTreeSet;

use serde_json::Value;

use super::error::{FieldProblem, Problem};
use super::types::{AuthMethod, ParamType};
use super::value::describe;
use super::Config;

/// Runs every check. `given` names the fields the user set (to a non-null value).
/// The value sets, the whole numbers and non-empty strings are the types' business
/// ([`super::value`]); these are the rules that go beyond a field's type.
pub(super) fn check_config(
    config: &Config,
    given: &BTreeSet<&'static str>,
    problems: &mut Vec<FieldProblem>,
) {
    let mut report = Report { problems };
    provider_urls(config, &mut report);
    dispatch_clusters(config, &mut report);
    one_client(config, &mut report);
    redirect_uris(config, &mut report);
    auth_methods(config, given, &mut report);
    code_flow(config, &mut report);
    cookies(config, &mut report);
    credential_locations(config, &mut report);
    logout(config, &mut report);
    upstream_headers(config, &mut report);
}

/// Collects problems, each under its field.
struct Report<'a> {
    problems: &'a mut Vec<FieldProblem>,
}

impl Report<'_> {
    fn problem(&mut self, field: &str, problem: Problem) {
        self.problems.push(FieldProblem::new(field, problem));
    }

    /// Reports `field` when `result` says why its value cannot be used.
    fn check(&mut self, field: &str, result: Result<(), Unusable>) {
        if let Err(why) = result {
            self.problem(field, Problem::Invalid(why.to_string()));
        }
    }
}

/// Why a value of the right type cannot be used; reported as [`Problem::Invalid`]. The
/// `String`s are the value as [`describe`] shows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Unusable {
    #[error("{0} is not an authority (host or host:port)")]
    NotAuthority(String),
    #[error("must differ from session_cookie_name")]
    SameAsSessionCookie,
    #[error("required when bearer_token_param_type lists cookie")]
    BearerCookieUnnamed,
    #[error("must name a path below the root, e.g. /backchannel-logout")]
    NotBelowRoot,
    #[error("expected an http or https URL, got {0}")]
    NotHttp(String),
    #[error("a URL has no spaces or control characters, got {0}")]
    UrlWithSpaces(String),
    #[error("expected an absolute URL (scheme://host/...), got {0}")]
    NotAbsolute(String),
    #[error("user names or passwords in URLs are not supported, got {0}")]
    UrlWithUser(String),
    #[error("the URL has no host: {0}")]
    NoHost(String),
    #[error("the URL's port is not a port number (1-65535): {0}")]
    BadPort(String),
    #[error("a cookie name has only letters, digits and !#$%&'*+-.^_`|~")]
    CookieName,
    #[error("must not contain ';', spaces or control characters")]
    CookieAttribute,
    #[error("{0} is not a header name")]
    HeaderName(String),
}

/// The identity provider's URLs: the filter sends requests there.
fn provider_urls(config: &Config, report: &mut Report) {
    if !config.issuer.is_empty() {
        report.check("issuer", check_http_url(&config.issuer));
    }
    let endpoints = [
        ("token_endpoint", &config.token_endpoint),
        ("revocation_endpoint", &config.revocation_endpoint),
        ("end_session_endpoint", &config.end_session_endpoint),
        ("jwks_endpoint", &config.jwks_endpoint),
        ("introspection_endpoint", &config.introspection_endpoint),
        ("userinfo_endpoint", &config.userinfo_endpoint),
        ("authorization_endpoint", &config.authorization_endpoint),
    ];
    for (field, url) in endpoints {
        if let Some(url) = url.as_deref() {
            report.check(field, check_http_url(url));
        }
    }
}

/// `dispatch_clusters` keys are URL authorities (`host` or `host:port`).
fn dispatch_clusters(config: &Config, report: &mut Report) {
    for authority in config.dispatch_clusters.keys() {
        if authority.is_empty() || authority.contains(|c: char| c.is_whitespace() || c == '/') {
            let shown = describe(&Value::String(authority.clone()));
            report.check("dispatch_clusters", Err(Unusable::NotAuthority(shown)));
        }
    }
}

/// Kong's per-client arrays (picked per request by `client_arg`): one client only, for now.
fn one_client(config: &Config, report: &mut Report) {
    let per_client = [
        ("client_id", config.client_id.len()),
        ("client_secret", config.client_secret.len()),
        ("client_auth", config.client_auth.len()),
        ("logout_redirect_uri", config.logout_redirect_uri.len()),
        ("redirect_uri", config.redirect_uri.len()),
        ("login_redirect_uri", config.login_redirect_uri.len()),
        (
            "unauthorized_redirect_uri",
            config.unauthorized_redirect_uri.len(),
        ),
    ];
    for (field, count) in per_client {
        if count > 1 {
            let reason = format!("{count} values given: more than one client (chosen by client_arg) is not supported yet");
            report.problem(field, Problem::NotSupported { reason });
        }
    }
}

/// Where clients are sent: absolute URLs (apps may use their own schemes).
fn redirect_uris(config: &Config, report: &mut Report) {
    let redirect_uris = [
        ("logout_redirect_uri", &config.logout_redirect_uri),
        ("redirect_uri", &config.redirect_uri),
        ("login_redirect_uri", &config.login_redirect_uri),
        (
            "unauthorized_redirect_uri",
            &config.unauthorized_redirect_uri,
        ),
    ];
    for (field, uris) in redirect_uris {
        for uri in uris {
            report.check(field, check_absolute_url(uri));
        }
    }
}

/// Kong's default (all nine) is accepted as such, also when written out: the flows skip what
/// is not implemented. A list of the user's own must not ask for what we cannot do.
fn auth_methods(config: &Config, given: &BTreeSet<&'static str>, report: &mut Report) {
    if !given.contains("auth_methods") || is_all_auth_methods(&config.auth_methods) {
        return;
    }
    let asked: BTreeSet<AuthMethod> = config.auth_methods.iter().copied().collect();
    for method in asked {
        if let Some(reason) = method.refusal() {
            let reason = format!("{method} {reason}");
            report.problem("auth_methods", Problem::NotSupported { reason });
        }
    }
}

fn is_all_auth_methods(methods: &[AuthMethod]) -> bool {
    AuthMethod::ALL.iter().all(|m| methods.contains(m))
}

/// The authorization code flow: a response mode a proxy can receive, and a state cookie of
/// its own.
fn code_flow(config: &Config, report: &mut Report) {
    if !config.response_mode.is_supported() {
        let reason = format!(
            "{} not supported yet: use query or form_post",
            config.response_mode
        );
        report.problem("response_mode", Problem::NotSupported { reason });
    }
    if config
        .authorization_cookie_name
        .eq_ignore_ascii_case(&config.session_cookie_name)
    {
        // One cookie cannot hold both: each would overwrite the other mid-login.
        report.check(
            "authorization_cookie_name",
            Err(Unusable::SameAsSessionCookie),
        );
    }
}

/// Cookie names are tokens; attribute values end at `;`.
fn cookies(config: &Config, report: &mut Report) {
    report.check(
        "session_cookie_name",
        check_cookie_name(&config.session_cookie_name),
    );
    report.check(
        "authorization_cookie_name",
        check_cookie_name(&config.authorization_cookie_name),
    );
    if let Some(name) = config.bearer_token_cookie_name.as_deref() {
        report.check("bearer_token_cookie_name", check_cookie_name(name));
    }
    let attributes = [
        ("session_cookie_path", Some(&config.session_cookie_path)),
        (
            "session_cookie_domain",
            config.session_cookie_domain.as_ref(),
        ),
        (
            "authorization_cookie_path",
            Some(&config.authorization_cookie_path),
        ),
        (
            "authorization_cookie_domain",
            config.authorization_cookie_domain.as_ref(),
        ),
    ];
    for (field, value) in attributes {
        if let Some(value) = value {
            report.check(field, check_cookie_attribute(value));
        }
    }
}

/// Where API clients' credentials are looked for.
fn credential_locations(config: &Config, report: &mut Report) {
    // Grants take their parameters from the body, a header or the query, never a cookie.
    let grant_fields = [
        ("password_param_type", &config.password_param_type),
        (
            "client_credentials_param_type",
            &config.client_credentials_param_type,
        ),
        ("refresh_token_param_type", &config.refresh_token_param_type),
    ];
    for (field, locations) in grant_fields {
        if let Some(outside) = locations
            .iter()
            .find(|l| !ParamType::GRANT_LOCATIONS.contains(l))
        {
            let allowed = ParamType::GRANT_LOCATIONS
                .iter()
                .map(|l| l.as_str())
                .collect();
            let got = describe(&Value::from(outside.as_str()));
            report.problem(field, Problem::NotOneOf { allowed, got });
        }
    }
    if config.bearer_token_param_type.contains(&ParamType::Cookie)
        && config.bearer_token_cookie_name.is_none()
    {
        // Kong silently finds nothing there; say so instead.
        report.check(
            "bearer_token_cookie_name",
            Err(Unusable::BearerCookieUnnamed),
        );
    }
    // The refresh token may come in a header of this name.
    if let Some(name) = config.refresh_token_param_name.as_deref() {
        report.check("refresh_token_param_name", check_header_name(name));
    }
}

fn logout(config: &Config, report: &mut Report) {
    // An empty or bare "/" suffix would make every POST a back-channel logout request.
    if let Some(suffix) = config.logout_backchannel_uri_suffix.as_deref() {
        if suffix.trim_matches('/').is_empty() {
            report.check("logout_backchannel_uri_suffix", Err(Unusable::NotBelowRoot));
        }
    }
}

/// The headers the filter sets on the upstream request.
fn upstream_headers(config: &Config, report: &mut Report) {
    let header_specs = [
        (
            "upstream_access_token_header",
            config.upstream_access_token_header.as_ref(),
        ),
        (
            "upstream_id_token_header",
            config.upstream_id_token_header.as_ref(),
        ),
        (
            "upstream_introspection_header",
            config.upstream_introspection_header.as_ref(),
        ),
        (
            "upstream_user_info_header",
            config.upstream_user_info_header.as_ref(),
        ),
    ];
    for (field, spec) in header_specs {
        if let Some(spec) = spec {
            report.check(field, check_header_spec(spec));
        }
    }
    for name in &config.upstream_headers_names {
        report.check("upstream_headers_names", check_header_name(name));
    }
}

/// An absolute `http` or `https` URL with a host: where the filter can send requests.
fn check_http_url(url: &str) -> Result<(), Unusable> {
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme)
        .unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(Unusable::NotHttp(describe(&Value::String(url.to_string()))));
    }
    check_absolute_url(url)
}

/// An absolute URL (`scheme://host...`), as Kong's `url` type requires.
fn check_absolute_url(url: &str) -> Result<(), Unusable> {
    let shown = || describe(&Value::String(url.to_string()));
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Unusable::UrlWithSpaces(shown()));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(Unusable::NotAbsolute(shown()));
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return Err(Unusable::NotAbsolute(shown()));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(Unusable::UrlWithUser(shown()));
    }
    let (host, port) = super::split_authority(authority);
    if host.is_empty() {
        return Err(Unusable::NoHost(shown()));
    }
    if let Some(port) = port {
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(Unusable::BadPort(shown()));
        }
    } else if authority.contains(':') && !authority.ends_with(']') {
        return Err(Unusable::BadPort(shown()));
    }
    Ok(())
}

/// RFC 6265 cookie names are HTTP tokens.
fn check_cookie_name(name: &str) -> Result<(), Unusable> {
    if name.bytes().all(is_token_byte) {
        Ok(())
    } else {
        Err(Unusable::CookieName)
    }
}

/// A cookie attribute value ends at `;` and cannot hold spaces or control characters.
fn check_cookie_attribute(value: &str) -> Result<(), Unusable> {
    if value.bytes().all(|b| b.is_ascii_graphic() && b != b';') {
        Ok(())
    } else {
        Err(Unusable::CookieAttribute)
    }
}

/// A header name, optionally followed by `:scheme` (Kong's `authorization:bearer`).
fn check_header_spec(spec: &str) -> Result<(), Unusable> {
    let name = spec.split_once(':').map_or(spec, |(name, _)| name);
    check_header_name(name)
}

fn check_header_name(name: &str) -> Result<(), Unusable> {
    if !name.is_empty() && name.bytes().all(is_token_byte) {
        Ok(())
    } else {
        Err(Unusable::HeaderName(describe(&Value::String(
            name.to_string(),
        ))))
    }
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls_need_scheme_host_and_a_real_port() {
        assert!(check_http_url("http://127.0.0.1:8080").is_ok());
        assert!(check_http_url(
            "https://idp.example.com/realms/x/.well-known/openid-configuration"
        )
        .is_ok());
        assert!(check_http_url("HTTPS://[::1]:8443/x").is_ok());
        assert!(check_http_url("https://[::1]/x").is_ok());
        for bad in [
            "ftp://idp",
            "idp.example.com",
            "http://",
            "http:///path",
            "http://:8080/",
            "http://idp:99999/",
            "http://idp:0/",
            "http://idp:/",
            "http://user:pw@idp/",
            "http://idp/a b",
        ] {
            assert!(check_http_url(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn each_unusable_url_says_what_is_wrong() {
        let cases = [
            ("ftp://idp", Unusable::NotHttp("\"ftp://idp\"".into())),
            (
                "http://idp/a b",
                Unusable::UrlWithSpaces("\"http://idp/a b\"".into()),
            ),
            (
                "http://user:pw@idp/",
                Unusable::UrlWithUser("\"http://user:pw@idp/\"".into()),
            ),
            ("http:///path", Unusable::NoHost("\"http:///path\"".into())),
            (
                "http://idp:0/",
                Unusable::BadPort("\"http://idp:0/\"".into()),
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(check_http_url(url), Err(expected), "{url}");
        }
        assert_eq!(
            check_http_url("http://idp:/").map_err(|e| e.to_string()),
            Err("the URL's port is not a port number (1-65535): \"http://idp:/\"".to_string())
        );
    }

    #[test]
    fn redirect_uris_may_use_other_schemes() {
        assert!(check_absolute_url("myapp://logged-out").is_ok());
        assert!(check_absolute_url("/relative").is_err());
        assert!(check_absolute_url("1x://host").is_err());
    }

    #[test]
    fn cookie_and_header_names_are_tokens() {
        assert!(check_cookie_name("session").is_ok());
        assert!(check_cookie_name("a;b").is_err());
        assert!(check_cookie_attribute("/app").is_ok());
        assert!(check_cookie_attribute("/a; Secure").is_err());
        assert!(check_header_spec("authorization:bearer").is_ok());
        assert!(check_header_spec("x-id-token").is_ok());
        assert!(check_header_spec("x id").is_err());
        assert!(check_header_name("").is_err());
    }
}
