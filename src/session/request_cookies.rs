//! Finding a cookie in the request's `Cookie` header(s) the way nginx 1.22's `$cookie_NAME`
//! (which the library reads) does, so we pick the same value Kong would:
//! - names compare case-insensitively, the first occurrence wins, across header lines in order;
//! - spaces may stand around `=`; the value runs to the next `;` (spaces kept);
//! - a pair that does not match is skipped up to the next `;` or `,`.

/// The value of cookie `name`, if present (the filter's one cookie parser,
/// [`crate::http::cookies::find`], so reading and stripping agree).
pub fn find_cookie<'a>(cookie_headers: &[&'a str], name: &str) -> Option<&'a str> {
    crate::http::cookies::find(cookie_headers, name)
}

/// The `Cookie` header with the session's cookies (`name`, and `name2`..`nameN` when the
/// session spans `chunks` cookies) taken out, so the upstream never sees them. `None` when
/// nothing else is left. Names compare exactly here, as the library's request-cookie clearing
/// does.
pub fn strip_cookies(cookie_header: &str, name: &str, chunks: usize) -> Option<String> {
    let names: Vec<String> = std::iter::once(name.to_string())
        .chain((2..=chunks).map(|index| format!("{name}{index}")))
        .collect();
    crate::http::cookies::without(&[cookie_header], &names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_occurrence_case_insensitive() {
        assert_eq!(
            find_cookie(&["a=1; Session=x; session=y"], "session"),
            Some("x")
        );
        assert_eq!(find_cookie(&["a=1", "session=z"], "session"), Some("z"));
        assert_eq!(
            find_cookie(&["session=first", "session=second"], "session"),
            Some("first")
        );
        assert_eq!(find_cookie(&["a=1"], "session"), None);
        assert_eq!(find_cookie(&[], "session"), None);
    }

    #[test]
    fn similar_names_do_not_match() {
        assert_eq!(
            find_cookie(&["session2=b; mysession=c; session=a"], "session"),
            Some("a")
        );
        assert_eq!(find_cookie(&["session2=b"], "session"), None);
        assert_eq!(
            find_cookie(&["session2=b; session=a"], "session2"),
            Some("b")
        );
    }

    #[test]
    fn spaces_and_separators_as_nginx() {
        assert_eq!(find_cookie(&["session = v ; b=1"], "session"), Some("v "));
        assert_eq!(find_cookie(&["a=1,session=v"], "session"), Some("v"));
        assert_eq!(find_cookie(&["session="], "session"), Some(""));
        assert_eq!(find_cookie(&["session"], "session"), None);
        // nginx consumed the ';' after the bare name, so it skips the next pair too.
        assert_eq!(
            find_cookie(&["session;session=v; session=w"], "session"),
            Some("w")
        );
        assert_eq!(find_cookie(&["é=1; session=ü"], "session"), Some("ü"));
    }

    #[test]
    fn strips_only_session_cookies() {
        let header = "a=1; session=x; session2=y; session3=z; session10=k; other=2";
        assert_eq!(
            strip_cookies(header, "session", 2).as_deref(),
            Some("a=1; session3=z; session10=k; other=2")
        );
        assert_eq!(strip_cookies("session=x", "session", 1), None);
        assert_eq!(strip_cookies(" ;session=x; ", "session", 1), None);
    }
}
