//! The 82-byte binary header at the front of every lua-resty-session v4 cookie.
//!
//! Layout, little-endian, in this order:
//! type 1B | flags 2B | sid 32B | created_at 5B | rolling offset 4B | data size 3B |
//! GCM tag 16B | idling offset 3B | MAC 16B.
//! The first 47 bytes are the AES-GCM additional data; the first 66 bytes are what the MAC
//! covers, so a "touch" (new idling offset) needs a new MAC but no new encryption.

use super::base64url;
use super::error::SessionError;

pub const HEADER_SIZE: usize = 82;
/// base64url characters of the header: the first 110 characters of the first cookie.
pub const HEADER_ENCODED_SIZE: usize = 110;
/// Bytes covered by the GCM additional data (type through data size).
pub const AAD_SIZE: usize = 47;
/// Bytes covered by the MAC (everything but the MAC itself).
pub const MAC_INPUT_SIZE: usize = 66;
pub const SID_SIZE: usize = 32;
pub const TAG_SIZE: usize = 16;
pub const MAC_SIZE: usize = 16;

/// The only cookie type v4 writes.
pub const COOKIE_TYPE: u8 = 1;
/// Data lives in server-side storage; never set by cookie-only sessions.
pub const FLAG_STORAGE: u16 = 0x0001;
/// "Remember me" was turned off for this session; kept across saves.
pub const FLAG_FORGET: u16 = 0x0002;
/// The encrypted data is raw-deflated JSON.
pub const FLAG_DEFLATE: u16 = 0x0010;

pub const MAX_CREATION_TIME: u64 = (1 << 40) - 1;
pub const MAX_ROLLING_OFFSET: u64 = u32::MAX as u64;
pub const MAX_DATA_SIZE: u64 = (1 << 24) - 1;
pub const MAX_IDLING_OFFSET: u64 = (1 << 24) - 1;

/// The decoded header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub cookie_type: u8,
    pub flags: u16,
    pub sid: [u8; SID_SIZE],
    /// Epoch seconds (5 bytes on the wire).
    pub created_at: u64,
    /// Seconds from creation to the last save.
    pub rolling_offset: u32,
    /// Number of base64url characters of the ciphertext (3 bytes on the wire).
    pub data_size: u32,
    pub tag: [u8; TAG_SIZE],
    /// Seconds from the last save to the last touch (3 bytes on the wire).
    pub idling_offset: u32,
    pub mac: [u8; MAC_SIZE],
}

impl Header {
    pub fn has_flag(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// Reads the fields; any 82 bytes decode (validation is the codec's job).
    pub fn from_bytes(bytes: &[u8; HEADER_SIZE]) -> Header {
        let mut reader = FieldReader { rest: bytes };
        let [cookie_type] = reader.take::<1>();
        let flags = u16::from_le_bytes(reader.take::<2>());
        let sid = reader.take::<SID_SIZE>();
        let created_at = le_u64(&reader.take::<5>());
        let rolling_offset = u32::from_le_bytes(reader.take::<4>());
        let data_size = le_u64(&reader.take::<3>()) as u32;
        let tag = reader.take::<TAG_SIZE>();
        let idling_offset = le_u64(&reader.take::<3>()) as u32;
        let mac = reader.take::<MAC_SIZE>();
        Header {
            cookie_type,
            flags,
            sid,
            created_at,
            rolling_offset,
            data_size,
            tag,
            idling_offset,
            mac,
        }
    }

    /// Decodes the 110 base64url characters of a cookie's header.
    pub fn decode(encoded: &[u8]) -> Result<Header, SessionError> {
        let bytes = base64url::decode(encoded).ok_or(SessionError::HeaderEncoding)?;
        let bytes: &[u8; HEADER_SIZE] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SessionError::HeaderEncoding)?;
        Ok(Header::from_bytes(bytes))
    }

