//! `forward`: sends chunks to a Fluentd, Fluent Bit or sluice over the
//! Forward protocol.
//!
//! Options: `host` (127.0.0.1), `port` (24224), `unix_path` (connect to a
//! Unix socket instead), `tag` (send under this tag instead of the
//! chunk's), `time_as_integer` (off: EventTime with nanoseconds; on:
//! whole seconds, for Fluentd v0.12), `send_options` (off: always send
//! `{"size": n}`), `require_ack_response` (off: a chunk is delivered once
//! written; on: only when the server's ack for its chunk id arrives, and
//! no ack within `ack_timeout`, 30s, means Retry), `compress` (`gzip`:
//! CompressedPackedForward), `retain_metadata_in_forward_mode` (off: each
//! entry is sent as `[time, record]`, which every Fluentd reads; on: the
//! chunk's `[[time, metadata], record]` bytes go out as they are),
//! `shared_key`, `empty_shared_key`, `self_hostname` (localhost),
//! `username`, `password` (the secure-forward handshake, run once per
//! new connection), `upstream` (a file of nodes, see `nodes`: flushes
//! start at the next node in turn and fail over to the others; a node
//! may set its own `tls.*`, handshake, framing and ack keys),
//! `workers` (2), and the `net.*`/`tls.*` keys of `net::upstream`.
//!
//! Without `require_ack_response`, a chunk written to a connection the
//! server then drops is lost, as in Fluent Bit; with it, a chunk is
//! retried until acked, so the server may see it twice.

mod exchange;
mod frame;
mod nodes;

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sluice_core::buffers;
use sluice_core::config::props::join_props;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::net::upstream::{Connection, Upstream, UpstreamConfig, UPSTREAM_PROPS};
use sluice_core::plugin::{BuildOutput, Output, Setup, Spec, Verdict};
use sluice_core::Chunk;

use exchange::{handshake, random_hex, wait_ack, Credentials, ExchangeError};
use frame::{entries, Frame, FrameOptions};

const OWN_PROPS: &[Property] = &[
    Property::new("host", PropKind::Str, Some("127.0.0.1"), "Server host"),
    Property::new("port", PropKind::Int, Some("24224"), "Server port"),
    Property::new(
        "unix_path",
        PropKind::Str,
        None,
        "Connect to this Unix socket instead of host/port",
    ),
    Property::new("tag", PropKind::Str, None, "Send under this tag"),
    Property::new(
        "time_as_integer",
        PropKind::Bool,
        Some("off"),
        "Send times as whole seconds (Fluentd v0.12)",
    ),
    Property::new(
        "send_options",
        PropKind::Bool,
        Some("off"),
        "Always send the options map with the event count",
    ),
    Property::new(
        "require_ack_response",
        PropKind::Bool,
        Some("off"),
        "Count a chunk delivered only when the server acks it",
    ),
    Property::new(
        "ack_timeout",
        PropKind::Time,
        Some("30s"),
        "With require_ack_response: retry a chunk not acked within this",
    ),
    Property::new(
        "compress",
        PropKind::Str,
        None,
        "gzip: send CompressedPackedForward",
    ),
    Property::new(
        "retain_metadata_in_forward_mode",
        PropKind::Bool,
        Some("off"),
        "Send each event's metadata too",
    ),
    Property::new(
        "shared_key",
        PropKind::Str,
        None,
        "Key of the secure-forward handshake",
    ),
    Property::new(
        "empty_shared_key",
        PropKind::Bool,
        Some("off"),
        "Run the handshake with an empty shared key",
    ),
    Property::new(
        "self_hostname",
        PropKind::Str,
        Some("localhost"),
        "Host name sent in the handshake",
    ),
    Property::new("username", PropKind::Str, None, "Handshake user name"),
    Property::new("password", PropKind::Str, None, "Handshake password"),
    Property::new(
        "fluentd_compat",
        PropKind::Bool,
        Some("off"),
        "Accepted for compatibility; only logs are sent",
    ),
    Property::new(
        "upstream",
        PropKind::Str,
        None,
        "Upstream file: nodes to balance over, failing over on errors",
    ),
    Property::new(
        "workers",
        PropKind::Int,
        Some("2"),
        "Flushes of this output that may run at once",
    ),
];

const PROPS: [Property; OWN_PROPS.len() + UPSTREAM_PROPS.len()] =
    join_props(OWN_PROPS, UPSTREAM_PROPS);

