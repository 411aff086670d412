//! The push request body: records grouped into streams by label set, each
//! stream's entries in time order, times as nanosecond strings.
//!
//! `{"streams":[{"stream":{"job":"x"},"values":[["1700000000123456789",
//! "line"]]}]}`. Streams come in the order their first record arrived.

use std::collections::HashMap;

use sluice_core::json;
use sluice_core::msgpack::DecodeError;
use sluice_core::record_accessor::RecordAccessor;
use sluice_core::{EventTime, Map, RawEvent, Value};

use super::labels::LabelSet;

/// How a record becomes a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineFormat {
    Json,
    KeyValue,
}

/// `drop_single_key`: what to send when one key is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SingleKey {
    /// The record as it is.
    Keep,
    /// The value alone, JSON-encoded in the json format.
    Drop,
    /// The value alone, strings without quotes.
    Raw,
}

/// Everything that shapes the body.
#[derive(Debug, Clone)]
pub(crate) struct PushOptions {
    pub labels: LabelSet,
    /// `structured_metadata`: pairs sent beside each line, not as labels.
    pub metadata: LabelSet,
    pub remove_keys: Vec<RecordAccessor>,
    pub line_format: LineFormat,
    pub single_key: SingleKey,
    /// Write the protobuf `PushRequest` (see `proto`) instead of JSON.
    pub protobuf: bool,
}

/// One entry: its time, its line and its structured metadata.
pub(crate) type Entries = Vec<(EventTime, String, Vec<(String, String)>)>;

/// A built body and the events that could not be read.
#[derive(Debug, Default)]
pub(crate) struct Push {
    pub body: Vec<u8>,
    pub entries: usize,
    pub malformed: usize,
    pub first_error: Option<DecodeError>,
}

impl PushOptions {
    pub fn build<'a>(
        &self,
        events: impl Iterator<Item = Result<RawEvent<'a>, DecodeError>>,
    ) -> Push {
        let mut push = Push::default();
        let mut order: Vec<(Vec<(String, String)>, Entries)> = Vec::new();
        let mut index: HashMap<Vec<(String, String)>, usize> = HashMap::new();
        for event in events {
            let event = match event.and_then(|e| Ok((e.time, e.decode()?.body))) {
                Ok(event) => event,
                Err(err) => {
                    push.malformed += 1;
                    push.first_error.get_or_insert(err);
                    continue;
                }
            };
            let (time, mut record) = event;
            let labels = self.labels.of(&record);
            let metadata = self.metadata.of(&record);
            for key in &self.remove_keys {
                key.remove(&mut record);
            }
            let line = self.line(record);
            let slot = *index.entry(labels.clone()).or_insert_with(|| {
                order.push((labels, Vec::new()));
                order.len() - 1
            });
            order[slot].1.push((time, line, metadata));
            push.entries += 1;
        }
        for (_, entries) in &mut order {
            entries.sort_by_key(|(time, _, _)| (time.sec, time.nsec));
        }
        if self.protobuf {
            super::proto::write_push(&mut push.body, &order);
        } else {
            write_streams(&mut push.body, &order);
        }
        push
    }

    fn line(&self, record: Map) -> String {
        if self.single_key != SingleKey::Keep && record.len() == 1 {
            if let Some((_, value)) = record.into_iter().next() {
                return match (&value, self.single_key, self.line_format) {
                    (Value::Str(s), SingleKey::Raw, _)
                    | (Value::Str(s), _, LineFormat::KeyValue) => s.clone(),
                    _ => json_text(&value),
                };
            }
            return String::new();
        }
        match self.line_format {
            LineFormat::Json => json_text(&Value::Map(record)),
            LineFormat::KeyValue => key_value(&record),
        }
    }
}

fn json_text(value: &Value) -> String {
    let mut out = Vec::new();
    json::write_value(&mut out, value);
    String::from_utf8_lossy(&out).into_owned()
}

