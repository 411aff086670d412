//! `forward`: the Fluentd Forward protocol v1, as Fluent Bit and Fluentd
//! peers and the fluent-logger libraries speak it.
//!
//! Options: `port` (default 24224), `unix_path` (listen on a Unix socket
//! instead; `unix_perm` sets its mode), the listener options every network
//! input takes (`listen`, `net.max_connections`, `net.io_timeout`,
//! `tls.*`), `buffer_chunk_size` (buffer growth step, default 1024000),
//! `buffer_max_size` (largest frame, default 6144000; a bigger frame
//! closes the connection, the frames before it are kept), `tag` (replaces
//! every incoming tag), `tag_prefix` (put in front of incoming tags),
//! `shared_key` / `empty_shared_key` (require the secure-forward
//! handshake), `self_hostname` (default `localhost`) and `security.users`
//! (repeatable `USER PASSWORD`; needs a shared key).
//!
//! All four modes are read: Message, Forward, PackedForward and
//! CompressedPackedForward (see `frame`). A frame's `chunk` option is
//! answered with `{"ack": chunk}` only once its events are done with —
//! delivered, or dropped with a counted reason — so a client that waits
//! for acks never loses events it believes sent. A frame of the wrong
//! shape, or packed entries that are not MessagePack, is rejected
//! (counted, logged) and the connection goes on; bytes that cannot be
//! framed at all close the connection after the frames before them.
//! Inflated payloads are capped at 64 MiB. TCP heartbeats (a connection
//! opened and closed, or an empty array as older Fluentd peers send) are
//! taken silently; UDP heartbeats are not answered.

mod auth;
pub(crate) mod frame;
pub(crate) mod gzip;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sluice_core::ack::Checkpoint;
use sluice_core::config::props::join_props;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::msgpack;
use sluice_core::net::listener::{
    port_property, Listener, ListenerConfig, LISTENER_PROPS, UNIX_PROPS,
};
use sluice_core::net::reader::{BufferLimits, Closed, FrameReader};
use sluice_core::net::stream::{Connection, Peer, Stream};
use sluice_core::plugin::{BuildInput, Input, InputContext, PluginError, Setup, Spec};
use tokio::io::AsyncWriteExt;

use auth::{Auth, Helo};
use frame::{Body, Frame};

const OWN: &[Property] = &[
    port_property("24224"),
    Property::new(
        "buffer_chunk_size",
        PropKind::Size,
        Some("1024000"),
        "Bytes added to a connection's buffer at a time",
    ),
    Property::new(
        "buffer_max_size",
        PropKind::Size,
        Some("6144000"),
        "Largest frame; a bigger one closes the connection",
    ),
    Property::new(
        "tag_prefix",
        PropKind::Str,
        None,
        "Put in front of every incoming tag",
    ),
    Property::new(
        "shared_key",
        PropKind::Str,
        None,
        "Require the secure-forward handshake with this key",
    ),
    Property::new(
        "empty_shared_key",
        PropKind::Bool,
        Some("off"),
        "Require the handshake with an empty shared key",
    ),
    Property::new(
        "self_hostname",
        PropKind::Str,
        Some("localhost"),
        "Hostname sent in the handshake",
    ),
    Property::new(
        "security.users",
        PropKind::Str,
        None,
        "USER PASSWORD a client must present (needs a shared key)",
    )
    .repeatable(),
];

const WITH_UNIX: [Property; OWN.len() + UNIX_PROPS.len()] = join_props(OWN, UNIX_PROPS);
const ALL: [Property; WITH_UNIX.len() + LISTENER_PROPS.len()] =
    join_props(&WITH_UNIX, LISTENER_PROPS);

pub const SPEC: Spec<BuildInput> = Spec {
    name: "forward",
    description: "Receive events over the Fluentd Forward protocol",
    properties: &ALL,
    build,
};

/// Inflated CompressedPackedForward payloads may not grow past this.
const INFLATE_LIMIT: usize = 64 << 20;

/// How long a client has to finish the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// What every connection of one instance shares.
#[derive(Debug)]
struct Settings {
    limits: BufferLimits,
    idle: Option<Duration>,
    tag: Option<String>,
    tag_prefix: String,
    auth: Option<Auth>,
}

