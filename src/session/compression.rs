//! Raw deflate of large session data (no zlib header, as the library's windowBits -15).
//!
//! The library deflates with zlib 1.2.13 (level 6, memLevel 8). No pure-Rust deflater
//! reproduces zlib's exact bytes (miniz_oxide, zlib-rs, yazi and libflate were compared
//! against the real library's vectors; all differ), so ours are different but equally valid
//! raw deflate streams: Kong inflates them, and we inflate Kong's.

use super::error::SessionError;

/// The library's default: JSON longer than this many bytes is a candidate for deflate.
pub const DEFAULT_COMPRESSION_THRESHOLD: usize = 1024;

/// Inflated data larger than this is refused. A real session fits in 9 cookies, so this only
/// stops a forged high-ratio stream from taking the worker's memory.
pub const MAX_INFLATED_SIZE: usize = 8 * 1024 * 1024;

const LEVEL: u8 = 6;

pub fn deflate_raw(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(data, LEVEL)
}

pub fn inflate_raw(data: &[u8]) -> Result<Vec<u8>, SessionError> {
    miniz_oxide::inflate::decompress_to_vec_with_limit(data, MAX_INFLATED_SIZE)
        .map_err(|_| SessionError::Inflate)
}

/// What the library encrypts: the JSON itself, or its deflated form when the JSON is longer
/// than the threshold (0 turns compression off) and deflate makes it strictly smaller.
/// Returns the bytes and whether they are deflated.
pub fn prepare_payload(json: &[u8], threshold: usize) -> (Vec<u8>, bool) {
    if threshold != 0 && json.len() > threshold {
        let deflated = deflate_raw(json);
        if deflated.len() < json.len() {
            return (deflated, true);
        }
    }
    (json.to_vec(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let data =
            br#"{"a":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}"#.repeat(40);
        assert_eq!(inflate_raw(&deflate_raw(&data)).unwrap(), data);
    }

    #[test]
    fn threshold_and_gain_decide() {
        let long = vec![b'a'; 2000];
        assert!(prepare_payload(&long, 1024).1);
        assert!(!prepare_payload(&long, 0).1);
        assert!(
            !prepare_payload(&long[..1024], 1024).1,
            "exactly the threshold stays plain"
        );
        // Incompressible data stays plain even above the threshold.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let noise: Vec<u8> = (0..4000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        let (bytes, deflated) = prepare_payload(&noise, 1024);
        assert!(!deflated);
        assert_eq!(bytes, noise);
    }

    #[test]
    fn garbage_and_bombs_are_errors() {
        assert_eq!(inflate_raw(&[0xFF, 0xFF, 0xFF]), Err(SessionError::Inflate));
        let bomb = deflate_raw(&vec![0u8; MAX_INFLATED_SIZE + 1]);
        assert_eq!(inflate_raw(&bomb), Err(SessionError::Inflate));
    }
}
