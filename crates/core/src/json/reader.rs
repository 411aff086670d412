//! The JSON reader behind [`super::to_msgpack`]: one pass over the text,
//! writing MessagePack as each token is read, with no tree and no
//! allocation unless a string holds escapes.
//!
//! It is written for the per-record path of every input that receives
//! JSON, where it replaced a serde visitor at about half the cost per
//! record: strings are found with `memchr` and copied in one piece when
//! they have no escapes, numbers are scanned once and converted without
//! going through text twice, and floats are read with the standard
//! library's exact parser. It accepts exactly RFC 8259 JSON: no comments,
//! no trailing commas, no control characters in strings, no lone
//! surrogates, at most [`MAX_NESTING`] nested containers.

use super::JsonError;
use crate::msgpack;

/// Containers nested deeper than this are refused (serde_json's limit).
pub(super) const MAX_NESTING: usize = 128;

/// The three header markers of a container kind: fix, 16-bit, 32-bit.
struct Markers(u8, u8, u8);

const ARRAY: Markers = Markers(0x90, 0xdc, 0xdd);
const MAP: Markers = Markers(0x80, 0xde, 0xdf);

/// Reads one JSON value from `json` (white space around it allowed) and
/// appends it to `out` as MessagePack. On error `out` may hold part of
/// the value; the caller truncates it.
pub(super) fn transcode(json: &[u8], out: &mut Vec<u8>) -> Result<(), JsonError> {
    let mut reader = Reader {
        json,
        at: 0,
        out,
        scratch: Vec::new(),
    };
    reader.value(0)?;
    reader.skip_space();
    if reader.at < json.len() {
        return Err(reader.error("trailing characters"));
    }
    Ok(())
}

struct Reader<'j, 'o> {
    json: &'j [u8],
    at: usize,
    out: &'o mut Vec<u8>,
    /// Unescaped text of the current string, when it had escapes.
    scratch: Vec<u8>,
}

impl Reader<'_, '_> {
    fn peek(&self) -> Option<u8> {
        self.json.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// An error at the current position, with its line and column.
    fn error(&self, what: &str) -> JsonError {
        let before = &self.json[..self.at.min(self.json.len())];
        let line = 1 + memchr::memchr_iter(b'\n', before).count();
        let column = before.len() - memchr::memrchr(b'\n', before).map_or(0, |i| i + 1) + 1;
        JsonError(format!("{what} at line {line} column {column}"))
    }

    fn eof_or(&self, what: &str) -> JsonError {
        match self.peek() {
            None => self.error("unexpected end of input"),
            Some(_) => self.error(what),
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), JsonError> {
        self.skip_space();
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => {
                self.at += 1;
                self.string()
            }
            Some(b't') => self.literal(b"true", |out| msgpack::write_bool(out, true)),
            Some(b'f') => self.literal(b"false", |out| msgpack::write_bool(out, false)),
            Some(b'n') => self.literal(b"null", msgpack::write_nil),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.eof_or("expected a value")),
        }
    }

