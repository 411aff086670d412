//! The `_bulk` request body: for every event an action line and a source
//! line, each ended by a newline (the body ends with one too, as the API
//! requires).
//!
//! Sources are written from the chunk's MessagePack without a tree, unless
//! `replace_dots` or `id_key` needs the record's keys. Each sent event's
//! bytes are remembered in order, so the answer's items can be matched to
//! the events they are about and the failed ones sent again as they were.

use std::fmt::Write as _;

use ring::digest;
use sluice_core::json;
use sluice_core::msgpack::DecodeError;
use sluice_core::{EventTime, Map, RawEvent, Value};

/// What the action line says to do with each record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteOperation {
    Create,
    Index,
    Update,
    Upsert,
}

impl WriteOperation {
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "create" => Some(WriteOperation::Create),
            "index" => Some(WriteOperation::Index),
            "update" => Some(WriteOperation::Update),
            "upsert" => Some(WriteOperation::Upsert),
            _ => None,
        }
    }

    /// The bulk action name: upsert is an update with `doc_as_upsert`.
    fn action(self) -> &'static str {
        match self {
            WriteOperation::Create => "create",
            WriteOperation::Index => "index",
            WriteOperation::Update | WriteOperation::Upsert => "update",
        }
    }
}

/// Where each record goes: one index, or `logstash_prefix-DATE`.
#[derive(Debug, Clone)]
pub(crate) enum IndexName {
    Fixed(String),
    Logstash { prefix: String, date_format: String },
}

/// Everything that shapes the body.
#[derive(Debug, Clone)]
pub(crate) struct BulkOptions {
    pub index: IndexName,
    /// `_type` in the action line; `None` with `suppress_type_name on`.
    pub type_name: Option<String>,
    pub operation: WriteOperation,
    /// The time key and its strftime format (`time_key_format`); the
    /// fraction (milliseconds, or nanoseconds with `time_key_nanos`) and
    /// `Z` follow it.
    pub time_key: String,
    pub time_format: String,
    pub time_nanos: bool,
    /// Index by the time of the flush, not the record.
    pub current_time_index: bool,
    /// `include_tag_key`: the key the tag is written under.
    pub tag_key: Option<String>,
    pub generate_id: bool,
    pub id_key: Option<String>,
    pub replace_dots: bool,
}

/// A built body and the events it carries, in order.
#[derive(Debug, Default)]
pub(crate) struct Bulk<'a> {
    pub body: Vec<u8>,
    /// The raw bytes of each sent event, in the order of the answer's items.
    pub events: Vec<&'a [u8]>,
    /// Events that could not be read or written: dropped.
    pub malformed: usize,
    pub first_error: Option<DecodeError>,
}

