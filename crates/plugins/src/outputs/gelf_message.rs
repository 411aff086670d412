//! The GELF message of one record: the JSON object a Graylog input reads,
//! shared by the `gelf` output and the `gelf` format of `http`.
//!
//! The record keys named by `gelf_short_message_key` (short_message),
//! `gelf_full_message_key` (full_message), `gelf_timestamp_key`
//! (timestamp), `gelf_host_key` (host) and `gelf_level_key` (level)
//! become the GELF fields of those names; a timestamp or level that is not
//! a number is sent as an additional field instead. Without a timestamp
//! the event's time is sent, without a host `sluice`. Every other key
//! becomes an additional field `_key`: nested maps are flattened
//! (`_outer_inner`), arrays are sent as their JSON text, null values are
//! left out, and a key named `id` is sent as `__id` since GELF reserves
//! `_id`. A record without its short message cannot be a GELF message:
//! it is skipped and counted, and the caller logs the count.
//!
//! The message is written straight from the chunk's MessagePack into the
//! caller's buffer; no tree is built per record.

use sluice_core::config::{PluginConfig, PropKind, Property};
use sluice_core::json;
use sluice_core::msgpack::{DecodeError, Reader, Token};
use sluice_core::{Chunk, RawEvent};

use super::format::key_text;

/// The keys that name the record keys of the GELF fields.
pub(crate) const KEY_PROPS: &[Property] = &[
    Property::new(
        "gelf_short_message_key",
        PropKind::Str,
        Some("short_message"),
        "Record key of the short message (required in GELF)",
    ),
    Property::new(
        "gelf_full_message_key",
        PropKind::Str,
        Some("full_message"),
        "Record key of the full message",
    ),
    Property::new(
        "gelf_timestamp_key",
        PropKind::Str,
        Some("timestamp"),
        "Record key of the time (default: the event's time)",
    ),
    Property::new(
        "gelf_host_key",
        PropKind::Str,
        Some("host"),
        "Record key of the host",
    ),
    Property::new(
        "gelf_level_key",
        PropKind::Str,
        Some("level"),
        "Record key of the level",
    ),
];

/// The record keys of the GELF fields.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub short_message: String,
    pub full_message: String,
    pub timestamp: String,
    pub host: String,
    pub level: String,
    /// Send the chunk's tag under this additional field.
    pub tag: Option<String>,
}

impl Keys {
    /// The keys of [`KEY_PROPS`], and `gelf_tag_key` where the plugin
    /// declares it.
    pub fn from_config(cfg: &PluginConfig) -> Self {
        let text = |k: &str| cfg.str(k).unwrap_or_default().trim().to_owned();
        Keys {
            short_message: text("gelf_short_message_key"),
            full_message: text("gelf_full_message_key"),
            timestamp: text("gelf_timestamp_key"),
            host: text("gelf_host_key"),
            level: text("gelf_level_key"),
            tag: Some(text("gelf_tag_key")).filter(|t| !t.is_empty()),
        }
    }
}

/// Why a record was left out.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    NoShortMessage,
    Malformed(DecodeError),
}

impl From<DecodeError> for Skip {
    fn from(e: DecodeError) -> Self {
        Skip::Malformed(e)
    }
}

/// The messages of a chunk and the records left out of them.
#[derive(Debug, Default)]
pub(crate) struct Messages {
    pub messages: Vec<Vec<u8>>,
    pub no_short_message: usize,
    pub malformed: usize,
}

impl Messages {
    /// Counts a record left out, by why.
    pub fn count(&mut self, skip: &Skip) {
        match skip {
            Skip::NoShortMessage => self.no_short_message += 1,
            Skip::Malformed(_) => self.malformed += 1,
        }
    }

    /// Logs one warning for the chunk when records were left out.
    pub fn log_skipped(&self, tag: &str, keys: &Keys) {
        if self.no_short_message + self.malformed > 0 {
            tracing::warn!(
                tag,
                without_short_message = self.no_short_message,
                malformed = self.malformed,
                key = %keys.short_message,
                "records dropped: a GELF message needs its short message"
            );
        }
    }
}

impl Keys {
    /// Each record's message, and how many records were left out.
    pub fn messages(&self, chunk: &Chunk) -> Messages {
        let mut out = Messages::default();
        for event in chunk.events() {
            let mut m = Vec::with_capacity(256);
            let written = event
                .map_err(Skip::from)
                .and_then(|e| self.write(&mut m, chunk.tag(), &e));
            match written {
                Ok(()) => out.messages.push(m),
                Err(skip) => out.count(&skip),
            }
        }
        out
    }

    /// Appends the GELF JSON of one record; on an error nothing is left
    /// appended.
    pub fn write(&self, out: &mut Vec<u8>, tag: &str, e: &RawEvent<'_>) -> Result<(), Skip> {
        let mark = out.len();
        out.extend_from_slice(b"{\"version\":\"1.1\"");
        let result = self.write_fields(out, tag, e);
        if result.is_err() {
            out.truncate(mark);
        }
        result
    }