/// `key=value key2=value2`: strings as they are, other values as JSON.
fn key_value(record: &Map) -> String {
    let mut line = String::new();
    for (key, value) in record.iter() {
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(key);
        line.push('=');
        match value {
            Value::Str(s) => line.push_str(s),
            other => line.push_str(&json_text(other)),
        }
    }
    line
}

fn write_streams(out: &mut Vec<u8>, streams: &[(Vec<(String, String)>, Entries)]) {
    out.extend_from_slice(b"{\"streams\":[");
    for (n, (labels, entries)) in streams.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"stream\":");
        write_pairs(out, labels);
        out.extend_from_slice(b",\"values\":[");
        for (i, (time, line, metadata)) in entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"[\"");
            json::write_i64(out, time.sec.max(0));
            let _ = std::io::Write::write_fmt(out, format_args!("{:09}", time.nsec));
            out.extend_from_slice(b"\",");
            json::write_str(out, line.as_bytes());
            if !metadata.is_empty() {
                out.push(b',');
                write_pairs(out, metadata);
            }
            out.push(b']');
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
}

/// `{"name":"value",...}`.
fn write_pairs(out: &mut Vec<u8>, pairs: &[(String, String)]) {
    out.push(b'{');
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::write_str(out, name.as_bytes());
        out.push(b':');
        json::write_str(out, value.as_bytes());
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::event::Events;
    use sluice_core::Event;

    fn data(records: &[(i64, &[(&str, &str)])]) -> Vec<u8> {
        let mut data = Vec::new();
        for (sec, pairs) in records {
            let body: Map = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Value::Str(v.to_string())))
                .collect();
            Event::new(EventTime::new(*sec, 5), body).encode(&mut data);
        }
        data
    }

    fn options(single_key: SingleKey, line_format: LineFormat) -> PushOptions {
        PushOptions {
            labels: LabelSet::parse("job=x, $app", "").unwrap(),
            metadata: LabelSet::default(),
            remove_keys: vec![RecordAccessor::parse("$app").unwrap()],
            line_format,
            single_key,
            protobuf: false,
        }
    }

    #[test]
    fn records_group_into_streams_in_time_order() {
        let data = data(&[
            (20, &[("app", "a"), ("msg", "late")]),
            (10, &[("app", "b"), ("msg", "other")]),
            (15, &[("app", "a"), ("msg", "early")]),
        ]);
        let push = options(SingleKey::Keep, LineFormat::Json).build(Events::new(&data));
        assert_eq!(
            String::from_utf8(push.body).unwrap(),
            r#"{"streams":[{"stream":{"app":"a","job":"x"},"values":[["15000000005","{\"msg\":\"early\"}"],["20000000005","{\"msg\":\"late\"}"]]},{"stream":{"app":"b","job":"x"},"values":[["10000000005","{\"msg\":\"other\"}"]]}]}"#
        );
    }

    #[test]
    fn single_keys_and_key_value_lines() {
        let data = data(&[(1, &[("app", "a"), ("msg", "hi")])]);
        let text = |o: PushOptions| String::from_utf8(o.build(Events::new(&data)).body).unwrap();
        assert!(text(options(SingleKey::Drop, LineFormat::Json)).contains(r#""\"hi\""]"#));
        assert!(text(options(SingleKey::Raw, LineFormat::Json)).contains(r#","hi"]"#));
        let o = PushOptions {
            remove_keys: Vec::new(),
            ..options(SingleKey::Keep, LineFormat::KeyValue)
        };
        assert!(text(o).contains(r#","app=a msg=hi"]"#));
        let o = PushOptions {
            metadata: LabelSet::parse("trace=$msg, env=prod", "").unwrap(),
            ..options(SingleKey::Raw, LineFormat::Json)
        };
        assert!(text(o).contains(r#","hi",{"env":"prod","trace":"hi"}]"#));
    }
}
