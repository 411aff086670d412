//! JSON in and out: transcoding JSON text to MessagePack without building
//! a tree, and writing values or raw MessagePack as JSON for outputs.
//!
//! Inputs turn JSON lines into chunk events with [`to_msgpack_object`];
//! outputs that speak JSON (stdout, file, http …) print chunk bodies with
//! [`write_record`] straight from the MessagePack bytes, so neither side
//! builds a [`Value`] per record. [`write_value`] prints a tree the same
//! way, byte for byte, for filters and outputs that already hold one.
//!
//! JSON cannot spell every MessagePack value, so printing is lossy in
//! documented ways: NaN and ±infinity become `null`; binary strings, and
//! text that is not valid UTF-8, are printed as strings with each invalid
//! sequence replaced by U+FFFD; extension values are printed as strings of
//! their bytes, except the event time, which is printed as seconds.

mod reader;
mod split;
mod transcode;

use std::io::Write as _;

use crate::event::{EventTime, EVENT_TIME_EXT};
use crate::msgpack::{DecodeError, Reader, Token, MAX_DEPTH};
use crate::timefmt::DateFormat;
use crate::value::Value;

pub use split::{split_object, Split};
pub use transcode::{parse_object, to_msgpack, to_msgpack_object};

/// Why JSON text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid json: {0}")]
pub struct JsonError(pub String);

/// What each byte becomes inside a JSON string: 0 copies it as it is,
/// `u` asks for a `\u00XX` escape, any other letter follows a backslash.
static ESCAPE: [u8; 256] = escape_table();

const fn escape_table() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
}

const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();

/// Writes `v` as JSON.
///
/// Recursion follows the tree; trees decoded from MessagePack are at most
/// [`MAX_DEPTH`] deep.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => write_bool(out, *b),
        Value::Int(i) => write_i64(out, *i),
        Value::UInt(u) => write_u64(out, *u),
        Value::Float(f) => write_f64(out, *f),
        Value::Str(s) => write_str(out, s.as_bytes()),
        Value::Bin(b) => write_str(out, b),
        Value::Ext(kind, data) => write_ext(out, *kind, data),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Map(map) => {
            out.push(b'{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k.as_bytes());
                out.push(b':');
                write_value(out, v);
            }
            out.push(b'}');
        }
    }
}

/// Writes bytes as a JSON string literal, escaping as needed; invalid
/// UTF-8 becomes U+FFFD, one per invalid sequence as
/// `String::from_utf8_lossy` does.
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    // Most keys and values need no escape at all: one look settles it.
    if all_plain(s) {
        out.extend_from_slice(s);
        out.push(b'"');
        return;
    }
    // Log text is mostly ASCII: escape it in the same pass that looks for
    // the first byte past ASCII, and check UTF-8 only from there on. That
    // byte starts a character, since everything before it was ASCII.
    let mut run = 0;
    let mut i = 0;
    while i < s.len() {
        // Eight plain bytes at a time; a word that may hold anything else
        // is looked at byte by byte.
        if let Some(word) = s.get(i..i + 8) {
            let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            if plain_word(word) {
                i += 8;
                continue;
            }
        }
        let end = (i + 8).min(s.len());
        while i < end {
            let b = s[i];
            if b >= 0x80 {
                out.extend_from_slice(&s[run..i]);
                write_text(out, &s[i..]);
                out.push(b'"');
                return;
            }
            if ESCAPE[b as usize] != 0 {
                out.extend_from_slice(&s[run..i]);
                write_escape(out, b);
                run = i + 1;
            }
            i += 1;
        }
    }
    out.extend_from_slice(&s[run..]);
    out.push(b'"');
}

