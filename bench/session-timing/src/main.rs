//! Times the steps the OIDC filter takes to authenticate a request by its session cookie, on a
//! real cookie (written by the filter after a password-grant login against the test IdP), so
//! each step's share of the per-request cost can be seen. Built natively and for wasm32-wasip1
//! by `bench/session-timing.sh`; the wasm build runs under Node's WASI, which, like wasmtime,
//! has no AES or SHA instructions to offer: software crypto, as in the gateway.
//!
//!   session-timing [COOKIE_FILE [SECRET]]
//!
//! COOKIE_FILE holds a Cookie header value (default: the sample beside this crate, read at
//! build time); SECRET is the `session_secret` that wrote it.

use std::hint::black_box;
use std::time::{Duration, Instant};

use openid_connect::discovery::Jwks;
use openid_connect::session::base64url;
use openid_connect::session::compression::inflate_raw;
use openid_connect::session::crypto;
use openid_connect::session::header::{
    aad, mac_input, Header, FLAG_DEFLATE, HEADER_ENCODED_SIZE, HEADER_SIZE,
};
use openid_connect::session::keys::{encryption_key, mac_key, Ikm};
use openid_connect::session::plaintext::parse_entries;
use openid_connect::session::request_cookies::find_cookie;
use openid_connect::session::{SessionCodec, SessionSettings};
use openid_connect::token::{verify_jwt, VerifyPolicy};

const SAMPLE_COOKIE: &str = include_str!("../data/cookie.txt");
const SAMPLE_SECRET: &str = "benchmark-session-secret-0123456789";
/// Bearer JWTs and the public keys that verify them (bench/mint-tokens.mjs wrote them).
const SAMPLE_JWKS: &str = include_str!("../data/jwt-jwks.json");
const SAMPLE_JWTS: [(&str, &str); 2] = [
    ("RS256", include_str!("../data/jwt-RS256.txt")),
    ("ES256", include_str!("../data/jwt-ES256.txt")),
];
const JWT_ISSUER: &str = "https://idp.bench.example";
/// Seconds after the cookie's creation at which it is read (inside every timeout, before the
/// touch threshold), and a later time at which `refresh` has to touch it.
const READ_AFTER: u64 = 10;
const TOUCH_AFTER: u64 = 120;

/// Batches per step; the median batch is reported, so a batch slowed by other work on the
/// machine does not count.
const BATCHES: usize = 15;
/// Each batch runs for about this long.
const BATCH_TIME: Duration = Duration::from_millis(40);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cookie_header = match args.get(1) {
        Some(path) => std::fs::read_to_string(path)
            .unwrap_or_else(|e| fail(&format!("cannot read {path}: {e}"))),
        None => SAMPLE_COOKIE.to_string(),
    };
    let cookie_header = cookie_header.trim().to_string();
    let secret = args.get(2).map_or(SAMPLE_SECRET, String::as_str);
    run(&cookie_header, secret);
}

fn fail(message: &str) -> ! {
    eprintln!("session-timing: {message}");
    std::process::exit(1)
}

