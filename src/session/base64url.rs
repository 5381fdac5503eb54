//! base64url without padding, as OpenResty's `ngx.base64` writes it.
//!
//! Decoding rejects padding (like the library) and also non-zero trailing bits, which the
//! library would ignore: the library never writes them, so only an altered cookie has them,
//! and rejecting it means every changed character is noticed.

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

pub fn encode(bytes: &[u8]) -> String {
    ENGINE.encode(bytes)
}

pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
    ENGINE.decode(text).ok()
}

/// Characters needed for `len` bytes: ceil(4 * len / 3).
pub fn encoded_len(len: usize) -> usize {
    len.saturating_mul(4).div_ceil(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_len_matches_encoder() {
        for len in 0..64 {
            assert_eq!(
                encoded_len(len),
                encode(&vec![0xA5; len]).len(),
                "len {len}"
            );
        }
    }

    #[test]
    fn padding_and_foreign_characters_are_rejected() {
        assert_eq!(decode(b"AQID").as_deref(), Some(&[1u8, 2, 3][..]));
        assert!(decode(b"AQ==").is_none());
        assert!(decode(b"AQ").is_some());
        assert!(decode(b"A+/_").is_none());
        assert!(decode(b"A").is_none());
        // "AR" carries a non-zero trailing bit: same byte as "AQ" to a lenient decoder.
        assert!(decode(b"AR").is_none());
    }
}