/// Is every byte of `s` ASCII that JSON takes as it is? Whole words,
/// the last one overlapping the one before; shorter text is gathered into
/// one word padded with spaces, so no byte is looked at alone.
fn all_plain(s: &[u8]) -> bool {
    let n = s.len();
    let word_at = |i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("eight bytes"));
    let half_at = |i: usize| u32::from_le_bytes(s[i..i + 4].try_into().expect("four bytes"));
    const SPACES: u64 = 0x2020_2020_2020_2020;
    let word = match n {
        0 => return true,
        1..=3 => {
            // First, middle and last byte cover up to three bytes.
            let gathered = u64::from(s[0]) | u64::from(s[n / 2]) << 8 | u64::from(s[n - 1]) << 16;
            gathered | SPACES << 24
        }
        4..=7 => u64::from(half_at(0)) | u64::from(half_at(n - 4)) << 32,
        _ => {
            let mut i = 0;
            while i + 8 < n {
                if !plain_word(word_at(i)) {
                    return false;
                }
                i += 8;
            }
            word_at(n - 8)
        }
    };
    plain_word(word)
}

/// Are all eight bytes of `word` ASCII that JSON takes as it is (no
/// control character, quote or backslash)? Bit tricks on the whole word;
/// each test is exact about whether some byte matches.
fn plain_word(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Some byte of `v` is zero.
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let high = word & HIGHS;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    let quote = zero(word ^ (ONES * u64::from(b'"')));
    let backslash = zero(word ^ (ONES * u64::from(b'\\')));
    high | control | quote | backslash == 0
}

/// Writes text that may hold any bytes: invalid UTF-8 becomes U+FFFD.
fn write_text(out: &mut Vec<u8>, s: &[u8]) {
    if std::str::from_utf8(s).is_ok() {
        write_escaped(out, s);
    } else {
        for chunk in s.utf8_chunks() {
            write_escaped(out, chunk.valid().as_bytes());
            if !chunk.invalid().is_empty() {
                out.extend_from_slice(REPLACEMENT);
            }
        }
    }
}

/// Writes the escape of a byte `ESCAPE` marks.
fn write_escape(out: &mut Vec<u8>, b: u8) {
    let escape = ESCAPE[b as usize];
    if escape == b'u' {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let hex = [HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]];
        out.extend_from_slice(b"\\u00");
        out.extend_from_slice(&hex);
    } else {
        out.extend_from_slice(&[b'\\', escape]);
    }
}

/// Copies valid UTF-8 text, escaping what JSON requires; runs that need
/// no escape are copied in one piece.
fn write_escaped(out: &mut Vec<u8>, text: &[u8]) {
    let mut run = 0;
    for (i, &b) in text.iter().enumerate() {
        if ESCAPE[b as usize] == 0 {
            continue;
        }
        out.extend_from_slice(&text[run..i]);
        write_escape(out, b);
        run = i + 1;
    }
    out.extend_from_slice(&text[run..]);
}

