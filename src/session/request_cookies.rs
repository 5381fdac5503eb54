//! Finding a cookie in the request's `Cookie` header(s) the way nginx 1.22's `$cookie_NAME`
//! (which the library reads) does, so we pick the same value Kong would:
//! - names compare case-insensitively, the first occurrence wins, across header lines in order;
//! - spaces may stand around `=`; the value runs to the next `;` (spaces kept);
//! - a pair that does not match is skipped up to the next `;` or `,`.

/// The value of cookie `name`, if present.
pub fn find_cookie<'a>(cookie_headers: &[&'a str], name: &str) -> Option<&'a str> {
    if name.is_empty() {
        return None;
    }
    cookie_headers
        .iter()
        .find_map(|line| find_in_line(line, name))
}

fn find_in_line<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let bytes = line.as_bytes();
    let wanted = name.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        let name_matches = bytes
            .get(pos..pos.saturating_add(wanted.len()))
            .is_some_and(|candidate| candidate.eq_ignore_ascii_case(wanted));
        if name_matches {
            pos += wanted.len();
            pos = skip_spaces(bytes, pos);
            let next = bytes.get(pos).copied();
            pos += 1;
            if next == Some(b'=') {
                let start = skip_spaces(bytes, pos);
                let end = bytes
                    .get(start..)
                    .and_then(|rest| rest.iter().position(|&b| b == b';'))
                    .map_or(bytes.len(), |offset| start + offset);
                return line.get(start..end);
            }
        }
        // Skip the rest of this pair; nginx resumes after whatever it already consumed.
        while let Some(&byte) = bytes.get(pos) {
            pos += 1;
            if byte == b';' || byte == b',' {
                break;
            }
        }
        pos = skip_spaces(bytes, pos);
    }
    None
}

fn skip_spaces(bytes: &[u8], mut pos: usize) -> usize {
    while bytes.get(pos) == Some(&b' ') {
        pos += 1;
    }
    pos
}

/// The `Cookie` header with the session's cookies (`name`, and `name2`..`nameN` when the
/// session spans `chunks` cookies) taken out, so the upstream never sees them. `None` when
/// nothing else is left. Names compare exactly here, as the library's request-cookie clearing
/// does.
pub fn strip_cookies(cookie_header: &str, name: &str, chunks: usize) -> Option<String> {
    let kept: Vec<&str> = cookie_header
        .split(';')
        .map(|pair| {
            pair.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\n' | '\x0b' | '\x0c'))
        })
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let pair_name = pair.split('=').next().unwrap_or_default().trim_end();
            !is_session_cookie(pair_name, name, chunks)
        })
        .collect();
    if kept.is_empty() {
        None
    } else {
        Some(kept.join("; "))
    }
}

fn is_session_cookie(pair_name: &str, name: &str, chunks: usize) -> bool {
    if pair_name == name {
        return true;
    }
    match pair_name.strip_prefix(name).map(str::parse::<usize>) {
        Some(Ok(index)) => index >= 2 && index <= chunks,
        _ => false,
    }
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
