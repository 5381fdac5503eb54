//! Keeps credentials out of the access log: the values of query arguments that Kong's
//! openid-connect plugin (and OAuth 2.0 / OpenID Connect in general) reads credentials or
//! one-time secrets from are replaced by `REDACTED`.

/// Argument names whose values never reach a log (compared case-insensitively, after
/// percent-decoding the name, so `acc%65ss_token` is caught too).
const SECRET_ARGS: &[&str] = &[
    "access_token",
    "id_token",
    "refresh_token",
    "token",
    "password",
    "client_secret",
    "client_assertion",
    "assertion",
    "code",
    "code_verifier",
    "state",
    "session_state",
    "response",
    "jwt",
];

pub(crate) const MARKER: &str = "REDACTED";

fn is_secret(name: &str) -> bool {
    let decoded: String = form_urlencoded::parse(name.as_bytes())
        .next()
        .map(|(key, _)| key.into_owned())
        .unwrap_or_default();
    SECRET_ARGS
        .iter()
        .any(|secret| decoded.eq_ignore_ascii_case(secret))
}

/// `path?query` with every secret argument's value replaced; the rest is kept byte for byte.
pub(crate) fn request_target(target: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let mut out = String::with_capacity(target.len());
    out.push_str(path);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if is_secret(name) => {
                out.push_str(name);
                out.push('=');
                out.push_str(MARKER);
            }
            _ => out.push_str(pair),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_arguments_are_redacted() {
        assert_eq!(
            request_target("/cb?code=abc&state=xyz&x=1"),
            "/cb?code=REDACTED&state=REDACTED&x=1"
        );
        assert_eq!(
            request_target("/api?access_token=eyJ.x.y&username=john&password=doe"),
            "/api?access_token=REDACTED&username=john&password=REDACTED"
        );
        assert_eq!(
            request_target("/a?ACCESS_TOKEN=1&acc%65ss_token=2&client_secret=s"),
            "/a?ACCESS_TOKEN=REDACTED&acc%65ss_token=REDACTED&client_secret=REDACTED"
        );
        assert_eq!(request_target("/plain"), "/plain");
        assert_eq!(request_target("/a?flag&code"), "/a?flag&code");
        assert_eq!(request_target("/a?coder=1"), "/a?coder=1");
    }
}
