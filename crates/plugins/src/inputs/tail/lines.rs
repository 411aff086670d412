//! Turning the lines of a file into events: framing on `\n` with
//! `memchr`, the long-line rule, and the record of each line (parsed, or
//! the line under `key`, plus `path_key` and `offset_key`).
//!
//! One encoder serves every file of an input and reuses its buffer; a
//! record allocates nothing beyond its own bytes.

use std::sync::Arc;
use std::time::Instant;

use sluice_core::event::write_header;
use sluice_core::multiline::MultilineBuffer;
use sluice_core::parser::{append_event, ParseState, Parser};
use sluice_core::{msgpack, Event, EventTime, Map};

/// The record settings of a `tail` input.
#[derive(Debug)]
pub(super) struct RecordSettings {
    pub key: String,
    pub path_key: Option<String>,
    pub offset_key: Option<String>,
    pub parser: Option<Arc<dyn Parser>>,
    pub max_line: usize,
    pub skip_long_lines: bool,
    pub skip_empty_lines: bool,
    /// `multiline.parser`: lines are joined into records by stream (the
    /// file's path) before they are encoded.
    pub multiline: Option<MultilineBuffer>,
}

/// Encodes lines into chunk-layout events, one batch at a time.
#[derive(Debug)]
pub(super) struct RecordEncoder {
    settings: RecordSettings,
    state: ParseState,
    pub buf: Vec<u8>,
    pub records: usize,
    /// Lines the parser did not match, kept under `key`.
    pub unmatched: usize,
    /// Lines longer than `max_line`, skipped.
    pub skipped_long: usize,
    /// Lines longer than `max_line`, cut into pieces.
    pub cut_long: usize,
    time: EventTime,
    /// Records the multiline buffer completed, waiting to be encoded.
    joined: Vec<Event>,
}

impl RecordEncoder {
    pub fn new(settings: RecordSettings) -> Self {
        RecordEncoder {
            settings,
            state: ParseState::default(),
            buf: Vec::new(),
            records: 0,
            unmatched: 0,
            skipped_long: 0,
            cut_long: 0,
            time: EventTime::now(),
            joined: Vec::new(),
        }
    }

    /// A second encoder with the same settings, for the part of a large
    /// read that another thread encodes at the same time. `None` with
    /// `multiline.parser`: there a line's record depends on the lines
    /// before it.
    pub fn twin(&self) -> Option<RecordEncoder> {
        let s = &self.settings;
        if s.multiline.is_some() {
            return None;
        }
        Some(RecordEncoder::new(RecordSettings {
            key: s.key.clone(),
            path_key: s.path_key.clone(),
            offset_key: s.offset_key.clone(),
            parser: s.parser.clone(),
            max_line: s.max_line,
            skip_long_lines: s.skip_long_lines,
            skip_empty_lines: s.skip_empty_lines,
            multiline: None,
        }))
    }

    /// Takes the counts of lines `twin` skipped, cut or kept unparsed, so
    /// they are reported with this batch; its records stay in `twin` to
    /// be appended right after this batch's.
    pub fn absorb_counts(&mut self, twin: &mut RecordEncoder) {
        self.unmatched += std::mem::take(&mut twin.unmatched);
        self.skipped_long += std::mem::take(&mut twin.skipped_long);
        self.cut_long += std::mem::take(&mut twin.cut_long);
    }

    /// Whether the multiline buffer holds lines of `path` that are in no
    /// record yet: their offsets must not be saved.
    pub fn holds(&self, path: &str) -> bool {
        self.settings
            .multiline
            .as_ref()
            .is_some_and(|m| m.holds(path))
    }

    /// Whether the multiline buffer holds lines of any file.
    pub fn holds_any(&self) -> bool {
        self.settings
            .multiline
            .as_ref()
            .is_some_and(|m| m.pending() > 0)
    }

    /// Moves the multiline records that waited past their flush
    /// timeout to `out`, with their paths.
    pub fn take_due(&mut self, now: Instant, out: &mut Vec<(String, Event)>) {
        if let Some(multiline) = &mut self.settings.multiline {
            multiline.flush_due(now, out);
        }
    }