    /// The wire form. Fails when the creation time or data size does not fit its width on the
    /// wire; an idling offset past 2^24-1 is capped, as the library caps it when touching.
    pub fn to_bytes(&self) -> Result<[u8; HEADER_SIZE], SessionError> {
        if self.created_at > MAX_CREATION_TIME {
            return Err(SessionError::CreationTimeOverflow);
        }
        if u64::from(self.data_size) > MAX_DATA_SIZE {
            return Err(SessionError::SizeLimitExceeded);
        }
        let idling_offset = u64::from(self.idling_offset).min(MAX_IDLING_OFFSET);
        let mut out = [0u8; HEADER_SIZE];
        let mut writer = FieldWriter { rest: &mut out };
        writer.put(&[self.cookie_type]);
        writer.put(&self.flags.to_le_bytes());
        writer.put(&self.sid);
        writer.put(&self.created_at.to_le_bytes()[..5]);
        writer.put(&self.rolling_offset.to_le_bytes());
        writer.put(&self.data_size.to_le_bytes()[..3]);
        writer.put(&self.tag);
        writer.put(&idling_offset.to_le_bytes()[..3]);
        writer.put(&self.mac);
        Ok(out)
    }

    pub fn encode(&self) -> Result<String, SessionError> {
        Ok(base64url::encode(&self.to_bytes()?))
    }
}

/// The GCM additional data of a wire header.
pub fn aad(bytes: &[u8; HEADER_SIZE]) -> &[u8; AAD_SIZE] {
    let (aad, _) = bytes
        .split_first_chunk::<AAD_SIZE>()
        .unwrap_or((&[0; AAD_SIZE], &[]));
    aad
}

/// The MAC input of a wire header.
pub fn mac_input(bytes: &[u8; HEADER_SIZE]) -> &[u8; MAC_INPUT_SIZE] {
    let (input, _) = bytes
        .split_first_chunk::<MAC_INPUT_SIZE>()
        .unwrap_or((&[0; MAC_INPUT_SIZE], &[]));
    input
}

fn le_u64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0, |value, &byte| (value << 8) | u64::from(byte))
}

/// Sequential reads from a fixed-size header; the field widths add up to `HEADER_SIZE`,
/// so a short read (zeros) would be a layout bug, not an input error.
struct FieldReader<'a> {
    rest: &'a [u8],
}

impl FieldReader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        match self.rest.split_first_chunk::<N>() {
            Some((field, rest)) => {
                self.rest = rest;
                *field
            }
            None => [0; N],
        }
    }
}

struct FieldWriter<'a> {
    rest: &'a mut [u8],
}

impl FieldWriter<'_> {
    fn put(&mut self, field: &[u8]) {
        let rest = std::mem::take(&mut self.rest);
        let len = field.len().min(rest.len());
        let (head, tail) = rest.split_at_mut(len);
        for (to, from) in head.iter_mut().zip(field) {
            *to = *from;
        }
        self.rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            cookie_type: COOKIE_TYPE,
            flags: FLAG_DEFLATE | FLAG_FORGET,
            sid: core::array::from_fn(|i| i as u8),
            created_at: MAX_CREATION_TIME,
            rolling_offset: 0xDEAD_BEEF,
            data_size: 0x00AB_CDEF,
            tag: [7; TAG_SIZE],
            idling_offset: 0x0012_3456,
            mac: [9; MAC_SIZE],
        }
    }

    #[test]
    fn fields_round_trip_at_their_widths() {
        let header = sample();
        let bytes = header.to_bytes().unwrap();
        assert_eq!(Header::from_bytes(&bytes), header);
        assert_eq!(header.encode().unwrap().len(), HEADER_ENCODED_SIZE);
        assert_eq!(
            Header::decode(header.encode().unwrap().as_bytes()).unwrap(),
            header
        );
        // Little-endian, 5-byte creation time right after the sid.
        assert_eq!(&bytes[35..40], &[0xFF; 5]);
        assert_eq!(&bytes[44..47], &[0xEF, 0xCD, 0xAB]);
        assert_eq!(aad(&bytes), &bytes[..47]);
        assert_eq!(mac_input(&bytes), &bytes[..66]);
    }

    #[test]
    fn fields_wider_than_the_wire_are_rejected() {
        let mut header = sample();
        header.created_at = MAX_CREATION_TIME + 1;
        assert_eq!(header.to_bytes(), Err(SessionError::CreationTimeOverflow));
        let mut header = sample();
        header.data_size = 1 << 24;
        assert_eq!(header.to_bytes(), Err(SessionError::SizeLimitExceeded));
    }

    #[test]
    fn wrong_length_is_an_encoding_error() {
        assert_eq!(Header::decode(b"AQID"), Err(SessionError::HeaderEncoding));
    }
}
