//! MessagePack encoding and decoding: the format chunks are stored in.
//!
//! Writers append to a caller's buffer so a hot loop can reuse one
//! allocation. The [`Reader`] walks a byte slice without copying; it never
//! trusts a length prefix further than the bytes that are really there, so
//! a header that claims four billion elements costs nothing.

use crate::value::{Map, Value};

/// Nesting deeper than this is rejected rather than risking the stack.
pub const MAX_DEPTH: usize = 128;

/// Why a MessagePack value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ends inside a value.
    #[error("truncated messagepack at byte {0}")]
    Truncated(usize),
    /// 0xc1 is never used by MessagePack.
    #[error("invalid messagepack marker 0x{0:02x} at byte {1}")]
    InvalidMarker(u8, usize),
    /// Containers are nested deeper than [`MAX_DEPTH`].
    #[error("messagepack nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// The value is well formed but not of the shape the caller needs.
    #[error("unexpected messagepack shape: {0}")]
    Shape(&'static str),
}

pub fn write_nil(buf: &mut Vec<u8>) {
    buf.push(0xc0);
}

pub fn write_bool(buf: &mut Vec<u8>, b: bool) {
    buf.push(if b { 0xc3 } else { 0xc2 });
}

pub fn write_uint(buf: &mut Vec<u8>, u: u64) {
    if u < 128 {
        buf.push(u as u8);
    } else if u <= u8::MAX as u64 {
        buf.extend_from_slice(&[0xcc, u as u8]);
    } else if u <= u16::MAX as u64 {
        buf.push(0xcd);
        buf.extend_from_slice(&(u as u16).to_be_bytes());
    } else if u <= u32::MAX as u64 {
        buf.push(0xce);
        buf.extend_from_slice(&(u as u32).to_be_bytes());
    } else {
        buf.push(0xcf);
        buf.extend_from_slice(&u.to_be_bytes());
    }
}

