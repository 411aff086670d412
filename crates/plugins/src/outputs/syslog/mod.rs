//! `syslog`: sends each record as a syslog message over UDP, TCP or TLS.
//!
//! Options: `host` (127.0.0.1), `port` (514), `mode` (`udp` default,
//! `tcp` or `tls`), `syslog_format` (`rfc5424` default or `rfc3164`),
//! `syslog_maxsize` (bytes per message; default 2048 for rfc5424, 1024
//! for rfc3164), and for each header field a record key and a preset
//! used when the record lacks it: `syslog_severity_key` /
//! `syslog_severity_preset` (6), `syslog_facility_key` /
//! `syslog_facility_preset` (1), `syslog_hostname_key` / `_preset`,
//! `syslog_appname_key` / `_preset`, `syslog_procid_key` / `_preset`,
//! `syslog_msgid_key` / `_preset`; `syslog_sd_key` (repeatable: maps
//! written as structured data) and `syslog_message_key` (the message;
//! without it the message is empty). `net.*`/`tls.*` as `net::upstream`.
//!
//! Over TCP and TLS every message is octet-counted (`LEN SP MSG`, RFC
//! 6587), which keeps messages holding newlines whole; over UDP each
//! message is one datagram. Over a stream a chunk is one write, and a
//! failed connect or write retries it; over UDP a failed send retries the
//! chunk from the message that failed, so no datagram is sent twice.

mod message;

use std::io::Write;
use std::sync::Arc;

use async_trait::async_trait;
use sluice_core::config::props::join_props;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::net::tls_client::required_client_config;
use sluice_core::net::upstream::{Upstream, UPSTREAM_PROPS};
use sluice_core::plugin::{BuildOutput, Output, Setup, Spec, Verdict};
use sluice_core::Chunk;

use super::datagram::{RecordSends, UdpPeer};
use message::{Composer, Field, Layout};

const fn field_props(
    key: &'static str,
    preset: &'static str,
    default: Option<&'static str>,
) -> [Property; 2] {
    [
        Property::new(key, PropKind::Str, None, "Record key of this header field"),
        Property::new(
            preset,
            PropKind::Str,
            default,
            "Value when the record lacks the key",
        ),
    ]
}

const BASE_PROPS: &[Property] = &[
    Property::new("host", PropKind::Str, Some("127.0.0.1"), "Server host"),
    Property::new("port", PropKind::Int, Some("514"), "Server port"),
    Property::new(
        "mode",
        PropKind::Str,
        Some("udp"),
        "Transport: udp, tcp or tls",
    ),
    Property::new(
        "syslog_format",
        PropKind::Str,
        Some("rfc5424"),
        "Message format: rfc5424 or rfc3164",
    ),
    Property::new(
        "syslog_maxsize",
        PropKind::Int,
        None,
        "Most bytes per message (default 2048 rfc5424, 1024 rfc3164)",
    ),
    Property::new(
        "syslog_message_key",
        PropKind::Str,
        None,
        "Record key of the message",
    ),
    Property::new(
        "syslog_sd_key",
        PropKind::Str,
        None,
        "Record key of a map sent as structured data (repeatable)",
    )
    .repeatable(),
];

const SEVERITY: [Property; 2] =
    field_props("syslog_severity_key", "syslog_severity_preset", Some("6"));
const FACILITY: [Property; 2] =
    field_props("syslog_facility_key", "syslog_facility_preset", Some("1"));
const HOSTNAME: [Property; 2] = field_props("syslog_hostname_key", "syslog_hostname_preset", None);
const APPNAME: [Property; 2] = field_props("syslog_appname_key", "syslog_appname_preset", None);
const PROCID: [Property; 2] = field_props("syslog_procid_key", "syslog_procid_preset", None);
const MSGID: [Property; 2] = field_props("syslog_msgid_key", "syslog_msgid_preset", None);

const P1: [Property; BASE_PROPS.len() + 2] = join_props(BASE_PROPS, &SEVERITY);
const P2: [Property; P1.len() + 2] = join_props(&P1, &FACILITY);
const P3: [Property; P2.len() + 2] = join_props(&P2, &HOSTNAME);
const P4: [Property; P3.len() + 2] = join_props(&P3, &APPNAME);
const P5: [Property; P4.len() + 2] = join_props(&P4, &PROCID);
const P6: [Property; P5.len() + 2] = join_props(&P5, &MSGID);
const PROPS: [Property; P6.len() + UPSTREAM_PROPS.len()] = join_props(&P6, UPSTREAM_PROPS);

pub const SPEC: Spec<BuildOutput> = Spec {
    name: "syslog",
    description: "Send records as syslog messages over UDP, TCP or TLS",
    properties: &PROPS,
    build,
};

enum Transport {
    Stream(Upstream),
    Datagram(UdpPeer),
}

struct Syslog {
    composer: Composer,
    transport: Transport,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    let layout = match cfg.str("syslog_format").unwrap_or("rfc5424").trim() {
        f if f.eq_ignore_ascii_case("rfc5424") => Layout::Rfc5424,
        f if f.eq_ignore_ascii_case("rfc3164") => Layout::Rfc3164,
        other => {
            return Err(cfg.error(
                "syslog_format",
                format!("unknown format '{other}'; use rfc5424 or rfc3164"),
            ))
        }
    };
    let default_size = if layout == Layout::Rfc5424 {
        2048
    } else {
        1024
    };
    let max_size = match cfg.int("syslog_maxsize") {
        None => default_size,
        Some(n) if n > 0 => n as usize,
        Some(_) => return Err(cfg.error("syslog_maxsize", "must be at least 1")),
    };
    Ok(Arc::new(Syslog {
        composer: composer(cfg, layout, max_size),
        transport: transport(cfg)?,
    }))
}

