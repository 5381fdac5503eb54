//! A codec that remembers verified cookies answers exactly as one that does not: same
//! sessions for the same cookies, same errors for altered or expired ones.

use serde_json::json;

use super::support::*;
use crate::session::verified_cookies::MAX_PAYLOAD;
use crate::session::{Session, SessionCodec, SessionError, SessionSettings};

/// What a test compares of an `open` result: the data, the header and the chunk count.
fn outcome(result: Result<Session, SessionError>) -> Result<String, SessionError> {
    result.map(|session| {
        format!(
            "{} {:?} {} {:?}",
            entries_as_json(session.entries()),
            session.header(),
            session.chunk_count(),
            session.id()
        )
    })
}

fn other_char(c: u8) -> char {
    if c == b'A' {
        'B'
    } else {
        'A'
    }
}

/// The payload characters a vector's cookies carry (all chunks, without the header).
fn payload_len(vector: &Vector) -> usize {
    vector.header.data_size as usize
}

#[test]
fn a_remembered_cookie_opens_to_the_same_session_without_decrypting_again() {
    let file = load();
    for vector in &file.vectors {
        let codec = codec_for(vector);
        let header = cookie_header(vector);
        let remembered = usize::from(payload_len(vector) <= MAX_PAYLOAD);
        let first = outcome(codec.open(&[&header], vector.valid_now));
        assert!(first.is_ok(), "{}: {first:?}", vector.id);
        assert_eq!(
            codec.verified_cookie_stats(),
            (remembered, 0),
            "{}",
            vector.id
        );
        let second = outcome(codec.open(&[&header], vector.valid_now));
        assert_eq!(second, first, "{}", vector.id);
        assert_eq!(
            codec.verified_cookie_stats(),
            (remembered, remembered as u64),
            "{}: answered from memory when remembered",
            vector.id
        );
    }
}

/// A session of two cookies (small enough to be remembered), as the Cookie header sends it.
fn two_cookie_session(codec: &SessionCodec) -> String {
    let mut session = codec.start(NOW);
    session.set("default", json!({ "blob": "x".repeat(4500) }), None);
    let set_cookies = codec.save(&mut session, NOW, [4; 32]).unwrap();
    assert_eq!(set_cookies.len(), 2);
    cookie_header_from_set_cookies(&set_cookies)
}

const NOW: u64 = 1_700_000_000;

#[test]
fn altered_cookies_fail_the_same_way_after_the_genuine_one_was_remembered() {
    let file = load();
    for id in ["small-1", "compressed", "chunked"] {
        let vector = vector(&file, id);
        let warm = codec_for(vector);
        let genuine = cookie_header(vector);
        warm.open(&[&genuine], vector.valid_now).unwrap();
        // Every character of every cookie, header and payload alike.
        for (index, c) in genuine.bytes().enumerate() {
            if c == b';' || c == b' ' || c == b'=' {
                continue;
            }
            let mut altered = genuine.clone().into_bytes();
            altered[index] = other_char(c) as u8;
            let altered = String::from_utf8(altered).unwrap();
            let cold = codec_for(vector);
            let expected = outcome(cold.open(&[&altered], vector.valid_now));
            let got = outcome(warm.open(&[&altered], vector.valid_now));
            assert_eq!(got, expected, "{id}: character {index} changed");
        }
        assert_eq!(
            warm.verified_cookie_stats().1,
            0,
            "{id}: no altered cookie was a hit"
        );
    }
}

#[test]
fn every_chunk_must_be_sent_again_for_a_remembered_session() {
    let codec =
        SessionCodec::new(SessionSettings::default(), b"secret").with_compression_threshold(0);
    let header = two_cookie_session(&codec);
    let first = outcome(codec.open(&[&header], NOW + 1));
    assert!(first.is_ok());
    assert_eq!(outcome(codec.open(&[&header], NOW + 1)), first);
    assert_eq!(codec.verified_cookie_stats(), (1, 1));

    let (without_second, _) = header.split_once("; ").unwrap();
    assert_eq!(
        codec.open(&[without_second], NOW + 1).unwrap_err(),
        SessionError::MissingChunk
    );
    // A changed second chunk: same header, other payload; the GCM tag refuses it.
    let middle_of_second = header.len() - 100;
    let mut altered = header.clone().into_bytes();
    altered[middle_of_second] = other_char(altered[middle_of_second]) as u8;
    let altered = String::from_utf8(altered).unwrap();
    assert_eq!(
        codec.open(&[&altered], NOW + 1).unwrap_err(),
        SessionError::Decrypt
    );
    assert_eq!(codec.verified_cookie_stats(), (1, 1));
}

#[test]
fn timeouts_and_secrets_still_apply_to_a_remembered_cookie() {
    let file = load();
    for negative in &file.negatives {
        let vector = vector(&file, &negative.vector);
        let secret = negative.config.secret.as_deref().unwrap_or(&vector.secret);
        let fallbacks: Vec<&[u8]> = negative
            .config
            .secret_fallbacks
            .iter()
            .map(|s| s.as_bytes())
            .collect();
        let codec = || {
            SessionCodec::new(settings(&negative.config), secret.as_bytes())
                .with_fallback_secrets(&fallbacks)
        };
        let audience = negative.config.audience.as_deref().unwrap_or("default");
        let header = cookie_header(vector);
        let verdict = |codec: &SessionCodec| {
            codec
                .open(&[&header], negative.now)
                .and_then(|session| session.audience_data(audience).map(|_| ()))
        };
        let cold = verdict(&codec());
        // Remember the cookie at a time it is valid (when this secret opens it at all), then
        // read it at the negative's time.
        let warm_codec = codec();
        let _ = warm_codec.open(&[&header], vector.valid_now);
        let warm = verdict(&warm_codec);
        assert_eq!(warm, cold, "{}", negative.id);
        assert_eq!(warm.is_ok(), negative.real_open_ok, "{}", negative.id);
    }
}

#[test]
fn new_fallback_secrets_forget_what_was_verified() {
    let file = load();
    let vector = vector(&file, "small-1");
    let codec = codec_for(vector);
    codec
        .open(&[&cookie_header(vector)], vector.valid_now)
        .unwrap();
    assert_eq!(codec.verified_cookie_stats().0, 1);
    let codec = codec.with_fallback_secrets(&[b"older"]);
    assert_eq!(codec.verified_cookie_stats(), (0, 0));
}
