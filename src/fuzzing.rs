//! Entry points for the coverage-guided fuzz targets in `fuzz/` and for the tests that replay
//! their corpus on stable (`fuzz_corpus` below). Each entry takes the raw fuzzer bytes, drives
//! one parser of the filter core with them, and panics only when an invariant breaks: a parser
//! panicking on input is a bug, and so is a decoder that accepts what it must refuse.
//!
//! Compiled only for tests and `cargo fuzz` builds (`--cfg fuzzing`): never part of the filter.
//! Inputs with several parts separate them with NUL bytes (see [`parts`]), which no JSON document,
//! token or header value the filter accepts contains, so the fuzzer can splice parts freely.

// The entry points assert the parsers' invariants: a broken one must stop the fuzzer loudly.
#![allow(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::config::Config;
use crate::discovery::{Jwks, ProviderMetadata};
use crate::http::{basic, cookies, form, url};
use crate::session::codec::{encode_raw, RawFields};
use crate::session::header::{FLAG_DEFLATE, FLAG_FORGET, SID_SIZE};
use crate::session::keys::Ikm;
use crate::session::{SessionCodec, SessionSettings};
use crate::token::{self, IdTokenRules, VerifyPolicy};

/// The session secret every session entry encrypts and decrypts with.
const SESSION_SECRET: &[u8] = b"fuzzing-session-secret";
/// The HS256 secret tokens of [`jwt`]'s signing mode are signed and verified with.
const HS_SECRET: &[u8] = b"fuzzing-hs-secret";
/// The issuer the verification policies of [`jwt`] allow.
const ISSUER: &str = "https://idp.fuzz";
/// A fixed clock (2024-01-01) so that a corpus file replays the same way on every run.
const NOW: u64 = 1_704_067_200;

/// Splits `data` at NUL bytes into exactly `n` parts; missing parts are empty, and the last
/// part keeps any further NULs.
fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |b| *b == 0).collect();
    out.resize(n, &[]);
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The session cookie codec. The first byte picks what the rest is:
/// - 0: Cookie header lines (separated by `\n`), opened as they come;
/// - 1: a session's plaintext, encrypted with the real key so that decryption succeeds and the
///   inflate and JSON stages see arbitrary data; whatever opens must save and reopen the same;
/// - 2: a valid chunked session whose cookie set the rest of the input reorders, drops,
///   duplicates and renames; what opens must be exactly the session that was encoded.
pub fn session_cookie(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let codec = SessionCodec::new(SessionSettings::default(), SESSION_SECRET);
    match mode % 3 {
        0 => open_cookie_lines(&codec, rest),
        1 => open_encrypted_plaintext(&codec, rest),
        _ => open_shuffled_chunks(&codec, rest),
    }
}

fn open_cookie_lines(codec: &SessionCodec, rest: &[u8]) {
    let lines = text(rest);
    let headers: Vec<&str> = lines.split('\n').collect();
    let opened = codec.open(&headers, NOW);
    // Without the secret's key nothing forged from random bytes may open; a corpus file that
    // carries a genuine cookie (made with SESSION_SECRET) opens, and then must survive a save.
    if let Ok(mut session) = opened {
        let entries = session.entries().to_vec();
        if !entries.is_empty() {
            resave_and_reopen(codec, &mut session, &entries);
        }
    }
    for header in &headers {
        let _ = codec.strip_request_cookies(header, None);
    }
}

/// Header fields chosen by the input: flags (deflate or not, forget), creation time.
fn raw_fields(control: &[u8]) -> RawFields {
    let byte = |i: usize| control.get(i).copied().unwrap_or(0);
    let mut flags = 0;
    if byte(0) & 1 != 0 {
        flags |= FLAG_DEFLATE;
    }
    if byte(0) & 2 != 0 {
        flags |= FLAG_FORGET;
    }
    RawFields {
        flags,
        sid: [byte(1); SID_SIZE],
        // Within the default timeouts of NOW, or far outside them when the byte says so.
        created_at: NOW - u64::from(byte(2)) * u64::from(byte(3)) * 8,
        rolling_offset: u32::from(byte(4)),
        idling_offset: u32::from(byte(5)),
    }
}

fn open_encrypted_plaintext(codec: &SessionCodec, rest: &[u8]) {
    let (control, plaintext) = rest.split_at(rest.len().min(6));
    let fields = raw_fields(control);
    let ikm = Ikm::from_secret(SESSION_SECRET);
    let Ok(encoded) = encode_raw(&ikm, &fields, plaintext) else {
        return;
    };
    let Ok(values) = encoded.cookie_values("session") else {
        return;
    };
    let line = values
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ");
    if let Ok(mut session) = codec.open(&[&line], NOW) {
        let entries = session.entries().to_vec();
        if !entries.is_empty() {
            resave_and_reopen(codec, &mut session, &entries);
        }
    }
}