fn composer(cfg: &PluginConfig, layout: Layout, max_size: usize) -> Composer {
    let text = |key: &str| cfg.str(key).filter(|v| !v.is_empty()).map(str::to_owned);
    let field = |name: &str| Field {
        key: text(&format!("syslog_{name}_key")),
        preset: text(&format!("syslog_{name}_preset")),
    };
    Composer {
        layout,
        max_size,
        severity: field("severity"),
        facility: field("facility"),
        hostname: field("hostname"),
        appname: field("appname"),
        procid: field("procid"),
        msgid: field("msgid"),
        message_key: text("syslog_message_key"),
        sd_keys: cfg
            .all("syslog_sd_key")
            .iter()
            .map(|e| e.value.trim().to_owned())
            .collect(),
    }
}

fn transport(cfg: &PluginConfig) -> Result<Transport, ConfigError> {
    let mode = cfg.str("mode").unwrap_or("udp").trim().to_ascii_lowercase();
    match mode.as_str() {
        "udp" => {
            let target = super::target(cfg)?;
            let sluice_core::net::upstream::Target::Net { host, port } = target else {
                return Err(cfg.error("mode", "udp needs host and port"));
            };
            Ok(Transport::Datagram(UdpPeer::new(host, port)))
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

impl Syslog {
    /// The chunk's messages for a stream, octet-counted and concatenated;
    /// records that are not maps are counted and left out.
    fn stream_messages(&self, chunk: &Chunk) -> (Vec<u8>, usize) {
        let mut out = Vec::with_capacity(chunk.size() + chunk.records() * 8);
        let mut malformed = 0;
        let mut one = Vec::with_capacity(512);
        for event in chunk.events() {
            one.clear();
            if event
                .and_then(|e| self.composer.write(&mut one, &e))
                .is_err()
            {
                malformed += 1;
                continue;
            }
            write!(out, "{} ", one.len()).expect("writing to a Vec cannot fail");
            out.extend_from_slice(&one);
        }
        (out, malformed)
    }

    /// Sends each message as one datagram. A failed send stops the flush
    /// there, and a retry starts at that message.
    async fn send_datagrams(&self, chunk: &Chunk, peer: &UdpPeer) -> Verdict {
        let socket = match peer.socket().await {
            Ok(socket) => socket,
            Err(verdict) => return verdict,
        };
        let mut malformed = 0;
        let mut message = Vec::with_capacity(512);
        let mut records = RecordSends::new(chunk);
        while let Some(record) = records.next_record() {
            message.clear();
            if record
                .and_then(|e| self.composer.write(&mut message, &e))
                .is_err()
            {
                malformed += 1;
                records.drop_current();
            } else if let Err(e) = socket.send(&message).await {
                return records.failed(format!("cannot send to {}; {e}", peer.name()));
            }
        }
        warn_malformed(chunk, malformed);
        Verdict::Ok
    }
}

fn warn_malformed(chunk: &Chunk, malformed: usize) {
    if malformed > 0 {
        tracing::warn!(
            tag = chunk.tag(),
            malformed,
            "records that are not maps dropped"
        );
    }
}

#[async_trait]
impl Output for Syslog {
    async fn flush(&self, chunk: &Chunk) -> Verdict {
        match &self.transport {
            Transport::Stream(upstream) => {
                let (messages, malformed) = self.stream_messages(chunk);
                warn_malformed(chunk, malformed);
                super::write_stream(upstream, &messages).await
            }
            Transport::Datagram(peer) => self.send_datagrams(chunk, peer).await,
        }
    }

    fn connections(&self) -> Option<(u64, u64)> {
        match &self.transport {
            Transport::Stream(upstream) => super::connection_counts([upstream]),
            Transport::Datagram(_) => None,
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
    fn bad_keys_are_config_errors() {
        for (k, v) in [
            ("mode", "http"),
            ("syslog_format", "rfc1"),
            ("syslog_maxsize", "0"),
        ] {
            let cfg = config(&SPEC, &[(k, v)]).unwrap();
            let err = (SPEC.build)(&cfg, &setup()).err().unwrap().to_string();
            assert!(err.contains(k), "{err}");
        }
        let cfg = config(&SPEC, &[("mode", "tcp")]).unwrap();
        assert!((SPEC.build)(&cfg, &setup()).is_ok());
    }

    #[tokio::test]
    async fn a_failed_datagram_is_retried_from_that_message_on() {
        use crate::outputs::testutil::{body, chunk};
        use sluice_core::event::Events;
        use sluice_core::Value;

        let port = crate::outputs::datagram::testutil::closed_udp_port();
        let cfg = config(&SPEC, &[("port", &port), ("syslog_message_key", "m")]).unwrap();
        let out = (SPEC.build)(&cfg, &setup()).unwrap();
        let bodies: Vec<_> = (0..4)
            .map(|n| body(&[("m", Value::Str(format!("message {n}")))]))
            .collect();
        let c = chunk("t", &bodies);
        let Verdict::Partial(partial) = out.flush(&c).await else {
            panic!("a send into a closed port should stop the flush part way");
        };
        assert_eq!((partial.retry_records, partial.dropped), (3, 0));
        assert_eq!(
            partial.retry,
            Events::new(c.data())
                .skip(1)
                .fold(Vec::new(), |mut all, e| {
                    all.extend_from_slice(e.unwrap().raw);
                    all
                })
        );
    }
}
