//! Records of the `tcp` and `udp` inputs: their shared options and how
//! received bytes become events.
//!
//! Options: `format` (`json`, default: a stream of JSON objects, with or
//! without separators between them; or `none`: records split on
//! `separator`, each becoming `{"log": text}`), `separator` (default `\n`;
//! `\n`, `\r`, `\t`, `\0` and `\\` are read as escapes), `chunk_size`
//! (bytes added to a connection's buffer at a time; default 32, in KB as
//! Fluent Bit counts it, or with a unit such as `64k`), `buffer_size` (the
//! largest record or datagram; default `chunk_size`) and
//! `source_address_key` (the key that gets the peer's address,
//! `tcp://IP:PORT` or `udp://IP:PORT`; default none) and `parser` (a
//! `[PARSER]` name that reads each `format none` record; a record it
//! does not match stays `{"log": text}` and is counted). Unlike Fluent
//! Bit the source address is added with `format none` too, and `parser`
//! is a sluice addition: it needs `format none`.
//!
//! Text that is not a JSON object is skipped up to the next `{`, counted
//! and logged as rejected; a JSON object that does not parse is rejected
//! the same way, and the stream goes on after it.

use sluice_core::config::props::parse_size;
use std::sync::Arc;

use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::event::write_header;
use sluice_core::json::{split_object, to_msgpack_object, Split};
use sluice_core::net::reader::BufferLimits;
use sluice_core::parser::{append_event, ParseState, Parser};
use sluice_core::plugin::{InputContext, Setup};
use sluice_core::{msgpack, EventTime, Map};

pub(crate) const RECORD_PROPS: &[Property] = &[
    Property::new(
        "format",
        PropKind::Str,
        Some("json"),
        "json (a stream of JSON objects) or none (split on separator)",
    ),
    Property::new(
        "separator",
        PropKind::Str,
        Some("\\n"),
        "Record separator for format none",
    ),
    Property::new(
        "chunk_size",
        PropKind::Str,
        Some("32"),
        "Buffer growth step, in KB unless a unit is given",
    ),
    Property::new(
        "buffer_size",
        PropKind::Str,
        None,
        "Largest record or datagram, in KB unless a unit is given (default chunk_size)",
    ),
    Property::new(
        "source_address_key",
        PropKind::Str,
        None,
        "Key that receives the sender's address",
    ),
    Property::new(
        "parser",
        PropKind::Str,
        None,
        "Parser that reads each record of format none",
    ),
];

/// How bytes are cut into records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    None(Vec<u8>),
}

/// The checked record options.
#[derive(Debug, Clone)]
pub(crate) struct RecordConfig {
    pub format: Format,
    pub limits: BufferLimits,
    pub source_key: Option<String>,
    pub parser: Option<Arc<dyn Parser>>,
}

impl RecordConfig {
    pub fn from_config(cfg: &PluginConfig, setup: &Setup) -> Result<Self, ConfigError> {
        let format = match cfg
            .str("format")
            .unwrap_or("json")
            .to_ascii_lowercase()
            .as_str()
        {
            "json" => Format::Json,
            "none" => {
                let sep = unescape(cfg.str("separator").unwrap_or("\\n"));
                if sep.is_empty() {
                    return Err(cfg.error("separator", "must not be empty"));
                }
                Format::None(sep)
            }
            other => return Err(cfg.error("format", format!("'{other}' is not json or none"))),
        };
        let chunk = kb_size(cfg, "chunk_size")?.unwrap_or(32 * 1024);
        let max = kb_size(cfg, "buffer_size")?.unwrap_or(chunk);
        let source_key = cfg
            .str("source_address_key")
            .filter(|k| !k.is_empty())
            .map(str::to_owned);
        let parser = cfg.entry("parser").map(|e| setup.parser(e)).transpose()?;
        if parser.is_some() && format == Format::Json {
            return Err(cfg.error("parser", "needs format none; json records are read as JSON"));
        }
        Ok(RecordConfig {
            format,
            limits: BufferLimits::new(chunk, max),
            source_key,
            parser,
        })
    }
}

