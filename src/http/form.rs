//! `application/x-www-form-urlencoded` bodies and query strings.

/// Encodes pairs as a form body or query string.
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// Decodes a form body or query string into pairs, in order (names may repeat).
pub fn decode(input: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(input)
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of `name` in decoded pairs.
pub fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Whether a `Content-Type` names a form body.
pub fn is_form_content_type(content_type: &str) -> bool {
    media_type(content_type).eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

/// Whether a `Content-Type` names a JSON body.
pub fn is_json_content_type(content_type: &str) -> bool {
    let media = media_type(content_type);
    media.eq_ignore_ascii_case("application/json")
        || media
            .get(media.len().saturating_sub(5)..)
            .is_some_and(|s| s.eq_ignore_ascii_case("+json"))
}

fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips_pairs() {
        let body = encode([
            ("grant_type", "password"),
            ("username", "jöhn doe"),
            ("password", "a&b=c"),
        ]);
        assert_eq!(
            body,
            "grant_type=password&username=j%C3%B6hn+doe&password=a%26b%3Dc"
        );
        let pairs = decode(body.as_bytes());
        assert_eq!(first(&pairs, "username"), Some("jöhn doe"));
        assert_eq!(first(&pairs, "password"), Some("a&b=c"));
        assert_eq!(first(&pairs, "nope"), None);
    }

    #[test]
    fn recognises_content_types() {
        assert!(is_form_content_type(
            "application/x-www-form-urlencoded; charset=utf-8"
        ));
        assert!(!is_form_content_type("multipart/form-data"));
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type(
            "application/problem+json; charset=utf-8"
        ));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type(""));
    }

    proptest! {
        #[test]
        fn decode_never_panics(input in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&input);
        }

        #[test]
        fn content_type_checks_never_panic(input in ".*") {
            let _ = is_json_content_type(&input);
            let _ = is_form_content_type(&input);
        }
    }
}
