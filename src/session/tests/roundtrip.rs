//! Save-then-open round trips, the chunk limits, shrinking, touch and renewal, clearing.

use serde_json::json;

use super::support::*;
use crate::session::chunking::{MAX_COOKIES_SIZE, MAX_COOKIE_SIZE};
use crate::session::header::FLAG_DEFLATE;
use crate::session::{SameSite, SessionCodec, SessionError, SessionSettings};

const NOW: u64 = 1_700_000_000;
const SECRET: &[u8] = b"round-trip-secret";

fn codec() -> SessionCodec {
    SessionCodec::new(SessionSettings::default(), SECRET)
}

fn name_value(set_cookie: &str) -> (&str, &str) {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
}

#[test]
fn save_then_open() {
    let codec = codec();
    let mut session = codec.start(NOW);
    assert_eq!(session.chunk_count(), 0);
    session.set(
        "default",
        json!({"tokens": {"access_token": "a/b"}, "expires": NOW + 300}),
        Some("alice".into()),
    );
    let set_cookies = codec.save(&mut session, NOW + 2, [5; 32]).unwrap();
    assert_eq!(set_cookies.len(), 1);
    assert!(set_cookies[0].starts_with("session="));
    assert!(set_cookies[0].ends_with("; Path=/; SameSite=Lax; HttpOnly"));
    assert_eq!(
        session.created_at(),
        NOW + 2,
        "a new session is created when first saved"
    );

    let opened = codec
        .open(
            &[&format!(
                "other=1; {}",
                cookie_header_from_set_cookies(&set_cookies)
            )],
            NOW + 10,
        )
        .unwrap();
    assert_eq!(opened.data("default"), session.data("default"));
    assert_eq!(opened.subject("default"), Some("alice"));
    assert_eq!(opened.created_at(), NOW + 2);
    let header = opened.header().unwrap();
    assert_eq!(
        (header.rolling_offset, header.idling_offset, header.flags),
        (0, 0, 0)
    );
    assert_eq!(header.sid, [5; 32]);

    // A second save keeps the creation time and records the rolling offset.
    let mut opened = opened;
    let set_cookies = codec.save(&mut opened, NOW + 100, [6; 32]).unwrap();
    let again = codec
        .open(&[&cookie_header_from_set_cookies(&set_cookies)], NOW + 100)
        .unwrap();
    assert_eq!(again.created_at(), NOW + 2);
    assert_eq!(again.header().unwrap().rolling_offset, 98);
}

#[test]
fn attributes_follow_the_settings() {
    let settings = SessionSettings {
        cookie_name: "kong_oidc".into(),
        path: "/api".into(),
        domain: Some("example.org".into()),
        same_site: SameSite::Strict,
        secure: true,
        http_only: false,
        ..SessionSettings::default()
    };
    let codec = SessionCodec::new(settings, SECRET);
    let mut session = codec.start(NOW);
    session.set("default", json!({}), None);
    let set_cookies = codec.save(&mut session, NOW, [1; 32]).unwrap();
    assert!(set_cookies[0].starts_with("kong_oidc="));
    assert!(set_cookies[0].ends_with("; Domain=example.org; Path=/api; SameSite=Strict; Secure"));
    assert_eq!(
        codec.clear(Some(&session)),
        vec!["kong_oidc=; Domain=example.org; Path=/api; SameSite=Strict; Secure; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0"]
    );
}

/// A session whose JSON is exactly `json_len` bytes (ASCII), compression off.
fn sized_session(codec: &SessionCodec, json_len: usize) -> crate::session::Session {
    const OVERHEAD: usize = r#"[[{"x":""},"default"]]"#.len();
    let mut session = codec.start(NOW);
    session.set(
        "default",
        json!({"x": "p".repeat(json_len - OVERHEAD)}),
        None,
    );
    session
}

#[test]
fn one_cookie_up_to_4096_characters() {
    let codec = codec().with_compression_threshold(0);
    // 2983 JSON bytes -> 3978 base64url characters: "session=" + 110 + 3978 = 4096.
    let set_cookies = codec
        .save(&mut sized_session(&codec, 2983), NOW, [1; 32])
        .unwrap();
    assert_eq!(set_cookies.len(), 1);
    let (name, value) = name_value(&set_cookies[0]);
    assert_eq!(name.len() + 1 + value.len(), MAX_COOKIE_SIZE);

    let set_cookies = codec
        .save(&mut sized_session(&codec, 2984), NOW, [1; 32])
        .unwrap();
    assert_eq!(set_cookies.len(), 2);
}

