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
//! Each record becomes one message as `gelf_message` writes it; a record
//! without its short message is dropped and counted in a warning. Over
//! TCP and TLS each message ends with a NUL byte; over UDP a message
//! larger than `packet_size` is sent in GELF chunks (at most 128), and a
//! larger one is dropped and counted; a failed send retries the chunk
//! from the record whose message failed, so no message is sent twice
//! whole.

use std::io::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use flate2::write::GzEncoder;
use flate2::Compression;
use sluice_core::config::props::join_props;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::net::tls_client::required_client_config;
use sluice_core::net::upstream::{Target, Upstream, UPSTREAM_PROPS};
use sluice_core::plugin::{BuildOutput, Output, Setup, Spec, Verdict};
use sluice_core::Chunk;

use super::datagram::{RecordSends, UdpPeer};
use super::gelf_message::{Keys, Messages, Skip, KEY_PROPS};

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

const WITH_KEYS: [Property; OWN_PROPS.len() + KEY_PROPS.len()] = join_props(OWN_PROPS, KEY_PROPS);
const PROPS: [Property; WITH_KEYS.len() + UPSTREAM_PROPS.len()] =
    join_props(&WITH_KEYS, UPSTREAM_PROPS);

pub const SPEC: Spec<BuildOutput> = Spec {
    name: "gelf",
    description: "Send records as GELF messages over UDP, TCP or TLS",
    properties: &PROPS,
    build,
};

enum Transport {
    Stream(Upstream),
    Datagram {
        peer: UdpPeer,
        packet_size: usize,
        compress: bool,
    },
}

struct Gelf {
    keys: Keys,
    transport: Transport,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    Ok(Arc::new(Gelf {
        keys: Keys::from_config(cfg),
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
                peer: UdpPeer::new(host, port),
                packet_size: packet_size as usize,
                compress: cfg.bool("compress"),
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
    /// Sends each record's message as one datagram, or as GELF chunks. A
    /// failed send stops the flush there, and a retry starts at that
    /// record (a message cut off part way is sent whole again, under a
    /// new chunk id, so a receiver never joins parts of two sends).
    async fn send_datagrams(
        &self,
        chunk: &Chunk,
        peer: &UdpPeer,
        packet_size: usize,
        compress: bool,
    ) -> Verdict {
        let socket = match peer.socket().await {
            Ok(socket) => socket,
            Err(verdict) => return verdict,
        };
        let mut skipped = Messages::default();
        let mut too_large = 0;
        let mut message = Vec::with_capacity(256);
        let mut records = RecordSends::new(chunk);
        while let Some(record) = records.next_record() {
            message.clear();
            let written = record
                .map_err(Skip::from)
                .and_then(|e| self.keys.write(&mut message, chunk.tag(), &e));
            if let Err(skip) = written {
                skipped.count(&skip);
                records.drop_current();
                continue;
            }
            let packed;
            let message = if compress {
                packed = gzip(&message);
                &packed
            } else {
                &message
            };
            let Some(datagrams) = datagrams(message, packet_size) else {
                too_large += 1;
                records.drop_current();
                continue;
            };
            for d in datagrams {
                if let Err(e) = socket.send(&d).await {
                    skipped.log_skipped(chunk.tag(), &self.keys);
                    return records.failed(format!("cannot send to {}; {e}", peer.name()));
                }
            }
        }
        skipped.log_skipped(chunk.tag(), &self.keys);
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

#[async_trait]
impl Output for Gelf {
    async fn flush(&self, chunk: &Chunk) -> Verdict {
        match &self.transport {
            Transport::Stream(upstream) => {
                let written = self.keys.messages(chunk);
                written.log_skipped(chunk.tag(), &self.keys);
                let mut payload = Vec::new();
                for m in &written.messages {
                    payload.extend_from_slice(m);
                    payload.push(0);
                }
                super::write_stream(upstream, &payload).await
            }
            Transport::Datagram {
                peer,
                packet_size,
                compress,
            } => {
                self.send_datagrams(chunk, peer, *packet_size, *compress)
                    .await
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
    use crate::outputs::testutil::{config, setup};

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

    #[tokio::test]
    async fn a_failed_send_is_retried_from_that_record_on() {
        use crate::outputs::testutil::{body, chunk};
        use sluice_core::Value;

        // The record without a short message before the failed send is
        // dropped for good; the rest is handed back.
        let port = crate::outputs::datagram::testutil::closed_udp_port();
        let cfg = config(&SPEC, &[("port", &port)]).unwrap();
        let out = (SPEC.build)(&cfg, &setup()).unwrap();
        let mut bodies = vec![body(&[("other", Value::UInt(0))])];
        bodies.extend((1..5).map(|n| body(&[("short_message", Value::Str(format!("m{n}")))])));
        let c = chunk("t", &bodies);
        let Verdict::Partial(partial) = out.flush(&c).await else {
            panic!("a send into a closed port should stop the flush part way");
        };
        assert_eq!((partial.retry_records, partial.dropped), (3, 1));
        let rest: Vec<u8> = c
            .events()
            .skip(2)
            .flat_map(|e| e.unwrap().raw.to_vec())
            .collect();
        assert_eq!(partial.retry, rest);
    }
}