/// A session that opened is saved again and must reopen with the same entries.
fn resave_and_reopen(
    codec: &SessionCodec,
    session: &mut crate::session::Session,
    entries: &[crate::session::AudienceEntry],
) {
    let set_cookies = codec
        .save(session, NOW, [7; SID_SIZE])
        .expect("an opened session saves again");
    let line = set_cookies
        .iter()
        .filter_map(|set_cookie| set_cookie.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    let reopened = codec
        .open(&[&line], NOW)
        .expect("a saved session opens again");
    assert_eq!(reopened.entries(), entries, "save/open changed the session");
}

fn open_shuffled_chunks(codec: &SessionCodec, rest: &[u8]) {
    let (edits, filler) = rest.split_at(rest.len().min(16));
    // Enough incompressible data for several chunks, derived from the input.
    let blob: String = filler
        .iter()
        .cycle()
        .take(if filler.is_empty() { 0 } else { 9000 })
        .enumerate()
        .map(|(i, b)| char::from(b'a' + (b.wrapping_add((i as u8).wrapping_mul(31)) % 26)))
        .collect();
    let mut original = codec.start(NOW);
    original.set("kong", Value::String(blob), Some("sub".to_string()));
    let entries = original.entries().to_vec();
    let Ok(set_cookies) = codec.save(&mut original, NOW, [3; SID_SIZE]) else {
        return;
    };
    let mut pairs: Vec<String> = set_cookies
        .iter()
        .filter_map(|set_cookie| set_cookie.split(';').next().map(str::to_string))
        .collect();
    for pair in edits.chunks(2) {
        let (op, arg) = (pair[0], pair.get(1).copied().unwrap_or(0));
        let len = pairs.len();
        if len == 0 {
            break;
        }
        let i = usize::from(arg) % len;
        match op % 6 {
            0 => pairs.swap(i, usize::from(op / 6) % len),
            1 => drop(pairs.remove(i)),
            2 => pairs.push(pairs[i].clone()),
            3 => pairs[i] = pairs[i].to_uppercase(),
            // Cut a chunk's value short, or put an empty cookie of that name first.
            4 => {
                let keep = pairs[i].len().saturating_sub(usize::from(op / 6) + 1);
                pairs[i].truncate(keep);
            }
            _ => {
                let name = pairs[i].split('=').next().unwrap_or_default().to_string();
                pairs.insert(0, format!("{name}="));
            }
        }
    }
    // One header line, or one line per cookie, as the first edit byte says.
    let lines: Vec<String> = if edits.first().is_some_and(|b| b & 0x80 != 0) {
        pairs
    } else {
        vec![pairs.join("; ")]
    };
    let headers: Vec<&str> = lines.iter().map(String::as_str).collect();
    if let Ok(session) = codec.open(&headers, NOW) {
        assert_eq!(
            session.entries(),
            entries.as_slice(),
            "a modified chunk set opened as a different session"
        );
    }
}

/// The plugin config parser, from arbitrary JSON; a config it accepts must also build the
/// flows' settings or be refused there with an error (never a panic).
pub fn config(data: &[u8]) {
    if let Ok(config) = Config::parse(data) {
        let _ = crate::flows::Settings::new(config, SESSION_SECRET);
    }
}

fn hs256(signing_input: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(HS_SECRET).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn policy(flags: u8) -> VerifyPolicy {
    let mut policy = VerifyPolicy::for_issuer(ISSUER);
    policy.verify_signature = flags & 1 == 0;
    policy.verify_claims = flags & 2 == 0;
    policy.enable_hs_signatures = flags & 4 != 0;
    policy.hs_secret = (flags & 8 == 0).then(|| HS_SECRET.to_vec());
    policy.leeway = u64::from(flags >> 4) * 30;
    if flags & 0x40 != 0 {
        policy.audiences = vec!["kong".to_string()];
    }
    policy
}

/// JWT and JWKS parsing and verification. Parts (NUL-separated): a flags byte, a JWKS document,
/// then either a compact token (flags bit 7 clear) or a header and a claim set as JSON that are
/// HS256-signed here with the policy's secret (bit 7 set), so that the claim checks see
/// arbitrary claims behind a valid signature.
pub fn jwt(data: &[u8]) {
    let [flags, jwks, first, second] = parts(data, 4)[..] else {
        return;
    };
    let flags = flags.first().copied().unwrap_or(0);
    let keys = match Jwks::parse(jwks) {
        Ok(keys) => {
            // The adapter shares key sets between workers as JSON: the round trip keeps every
            // usable key (the skipped ones are only for the log and are not shared).
            let shared = serde_json::to_vec(&keys).expect("a key set serialises");
            let again = Jwks::parse(&shared).expect("a shared key set parses");
            assert_eq!(
                again.keys(),
                keys.keys(),
                "JWKS keys changed in a JSON round trip"
            );
            assert!(
                again.skipped().is_empty(),
                "a shared key was skipped on reading"
            );
            keys
        }
        Err(_) => Jwks::default(),
    };
    let token = if flags & 0x80 != 0 {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(first),
            URL_SAFE_NO_PAD.encode(second)
        );
        let signature = hs256(&signing_input);
        format!("{signing_input}.{signature}")
    } else {
        text(first)
    };
    let _ = token::looks_like_jwt(&token);
    let _ = token::decode_unverified(&token);
    let policy = policy(flags);
    if let Ok(verified) = token::verify_jwt(&token, &keys, &policy, NOW) {
        check_verified(&verified.header, &verified.claims, &policy);
    }
    let rules = IdTokenRules {
        client_id: "kong".to_string(),
        trusted_audiences: Vec::new(),
        algorithms: Vec::new(),
        max_age: (flags & 0x20 != 0).then_some(600),
        access_token: Some(text(second)),
        original: None,
    };
    if let Ok(verified) = token::verify_id_token(&token, &keys, &policy, &rules, NOW) {
        check_verified(&verified.header, &verified.claims, &policy);
    }
}

/// What a verified token must satisfy whatever the input: never unsigned, and with claim
/// checks on, issued by an allowed issuer and not expired.
fn check_verified(header: &token::JsonObject, claims: &token::JsonObject, policy: &VerifyPolicy) {
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    assert!(
        !alg.eq_ignore_ascii_case("none"),
        "an unsigned token verified"
    );
    if policy.verify_claims {
        let iss = claims.get("iss").and_then(Value::as_str);
        assert!(
            iss.is_some_and(|iss| policy.issuers_allowed.iter().any(|a| a == iss)),
            "a token of issuer {iss:?} verified"
        );
        if let Some(exp) = claims.get("exp").and_then(Value::as_f64) {
            assert!(
                exp + policy.leeway as f64 > NOW as f64,
                "an expired token verified (exp {exp})"
            );
        }
    }
}

/// The HTTP parsers. Parts: an Authorization value, Cookie lines (`\n`-separated), a form body,
/// a request target, a URL.
pub fn http(data: &[u8]) {
    let [authorization, cookie_lines, body, target, absolute] = parts(data, 5)[..] else {
        return;
    };

    let authorization = text(authorization);
    if let Some((user, password)) = basic::parse(&authorization) {
        // What the parser returns, a client's own Basic header (user:password in base64, no
        // escaping; the user part ends at the first colon) carries back unchanged.
        if !user.contains(':') {
            let again = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
            assert_eq!(
                basic::parse(&again),
                Some((user, password)),
                "Basic credentials changed in a round trip"
            );
        }
    }

    let cookie_lines = text(cookie_lines);
    let headers: Vec<&str> = cookie_lines.split('\n').collect();
    let names = cookies::chunk_names("session");
    let present = cookies::has_any(&headers, &names);
    let stripped = cookies::without(&headers, &names);
    // Stripping in one go answers as the two calls do.
    let expected = match (present, stripped.clone()) {
        (false, _) => cookies::Remaining::Unchanged,
        (true, Some(rest)) => cookies::Remaining::Rest(rest),
        (true, None) => cookies::Remaining::Nothing,
    };
    assert_eq!(
        cookies::strip(&headers, &names),
        expected,
        "strip disagrees with has_any and without"
    );
    // One parser reads and strips: nothing the filter can read as its cookie goes upstream.
    if let Some(stripped) = &stripped {
        for name in &names {
            assert_eq!(
                cookies::find(&[stripped.as_str()], name),
                None,
                "cookie {name} survived stripping: {stripped:?}"
            );
        }
    }

    let pairs = form::decode(body);
    let _ = form::first(&pairs, "code");
    let encoded = form::encode(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert_eq!(
        form::decode(encoded.as_bytes()),
        pairs,
        "form pairs changed in a round trip"
    );
    let _ = form::is_form_content_type(&text(body));
    let _ = form::is_json_content_type(&text(body));

    let target = text(target);
    let (path, query) = url::split_path_query(&target);
    let _ = url::normalize_path(path);
    if let Some(query) = query {
        let _ = form::decode(query.as_bytes());
    }
    let _ = url::host_of(&target);

    let absolute = text(absolute);
    if let Some(parsed) = url::HttpUrl::parse(&absolute) {
        let _ = parsed.host();
    }
    let appended = url::append_query(&absolute, &[("state", "s t"), ("nonce", "&=")]);
    let _ = url::HttpUrl::parse(&appended);
}

/// Discovery documents: a document that parses survives the JSON round trip the adapter uses
/// to share it between workers.
pub fn discovery(data: &[u8]) {
    let Ok(metadata) = ProviderMetadata::parse(data) else {
        return;
    };
    let _ = crate::discovery::discovery_url(&metadata.issuer);
    let shared = serde_json::to_vec(&metadata).expect("provider metadata serialises");
    let again = ProviderMetadata::parse(&shared).expect("serialised metadata parses");
    assert_eq!(
        serde_json::to_value(&again).ok(),
        serde_json::to_value(&metadata).ok(),
        "provider metadata changed in a JSON round trip"
    );
}

#[cfg(test)]
mod fuzz_corpus;
