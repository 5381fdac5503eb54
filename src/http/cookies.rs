//! The request `Cookie` header: the one parser that both reads the filter's cookies and strips
//! them before the request goes upstream, so the two can never disagree on what a cookie is.
//!
//! It follows nginx (1.22+, `ngx_http_parse_multi_header_lines`), which gives Kong's
//! lua-resty-session its `$cookie_NAME`: header lines in order, the first occurrence wins, names
//! compare case-insensitively, spaces may stand around `=`, a value runs to the next `;` (a `,`
//! inside it is kept), and a pair whose name does not match is skipped up to the next `;` *or*
//! `,`. So in `a=1,session=V` nginx finds the session `V`; stripping must therefore remove it,
//! which the old `;`-only splitter did not (the session reached the upstream).
//!
//! Looking for many names at once (the session and authorization cookies and their chunks, on
//! every forwarded request) scans each line once, not once per name: see [`LineScan`].

use std::borrow::Cow;

/// The value of cookie `name` as nginx's `$cookie_NAME` reads it.
pub fn find<'a>(cookie_headers: &[&'a str], name: &str) -> Option<&'a str> {
    cookie_headers.iter().find_map(|line| {
        let found = find_in_line(line, name)?;
        line.get(found.value.0..found.value.1)
    })
}

/// Whether any of `names` is present (as [`find`] sees it, or as a pair of its own).
pub fn has_any(cookie_headers: &[&str], names: &[String]) -> bool {
    // A pair of its own is the usual case and the cheaper test, so it goes first.
    cookie_headers.iter().any(|line| {
        segments(line).any(|s| names_match(names, s.name))
            || LineScan::new(line).first_found(names).is_some()
    })
}

/// `base` and its chunks `base2` .. `base9` (lua-resty-session's chunked cookies). Built once
/// per configuration (see `flows::settings`), not per request.
pub fn chunk_names(base: &str) -> Vec<String> {
    std::iter::once(base.to_string())
        .chain((2..=9).map(|i| format!("{base}{i}")))
        .collect()
}

/// All Cookie lines folded into one value without the cookies named in `names`; `None` when
/// nothing is left. Whatever [`find`] could read under one of those names is gone from the
/// result, and so is every other pair of that name. Lines with nothing to drop are kept as sent.
pub fn without(cookie_headers: &[&str], names: &[String]) -> Option<String> {
    fold(lines_without(cookie_headers, names).1)
}

/// What is left of the Cookie header once some cookies are dropped (see [`strip`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remaining {
    /// None of them was there ([`has_any`] is false): the header goes as sent.
    Unchanged,
    /// The header's new value, as [`without`] folds it.
    Rest(String),
    /// Nothing else was in it: the header goes.
    Nothing,
}

/// [`has_any`] and [`without`] in one go: a line with one of `names` is scanned to find it
/// and drop it, not once for each.
pub fn strip(cookie_headers: &[&str], names: &[String]) -> Remaining {
    let (changed, kept) = lines_without(cookie_headers, names);
    if !changed {
        return Remaining::Unchanged;
    }
    fold(kept).map_or(Remaining::Nothing, Remaining::Rest)
}

/// Every line without the named cookies (blank ones left out), and whether any had one.
fn lines_without<'a>(cookie_headers: &[&'a str], names: &[String]) -> (bool, Vec<Cow<'a, str>>) {
    let mut changed = false;
    let mut kept = Vec::with_capacity(cookie_headers.len());
    for &line in cookie_headers {
        match line_without(line, names) {
            LineRest::Unchanged => {
                if !line.trim().is_empty() {
                    kept.push(Cow::Borrowed(line));
                }
            }
            LineRest::Changed(rest) => {
                changed = true;
                kept.extend(rest.map(Cow::Owned));
            }
        }
    }
    (changed, kept)
}

/// The lines as one header value; `None` without any.
fn fold(mut kept: Vec<Cow<'_, str>>) -> Option<String> {
    if kept.len() > 1 {
        return Some(kept.join("; "));
    }
    kept.pop().map(Cow::into_owned)
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
#[derive(Debug, PartialEq, Eq)]
struct Found {
    start: usize,
    value: (usize, usize),
}

/// nginx's scan for one name (see the module comment), with byte offsets. The exact reference:
/// [`LineScan`] gives the same answers for many names in one pass and falls back to this.
fn find_in_line(line: &str, name: &str) -> Option<Found> {
    if name.is_empty() {
        return None;
    }
    let bytes = line.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        let start = pos;
        if name_at(bytes, pos, name) {
            pos = skip_spaces(bytes, pos + name.len());
            let next = bytes.get(pos).copied();
            // nginx consumes this byte whatever it is: after a bare name the `;` is eaten
            // and the scan below skips the following pair too.
            pos += 1;
            if next == Some(b'=') {
                return Some(Found {
                    start,
                    value: value_range(bytes, pos),
                });
            }
        }
        pos = next_pair(bytes, pos);
    }
    None
}