fn run(cookie_header: &str, secret: &str) {
    let settings = SessionSettings::default();
    let codec = SessionCodec::new(settings.clone(), secret.as_bytes());
    let ikm = Ikm::from_secret(secret.as_bytes());
    let headers = [cookie_header];

    let cookie = find_cookie(&headers, &settings.cookie_name)
        .unwrap_or_else(|| fail("no `session` cookie in the file"));
    let header_text = cookie
        .get(..HEADER_ENCODED_SIZE)
        .unwrap_or_else(|| fail("the cookie is shorter than its header"));
    let header_bytes: [u8; HEADER_SIZE] = base64url::decode(header_text.as_bytes())
        .and_then(|bytes| bytes.try_into().ok())
        .unwrap_or_else(|| fail("the cookie's header is not base64url of 82 bytes"));
    let header = Header::from_bytes(&header_bytes);
    let payload_text = cookie.get(HEADER_ENCODED_SIZE..).unwrap_or_default();
    let ciphertext = base64url::decode(payload_text.as_bytes())
        .unwrap_or_else(|| fail("the payload is not base64url"));
    let read_at = header.created_at + READ_AFTER;
    let touch_at = header.created_at + TOUCH_AFTER;
    let stored = crypto::decrypt(
        &ikm,
        &header.sid,
        aad(&header_bytes),
        &ciphertext,
        &header.tag,
    )
    .unwrap_or_else(|e| fail(&format!("cannot decrypt the cookie with this secret: {e}")));
    let deflated = header.has_flag(FLAG_DEFLATE);
    let json = if deflated {
        inflate_raw(&stored).unwrap_or_else(|e| fail(&e.to_string()))
    } else {
        stored.clone()
    };
    codec
        .open(&headers, read_at)
        .unwrap_or_else(|e| fail(&format!("the codec refuses the cookie: {e}")));

    println!(
        "cookie: {} characters, ciphertext {} bytes{}, JSON {} bytes; {} on {}",
        cookie.len(),
        ciphertext.len(),
        if deflated { " (deflated)" } else { "" },
        json.len(),
        if cfg!(target_family = "wasm") {
            "wasm32"
        } else {
            "native"
        },
        std::env::consts::ARCH,
    );
    println!("{:<48} {:>10}", "step", "µs/op");

    let steps: Vec<(&str, Box<dyn Fn()>)> = vec![
        (
            "find the cookie in the Cookie header",
            Box::new(|| {
                black_box(find_cookie(black_box(&headers), "session"));
            }),
        ),
        (
            "base64url-decode header and payload",
            Box::new(|| {
                black_box(base64url::decode(black_box(header_text.as_bytes())));
                black_box(base64url::decode(black_box(payload_text.as_bytes())));
            }),
        ),
        (
            "HKDF: MAC key",
            Box::new(|| {
                black_box(mac_key(black_box(&ikm), &header.sid).ok());
            }),
        ),
        (
            "HKDF: encryption key and nonce",
            Box::new(|| {
                black_box(
                    encryption_key(black_box(&ikm), &header.sid)
                        .ok()
                        .map(|k| k.key),
                );
            }),
        ),
        (
            "verify the header MAC (with its HKDF)",
            Box::new(|| {
                black_box(crypto::verify_mac(
                    black_box(&ikm),
                    &header.sid,
                    mac_input(&header_bytes),
                    &header.mac,
                ));
            }),
        ),
        (
            "AES-256-GCM decrypt (with its HKDF)",
            Box::new(|| {
                black_box(
                    crypto::decrypt(
                        black_box(&ikm),
                        &header.sid,
                        aad(&header_bytes),
                        &ciphertext,
                        &header.tag,
                    )
                    .ok(),
                );
            }),
        ),
        (
            "inflate",
            Box::new(|| {
                if deflated {
                    black_box(inflate_raw(black_box(&stored)).ok());
                }
            }),
        ),
        (
            "parse the JSON into audience entries",
            Box::new(|| {
                black_box(parse_entries(black_box(&json)).ok());
            }),
        ),
        (
            "a fresh copy of the codec (nothing remembered)",
            Box::new(|| {
                black_box(codec.clone());
            }),
        ),
        (
            "SessionCodec::open, cookie not remembered",
            Box::new(|| {
                // A copy starts with no verified cookies: the full path, plus the copy above.
                black_box(codec.clone().open(black_box(&headers), read_at).ok());
            }),
        ),
        (
            "SessionCodec::open, cookie remembered",
            Box::new(|| {
                black_box(codec.open(black_box(&headers), read_at).ok());
            }),
        ),
        (
            "open (remembered) + refresh, nothing to send",
            Box::new(|| {
                if let Ok(mut session) = codec.open(black_box(&headers), read_at) {
                    black_box(codec.refresh(&mut session, read_at, [7; 32]).ok());
                }
            }),
        ),
        (
            "open (remembered) + refresh that touches",
            Box::new(|| {
                if let Ok(mut session) = codec.open(black_box(&headers), touch_at) {
                    black_box(codec.refresh(&mut session, touch_at, [7; 32]).ok());
                }
            }),
        ),
    ];
    for (name, step) in &steps {
        println!("{name:<48} {:>10.2}", time_per_op(step.as_ref()));
    }
    time_jwts();
}

/// Bearer JWT verification (signature and claims): with the provider's keys already parsed, as
/// a worker has them after its first request, and cold, parsing the JWK Set first.
fn time_jwts() {
    let jwks = Jwks::parse(SAMPLE_JWKS.as_bytes())
        .unwrap_or_else(|e| fail(&format!("the sample JWKS: {e}")));
    let policy = VerifyPolicy::for_issuer(JWT_ISSUER);
    for (alg, line) in SAMPLE_JWTS {
        let token = line.trim().trim_start_matches("Authorization: Bearer ");
        let claims = openid_connect::token::decode_unverified(token)
            .unwrap_or_else(|e| fail(&e.to_string()))
            .1;
        let now = claims
            .get("iat")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or_default()
            + READ_AFTER;
        verify_jwt(token, &jwks, &policy, now)
            .unwrap_or_else(|e| fail(&format!("the sample {alg} token: {e}")));
        let warm = format!("JWT {alg}: verify_jwt, keys parsed");
        println!(
            "{warm:<48} {:>10.2}",
            time_per_op(&|| {
                black_box(verify_jwt(black_box(token), &jwks, &policy, now).ok());
            })
        );
        let cold = format!("JWT {alg}: parse the JWKS, then verify_jwt");
        println!(
            "{cold:<48} {:>10.2}",
            time_per_op(&|| {
                let jwks = Jwks::parse(black_box(SAMPLE_JWKS.as_bytes())).ok();
                black_box(jwks.map(|jwks| verify_jwt(token, &jwks, &policy, now).is_ok()));
            })
        );
    }
}

/// Median over `BATCHES` batches of the mean time of one call, in microseconds.
fn time_per_op(step: &dyn Fn()) -> f64 {
    // Calibrate: how many calls fill one batch.
    let mut calls = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..calls {
            step();
        }
        if start.elapsed() >= BATCH_TIME / 4 || calls >= 1 << 24 {
            break;
        }
        calls *= 2;
    }
    calls *= 4;
    let mut per_op: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..calls {
                step();
            }
            start.elapsed().as_secs_f64() * 1e6 / calls as f64
        })
        .collect();
    per_op.sort_by(f64::total_cmp);
    per_op[BATCHES / 2]
}
