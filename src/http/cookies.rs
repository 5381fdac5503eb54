//! The request `Cookie` header: reading pairs and removing the filter's own cookies before
//! the request goes upstream (the session must never reach the upstream).

/// The `name=value` pairs of one or more Cookie header values, in order.
pub fn pairs<'a>(cookie_headers: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    cookie_headers
        .iter()
        .flat_map(|header| header.split(';'))
        .filter_map(|part| {
            let (name, value) = part.split_once('=')?;
            let name = name.trim();
            (!name.is_empty()).then_some((name, value.trim()))
        })
        .collect()
}

/// Rebuilds the Cookie header without the cookies whose names `drop` selects; `None` when
/// nothing is left (the header should then be removed).
pub fn without(cookie_headers: &[&str], drop: impl Fn(&str) -> bool) -> Option<String> {
    let kept: Vec<String> = pairs(cookie_headers)
        .into_iter()
        .filter(|(name, _)| !drop(name))
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// Whether `name` is the session cookie `base` or one of its chunks (`base2` .. `base9`),
/// compared case-insensitively as lua-resty-session does.
pub fn is_chunk_of(name: &str, base: &str) -> bool {
    if name.len() == base.len() {
        return name.eq_ignore_ascii_case(base);
    }
    name.len() == base.len() + 1
        && name
            .get(..base.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(base))
        && name
            .get(base.len()..)
            .is_some_and(|d| matches!(d.as_bytes(), [b'2'..=b'9']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strips_every_chunk_and_keeps_the_rest() {
        let headers = [
            "a=1; session=xyz; Session2=abc",
            "b=2;session3=q; sessionx=keep; session10=keep",
        ];
        let rebuilt = without(&headers, |n| is_chunk_of(n, "session")).unwrap();
        assert_eq!(rebuilt, "a=1; b=2; sessionx=keep; session10=keep");
        assert_eq!(without(&["session=1"], |n| is_chunk_of(n, "session")), None);
    }

    #[test]
    fn reads_pairs_leniently() {
        assert_eq!(
            pairs(&["a=1;;b=2=3; =x; c"]),
            vec![("a", "1"), ("b", "2=3")]
        );
    }

    proptest! {
        #[test]
        fn never_panics(input in ".*", base in "[a-z]{1,8}") {
            let _ = without(&[input.as_str()], |n| is_chunk_of(n, &base));
        }
    }
}
