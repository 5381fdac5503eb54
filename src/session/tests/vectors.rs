//! Every cookie the real lua-resty-session 4.0.5 made: decoded, opened, and re-encoded byte
//! for byte from its header fields and plaintext.

use super::support::*;
use crate::session::attributes::{cookie_attributes, set_cookie};
use crate::session::codec::{encode_raw, RawFields};
use crate::session::compression::{inflate_raw, prepare_payload, DEFAULT_COMPRESSION_THRESHOLD};
use crate::session::header::{aad, Header, FLAG_DEFLATE, HEADER_ENCODED_SIZE};
use crate::session::keys::Ikm;
use crate::session::{base64url, crypto, SessionError};

fn first_value(vector: &Vector) -> &str {
    &vector.cookies[0].value
}

#[test]
fn the_vector_file_is_the_expected_one() {
    let file = load();
    assert!(file.about["what"]
        .as_str()
        .unwrap()
        .contains("lua-resty-session v4"));
    assert_eq!(file.vectors.len(), 10);
    assert_eq!(file.negatives.len(), 10);
    assert!(
        file.edge_cases.is_empty(),
        "new edge cases: add tests for them"
    );
}

#[test]
fn headers_decode_to_the_vector_fields() {
    for vector in &load().vectors {
        let value = first_value(vector);
        assert_eq!(
            &value[..HEADER_ENCODED_SIZE],
            vector.header.header_b64url,
            "{}",
            vector.id
        );
        let header = Header::decode(vector.header.header_b64url.as_bytes()).unwrap();
        assert_eq!(header.cookie_type, 1, "{}", vector.id);
        assert_eq!(header.flags, vector.header.flags, "{}", vector.id);
        assert_eq!(
            base64url::encode(&header.sid),
            vector.header.sid_b64url,
            "{}",
            vector.id
        );
        assert_eq!(header.created_at, vector.header.created_at, "{}", vector.id);
        assert_eq!(
            header.rolling_offset, vector.header.rolling_offset,
            "{}",
            vector.id
        );
        assert_eq!(
            header.idling_offset, vector.header.idling_offset,
            "{}",
            vector.id
        );
        assert_eq!(header.data_size, vector.header.data_size, "{}", vector.id);
        assert_eq!(
            header.encode().unwrap(),
            vector.header.header_b64url,
            "{}",
            vector.id
        );
        let payload_chars: usize =
            vector.cookies.iter().map(|c| c.value.len()).sum::<usize>() - HEADER_ENCODED_SIZE;
        assert_eq!(payload_chars, header.data_size as usize, "{}", vector.id);
    }
}

#[test]
fn every_vector_opens_at_its_valid_time() {
    for vector in &load().vectors {
        let codec = codec_for(vector);
        let header = cookie_header(vector);
        let session = codec
            .open(&[&header], vector.valid_now)
            .unwrap_or_else(|e| panic!("{}: {e}", vector.id));
        assert_eq!(
            entries_as_json(session.entries()),
            vector.audiences,
            "{}",
            vector.id
        );
        assert_eq!(session.chunk_count(), vector.cookies.len(), "{}", vector.id);
        assert_eq!(
            session.created_at(),
            vector.header.created_at,
            "{}",
            vector.id
        );
        assert_eq!(
            session.id().unwrap(),
            vector.header.sid_b64url,
            "{}",
            vector.id
        );

        // One Cookie header per cookie (as HTTP/2 clients send them) reads the same.
        let lines: Vec<String> = vector
            .cookies
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let again = codec.open(&lines, vector.valid_now).unwrap();
        assert_eq!(again.entries(), session.entries(), "{}", vector.id);
    }
}

/// The bytes the library encrypted: the plaintext, or for deflated vectors its zlib output,
/// recovered by decrypting the vector (no pure-Rust deflater reproduces zlib's bytes).
fn encrypted_bytes(vector: &Vector, ikm: &Ikm) -> Vec<u8> {
    let value = first_value(vector);
    let header_bytes: [u8; 82] = base64url::decode(&value.as_bytes()[..HEADER_ENCODED_SIZE])
        .unwrap()
        .try_into()
        .unwrap();
    let header = Header::from_bytes(&header_bytes);
    let payload: String = std::iter::once(&value[HEADER_ENCODED_SIZE..])
        .chain(vector.cookies[1..].iter().map(|c| c.value.as_str()))
        .collect();
    let ciphertext = base64url::decode(payload.as_bytes()).unwrap();
    crypto::decrypt(
        ikm,
        &header.sid,
        aad(&header_bytes),
        &ciphertext,
        &header.tag,
    )
    .unwrap()
}