/// Fluent Bit reads these sizes as KB when no unit is given.
fn kb_size(cfg: &PluginConfig, key: &str) -> Result<Option<usize>, ConfigError> {
    let Some(text) = cfg.str(key) else {
        return Ok(None);
    };
    let text = text.trim();
    let bytes = match text.parse::<u64>() {
        Ok(kb) => kb.saturating_mul(1024),
        Err(_) => parse_size(text).map_err(|m| cfg.error(key, m))?,
    };
    if bytes == 0 || bytes > 1 << 30 {
        return Err(cfg.error(key, "must be between 1 byte and 1G"));
    }
    Ok(Some(bytes as usize))
}

fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b't') => out.push(b'\t'),
            Some(b'0') => out.push(0),
            Some(other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    out
}

/// Events framed from received bytes, in one reused buffer.
#[derive(Debug)]
pub(crate) struct RecordBatch {
    buf: Vec<u8>,
    records: usize,
    /// `source_address_key` and the peer's address, when configured.
    source: Option<(String, String)>,
    parser: Option<Arc<dyn Parser>>,
    parse_state: ParseState,
    /// Records the parser did not match since the last flush.
    unmatched: usize,
}

impl RecordBatch {
    pub fn new(config: &RecordConfig, source_address: String) -> Self {
        RecordBatch {
            buf: Vec::new(),
            records: 0,
            source: config.source_key.clone().map(|k| (k, source_address)),
            parser: config.parser.clone(),
            parse_state: ParseState::default(),
            unmatched: 0,
        }
    }

    /// Changes the address written under `source_address_key` (a UDP
    /// input gets a new sender with every datagram).
    pub fn set_source(&mut self, address: impl FnOnce() -> String) {
        if let Some((_, addr)) = &mut self.source {
            *addr = address();
        }
    }

    /// Frames every whole record at the front of `data` (all of it when
    /// `complete`: the end of a stream, or a datagram) and returns how
    /// many bytes were used.
    pub fn frame(
        &mut self,
        ctx: &InputContext,
        format: &Format,
        data: &[u8],
        complete: bool,
    ) -> usize {
        let time = EventTime::now();
        match format {
            Format::Json => self.frame_json(ctx, data, complete, time),
            Format::None(sep) => self.frame_none(data, sep, complete, time),
        }
    }

    fn frame_json(
        &mut self,
        ctx: &InputContext,
        data: &[u8],
        complete: bool,
        time: EventTime,
    ) -> usize {
        let mut at = 0;
        while at < data.len() {
            if let Some(used) = self.json_line(&data[at..], time) {
                at += used;
                continue;
            }
            match split_object(&data[at..]) {
                Split::Empty(n) => at += n,
                Split::Object { start, end } => {
                    self.json_record(ctx, &data[at + start..at + end], time);
                    at += end;
                }
                Split::Junk { end } => {
                    ctx.reject(&"input is not a json object; skipped to the next '{'");
                    at += end;
                }
                Split::Partial { .. } if complete => {
                    ctx.reject(&"json object cut short by the end of the data");
                    at = data.len();
                }
                Split::Partial { start } => return at + start,
            }
        }
        at
    }

    /// The fast path for newline-delimited JSON, the usual shape of a
    /// stream: when `data` starts with a line that holds exactly one
    /// object, appends it and returns the bytes used, newline included.
    /// Anything else (an object across lines, several on one line, a line
    /// not ended yet, bad JSON) returns `None` and takes the general path,
    /// which reports the error; the line is then parsed twice, but only
    /// lines that are not plain NDJSON pay for that.
    fn json_line(&mut self, data: &[u8], time: EventTime) -> Option<usize> {
        if data.first() != Some(&b'{') {
            return None;
        }
        let end = memchr::memchr(b'\n', data)?;
        let mark = self.buf.len();
        write_header(&mut self.buf, time, &Map::new());
        let body = self.buf.len();
        if to_msgpack_object(&data[..end], &mut self.buf).is_err() {
            self.buf.truncate(mark);
            return None;
        }
        self.add_source(body);
        self.records += 1;
        Some(end + 1)
    }