/// The pairs nginx's scan visits in one line while the name it looks for has not matched.
///
/// At a pair that does not match, the scan skips past the next `;` or `,` and the spaces after
/// it, whatever the name: so for every name the scan visits these same starts up to the first
/// one where that name matches. There, a `=` after optional spaces is nginx's answer. A bare
/// name instead (nginx eats the byte after it, which may be a separator, and its path leaves
/// these starts) is rare: for it the exact [`find_in_line`] runs again.
struct LineScan<'a> {
    line: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineScan<'a> {
    fn new(line: &'a str) -> LineScan<'a> {
        let bytes = line.as_bytes();
        let mut starts = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            starts.push(pos);
            pos = next_pair(bytes, pos);
        }
        LineScan { line, starts }
    }

    /// What [`find_in_line`] finds for `name`.
    fn find(&self, name: &str) -> Option<Found> {
        if name.is_empty() {
            return None;
        }
        let bytes = self.line.as_bytes();
        let start = self
            .starts
            .iter()
            .copied()
            .find(|&start| name_at(bytes, start, name))?;
        let after_name = skip_spaces(bytes, start + name.len());
        if bytes.get(after_name) == Some(&b'=') {
            Some(Found {
                start,
                value: value_range(bytes, after_name + 1),
            })
        } else {
            find_in_line(self.line, name)
        }
    }

    /// The first of `names`, in their order, that nginx finds in the line.
    fn first_found(&self, names: &[String]) -> Option<Found> {
        names.iter().find_map(|name| self.find(name))
    }
}

/// Whether `name` (case-insensitively) starts at `pos`.
fn name_at(bytes: &[u8], pos: usize, name: &str) -> bool {
    bytes
        .get(pos..pos.saturating_add(name.len()))
        .is_some_and(|candidate| candidate.eq_ignore_ascii_case(name.as_bytes()))
}

/// Past the next `;` or `,` from `pos` and the spaces after it: where nginx looks next.
fn next_pair(bytes: &[u8], pos: usize) -> usize {
    let after_separator = bytes
        .get(pos..)
        .and_then(|rest| memchr::memchr2(b';', b',', rest))
        .map_or(bytes.len(), |offset| pos + offset + 1);
    skip_spaces(bytes, after_separator)
}

/// A value that follows `=` at `pos - 1`: leading spaces skipped, up to the next `;`.
fn value_range(bytes: &[u8], pos: usize) -> (usize, usize) {
    let value_start = skip_spaces(bytes, pos);
    let value_end = bytes
        .get(value_start..)
        .and_then(|rest| memchr::memchr(b';', rest))
        .map_or(bytes.len(), |offset| value_start + offset);
    (value_start, value_end)
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

/// The pieces of a line with a non-empty name, in order.
fn segments(line: &str) -> impl Iterator<Item = Segment<'_>> {
    let ends = memchr::memchr2_iter(b';', b',', line.as_bytes()).chain([line.len()]);
    let mut start = 0;
    ends.filter_map(move |end| {
        let piece_start = start;
        start = end + 1;
        let name = line
            .get(piece_start..end)?
            .split('=')
            .next()
            .unwrap_or_default()
            .trim();
        (!name.is_empty()).then_some(Segment {
            name,
            start: piece_start,
            end,
        })
    })
}

fn names_match(names: &[String], name: &str) -> bool {
    names.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// One line without the named cookies.
enum LineRest {
    /// It had none of them.
    Unchanged,
    /// What is left once they are gone; `None` when nothing is.
    Changed(Option<String>),
}

fn line_without(line: &str, names: &[String]) -> LineRest {
    let Some(first) = span_to_drop(line, names) else {
        return LineRest::Unchanged;
    };
    let mut text = line.to_string();
    let mut span = Some(first);
    while let Some((start, end)) = span {
        text.replace_range(start..end, "");
        span = span_to_drop(&text, names);
    }
    let kept: Vec<&str> = text
        .split(';')
        .map(|piece| piece.trim_matches(|c: char| c == ' ' || c == '\t' || c == ','))
        .filter(|piece| !piece.is_empty())
        .collect();
    LineRest::Changed((!kept.is_empty()).then(|| kept.join("; ")))
}

/// The next piece of `text` to drop: what nginx reads under the first of `names` it finds,
/// through the end of its value; else the first pair of one of those names.
fn span_to_drop(text: &str, names: &[String]) -> Option<(usize, usize)> {
    LineScan::new(text)
        .first_found(names)
        .map(|found| (found.start, found.value.1))
        .or_else(|| {
            segments(text)
                .find(|s| names_match(names, s.name))
                .map(|s| (s.start, s.end))
        })
}

#[cfg(test)]
mod equivalence;

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