struct Forward {
    listener: ListenerConfig,
    settings: Arc<Settings>,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Box<dyn Input>, ConfigError> {
    let listener = ListenerConfig::from_config(cfg)?;
    let chunk = cfg.size("buffer_chunk_size").unwrap_or(1_024_000) as usize;
    let max = cfg.size("buffer_max_size").unwrap_or(6_144_000) as usize;
    let settings = Settings {
        limits: BufferLimits::new(chunk.clamp(1024, 64 << 20), max.min(1 << 30)),
        idle: listener.idle_timeout,
        tag: cfg
            .is_set("tag")
            .then(|| cfg.str("tag").unwrap_or_default().to_owned()),
        tag_prefix: cfg.str("tag_prefix").unwrap_or_default().to_owned(),
        auth: auth_config(cfg)?,
    };
    Ok(Box::new(Forward {
        listener,
        settings: Arc::new(settings),
    }))
}

fn auth_config(cfg: &PluginConfig) -> Result<Option<Auth>, ConfigError> {
    let mut users = Vec::new();
    for entry in cfg.all("security.users") {
        let mut words = entry.value.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(u), Some(p), None) => users.push((u.to_owned(), p.to_owned())),
            _ => return Err(cfg.error("security.users", "expected USER PASSWORD")),
        }
    }
    let key = match (cfg.str("shared_key"), cfg.bool("empty_shared_key")) {
        (Some(_), true) => {
            return Err(cfg.error(
                "empty_shared_key",
                "set shared_key or empty_shared_key, not both",
            ))
        }
        (Some(key), false) => Some(key.to_owned()),
        (None, true) => Some(String::new()),
        (None, false) => None,
    };
    let Some(shared_key) = key else {
        if !users.is_empty() {
            return Err(cfg.error("security.users", "needs shared_key or empty_shared_key"));
        }
        return Ok(None);
    };
    Ok(Some(Auth {
        shared_key,
        self_hostname: cfg.str("self_hostname").unwrap_or("localhost").to_owned(),
        users,
    }))
}

#[async_trait]
impl Input for Forward {
    async fn run(self: Box<Self>, ctx: InputContext) -> Result<(), PluginError> {
        let listener = Listener::bind(&self.listener).await.map_err(|e| {
            PluginError::Other(format!("cannot listen on {}; {e}", self.listener.bind))
        })?;
        let settings = self.settings;
        let conn_ctx = ctx.clone();
        listener
            .serve(&ctx, move |conn| {
                let session = Session::new(conn_ctx.clone(), Arc::clone(&settings), conn.peer);
                session.run(conn)
            })
            .await;
        Ok(())
    }
}

/// One connection's state: events waiting to be appended and acks owed.
struct Session {
    ctx: InputContext,
    settings: Arc<Settings>,
    peer: Peer,
    /// Events of consecutive frames with the same tag, appended together.
    pending: Vec<u8>,
    pending_records: usize,
    pending_tag: String,
    /// The last append of this connection.
    last: Checkpoint,
    /// Chunk ids to acknowledge once `last` is done with.
    acks: Vec<Vec<u8>>,
    /// Where the frame at the front of the buffer ends, found so far.
    scan: frame::FrameScan,
}

impl Session {
    fn new(ctx: InputContext, settings: Arc<Settings>, peer: Peer) -> Self {
        Session {
            ctx,
            settings,
            peer,
            pending: Vec::new(),
            pending_records: 0,
            pending_tag: String::new(),
            last: Checkpoint::default(),
            acks: Vec::new(),
            scan: frame::FrameScan::default(),
        }
    }

