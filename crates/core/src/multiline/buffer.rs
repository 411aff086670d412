//! The pending records of one multiline user, by stream.
//!
//! A [`MultilineBuffer`] holds, for each stream, at most one record being
//! joined. Its owner feeds it raw lines ([`MultilineBuffer::feed_line`],
//! for inputs such as `tail`) or decoded records
//! ([`MultilineBuffer::feed_record`], for the `multiline` filter), each
//! with a stream id: lines of different streams never join. A record's
//! string field `stream` (stdout/stderr of a container) further splits
//! the stream, so interleaved output of one container never mixes.
//!
//! With several parsers, a stream's pending record belongs to the parser
//! that opened it; when no record is pending, the parsers are tried in
//! order and the first that starts one wins. A line no parser starts is a
//! record by itself. Completed records come out in `out` at once; a
//! record still open comes out when a line that does not continue it
//! arrives, when [`flush_due`](MultilineBuffer::flush_due) finds it idle
//! for its flush timeout, when its text reaches [`MAX_PENDING_BYTES`],
//! or at [`flush_all`](MultilineBuffer::flush_all). Nothing is dropped.
//!
//! Cost: one `String` per pending record, grown as lines join; lines that
//! join nothing are passed through without copying their text twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::event::{Event, EventTime};
use crate::msgpack::Reader;
use crate::parser::ParseState;
use crate::value::{Map, Value};

use super::rules::{Kind, Next, Start};
use super::MultilineParser;

/// A pending record whose text reaches this size is emitted as it is,
/// so one endless trace cannot hold memory without bound.
pub const MAX_PENDING_BYTES: usize = 2 << 20;

/// A stream id and, when records carry one, their `stream` field.
type StreamKey = (String, Option<String>);

/// One record being joined.
#[derive(Debug)]
struct Pending {
    /// Tells this record from any other the buffer ever held.
    id: u64,
    parser: usize,
    state: usize,
    event: Event,
    content_key: String,
    text: String,
    last: Instant,
}