    fn write_fields(&self, out: &mut Vec<u8>, tag: &str, e: &RawEvent<'_>) -> Result<(), Skip> {
        let mut r = Reader::new(e.body);
        let Token::Map(n) = r.token()? else {
            return Err(DecodeError::Shape("record body is not a map").into());
        };
        let (mut short, mut time, mut host) = (false, false, false);
        for _ in 0..n {
            let key = key_text(r.skip()?).unwrap_or_default();
            let value = r.skip()?;
            let field = match key {
                k if k == self.short_message.as_bytes() => {
                    short = true;
                    "short_message"
                }
                k if k == self.full_message.as_bytes() => "full_message",
                k if k == self.timestamp.as_bytes() && is_number(value) => {
                    time = true;
                    "timestamp"
                }
                k if k == self.host.as_bytes() => {
                    host = true;
                    "host"
                }
                k if k == self.level.as_bytes() && is_number(value) => "level",
                _ => {
                    write_additional(out, &mut Vec::from(&b"_"[..]), key, value, 0)?;
                    continue;
                }
            };
            write_field(out, field.as_bytes(), value)?;
        }
        if !short {
            return Err(Skip::NoShortMessage);
        }
        if !time {
            out.extend_from_slice(b",\"timestamp\":");
            json::write_f64(out, e.time.sec as f64 + f64::from(e.time.nsec / 1000) / 1e6);
        }
        if !host {
            out.extend_from_slice(b",\"host\":\"sluice\"");
        }
        if let Some(key) = &self.tag {
            write_name(out, b"_", key.as_bytes());
            json::write_str(out, tag.as_bytes());
        }
        out.push(b'}');
        Ok(())
    }
}

fn is_number(value: &[u8]) -> bool {
    matches!(
        Reader::new(value).token(),
        Ok(Token::Int(_) | Token::UInt(_) | Token::Float(_))
    )
}

/// `,"name":` with the name's bytes cleaned to what Graylog accepts.
fn write_name(out: &mut Vec<u8>, prefix: &[u8], name: &[u8]) {
    let mut full: Vec<u8> = prefix.to_vec();
    if prefix == b"_" && name == b"id" {
        full.push(b'_');
    }
    full.extend(name.iter().map(|b| match b {
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => *b,
        _ => b'_',
    }));
    out.push(b',');
    json::write_str(out, &full);
    out.push(b':');
}

/// A GELF field: strings and numbers as they are, anything else as text.
fn write_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) -> Result<(), DecodeError> {
    out.push(b',');
    json::write_str(out, name);
    out.push(b':');
    write_value(out, value)
}

fn write_value(out: &mut Vec<u8>, value: &[u8]) -> Result<(), DecodeError> {
    match Reader::new(value).token()? {
        Token::Str(_) | Token::Int(_) | Token::UInt(_) | Token::Float(_) => {
            json::write_msgpack(out, &mut Reader::new(value))
        }
        Token::Bin(b) => {
            json::write_str(out, b);
            Ok(())
        }
        _ => {
            let mut text = Vec::new();
            json::write_msgpack(&mut text, &mut Reader::new(value))?;
            json::write_str(out, &text);
            Ok(())
        }
    }
}

/// An additional field; maps are flattened into `_outer_inner`.
fn write_additional(
    out: &mut Vec<u8>,
    prefix: &mut Vec<u8>,
    key: &[u8],
    value: &[u8],
    depth: usize,
) -> Result<(), DecodeError> {
    let mut r = Reader::new(value);
    match r.token()? {
        Token::Nil => Ok(()),
        Token::Map(n) if depth < 8 => {
            let keep = prefix.len();
            prefix.extend_from_slice(key);
            prefix.push(b'_');
            for _ in 0..n {
                let inner = key_text(r.skip()?).unwrap_or_default();
                write_additional(out, prefix, inner, r.skip()?, depth + 1)?;
            }
            prefix.truncate(keep);
            Ok(())
        }
        _ => {
            write_name(out, prefix, key);
            write_value(out, value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::testutil::{body, chunk};
    use sluice_core::{Map, Value};

    fn keys() -> Keys {
        Keys {
            short_message: "log".into(),
            full_message: "full_message".into(),
            timestamp: "timestamp".into(),
            host: "host".into(),
            level: "level".into(),
            tag: Some("tag".into()),
        }
    }

    #[test]
    fn a_record_becomes_gelf_json() {
        let mut inner = Map::new();
        inner.push("b", Value::UInt(2));
        let c = chunk(
            "app",
            &[body(&[
                ("log", Value::Str("hi".into())),
                ("level", Value::UInt(3)),
                ("id", Value::Str("x".into())),
                ("a", Value::Map(inner)),
                ("gone", Value::Null),
                ("ok", Value::Bool(true)),
            ])],
        );
        let e = c.events().next().unwrap().unwrap();
        let mut out = Vec::new();
        keys().write(&mut out, "app", &e).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"version\":\"1.1\",\"short_message\":\"hi\",\"level\":3,\"__id\":\"x\",\
             \"_a_b\":2,\"_ok\":\"true\",\"timestamp\":1700000000.123456,\"host\":\"sluice\",\
             \"_tag\":\"app\"}"
        );
    }

    #[test]
    fn a_record_without_short_message_is_skipped_and_counted() {
        let c = chunk(
            "t",
            &[
                body(&[("other", Value::UInt(1))]),
                body(&[("log", Value::Str("kept".into()))]),
            ],
        );
        let e = c.events().next().unwrap().unwrap();
        let mut out = Vec::new();
        assert_eq!(keys().write(&mut out, "t", &e), Err(Skip::NoShortMessage));
        assert!(out.is_empty());
        let all = keys().messages(&c);
        assert_eq!((all.messages.len(), all.no_short_message), (1, 1));
    }
}