    /// Moves every held multiline record of `path` to `out` (the file is
    /// let go, or the input ends).
    pub fn take_held(&mut self, path: &str, out: &mut Vec<Event>) {
        if let Some(multiline) = &mut self.settings.multiline {
            multiline.flush_stream(path, out);
        }
    }

    /// Encodes records the multiline buffer released, with `path_key`.
    pub fn encode_released(&mut self, events: &mut Vec<Event>, path: &str) {
        self.encode_joined(events, None, path);
    }

    fn encode_joined(&mut self, joined: &mut Vec<Event>, end: Option<u64>, path: &str) {
        for event in joined.drain(..) {
            self.records += 1;
            let mark = self.buf.len();
            event.encode(&mut self.buf);
            self.extra_fields(mark, end, path);
        }
    }

    /// Empties the batch after it was appended.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.records = 0;
        self.unmatched = 0;
        self.skipped_long = 0;
        self.cut_long = 0;
    }

    /// Encodes every whole line of `data`, which starts at file offset
    /// `base`, and returns how many bytes were used. The rest (a partial
    /// line) waits for more, unless it is already longer than
    /// `max_line`: it is then skipped to its newline (`skipping` says so
    /// across calls) or cut into records of `max_line` bytes.
    pub fn frame(&mut self, data: &[u8], base: u64, skipping: &mut bool, path: &str) -> usize {
        self.time = EventTime::now();
        let max = self.settings.max_line;
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', data) {
            let line = &data[start..nl];
            if *skipping {
                *skipping = false;
            } else if line.len() > max && self.settings.skip_long_lines {
                self.skipped_long += 1;
            } else {
                let last = self.cut(line, base + start as u64, path);
                self.line(last, base + nl as u64 + 1, path);
            }
            start = nl + 1;
        }
        let rest = &data[start..];
        if rest.len() <= max {
            return start;
        }
        if *skipping || self.settings.skip_long_lines {
            self.skipped_long += usize::from(!*skipping);
            *skipping = true;
            return data.len();
        }
        let last = self.cut(rest, base + start as u64, path);
        data.len() - last.len()
    }

    /// Writes `line` in records of `max_line` bytes while more than
    /// `max_line` bytes are left, and returns what is left (never empty,
    /// so a newline right after a cut makes no empty record).
    fn cut<'a>(&mut self, line: &'a [u8], at: u64, path: &str) -> &'a [u8] {
        let max = self.settings.max_line;
        if line.len() <= max {
            return line;
        }
        self.cut_long += 1;
        let whole = (line.len() - 1) / max * max;
        let mut offset = at;
        for piece in line[..whole].chunks(max) {
            offset += piece.len() as u64;
            self.record(piece, offset, path);
        }
        &line[whole..]
    }

    /// One whole line, or the last piece of a cut one.
    fn line(&mut self, line: &[u8], end: u64, path: &str) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() && self.settings.skip_empty_lines {
            return;
        }
        self.record(line, end, path);
    }

    fn record(&mut self, line: &[u8], end: u64, path: &str) {
        if let Some(multiline) = &mut self.settings.multiline {
            let mut joined = std::mem::take(&mut self.joined);
            multiline.feed_line(path, line, self.time, Instant::now(), &mut joined);
            self.encode_joined(&mut joined, Some(end), path);
            self.joined = joined;
            return;
        }
        self.records += 1;
        let mark = self.buf.len();
        let parsed = match &self.settings.parser {
            Some(parser) => {
                append_event(&**parser, &mut self.state, line, self.time, &mut self.buf).is_ok()
            }
            None => false,
        };
        if !parsed {
            self.unmatched += usize::from(self.settings.parser.is_some());
            write_header(&mut self.buf, self.time, &Map::new());
            self.buf.push(0x81);
            msgpack::write_str(&mut self.buf, &self.settings.key);
            msgpack::write_str_bytes(&mut self.buf, line);
        }
        self.extra_fields(mark, Some(end), path);
    }

    fn extra_fields(&mut self, mark: usize, end: Option<u64>, path: &str) {
        if self.settings.path_key.is_none() && self.settings.offset_key.is_none() {
            return;
        }
        let body = body_offset(&self.buf, mark);
        if let Some(key) = &self.settings.path_key {
            if msgpack::grow_map(&mut self.buf, body).is_ok() {
                msgpack::write_str(&mut self.buf, key);
                msgpack::write_str(&mut self.buf, path);
            }
        }
        if let (Some(key), Some(end)) = (&self.settings.offset_key, end) {
            if msgpack::grow_map(&mut self.buf, body).is_ok() {
                msgpack::write_str(&mut self.buf, key);
                msgpack::write_uint(&mut self.buf, end);
            }
        }
    }
}