/// What arrived: a raw line (parsed with each multiline parser's own
/// `parser`, if any) or a record already decoded.
#[derive(Clone, Copy)]
enum Incoming<'a> {
    Line(&'a [u8], EventTime),
    Record(&'a Event),
}

/// Pending multiline records of one user, by stream. Not shared: each
/// filter or input instance keeps its own.
#[derive(Debug)]
pub struct MultilineBuffer {
    parsers: Vec<Arc<MultilineParser>>,
    key_content: Option<String>,
    flush_timeout: Option<Duration>,
    streams: HashMap<StreamKey, Pending>,
    state: ParseState,
    next_id: u64,
}

impl MultilineBuffer {
    /// A buffer trying `parsers` in order.
    pub fn new(parsers: Vec<Arc<MultilineParser>>) -> Self {
        MultilineBuffer {
            parsers,
            key_content: None,
            flush_timeout: None,
            streams: HashMap::new(),
            state: ParseState::default(),
            next_id: 0,
        }
    }

    /// Reads the text from `key` instead of each parser's `key_content`.
    pub fn with_key_content(mut self, key: impl Into<String>) -> Self {
        self.key_content = Some(key.into());
        self
    }

    /// Flushes idle records after `timeout` instead of each parser's
    /// `flush_timeout`.
    pub fn with_flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = Some(timeout);
        self
    }

    /// Records waiting for more lines.
    pub fn pending(&self) -> usize {
        self.streams.len()
    }

    /// Whether a record of `stream` is waiting for more lines.
    pub fn holds(&self, stream: &str) -> bool {
        self.streams.keys().any(|k| k.0 == stream)
    }

    /// The records waiting for more lines, as (stream id, record id).
    /// A record id stays the record's until it is emitted and is never
    /// given again: a caller can keep things with a pending record (what
    /// it owes its inputs) and learn when it left.
    pub fn pending_ids(&self) -> impl Iterator<Item = (&str, u64)> {
        self.streams.iter().map(|(k, p)| (k.0.as_str(), p.id))
    }

    /// The id of the record pending where `event` of `stream` would
    /// join (its stream, and its `stream` field), if any.
    pub fn pending_id(&self, stream: &str, event: &Event) -> Option<u64> {
        self.streams.get(&stream_key(stream, event)).map(|p| p.id)
    }

    /// Feeds one raw line of `stream`, read at `time`; completed records
    /// are pushed to `out`.
    pub fn feed_line(
        &mut self,
        stream: &str,
        line: &[u8],
        time: EventTime,
        now: Instant,
        out: &mut Vec<Event>,
    ) {
        self.feed(stream, Incoming::Line(line, time), now, out);
    }

    /// Feeds one decoded record of `stream`; completed records are
    /// pushed to `out`. A record without a string content field is passed
    /// through after its stream's pending record.
    pub fn feed_record(&mut self, stream: &str, event: &Event, now: Instant, out: &mut Vec<Event>) {
        self.feed(stream, Incoming::Record(event), now, out);
    }

    /// Moves records idle for their flush timeout to `out`, with their
    /// stream ids.
    pub fn flush_due(&mut self, now: Instant, out: &mut Vec<(String, Event)>) {
        let due: Vec<StreamKey> = self
            .streams
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.last) >= self.timeout_of(p))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            if let Some(p) = self.streams.remove(&key) {
                out.push((key.0, self.finish(p)));
            }
        }
    }

    /// Moves every pending record to `out` (at shutdown).
    pub fn flush_all(&mut self, out: &mut Vec<(String, Event)>) {
        for (key, p) in std::mem::take(&mut self.streams) {
            out.push((key.0, self.finish(p)));
        }
    }

    /// Moves the pending records of `stream` to `out` (a file closed).
    pub fn flush_stream(&mut self, stream: &str, out: &mut Vec<Event>) {
        let keys: Vec<StreamKey> = self
            .streams
            .keys()
            .filter(|k| k.0 == stream)
            .cloned()
            .collect();
        for key in keys {
            self.emit_pending(&key, out);
        }
    }

    fn timeout_of(&self, p: &Pending) -> Duration {
        self.flush_timeout
            .unwrap_or(self.parsers[p.parser].flush_timeout)
    }

    fn content_key(&self, parser: usize) -> &str {
        self.key_content
            .as_deref()
            .unwrap_or(&self.parsers[parser].key_content)
    }

    fn feed(&mut self, stream: &str, incoming: Incoming<'_>, now: Instant, out: &mut Vec<Event>) {
        let mut records: Vec<Option<Option<Event>>> = vec![None; self.parsers.len()];
        for p in 0..self.parsers.len() {
            let Some(event) = self.record(p, incoming, &mut records) else {
                continue;
            };
            let key = stream_key(stream, &event);
            if self
                .streams
                .get(&key)
                .is_some_and(|pending| pending.parser == p)
            {
                if self.continue_pending(&key, &event, now, out) {
                    return;
                }
                break;
            }
        }
        for p in 0..self.parsers.len() {
            let Some(event) = self.record(p, incoming, &mut records) else {
                continue;
            };
            if self.try_start(stream, p, event, now, out) {
                return;
            }
        }
        self.pass_through(stream, incoming, &mut records, out);
    }

    /// The record parser `p` sees for `incoming`: `None` when its own
    /// `parser` does not match the line. Parsed once per parser per line.
    fn record(
        &mut self,
        p: usize,
        incoming: Incoming<'_>,
        cache: &mut [Option<Option<Event>>],
    ) -> Option<Event> {
        if cache[p].is_none() {
            cache[p] = Some(self.parse(p, incoming));
        }
        cache[p].clone().flatten()
    }

    fn parse(&mut self, p: usize, incoming: Incoming<'_>) -> Option<Event> {
        let (line, time) = match incoming {
            // A record is taken as it is, unless the multiline parser has
            // a `parser` of its own: then, as in Fluent Bit's filter, the
            // record's content is parsed like a line, and what it parses
            // into (with its time, if it has one) stands for the record;
            // content that does not match (or is missing) is not this
            // multiline parser's.
            Incoming::Record(event) => {
                if self.parsers[p].parser.is_none() {
                    return Some(event.clone());
                }
                (content(event, self.content_key(p))?.as_bytes(), event.time)
            }
            Incoming::Line(line, time) => (line, time),
        };
        let Some(parser) = self.parsers[p].parser.clone() else {
            let mut body = Map::with_capacity(1);
            let text = String::from_utf8_lossy(line).into_owned();
            body.push(self.content_key(p).to_owned(), Value::Str(text));
            return Some(Event::new(time, body));
        };
        let mut buf = Vec::new();
        let parsed = parser.parse(line, &mut self.state, &mut buf).ok()?;
        let body = Reader::new(&buf).map().ok()?;
        Some(Event::new(parsed.time.unwrap_or(time), body))
    }

    /// Offers `event` to the record pending at `key`; false when it does
    /// not continue it (the pending record is then emitted).
    fn continue_pending(
        &mut self,
        key: &StreamKey,
        event: &Event,
        now: Instant,
        out: &mut Vec<Event>,
    ) -> bool {
        let Some(pending) = self.streams.get_mut(key) else {
            return false;
        };
        let kind = &self.parsers[pending.parser].kind;
        let next = match content(event, &pending.content_key) {
            Some(text) => kind.next(pending.state, text, &event.body),
            None => Next::No,
        };
        let end = match next {
            Next::No => {
                self.emit_pending(key, out);
                return false;
            }
            Next::Join(state) => {
                pending.state = state;
                false
            }
            Next::JoinEnd => true,
        };
        let text = content(event, &pending.content_key).unwrap_or_default();
        pending.text.push_str(kind.separator());
        pending.text.push_str(text);
        pending.last = now;
        if end || pending.text.len() >= MAX_PENDING_BYTES {
            self.emit_pending(key, out);
        }
        true
    }

    /// Lets parser `p` start a record with `event`; false when it does
    /// not.
    fn try_start(
        &mut self,
        stream: &str,
        p: usize,
        event: Event,
        now: Instant,
        out: &mut Vec<Event>,
    ) -> bool {
        let content_key = self.content_key(p).to_owned();
        let Some(text) = content(&event, &content_key) else {
            return false;
        };
        let start = self.parsers[p].kind.start(text, &event.body);
        let key = stream_key(stream, &event);
        match start {
            Start::No => false,
            Start::Whole => {
                self.emit_pending(&key, out);
                out.push(finish_body(&self.parsers[p].kind, event));
                true
            }
            Start::Open(state) => {
                self.emit_pending(&key, out);
                self.next_id += 1;
                let pending = Pending {
                    id: self.next_id,
                    parser: p,
                    state,
                    text: text.to_owned(),
                    event,
                    content_key,
                    last: now,
                };
                self.streams.insert(key, pending);
                true
            }
        }
    }

    /// A line no parser takes: the stream's pending record first, then
    /// the line as its own record.
    fn pass_through(
        &mut self,
        stream: &str,
        incoming: Incoming<'_>,
        cache: &mut [Option<Option<Event>>],
        out: &mut Vec<Event>,
    ) {
        let parsed = (0..self.parsers.len()).find_map(|p| self.record(p, incoming, cache));
        let event = match (parsed, incoming) {
            (Some(event), _) => event,
            (None, Incoming::Record(event)) => event.clone(),
            (None, Incoming::Line(line, time)) => {
                let mut body = Map::with_capacity(1);
                let text = String::from_utf8_lossy(line).into_owned();
                body.push(self.content_key(0).to_owned(), Value::Str(text));
                Event::new(time, body)
            }
        };
        self.emit_pending(&stream_key(stream, &event), out);
        out.push(event);
    }

    fn emit_pending(&mut self, key: &StreamKey, out: &mut Vec<Event>) {
        if let Some(p) = self.streams.remove(key) {
            out.push(self.finish(p));
        }
    }

    fn finish(&self, p: Pending) -> Event {
        let mut event = p.event;
        event.body.insert(p.content_key, Value::Str(p.text));
        finish_body(&self.parsers[p.parser].kind, event)
    }
}