fn write_bool(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// Writes an unsigned integer in decimal.
pub fn write_u64(out: &mut Vec<u8>, u: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
}

/// Writes a signed integer in decimal.
pub fn write_i64(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

/// Writes `f` as an integer and at most three decimals when such a
/// decimal reads back as exactly `f` (latencies, prices, percentages);
/// false, having written nothing, for any other value. The fewest
/// decimals that read back give the shortest form, as `ryu` would (the
/// two may choose differently between two equally near forms), for a
/// tenth of the instructions.
fn write_few_decimals(out: &mut Vec<u8>, f: f64) -> bool {
    const SCALES: [f64; 4] = [1.0, 10.0, 100.0, 1000.0];
    let size = f.abs();
    // Below 2^53 / 1000 every scaled value is an exact integer in f64.
    if size >= 9e12 {
        return false;
    }
    for (decimals, scale) in SCALES.into_iter().enumerate() {
        // Rounded by the cast, which is one instruction where `round`
        // is a library call on baseline x86-64.
        let digits = (size * scale + 0.5) as u64;
        // Both operands are exact, so the quotient is the f64 nearest
        // to the decimal: equal to `f` when the decimal reads back as it.
        if digits as f64 / scale != size {
            continue;
        }
        if f.is_sign_negative() {
            out.push(b'-');
        }
        let unit = 10u64.pow(decimals as u32);
        let mut text = itoa::Buffer::new();
        out.extend_from_slice(text.format(digits / unit).as_bytes());
        out.push(b'.');
        if decimals == 0 {
            out.push(b'0');
        } else {
            let fraction = text.format(digits % unit + unit).as_bytes();
            // The leading 1 of `unit` keeps the fraction's zeros.
            out.extend_from_slice(&fraction[1..]);
        }
        return true;
    }
    false
}

/// Writes a float as the shortest JSON number that reads back as the same
/// value (`1.0`, `0.1`, `1e300`); NaN and ±infinity have no JSON spelling
/// and are written as `null`.
pub fn write_f64(out: &mut Vec<u8>, f: f64) {
    if !f.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    // Rust's `Debug` for floats is the shortest round-trip form, always
    // with a `.` or an exponent, and never `inf`/`NaN` once those are out.
    // Where `Debug` writes plain decimals, ryu writes the same text at a
    // fraction of the cost (log numbers such as latencies live there),
    // but for a value exactly between two shortest forms, where each may
    // pick the other one; outside that range the two place the exponent
    // differently.
    let size = f.abs();
    if size == 0.0 || (1e-4..1e16).contains(&size) {
        if !write_few_decimals(out, f) {
            out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
        }
        return;
    }
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{f:?}");
}

/// Extensions are not JSON: the event time becomes seconds, anything else
/// a string of its bytes.
fn write_ext(out: &mut Vec<u8>, kind: i8, data: &[u8]) {
    match data {
        [s0, s1, s2, s3, n0, n1, n2, n3] if kind == EVENT_TIME_EXT => {
            let sec = u32::from_be_bytes([*s0, *s1, *s2, *s3]);
            let nsec = u32::from_be_bytes([*n0, *n1, *n2, *n3]).min(999_999_999);
            DateFormat::Double.write_json(out, EventTime::new(sec.into(), nsec));
        }
        _ => write_str(out, data),
    }
}

/// Writes the MessagePack value at the reader as JSON, exactly as
/// [`write_value`] would print the decoded tree.
///
/// # Errors
///
/// The reader's errors: truncated or invalid MessagePack, nesting deeper
/// than [`MAX_DEPTH`], or a map key that is a container or an extension.
/// On error `out` is left as it was.
pub fn write_msgpack(out: &mut Vec<u8>, r: &mut Reader<'_>) -> Result<(), DecodeError> {
    let mark = out.len();
    let result = write_at(out, r, 0);
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

/// Depth counts as in `Reader::value`: the top value is at 0 and every
/// container's elements one deeper.
fn write_at(out: &mut Vec<u8>, r: &mut Reader<'_>, depth: usize) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    match r.token()? {
        Token::Nil => out.extend_from_slice(b"null"),
        Token::Bool(b) => write_bool(out, b),
        Token::Int(i) => write_i64(out, i),
        Token::UInt(u) => write_u64(out, u),
        Token::Float(f) => write_f64(out, f),
        Token::Str(s) | Token::Bin(s) => write_str(out, s),
        Token::Ext(kind, data) => write_ext(out, kind, data),
        Token::Array(n) => {
            // A hostile count costs nothing: each element reads at least
            // one byte, so the loop ends where the input does.
            out.push(b'[');
            for i in 0..n {
                if i > 0 {
                    out.push(b',');
                }
                write_at(out, r, depth + 1)?;
            }
            out.push(b']');
        }
        Token::Map(n) => {
            out.push(b'{');
            write_pairs(out, r, n, depth + 1)?;
            out.push(b'}');
        }
    }
    Ok(())
}

/// Writes `n` key/value pairs, comma separated, without the braces.
fn write_pairs(
    out: &mut Vec<u8>,
    r: &mut Reader<'_>,
    n: u32,
    depth: usize,
) -> Result<(), DecodeError> {
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        write_key(out, r)?;
        out.push(b':');
        write_at(out, r, depth)?;
    }
    Ok(())
}

/// Map keys that are not strings become strings, spelled as
/// `Reader::value` spells them when it decodes a key.
fn write_key(out: &mut Vec<u8>, r: &mut Reader<'_>) -> Result<(), DecodeError> {
    match r.token()? {
        Token::Str(s) | Token::Bin(s) => write_str(out, s),
        Token::Int(i) => quoted(out, |out| write_i64(out, i)),
        Token::UInt(u) => quoted(out, |out| write_u64(out, u)),
        // `Display`, not the JSON float form, because that is what the
        // decoder's key text uses; it never needs escaping.
        Token::Float(f) => quoted(out, |out| {
            let _ = write!(out, "{f}");
        }),
        Token::Bool(b) => quoted(out, |out| write_bool(out, b)),
        Token::Nil => out.extend_from_slice(b"\"null\""),
        Token::Array(_) | Token::Map(_) | Token::Ext(..) => {
            return Err(DecodeError::Shape("map key is a container"))
        }
    }
    Ok(())
}

fn quoted(out: &mut Vec<u8>, inner: impl FnOnce(&mut Vec<u8>)) {
    out.push(b'"');
    inner(out);
    out.push(b'"');
}

/// Writes a record body (a MessagePack map) as a JSON object; with
/// `date`, the key and formatted time come first.
///
/// # Errors
///
/// [`DecodeError::Shape`] when the body is not a map, and the reader's
/// errors for malformed MessagePack. On error `out` is left as it was.
pub fn write_record(
    out: &mut Vec<u8>,
    body: &[u8],
    date: Option<(&str, DateFormat, EventTime)>,
) -> Result<(), DecodeError> {
    write_record_at(out, &mut Reader::new(body), date)
}

/// [`write_record`] for the body at the reader, which is left after it.
///
/// # Errors
/// As [`write_record`]; `out` is left as it was.
pub fn write_record_at(
    out: &mut Vec<u8>,
    r: &mut Reader<'_>,
    date: Option<(&str, DateFormat, EventTime)>,
) -> Result<(), DecodeError> {
    let Token::Map(n) = r.token()? else {
        return Err(DecodeError::Shape("record body is not a map"));
    };
    let mark = out.len();
    out.push(b'{');
    if let Some((key, format, time)) = date {
        write_str(out, key.as_bytes());
        out.push(b':');
        format.write_json(out, time);
        if n > 0 {
            out.push(b',');
        }
    }
    if let Err(e) = write_pairs(out, r, n, 1) {
        out.truncate(mark);
        return Err(e);
    }
    out.push(b'}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_as_debug_writes_them() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut cases = vec![
            0.0,
            -0.0,
            1.0,
            0.1,
            1e-4,
            9.999e-5,
            1e15,
            9.999_999e15,
            1e16,
            12.505,
            -446.09,
            0.005,
            0.0101,
            100.0,
            8_999_999_999_999.999,
        ];
        for _ in 0..200_000 {
            // Any bit pattern, and decimals of a few digits at any scale.
            cases.push(f64::from_bits(next()));
            let digits = (next() % 1_000_000) as f64;
            cases.push(digits / 10f64.powi((next() % 24) as i32 - 4));
        }
        for f in cases.into_iter().filter(|f| f.is_finite()) {
            let mut out = Vec::new();
            write_f64(&mut out, f);
            let text = String::from_utf8(out).unwrap();
            let debug = format!("{f:?}");
            // Two shortest forms can be equally near the value (only
            // where its last binary digits are few); each picks one.
            let tie = text.len() == debug.len() && text.parse::<f64>() == Ok(f);
            assert!(text == debug || tie, "{text} != {debug}");
        }
    }

    #[test]
    fn plain_words_are_told_from_every_byte_that_needs_a_look() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut word = *b"abcdefgh";
                word[at] = b;
                let plain = b < 0x80 && ESCAPE[b as usize] == 0;
                assert_eq!(
                    plain_word(u64::from_le_bytes(word)),
                    plain,
                    "{b:#x} at {at}"
                );
            }
        }
    }
    use crate::msgpack;
    use crate::value::Map;

    fn json_str(s: &[u8]) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).expect("write_str emits UTF-8")
    }

    fn json_value(v: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v);
        String::from_utf8(out).expect("write_value emits UTF-8")
    }

    #[test]
    fn escapes_what_json_requires() {
        let table: &[(&[u8], &str)] = &[
            (b"", r#""""#),
            (b"plain text", r#""plain text""#),
            (b"a\"b", r#""a\"b""#),
            (b"a\\b", r#""a\\b""#),
            (b"line\nnext", r#""line\nnext""#),
            (b"\t\r\x08\x0c", r#""\t\r\b\f""#),
            (b"\x00\x01\x1f", r#""\u0000\u0001\u001f""#),
            (b"\x7f/", "\"\x7f/\""),
            ("caf\u{e9} \u{1f600}".as_bytes(), "\"caf\u{e9} \u{1f600}\""),
            (b"\"\"", r#""\"\"""#),
        ];
        for (input, want) in table {
            assert_eq!(json_str(input), *want, "input {input:?}");
            let back: String = serde_json::from_str(want).unwrap();
            assert_eq!(back.as_bytes(), *input);
        }
    }

    #[test]
    fn one_byte_needing_a_look_is_found_at_any_length_and_place() {
        for len in 1..20 {
            for at in 0..len {
                for b in [b'"', b'\\', b'\n', 0x00, 0x1f, 0xc3] {
                    let mut text = vec![b'x'; len];
                    text[at] = b;
                    let want = serde_json::to_string(&String::from_utf8_lossy(&text)).unwrap();
                    assert_eq!(json_str(&text), want, "{b:#x} at {at} of {len}");
                }
            }
            assert_eq!(
                json_str(&vec![b'x'; len]),
                format!("\"{}\"", "x".repeat(len))
            );
        }
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let input = b"ok\xffthen\xe2\x82 and \xc3";
        let want = String::from_utf8_lossy(input);
        let got = json_str(input);
        assert_eq!(got, "\"ok\u{fffd}then\u{fffd} and \u{fffd}\"");
        assert_eq!(serde_json::from_str::<String>(&got).unwrap(), want);
    }

    #[test]
    fn nan_and_infinity_are_null() {
        let v = Value::Array(vec![
            Value::Float(f64::NAN),
            Value::Float(f64::INFINITY),
            Value::Float(f64::NEG_INFINITY),
        ]);
        assert_eq!(json_value(&v), "[null,null,null]");
    }

    #[test]
    fn floats_are_shortest_json_numbers() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (-0.0, "-0.0"),
            (1e300, "1e300"),
            (1.5e-7, "1.5e-7"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
        ];
        for (f, want) in cases {
            assert_eq!(json_value(&Value::Float(f)), want);
            let back: f64 = serde_json::from_str(want).unwrap();
            assert_eq!(back, f);
        }
    }

    #[test]
    fn integers_at_the_limits() {
        let v = Value::Array(vec![
            Value::Int(i64::MIN),
            Value::Int(0),
            Value::UInt(u64::MAX),
        ]);
        assert_eq!(
            json_value(&v),
            "[-9223372036854775808,0,18446744073709551615]"
        );
    }

    #[test]
    fn bin_ext_and_event_time() {
        let mut time = Vec::new();
        EventTime::new(1_700_000_000, 5_000).write(&mut time);
        let Value::Ext(kind, data) = Reader::new(&time).value().unwrap() else {
            panic!("event time decodes as an extension");
        };
        let v = Value::Array(vec![
            Value::Bin(b"ab\xff".to_vec()),
            Value::Ext(kind, data),
            Value::Ext(5, b"xy".to_vec()),
        ]);
        assert_eq!(json_value(&v), "[\"ab\u{fffd}\",1700000000.000005,\"xy\"]");
    }

    #[test]
    fn maps_keep_order_and_repeated_keys() {
        let mut m = Map::new();
        m.push("b", Value::Null);
        m.push("a", Value::Bool(true));
        m.push("b", Value::from("x"));
        assert_eq!(json_value(&Value::Map(m)), r#"{"b":null,"a":true,"b":"x"}"#);
    }

    #[test]
    fn record_with_date_puts_it_first() {
        let mut body = Map::new();
        body.push("msg", "hi".into());
        body.push("n", 3.into());
        let mut bytes = Vec::new();
        msgpack::write_map(&mut bytes, &body);
        let t = EventTime::new(1_700_000_000, 123_456_789);

        let mut out = Vec::new();
        write_record(&mut out, &bytes, Some(("date", DateFormat::Iso8601, t))).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"date":"2023-11-14T22:13:20.123456Z","msg":"hi","n":3}"#
        );

        let mut out = Vec::new();
        write_record(&mut out, &bytes, None).unwrap();
        assert_eq!(out, br#"{"msg":"hi","n":3}"#);

        let mut out = Vec::new();
        let date = Some(("t", DateFormat::Epoch, t));
        write_record(&mut out, &[0x80], date).unwrap();
        assert_eq!(out, br#"{"t":1700000000}"#);
    }

    #[test]
    fn record_body_must_be_a_map() {
        let mut out = b"kept".to_vec();
        assert_eq!(
            write_record(&mut out, &[0x91, 0x01], None),
            Err(DecodeError::Shape("record body is not a map"))
        );
        // A truncated map leaves nothing behind.
        assert!(write_record(&mut out, &[0x82, 0xa1, b'a', 0x01], None).is_err());
        assert_eq!(out, b"kept");
    }

    #[test]
    fn non_string_keys_are_printed_as_text() {
        // {1: "a", -2: "b", true: "c", nil: "d", 1.5: "e"}
        let bytes = [
            0x85, 0x01, 0xa1, b'a', 0xfe, 0xa1, b'b', 0xc3, 0xa1, b'c', 0xc0, 0xa1, b'd', 0xcb,
            0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xa1, b'e',
        ];
        let mut out = Vec::new();
        write_msgpack(&mut out, &mut Reader::new(&bytes)).unwrap();
        assert_eq!(
            out,
            br#"{"1":"a","-2":"b","true":"c","null":"d","1.5":"e"}"#
        );
        let mut tree = Vec::new();
        write_value(&mut tree, &Reader::new(&bytes).value().unwrap());
        assert_eq!(out, tree);
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused() {
        let mut ok = vec![0x91; MAX_DEPTH];
        ok.push(0x01);
        let mut out = Vec::new();
        write_msgpack(&mut out, &mut Reader::new(&ok)).unwrap();
        assert_eq!(out.len(), 2 * MAX_DEPTH + 1);

        let mut deep = vec![0x91; MAX_DEPTH + 1];
        deep.push(0x01);
        let mut out = Vec::new();
        assert_eq!(
            write_msgpack(&mut out, &mut Reader::new(&deep)),
            Err(DecodeError::TooDeep)
        );
        assert!(out.is_empty());
        assert!(Reader::new(&deep).value().is_err());
    }

    #[test]
    fn container_keys_are_an_error() {
        let bytes = [0x81, 0x90, 0x01];
        let mut out = Vec::new();
        assert_eq!(
            write_msgpack(&mut out, &mut Reader::new(&bytes)),
            Err(DecodeError::Shape("map key is a container"))
        );
    }
}
