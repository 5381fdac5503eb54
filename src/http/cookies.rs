//! The request `Cookie` header: the one parser that both reads the filter's cookies and strips
//! them before the request goes upstream, so the two can never disagree on what a cookie is.
//!
//! It follows nginx (1.22+, `ngx_http_parse_multi_header_lines`), which gives Kong's
//! lua-resty-session its `$cookie_NAME`: header lines in order, the first occurrence wins, names
//! compare case-insensitively, spaces may stand around `=`, a value runs to the next `;` (a `,`
//! inside it is kept), and a pair whose name does not match is skipped up to the next `;` *or*
//! `,`. So in `a=1,session=V` nginx finds the session `V`; stripping must therefore remove it,
//! which the old `;`-only splitter did not (the session reached the upstream).

/// The value of cookie `name` as nginx's `$cookie_NAME` reads it.
pub fn find<'a>(cookie_headers: &[&'a str], name: &str) -> Option<&'a str> {
    cookie_headers.iter().find_map(|line| {
        let found = find_in_line(line, name)?;
        line.get(found.value.0..found.value.1)
    })
}

/// Whether any of `names` is present (as [`find`] sees it, or as a pair of its own).
pub fn has_any(cookie_headers: &[&str], names: &[String]) -> bool {
    names.iter().any(|n| find(cookie_headers, n).is_some())
        || cookie_headers
            .iter()
            .any(|line| segments(line).iter().any(|s| names_match(names, s.name)))
}

/// `base` and its chunks `base2` .. `base9` (lua-resty-session's chunked cookies).
pub fn chunk_names(base: &str) -> Vec<String> {
    std::iter::once(base.to_string())
        .chain((2..=9).map(|i| format!("{base}{i}")))
        .collect()
}