impl BulkOptions {
    /// Builds the body for `events` of a chunk tagged `tag`.
    pub fn build<'a>(
        &self,
        tag: &str,
        events: impl Iterator<Item = Result<RawEvent<'a>, DecodeError>>,
    ) -> Bulk<'a> {
        let mut bulk = Bulk::default();
        let mut source = Vec::new();
        let now = EventTime::now();
        for event in events {
            let mark = bulk.body.len();
            match event.and_then(|e| self.write_pair(&mut bulk.body, &mut source, tag, &e, now)) {
                Ok(raw) => bulk.events.push(raw),
                Err(err) => {
                    bulk.body.truncate(mark);
                    bulk.malformed += 1;
                    bulk.first_error.get_or_insert(err);
                }
            }
        }
        bulk
    }

    fn write_pair<'a>(
        &self,
        out: &mut Vec<u8>,
        source: &mut Vec<u8>,
        tag: &str,
        event: &RawEvent<'a>,
        now: EventTime,
    ) -> Result<&'a [u8], DecodeError> {
        source.clear();
        let id_value = self.write_source(source, tag, event)?;
        let id = match id_value {
            Some(id) => Some(id),
            None if self.generate_id => Some(record_id(source)),
            None => None,
        };
        let index_time = if self.current_time_index {
            now
        } else {
            event.time
        };
        self.write_action(out, index_time, id.as_deref());
        out.push(b'\n');
        match self.operation {
            WriteOperation::Create | WriteOperation::Index => out.extend_from_slice(source),
            WriteOperation::Update => wrap(out, b"{\"doc\":", source, b"}"),
            WriteOperation::Upsert => wrap(out, b"{\"doc\":", source, b",\"doc_as_upsert\":true}"),
        }
        out.push(b'\n');
        Ok(event.raw)
    }

    fn write_action(&self, out: &mut Vec<u8>, time: EventTime, id: Option<&str>) {
        out.extend_from_slice(b"{\"");
        out.extend_from_slice(self.operation.action().as_bytes());
        out.extend_from_slice(b"\":{\"_index\":");
        match &self.index {
            IndexName::Fixed(name) => json::write_str(out, name.as_bytes()),
            IndexName::Logstash {
                prefix,
                date_format,
            } => {
                let name = format!("{prefix}-{}", strftime(date_format, time));
                json::write_str(out, name.as_bytes());
            }
        }
        if let Some(type_name) = &self.type_name {
            out.extend_from_slice(b",\"_type\":");
            json::write_str(out, type_name.as_bytes());
        }
        if let Some(id) = id {
            out.extend_from_slice(b",\"_id\":");
            json::write_str(out, id.as_bytes());
        }
        out.extend_from_slice(b"}}");
    }

    /// Writes the record with the time (and tag) keys first; returns the
    /// `id_key` value when that key is set and the record has it.
    fn write_source(
        &self,
        out: &mut Vec<u8>,
        tag: &str,
        event: &RawEvent<'_>,
    ) -> Result<Option<String>, DecodeError> {
        out.push(b'{');
        json::write_str(out, self.time_key.as_bytes());
        out.push(b':');
        json::write_str(out, self.timestamp(event.time).as_bytes());
        if let Some(key) = &self.tag_key {
            out.push(b',');
            json::write_str(out, key.as_bytes());
            out.push(b':');
            json::write_str(out, tag.as_bytes());
        }
        let mark = out.len();
        let id = if self.replace_dots || self.id_key.is_some() {
            let mut body = event.decode()?.body;
            if self.replace_dots {
                body = replace_dots(body);
            }
            let id = self.id_key.as_ref().and_then(|k| id_text(body.get(k)?));
            json::write_value(out, &Value::Map(body));
            id
        } else {
            json::write_record(out, event.body, None)?;
            None
        };
        // The record came out as `{...}`: join its pairs to ours.
        if out.len() - mark == 2 {
            out.truncate(mark);
        } else {
            out[mark] = b',';
            out.pop();
        }
        out.push(b'}');
        Ok(id)
    }

    fn timestamp(&self, t: EventTime) -> String {
        let mut text = strftime(&self.time_format, t);
        if self.time_nanos {
            let _ = write!(text, ".{:09}Z", t.nsec);
        } else {
            let _ = write!(text, ".{:03}Z", t.nsec / 1_000_000);
        }
        text
    }
}

fn wrap(out: &mut Vec<u8>, before: &[u8], inner: &[u8], after: &[u8]) {
    out.extend_from_slice(before);
    out.extend_from_slice(inner);
    out.extend_from_slice(after);
}

/// Formats `t` (UTC) with a strftime pattern already checked by
/// [`check_strftime`].
pub(crate) fn strftime(pattern: &str, t: EventTime) -> String {
    let mut text = String::new();
    if let Some(time) = chrono::DateTime::from_timestamp(t.sec, t.nsec) {
        // The pattern was checked at build time, so this cannot fail.
        let _ = write!(text, "{}", time.format(pattern));
    }
    text
}

/// Whether chrono can format with `pattern`.
pub(crate) fn check_strftime(pattern: &str) -> bool {
    let mut text = String::new();
    let sample = chrono::DateTime::from_timestamp(0, 0).unwrap_or_default();
    write!(text, "{}", sample.format(pattern)).is_ok()
}

/// A stable id from the source line: a retry of the same record gets the
/// same id, so Elasticsearch does not store it twice.
fn record_id(source: &[u8]) -> String {
    let hash = digest::digest(&digest::SHA256, source);
    let b = hash.as_ref();
    let mut id = String::with_capacity(36);
    for (i, byte) in b[..16].iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            id.push('-');
        }
        let _ = write!(id, "{byte:02x}");
    }
    id
}

