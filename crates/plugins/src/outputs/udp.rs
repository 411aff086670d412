//! `udp`: sends each record as one UDP datagram.
//!
//! Options: `host` (127.0.0.1), `port` (5170), `format` — `json_lines`
//! (default: the JSON object and a newline), `json` or `json_stream` (the
//! object alone) or `msgpack` (the event's MessagePack, `[[time, meta],
//! body]`); `json_date_key` (date; `false` leaves the time out),
//! `json_date_format` (double, epoch, epoch_ms, iso8601,
//! java_sql_timestamp); `raw_message_key` (send that key's value, a
//! string's bytes as they are, instead of the formatted record; a record
//! without the key is formatted as usual); `workers` (2).
//!
//! UDP has no delivery receipt: a chunk counts as delivered once its
//! datagrams are handed to the kernel. A record too large for one
//! datagram (over 65,507 bytes) is dropped and counted in a warning; a
//! send error (no route, or the kernel refuses) retries the chunk from
//! the record that failed, so no datagram is sent twice.

use std::sync::Arc;

use async_trait::async_trait;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::json;
use sluice_core::msgpack::{DecodeError, Reader, Token};
use sluice_core::plugin::{BuildOutput, Output, Setup, Spec, Verdict};
use sluice_core::{Chunk, RawEvent};

use super::datagram::{RecordSends, UdpPeer};
use super::format::key_text;
use super::stdout::{self, Format, Options};

/// The largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;

const PROPS: &[Property] = &[
    Property::new("host", PropKind::Str, Some("127.0.0.1"), "Server host"),
    Property::new("port", PropKind::Int, Some("5170"), "Server port"),
    Property::new(
        "format",
        PropKind::Str,
        Some("json_lines"),
        "Datagram format: json_lines, json, json_stream or msgpack",
    ),
    Property::new(
        "json_date_key",
        PropKind::Str,
        Some("date"),
        "Key of the record time in JSON formats (false: no time key)",
    ),
    Property::new(
        "json_date_format",
        PropKind::Str,
        Some("double"),
        "Time format: double, epoch, epoch_ms, iso8601 or java_sql_timestamp",
    ),
    Property::new(
        "raw_message_key",
        PropKind::Str,
        None,
        "Send this key's value instead of the formatted record",
    ),
    Property::new(
        "workers",
        PropKind::Int,
        Some("2"),
        "Flushes of this output that may run at once",
    ),
];

pub const SPEC: Spec<BuildOutput> = Spec {
    name: "udp",
    description: "Send each record as a UDP datagram",
    properties: PROPS,
    build,
};

struct Udp {
    peer: UdpPeer,
    options: Options,
    raw_key: Option<String>,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    let port = cfg.int("port").unwrap_or(0);
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| cfg.error("port", format!("'{port}' is not a port (1-65535)")))?;
    Ok(Arc::new(Udp {
        peer: UdpPeer::new(
            cfg.str("host").unwrap_or("127.0.0.1").trim().to_owned(),
            port,
        ),
        options: stdout::options(cfg)?,
        raw_key: cfg
            .str("raw_message_key")
            .filter(|k| !k.is_empty())
            .map(str::to_owned),
    }))
}

impl Udp {
    /// One record's datagram, appended to `out`.
    fn datagram(&self, e: &RawEvent<'_>, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        if let Some(key) = &self.raw_key {
            if write_raw_value(out, e.body, key)? {
                return Ok(());
            }
        }
        let date = self
            .options
            .date
            .as_ref()
            .map(|(k, f)| (k.as_str(), *f, e.time));
        match self.options.format {
            Format::Msgpack => out.extend_from_slice(e.raw),
            Format::JsonLines => {
                json::write_record(out, e.body, date)?;
                out.push(b'\n');
            }
            Format::Json | Format::JsonStream => json::write_record(out, e.body, date)?,
        }
        Ok(())
    }
}

/// Writes the value of `key` in the body: a string's bytes as they are,
/// anything else as JSON. Answers whether the key was there.
fn write_raw_value(out: &mut Vec<u8>, body: &[u8], key: &str) -> Result<bool, DecodeError> {
    let mut r = Reader::new(body);
    let Token::Map(n) = r.token()? else {
        return Err(DecodeError::Shape("record body is not a map"));
    };
    for _ in 0..n {
        let k = r.skip()?;
        if key_text(k) == Some(key.as_bytes()) {
            match r.clone().token()? {
                Token::Str(s) | Token::Bin(s) => out.extend_from_slice(s),
                _ => json::write_msgpack(out, &mut r)?,
            }
            return Ok(true);
        }
        r.skip()?;
    }
    Ok(false)
}

#[async_trait]
impl Output for Udp {
    async fn flush(&self, chunk: &Chunk) -> Verdict {
        let socket = match self.peer.socket().await {
            Ok(socket) => socket,
            Err(verdict) => return verdict,
        };
        let (mut malformed, mut oversized) = (0usize, 0usize);
        let mut datagram = Vec::with_capacity(1024);
        let mut records = RecordSends::new(chunk);
        while let Some(record) = records.next_record() {
            datagram.clear();
            if record
                .and_then(|e| self.datagram(&e, &mut datagram))
                .is_err()
            {
                malformed += 1;
                records.drop_current();
            } else if datagram.len() > MAX_DATAGRAM {
                oversized += 1;
                records.drop_current();
            } else if let Err(e) = socket.send(&datagram).await {
                return records.failed(format!("cannot send to {}; {e}", self.peer.name()));
            }
        }
        if malformed + oversized > 0 {
            tracing::warn!(
                tag = chunk.tag(),
                malformed,
                oversized,
                "records dropped: malformed, or larger than one datagram"
            );
        }
        Verdict::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::datagram::testutil::closed_udp_port;
    use crate::outputs::testutil::{body, chunk, config, setup};
    use sluice_core::Value;
    use tokio::net::UdpSocket;

    #[tokio::test]
    async fn each_record_is_one_datagram() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = server.local_addr().unwrap().port().to_string();
        let cfg = config(
            &SPEC,
            &[
                ("port", &port),
                ("json_date_key", "false"),
                ("raw_message_key", "raw"),
            ],
        )
        .unwrap();
        let out = (SPEC.build)(&cfg, &setup()).unwrap();
        let c = chunk(
            "t",
            &[
                body(&[("a", Value::UInt(1))]),
                body(&[("raw", Value::Str("as it is".into()))]),
            ],
        );
        assert_eq!(out.flush(&c).await, Verdict::Ok);
        let mut buf = [0u8; 100];
        let n = server.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"{\"a\":1}\n");
        let n = server.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"as it is");
    }

    #[tokio::test]
    async fn a_failed_send_is_retried_from_that_record_on() {
        let port = closed_udp_port();
        let cfg = config(&SPEC, &[("port", &port)]).unwrap();
        let out = (SPEC.build)(&cfg, &setup()).unwrap();
        let bodies: Vec<_> = (0..5u64).map(|n| body(&[("n", Value::UInt(n))])).collect();
        let c = chunk("t", &bodies);
        let Verdict::Partial(partial) = out.flush(&c).await else {
            panic!("a send into a closed port should stop the flush part way");
        };
        assert_eq!(partial.dropped, 0);
        assert_eq!(partial.retry_records, 4, "{partial:?}");
        let left: Vec<_> = sluice_core::event::Events::new(&partial.retry)
            .map(|e| e.unwrap().body.to_vec())
            .collect();
        let wanted: Vec<_> = c
            .events()
            .skip(1)
            .map(|e| e.unwrap().body.to_vec())
            .collect();
        assert_eq!(left, wanted);
    }
}
