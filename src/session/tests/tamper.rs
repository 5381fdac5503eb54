//! Altered cookies are errors, never panics and never data.

use super::support::*;
use crate::session::header::HEADER_ENCODED_SIZE;
use crate::session::{SessionCodec, SessionError};

fn other_char(c: char) -> char {
    if c == 'A' {
        'B'
    } else {
        'A'
    }
}

fn replace_at(text: &str, index: usize, with: char) -> String {
    text.char_indices()
        .map(|(i, c)| if i == index { with } else { c })
        .collect()
}

#[test]
fn every_changed_character_of_a_single_cookie_is_refused() {
    let file = load();
    for id in ["small-1", "small-3-touched", "compressed"] {
        let vector = vector(&file, id);
        let codec = codec_for(vector);
        let value = &vector.cookies[0].value;
        for (index, c) in value.char_indices() {
            for with in [other_char(c), '=', '!', '+', '/'] {
                let cookie = format!("session={}", replace_at(value, index, with));
                let result = codec.open(&[&cookie], vector.valid_now);
                assert!(result.is_err(), "{id}: '{with}' at {index} was accepted");
            }
        }
    }
}

#[test]
fn header_and_payload_errors_say_where() {
    let file = load();
    let vector = vector(&file, "small-1");
    let codec = codec_for(vector);
    let value = &vector.cookies[0].value;
    let open = |cookie: String| codec.open(&[&cookie], vector.valid_now).unwrap_err();

    // A changed sid byte: the MAC no longer matches.
    assert_eq!(
        open(format!(
            "session={}",
            replace_at(value, 10, other_char(value.as_bytes()[10] as char))
        )),
        SessionError::InvalidMac
    );
    // A changed payload character: the GCM tag no longer matches.
    let last = value.len() - 5;
    assert_eq!(
        open(format!(
            "session={}",
            replace_at(value, last, other_char(value.as_bytes()[last] as char))
        )),
        SessionError::Decrypt
    );
    // The type byte: first character 'A' -> 'B' changes type 1 to 5.
    assert_eq!(
        open(format!("session={}", replace_at(value, 0, 'B'))),
        SessionError::InvalidCookieType
    );
    assert_eq!(
        open(format!("session={}", &value[..HEADER_ENCODED_SIZE])),
        SessionError::InvalidPayload
    );
    assert_eq!(
        open(format!("session={}", &value[..HEADER_ENCODED_SIZE - 1])),
        SessionError::InvalidHeader
    );
    // One character short: the last `data_size` characters now start inside the header, so the
    // payload is shifted (the library reads it the same way and fails to decrypt).
    assert!(matches!(
        open(format!("session={}", &value[..value.len() - 1])),
        SessionError::PayloadEncoding | SessionError::Decrypt
    ));
    assert_eq!(
        open(format!("session={}=", &value[..value.len() - 1])),
        SessionError::PayloadEncoding
    );
    assert_eq!(
        open(format!("session={value}=")),
        SessionError::PayloadEncoding
    );
    assert_eq!(
        open(format!("session={value}==")),
        SessionError::PayloadEncoding
    );
    assert_eq!(open("session=".to_string()), SessionError::InvalidHeader);
    assert_eq!(
        open(format!("session={}", "A".repeat(600))),
        SessionError::InvalidCookieType
    );

    let wrong = SessionCodec::new(settings(&vector.config), b"wrong secret");
    assert_eq!(
        wrong
            .open(&[&cookie_header(vector)], vector.valid_now)
            .unwrap_err(),
        SessionError::InvalidMac
    );
}

#[test]
fn chunk_tampering_is_refused() {
    let file = load();
    let vector = vector(&file, "chunked");
    let codec = codec_for(vector);
    let cookies: Vec<(String, String)> = vector
        .cookies
        .iter()
        .map(|c| (c.name.clone(), c.value.clone()))
        .collect();
    let join = |cookies: &[(String, String)]| {
        cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let open = |header: String| codec.open(&[&header], vector.valid_now);

    assert!(open(join(&cookies)).is_ok());
    assert_eq!(
        open(join(&cookies[..3])).unwrap_err(),
        SessionError::MissingChunk
    );
    let mut swapped = cookies.clone();
    let (two, three) = (swapped[1].1.clone(), swapped[2].1.clone());
    swapped[1].1 = three;
    swapped[2].1 = two;
    assert_eq!(open(join(&swapped)).unwrap_err(), SessionError::Decrypt);
    for chunk in 1..4 {
        let mut changed = cookies.clone();
        let c = changed[chunk].1.as_bytes()[7] as char;
        changed[chunk].1 = replace_at(&changed[chunk].1, 7, other_char(c));
        assert!(open(join(&changed)).is_err(), "chunk {chunk}");
        let mut short = cookies.clone();
        short[chunk].1.pop();
        assert_eq!(
            open(join(&short)).unwrap_err(),
            SessionError::InvalidPayload,
            "chunk {chunk}"
        );
    }
}

#[test]
fn an_oversized_data_size_is_refused_before_reading_chunks() {
    // A header announcing more than nine cookies of data, with a valid MAC: refused by size.
    use crate::session::codec::{encode_raw, RawFields};
    use crate::session::keys::Ikm;
    let ikm = Ikm::from_secret(b"s");
    let fields = RawFields {
        flags: 0,
        sid: [1; 32],
        created_at: 100,
        rolling_offset: 0,
        idling_offset: 0,
    };
    let encoded = encode_raw(&ikm, &fields, &vec![b'x'; 30000]).unwrap();
    let codec = SessionCodec::new(Default::default(), b"s");
    let cookie = format!(
        "session={}{}",
        encoded.header_text,
        &encoded.payload_text[..100]
    );
    assert_eq!(
        codec.open(&[&cookie], 100).unwrap_err(),
        SessionError::SizeLimitExceeded
    );
}
