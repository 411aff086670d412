//! Syslog messages into events: each framed message is parsed with the
//! input's parser and written straight into one reused chunk buffer.
//!
//! A message the parser reads becomes its record and takes the time the
//! parser found (else the time it arrived). A message it does not match
//! is kept whole as `{"log": message}`, with the arrival time, and counted
//! in the input's `errors` and logged once per batch with a sample — Fluent
//! Bit drops it. Every record then gets the message as received under
//! `raw_message_key` and the sender's address under `source_address_key`
//! when those are set.

use std::sync::Arc;

use sluice_core::event::write_header;
use sluice_core::parser::{append_event, ParseState, Parser};
use sluice_core::plugin::InputContext;
use sluice_core::{msgpack, EventTime, Map};

/// How messages become records, shared by an input's connections.
#[derive(Debug)]
pub(crate) struct MessageOptions {
    pub parser: Arc<dyn Parser>,
    /// The parser's name, for logs.
    pub parser_name: String,
    pub raw_message_key: Option<String>,
    pub source_address_key: Option<String>,
}

/// Records framed from one connection (or datagram socket), waiting to
/// be appended together.
#[derive(Debug)]
pub(crate) struct MessageBatch {
    options: Arc<MessageOptions>,
    buf: Vec<u8>,
    records: usize,
    /// The sender's address, written under `source_address_key`.
    source: String,
    state: ParseState,
    unparsed: usize,
    /// The first unparsed message of the batch, cut short, for the log.
    unparsed_sample: String,
    time_errors: usize,
    header_len: usize,
}

/// How much of an unparsed message the warning shows.
const SAMPLE_LEN: usize = 200;

impl MessageBatch {
    pub fn new(options: Arc<MessageOptions>, source: String) -> Self {
        let mut header = Vec::new();
        write_header(&mut header, EventTime::default(), &Map::new());
        MessageBatch {
            options,
            buf: Vec::new(),
            records: 0,
            source,
            state: ParseState::default(),
            unparsed: 0,
            unparsed_sample: String::new(),
            time_errors: 0,
            header_len: header.len(),
        }
    }

    /// Changes the sender (each datagram may come from another one).
    pub fn set_source(&mut self, source: impl FnOnce() -> String) {
        if self.options.source_address_key.is_some() {
            self.source = source();
        }
    }

    /// Adds one message; an empty one is skipped.
    pub fn add(&mut self, message: &[u8], arrived: EventTime) {
        if message.is_empty() {
            return;
        }
        let mark = self.buf.len();
        let parser = &*self.options.parser;
        match append_event(parser, &mut self.state, message, arrived, &mut self.buf) {
            Ok(parsed) => self.time_errors += usize::from(parsed.time_error),
            Err(_) => self.keep_unparsed(message, arrived),
        }
        self.add_extra_keys(mark + self.header_len, message);
        self.records += 1;
    }

    fn keep_unparsed(&mut self, message: &[u8], arrived: EventTime) {
        if self.unparsed == 0 {
            let cut = message.len().min(SAMPLE_LEN);
            self.unparsed_sample = String::from_utf8_lossy(&message[..cut]).into_owned();
        }
        self.unparsed += 1;
        write_header(&mut self.buf, arrived, &Map::new());
        self.buf.push(0x81);
        msgpack::write_str(&mut self.buf, "log");
        msgpack::write_str_bytes(&mut self.buf, message);
    }

    fn add_extra_keys(&mut self, body: usize, message: &[u8]) {
        let options = &*self.options;
        if let Some(key) = &options.raw_message_key {
            if msgpack::grow_map(&mut self.buf, body).is_ok() {
                msgpack::write_str(&mut self.buf, key);
                msgpack::write_str_bytes(&mut self.buf, message);
            }
        }
        if let Some(key) = &options.source_address_key {
            if msgpack::grow_map(&mut self.buf, body).is_ok() {
                msgpack::write_str(&mut self.buf, key);
                msgpack::write_str(&mut self.buf, &self.source);
            }
        }
    }

    /// Appends the batch under the input's tag and reports what did not
    /// parse.
    pub fn flush(&mut self, ctx: &InputContext) {
        if self.unparsed > 0 {
            ctx.metrics().errors.add(self.unparsed as u64);
            tracing::warn!(
                input = %ctx.name(),
                parser = %self.options.parser_name,
                messages = self.unparsed,
                sample = %self.unparsed_sample,
                "messages do not match the parser; kept whole under 'log'"
            );
            self.unparsed = 0;
        }
        if self.time_errors > 0 {
            tracing::debug!(
                input = %ctx.name(),
                messages = self.time_errors,
                "message times do not fit the parser's Time_Format; arrival time used"
            );
            self.time_errors = 0;
        }
        if self.records > 0 {
            ctx.append(ctx.tag(), &self.buf, self.records);
        }
        self.buf.clear();
        self.records = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::event::Events;
    use sluice_core::Value;

    fn batch(raw: Option<&str>, source: Option<&str>) -> MessageBatch {
        let parser = crate::parsers::testing::build(&[
            ("Format", "regex"),
            ("Regex", r"^<(?<pri>\d+)>(?<message>.*)$"),
        ])
        .unwrap();
        let options = MessageOptions {
            parser,
            parser_name: "test".into(),
            raw_message_key: raw.map(str::to_owned),
            source_address_key: source.map(str::to_owned),
        };
        MessageBatch::new(Arc::new(options), "udp://127.0.0.1:9".into())
    }

    fn bodies(b: &MessageBatch) -> Vec<Map> {
        Events::new(&b.buf)
            .map(|e| e.unwrap().decode().unwrap().body)
            .collect()
    }

    fn text(s: &str) -> Option<Value> {
        Some(Value::Str(s.into()))
    }

    #[test]
    fn parsed_and_unparsed_messages_both_become_records() {
        let mut b = batch(None, None);
        b.add(b"<13>hello", EventTime::now());
        b.add(b"", EventTime::now());
        b.add(b"no priority", EventTime::now());
        let got = bodies(&b);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].get("pri").cloned(), text("13"));
        assert_eq!(got[0].get("message").cloned(), text("hello"));
        assert_eq!(got[1].get("log").cloned(), text("no priority"));
        assert_eq!((b.records, b.unparsed), (2, 1));
        assert_eq!(b.unparsed_sample, "no priority");
    }

    #[test]
    fn raw_message_and_source_address_are_added_to_every_record() {
        let mut b = batch(Some("raw"), Some("src"));
        b.add(b"<13>hello", EventTime::now());
        b.add(b"junk", EventTime::now());
        let got = bodies(&b);
        assert_eq!(got[0].get("raw").cloned(), text("<13>hello"));
        assert_eq!(got[0].get("src").cloned(), text("udp://127.0.0.1:9"));
        assert_eq!(got[1].get("raw").cloned(), text("junk"));
        assert_eq!(got[1].get("src").cloned(), text("udp://127.0.0.1:9"));
    }
}
