//! `udp`: records from UDP datagrams, as JSON objects or separated text.
//!
//! Options: `port` (default 5170), `listen` (default `0.0.0.0`) and the
//! record options of `net_records` (`format`, `separator`, `chunk_size`,
//! `buffer_size`, `source_address_key`). One datagram holds one or more
//! whole records: a partial JSON object at its end is rejected, and text
//! after the last separator is a record of its own. A datagram longer
//! than `buffer_size` is cut by the kernel; what arrives is framed as
//! usual.
//!
//! UDP cannot make a sender wait. While the input is paused by
//! `Mem_Buf_Limit` datagrams are still read, so the socket buffer does
//! not hide them, and dropped; they are counted in the input's `dropped`
//! counter and reported when the input resumes.

use async_trait::async_trait;
use sluice_core::config::props::join_props;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::net::listener::{port_property, ListenerConfig};
use sluice_core::net::stream::Peer;
use sluice_core::plugin::{BuildInput, Input, InputContext, PluginError, Setup, Spec};

use super::net_records::{RecordBatch, RecordConfig, RECORD_PROPS};

const NET: &[Property] = &[
    port_property("5170"),
    Property::new(
        "listen",
        PropKind::Str,
        Some("0.0.0.0"),
        "Address to listen on",
    ),
];
const ALL: [Property; NET.len() + RECORD_PROPS.len()] = join_props(NET, RECORD_PROPS);

pub const SPEC: Spec<BuildInput> = Spec {
    name: "udp",
    description: "Receive JSON or separated text records over UDP",
    properties: &ALL,
    build,
};

struct Udp {
    listener: ListenerConfig,
    records: RecordConfig,
}

fn build(cfg: &PluginConfig, setup: &Setup) -> Result<Box<dyn Input>, ConfigError> {
    Ok(Box::new(Udp {
        listener: ListenerConfig::from_config(cfg)?,
        records: RecordConfig::from_config(cfg, setup)?,
    }))
}

#[async_trait]
impl Input for Udp {
    async fn run(self: Box<Self>, ctx: InputContext) -> Result<(), PluginError> {
        let socket = self.listener.bind_udp().await.map_err(|e| {
            PluginError::Other(format!("cannot listen on {}; {e}", self.listener.bind))
        })?;
        let addr = socket
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(address = %addr, "listening (udp)");
        let mut datagram = vec![0u8; self.records.limits.max];
        let mut dropped_run: u64 = 0;
        let mut batch = RecordBatch::new(&self.records, String::new());
        let shutdown = ctx.shutdown().clone();
        loop {
            let received = tokio::select! {
                biased;
                _ = shutdown.wait() => return Ok(()),
                r = socket.recv_from(&mut datagram) => r,
            };
            let (n, from) = match received {
                Ok(r) => r,
                Err(err) => {
                    // ICMP errors of earlier sends and the like: keep going.
                    tracing::debug!(error = %err, "udp receive failed");
                    continue;
                }
            };
            if ctx.is_paused() {
                ctx.metrics().dropped.inc();
                dropped_run += 1;
                continue;
            }
            if dropped_run > 0 {
                tracing::warn!(
                    datagrams = dropped_run,
                    "udp datagrams dropped while the input was paused"
                );
                dropped_run = 0;
            }
            batch.set_source(|| Peer::Udp(from).source_address());
            batch.frame(&ctx, &self.records.format, &datagram[..n], true);
            batch.flush(&ctx);
        }
    }
}
