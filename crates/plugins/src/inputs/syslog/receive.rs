//! The `syslog` input's two ways of receiving: connections on a TCP or
//! Unix stream listener, each read on its own task and cut into messages
//! by [`framing`](super::framing), and one datagram socket (UDP or Unix)
//! where each datagram is a message.

use std::sync::Arc;
use std::time::Duration;

use sluice_core::net::datagram::DatagramSocket;
use sluice_core::net::listener::{Listener, ListenerConfig};
use sluice_core::net::reader::{BufferLimits, Closed, FrameReader};
use sluice_core::net::stream::Connection;
use sluice_core::plugin::{InputContext, PluginError};
use sluice_core::EventTime;

use super::framing::{cut, Cut, FrameError};
use super::messages::{MessageBatch, MessageOptions};

/// Stream modes (`tcp`, `unix_tcp`).
#[derive(Debug)]
pub(super) struct Streams {
    pub limits: BufferLimits,
    pub max_message: usize,
    pub idle: Option<Duration>,
    pub messages: Arc<MessageOptions>,
}

impl Streams {
    /// Accepts connections until the process stops.
    pub async fn serve(
        self,
        config: &ListenerConfig,
        ctx: &InputContext,
    ) -> Result<(), PluginError> {
        let listener = Listener::bind(config)
            .await
            .map_err(|e| PluginError::Other(format!("cannot listen on {}; {e}", config.bind)))?;
        let streams = Arc::new(self);
        let conn_ctx = ctx.clone();
        listener
            .serve(ctx, move |conn| {
                let ctx = conn_ctx.clone();
                let streams = Arc::clone(&streams);
                async move { streams.read_connection(conn, ctx).await }
            })
            .await;
        Ok(())
    }

    async fn read_connection(&self, conn: Connection, ctx: InputContext) {
        let peer = conn.peer;
        let mut reader = FrameReader::new(conn.stream, self.limits, self.idle);
        let mut batch = MessageBatch::new(Arc::clone(&self.messages), peer.source_address());
        loop {
            let read = reader.fill(&ctx).await;
            // TODO: take a partial last frame at shutdown too, because it
            // is dropped now (as the tcp input does); kept only at EOF.
            let eof = matches!(read, Err(Closed::Eof));
            let (used, broken) = self.frame(&mut batch, reader.data(), eof);
            reader.consume(used);
            batch.flush(&ctx);
            if let Some(err) = broken {
                ctx.metrics().errors.inc();
                tracing::warn!(input = %ctx.name(), %peer, reason = %err, "connection closed");
                return;
            }
            match read {
                Ok(_) => {}
                Err(Closed::Eof | Closed::Shutdown) => return,
                Err(reason) => {
                    tracing::warn!(input = %ctx.name(), %peer, %reason, "connection closed");
                    return;
                }
            }
        }
    }

    /// Adds every whole message at the front of `data` to `batch`;
    /// returns the bytes used and the error that stopped framing.
    fn frame(
        &self,
        batch: &mut MessageBatch,
        data: &[u8],
        eof: bool,
    ) -> (usize, Option<FrameError>) {
        let arrived = EventTime::now();
        let mut used = 0;
        loop {
            match cut(&data[used..], self.max_message, eof) {
                Cut::Message(message, n) => {
                    batch.add(message, arrived);
                    used += n;
                }
                Cut::Partial => return (used, None),
                Cut::Broken(err) => return (used, Some(err)),
            }
        }
    }
}

/// Datagram modes (`udp`, `unix_udp`).
#[derive(Debug)]
pub(super) struct Datagrams {
    pub max_datagram: usize,
    pub receive_buffer: Option<usize>,
    pub messages: Arc<MessageOptions>,
}

impl Datagrams {
    /// Receives datagrams until the process stops.
    ///
    /// A datagram cannot make its sender wait: while the input is paused
    /// datagrams are still read, so the kernel's buffer does not hide
    /// them, and dropped with a count.
    pub async fn serve(
        self,
        config: &ListenerConfig,
        ctx: &InputContext,
    ) -> Result<(), PluginError> {
        let socket = DatagramSocket::bind(config, self.receive_buffer)
            .await
            .map_err(|e| PluginError::Other(format!("cannot listen on {}; {e}", config.bind)))?;
        tracing::info!(input = %ctx.name(), address = %socket.local_addr(), "listening (datagrams)");
        // One byte more than allowed tells a cut datagram from one that
        // fits exactly.
        let mut datagram = vec![0u8; self.max_datagram + 1];
        let mut batch = MessageBatch::new(Arc::clone(&self.messages), String::new());
        let mut dropped_run: u64 = 0;
        let shutdown = ctx.shutdown().clone();
        loop {
            let received = tokio::select! {
                biased;
                _ = shutdown.wait() => return Ok(()),
                r = socket.recv(&mut datagram) => r,
            };
            let (n, peer) = match received {
                Ok(r) => r,
                Err(err) => {
                    // ICMP errors of earlier sends and the like: go on.
                    tracing::debug!(input = %ctx.name(), error = %err, "receive failed");
                    continue;
                }
            };
            if ctx.is_paused() {
                ctx.metrics().dropped.inc();
                dropped_run += 1;
                continue;
            }
            report_dropped(ctx, &mut dropped_run);
            batch.set_source(|| peer.source_address());
            self.add(ctx, &mut batch, &datagram[..n]);
            batch.flush(ctx);
        }
    }

    fn add(&self, ctx: &InputContext, batch: &mut MessageBatch, datagram: &[u8]) {
        let mut message = datagram;
        if message.len() > self.max_datagram {
            message = &message[..self.max_datagram];
            ctx.metrics().errors.inc();
            tracing::warn!(
                input = %ctx.name(),
                limit = self.max_datagram,
                "datagram longer than buffer_chunk_size; kept cut short"
            );
        }
        let end = message
            .iter()
            .rposition(|b| !matches!(b, b'\n' | b'\r' | 0))
            .map_or(0, |i| i + 1);
        batch.add(&message[..end], EventTime::now());
    }
}

fn report_dropped(ctx: &InputContext, dropped_run: &mut u64) {
    if *dropped_run > 0 {
        tracing::warn!(
            input = %ctx.name(),
            datagrams = *dropped_run,
            "datagrams dropped while the input was paused"
        );
        *dropped_run = 0;
    }
}
