//! The one-pass scans ([`LineScan`], [`has_any`], [`without`], [`strip`]) against the scan they replaced,
//! which looked for one name at a time: kept here verbatim as the reference, so any line on
//! which the two disagree fails (random lines built from the pieces that make nginx's scan
//! tricky: names in other cases, chunk digits, spaces around `=`, both separators, bare names,
//! empty values).

use proptest::prelude::*;

use super::*;

mod reference {
    //! The per-name scan as it was before `LineScan`.

    pub(super) fn find_in_line(line: &str, name: &str) -> Option<(usize, (usize, usize))> {
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
                pos += 1;
                if next == Some(b'=') {
                    let value_start = skip_spaces(bytes, pos);
                    let value_end = bytes
                        .get(value_start..)
                        .and_then(|rest| rest.iter().position(|&b| b == b';'))
                        .map_or(bytes.len(), |offset| value_start + offset);
                    return Some((start, (value_start, value_end)));
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

    fn find<'a>(cookie_headers: &[&'a str], name: &str) -> Option<&'a str> {
        cookie_headers.iter().find_map(|line| {
            let (_, value) = find_in_line(line, name)?;
            line.get(value.0..value.1)
        })
    }

    pub(super) fn has_any(cookie_headers: &[&str], names: &[String]) -> bool {
        names.iter().any(|n| find(cookie_headers, n).is_some())
            || cookie_headers
                .iter()
                .any(|line| segments(line).iter().any(|s| names_match(names, s.0)))
    }

    pub(super) fn without(cookie_headers: &[&str], names: &[String]) -> Option<String> {
        let kept: Vec<String> = cookie_headers
            .iter()
            .filter_map(|line| line_without(line, names))
            .collect();
        (!kept.is_empty()).then(|| kept.join("; "))
    }

    /// (name, start, end) of each piece with a name.
    fn segments(line: &str) -> Vec<(&str, usize, usize)> {
        let mut out = Vec::new();
        let mut start = 0;
        for (index, byte) in line.bytes().enumerate().chain([(line.len(), b';')]) {
            if byte != b';' && byte != b',' {
                continue;
            }
            if let Some(piece) = line.get(start..index) {
                let name = piece.split('=').next().unwrap_or_default().trim();
                if !name.is_empty() {
                    out.push((name, start, index));
                }
            }
            start = index + 1;
        }
        out
    }

    fn names_match(names: &[String], name: &str) -> bool {
        names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    fn line_without(line: &str, names: &[String]) -> Option<String> {
        let mut text = line.to_string();
        let mut changed = false;
        loop {
            let found = names
                .iter()
                .find_map(|n| find_in_line(&text, n).map(|(start, value)| (start, value.1)));
            let span = found.or_else(|| {
                segments(&text)
                    .into_iter()
                    .find(|s| names_match(names, s.0))
                    .map(|s| (s.1, s.2))
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
}

const PIECES: &[&str] = &[
    "session",
    "SESSION",
    "Session2",
    "session9",
    "session1",
    "session10",
    "sessionx",
    "authorization",
    "AUTHORIZATION3",
    "s",
    "S2",
    "a",
    "b",
    "=",
    "=",
    " = ",
    " ",
    "  ",
    ";",
    "; ",
    ",",
    ", ",
    "v",
    "x,y",
    "é",
    "\t",
];
const PAIR_NAMES: &[&str] = &[
    "session",
    "SESSION",
    "Session2",
    "session9",
    "session10",
    "sessionx",
    "authorization",
    "AUTHORIZATION3",
    "s",
    "S2",
    "se",
    "a",
    "é",
    "",
];
/// What follows a name: `=` with spaces around it, or nothing (a bare name).
const EQUALS: &[&str] = &["=", "=", " =", "= ", " = ", "", " "];
const VALUES: &[&str] = &["v", "", "x,y", "1 ", "=", "s=1"];
const SEPARATORS: &[&str] = &[";", "; ", "; ", ",", ", ", " ;", ";;", ""];
const BASES: &[&str] = &["session", "s", "S", "authorization", "se"];
const EXTRAS: &[&str] = &["a", "", "b", "session ", "s=1", "x;y", "é"];

/// Lines of pairs (name, `=` or not, value, separator), or of loose pieces.
fn lines() -> impl Strategy<Value = Vec<String>> {
    let pair = (
        proptest::sample::select(PAIR_NAMES),
        proptest::sample::select(EQUALS),
        proptest::sample::select(VALUES),
        proptest::sample::select(SEPARATORS),
    )
        .prop_map(|(name, equals, value, separator)| [name, equals, value, separator].concat());
    let pairs = proptest::collection::vec(pair, 0..6).prop_map(|pairs| pairs.concat());
    let pieces = proptest::collection::vec(proptest::sample::select(PIECES), 0..14)
        .prop_map(|pieces| pieces.concat());
    proptest::collection::vec(prop_oneof![3 => pairs, 1 => pieces], 1..4)
}

/// Two chunked names (the session and authorization cookies) and maybe one more (a bearer
/// token cookie being hidden), as `strip_filter_cookies` passes them.
fn names() -> impl Strategy<Value = Vec<String>> {
    (
        proptest::sample::select(BASES),
        proptest::sample::select(BASES),
        proptest::option::of(proptest::sample::select(EXTRAS)),
    )
        .prop_map(|(first, second, extra)| {
            let mut names = chunk_names(first);
            names.extend(chunk_names(second));
            names.extend(extra.map(str::to_string));
            names
        })
}

fn found_as_tuple(found: Option<Found>) -> Option<(usize, (usize, usize))> {
    found.map(|f| (f.start, f.value))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn line_scan_finds_what_the_per_name_scan_finds(lines in lines(), names in names()) {
        for line in &lines {
            let scan = LineScan::new(line);
            for name in &names {
                let expected = reference::find_in_line(line, name);
                prop_assert_eq!(found_as_tuple(scan.find(name)), expected, "{:?} {:?}", line, name);
                prop_assert_eq!(found_as_tuple(find_in_line(line, name)), expected);
            }
            let first = names.iter().find_map(|n| reference::find_in_line(line, n));
            prop_assert_eq!(found_as_tuple(scan.first_found(&names)), first);
        }
    }

    #[test]
    fn has_any_and_without_answer_as_before(lines in lines(), names in names()) {
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        prop_assert_eq!(has_any(&lines, &names), reference::has_any(&lines, &names));
        prop_assert_eq!(without(&lines, &names), reference::without(&lines, &names));
        let expected = if !reference::has_any(&lines, &names) {
            Remaining::Unchanged
        } else {
            reference::without(&lines, &names).map_or(Remaining::Nothing, Remaining::Rest)
        };
        prop_assert_eq!(strip(&lines, &names), expected);
    }
}

#[test]
fn a_bare_name_falls_back_to_the_exact_scan() {
    // nginx eats the `;` after the bare `session`, so it skips `session=v` (the first start
    // where the name is followed by `=`) and reads `w`.
    let line = "session;session=v; session=w";
    let scan = LineScan::new(line);
    assert_eq!(scan.starts, vec![0, 8, 19]);
    let expected = Found {
        start: 19,
        value: (27, 28),
    };
    assert_eq!(scan.find("session"), Some(expected));
    assert_eq!(find(&[line], "session"), Some("w"));
    // A longer name at the start is no bare name's `;`: the next pair is read as usual.
    let scan = LineScan::new("sessionx=1; session=2");
    assert_eq!(
        scan.find("session"),
        Some(Found {
            start: 12,
            value: (20, 21)
        })
    );
    assert_eq!(LineScan::new("session").find("session"), None);
    assert_eq!(LineScan::new("session ;a=1").find("session"), None);
}

#[test]
fn names_are_matched_at_pair_starts_only() {
    let scan = LineScan::new("a=session=1, b = 2;;  c");
    assert_eq!(scan.starts, vec![0, 13, 19, 22]);
    assert_eq!(scan.find("session"), None);
    assert_eq!(scan.find("B").map(|f| f.value), Some((17, 18)));
    assert_eq!(scan.find(""), None);
}