    fn literal(&mut self, word: &[u8], write: fn(&mut Vec<u8>)) -> Result<(), JsonError> {
        if !self.json[self.at..].starts_with(word) {
            return Err(self.error("expected a value"));
        }
        self.at += word.len();
        write(self.out);
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_NESTING {
            return Err(self.error("recursion limit exceeded"));
        }
        self.at += 1;
        let header = self.out.len();
        self.out.push(MAP.0);
        let mut pairs = 0usize;
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return Err(self.eof_or("expected a string key"));
            }
            self.at += 1;
            self.string()?;
            self.skip_space();
            if self.peek() != Some(b':') {
                return Err(self.eof_or("expected ':'"));
            }
            self.at += 1;
            self.value(depth)?;
            pairs += 1;
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => break,
                _ => return Err(self.eof_or("expected ',' or '}'")),
            }
        }
        self.at += 1;
        patch_header(self.out, header, pairs, MAP).map_err(|e| self.error(e))
    }

    fn array(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_NESTING {
            return Err(self.error("recursion limit exceeded"));
        }
        self.at += 1;
        let header = self.out.len();
        self.out.push(ARRAY.0);
        let mut items = 0usize;
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.value(depth)?;
            items += 1;
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => break,
                _ => return Err(self.eof_or("expected ',' or ']'")),
            }
        }
        self.at += 1;
        patch_header(self.out, header, items, ARRAY).map_err(|e| self.error(e))
    }

    /// Reads a string whose opening quote was just passed. Text without
    /// escapes is checked and copied straight from the input.
    fn string(&mut self) -> Result<(), JsonError> {
        let start = self.at;
        let rest = &self.json[start..];
        let ascii = ascii_run(rest);
        // Most strings are printable ASCII up to their quote: those skip
        // the checks that other text needs.
        let end = if rest.get(ascii) == Some(&b'"') {
            start + ascii
        } else {
            let end = self.plain_run(start, ascii)?;
            if self.json[end] == b'\\' {
                return self.escaped_string(start, end);
            }
            end
        };
        write_str_at(self.out, rest, end - start);
        self.at = end + 1;
        Ok(())
    }

    /// Reads the rest of a string from `start` whose first escape is at
    /// `backslash`, unescaping it into the scratch text.
    fn escaped_string(&mut self, start: usize, backslash: usize) -> Result<(), JsonError> {
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.json[start..backslash]);
        self.at = backslash;
        loop {
            // At a backslash.
            self.escape()?;
            let run = self.at;
            let end = self.plain_run(run, ascii_run(&self.json[run..]))?;
            self.scratch.extend_from_slice(&self.json[run..end]);
            self.at = end;
            if self.json[end] == b'"' {
                break;
            }
        }
        self.at += 1;
        msgpack::write_str_bytes(self.out, &self.scratch);
        Ok(())
    }

    /// Finds the quote or backslash that ends the run of plain text at
    /// `from`, whose first `ascii` bytes [`ascii_run`] found, after
    /// checking the run: no control characters, valid UTF-8. A multi-byte
    /// character never holds a quote or backslash byte, so checking runs
    /// one at a time checks the whole string.
    fn plain_run(&mut self, from: usize, ascii: usize) -> Result<usize, JsonError> {
        let rest = &self.json[from..];
        match rest.get(ascii) {
            Some(b'"' | b'\\') => return Ok(from + ascii),
            Some(&b) if b < 0x20 => {
                self.at = from + ascii;
                return Err(self.error("control character in a string"));
            }
            // Not ASCII: the general path below checks the UTF-8.
            Some(_) => {}
            None => {
                self.at = self.json.len();
                return Err(self.error("unexpected end of input in a string"));
            }
        }
        let Some(len) = memchr::memchr2(b'"', b'\\', rest) else {
            self.at = self.json.len();
            return Err(self.error("unexpected end of input in a string"));
        };
        let run = &rest[..len];
        if let Some(bad) = run.iter().position(|&b| b < 0x20) {
            self.at = from + bad;
            return Err(self.error("control character in a string"));
        }
        if let Err(e) = std::str::from_utf8(run) {
            self.at = from + e.valid_up_to();
            return Err(self.error("invalid UTF-8 in a string"));
        }
        Ok(from + len)
    }

    /// Reads one escape sequence into the scratch text.
    fn escape(&mut self) -> Result<(), JsonError> {
        self.at += 1;
        let Some(kind) = self.peek() else {
            return Err(self.error("unexpected end of input in a string"));
        };
        self.at += 1;
        let byte = match kind {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => return self.unicode_escape(),
            _ => {
                self.at -= 1;
                return Err(self.error("invalid escape"));
            }
        };
        self.scratch.push(byte);
        Ok(())
    }

    /// `\uXXXX`, and the low half that must follow a high surrogate.
    fn unicode_escape(&mut self) -> Result<(), JsonError> {
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                if !self.json[self.at..].starts_with(b"\\u") {
                    return Err(self.error("lone leading surrogate in a \\u escape"));
                }
                self.at += 2;
                let low = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return Err(self.error("lone leading surrogate in a \\u escape"));
                }
                0x10000 + ((u32::from(first) - 0xd800) << 10) + (u32::from(low) - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(self.error("lone trailing surrogate in a \\u escape")),
            other => u32::from(other),
        };
        let Some(c) = char::from_u32(code) else {
            return Err(self.error("invalid \\u escape"));
        };
        let mut utf8 = [0u8; 4];
        self.scratch
            .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16, JsonError> {
        let Some(digits) = self.json.get(self.at..self.at + 4) else {
            self.at = self.json.len();
            return Err(self.error("unexpected end of input in a \\u escape"));
        };
        let mut value = 0u16;
        for &d in digits {
            let nibble = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.error("invalid \\u escape")),
            };
            value = value << 4 | u16::from(nibble);
        }
        self.at += 4;
        Ok(value)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`. Integers become
    /// MessagePack ints (unsigned when not negative); a fraction, an
    /// exponent or an integer too large for 64 bits becomes a float.
    fn number(&mut self) -> Result<(), JsonError> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let digits = self.at;
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(self.eof_or("invalid number")),
        }
        let int_end = self.at;
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.require_digits()?;
            float = true;
            if !matches!(self.peek(), Some(b'e' | b'E')) {
                let fraction = &self.json[int_end + 1..self.at];
                if let Some(f) = short_decimal(&self.json[digits..int_end], fraction) {
                    msgpack::write_f64(self.out, if negative { -f } else { f });
                    return Ok(());
                }
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.require_digits()?;
            float = true;
        }
        if !float {
            if let Some(magnitude) = parse_u64(&self.json[digits..int_end]) {
                if !negative {
                    msgpack::write_uint(self.out, magnitude);
                    return Ok(());
                }
                if let Some(value) = 0i64.checked_sub_unsigned(magnitude) {
                    msgpack::write_int(self.out, value);
                    return Ok(());
                }
            }
        }
        // The scanned bytes are ASCII, so the text is valid UTF-8.
        let text = std::str::from_utf8(&self.json[start..self.at]).unwrap_or_default();
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => {
                msgpack::write_f64(self.out, f);
                Ok(())
            }
            _ => {
                self.at = start;
                Err(self.error("number out of range"))
            }
        }
    }

    fn skip_digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }

    fn require_digits(&mut self) -> Result<(), JsonError> {
        let from = self.at;
        self.skip_digits();
        if self.at == from {
            return Err(self.eof_or("invalid number"));
        }
        Ok(())
    }
}

/// Strings up to this long are copied as a block of this size.
const SHORT: usize = 16;

/// Writes the first `len` bytes of `text` as a MessagePack string. When
/// they are few and `text` goes on past them, a fixed-size block is
/// copied and cut back: a few moves, where a copy of any length is a
/// library call.
#[inline]
fn write_str_at(out: &mut Vec<u8>, text: &[u8], len: usize) {
    if len <= SHORT && text.len() >= SHORT {
        msgpack::write_str_header(out, len);
        let end = out.len() + len;
        out.extend_from_slice(&text[..SHORT]);
        out.truncate(end);
    } else {
        msgpack::write_str_bytes(out, &text[..len]);
    }
}

/// The length of the printable ASCII at the front of `text`: up to the
/// first quote, backslash, control character or non-ASCII byte. Most
/// keys and values are short ASCII, so this reads eight bytes at a time
/// and settles the common string in a few steps.
#[inline]
fn ascii_run(text: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    while let Some(word) = text.get(at..at + 8) {
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        // A byte's high bit is set in `stop` when it is zero after the
        // xor (quote, backslash), below 0x20, or at or above 0x80. Only
        // bytes above the first stop can be flagged falsely, so the
        // lowest flag is exact.
        let stop = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (w.wrapping_sub(ONES * 0x20) & !w)
            | w;
        let stop = stop & HIGH;
        if stop != 0 {
            return at + (stop.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + text[at..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b))
        .unwrap_or(text.len() - at)
}

/// A decimal without exponent, `int.fraction` (ASCII digits), when it
/// has at most 15 significant digits: the digits as one integer, below
/// 2^53 and so exact in an `f64`, divided by an exact power of ten. One
/// correctly rounded division gives the correctly rounded value, the
/// same as `str::parse`, without its general algorithm.
fn short_decimal(int: &[u8], fraction: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    if int.len() + fraction.len() > 15 {
        return None;
    }
    let digits = int.iter().chain(fraction);
    let mantissa = digits.fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
    Some(mantissa as f64 / POW10[fraction.len()])
}

/// Decimal digits as a `u64`, `None` on overflow.
fn parse_u64(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Rewrites the one-byte placeholder at `at` as the smallest header for
/// `n` elements, moving the elements up when the header needs more room.
/// A container's count is known only at its end; most have fewer than 16
/// elements and are never moved.
fn patch_header(out: &mut Vec<u8>, at: usize, n: usize, kind: Markers) -> Result<(), &'static str> {
    let mut header = [0u8; 5];
    let len = if n < 16 {
        header[0] = kind.0 | n as u8;
        1
    } else if let Ok(n) = u16::try_from(n) {
        header[0] = kind.1;
        header[1..3].copy_from_slice(&n.to_be_bytes());
        3
    } else if let Ok(n) = u32::try_from(n) {
        header[0] = kind.2;
        header[1..5].copy_from_slice(&n.to_be_bytes());
        5
    } else {
        return Err("json container has more than 2^32 elements");
    };
    if len > 1 {
        let end = out.len();
        out.resize(end + len - 1, 0);
        out.copy_within(at + 1..end, at + len);
    }
    out[at..at + len].copy_from_slice(&header[..len]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_of_every_short_length_keep_their_bytes_and_what_follows() {
        use crate::msgpack::Reader as Msgpack;
        use crate::value::Value;
        for len in 0..24 {
            let text = "abcdefghijklmnopqrstuvwx"[..len].to_owned();
            // At the end of the input, where fewer than SHORT bytes
            // follow, and in the middle of it.
            for json in [
                format!(r#"{{"k":"{text}"}}"#),
                format!(r#"{{"k":"{text}","after":"more text follows"}}"#),
            ] {
                let mut out = vec![0xff];
                transcode(json.as_bytes(), &mut out).unwrap();
                let mut r = Msgpack::new(&out[1..]);
                let Value::Map(map) = r.value().unwrap() else {
                    panic!("{json}: not a map");
                };
                assert_eq!(map.get("k"), Some(&Value::Str(text.clone())), "{json}");
                assert!(r.is_empty(), "{json}: bytes left over");
            }
        }
    }

    #[test]
    fn ascii_run_stops_at_the_first_byte_that_needs_a_look() {
        let cases: [(&[u8], usize); 8] = [
            (b"", 0),
            (b"abc", 3),
            (b"abcdefgh\"", 8),
            (b"abcdefghij\\x", 10),
            (b"ab\x01cdefghij", 2),
            (b"abcdefg\xc3\xa9", 7),
            (b"\"abcdefghijklmnop", 0),
            (b"0123456789abcdef\x1f", 16),
        ];
        for (text, want) in cases {
            assert_eq!(ascii_run(text), want, "{text:?}");
        }
        // Every position of every stop byte, in both halves of a word.
        for stop in [b'"', b'\\', 0x00, 0x1f, 0x80, 0xff] {
            for at in 0..20 {
                let mut text = vec![b'a'; 20];
                text[at] = stop;
                assert_eq!(ascii_run(&text), at, "{stop:#x} at {at}");
            }
        }
    }

    #[test]
    fn short_decimals_read_as_str_parse_reads_them() {
        let mut rng = fastrand::Rng::with_seed(53);
        for _ in 0..100_000 {
            let int_len = rng.usize(1..8);
            let frac_len = rng.usize(1..10);
            let mut text = String::new();
            if rng.bool() {
                text.push('-');
            }
            for i in 0..int_len {
                let first = i == 0;
                // JSON allows a leading zero only as the whole integer part.
                let d = if first && int_len > 1 {
                    rng.u8(1..10)
                } else {
                    rng.u8(0..10)
                };
                text.push(char::from(b'0' + d));
            }
            text.push('.');
            for _ in 0..frac_len {
                text.push(char::from(b'0' + rng.u8(0..10)));
            }
            let json = format!(r#"{{"n":{text}}}"#);
            let mut out = Vec::new();
            transcode(json.as_bytes(), &mut out).unwrap();
            let mut r = crate::msgpack::Reader::new(&out);
            let crate::value::Value::Map(map) = r.value().unwrap() else {
                panic!("{json}: not a map");
            };
            let want: f64 = text.parse().unwrap();
            match map.get("n") {
                Some(crate::value::Value::Float(f)) => {
                    assert_eq!(f.to_bits(), want.to_bits(), "{text}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
