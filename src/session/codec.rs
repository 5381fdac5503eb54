//! Reading and writing sessions as lua-resty-session v4.0.5 cookie-only sessions.
//!
//! A cookie value is base64url(header) followed by base64url(ciphertext), each encoded on its
//! own, split over up to nine cookies (see `chunking`). Reading validates in the library's
//! order: header shape, timeouts, MAC, payload size, decryption, inflate, JSON.

use std::rc::Rc;

use super::attributes::{cookie_attributes, expire_cookie, set_cookie};
use super::base64url;
use super::chunking::{chunk_count, chunk_name, split_payload};
use super::compression::{inflate_raw, prepare_payload, DEFAULT_COMPRESSION_THRESHOLD};
use super::crypto;
use super::error::SessionError;
use super::header::{
    aad, mac_input, Header, COOKIE_TYPE, FLAG_DEFLATE, FLAG_FORGET, FLAG_STORAGE,
    HEADER_ENCODED_SIZE, HEADER_SIZE, MAX_DATA_SIZE, SID_SIZE,
};
use super::keys::Ikm;
use super::plaintext::{parse_entries, write_entries};
use super::request_cookies::{find_cookie, strip_cookies};
use super::settings::SessionSettings;
use super::state::{Session, StoredCookie};
use super::timeouts::{self, RefreshAction, DEFAULT_TOUCH_THRESHOLD};
use super::verified_cookies::VerifiedCookies;

/// The header fields a writer chooses; data size, tag and MAC follow from them and the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFields {
    pub flags: u16,
    pub sid: [u8; SID_SIZE],
    pub created_at: u64,
    pub rolling_offset: u32,
    pub idling_offset: u32,
}

/// An encrypted session before it is cut into cookies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedCookie {
    pub header: Header,
    /// The 110 base64url characters of the header.
    pub header_text: String,
    /// base64url of the ciphertext (`header.data_size` characters).
    pub payload_text: String,
}

impl EncodedCookie {
    /// `(name, value)` of every cookie: `name` carries the header and the first part of the
    /// payload, `name2`.. the rest.
    pub fn cookie_values(&self, name: &str) -> Result<Vec<(String, String)>, SessionError> {
        let count = chunk_count(name.len(), self.payload_text.len())?;
        let parts = split_payload(&self.payload_text, name.len(), count)?;
        Ok(parts
            .into_iter()
            .enumerate()
            .map(|(index, part)| {
                let value = if index == 0 {
                    format!("{}{}", self.header_text, part)
                } else {
                    part.to_string()
                };
                (chunk_name(name, index + 1), value)
            })
            .collect())
    }
}

/// Encrypts `payload` (the JSON, or its raw deflate when `fields.flags` has `FLAG_DEFLATE`)
/// with the given header fields: the library's save, with every random or clock input given.
pub fn encode_raw(
    ikm: &Ikm,
    fields: &RawFields,
    payload: &[u8],
) -> Result<EncodedCookie, SessionError> {
    let data_size = base64url::encoded_len(payload.len());
    let data_size = u32::try_from(data_size)
        .ok()
        .filter(|size| u64::from(*size) <= MAX_DATA_SIZE)
        .ok_or(SessionError::SizeLimitExceeded)?;
    let mut header = Header {
        cookie_type: COOKIE_TYPE,
        flags: fields.flags,
        sid: fields.sid,
        created_at: fields.created_at,
        rolling_offset: fields.rolling_offset,
        data_size,
        tag: [0; 16],
        idling_offset: fields.idling_offset,
        mac: [0; 16],
    };
    let (ciphertext, tag) = crypto::encrypt(ikm, &header.sid, aad(&header.to_bytes()?), payload)?;
    header.tag = tag;
    header.mac = crypto::mac(ikm, &header.sid, mac_input(&header.to_bytes()?))?;
    Ok(EncodedCookie {
        header_text: header.encode()?,
        header,
        payload_text: base64url::encode(&ciphertext),
    })
}

