//! `gelf`: sends each record as a Graylog Extended Log Format message
//! over UDP (chunked, optionally gzip-compressed), TCP or TLS.
//!
//! Options: `host` (127.0.0.1), `port` (12201), `mode` (`udp` default,
//! `tcp` or `tls`), the record keys of the GELF fields —
//! `gelf_short_message_key` (short_message), `gelf_full_message_key`
//! (full_message), `gelf_timestamp_key` (timestamp), `gelf_host_key`
//! (host), `gelf_level_key` (level), `gelf_tag_key` (none: the tag is not
//! sent) — and, for UDP, `packet_size` (1420 bytes per datagram) and
//! `compress` (on: gzip). `net.*`/`tls.*` as `net::upstream`.
//!
//! Every other key becomes an additional field `_key`; nested maps are
//! flattened (`_outer_inner`), arrays are sent as their JSON text, null
//! values are left out, and a key named `id` is sent as `__id` since GELF
//! reserves `_id`. A record without its short message cannot be a GELF
//! message: it is dropped and counted in a warning. Over TCP and TLS each
//! message ends with a NUL byte; over UDP a message larger than
//! `packet_size` is sent in GELF chunks (at most 128), and a larger one
//! is dropped and counted.

use std::io::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use flate2::write::GzEncoder;
use flate2::Compression;
use sluice_core::config::props::join_props;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::json;
use sluice_core::msgpack::{DecodeError, Reader, Token};
use sluice_core::net::tls_client::required_client_config;
use sluice_core::net::upstream::{Target, Upstream, UPSTREAM_PROPS};
use sluice_core::plugin::{BuildOutput, Output, Setup, Spec, Verdict};
use sluice_core::{Chunk, RawEvent};
use tokio::net::UdpSocket;
use tokio::sync::OnceCell;

use super::format::key_text;

/// GELF allows at most this many chunks per message.
const MAX_CHUNKS: usize = 128;
/// Bytes of a chunk header: magic, message id, sequence number and count.
const CHUNK_HEADER: usize = 12;

const OWN_PROPS: &[Property] = &[
    Property::new("host", PropKind::Str, Some("127.0.0.1"), "Graylog host"),
    Property::new("port", PropKind::Int, Some("12201"), "Graylog GELF port"),
    Property::new(
        "mode",
        PropKind::Str,
        Some("udp"),
        "Transport: udp, tcp or tls",
    ),
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
    Property::new(
        "gelf_tag_key",
        PropKind::Str,
        None,
        "Send the tag under this field",
    ),
    Property::new(
        "packet_size",
        PropKind::Int,
        Some("1420"),
        "UDP: bytes per datagram; larger messages are chunked",
    ),
    Property::new(
        "compress",
        PropKind::Bool,
        Some("on"),
        "UDP: gzip each message",
    ),
];

const PROPS: [Property; OWN_PROPS.len() + UPSTREAM_PROPS.len()] =
    join_props(OWN_PROPS, UPSTREAM_PROPS);

pub const SPEC: Spec<BuildOutput> = Spec {
    name: "gelf",
    description: "Send records as GELF messages over UDP, TCP or TLS",
    properties: &PROPS,
    build,
};

/// The record keys of the GELF fields.
#[derive(Debug, Clone)]
struct Keys {
    short_message: String,
    full_message: String,
    timestamp: String,
    host: String,
    level: String,
    tag: Option<String>,
}

enum Transport {
    Stream(Upstream),
    Datagram {
        host: String,
        port: u16,
        packet_size: usize,
        compress: bool,
        socket: OnceCell<UdpSocket>,
    },
}

struct Gelf {
    keys: Keys,
    transport: Transport,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    let text = |k: &str| cfg.str(k).unwrap_or_default().trim().to_owned();
    let keys = Keys {
        short_message: text("gelf_short_message_key"),
        full_message: text("gelf_full_message_key"),
        timestamp: text("gelf_timestamp_key"),
        host: text("gelf_host_key"),
        level: text("gelf_level_key"),
        tag: Some(text("gelf_tag_key")).filter(|t| !t.is_empty()),
    };
    Ok(Arc::new(Gelf {
        keys,
        transport: transport(cfg)?,
    }))
}

fn transport(cfg: &PluginConfig) -> Result<Transport, ConfigError> {
    let mode = cfg.str("mode").unwrap_or("udp").trim().to_ascii_lowercase();
    match mode.as_str() {
        "udp" => {
            let Target::Net { host, port } = super::target(cfg)? else {
                return Err(cfg.error("mode", "udp needs host and port"));
            };
            let packet_size = cfg.int("packet_size").unwrap_or(1420);
            if !(CHUNK_HEADER as i64 + 1..=65_507).contains(&packet_size) {
                return Err(cfg.error("packet_size", "must be between 13 and 65507"));
            }
            Ok(Transport::Datagram {
                host,
                port,
                packet_size: packet_size as usize,
                compress: cfg.bool("compress"),
                socket: OnceCell::new(),
            })
        }
        "tcp" | "tls" => {
            let mut config = super::upstream_config(cfg)?;
            if mode == "tls" && config.tls.is_none() {
                let host = cfg.str("host").unwrap_or("127.0.0.1").trim();
                config.tls = Some(required_client_config(cfg, host)?);
            }
            Ok(Transport::Stream(Upstream::new(config)))
        }
        other => Err(cfg.error(
            "mode",
            format!("unknown mode '{other}'; use udp, tcp or tls"),
        )),
    }
}

