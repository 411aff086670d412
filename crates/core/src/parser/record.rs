//! Writing a parsed record as MessagePack, with the options every format
//! shares: the time key, `Types` and decoders.
//!
//! Text formats (regex, logfmt, ltsv) hand each key and value to a
//! [`RecordWriter`], which writes it straight after the caller's event
//! header; the JSON format transcodes first and then calls
//! [`take_time_from_map`]. Either way the map header is patched at the
//! end, so no field is copied twice unless a decoder asks for the tree.

use crate::msgpack::{self, Reader, Token};

use super::{ParseError, Parsed, ParserOptions};

/// Writes one record map field by field.
#[derive(Debug)]
pub struct RecordWriter<'a> {
    opts: &'a ParserOptions,
    out: &'a mut Vec<u8>,
    start: usize,
    fields: usize,
    parsed: Parsed,
}

impl<'a> RecordWriter<'a> {
    /// Starts a map at the end of `out`.
    pub fn new(opts: &'a ParserOptions, out: &'a mut Vec<u8>) -> Self {
        let start = out.len();
        // A one-byte header, widened in `finish` if 16 or more fields come.
        out.push(0x80);
        RecordWriter {
            opts,
            out,
            start,
            fields: 0,
            parsed: Parsed::default(),
        }
    }

    /// Adds one field whose value is text. The time key is read as the
    /// record time (and left out unless `Time_Keep`); a time that does
    /// not read stays in the record and is flagged in [`Parsed`].
    pub fn field(&mut self, key: &[u8], value: &[u8]) {
        if let Some(time) = &self.opts.time {
            if self.parsed.time.is_none() && key == self.opts.time_key.as_bytes() {
                match time.parse(value) {
                    Some(t) => {
                        self.parsed.time = Some(t);
                        if !self.opts.time_keep {
                            return;
                        }
                    }
                    None => self.parsed.time_error = true,
                }
            }
        }
        msgpack::write_str_bytes(self.out, key);
        self.opts.types.write(key, value, self.out);
        self.fields += 1;
    }

    /// Adds a field whose value the format wrote itself (logfmt's bare
    /// keys are `true`); `write` appends exactly one MessagePack value.
    pub fn raw_field(&mut self, key: &[u8], write: impl FnOnce(&mut Vec<u8>)) {
        msgpack::write_str_bytes(self.out, key);
        write(self.out);
        self.fields += 1;
    }

    /// Fields written so far.
    pub fn len(&self) -> usize {
        self.fields
    }

    pub fn is_empty(&self) -> bool {
        self.fields == 0
    }

    /// Patches the map header and runs the decoders.
    ///
    /// # Errors
    /// Never for a map this writer built; the decoder's error otherwise.
    pub fn finish(self) -> Result<Parsed, ParseError> {
        set_map_len(self.out, self.start, self.fields);
        if !self.opts.decoders.is_empty() {
            self.opts
                .decoders
                .apply(self.out, self.start)
                .map_err(|e| ParseError::Invalid(e.to_string()))?;
        }
        Ok(self.parsed)
    }
}

/// Replaces the one-byte map header at `out[start]` with one for `len`
/// fields, shifting the fields up when a wider header is needed.
fn set_map_len(out: &mut Vec<u8>, start: usize, len: usize) {
    if len < 16 {
        out[start] = 0x80 | len as u8;
        return;
    }
    let mut header = Vec::with_capacity(5);
    msgpack::write_map_len(&mut header, len);
    out.splice(start..start + 1, header);
}

/// For formats that produce the map first (JSON): finds the time key
/// among the top-level fields of the map at `out[start..]`, reads it, and
/// removes it unless `Time_Keep`. `scratch` is reused for the rewrite.
///
/// # Errors
/// The bytes are not a MessagePack map.
pub fn take_time_from_map(
    opts: &ParserOptions,
    out: &mut Vec<u8>,
    start: usize,
    scratch: &mut Vec<u8>,
) -> Result<Parsed, ParseError> {
    let mut parsed = Parsed::default();
    let Some(time) = &opts.time else {
        return Ok(parsed);
    };
    let invalid = |e: msgpack::DecodeError| ParseError::Invalid(e.to_string());
    let mut r = Reader::new(&out[start..]);
    let Token::Map(n) = r.token().map_err(invalid)? else {
        return Err(ParseError::Invalid("record is not a map".into()));
    };
    let mut found = None;
    for _ in 0..n {
        let pair_at = r.position();
        let key = r.token().map_err(invalid)?;
        let value = r.clone().token().map_err(invalid)?;
        r.skip().map_err(invalid)?;
        let is_time_key = matches!(key, Token::Str(k) if k == opts.time_key.as_bytes());
        if let (true, Token::Str(text)) = (is_time_key, value) {
            found = Some((pair_at, r.position(), time.parse(text)));
            break;
        }
    }
    let Some((from, to, time)) = found else {
        return Ok(parsed);
    };
    match time {
        None => parsed.time_error = true,
        Some(t) => {
            parsed.time = Some(t);
            if !opts.time_keep {
                remove_pair(out, start, n as usize, (from, to), scratch);
            }
        }
    }
    Ok(parsed)
}

