//! Request path normalisation before routing, as Kong does it (`kong/tools/uri.lua`
//! `normalize(path, true)` then `escape` for forwarding), with nginx's refusals.
//!
//! Routing on the raw path lets `/public/../secret` or `/public/%2e%2e/secret` reach
//! `/secret`'s upstream through the `/public` route and its plugins. So the path is normalised
//! once, and that one form is what routes match, what filters see as `:path`, and what goes
//! upstream:
//! - percent-encoded octets that are not reserved characters are decoded (unreserved ones stay
//!   decoded; any other octet is written back as an upper-case `%XX`); reserved characters
//!   (`/`, `?`, `%`, ...) stay encoded, with upper-case hex, so `%2F` never becomes a separator;
//! - dot segments are removed (RFC 3986 5.2.4), `//` is merged into `/`.
//!
//! A path that cannot be normalised is refused (400), as nginx refuses it before Kong's router
//! runs: a malformed `%` escape, an encoded NUL or control character, or `..` above the root.

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PathError {
    #[error("a malformed percent-escape")]
    BadEscape,
    #[error("an encoded control character")]
    ControlCharacter,
    #[error("a `..` segment above the root")]
    AboveRoot,
    #[error("a path that does not start with /")]
    NotAbsolute,
}

/// RFC 3986 reserved characters plus `%`, as Kong's `RESERVED_CHARS`: kept encoded.
const RESERVED: &[u8] = b"!*'();:@&=+$,/?%#[]";

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Decodes what may be decoded; every byte of the result is printable ASCII.
fn decode(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let (Some(high), Some(low)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(PathError::BadEscape);
            };
            let value = high << 4 | low;
            if value < 0x20 || value == 0x7f {
                return Err(PathError::ControlCharacter);
            }
            if is_unreserved(value) {
                out.push(char::from(value));
            } else {
                out.push_str(&format!("%{value:02X}"));
            }
            i += 3;
            continue;
        }
        if byte < 0x20 || byte == 0x7f {
            return Err(PathError::ControlCharacter);
        }
        if byte.is_ascii() && (is_unreserved(byte) || RESERVED.contains(&byte)) {
            out.push(char::from(byte));
        } else {
            // A byte hyper let through raw (e.g. `"`, `{`, or UTF-8): forward it escaped.
            out.push_str(&format!("%{byte:02X}"));
        }
        i += 1;
    }
    Ok(out)
}

/// Normalises the path part of a request target (no query).
pub(crate) fn normalize(path: &str) -> Result<String, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode(path)?;
    let mut segments: Vec<&str> = Vec::new();
    let trailing_slash =
        decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    for segment in decoded.split('/').skip(1) {
        match segment {
            // `//` merges; `.` is the current segment.
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    Ok(out)
}

/// Normalises a request target `path[?query]`; the query is kept as it is.
pub(crate) fn normalize_target(target: &str) -> Result<String, PathError> {
    match target.split_once('?') {
        Some((path, query)) => Ok(format!("{}?{query}", normalize(path)?)),
        None => normalize(target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_dot_segments_and_merges_slashes() {
        assert_eq!(normalize("/public/../secret").unwrap(), "/secret");
        assert_eq!(normalize("/public/%2e%2e/secret").unwrap(), "/secret");
        assert_eq!(normalize("/public/%2E./secret").unwrap(), "/secret");
        assert_eq!(normalize("/a/./b/").unwrap(), "/a/b/");
        assert_eq!(normalize("/a//b").unwrap(), "/a/b");
        assert_eq!(normalize("/a/b/..").unwrap(), "/a/");
        assert_eq!(normalize("/a/.").unwrap(), "/a/");
        assert_eq!(normalize("/").unwrap(), "/");
        assert_eq!(normalize("/..a/b.").unwrap(), "/..a/b.");
    }

    #[test]
    fn decodes_unreserved_and_keeps_reserved_encoded() {
        assert_eq!(normalize("/%7Euser/%61bc").unwrap(), "/~user/abc");
        // An encoded slash stays one segment: `..` next to it is not a dot segment.
        assert_eq!(normalize("/a%2f..%2Fb").unwrap(), "/a%2F..%2Fb");
        assert_eq!(normalize("/a%3fb").unwrap(), "/a%3Fb");
        // Other octets are written back upper-case escaped.
        assert_eq!(normalize("/caf%c3%a9").unwrap(), "/caf%C3%A9");
        assert_eq!(normalize("/a%20b").unwrap(), "/a%20b");
    }

    #[test]
    fn refuses_what_nginx_refuses() {
        assert_eq!(normalize("/a/../../etc"), Err(PathError::AboveRoot));
        assert_eq!(normalize("/%2e%2e/x"), Err(PathError::AboveRoot));
        assert_eq!(normalize("/a%2"), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%00b"), Err(PathError::ControlCharacter));
        assert_eq!(normalize("/a%0d%0aX: y"), Err(PathError::ControlCharacter));
        assert_eq!(normalize("a"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn keeps_the_query_as_it_is() {
        assert_eq!(
            normalize_target("/a/../b?x=/../%2e").unwrap(),
            "/b?x=/../%2e"
        );
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for path in [
            "/a/%2e%2e/b",
            "/a%2F..%2Fb",
            "/caf%c3%a9//x/./y/..",
            "/%7e/",
        ] {
            let once = normalize(path).unwrap();
            assert_eq!(normalize(&once).unwrap(), once, "{path}");
        }
    }
}