#[test]
fn every_vector_re_encodes_byte_for_byte() {
    for vector in &load().vectors {
        let ikm = Ikm::from_secret(vector.secret.as_bytes());
        let threshold = vector
            .config
            .compression_threshold
            .unwrap_or(DEFAULT_COMPRESSION_THRESHOLD);
        let plaintext = vector.plaintext.as_bytes();
        let deflated = vector.header.flags & FLAG_DEFLATE != 0;

        let payload = if deflated {
            let zlib_bytes = encrypted_bytes(vector, &ikm);
            assert_eq!(
                inflate_raw(&zlib_bytes).unwrap(),
                plaintext,
                "{}: inflate(vector) == plaintext",
                vector.id
            );
            zlib_bytes
        } else {
            assert_eq!(encrypted_bytes(vector, &ikm), plaintext, "{}", vector.id);
            // Our compression decision agrees: these stay plain.
            assert_eq!(
                prepare_payload(plaintext, threshold),
                (plaintext.to_vec(), false),
                "{}",
                vector.id
            );
            plaintext.to_vec()
        };

        let fields = RawFields {
            flags: vector.header.flags,
            sid: base64url::decode(vector.header.sid_b64url.as_bytes())
                .unwrap()
                .try_into()
                .unwrap(),
            created_at: vector.header.created_at,
            rolling_offset: vector.header.rolling_offset,
            idling_offset: vector.header.idling_offset,
        };
        let encoded = encode_raw(&ikm, &fields, &payload).unwrap();
        let cookies = encoded.cookie_values(&vector.cookie_name).unwrap();
        let want: Vec<(String, String)> = vector
            .cookies
            .iter()
            .map(|c| (c.name.clone(), c.value.clone()))
            .collect();
        assert_eq!(cookies, want, "{}: cookie values", vector.id);

        let attributes = cookie_attributes(&settings(&vector.config));
        let set_cookies: Vec<String> = cookies
            .iter()
            .map(|(n, v)| set_cookie(n, v, &attributes))
            .collect();
        let want: Vec<String> = vector
            .cookies
            .iter()
            .map(|c| c.set_cookie.clone())
            .collect();
        assert_eq!(set_cookies, want, "{}: Set-Cookie", vector.id);
    }
}

#[test]
fn our_deflate_round_trips_and_is_what_save_emits() {
    let file = load();
    for id in ["compressed", "chunked", "chunked-long-name"] {
        let vector = vector(&file, id);
        let plaintext = vector.plaintext.as_bytes();
        let (ours, deflated) = prepare_payload(plaintext, DEFAULT_COMPRESSION_THRESHOLD);
        assert!(deflated, "{id}");
        assert_eq!(inflate_raw(&ours).unwrap(), plaintext, "{id}");

        // Our deflate in the vector's header fields: a cookie Kong can read, that we read back.
        let ikm = Ikm::from_secret(vector.secret.as_bytes());
        let fields = RawFields {
            flags: FLAG_DEFLATE,
            sid: [7; 32],
            created_at: vector.header.created_at,
            rolling_offset: 0,
            idling_offset: 0,
        };
        let encoded = encode_raw(&ikm, &fields, &ours).unwrap();
        let header: String = encoded
            .cookie_values(&vector.cookie_name)
            .unwrap()
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let session = codec_for(vector)
            .open(&[&header], vector.valid_now)
            .unwrap();
        assert_eq!(entries_as_json(session.entries()), vector.audiences, "{id}");

        // save() encrypts exactly prepare_payload(our JSON).
        let codec = codec_for(vector);
        let mut session = session;
        let set_cookies = codec
            .save(&mut session, vector.saved_at + 5, [9; 32])
            .unwrap();
        let saved_header = session.header().unwrap().clone();
        assert_ne!(saved_header.flags & FLAG_DEFLATE, 0, "{id}");
        let request = cookie_header_from_set_cookies(&set_cookies);
        let mut value: String = String::new();
        for pair in request.split("; ") {
            value.push_str(pair.split_once('=').unwrap().1);
        }
        let ciphertext = base64url::decode(&value.as_bytes()[HEADER_ENCODED_SIZE..]).unwrap();
        let header_bytes = saved_header.to_bytes().unwrap();
        let encrypted = crypto::decrypt(
            &ikm,
            &saved_header.sid,
            aad(&header_bytes),
            &ciphertext,
            &saved_header.tag,
        )
        .unwrap();
        let json = crate::session::plaintext::write_entries(session.entries());
        assert_eq!(
            encrypted,
            prepare_payload(json.as_bytes(), DEFAULT_COMPRESSION_THRESHOLD).0,
            "{id}"
        );
        assert_eq!(
            json.len(),
            plaintext.len(),
            "{id}: our JSON has the library's length (cjson conventions)"
        );
    }
}