    async fn run(mut self, conn: Connection) {
        let mut reader = FrameReader::new(conn.stream, self.settings.limits, self.settings.idle);
        if let Some(auth) = self.settings.auth.clone() {
            let outcome =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&mut reader, &auth, &self.ctx))
                    .await;
            let failure = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(reason)) => Some(reason),
                Err(_) => Some("handshake timed out".to_owned()),
            };
            if let Some(reason) = failure {
                tracing::warn!(peer = %self.peer, %reason, "forward handshake failed; closed");
                return;
            }
        }
        if let Err(reason) = self.read_frames(&mut reader).await {
            tracing::warn!(peer = %self.peer, %reason, "forward connection closed");
        }
    }

    /// Reads until the peer closes or the process stops; `Err` carries why
    /// the connection had to be closed.
    async fn read_frames(&mut self, reader: &mut FrameReader<Stream>) -> Result<(), String> {
        loop {
            let read = reader.fill(&self.ctx).await;
            let framing = self.take_frames(reader).await;
            self.flush();
            self.send_acks(reader).await?;
            framing?;
            match read {
                Ok(_) => {}
                Err(Closed::Eof | Closed::Shutdown) => return Ok(()),
                Err(reason) => return Err(reason.to_string()),
            }
        }
    }

    /// Handles every whole frame in the buffer.
    async fn take_frames(&mut self, reader: &mut FrameReader<Stream>) -> Result<(), String> {
        let mut at = 0;
        let result = loop {
            let data = &reader.data()[at..];
            match self.scan.frame_len(data) {
                Ok(Some(len)) => {
                    self.frame(&data[..len]).await;
                    at += len;
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(format!("invalid messagepack, cannot frame the stream; {e}")),
            }
        };
        reader.consume(at);
        result
    }

    async fn frame(&mut self, bytes: &[u8]) {
        if bytes == [0x90] {
            // An empty array is the TCP heartbeat of older Fluentd peers.
            tracing::trace!(peer = %self.peer, "heartbeat");
            return;
        }
        let frame = match frame::parse(bytes) {
            Ok(f) => f,
            Err(e) => return self.reject_frame(&e),
        };
        self.switch_tag(&frame);
        let mark = self.pending.len();
        let counts = match frame.body {
            Body::Message { time, record } => {
                frame::write_message(&mut self.pending, time, record);
                Ok(frame::Counts {
                    events: 1,
                    rejected: 0,
                })
            }
            Body::Entries(b)
            | Body::Packed {
                bytes: b,
                gzip: false,
            } => frame::reframe(b, &mut self.pending).map_err(|e| e.to_string()),
            Body::Packed {
                bytes: b,
                gzip: true,
            } => match gzip::inflate(b, INFLATE_LIMIT).await {
                Ok(inflated) => {
                    frame::reframe(&inflated, &mut self.pending).map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            },
        };
        match counts {
            Ok(c) => self.count(&frame, c),
            Err(reason) => {
                self.pending.truncate(mark);
                self.reject_frame(&reason);
            }
        }
        if let Some(chunk) = frame.options.chunk {
            self.flush();
            self.acks.push(chunk.to_vec());
        }
    }

    fn count(&mut self, frame: &Frame<'_>, c: frame::Counts) {
        self.pending_records += c.events;
        if c.rejected > 0 {
            self.ctx.metrics().errors.add(c.rejected as u64);
            tracing::warn!(peer = %self.peer, entries = c.rejected, "forward entries of the wrong shape rejected");
        }
        if let Some(size) = frame.options.size {
            if size != (c.events + c.rejected) as u64 {
                tracing::debug!(peer = %self.peer, size, got = c.events + c.rejected, "forward size option does not match the entries");
            }
        }
    }

    fn reject_frame(&self, reason: &dyn std::fmt::Display) {
        self.ctx.metrics().errors.inc();
        tracing::warn!(peer = %self.peer, %reason, "forward frame rejected");
    }

    /// Starts a new batch when the frame's tag differs from the pending one.
    fn switch_tag(&mut self, frame: &Frame<'_>) {
        let settings = Arc::clone(&self.settings);
        let same = match &settings.tag {
            Some(tag) => *tag == self.pending_tag,
            None => {
                let p = settings.tag_prefix.as_bytes();
                let t = self.pending_tag.as_bytes();
                t.len() == p.len() + frame.tag.len() && t.starts_with(p) && t.ends_with(frame.tag)
            }
        };
        if same {
            return;
        }
        self.flush();
        self.pending_tag = match &settings.tag {
            Some(tag) => tag.clone(),
            None => format!(
                "{}{}",
                settings.tag_prefix,
                String::from_utf8_lossy(frame.tag)
            ),
        };
    }

    fn flush(&mut self) {
        if self.pending_records > 0 {
            self.last = self
                .ctx
                .append(&self.pending_tag, &self.pending, self.pending_records);
        }
        self.pending.clear();
        self.pending_records = 0;
        // One large read should not pin its memory for the connection's
        // lifetime.
        if self.pending.capacity() > 2 * self.settings.limits.chunk {
            self.pending.shrink_to(self.settings.limits.chunk);
        }
    }

    /// Waits until everything appended so far is done with, then answers
    /// every chunk id owed.
    async fn send_acks(&mut self, reader: &mut FrameReader<Stream>) -> Result<(), String> {
        if self.acks.is_empty() {
            return Ok(());
        }
        let shutdown = self.ctx.shutdown().clone();
        tokio::select! {
            biased;
            // Not acknowledged: the client sends these events again.
            _ = shutdown.wait() => return Ok(()),
            _ = self.ctx.wait_done(self.last) => {}
        }
        let mut out = Vec::with_capacity(self.acks.len() * 32);
        for chunk in self.acks.drain(..) {
            msgpack::write_map_len(&mut out, 1);
            msgpack::write_str(&mut out, "ack");
            msgpack::write_str_bytes(&mut out, &chunk);
        }
        let stream = reader.get_mut();
        stream
            .write_all(&out)
            .await
            .map_err(|e| format!("cannot send ack; {e}"))?;
        stream
            .flush()
            .await
            .map_err(|e| format!("cannot send ack; {e}"))
    }
}

/// Runs the secure-forward handshake; `Err` says why it failed.
async fn handshake(
    reader: &mut FrameReader<Stream>,
    auth: &Auth,
    ctx: &InputContext,
) -> Result<(), String> {
    let helo = Helo::new().map_err(|_| "no random source for the nonce".to_owned())?;
    let stream = reader.get_mut();
    stream
        .write_all(&helo.frame(auth))
        .await
        .map_err(|e| e.to_string())?;
    stream.flush().await.map_err(|e| e.to_string())?;
    loop {
        match frame::frame_len(reader.data()) {
            Ok(Some(len)) => {
                let (pong, verdict) = helo.answer(auth, &reader.data()[..len]);
                reader.consume(len);
                let stream = reader.get_mut();
                stream.write_all(&pong).await.map_err(|e| e.to_string())?;
                stream.flush().await.map_err(|e| e.to_string())?;
                return verdict.map_err(|e| e.to_string());
            }
            Ok(None) => {}
            Err(e) => return Err(format!("PING is not messagepack; {e}")),
        }
        reader.fill(ctx).await.map_err(|e| e.to_string())?;
    }
}