/// All Cookie lines folded into one value without the cookies named in `names`; `None` when
/// nothing is left. Whatever [`find`] could read under one of those names is gone from the
/// result, and so is every other pair of that name. Lines with nothing to drop are kept as sent.
pub fn without(cookie_headers: &[&str], names: &[String]) -> Option<String> {
    let kept: Vec<String> = cookie_headers
        .iter()
        .filter_map(|line| line_without(line, names))
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

/// Where nginx found a cookie in a line: the pair's start and its value's byte range.
struct Found {
    start: usize,
    value: (usize, usize),
}

/// nginx's scan for one name (see the module comment), with byte offsets.
fn find_in_line(line: &str, name: &str) -> Option<Found> {
    if name.is_empty() {
        return None;
    }
    let bytes = line.as_bytes();
    let wanted = name.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        let start = pos;
        let name_matches = bytes
            .get(pos..pos.saturating_add(wanted.len()))
            .is_some_and(|candidate| candidate.eq_ignore_ascii_case(wanted));
        if name_matches {
            pos = skip_spaces(bytes, pos + wanted.len());
            let next = bytes.get(pos).copied();
            // nginx consumes this byte whatever it is: after a bare name the `;` is eaten
            // and the scan below skips the following pair too.
            pos += 1;
            if next == Some(b'=') {
                let value_start = skip_spaces(bytes, pos);
                let value_end = bytes
                    .get(value_start..)
                    .and_then(|rest| rest.iter().position(|&b| b == b';'))
                    .map_or(bytes.len(), |offset| value_start + offset);
                return Some(Found {
                    start,
                    value: (value_start, value_end),
                });
            }
        }
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

/// A `;`- or `,`-separated piece of a line and the name before its `=` (or the whole piece).
struct Segment<'a> {
    name: &'a str,
    start: usize,
    end: usize,
}

fn segments(line: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (index, byte) in line.bytes().enumerate().chain([(line.len(), b';')]) {
        if byte != b';' && byte != b',' {
            continue;
        }
        if let Some(piece) = line.get(start..index) {
            let name = piece.split('=').next().unwrap_or_default().trim();
            if !name.is_empty() {
                out.push(Segment {
                    name,
                    start,
                    end: index,
                });
            }
        }
        start = index + 1;
    }
    out
}

fn names_match(names: &[String], name: &str) -> bool {
    names.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// One line without the named cookies; `None` when nothing is left.
fn line_without(line: &str, names: &[String]) -> Option<String> {
    let mut text = line.to_string();
    let mut changed = false;
    loop {
        // What nginx reads under a dropped name goes first, through the end of its value.
        let found = names
            .iter()
            .find_map(|n| find_in_line(&text, n).map(|f| (f.start, f.value.1)));
        let span = found.or_else(|| {
            segments(&text)
                .into_iter()
                .find(|s| names_match(names, s.name))
                .map(|s| (s.start, s.end))
        });
        let Some((start, end)) = span else {
            break;
        };
        text.replace_range(start..end, "");
        changed = true;
    }
    if !changed {
        return (!line.trim().is_empty()).then(|| line.to_string());
    }
    let kept: Vec<&str> = text
        .split(';')
        .map(|piece| piece.trim_matches(|c: char| c == ' ' || c == '\t' || c == ','))
        .filter(|piece| !piece.is_empty())
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn session() -> Vec<String> {
        chunk_names("session")
    }

    #[test]
    fn strips_every_chunk_and_keeps_the_rest() {
        let headers = [
            "a=1; session=xyz; Session2=abc",
            "b=2;session3=q; sessionx=keep; session10=keep",
        ];
        let rebuilt = without(&headers, &session()).unwrap();
        assert_eq!(rebuilt, "a=1; b=2; sessionx=keep; session10=keep");
        assert_eq!(without(&["session=1"], &session()), None);
        assert_eq!(without(&[" ;session=x; "], &session()), None);
    }

    #[test]
    fn untouched_lines_are_kept_as_sent() {
        assert_eq!(
            without(&["prefs=a,b;x=1"], &session()).as_deref(),
            Some("prefs=a,b;x=1")
        );
    }

    #[test]
    fn a_comma_separates_pairs_as_nginx_reads_them() {
        // 13.8: nginx (hence Kong) reads the session after a ','; it must not go upstream.
        assert_eq!(find(&["a=1,session=v"], "session"), Some("v"));
        assert_eq!(
            without(&["a=1,session=v; b=2"], &session()).as_deref(),
            Some("a=1; b=2")
        );
        // The session's value runs to the next ';': all of it goes.
        assert_eq!(
            without(&["session=v,a=1; b=2"], &session()).as_deref(),
            Some("b=2")
        );
        assert_eq!(find(&["session=v,a=1; b=2"], "session"), Some("v,a=1"));
    }

    #[test]
    fn reads_as_nginx() {
        assert_eq!(find(&["a=1; Session=x; session=y"], "session"), Some("x"));
        assert_eq!(find(&["a=1", "session=z"], "session"), Some("z"));
        assert_eq!(find(&["session2=b; session=a"], "session"), Some("a"));
        assert_eq!(find(&["session = v ; b=1"], "session"), Some("v "));
        assert_eq!(find(&["session"], "session"), None);
        assert_eq!(
            find(&["session;session=v; session=w"], "session"),
            Some("w")
        );
        assert!(has_any(&["session;session=v"], &session()));
        assert_eq!(
            without(&["session;session=v; a=1"], &session()).as_deref(),
            Some("a=1")
        );
    }

    proptest! {
        /// Whatever the reader finds under a dropped name, the stripped header no longer has.
        #[test]
        fn stripping_removes_what_reading_finds(
            lines in proptest::collection::vec("[a-c sS=;,0-9]{0,24}", 1..3),
            base in "[sS]{1,2}",
        ) {
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            let names = chunk_names(&base);
            if let Some(rest) = without(&lines, &names) {
                for name in &names {
                    prop_assert_eq!(find(&[rest.as_str()], name), None);
                }
                prop_assert!(!has_any(&[rest.as_str()], &names));
            }
        }

        #[test]
        fn never_panics(input in ".*", base in "[a-z]{1,8}") {
            let _ = without(&[input.as_str()], &chunk_names(&base));
            let _ = find(&[input.as_str()], &base);
        }
    }
}