/// Rewrites the map at `out[start..]` of `n` pairs without the pair at
/// `span` (offsets relative to `start`).
fn remove_pair(
    out: &mut Vec<u8>,
    start: usize,
    n: usize,
    span: (usize, usize),
    scratch: &mut Vec<u8>,
) {
    let mut header = Reader::new(&out[start..]);
    let _ = header.token();
    let header_len = header.position();
    scratch.clear();
    msgpack::write_map_len(scratch, n - 1);
    scratch.extend_from_slice(&out[start + header_len..start + span.0]);
    scratch.extend_from_slice(&out[start + span.1..]);
    out.truncate(start);
    out.extend_from_slice(scratch);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Origin, PluginConfig, Section, SectionKind};
    use crate::registry::PARSER_COMMON;
    use crate::{EventTime, Value};

    fn options(lines: &[(&str, &str)]) -> ParserOptions {
        let mut s = Section::new(SectionKind::Parser, Origin::new("p.conf", 1));
        for (k, v) in lines {
            s.push(*k, *v, Origin::new("p.conf", 2));
        }
        let cfg = PluginConfig::new(&s, "test", "t".into(), &[PARSER_COMMON]).unwrap();
        ParserOptions::from_config(&cfg).unwrap()
    }

    #[test]
    fn time_key_is_read_and_dropped_and_types_apply() {
        let opts = options(&[
            ("time_format", "%s"),
            ("types", "n:integer"),
            ("time_key", "ts"),
        ]);
        let mut out = vec![0xff];
        let mut w = RecordWriter::new(&opts, &mut out);
        w.field(b"ts", b"1700000000");
        w.field(b"n", b"7");
        let parsed = w.finish().unwrap();
        assert_eq!(parsed.time, Some(EventTime::new(1_700_000_000, 0)));
        let body = Reader::new(&out[1..]).map().unwrap();
        assert_eq!(body.keys().collect::<Vec<_>>(), ["n"]);
        assert_eq!(body.get("n"), Some(&Value::UInt(7)));
    }

    #[test]
    fn a_bad_time_stays_in_the_record() {
        let opts = options(&[("time_format", "%s")]);
        let mut out = Vec::new();
        let mut w = RecordWriter::new(&opts, &mut out);
        w.field(b"time", b"soon");
        let parsed = w.finish().unwrap();
        assert!(parsed.time.is_none() && parsed.time_error);
        let body = Reader::new(&out).map().unwrap();
        assert_eq!(body.get("time"), Some(&Value::from("soon")));
    }

    #[test]
    fn many_fields_widen_the_header() {
        let opts = options(&[]);
        let mut out = Vec::new();
        let mut w = RecordWriter::new(&opts, &mut out);
        for i in 0..20 {
            w.field(format!("k{i}").as_bytes(), b"v");
        }
        w.finish().unwrap();
        let body = Reader::new(&out).map().unwrap();
        assert_eq!(body.len(), 20);
        assert_eq!(body.get("k19"), Some(&Value::from("v")));
    }

    #[test]
    fn json_maps_give_up_their_time_key() {
        let opts = options(&[("time_format", "%Y-%m-%dT%H:%M:%S%z")]);
        let mut out = vec![0xff];
        crate::json::to_msgpack(br#"{"a":1,"time":"2023-11-14T22:13:20Z","b":2}"#, &mut out)
            .unwrap();
        let parsed = take_time_from_map(&opts, &mut out, 1, &mut Vec::new()).unwrap();
        assert_eq!(parsed.time, Some(EventTime::new(1_700_000_000, 0)));
        let body = Reader::new(&out[1..]).map().unwrap();
        assert_eq!(body.keys().collect::<Vec<_>>(), ["a", "b"]);
    }
}