/// Reads and writes one configuration's session cookies.
#[derive(Debug, Clone)]
pub struct SessionCodec {
    settings: SessionSettings,
    ikm: Ikm,
    fallback_ikms: Vec<Ikm>,
    attributes: String,
    touch_threshold: u64,
    compression_threshold: usize,
    /// Cookies this codec already verified and decrypted (see `verified_cookies`).
    verified: VerifiedCookies,
}

impl SessionCodec {
    /// `secret` is Kong's `session_secret`; the key material is its SHA-256.
    pub fn new(settings: SessionSettings, secret: &[u8]) -> SessionCodec {
        SessionCodec {
            attributes: cookie_attributes(&settings),
            settings,
            ikm: Ikm::from_secret(secret),
            fallback_ikms: Vec::new(),
            touch_threshold: DEFAULT_TOUCH_THRESHOLD,
            compression_threshold: DEFAULT_COMPRESSION_THRESHOLD,
            verified: VerifiedCookies::default(),
        }
    }

    /// Older secrets still accepted when reading (secret rotation); writing uses the new one.
    pub fn with_fallback_secrets(mut self, secrets: &[&[u8]]) -> SessionCodec {
        self.fallback_ikms = secrets
            .iter()
            .map(|secret| Ikm::from_secret(secret))
            .collect();
        // What verified under the old keys is no evidence under the new ones.
        self.verified = VerifiedCookies::default();
        self
    }

    /// Seconds of idleness before `refresh` touches the cookie (library default 60).
    pub fn with_touch_threshold(mut self, seconds: u64) -> SessionCodec {
        self.touch_threshold = seconds;
        self
    }

    /// JSON longer than this is deflated when that helps (library default 1024; 0 = never).
    pub fn with_compression_threshold(mut self, bytes: usize) -> SessionCodec {
        self.compression_threshold = bytes;
        self
    }

    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    /// Reads the session from the request's Cookie header value(s). Names match
    /// case-insensitively, first occurrence wins; chunks name, name2..name9 as the library does.
    pub fn open(&self, cookie_headers: &[&str], now: u64) -> Result<Session, SessionError> {
        let name = self.settings.cookie_name.as_str();
        let cookie = find_cookie(cookie_headers, name)
            .ok_or(SessionError::NotFound)?
            .as_bytes();

        let header_text = cookie
            .get(..HEADER_ENCODED_SIZE)
            .ok_or(SessionError::InvalidHeader)?;
        let header_bytes = base64url::decode(header_text).ok_or(SessionError::HeaderEncoding)?;
        let header_bytes: [u8; HEADER_SIZE] = header_bytes
            .as_slice()
            .try_into()
            .map_err(|_| SessionError::HeaderEncoding)?;
        let header = Header::from_bytes(&header_bytes);
        if header.cookie_type != COOKIE_TYPE {
            return Err(SessionError::InvalidCookieType);
        }
        if header.has_flag(FLAG_STORAGE) {
            return Err(SessionError::InvalidFlags);
        }
        timeouts::check(&header, &self.settings, now)?;

        let data_size = header.data_size as usize;
        let gathered = gather_payload(cookie_headers, name, cookie, data_size);
        // The same bytes as a cookie verified before: its session, without the crypto again.
        // Anything else takes the full path below, in the library's order (MAC first).
        if let Ok(gathered) = &gathered {
            if let Some(session) = self.verified.find(&header_bytes, &gathered.payload) {
                return Ok(session);
            }
        }
        let ikm = self.verifying_key(&header, &header_bytes)?;
        let Gathered {
            first_chunk,
            payload,
            chunks,
        } = gathered?;
        let ciphertext = base64url::decode(&payload).ok_or(SessionError::PayloadEncoding)?;
        let first_chunk =
            String::from_utf8(first_chunk.to_vec()).map_err(|_| SessionError::PayloadEncoding)?;

        let mut plaintext = crypto::decrypt(
            &ikm,
            &header.sid,
            aad(&header_bytes),
            &ciphertext,
            &header.tag,
        )?;
        if header.has_flag(FLAG_DEFLATE) {
            plaintext = inflate_raw(&plaintext)?;
        }
        let entries = parse_entries(&plaintext)?;

        let created_at = header.created_at;
        let session = Session::read(
            entries,
            created_at,
            StoredCookie {
                header,
                first_chunk,
                chunk_count: chunks,
                ikm,
            },
        );
        self.verified.remember(header_bytes, &payload, &session);
        Ok(session)
    }