#[test]
fn nine_cookies_at_the_limit_ten_are_an_error() {
    let codec = codec().with_compression_threshold(0);
    // 27505 JSON bytes -> 36674 characters: with names, exactly 36,864 over nine cookies.
    let mut session = sized_session(&codec, 27505);
    let set_cookies = codec.save(&mut session, NOW, [1; 32]).unwrap();
    assert_eq!(set_cookies.len(), 9);
    let mut total = 0;
    for (index, set_cookie) in set_cookies.iter().enumerate() {
        let (name, value) = name_value(set_cookie);
        let want_name = if index == 0 {
            "session".to_string()
        } else {
            format!("session{}", index + 1)
        };
        assert_eq!(name, want_name);
        assert!(name.len() + 1 + value.len() <= MAX_COOKIE_SIZE);
        total += name.len() + 1 + value.len();
    }
    assert_eq!(total, MAX_COOKIES_SIZE);
    assert_eq!(session.chunk_count(), 9);
    let opened = codec
        .open(&[&cookie_header_from_set_cookies(&set_cookies)], NOW)
        .unwrap();
    assert_eq!(opened.data("default"), session.data("default"));

    let mut too_big = sized_session(&codec, 27506);
    assert_eq!(
        codec.save(&mut too_big, NOW, [1; 32]),
        Err(SessionError::SizeLimitExceeded)
    );
    assert_eq!(
        too_big.chunk_count(),
        0,
        "a failed save leaves the session as it was"
    );
}

#[test]
fn large_data_is_deflated_and_chunked() {
    let codec = codec();
    let mut session = codec.start(NOW);
    let tokens: Vec<String> = (0..400)
        .map(|i| format!("token-{i}-{}", "x".repeat(i % 37)))
        .collect();
    session.set("default", json!({ "tokens": tokens }), Some("bob".into()));
    let set_cookies = codec.save(&mut session, NOW, [2; 32]).unwrap();
    assert_ne!(session.header().unwrap().flags & FLAG_DEFLATE, 0);
    let opened = codec
        .open(&[&cookie_header_from_set_cookies(&set_cookies)], NOW)
        .unwrap();
    assert_eq!(opened.data("default"), session.data("default"));
    assert_eq!(opened.chunk_count(), set_cookies.len());
}

#[test]
fn shrinking_expires_the_stale_chunks() {
    let file = load();
    let chunked = vector(&file, "chunked");
    let codec = codec_for(chunked);
    let mut session = codec
        .open(&[&cookie_header(chunked)], chunked.valid_now)
        .unwrap();
    assert_eq!(session.chunk_count(), 4);
    session.set("default", json!({"small": true}), None);
    let set_cookies = codec
        .save(&mut session, chunked.valid_now, [3; 32])
        .unwrap();
    let expire =
        "; Path=/; SameSite=Lax; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0";
    assert_eq!(set_cookies.len(), 4);
    assert!(set_cookies[0].starts_with("session=A"));
    assert_eq!(
        &set_cookies[1..],
        [
            format!("session2={expire}"),
            format!("session3={expire}"),
            format!("session4={expire}")
        ]
    );
    assert_eq!(session.chunk_count(), 1);

    // The browser now holds one cookie; the next save expires nothing.
    let again = codec
        .save(&mut session, chunked.valid_now, [4; 32])
        .unwrap();
    assert_eq!(again.len(), 1);
}

#[test]
fn refresh_does_nothing_then_touches_then_renews() {
    let file = load();
    let small = vector(&file, "small-1");
    let codec = codec_for(small);
    let created = small.header.created_at;
    let cookie = cookie_header(small);

    let mut session = codec.open(&[&cookie], created + 60).unwrap();
    assert_eq!(
        codec.refresh(&mut session, created + 60, [1; 32]).unwrap(),
        None
    );

    let mut session = codec.open(&[&cookie], created + 61).unwrap();
    let touched = codec
        .refresh(&mut session, created + 61, [1; 32])
        .unwrap()
        .unwrap();
    assert_eq!(touched.len(), 1);
    let touched_session = codec
        .open(
            &[&cookie_header_from_set_cookies(&touched)],
            created + 61 + 900,
        )
        .unwrap();
    let header = touched_session.header().unwrap();
    assert_eq!(header.idling_offset, 61);
    assert_eq!(
        header.sid,
        session.header().unwrap().sid,
        "a touch keeps the sid"
    );
    assert_eq!(
        codec
            .open(
                &[&cookie_header_from_set_cookies(&touched)],
                created + 61 + 901
            )
            .unwrap_err(),
        SessionError::IdlingTimeout
    );

    // Past 3/4 of the rolling timeout (2700 s): a full save with a new sid.
    let long_idle = SessionCodec::new(
        SessionSettings {
            idling_timeout: 0,
            ..settings(&small.config)
        },
        small.secret.as_bytes(),
    );
    let mut session = long_idle.open(&[&cookie], created + 2701).unwrap();
    let renewed = long_idle
        .refresh(&mut session, created + 2701, [8; 32])
        .unwrap()
        .unwrap();
    let renewed = long_idle
        .open(
            &[&cookie_header_from_set_cookies(&renewed)],
            created + 2701 + 3600,
        )
        .unwrap();
    let header = renewed.header().unwrap();
    assert_eq!(
        (header.sid, header.created_at, header.rolling_offset),
        ([8; 32], created, 2701)
    );
    assert_eq!(renewed.data("default"), session.data("default"));
}