#[test]
fn our_json_has_the_librarys_length_for_every_vector() {
    // Same bytes up to object key order: escaping (`\/`), raw UTF-8 and number forms agree.
    for vector in &load().vectors {
        let entries =
            crate::session::plaintext::parse_entries(vector.plaintext.as_bytes()).unwrap();
        let ours = crate::session::plaintext::write_entries(&entries);
        assert_eq!(ours.len(), vector.plaintext.len(), "{}", vector.id);
        assert_eq!(
            crate::session::plaintext::parse_entries(ours.as_bytes()).unwrap(),
            entries,
            "{}",
            vector.id
        );
    }
}

#[test]
fn touch_reproduces_the_touched_vector() {
    let file = load();
    let resaved = vector(&file, "small-3-resaved");
    let touched = vector(&file, "small-3-touched");
    let codec = codec_for(resaved);
    let mut session = codec
        .open(&[&cookie_header(resaved)], touched.saved_at)
        .unwrap();
    let set_cookies = codec
        .refresh(&mut session, touched.saved_at, [0; 32])
        .unwrap()
        .expect("a touch is due");
    assert_eq!(set_cookies, vec![touched.cookies[0].set_cookie.clone()]);
    assert_eq!(session.header().unwrap().idling_offset, 300);
}

#[test]
fn resave_matches_the_resaved_vector_header() {
    let file = load();
    let original = vector(&file, "small-3");
    let resaved = vector(&file, "small-3-resaved");
    let codec = codec_for(original);
    let mut session = codec
        .open(&[&cookie_header(original)], resaved.saved_at)
        .unwrap();
    let sid: [u8; 32] = base64url::decode(resaved.header.sid_b64url.as_bytes())
        .unwrap()
        .try_into()
        .unwrap();
    let set_cookies = codec.save(&mut session, resaved.saved_at, sid).unwrap();
    assert_eq!(set_cookies.len(), 1);
    let header = session.header().unwrap();
    assert_eq!(
        (
            header.flags,
            header.created_at,
            header.rolling_offset,
            header.idling_offset,
            header.data_size
        ),
        (
            resaved.header.flags,
            resaved.header.created_at,
            resaved.header.rolling_offset,
            resaved.header.idling_offset,
            resaved.header.data_size
        )
    );
    assert_eq!(base64url::encode(&header.sid), resaved.header.sid_b64url);
    let reopened = codec
        .open(
            &[&cookie_header_from_set_cookies(&set_cookies)],
            resaved.valid_now,
        )
        .unwrap();
    assert_eq!(entries_as_json(reopened.entries()), resaved.audiences);
}

#[test]
fn adding_an_audience_matches_the_multi_audience_vector() {
    let file = load();
    let original = vector(&file, "small-1");
    let multi = vector(&file, "multi-audience");
    let codec = codec_for(original);
    let mut session = codec
        .open(&[&cookie_header(original)], multi.saved_at)
        .unwrap();
    assert_eq!(
        session.audience_data("admin"),
        Err(SessionError::MissingAudience)
    );
    session.set(
        "admin",
        serde_json::json!({"role": "admin", "client": 2}),
        Some("admin-user".into()),
    );
    let set_cookies = codec.save(&mut session, multi.saved_at, [1; 32]).unwrap();
    let header = session.header().unwrap();
    assert_eq!(
        (header.created_at, header.rolling_offset, header.data_size),
        (
            multi.header.created_at,
            multi.header.rolling_offset,
            multi.header.data_size
        )
    );
    let reopened = codec
        .open(
            &[&cookie_header_from_set_cookies(&set_cookies)],
            multi.valid_now,
        )
        .unwrap();
    assert_eq!(entries_as_json(reopened.entries()), multi.audiences);
    assert_eq!(reopened.subject("admin"), Some("admin-user"));
    assert_eq!(reopened.subject("default"), Some("5f1f2a9e-user-1"));
}

#[test]
fn negatives_get_the_librarys_verdict() {
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
        let codec =
            crate::session::SessionCodec::new(settings(&negative.config), secret.as_bytes())
                .with_fallback_secrets(&fallbacks);
        let audience = negative.config.audience.as_deref().unwrap_or("default");
        let verdict = codec
            .open(&[&cookie_header(vector)], negative.now)
            .and_then(|session| session.audience_data(audience).map(|_| ()));
        assert_eq!(
            verdict.is_ok(),
            negative.real_open_ok,
            "{}: {verdict:?}",
            negative.id
        );
        if let Err(error) = verdict {
            assert_eq!(
                Some(error.to_string()),
                negative.real_error,
                "{}",
                negative.id
            );
        }
    }
}