pub const SPEC: Spec<BuildOutput> = Spec {
    name: "forward",
    description: "Send records over the Forward protocol",
    properties: &PROPS,
    build,
};

/// One destination: the output's `host`/`port`, or a node of its
/// `upstream` file, with the settings that apply to it.
struct Node {
    /// The `name` of an upstream file's node, for log lines.
    name: Option<String>,
    upstream: Upstream,
    /// `Some` when the handshake is on for this node.
    credentials: Option<Credentials>,
    sending: Sending,
}

/// How chunks are framed and confirmed for one node.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sending {
    frames: FrameOptions,
    /// `Some` with require_ack_response.
    ack_timeout: Option<Duration>,
}

struct Forward {
    /// The `host`/`port`, or the nodes of an `upstream` file.
    nodes: Vec<Node>,
    /// The node the next flush starts with (round robin).
    next: AtomicUsize,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    Ok(Arc::new(Forward {
        nodes: nodes(cfg)?,
        next: AtomicUsize::new(0),
    }))
}

/// The framing and ack keys of the output, or of a node laid over it.
fn sending(cfg: &PluginConfig) -> Result<Sending, ConfigError> {
    let gzip = match cfg.str("compress").map(str::trim) {
        None | Some("") => false,
        Some(c) if c.eq_ignore_ascii_case("gzip") => true,
        Some(other) => {
            return Err(cfg.error(
                "compress",
                format!("unknown compression '{other}'; use gzip"),
            ))
        }
    };
    Ok(Sending {
        frames: FrameOptions {
            tag: cfg.str("tag").filter(|t| !t.is_empty()).map(str::to_owned),
            time_as_integer: cfg.bool("time_as_integer"),
            retain_metadata: cfg.bool("retain_metadata_in_forward_mode"),
            send_options: cfg.bool("send_options"),
            gzip,
        },
        ack_timeout: cfg
            .bool("require_ack_response")
            .then(|| cfg.time("ack_timeout").unwrap_or(Duration::from_secs(30))),
    })
}

/// The output's own target, or the nodes of its `upstream` file, each
/// with the output's settings and its own laid over them.
///
/// # Errors
///
/// A bad target or `tls.*` setting of the output, an upstream file that
/// cannot be read, or a node setting that cannot be used (naming the
/// upstream file, line and key).
fn nodes(cfg: &PluginConfig) -> Result<Vec<Node>, ConfigError> {
    let Some(path) = cfg.str("upstream").filter(|p| !p.trim().is_empty()) else {
        return Ok(vec![Node {
            name: None,
            upstream: super::upstream(cfg)?,
            credentials: credentials(cfg),
            sending: sending(cfg)?,
        }]);
    };
    let nodes = nodes::read(std::path::Path::new(path.trim()))
        .map_err(|e| cfg.error("upstream", e.to_string()))?;
    nodes
        .into_iter()
        .map(|node| {
            let own = cfg.with_entries(&node.settings)?;
            Ok(Node {
                name: node.name,
                upstream: Upstream::new(UpstreamConfig::from_config(&own, node.target)?),
                credentials: credentials(&own),
                sending: sending(&own)?,
            })
        })
        .collect()
}

fn credentials(cfg: &PluginConfig) -> Option<Credentials> {
    let key = match cfg.str("shared_key") {
        Some(key) => key.to_owned(),
        None if cfg.bool("empty_shared_key") => String::new(),
        None => return None,
    };
    Some(Credentials {
        shared_key: key,
        self_hostname: cfg.str("self_hostname").unwrap_or("localhost").to_owned(),
        username: cfg.str("username").unwrap_or_default().to_owned(),
        password: cfg.str("password").unwrap_or_default().to_owned(),
    })
}

/// A chunk framed for the nodes with one [`Sending`].
struct Framed<'a> {
    sending: &'a Sending,
    frame: Frame<'a>,
    /// The id the ack must carry, with require_ack_response.
    chunk_id: Option<String>,
}

/// Hands a copied or compressed frame body back for reuse.
fn recycle(framed: Option<Framed<'_>>) {
    if let Some(Framed {
        frame: Frame {
            entries: Cow::Owned(entries),
            ..
        },
        ..
    }) = framed
    {
        buffers::give(entries);
    }
}