#[test]
fn a_fallback_secret_opens_and_touches_with_the_old_key() {
    let file = load();
    let small = vector(&file, "small-1");
    let codec = SessionCodec::new(settings(&small.config), b"new-secret")
        .with_fallback_secrets(&[small.secret.as_bytes()]);
    let mut session = codec
        .open(&[&cookie_header(small)], small.valid_now + 100)
        .unwrap();
    let touched = codec.touch(&mut session, small.valid_now + 100).unwrap();
    // The old secret still reads the touched cookie: the library re-MACs with the key that opened it.
    let old = codec_for(small);
    assert!(old
        .open(
            &[&cookie_header_from_set_cookies(&[touched])],
            small.valid_now + 100
        )
        .is_ok());
    // A save writes with the new secret only.
    let saved = codec
        .save(&mut session, small.valid_now + 100, [2; 32])
        .unwrap();
    let header = cookie_header_from_set_cookies(&saved);
    assert_eq!(
        old.open(&[&header], small.valid_now + 100).unwrap_err(),
        SessionError::InvalidMac
    );
    assert!(SessionCodec::new(settings(&small.config), b"new-secret")
        .open(&[&header], small.valid_now + 100)
        .is_ok());
}

#[test]
fn remove_and_clear() {
    let file = load();
    let multi = vector(&file, "multi-audience");
    let codec = codec_for(multi);
    let mut session = codec
        .open(&[&cookie_header(multi)], multi.valid_now)
        .unwrap();
    assert!(!session.remove("admin"));
    assert!(!session.remove("nope"));
    let set_cookies = codec.save(&mut session, multi.valid_now, [1; 32]).unwrap();
    let reopened = codec
        .open(
            &[&cookie_header_from_set_cookies(&set_cookies)],
            multi.valid_now,
        )
        .unwrap();
    assert_eq!(reopened.entries().len(), 1);
    assert!(reopened.data("admin").is_none());
    assert!(session.remove("default"));
    assert_eq!(
        codec.save(&mut session, multi.valid_now, [1; 32]),
        Err(SessionError::NothingToSave)
    );

    let expire =
        "; Path=/; SameSite=Lax; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0";
    assert_eq!(codec.clear(None), vec![format!("session={expire}")]);
    let chunked = vector(&file, "chunked");
    let chunked_session = codec_for(chunked)
        .open(&[&cookie_header(chunked)], chunked.valid_now)
        .unwrap();
    assert_eq!(
        codec.clear(Some(&chunked_session)),
        // The first cookie last (Kong keeps only the last Set-Cookie of a local response).
        (1..=4)
            .rev()
            .map(|i| format!(
                "{}={expire}",
                if i == 1 {
                    "session".into()
                } else {
                    format!("session{i}")
                }
            ))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        codec
            .strip_request_cookies(
                &format!("a=1; {}; b=2", cookie_header(chunked)),
                Some(&chunked_session)
            )
            .as_deref(),
        Some("a=1; b=2")
    );
}

#[test]
fn refresh_and_touch_need_a_stored_session() {
    let codec = codec();
    let mut session = codec.start(NOW);
    session.set("default", json!({}), None);
    assert_eq!(
        codec.refresh(&mut session, NOW, [0; 32]),
        Err(SessionError::NotPersisted)
    );
    assert_eq!(
        codec.touch(&mut session, NOW),
        Err(SessionError::NotPersisted)
    );
    assert_eq!(
        codec.open(&["a=b"], NOW).unwrap_err(),
        SessionError::NotFound
    );
}
