//! Text shared by the outputs that print records: the walk over a chunk
//! that skips malformed events, and Fluent Bit's "printed MessagePack"
//! form (`{"k"=>"v", "n"=>1}`) that `stdout`, and the `csv`, `ltsv` and
//! `template` formats of `file`, write values in.
//!
//! Everything here appends to a caller's buffer and reads the chunk's
//! MessagePack directly: no tree is built per record.

use std::io::Write as _;

use sluice_core::event::BodyAt;
use sluice_core::json;
use sluice_core::msgpack::{DecodeError, Reader, Token, MAX_DEPTH};
use sluice_core::{Chunk, EventTime, RawEvent};

/// What a walk over a chunk came to: the events written, and those
/// skipped as malformed, for one log line.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    pub written: usize,
    pub skipped: usize,
    pub first_error: Option<DecodeError>,
}

impl Walk {
    fn skip(&mut self, err: DecodeError) {
        self.skipped += 1;
        self.first_error.get_or_insert(err);
    }

    /// Logs one warning for the whole chunk, when anything was skipped.
    /// The engine's span around the flush names the output instance.
    pub fn log(&self, tag: &str) {
        if let Some(first) = &self.first_error {
            tracing::warn!(
                tag,
                skipped = self.skipped,
                first_error = %first,
                "malformed events skipped; the rest of the chunk was delivered"
            );
        }
    }
}

/// Calls `write` for each well-formed event of `chunk`, with the number of
/// events written before it. When `write` fails (or the event cannot be
/// read) whatever it appended is taken back, the event is counted as
/// skipped and the walk goes on.
pub(crate) fn each_event(
    chunk: &Chunk,
    out: &mut Vec<u8>,
    mut write: impl FnMut(&mut Vec<u8>, usize, &RawEvent<'_>) -> Result<(), DecodeError>,
) -> Walk {
    let mut walk = Walk::default();
    for event in chunk.events() {
        let mark = out.len();
        match event.and_then(|e| write(out, walk.written, &e)) {
            Ok(()) => walk.written += 1,
            Err(err) => {
                out.truncate(mark);
                walk.skip(err);
            }
        }
    }
    walk
}

/// [`each_event`] for writers that read the whole body anyway (JSON): each
/// event is read once, the writer's pass over the body finding where it
/// ends, instead of a skip to frame it and then the writer's pass.
pub(crate) fn each_body(
    chunk: &Chunk,
    out: &mut Vec<u8>,
    mut write: impl FnMut(&mut Vec<u8>, usize, BodyAt<'_, '_>) -> Result<(), DecodeError>,
) -> Walk {
    let mut walk = Walk::default();
    let mut events = chunk.events();
    loop {
        let mark = out.len();
        let written = walk.written;
        match events.next_read_in_place(|at| write(out, written, at)) {
            None => return walk,
            Some(Ok(())) => walk.written += 1,
            Some(Err(err)) => {
                out.truncate(mark);
                walk.skip(err);
            }
        }
    }
}

/// Writes `sec.nsec` with all nine digits of nanoseconds, as Fluent Bit
/// prints an event time in its printed form.
pub(crate) fn write_time_nanos(out: &mut Vec<u8>, t: EventTime) {
    json::write_i64(out, t.sec);
    out.push(b'.');
    // Writes into a Vec cannot fail.
    let _ = write!(out, "{:09}", t.nsec.min(999_999_999));
}

/// Writes the MessagePack value at the reader in Fluent Bit's printed
/// form: strings quoted, maps as `{k=>v, ...}`, arrays as `[a, b]`, nil as
/// `nil`, floats with six decimals.
///
/// Unlike Fluent Bit, which copies string bytes as they are, strings are
/// escaped as in JSON so a record stays on one readable line.
///
/// # Errors
/// Malformed MessagePack, or nesting deeper than [`MAX_DEPTH`].
pub(crate) fn write_printed(out: &mut Vec<u8>, r: &mut Reader<'_>) -> Result<(), DecodeError> {
    printed_at(out, r, 0)
}

fn printed_at(out: &mut Vec<u8>, r: &mut Reader<'_>, depth: usize) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    match r.token()? {
        Token::Array(n) => {
            out.push(b'[');
            for i in 0..n {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                printed_at(out, r, depth + 1)?;
            }
            out.push(b']');
        }
        Token::Map(n) => {
            out.push(b'{');
            for i in 0..n {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                printed_at(out, r, depth + 1)?;
                out.extend_from_slice(b"=>");
                printed_at(out, r, depth + 1)?;
            }
            out.push(b'}');
        }
        scalar => write_printed_scalar(out, scalar),
    }
    Ok(())
}