/// Frames `chunk` as `sending` asks.
async fn frame_chunk<'a>(chunk: &'a Chunk, sending: &'a Sending) -> Result<Framed<'a>, Verdict> {
    let chunk_id = sending.ack_timeout.map(|_| random_hex());
    let mut entries = entries(chunk, &sending.frames);
    if sending.frames.gzip {
        let owned = entries.into_owned();
        entries = match tokio::task::spawn_blocking(move || owned.gzipped()).await {
            Ok(packed) => packed,
            Err(e) => return Err(Verdict::Retry(format!("compression failed; {e}"))),
        };
    }
    let frame = frame::build(chunk.tag(), entries, &sending.frames, chunk_id.as_deref());
    Ok(Framed {
        sending,
        frame,
        chunk_id,
    })
}

#[async_trait]
impl Output for Forward {
    /// Sends the chunk to the nodes in turn, starting with the next in
    /// round-robin order, until one takes it. The frame is built once and
    /// built again only for a node that frames or confirms differently.
    async fn flush(&self, chunk: &Chunk) -> Verdict {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut built: Option<Framed<'_>> = None;
        let mut last = None;
        for i in 0..self.nodes.len() {
            let node = &self.nodes[(start + i) % self.nodes.len()];
            let framed = match built.take() {
                Some(f) if *f.sending == node.sending => built.insert(f),
                stale => {
                    recycle(stale);
                    let f = match frame_chunk(chunk, &node.sending).await {
                        Ok(f) => f,
                        Err(verdict) => return verdict,
                    };
                    if f.frame.skipped > 0 && i == 0 {
                        tracing::warn!(
                            tag = chunk.tag(),
                            skipped = f.frame.skipped,
                            "malformed events skipped; the rest of the chunk was sent"
                        );
                    }
                    built.insert(f)
                }
            };
            if framed.frame.events == 0 {
                return Verdict::Ok;
            }
            match deliver_to(node, framed).await {
                Ok(()) => {
                    recycle(built.take());
                    return Verdict::Ok;
                }
                Err(e) => {
                    if self.nodes.len() > 1 {
                        tracing::debug!(
                            node = node.name.as_deref().unwrap_or_default(),
                            target = %node.upstream.config().target,
                            error = %e,
                            "node failed; trying the next"
                        );
                    }
                    last = Some(e);
                }
            }
        }
        recycle(built);
        Verdict::Retry(last.unwrap_or(ExchangeError::Closed).to_string())
    }

    fn connections(&self) -> Option<(u64, u64)> {
        super::connection_counts(self.nodes.iter().map(|n| &n.upstream))
    }

    async fn shutdown(&self) {
        for node in &self.nodes {
            node.upstream.close_idle().await;
        }
    }
}

/// Sends the frame to one node; a pooled connection that fails is
/// replaced once, since a server may close an idle one at any moment.
async fn deliver_to(node: &Node, framed: &Framed<'_>) -> Result<(), ExchangeError> {
    let mut first = true;
    loop {
        let mut conn = node.upstream.connection().await?;
        let reused = conn.is_reused();
        match send(&mut conn, node.credentials.as_ref(), framed).await {
            Err(ExchangeError::Upstream(e)) if reused && first => {
                tracing::debug!(error = %e, "pooled connection failed; trying a new one");
                first = false;
            }
            Err(ExchangeError::Closed) if reused && first => first = false,
            other => return other,
        }
    }
}

async fn send(
    conn: &mut Connection,
    credentials: Option<&Credentials>,
    framed: &Framed<'_>,
) -> Result<(), ExchangeError> {
    if let (false, Some(creds)) = (conn.is_reused(), credentials) {
        if let Err(e) = handshake(conn, creds).await {
            conn.mark_broken();
            return Err(e);
        }
    }
    let frame = &framed.frame;
    conn.write_all(&frame.head).await?;
    conn.write_all(&frame.entries).await?;
    conn.write_all(&frame.tail).await?;
    if let (Some(id), Some(timeout)) = (&framed.chunk_id, framed.sending.ack_timeout) {
        wait_ack(conn, id, timeout).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::testutil::{config, setup};

    #[test]
    fn bad_keys_are_config_errors() {
        let cfg = config(&SPEC, &[("compress", "zstd")]).unwrap();
        let err = (SPEC.build)(&cfg, &setup()).err().unwrap().to_string();
        assert!(err.contains("unknown compression 'zstd'"), "{err}");
        let cfg = config(&SPEC, &[("port", "70000")]).unwrap();
        assert!((SPEC.build)(&cfg, &setup()).is_err());
        let cfg = config(&SPEC, &[]).unwrap();
        assert!((SPEC.build)(&cfg, &setup()).is_ok());
    }
}