pub fn write_int(buf: &mut Vec<u8>, i: i64) {
    if i >= 0 {
        write_uint(buf, i as u64);
    } else if i >= -32 {
        buf.push(i as i8 as u8);
    } else if i >= i8::MIN as i64 {
        buf.extend_from_slice(&[0xd0, i as i8 as u8]);
    } else if i >= i16::MIN as i64 {
        buf.push(0xd1);
        buf.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= i32::MIN as i64 {
        buf.push(0xd2);
        buf.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        buf.push(0xd3);
        buf.extend_from_slice(&i.to_be_bytes());
    }
}

pub fn write_f64(buf: &mut Vec<u8>, f: f64) {
    buf.push(0xcb);
    buf.extend_from_slice(&f.to_be_bytes());
}

#[inline]
pub fn write_str_header(buf: &mut Vec<u8>, len: usize) {
    if len < 32 {
        buf.push(0xa0 | len as u8);
    } else if len <= u8::MAX as usize {
        buf.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= u16::MAX as usize {
        buf.push(0xda);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(0xdb);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

pub fn write_str(buf: &mut Vec<u8>, s: &str) {
    write_str_bytes(buf, s.as_bytes());
}

/// Writes bytes as a MessagePack string; used when the bytes come from a
/// source that promises text but may not deliver valid UTF-8.
#[inline]
pub fn write_str_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    write_str_header(buf, s.len());
    buf.extend_from_slice(s);
}

pub fn write_bin(buf: &mut Vec<u8>, b: &[u8]) {
    if b.len() <= u8::MAX as usize {
        buf.extend_from_slice(&[0xc4, b.len() as u8]);
    } else if b.len() <= u16::MAX as usize {
        buf.push(0xc5);
        buf.extend_from_slice(&(b.len() as u16).to_be_bytes());
    } else {
        buf.push(0xc6);
        buf.extend_from_slice(&(b.len() as u32).to_be_bytes());
    }
    buf.extend_from_slice(b);
}

pub fn write_array_len(buf: &mut Vec<u8>, len: usize) {
    if len < 16 {
        buf.push(0x90 | len as u8);
    } else if len <= u16::MAX as usize {
        buf.push(0xdc);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(0xdd);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

pub fn write_map_len(buf: &mut Vec<u8>, len: usize) {
    if len < 16 {
        buf.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        buf.push(0xde);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(0xdf);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

pub fn write_ext(buf: &mut Vec<u8>, kind: i8, data: &[u8]) {
    let fixed = match data.len() {
        1 => Some(0xd4),
        2 => Some(0xd5),
        4 => Some(0xd6),
        8 => Some(0xd7),
        16 => Some(0xd8),
        _ => None,
    };
    if let Some(marker) = fixed {
        buf.extend_from_slice(&[marker, kind as u8]);
    } else if data.len() <= u8::MAX as usize {
        buf.extend_from_slice(&[0xc7, data.len() as u8, kind as u8]);
    } else if data.len() <= u16::MAX as usize {
        buf.push(0xc8);
        buf.extend_from_slice(&(data.len() as u16).to_be_bytes());
        buf.push(kind as u8);
    } else {
        buf.push(0xc9);
        buf.extend_from_slice(&(data.len() as u32).to_be_bytes());
        buf.push(kind as u8);
    }
    buf.extend_from_slice(data);
}

pub fn write_value(buf: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => write_nil(buf),
        Value::Bool(b) => write_bool(buf, *b),
        Value::Int(i) => write_int(buf, *i),
        Value::UInt(u) => write_uint(buf, *u),
        Value::Float(f) => write_f64(buf, *f),
        Value::Str(s) => write_str(buf, s),
        Value::Bin(b) => write_bin(buf, b),
        Value::Array(items) => {
            write_array_len(buf, items.len());
            for item in items {
                write_value(buf, item);
            }
        }
        Value::Map(map) => write_map(buf, map),
        Value::Ext(kind, data) => write_ext(buf, *kind, data),
    }
}

pub fn write_map(buf: &mut Vec<u8>, map: &Map) {
    write_map_len(buf, map.len());
    for (k, v) in map.iter() {
        write_str(buf, k);
        write_value(buf, v);
    }
}

/// Adds one to the length of the map whose header starts at `at`, so the
/// caller can append one more key and value at the end of `buf`. The
/// header is widened in place (fixmap to map16, map16 to map32) when the
/// count needs it.
///
/// # Errors
///
/// [`DecodeError::Shape`] when no map header starts at `at`, or the map
/// already holds `u32::MAX` pairs.
pub fn grow_map(buf: &mut Vec<u8>, at: usize) -> Result<(), DecodeError> {
    let Some(Token::Map(n)) = buf.get(at..).and_then(|b| Reader::new(b).token().ok()) else {
        return Err(DecodeError::Shape("expected a map"));
    };
    let old_len = match buf[at] {
        0x80..=0x8f => 1,
        0xde => 3,
        _ => 5,
    };
    let n = n.checked_add(1).ok_or(DecodeError::Shape("map is full"))?;
    let mut header = Vec::with_capacity(5);
    write_map_len(&mut header, n as usize);
    buf.splice(at..at + old_len, header);
    Ok(())
}

/// One MessagePack token: a scalar, or the header of a container whose
/// elements follow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Token<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Array(u32),
    Map(u32),
    Ext(i8, &'a [u8]),
}

/// A cursor over MessagePack bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn remaining(&self) -> &'a [u8] {
        &self.buf[self.pos.min(self.buf.len())..]
    }

    /// Moves past `n` bytes already read through another reader over
    /// [`Reader::remaining`].
    pub fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or(DecodeError::Truncated(self.pos))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len8(&mut self) -> Result<usize, DecodeError> {
        Ok(self.byte()? as usize)
    }

    fn len16(&mut self) -> Result<usize, DecodeError> {
        Ok(u16::from_be_bytes(self.be()?) as usize)
    }

    fn len32(&mut self) -> Result<usize, DecodeError> {
        Ok(u32::from_be_bytes(self.be()?) as usize)
    }

    fn ext(&mut self, len: usize) -> Result<Token<'a>, DecodeError> {
        let kind = self.byte()? as i8;
        Ok(Token::Ext(kind, self.take(len)?))
    }

    /// Reads the next token.
    #[inline]
    pub fn token(&mut self) -> Result<Token<'a>, DecodeError> {
        // Records are mostly short strings, small numbers and small maps:
        // those are read here, where the caller's loop can inline them.
        if let Some(&m) = self.buf.get(self.pos) {
            match m {
                0x00..=0x7f => {
                    self.pos += 1;
                    return Ok(Token::UInt(m.into()));
                }
                0x80..=0x8f => {
                    self.pos += 1;
                    return Ok(Token::Map((m & 0x0f).into()));
                }
                0x90..=0x9f => {
                    self.pos += 1;
                    return Ok(Token::Array((m & 0x0f).into()));
                }
                0xa0..=0xbf => {
                    let start = self.pos + 1;
                    let end = start + usize::from(m & 0x1f);
                    if let Some(text) = self.buf.get(start..end) {
                        self.pos = end;
                        return Ok(Token::Str(text));
                    }
                }
                _ => {}
            }
        }
        self.any_token()
    }

    /// [`Self::token`] for every marker.
    fn any_token(&mut self) -> Result<Token<'a>, DecodeError> {
        let at = self.pos;
        let m = self.byte()?;
        let tok = match m {
            0x00..=0x7f => Token::UInt(m as u64),
            0x80..=0x8f => Token::Map((m & 0x0f) as u32),
            0x90..=0x9f => Token::Array((m & 0x0f) as u32),
            0xa0..=0xbf => Token::Str(self.take((m & 0x1f) as usize)?),
            0xc0 => Token::Nil,
            0xc2 => Token::Bool(false),
            0xc3 => Token::Bool(true),
            0xc4 => {
                let n = self.len8()?;
                Token::Bin(self.take(n)?)
            }
            0xc5 => {
                let n = self.len16()?;
                Token::Bin(self.take(n)?)
            }
            0xc6 => {
                let n = self.len32()?;
                Token::Bin(self.take(n)?)
            }
            0xc7 => {
                let n = self.len8()?;
                self.ext(n)?
            }
            0xc8 => {
                let n = self.len16()?;
                self.ext(n)?
            }
            0xc9 => {
                let n = self.len32()?;
                self.ext(n)?
            }
            0xca => Token::Float(f32::from_be_bytes(self.be()?) as f64),
            0xcb => Token::Float(f64::from_be_bytes(self.be()?)),
            0xcc => Token::UInt(self.byte()? as u64),
            0xcd => Token::UInt(u16::from_be_bytes(self.be()?) as u64),
            0xce => Token::UInt(u32::from_be_bytes(self.be()?) as u64),
            0xcf => Token::UInt(u64::from_be_bytes(self.be()?)),
            0xd0 => Token::Int(self.byte()? as i8 as i64),
            0xd1 => Token::Int(i16::from_be_bytes(self.be()?) as i64),
            0xd2 => Token::Int(i32::from_be_bytes(self.be()?) as i64),
            0xd3 => Token::Int(i64::from_be_bytes(self.be()?)),
            0xd4 => self.ext(1)?,
            0xd5 => self.ext(2)?,
            0xd6 => self.ext(4)?,
            0xd7 => self.ext(8)?,
            0xd8 => self.ext(16)?,
            0xd9 => {
                let n = self.len8()?;
                Token::Str(self.take(n)?)
            }
            0xda => {
                let n = self.len16()?;
                Token::Str(self.take(n)?)
            }
            0xdb => {
                let n = self.len32()?;
                Token::Str(self.take(n)?)
            }
            0xdc => Token::Array(u16::from_be_bytes(self.be()?) as u32),
            0xdd => Token::Array(u32::from_be_bytes(self.be()?)),
            0xde => Token::Map(u16::from_be_bytes(self.be()?) as u32),
            0xdf => Token::Map(u32::from_be_bytes(self.be()?)),
            0xe0..=0xff => Token::Int(m as i8 as i64),
            0xc1 => return Err(DecodeError::InvalidMarker(m, at)),
        };
        Ok(tok)
    }

    /// Skips one whole value and returns its bytes.
    pub fn skip(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let mut pending = 1;
        self.walk(&mut pending)?;
        Ok(&self.buf[start..self.pos])
    }

    /// Steps over `pending` values, counting down as it goes and up by
    /// the elements of each container it enters. A counter instead of
    /// recursion, so depth costs nothing and a hostile length cannot run
    /// us out of stack.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`] when the bytes end first, with the
    /// reader after the last whole value and `pending` counting what is
    /// left, so a caller whose bytes arrive in pieces can go on from
    /// there; any other error for bytes that are not MessagePack.
    pub fn walk(&mut self, pending: &mut u64) -> Result<(), DecodeError> {
        while *pending > 0 {
            let at = self.pos;
            // The common markers are stepped over by their size alone;
            // the rest, and any value cut short, go through `token`,
            // which also gives the exact error.
            match self.fixed_size() {
                Some((size, children)) if at + size <= self.buf.len() => {
                    self.pos = at + size;
                    *pending += children;
                }
                _ => match self.token() {
                    Ok(Token::Array(n)) => *pending += u64::from(n),
                    Ok(Token::Map(n)) => *pending += 2 * u64::from(n),
                    Ok(_) => {}
                    Err(e) => {
                        self.pos = at;
                        return Err(e);
                    }
                },
            }
            *pending -= 1;
            // Every element takes at least one byte: a count larger than
            // what is left can only be a truncated value.
            if *pending > self.remaining().len() as u64 {
                return Err(DecodeError::Truncated(self.buf.len()));
            }
        }
        Ok(())
    }

    /// For the value at the reader, when its marker (and, for `str8`
    /// and `bin8`, its length byte) says how many bytes it takes: those
    /// bytes and the number of elements a container holds. One table
    /// lookup per marker.
    #[inline]
    fn fixed_size(&self) -> Option<(usize, u64)> {
        let m = usize::from(*self.buf.get(self.pos)?);
        match MARKER_SIZES[m] {
            NOT_FIXED => None,
            LEN8 => self.buf.get(self.pos + 1).map(|&n| (2 + usize::from(n), 0)),
            size => Some((usize::from(size), u64::from(MARKER_CHILDREN[m]))),
        }
    }

    /// Reads one whole value as a tree.
    pub fn value(&mut self) -> Result<Value, DecodeError> {
        self.value_at(0)
    }

    fn value_at(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        Ok(match self.token()? {
            Token::Nil => Value::Null,
            Token::Bool(b) => Value::Bool(b),
            Token::Int(i) => Value::Int(i),
            Token::UInt(u) => Value::UInt(u),
            Token::Float(f) => Value::Float(f),
            Token::Str(s) => Value::Str(String::from_utf8_lossy(s).into_owned()),
            Token::Bin(b) => Value::Bin(b.to_vec()),
            Token::Ext(k, d) => Value::Ext(k, d.to_vec()),
            Token::Array(n) => {
                let mut items = Vec::with_capacity(self.capacity_for(n as usize));
                for _ in 0..n {
                    items.push(self.value_at(depth + 1)?);
                }
                Value::Array(items)
            }
            Token::Map(n) => Value::Map(self.map_body(n, depth + 1)?),
        })
    }

    /// Reads a map whose header has already been read.
    fn map_body(&mut self, n: u32, depth: usize) -> Result<Map, DecodeError> {
        let mut map = Map::with_capacity(self.capacity_for(2 * n as usize) / 2);
        for _ in 0..n {
            let key = self.key()?;
            map.push(key, self.value_at(depth)?);
        }
        Ok(map)
    }

    /// Reads a map.
    pub fn map(&mut self) -> Result<Map, DecodeError> {
        match self.token()? {
            Token::Map(n) => self.map_body(n, 1),
            _ => Err(DecodeError::Shape("expected a map")),
        }
    }

    /// Reads a map key; keys that are not strings are turned into text, as
    /// Fluent Bit does when it prints them.
    fn key(&mut self) -> Result<String, DecodeError> {
        Ok(match self.token()? {
            Token::Str(s) | Token::Bin(s) => String::from_utf8_lossy(s).into_owned(),
            Token::Int(i) => i.to_string(),
            Token::UInt(u) => u.to_string(),
            Token::Float(f) => f.to_string(),
            Token::Bool(b) => b.to_string(),
            Token::Nil => "null".to_owned(),
            Token::Array(_) | Token::Map(_) | Token::Ext(..) => {
                return Err(DecodeError::Shape("map key is a container"))
            }
        })
    }

    /// A length prefix is only believed as far as the bytes left can hold.
    fn capacity_for(&self, n: usize) -> usize {
        n.min(self.remaining().len())
    }
}

/// [`MARKER_SIZES`] for a marker that does not say its value's size by
/// itself: lengths of 16 or 32 bits, and the reserved `0xc1`.
const NOT_FIXED: u8 = 0;
/// [`MARKER_SIZES`] for `str8` and `bin8`: two bytes and the length byte.
const LEN8: u8 = u8::MAX;

/// The bytes a value takes, by its marker, where the marker alone (or
/// with an 8-bit length) says so; [`NOT_FIXED`] otherwise.
static MARKER_SIZES: [u8; 256] = marker_tables().0;
/// The elements a fixmap (keys and values) or fixarray holds, by marker.
static MARKER_CHILDREN: [u8; 256] = marker_tables().1;

const fn marker_tables() -> ([u8; 256], [u8; 256]) {
    let mut sizes = [NOT_FIXED; 256];
    let mut children = [0; 256];
    let mut i = 0;
    while i < 256 {
        let m = i as u8;
        let (size, inside) = match m {
            0x00..=0x7f | 0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => (1, 0),
            0x80..=0x8f => (1, 2 * (m & 0x0f)),
            0x90..=0x9f => (1, m & 0x0f),
            0xa0..=0xbf => (1 + (m & 0x1f), 0),
            0xcc | 0xd0 => (2, 0),
            0xcd | 0xd1 | 0xd4 => (3, 0),
            0xd5 => (4, 0),
            0xca | 0xce | 0xd2 => (5, 0),
            0xd6 => (6, 0),
            0xcb | 0xcf | 0xd3 => (9, 0),
            0xd7 => (10, 0),
            0xd8 => (18, 0),
            0xc4 | 0xd9 => (LEN8, 0),
            _ => (NOT_FIXED, 0),
        };
        sizes[i] = size;
        children[i] = inside;
        i += 1;
    }
    (sizes, children)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| if i >= 0 {
                Value::UInt(i as u64)
            } else {
                Value::Int(i)
            }),
            any::<u64>().prop_map(Value::UInt),
            any::<f64>()
                .prop_filter("NaN never equals itself", |f| !f.is_nan())
                .prop_map(Value::Float),
            ".{0,40}".prop_map(Value::Str),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::Bin),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..20).prop_map(Value::Array),
                proptest::collection::vec(("[a-z]{0,8}", inner), 0..20)
                    .prop_map(|pairs| Value::Map(pairs.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn values_round_trip(v in arb_value()) {
            let mut buf = Vec::new();
            write_value(&mut buf, &v);
            let mut r = Reader::new(&buf);
            prop_assert_eq!(r.value().unwrap(), v);
            prop_assert!(r.is_empty());
            let mut r = Reader::new(&buf);
            prop_assert_eq!(r.skip().unwrap().len(), buf.len());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Reader::new(&bytes).value();
            let _ = Reader::new(&bytes).skip();
        }

        /// `skip` steps over common markers by size; it must end where
        /// reading token by token does, and fail with the same error.
        #[test]
        fn skip_agrees_with_token_by_token(
            v in arb_value(),
            cut in any::<prop::sample::Index>(),
            noise in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut buf = Vec::new();
            write_value(&mut buf, &v);
            let cut_buf = &buf[..cut.index(buf.len() + 1)];
            for bytes in [&buf[..], cut_buf, &noise[..]] {
                let mut fast = Reader::new(bytes);
                let mut slow = Reader::new(bytes);
                let by_tokens = skip_by_tokens(&mut slow);
                let skipped = fast.skip().map(<[u8]>::len);
                prop_assert_eq!(&skipped, &by_tokens.map(<[u8]>::len));
                // Where a failed skip leaves the reader is its own.
                if skipped.is_ok() {
                    prop_assert_eq!(fast.position(), slow.position());
                }
            }
        }

        #[test]
        fn ints_use_the_smallest_form(i in any::<i64>()) {
            let mut buf = Vec::new();
            write_int(&mut buf, i);
            let got = Reader::new(&buf).value().unwrap();
            prop_assert_eq!(got.as_i64(), Some(i));
        }
    }

    /// `skip` as it was before its fast path: one token at a time.
    fn skip_by_tokens<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
        let start = r.position();
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            match r.any_token()? {
                Token::Array(n) => pending += n as u64,
                Token::Map(n) => pending += 2 * n as u64,
                _ => {}
            }
            if pending > r.remaining().len() as u64 {
                return Err(DecodeError::Truncated(r.buf.len()));
            }
        }
        Ok(&r.buf[start..r.position()])
    }

    #[test]
    fn huge_length_prefix_is_truncated_not_allocated() {
        // array32 claiming u32::MAX elements, followed by one byte.
        let bytes = [0xdd, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(matches!(
            Reader::new(&bytes).value(),
            Err(DecodeError::Truncated(_))
        ));
        assert!(matches!(
            Reader::new(&bytes).skip(),
            Err(DecodeError::Truncated(_))
        ));
        let bytes = [0xdf, 0xff, 0xff, 0xff, 0xff];
        assert!(Reader::new(&bytes).value().is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let bytes = vec![0x91; 10_000];
        assert!(Reader::new(&bytes).value().is_err());
        assert!(Reader::new(&bytes).skip().is_err());
    }

    #[test]
    fn grow_map_widens_headers() {
        for n in [0usize, 14, 15, 65_535] {
            let mut buf = vec![0xc0];
            write_map_len(&mut buf, n);
            for i in 0..n {
                write_str(&mut buf, "k");
                write_uint(&mut buf, i as u64);
            }
            grow_map(&mut buf, 1).unwrap();
            write_str(&mut buf, "new");
            write_bool(&mut buf, true);
            let mut r = Reader::new(&buf[1..]);
            let map = r.map().unwrap();
            assert_eq!(map.len(), n + 1);
            assert_eq!(map.get("new"), Some(&Value::Bool(true)));
        }
        assert!(grow_map(&mut vec![0x90], 0).is_err());
    }

    #[test]
    fn reserved_marker_is_an_error() {
        assert_eq!(
            Reader::new(&[0xc1]).value(),
            Err(DecodeError::InvalidMarker(0xc1, 0))
        );
    }
}