/// Why a record was left out.
#[derive(Debug, PartialEq, Eq)]
enum Skip {
    NoShortMessage,
    Malformed(DecodeError),
}

impl From<DecodeError> for Skip {
    fn from(e: DecodeError) -> Self {
        Skip::Malformed(e)
    }
}

impl Keys {
    /// Appends the GELF JSON of one record.
    fn write(&self, out: &mut Vec<u8>, tag: &str, e: &RawEvent<'_>) -> Result<(), Skip> {
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

/// The UDP datagrams of one message: as it is when it fits, else GELF
/// chunks; `None` when it needs more than 128.
fn datagrams(message: &[u8], packet_size: usize) -> Option<Vec<Vec<u8>>> {
    if message.len() <= packet_size {
        return Some(vec![message.to_vec()]);
    }
    let body = packet_size - CHUNK_HEADER;
    let count = message.len().div_ceil(body);
    if count > MAX_CHUNKS {
        return None;
    }
    let id: [u8; 8] = std::array::from_fn(|_| fastrand::u8(..));
    let chunks = message.chunks(body).enumerate().map(|(seq, part)| {
        let mut d = Vec::with_capacity(CHUNK_HEADER + part.len());
        d.extend_from_slice(&[0x1e, 0x0f]);
        d.extend_from_slice(&id);
        d.extend_from_slice(&[seq as u8, count as u8]);
        d.extend_from_slice(part);
        d
    });
    Some(chunks.collect())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len()), Compression::fast());
    // Writes into a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

impl Gelf {
    /// Each record's message, and how many records were left out.
    fn messages(&self, chunk: &Chunk) -> (Vec<Vec<u8>>, usize, usize) {
        let (mut messages, mut no_short, mut malformed) = (Vec::new(), 0, 0);
        for event in chunk.events() {
            let mut m = Vec::with_capacity(256);
            let written = event
                .map_err(Skip::from)
                .and_then(|e| self.keys.write(&mut m, chunk.tag(), &e));
            match written {
                Ok(()) => messages.push(m),
                Err(Skip::NoShortMessage) => no_short += 1,
                Err(Skip::Malformed(_)) => malformed += 1,
            }
        }
        (messages, no_short, malformed)
    }
}

#[async_trait]
impl Output for Gelf {
    async fn flush(&self, chunk: &Chunk) -> Verdict {
        let (messages, no_short, malformed) = self.messages(chunk);
        if no_short + malformed > 0 {
            tracing::warn!(
                tag = chunk.tag(),
                without_short_message = no_short,
                malformed,
                key = %self.keys.short_message,
                "records dropped: a GELF message needs its short message"
            );
        }
        match &self.transport {
            Transport::Stream(upstream) => {
                let mut payload = Vec::new();
                for m in &messages {
                    payload.extend_from_slice(m);
                    payload.push(0);
                }
                super::write_stream(upstream, &payload).await
            }
            Transport::Datagram {
                host,
                port,
                packet_size,
                compress,
                socket,
            } => {
                let socket = match socket
                    .get_or_try_init(|| super::connect_udp(host, *port))
                    .await
                {
                    Ok(s) => s,
                    Err(e) => return Verdict::Retry(format!("cannot reach {host}:{port}; {e}")),
                };
                let mut too_large = 0;
                for m in &messages {
                    let m = if *compress { gzip(m) } else { m.clone() };
                    let Some(datagrams) = datagrams(&m, *packet_size) else {
                        too_large += 1;
                        continue;
                    };
                    for d in datagrams {
                        if let Err(e) = socket.send(&d).await {
                            return Verdict::Retry(format!("cannot send to {host}:{port}; {e}"));
                        }
                    }
                }
                if too_large > 0 {
                    tracing::warn!(
                        tag = chunk.tag(),
                        too_large,
                        "messages over 128 GELF chunks dropped"
                    );
                }
                Verdict::Ok
            }
        }
    }

    fn connections(&self) -> Option<(u64, u64)> {
        match &self.transport {
            Transport::Stream(upstream) => super::connection_counts([upstream]),
            Transport::Datagram { .. } => None,
        }
    }

    async fn shutdown(&self) {
        if let Transport::Stream(upstream) = &self.transport {
            upstream.close_idle().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::testutil::{body, chunk, config, setup};
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
    fn a_record_without_short_message_is_skipped() {
        let c = chunk("t", &[body(&[("other", Value::UInt(1))])]);
        let e = c.events().next().unwrap().unwrap();
        let mut out = Vec::new();
        assert_eq!(keys().write(&mut out, "t", &e), Err(Skip::NoShortMessage));
        assert!(out.is_empty());
    }

    #[test]
    fn large_messages_are_chunked_and_huge_ones_refused() {
        let message = vec![b'x'; 3000];
        let parts = datagrams(&message, 1420).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(&parts[2][..2], &[0x1e, 0x0f]);
        assert_eq!((parts[2][10], parts[2][11]), (2, 3));
        assert!(datagrams(&vec![0; 200_000], 1420).is_none());
    }

    #[test]
    fn bad_keys_are_config_errors() {
        for (k, v) in [("mode", "http"), ("packet_size", "5")] {
            let cfg = config(&SPEC, &[(k, v)]).unwrap();
            assert!((SPEC.build)(&cfg, &setup()).is_err(), "{k}");
        }
    }
}
