//! Splitting a cookie value over `name`, `name2` ... `name9`.
//!
//! Browsers keep at most 4096 bytes of `name=value` per cookie, so the library splits:
//! cookie 1 holds `name=` + 110 header characters + the first payload characters, each later
//! cookie `nameN=` + more payload. Nine cookies (36,864 characters with names) is the limit.

use super::error::SessionError;
use super::header::HEADER_ENCODED_SIZE;

pub const MAX_COOKIE_SIZE: usize = 4096;
pub const MAX_COOKIES: usize = 9;
pub const MAX_COOKIES_SIZE: usize = MAX_COOKIE_SIZE * MAX_COOKIES;

/// How many cookies a payload of `data_size` characters needs under a name of `name_len`
/// bytes: the library's own arithmetic, used both when writing and when reading (the reader
/// trusts the header's data size to know how many chunks to collect).
pub fn chunk_count(name_len: usize, data_size: usize) -> Result<usize, SessionError> {
    let mut space_needed = name_len
        .saturating_add(1 + HEADER_ENCODED_SIZE)
        .saturating_add(data_size);
    if space_needed > MAX_COOKIES_SIZE {
        return Err(SessionError::SizeLimitExceeded);
    }
    if space_needed <= MAX_COOKIE_SIZE {
        return Ok(1);
    }
    for count in 2..=MAX_COOKIES {
        // Every further cookie costs its name, one digit and the `=`.
        space_needed = space_needed.saturating_add(name_len + 2);
        if space_needed > MAX_COOKIES_SIZE {
            return Err(SessionError::SizeLimitExceeded);
        }
        if space_needed <= MAX_COOKIE_SIZE * count {
            return Ok(count);
        }
    }
    Err(SessionError::SizeLimitExceeded)
}

/// Payload characters that fit in the first cookie beside the header.
pub fn first_chunk_capacity(name_len: usize) -> usize {
    MAX_COOKIE_SIZE.saturating_sub(HEADER_ENCODED_SIZE + name_len + 1)
}

/// Payload characters that fit in cookie 2..9.
pub fn next_chunk_capacity(name_len: usize) -> usize {
    MAX_COOKIE_SIZE.saturating_sub(name_len + 2)
}

/// The name of cookie `index` (1-based): `name`, then `name2`, `name3`, ...
pub fn chunk_name(name: &str, index: usize) -> String {
    if index <= 1 {
        name.to_string()
    } else {
        format!("{name}{index}")
    }
}

/// Cuts the base64url payload into the parts carried by each of `count` cookies.
/// The first part goes after the header in cookie 1. A single cookie takes everything.
pub fn split_payload(
    payload: &str,
    name_len: usize,
    count: usize,
) -> Result<Vec<&str>, SessionError> {
    if count <= 1 {
        return Ok(vec![payload]);
    }
    let mut parts = Vec::with_capacity(count);
    let mut rest = payload;
    for index in 1..=count {
        let capacity = if index == 1 {
            first_chunk_capacity(name_len)
        } else {
            next_chunk_capacity(name_len)
        };
        let (part, tail) = rest
            .split_at_checked(capacity.min(rest.len()))
            .ok_or(SessionError::InvalidPayload)?;
        parts.push(part);
        rest = tail;
    }
    if rest.is_empty() {
        Ok(parts)
    } else {
        Err(SessionError::SizeLimitExceeded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: usize = "session".len();

    #[test]
    fn single_cookie_limit() {
        // session= + 110 + 3978 = 4096 characters exactly.
        assert_eq!(chunk_count(NAME, 3978), Ok(1));
        assert_eq!(chunk_count(NAME, 3979), Ok(2));
        assert_eq!(first_chunk_capacity(NAME), 3978);
        assert_eq!(next_chunk_capacity(NAME), 4087);
    }

    #[test]
    fn nine_cookie_limit() {
        // 36,864 characters in all: 8 + 110 + data + 8 further names of 8 + 1 characters.
        let max = MAX_COOKIES_SIZE - (NAME + 1 + HEADER_ENCODED_SIZE) - 8 * (NAME + 2);
        assert_eq!(max, 36674);
        assert_eq!(chunk_count(NAME, max), Ok(9));
        assert_eq!(
            chunk_count(NAME, max + 1),
            Err(SessionError::SizeLimitExceeded)
        );
        assert_eq!(
            chunk_count(NAME, usize::MAX),
            Err(SessionError::SizeLimitExceeded)
        );
        assert_eq!(
            chunk_count(usize::MAX, 1),
            Err(SessionError::SizeLimitExceeded)
        );
    }

    #[test]
    fn every_count_fills_its_cookies() {
        for data_size in [1, 3978, 3979, 8065, 8066, 20000, 36674] {
            let count = chunk_count(NAME, data_size).unwrap();
            let payload = "x".repeat(data_size);
            let parts = split_payload(&payload, NAME, count).unwrap();
            assert_eq!(parts.len(), count);
            assert_eq!(parts.concat(), payload);
            for (index, part) in parts.iter().enumerate() {
                let name = chunk_name("session", index + 1);
                let header = if index == 0 { HEADER_ENCODED_SIZE } else { 0 };
                assert!(
                    name.len() + 1 + header + part.len() <= MAX_COOKIE_SIZE,
                    "{data_size} {index}"
                );
            }
        }
    }

    #[test]
    fn names() {
        assert_eq!(chunk_name("session", 1), "session");
        assert_eq!(chunk_name("session", 9), "session9");
    }
}