/// The `id_key` value as an id: strings as they are, numbers in decimal.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        _ => None,
    }
}

/// `a.b` keys become `a_b`, at every depth.
fn replace_dots(map: Map) -> Map {
    map.into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Map(inner) => Value::Map(replace_dots(inner)),
                other => other,
            };
            (k.replace('.', "_"), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::event::Events;
    use sluice_core::Event;

    fn options() -> BulkOptions {
        BulkOptions {
            index: IndexName::Fixed("fluent-bit".into()),
            type_name: Some("_doc".into()),
            operation: WriteOperation::Create,
            time_key: "@timestamp".into(),
            time_format: "%Y-%m-%dT%H:%M:%S".into(),
            time_nanos: false,
            current_time_index: false,
            tag_key: None,
            generate_id: false,
            id_key: None,
            replace_dots: false,
        }
    }

    fn events(bodies: &[Map]) -> Vec<u8> {
        let mut data = Vec::new();
        for b in bodies {
            Event::new(EventTime::new(1_700_000_000, 123_456_789), b.clone()).encode(&mut data);
        }
        data
    }

    fn body(options: &BulkOptions, bodies: &[Map]) -> String {
        let data = events(bodies);
        let bulk = options.build("app", Events::new(&data));
        String::from_utf8(bulk.body).unwrap()
    }

    fn map(pairs: &[(&str, Value)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn create_pairs_an_action_line_with_each_source_line() {
        let text = body(&options(), &[map(&[("a", Value::Int(1))]), Map::new()]);
        assert_eq!(
            text,
            "{\"create\":{\"_index\":\"fluent-bit\",\"_type\":\"_doc\"}}\n\
             {\"@timestamp\":\"2023-11-14T22:13:20.123Z\",\"a\":1}\n\
             {\"create\":{\"_index\":\"fluent-bit\",\"_type\":\"_doc\"}}\n\
             {\"@timestamp\":\"2023-11-14T22:13:20.123Z\"}\n"
        );
    }

    #[test]
    fn logstash_index_tag_key_dots_and_upsert() {
        let o = BulkOptions {
            index: IndexName::Logstash {
                prefix: "logs".into(),
                date_format: "%Y.%m.%d".into(),
            },
            type_name: None,
            operation: WriteOperation::Upsert,
            tag_key: Some("_flb-key".into()),
            id_key: Some("rid".into()),
            replace_dots: true,
            time_nanos: true,
            ..options()
        };
        let text = body(
            &o,
            &[map(&[
                ("a.b", Value::Int(1)),
                ("rid", Value::Str("r-1".into())),
            ])],
        );
        assert_eq!(
            text,
            "{\"update\":{\"_index\":\"logs-2023.11.14\",\"_id\":\"r-1\"}}\n\
             {\"doc\":{\"@timestamp\":\"2023-11-14T22:13:20.123456789Z\",\"_flb-key\":\"app\",\
             \"a_b\":1,\"rid\":\"r-1\"},\"doc_as_upsert\":true}\n"
        );
    }

    #[test]
    fn generated_ids_are_stable_per_record() {
        let o = BulkOptions {
            generate_id: true,
            ..options()
        };
        let one = body(&o, &[map(&[("a", Value::Int(1))])]);
        let again = body(&o, &[map(&[("a", Value::Int(1))])]);
        let other = body(&o, &[map(&[("a", Value::Int(2))])]);
        assert_eq!(one, again);
        assert_ne!(one.lines().next(), other.lines().next());
        assert!(one.contains("\"_id\":\""), "{one}");
    }

    #[test]
    fn malformed_events_are_counted_and_left_out() {
        let mut data = vec![0x92, 0x01, 0x02];
        data.extend(events(&[Map::new()]));
        let bulk = options().build("t", Events::new(&data));
        assert_eq!((bulk.events.len(), bulk.malformed), (1, 1));
        assert_eq!(String::from_utf8(bulk.body).unwrap().lines().count(), 2);
    }
}