/// `[0x92, 0x92, ext8 EventTime (10 bytes), 0x80]`: the header of a
/// line's own record.
const HEADER_LEN: usize = 13;

/// Where the body of the event written at `mark` begins. A joined
/// multiline record may carry metadata, so its header is read, not
/// assumed.
fn body_offset(buf: &[u8], mark: usize) -> usize {
    let mut event = msgpack::Reader::new(&buf[mark..]);
    match (event.token(), event.skip()) {
        (Ok(_), Ok(_)) => mark + event.position(),
        _ => mark + HEADER_LEN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::event::Events;
    use sluice_core::Value;

    fn settings(max_line: usize, skip_long_lines: bool) -> RecordSettings {
        RecordSettings {
            key: "log".into(),
            path_key: None,
            offset_key: Some("offset".into()),
            parser: None,
            max_line,
            skip_long_lines,
            skip_empty_lines: false,
            multiline: None,
        }
    }

    fn logs(enc: &RecordEncoder) -> Vec<(String, u64)> {
        Events::new(&enc.buf)
            .map(|e| {
                let body = e.unwrap().decode().unwrap().body;
                let Some(Value::Str(log)) = body.get("log") else {
                    panic!("no log")
                };
                let Some(Value::UInt(offset)) = body.get("offset") else {
                    panic!("no offset")
                };
                (log.clone(), *offset)
            })
            .collect()
    }

    #[test]
    fn header_length_is_what_write_header_writes() {
        let mut buf = Vec::new();
        write_header(&mut buf, EventTime::now(), &Map::new());
        assert_eq!(buf.len(), HEADER_LEN);
    }

    #[test]
    fn whole_lines_are_framed_and_the_rest_waits() {
        let mut enc = RecordEncoder::new(settings(100, false));
        let mut skipping = false;
        let used = enc.frame(b"one\r\n\ntwo\npart", 10, &mut skipping, "p");
        assert_eq!(used, 10);
        let got = logs(&enc);
        assert_eq!(got[0], ("one".into(), 15));
        assert_eq!(got[1], (String::new(), 16));
        assert_eq!(got[2], ("two".into(), 20));
    }

    #[test]
    fn long_lines_are_skipped_across_reads_when_asked() {
        let mut enc = RecordEncoder::new(settings(4, true));
        let mut skipping = false;
        assert_eq!(enc.frame(b"ok\nlonglong", 0, &mut skipping, "p"), 11);
        assert!(skipping);
        assert_eq!(enc.frame(b"more\nnext\n", 11, &mut skipping, "p"), 10);
        assert!(!skipping);
        let got: Vec<_> = logs(&enc).into_iter().map(|(l, _)| l).collect();
        assert_eq!(got, ["ok", "next"]);
        assert_eq!(enc.skipped_long, 1);
    }

    #[test]
    fn long_lines_are_cut_into_pieces_otherwise() {
        let mut enc = RecordEncoder::new(settings(4, false));
        let mut skipping = false;
        let used = enc.frame(b"abcdefghij", 0, &mut skipping, "p");
        assert_eq!(used, 8);
        let used2 = enc.frame(b"ij\nabcdefg\n", 8, &mut skipping, "p");
        assert_eq!(used2, 11);
        let got: Vec<_> = logs(&enc).into_iter().map(|(l, _)| l).collect();
        assert_eq!(got, ["abcd", "efgh", "ij", "abcd", "efg"]);
    }
}