/// Drops the partial flag, which only meant something while joining.
fn finish_body(kind: &Kind, mut event: Event) -> Event {
    if let Kind::Partial { key, .. } = kind {
        event.body.remove(key);
    }
    event
}

fn content<'e>(event: &'e Event, key: &str) -> Option<&'e str> {
    event.body.get(key).and_then(Value::as_str)
}

fn stream_key(stream: &str, event: &Event) -> StreamKey {
    let sub = event.body.get("stream").and_then(Value::as_str);
    (stream.to_owned(), sub.map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Origin, Section, SectionKind};
    use crate::parser::Parsers;

    fn parser(lines: &[(&str, &str)]) -> Arc<MultilineParser> {
        let mut s = Section::new(SectionKind::MultilineParser, Origin::new("ml.conf", 1));
        for (k, v) in lines {
            s.push(*k, *v, Origin::new("ml.conf", 2));
        }
        Arc::new(MultilineParser::build(&s, &Parsers::default()).unwrap())
    }

    fn java_like() -> Arc<MultilineParser> {
        parser(&[
            ("name", "j"),
            ("rule", r#""start_state" "/^[A-Z][a-z]{2} \d+ /" "cont""#),
            ("rule", r#""cont" "/^\s+at /" "cont""#),
        ])
    }

    fn logs(events: &[Event]) -> Vec<&str> {
        events
            .iter()
            .map(|e| e.body.get("log").and_then(Value::as_str).unwrap())
            .collect()
    }

    #[test]
    fn continuation_lines_join_and_other_lines_pass() {
        let mut b = MultilineBuffer::new(vec![java_like()]);
        let (t, now, mut out) = (EventTime::new(7, 0), Instant::now(), Vec::new());
        for line in [
            "plain",
            "Dec 14 boom",
            "  at a",
            "  at b",
            "Dec 15 next",
            "tail",
        ] {
            b.feed_line("f", line.as_bytes(), t, now, &mut out);
        }
        assert_eq!(
            logs(&out),
            [
                "plain",
                "Dec 14 boom\n  at a\n  at b",
                "Dec 15 next",
                "tail"
            ]
        );
        assert_eq!(b.pending(), 0);
    }

    #[test]
    fn streams_never_join_and_idle_records_flush() {
        let mut b =
            MultilineBuffer::new(vec![java_like()]).with_flush_timeout(Duration::from_secs(1));
        let (t, now, mut out) = (EventTime::new(7, 0), Instant::now(), Vec::new());
        b.feed_line("a", b"Dec 14 one", t, now, &mut out);
        b.feed_line("b", b"Dec 14 two", t, now, &mut out);
        b.feed_line("b", b"  at b", t, now, &mut out);
        b.feed_line("a", b"  at a", t, now, &mut out);
        assert!(out.is_empty());
        let mut flushed = Vec::new();
        b.flush_due(now + Duration::from_millis(500), &mut flushed);
        assert!(flushed.is_empty());
        b.flush_due(now + Duration::from_secs(1), &mut flushed);
        flushed.sort_by(|x, y| x.0.cmp(&y.0));
        let texts: Vec<_> = flushed
            .iter()
            .map(|(s, e)| (s.as_str(), e.body.get("log").unwrap().as_str().unwrap()))
            .collect();
        assert_eq!(
            texts,
            [("a", "Dec 14 one\n  at a"), ("b", "Dec 14 two\n  at b")]
        );
    }

    #[test]
    fn the_first_parser_that_starts_a_record_owns_it() {
        let ends = parser(&[
            ("name", "e"),
            ("type", "endswith"),
            ("match_string", ";"),
            ("negate", "on"),
        ]);
        let mut b = MultilineBuffer::new(vec![java_like(), ends]);
        let (t, now, mut out) = (EventTime::new(7, 0), Instant::now(), Vec::new());
        for line in ["Dec 1 x", "  at y", "a;", "b;", "c", "Dec 2 z"] {
            b.feed_line("f", line.as_bytes(), t, now, &mut out);
        }
        let mut rest = Vec::new();
        b.flush_all(&mut rest);
        out.extend(rest.into_iter().map(|(_, e)| e));
        assert_eq!(logs(&out), ["Dec 1 x\n  at y", "a;b;c", "Dec 2 z"]);
    }

    #[test]
    fn records_split_by_their_stream_field_and_lose_the_partial_flag() {
        let p = parser(&[("name", "p"), ("type", "partial")]);
        let mut b = MultilineBuffer::new(vec![p]);
        let (now, mut out) = (Instant::now(), Vec::new());
        let rec = |stream: &str, flag: &str, log: &str| {
            let mut body = Map::new();
            body.push("stream", Value::from(stream));
            body.push("_p", Value::from(flag));
            body.push("log", Value::from(log));
            Event::new(EventTime::new(1, 0), body)
        };
        for e in [
            rec("out", "P", "ab"),
            rec("err", "P", "12"),
            rec("out", "F", "c"),
            rec("err", "F", "3"),
        ] {
            b.feed_record("f", &e, now, &mut out);
        }
        assert_eq!(logs(&out), ["abc", "123"]);
        assert!(out.iter().all(|e| e.body.get("_p").is_none()));
        assert_eq!(out[1].body.get("stream").unwrap().as_str(), Some("err"));
    }

    #[test]
    fn a_record_without_content_passes_after_the_pending_one() {
        let mut b = MultilineBuffer::new(vec![java_like()]);
        let (now, mut out) = (Instant::now(), Vec::new());
        b.feed_line("f", b"Dec 3 x", EventTime::new(1, 0), now, &mut out);
        let mut body = Map::new();
        body.push("other", Value::from(1i64));
        b.feed_record("f", &Event::new(EventTime::new(2, 0), body), now, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].body.get("log").unwrap().as_str(), Some("Dec 3 x"));
        assert!(out[1].body.get("other").is_some());
    }
}