/// A scalar in the printed form; containers are the caller's business.
fn write_printed_scalar(out: &mut Vec<u8>, token: Token<'_>) {
    match token {
        Token::Nil => out.extend_from_slice(b"nil"),
        Token::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Token::Int(i) => json::write_i64(out, i),
        Token::UInt(u) => json::write_u64(out, u),
        // C's `%f`, which is what Fluent Bit prints floats with. Writes
        // into a Vec cannot fail.
        Token::Float(f) => {
            let _ = write!(out, "{f:.6}");
        }
        Token::Str(s) | Token::Bin(s) => json::write_str(out, s),
        Token::Ext(kind, data) => {
            let _ = write!(out, "(ext: {kind})\"");
            for b in data {
                let _ = write!(out, "{b:02x}");
            }
            out.push(b'"');
        }
        Token::Array(_) | Token::Map(_) => {}
    }
}

/// Writes a value as bare text: a string's bytes as they are, anything
/// else in the printed form. Templates fill their placeholders this way.
pub(crate) fn write_bare(out: &mut Vec<u8>, r: &mut Reader<'_>) -> Result<(), DecodeError> {
    match r.clone().token()? {
        Token::Str(s) | Token::Bin(s) => {
            r.token()?;
            out.extend_from_slice(s);
            Ok(())
        }
        _ => write_printed(out, r),
    }
}

/// Reads a record body's map header and answers its number of pairs;
/// the pairs follow at the reader.
pub(crate) fn body_header(r: &mut Reader<'_>) -> Result<u32, DecodeError> {
    match r.token()? {
        Token::Map(n) => Ok(n),
        _ => Err(DecodeError::Shape("record body is not a map")),
    }
}

/// The text of a string key, when it is one.
pub(crate) fn key_text(key: &[u8]) -> Option<&[u8]> {
    match Reader::new(key).token() {
        Ok(Token::Str(s)) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::msgpack;
    use sluice_core::{Map, Value};

    fn printed(v: &Value) -> String {
        let mut bytes = Vec::new();
        msgpack::write_value(&mut bytes, v);
        let mut out = Vec::new();
        write_printed(&mut out, &mut Reader::new(&bytes)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn prints_every_kind_of_value() {
        let mut inner = Map::new();
        inner.push("n", Value::Int(-3));
        let mut map = Map::new();
        map.push("s", Value::Str("a\"b\nc".into()));
        map.push("u", Value::UInt(7));
        map.push("f", Value::Float(0.5));
        map.push("t", Value::Bool(true));
        map.push("z", Value::Null);
        map.push(
            "a",
            Value::Array(vec![Value::UInt(1), Value::Str("x".into())]),
        );
        map.push("m", Value::Map(inner));
        map.push("e", Value::Array(vec![]));
        assert_eq!(
            printed(&Value::Map(map)),
            r#"{"s"=>"a\"b\nc", "u"=>7, "f"=>0.500000, "t"=>true, "z"=>nil, "a"=>[1, "x"], "m"=>{"n"=>-3}, "e"=>[]}"#
        );
    }

    #[test]
    fn prints_extensions_as_hex() {
        assert_eq!(
            printed(&Value::Ext(5, vec![0xab, 0x01])),
            "(ext: 5)\"ab01\""
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut bytes = vec![0x91; MAX_DEPTH + 5];
        bytes.push(0xc0);
        let mut out = Vec::new();
        let err = write_printed(&mut out, &mut Reader::new(&bytes)).unwrap_err();
        assert_eq!(err, DecodeError::TooDeep);
    }

    #[test]
    fn time_keeps_nine_digits() {
        let mut out = Vec::new();
        write_time_nanos(&mut out, EventTime::new(1_700_000_000, 123_456_789));
        out.push(b' ');
        write_time_nanos(&mut out, EventTime::new(5, 7));
        out.push(b' ');
        write_time_nanos(&mut out, EventTime::new(5, 0));
        assert_eq!(out, b"1700000000.123456789 5.000000007 5.000000000");
    }

    #[test]
    fn bare_strings_are_unquoted() {
        let mut bytes = Vec::new();
        msgpack::write_str(&mut bytes, "hi \"there\"");
        msgpack::write_uint(&mut bytes, 3);
        let mut r = Reader::new(&bytes);
        let mut out = Vec::new();
        write_bare(&mut out, &mut r).unwrap();
        write_bare(&mut out, &mut r).unwrap();
        assert_eq!(out, b"hi \"there\"3");
    }
}
