//! `open` never panics, whatever the Cookie headers hold, and a mutated cookie never yields
//! data other than what was saved.

use proptest::prelude::*;

use super::support::*;
use crate::session::SessionCodec;

fn fixtures() -> Vec<(SessionCodec, String, u64, serde_json::Value)> {
    let file = load();
    ["small-1", "compressed", "chunked"]
        .iter()
        .map(|id| {
            let vector = vector(&file, id);
            (
                codec_for(vector),
                cookie_header(vector),
                vector.valid_now,
                vector.audiences.clone(),
            )
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, char),
    Insert(usize, char),
    Remove(usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let position = 0usize..13_000;
    let character = prop_oneof![
        proptest::char::range('A', 'Z'),
        proptest::char::range('a', 'z'),
        Just('-'),
        Just('_'),
        Just('='),
        Just(';'),
        Just(','),
        Just(' '),
        any::<char>(),
    ];
    prop_oneof![
        (position.clone(), character.clone()).prop_map(|(p, c)| Mutation::Replace(p, c)),
        (position.clone(), character).prop_map(|(p, c)| Mutation::Insert(p, c)),
        position.clone().prop_map(Mutation::Remove),
        position.clone().prop_map(Mutation::Truncate),
        (position.clone(), 1usize..200).prop_map(|(p, n)| Mutation::Duplicate(p, n)),
    ]
}

fn apply(text: &str, mutation: &Mutation) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let len = chars.len().max(1);
    match *mutation {
        Mutation::Replace(p, c) => {
            if let Some(slot) = chars.get_mut(p % len) {
                *slot = c;
            }
        }
        Mutation::Insert(p, c) => chars.insert(p % (chars.len() + 1), c),
        Mutation::Remove(p) => {
            if !chars.is_empty() {
                chars.remove(p % len);
            }
        }
        Mutation::Truncate(p) => chars.truncate(p % len),
        Mutation::Duplicate(p, n) => {
            let start = p % len;
            let end = (start + n).min(chars.len());
            let copy: Vec<char> = chars.get(start..end).unwrap_or_default().to_vec();
            chars.splice(start..start, copy);
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn open_never_panics_on_arbitrary_headers(headers in proptest::collection::vec("\\PC*", 0..4), now in any::<u64>()) {
        let codec = SessionCodec::new(Default::default(), b"secret");
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let _ = codec.open(&headers, now);
    }

    #[test]
    fn open_never_panics_on_session_like_values(value in "[A-Za-z0-9_=-]{0,700}", suffix in "\\PC{0,20}", now in any::<u64>()) {
        let codec = SessionCodec::new(Default::default(), b"secret");
        let header = format!("session=AQAA{value}{suffix}; session2={value}");
        let _ = codec.open(&[&header], now);
    }

    #[test]
    fn mutated_cookies_never_yield_other_data(
        which in 0usize..3,
        mutations in proptest::collection::vec(mutation(), 1..4),
        now_shift in -100_000i64..100_000,
    ) {
        let fixtures = fixtures();
        let (codec, header, valid_now, audiences) = &fixtures[which];
        let mutated = mutations.iter().fold(header.clone(), |text, m| apply(&text, m));
        let now = valid_now.saturating_add_signed(now_shift);
        if let Ok(session) = codec.open(&[&mutated], now) {
            prop_assert_eq!(&entries_as_json(session.entries()), audiences);
        }
    }
}
