//! `tcp`: records from TCP connections, as JSON objects or as separated
//! text.
//!
//! Options: `port` (default 5170), the listener options every network
//! input takes (`listen`, `net.max_connections`, `net.io_timeout`,
//! `tls.*`; see `sluice_core::net::listener`), and the record options of
//! `net_records` (`format`, `separator`, `chunk_size`, `buffer_size`,
//! `source_address_key`).
//!
//! Each connection is read on its own task. Whole records are appended
//! after every read; a partial record waits for more bytes, and is taken
//! as it is when the peer closes. A record larger than `buffer_size`
//! closes the connection with a logged reason; the records before it are
//! kept. While the input is paused by `Mem_Buf_Limit` no connection is
//! read, so senders block instead of records being dropped.

use std::sync::Arc;

use async_trait::async_trait;
use sluice_core::config::props::join_props;
use sluice_core::config::{ConfigError, PluginConfig, Property};
use sluice_core::net::listener::{port_property, Listener, ListenerConfig, LISTENER_PROPS};
use sluice_core::net::reader::{Closed, FrameReader};
use sluice_core::net::stream::Connection;
use sluice_core::plugin::{BuildInput, Input, InputContext, PluginError, Setup, Spec};

use super::net_records::{RecordBatch, RecordConfig, RECORD_PROPS};

const OWN: [Property; 1 + RECORD_PROPS.len()] = join_props(&[port_property("5170")], RECORD_PROPS);
const ALL: [Property; OWN.len() + LISTENER_PROPS.len()] = join_props(&OWN, LISTENER_PROPS);

pub const SPEC: Spec<BuildInput> = Spec {
    name: "tcp",
    description: "Receive JSON or separated text records over TCP",
    properties: &ALL,
    build,
};

struct Tcp {
    listener: ListenerConfig,
    records: Arc<RecordConfig>,
}

fn build(cfg: &PluginConfig, setup: &Setup) -> Result<Box<dyn Input>, ConfigError> {
    Ok(Box::new(Tcp {
        listener: ListenerConfig::from_config(cfg)?,
        records: Arc::new(RecordConfig::from_config(cfg, setup)?),
    }))
}

#[async_trait]
impl Input for Tcp {
    async fn run(self: Box<Self>, ctx: InputContext) -> Result<(), PluginError> {
        let listener = Listener::bind(&self.listener).await.map_err(|e| {
            PluginError::Other(format!("cannot listen on {}; {e}", self.listener.bind))
        })?;
        let records = self.records;
        let idle = self.listener.idle_timeout;
        let conn_ctx = ctx.clone();
        listener
            .serve(&ctx, move |conn| {
                let ctx = conn_ctx.clone();
                let records = Arc::clone(&records);
                async move { read_connection(conn, ctx, records, idle).await }
            })
            .await;
        Ok(())
    }
}

async fn read_connection(
    conn: Connection,
    ctx: InputContext,
    records: Arc<RecordConfig>,
    idle: Option<std::time::Duration>,
) {
    let peer = conn.peer;
    let mut reader = FrameReader::new(conn.stream, records.limits, idle);
    let mut batch = RecordBatch::new(&records, peer.source_address());
    loop {
        let read = reader.fill(&ctx).await;
        let eof = matches!(read, Err(Closed::Eof));
        let used = batch.frame(&ctx, &records.format, reader.data(), eof);
        reader.consume(used);
        batch.flush(&ctx);
        match read {
            Ok(_) => {}
            Err(Closed::Eof | Closed::Shutdown) => return,
            Err(reason) => {
                tracing::warn!(%peer, %reason, "connection closed");
                return;
            }
        }
    }
}
