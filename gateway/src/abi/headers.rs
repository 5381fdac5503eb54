//! Header maps as filters see them: ordered (name, value) pairs with lower-case names, repeated
//! names kept, pseudo-headers (`:method`, `:path`, ...) in the same list, and the ABI's
//! serialized form.

/// Header pairs as an `http::HeaderMap`, skipping pairs `http` cannot represent (the filter
/// may have written any bytes).
pub(crate) fn http_header_map<'a>(
    pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// An ordered list of header pairs; names are stored lower-case, as Envoy does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HeaderList {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl HeaderList {
    pub(crate) fn new() -> HeaderList {
        HeaderList::default()
    }

    pub(crate) fn from_pairs(pairs: Pairs) -> HeaderList {
        let mut list = HeaderList::new();
        for (name, value) in pairs {
            list.add(&name, &value);
        }
        list
    }

    pub(crate) fn len(&self) -> usize {
        self.pairs.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs.iter().map(|(n, v)| (n.as_slice(), v.as_slice()))
    }

    /// The first value of `name` (case-insensitive).
    pub(crate) fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    pub(crate) fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name.as_bytes())
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    pub(crate) fn add(&mut self, name: &[u8], value: &[u8]) {
        self.pairs.push((name.to_ascii_lowercase(), value.to_vec()));
    }

    /// Sets `name` to one value: the first occurrence is replaced in place, later ones removed,
    /// or the pair is appended when absent.
    pub(crate) fn replace(&mut self, name: &[u8], value: &[u8]) {
        let lower = name.to_ascii_lowercase();
        match self.pairs.iter().position(|(n, _)| *n == lower) {
            Some(first) => {
                if let Some(pair) = self.pairs.get_mut(first) {
                    pair.1 = value.to_vec();
                }
                let mut index = 0;
                self.pairs.retain(|(n, _)| {
                    let keep = index <= first || *n != lower;
                    index += 1;
                    keep
                });
            }
            None => self.pairs.push((lower, value.to_vec())),
        }
    }

    /// Replaces only the first occurrence of `name` (appends when absent), leaving later ones:
    /// what Kong's engine does to a repeated `Cookie` request header.
    pub(crate) fn replace_first(&mut self, name: &[u8], value: &[u8]) {
        let lower = name.to_ascii_lowercase();
        match self.pairs.iter_mut().find(|(n, _)| *n == lower) {
            Some(pair) => pair.1 = value.to_vec(),
            None => self.pairs.push((lower, value.to_vec())),
        }
    }

    pub(crate) fn remove(&mut self, name: &[u8]) {
        self.pairs.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// The size of the serialized form, as `proxy_get_header_map_size` reports it.
    pub(crate) fn serialized_size(&self) -> usize {
        4 + self
            .pairs
            .iter()
            .map(|(n, v)| 8 + n.len() + v.len() + 2)
            .sum::<usize>()
    }

    /// The ABI's map serialization: count, (name length, value length) pairs, then the
    /// NUL-terminated names and values.
    pub(crate) fn serialize(&self) -> Vec<u8> {
        serialize_pairs(self.iter())
    }
}

pub(crate) fn serialize_pairs<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Vec<u8> {
    let pairs: Vec<(&[u8], &[u8])> = pairs.collect();
    let size = 4 + pairs
        .iter()
        .map(|(n, v)| 8 + n.len() + v.len() + 2)
        .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (name, value) in &pairs {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    }
    for (name, value) in &pairs {
        out.extend_from_slice(name);
        out.push(0);
        out.extend_from_slice(value);
        out.push(0);
    }
    out
}

/// Why a serialized map could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MalformedMap;

/// Parses the ABI's map serialization. Empty input and a single NUL byte are the empty map.
/// Header pairs as raw bytes.
pub(crate) type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

pub(crate) fn deserialize_pairs(bytes: &[u8]) -> Result<Pairs, MalformedMap> {
    if bytes.is_empty() || bytes == [0] {
        return Ok(Vec::new());
    }
    let read_u32 = |at: usize| -> Result<usize, MalformedMap> {
        let chunk = bytes.get(at..at + 4).ok_or(MalformedMap)?;
        let array: [u8; 4] = chunk.try_into().map_err(|_| MalformedMap)?;
        Ok(u32::from_le_bytes(array) as usize)
    };
    let count = read_u32(0)?;
    let sizes_end = count
        .checked_mul(8)
        .and_then(|n| n.checked_add(4))
        .ok_or(MalformedMap)?;
    if sizes_end > bytes.len() {
        return Err(MalformedMap);
    }
    let mut pairs = Vec::with_capacity(count);
    let mut data = sizes_end;
    for index in 0..count {
        let name_len = read_u32(4 + index * 8)?;
        let value_len = read_u32(8 + index * 8)?;
        let name = take_terminated(bytes, &mut data, name_len)?;
        let value = take_terminated(bytes, &mut data, value_len)?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// Takes `len` bytes at `*at` followed by a NUL, advancing `*at`.
fn take_terminated(bytes: &[u8], at: &mut usize, len: usize) -> Result<Vec<u8>, MalformedMap> {
    let end = at.checked_add(len).ok_or(MalformedMap)?;
    let value = bytes.get(*at..end).ok_or(MalformedMap)?.to_vec();
    if bytes.get(end) != Some(&0) {
        return Err(MalformedMap);
    }
    *at = end + 1;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_spec_example() {
        let mut list = HeaderList::new();
        list.add(b"a", b"1");
        list.add(b"b", b"22");
        let bytes = list.serialize();
        let expected: Vec<u8> = [
            &2u32.to_le_bytes()[..],
            &1u32.to_le_bytes(),
            &1u32.to_le_bytes(),
            &1u32.to_le_bytes(),
            &2u32.to_le_bytes(),
            b"a\x001\x00b\x0022\x00",
        ]
        .concat();
        assert_eq!(bytes, expected);
        assert_eq!(list.serialized_size(), bytes.len());
        let back = deserialize_pairs(&bytes).unwrap();
        assert_eq!(HeaderList::from_pairs(back), list);
    }

    #[test]
    fn empty_forms_and_malformed_input() {
        assert!(deserialize_pairs(b"").unwrap().is_empty());
        assert!(deserialize_pairs(b"\0").unwrap().is_empty());
        assert_eq!(deserialize_pairs(&[5, 0, 0, 0]), Err(MalformedMap));
        let mut bytes = HeaderList::from_pairs(vec![(b"k".to_vec(), b"v".to_vec())]).serialize();
        let last = bytes.len() - 1;
        bytes[last] = b'x';
        assert_eq!(deserialize_pairs(&bytes), Err(MalformedMap));
        assert_eq!(
            deserialize_pairs(&[0xff, 0xff, 0xff, 0xff]),
            Err(MalformedMap)
        );
    }

    #[test]
    fn replace_keeps_position_and_drops_duplicates() {
        let mut list = HeaderList::new();
        list.add(b"A", b"1");
        list.add(b"x", b"y");
        list.add(b"a", b"2");
        list.replace(b"a", b"3");
        let pairs: Vec<_> = list.iter().collect();
        assert_eq!(pairs, vec![(&b"a"[..], &b"3"[..]), (&b"x"[..], &b"y"[..])]);
        list.replace(b"new", b"v");
        assert_eq!(list.get(b"NEW"), Some(&b"v"[..]));
        list.remove(b"A");
        assert_eq!(list.get(b"a"), None);
    }
}