    /// How many verified cookies this codec remembers, and how many requests they answered.
    pub fn verified_cookie_stats(&self) -> (usize, u64) {
        self.verified.stats()
    }

    /// The key whose MAC matches: the current secret first, then the fallbacks in order.
    fn verifying_key(
        &self,
        header: &Header,
        header_bytes: &[u8; HEADER_SIZE],
    ) -> Result<Ikm, SessionError> {
        let message = mac_input(header_bytes);
        std::iter::once(&self.ikm)
            .chain(&self.fallback_ikms)
            .find(|ikm| crypto::verify_mac(ikm, &header.sid, message, &header.mac))
            .cloned()
            .ok_or(SessionError::InvalidMac)
    }

    /// A new, empty session created now (not yet saved).
    pub fn start(&self, now: u64) -> Session {
        Session::new(now)
    }

    /// Encrypts and writes the session as lua-resty-session's save() does: new sid (the caller
    /// supplies 32 random bytes), created_at kept, rolling offset = now - created_at, idling
    /// offset 0. Returns the Set-Cookie header values: one per chunk, then expiring cookies for
    /// any chunk the session was read from that the new value no longer uses.
    pub fn save(
        &self,
        session: &mut Session,
        now: u64,
        sid: [u8; SID_SIZE],
    ) -> Result<Vec<String>, SessionError> {
        if session.entries.is_empty() {
            return Err(SessionError::NothingToSave);
        }
        let name = self.settings.cookie_name.as_str();
        let json = write_entries(&session.entries);
        let (payload, deflated) = prepare_payload(json.as_bytes(), self.compression_threshold);

        let previous = session.cookie.as_ref();
        let created_at = previous.map_or(now, |cookie| cookie.header.created_at);
        let kept_flags = previous.map_or(0, |cookie| cookie.header.flags & FLAG_FORGET);
        let fields = RawFields {
            flags: kept_flags | if deflated { FLAG_DEFLATE } else { 0 },
            sid,
            created_at,
            rolling_offset: timeouts::save_rolling_offset(created_at, now)?,
            idling_offset: 0,
        };
        let encoded = encode_raw(&self.ikm, &fields, &payload)?;
        let values = encoded.cookie_values(name)?;

        let mut set_cookies: Vec<String> = values
            .iter()
            .map(|(cookie_name, value)| set_cookie(cookie_name, value, &self.attributes))
            .collect();
        let previous_chunks = previous.map_or(0, |cookie| cookie.chunk_count);
        for index in values.len() + 1..=previous_chunks {
            set_cookies.push(expire_cookie(&chunk_name(name, index), &self.attributes));
        }

        let first_chunk = values
            .first()
            .and_then(|(_, value)| value.get(HEADER_ENCODED_SIZE..))
            .unwrap_or_default()
            .to_string();
        session.created_at = created_at;
        session.cookie = Some(Rc::new(StoredCookie {
            header: encoded.header,
            first_chunk,
            chunk_count: values.len(),
            ikm: self.ikm.clone(),
        }));
        Ok(set_cookies)
    }

    /// What the library's refresh() does for a request that did not modify the session:
    /// `Ok(None)` when nothing needs sending; `Ok(Some(set_cookies))` for a rolling renewal
    /// (a full save, new sid) once 3/4 of the rolling timeout is spent, or an idling touch
    /// (only the first cookie, new idling offset and MAC) once the touch threshold is passed.
    pub fn refresh(
        &self,
        session: &mut Session,
        now: u64,
        sid: [u8; SID_SIZE],
    ) -> Result<Option<Vec<String>>, SessionError> {
        let header = &session
            .cookie
            .as_ref()
            .ok_or(SessionError::NotPersisted)?
            .header;
        match timeouts::refresh_action(header, &self.settings, self.touch_threshold, now) {
            RefreshAction::Nothing => Ok(None),
            RefreshAction::Renew => self.save(session, now, sid).map(Some),
            RefreshAction::Touch => self.touch(session, now).map(|cookie| Some(vec![cookie])),
        }
    }