    fn json_record(&mut self, ctx: &InputContext, text: &[u8], time: EventTime) {
        let mark = self.buf.len();
        write_header(&mut self.buf, time, &Map::new());
        let body = self.buf.len();
        if let Err(err) = to_msgpack_object(text, &mut self.buf) {
            self.buf.truncate(mark);
            ctx.reject(&err);
            return;
        }
        self.add_source(body);
        self.records += 1;
    }

    fn frame_none(&mut self, data: &[u8], sep: &[u8], complete: bool, time: EventTime) -> usize {
        let mut start = 0;
        for at in memchr::memmem::find_iter(data, sep) {
            if at < start {
                continue;
            }
            self.text_record(&data[start..at], time);
            start = at + sep.len();
        }
        if complete && start < data.len() {
            self.text_record(&data[start..], time);
            start = data.len();
        }
        start
    }

    fn text_record(&mut self, text: &[u8], time: EventTime) {
        if text.is_empty() {
            return;
        }
        self.records += 1;
        if let Some(parser) = &self.parser {
            let mark = self.buf.len();
            match append_event(&**parser, &mut self.parse_state, text, time, &mut self.buf) {
                Ok(_) => {
                    if self.source.is_some() {
                        let body = body_offset(&self.buf, mark);
                        self.add_source(body);
                    }
                    return;
                }
                Err(_) => self.unmatched += 1,
            }
        }
        write_header(&mut self.buf, time, &Map::new());
        let body = self.buf.len();
        self.buf.push(0x81);
        msgpack::write_str(&mut self.buf, "log");
        msgpack::write_str_bytes(&mut self.buf, text);
        self.add_source(body);
    }

    fn add_source(&mut self, body: usize) {
        if let Some((key, addr)) = &self.source {
            if msgpack::grow_map(&mut self.buf, body).is_ok() {
                msgpack::write_str(&mut self.buf, key);
                msgpack::write_str(&mut self.buf, addr);
            }
        }
    }

    /// Appends the framed events under the input's tag.
    pub fn flush(&mut self, ctx: &InputContext) {
        if self.unmatched > 0 {
            tracing::debug!(
                input = %ctx.name(),
                unmatched = self.unmatched,
                "records the parser did not match; kept as log"
            );
            self.unmatched = 0;
        }
        if self.records > 0 {
            ctx.append(ctx.tag(), &self.buf, self.records);
        }
        self.buf.clear();
        self.records = 0;
    }
}

/// Where the body of the event written at `mark` begins.
fn body_offset(buf: &[u8], mark: usize) -> usize {
    let mut event = msgpack::Reader::new(&buf[mark..]);
    // The event was just written whole: an array of two, then the header.
    let _ = event.token();
    let _ = event.skip();
    mark + event.position()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_unescaped() {
        assert_eq!(unescape("\\n"), b"\n");
        assert_eq!(unescape("||"), b"||");
        assert_eq!(unescape("\\r\\n"), b"\r\n");
        assert_eq!(unescape("a\\\\b"), b"a\\b");
    }

    #[test]
    fn ndjson_fast_path_takes_only_lines_holding_one_object() {
        let config = RecordConfig {
            format: Format::Json,
            limits: BufferLimits::new(1024, 1024),
            source_key: None,
            parser: None,
        };
        let mut batch = RecordBatch::new(&config, String::new());
        let time = EventTime::default();
        assert_eq!(batch.json_line(b"{\"a\":1}\r\n{\"b\"", time), Some(9));
        assert_eq!(batch.json_line(b"{\"a\":\n1}\n", time), None);
        assert_eq!(batch.json_line(b"{\"a\":1}{\"b\":2}\n", time), None);
        assert_eq!(batch.json_line(b"{\"a\":1}", time), None);
        assert_eq!(batch.json_line(b" {\"a\":1}\n", time), None);
        assert_eq!(batch.records, 1);
    }
}
