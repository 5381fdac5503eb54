//! HTTP Basic credentials: read from a client's `Authorization` header (password grant) and
//! written for client authentication at the identity provider (`client_secret_basic`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Reads `Authorization: Basic base64(user:pass)`. As Kong does, the decoded text is split at
/// the first `:`; a password may be empty (`-a john:` in HTTPie), a user may not.
pub fn parse(authorization: &str) -> Option<(String, String)> {
    let (scheme, encoded) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    if user.is_empty() {
        return None;
    }
    Some((user.to_string(), pass.to_string()))
}

/// `Basic base64(urlencode(id):urlencode(secret))`, the client_secret_basic form of
/// RFC 6749 section 2.3.1 (identity providers decode both parts).
pub fn client_authorization(client_id: &str, client_secret: &str) -> String {
    let id: String = form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    let secret: String = form_urlencoded::byte_serialize(client_secret.as_bytes()).collect();
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_basic_credentials() {
        assert_eq!(
            parse("Basic am9objpkb2U="),
            Some(("john".into(), "doe".into()))
        );
        assert_eq!(
            parse("basic am9objo="),
            Some(("john".into(), String::new()))
        );
        assert_eq!(parse("Basic dTpwOnE="), Some(("u".into(), "p:q".into())));
        assert_eq!(parse("Bearer am9objpkb2U="), None);
        assert_eq!(parse("Basic !!!"), None);
        assert_eq!(parse("Basic OmRvZQ=="), None, "empty user");
        assert_eq!(parse("Basic am9obg=="), None, "no colon");
    }

    #[test]
    fn writes_client_authorization() {
        assert_eq!(
            client_authorization("kong", "secret"),
            "Basic a29uZzpzZWNyZXQ="
        );
        assert_eq!(
            client_authorization("a:b", "c d"),
            format!("Basic {}", STANDARD.encode("a%3Ab:c+d"))
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in ".*") {
            let _ = parse(&input);
        }
    }
}