    /// The library's touch(): the first cookie again, same sid, tag and data, with the idling
    /// offset set to the seconds since the last save and a new MAC.
    pub fn touch(&self, session: &mut Session, now: u64) -> Result<String, SessionError> {
        let stored = Rc::make_mut(session.cookie.as_mut().ok_or(SessionError::NotPersisted)?);
        let mut header = stored.header.clone();
        header.idling_offset = timeouts::touch_idling_offset(&header, now);
        header.mac = crypto::mac(&stored.ikm, &header.sid, mac_input(&header.to_bytes()?))?;
        let value = format!("{}{}", header.encode()?, stored.first_chunk);
        stored.header = header;
        Ok(set_cookie(
            &self.settings.cookie_name,
            &value,
            &self.attributes,
        ))
    }

    /// Expiring Set-Cookie values for every chunk the session used (at least the first
    /// cookie; when `session` is None, the first cookie only). See [`Self::clear_carried`].
    pub fn clear(&self, session: Option<&Session>) -> Vec<String> {
        self.clear_carried(&[], session)
    }

    /// Expiring Set-Cookie values for every chunk the session used and every chunk the request
    /// carried (`cookie_headers`), so an unreadable or partly sent session is expired whole.
    ///
    /// The first cookie comes LAST: Kong's engine keeps only the last `Set-Cookie` of a local
    /// response, and the first cookie is the one whose loss ends the session (it holds the
    /// header every other chunk needs); the other chunks are then left to expire with it.
    pub fn clear_carried(&self, cookie_headers: &[&str], session: Option<&Session>) -> Vec<String> {
        let name = &self.settings.cookie_name;
        let used = session.map_or(1, |session| session.chunk_count().max(1));
        let carried = (2..=9)
            .filter(|index| {
                crate::http::cookies::has_any(cookie_headers, &[chunk_name(name, *index)])
            })
            .max()
            .unwrap_or(1);
        (1..=used.max(carried))
            .rev()
            .map(|index| expire_cookie(&chunk_name(name, index), &self.attributes))
            .collect()
    }

    /// The request's Cookie header without the session cookies, for the upstream request
    /// (Kong strips them); `None` when no other cookie is left.
    pub fn strip_request_cookies(
        &self,
        cookie_header: &str,
        session: Option<&Session>,
    ) -> Option<String> {
        let chunks = session.map_or(1, |session| session.chunk_count().max(1));
        strip_cookies(cookie_header, &self.settings.cookie_name, chunks)
    }
}

/// A session's payload as the request carries it.
struct Gathered<'a> {
    /// The payload characters in the first cookie, after the header.
    first_chunk: &'a [u8],
    /// The base64url payload of all chunks, joined.
    payload: Vec<u8>,
    chunks: usize,
}

/// Joins the payload from the first cookie and, for a chunked session, `name2`..`nameN`.
fn gather_payload<'a>(
    cookie_headers: &[&str],
    name: &str,
    cookie: &'a [u8],
    data_size: usize,
) -> Result<Gathered<'a>, SessionError> {
    let chunks = chunk_count(name.len(), data_size)?;
    let (first_chunk, payload) = if chunks == 1 {
        // The payload is the last `data_size` characters; a shorter cookie is taken whole
        // (and then fails the size check), as the library's string.sub does.
        let start = cookie
            .len()
            .checked_sub(data_size)
            .filter(|_| data_size > 0)
            .unwrap_or(0);
        let payload = cookie.get(start..).unwrap_or_default();
        (payload, payload.to_vec())
    } else {
        let first = cookie.get(HEADER_ENCODED_SIZE..).unwrap_or_default();
        let mut payload = first.to_vec();
        for index in 2..=chunks {
            let chunk = find_cookie(cookie_headers, &chunk_name(name, index))
                .ok_or(SessionError::MissingChunk)?;
            payload.extend_from_slice(chunk.as_bytes());
        }
        (first, payload)
    };
    if payload.len() != data_size {
        return Err(SessionError::InvalidPayload);
    }
    Ok(Gathered {
        first_chunk,
        payload,
        chunks,
    })
}
