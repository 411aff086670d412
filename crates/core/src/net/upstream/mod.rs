//! The upstream: an output's pool of connections to its destination.
//!
//! An output builds one [`Upstream`] from its section and, in each flush,
//! asks [`Upstream::connection`] for a connection ready to write: name
//! resolved (with `tokio::net::lookup_host`, never on a reactor thread),
//! connected within `net.connect_timeout`, TLS handshake done. Dropping
//! the [`Connection`] puts it back in the pool for the next flush, unless
//! the flush marked it broken, keep-alive is off, or it has served
//! `net.keepalive_max_recycle` flushes; then it is closed.
//!
//! Keys ([`UPSTREAM_PROPS`], besides each plugin's `host` and `port`):
//! `net.connect_timeout` (10s), `net.io_timeout` (0: none; a read or write
//! that makes no progress for this long fails), `net.keepalive` (on),
//! `net.keepalive_idle_timeout` (30s: an idle connection older than this
//! is closed instead of reused), `net.keepalive_max_recycle` (2000),
//! `net.max_worker_connections` (0: no limit; more flushes wait for a
//! connection), `net.source_address` (local IP to connect from), and the
//! client `tls.*` keys of [`super::tls`] and [`super::tls_client`].
//!
//! A pooled connection the server closed is found when it is taken out
//! (a read that would not block tells it apart from one that says
//! end-of-stream) and replaced by a new one, so a server's keep-alive
//! timeout never fails a flush.

use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::tls::TLS_PROPS;
use super::tls_client::{client_config, ClientTls, TLS_CLIENT_PROPS};
use crate::config::props::join_props;
use crate::config::{ConfigError, PluginConfig, PropKind, Property};

mod connect;
mod connection;

pub use crate::net::stream::ClientStream;
pub use connection::Connection;

use connect::{connect, still_open};

const NET_PROPS: &[Property] = &[
    Property::new(
        "net.connect_timeout",
        PropKind::Time,
        Some("10s"),
        "Give up a connection attempt after this long",
    ),
    Property::new(
        "net.io_timeout",
        PropKind::Time,
        Some("0"),
        "Fail a read or write that makes no progress for this long (0: never)",
    ),
    Property::new(
        "net.keepalive",
        PropKind::Bool,
        Some("on"),
        "Keep connections open between flushes",
    ),
    Property::new(
        "net.keepalive_idle_timeout",
        PropKind::Time,
        Some("30s"),
        "Close a pooled connection idle for this long",
    ),
    Property::new(
        "net.keepalive_max_recycle",
        PropKind::Int,
        Some("2000"),
        "Close a connection after it has served this many flushes",
    ),
    Property::new(
        "net.max_worker_connections",
        PropKind::Int,
        Some("0"),
        "Most connections open at once (0: no limit)",
    ),
    Property::new(
        "net.source_address",
        PropKind::Str,
        None,
        "Local IP address to connect from",
    ),
    Property::new(
        "net.dns.mode",
        PropKind::Str,
        None,
        "Accepted for compatibility; names are resolved by the system",
    ),
];

const NET_TLS: [Property; NET_PROPS.len() + TLS_PROPS.len()] = join_props(NET_PROPS, TLS_PROPS);
const ALL_PROPS: [Property; NET_TLS.len() + TLS_CLIENT_PROPS.len()] =
    join_props(&NET_TLS, TLS_CLIENT_PROPS);

/// The properties every network output takes (plus its `host`/`port`).
pub const UPSTREAM_PROPS: &[Property] = &ALL_PROPS;

/// Why no connection could be had, or a read or write failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The name did not resolve, or to no address.
    #[error("cannot resolve {host}; {reason}")]
    Resolve { host: String, reason: String },
    /// No address accepted a connection.
    #[error("cannot connect to {target}; {source}")]
    Connect { target: String, source: io::Error },
    /// Resolving and connecting took longer than `net.connect_timeout`.
    #[error("connecting to {target} timed out after {after:?}")]
    ConnectTimeout { target: String, after: Duration },
    /// The TLS handshake failed.
    #[error("tls handshake with {target} failed; {source}")]
    Tls { target: String, source: io::Error },
    /// A read or write failed or made no progress within `net.io_timeout`.
    #[error("i/o with {target} failed; {source}")]
    Io { target: String, source: io::Error },
}

/// Where an upstream connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Net { host: String, port: u16 },
    Unix(std::path::PathBuf),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Net { host, port } => write!(f, "{host}:{port}"),
            Target::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A checked upstream configuration.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub target: Target,
    pub connect_timeout: Duration,
    pub io_timeout: Option<Duration>,
    pub keepalive: bool,
    pub idle_timeout: Duration,
    pub max_recycle: u32,
    pub max_connections: Option<usize>,
    pub source_address: Option<IpAddr>,
    pub tls: Option<ClientTls>,
}

impl UpstreamConfig {
    /// Reads the `net.*` and `tls.*` keys of an output that connects to
    /// `target`.
    ///
    /// # Errors
    ///
    /// A `net.source_address` that is not an IP address, negative limits,
    /// or TLS settings that cannot be used; each names its key.
    pub fn from_config(cfg: &PluginConfig, target: Target) -> Result<Self, ConfigError> {
        let source_address = match cfg.str("net.source_address").filter(|s| !s.is_empty()) {
            Some(text) => Some(text.trim().parse().map_err(|_| {
                cfg.error(
                    "net.source_address",
                    format!("'{text}' is not an IP address"),
                )
            })?),
            None => None,
        };
        let max_recycle = cfg.int("net.keepalive_max_recycle").unwrap_or(2000);
        let max_connections = cfg.int("net.max_worker_connections").unwrap_or(0);
        if max_connections < 0 {
            return Err(cfg.error("net.max_worker_connections", "must be 0 or more"));
        }
        let host = match &target {
            Target::Net { host, .. } => host.clone(),
            Target::Unix(_) => "localhost".to_owned(),
        };
        Ok(UpstreamConfig {
            connect_timeout: cfg
                .time("net.connect_timeout")
                .unwrap_or(Duration::from_secs(10)),
            io_timeout: cfg.time("net.io_timeout").filter(|d| !d.is_zero()),
            keepalive: cfg.bool("net.keepalive"),
            idle_timeout: cfg
                .time("net.keepalive_idle_timeout")
                .unwrap_or(Duration::from_secs(30)),
            max_recycle: u32::try_from(max_recycle.max(1)).unwrap_or(u32::MAX),
            max_connections: (max_connections > 0).then_some(max_connections as usize),
            source_address,
            tls: client_config(cfg, &host)?,
            target,
        })
    }
}

/// A connection resting in the pool.
pub(super) struct Idle {
    pub stream: ClientStream,
    pub since: Instant,
    pub served: u32,
}

/// How many connections an upstream holds open, and how many of them a
/// flush is using; read for the `fluentbit_output_upstream_*` gauges.
#[derive(Debug, Default)]
pub struct ConnectionCounts {
    pub(super) open: AtomicU64,
    pub(super) busy: AtomicU64,
}

impl ConnectionCounts {
    /// `(open, busy)` right now.
    pub fn get(&self) -> (u64, u64) {
        (
            self.open.load(Ordering::Relaxed),
            self.busy.load(Ordering::Relaxed),
        )
    }

    pub(super) fn closed(&self, n: u64) {
        self.open.fetch_sub(n, Ordering::Relaxed);
    }
}

/// An output's connections to one destination.
pub struct Upstream {
    config: Arc<UpstreamConfig>,
    idle: Arc<Mutex<Vec<Idle>>>,
    limit: Option<Arc<Semaphore>>,
    counts: Arc<ConnectionCounts>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("target", &self.config.target)
            .finish()
    }
}

impl Upstream {
    pub fn new(config: UpstreamConfig) -> Self {
        Upstream {
            limit: config.max_connections.map(|n| Arc::new(Semaphore::new(n))),
            config: Arc::new(config),
            idle: Arc::default(),
            counts: Arc::default(),
        }
    }

    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    /// The connections open and in use.
    pub fn counts(&self) -> &ConnectionCounts {
        &self.counts
    }

    /// A connection ready to write: a pooled one that is still open, or
    /// a new one. Waits while `net.max_worker_connections` are in use.
    ///
    /// # Errors
    ///
    /// The name does not resolve, no address accepts a connection within
    /// `net.connect_timeout`, or the TLS handshake fails.
    pub async fn connection(&self) -> Result<Connection, UpstreamError> {
        let permit = match &self.limit {
            // The semaphore is never closed, so acquiring cannot fail.
            Some(limit) => limit.clone().acquire_owned().await.ok(),
            None => None,
        };
        while let Some(idle) = self.take_idle() {
            let mut stream = idle.stream;
            if still_open(&mut stream).await {
                return Ok(self.wrap(stream, idle.served, true, permit));
            }
            self.counts.closed(1);
            tracing::debug!(target = %self.config.target, "pooled connection was closed by the server");
        }
        let stream = connect(&self.config).await?;
        self.counts.open.fetch_add(1, Ordering::Relaxed);
        Ok(self.wrap(stream, 0, false, permit))
    }

    /// Closes every pooled connection, all at once: TLS close_notify and
    /// FIN, then what the server still sends is read and dropped until it
    /// closes too (at most a second, for all of them together). Closing
    /// with unread bytes would make the kernel reset the connection, and a
    /// reset makes the server throw away what it had received but not yet
    /// read.
    pub async fn close_idle(&self) {
        let idle: Vec<Idle> = {
            let mut pool = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            pool.drain(..).collect()
        };
        let mut closing = tokio::task::JoinSet::new();
        for mut conn in idle {
            closing.spawn(async move {
                let drain = async {
                    let _ = conn.stream.shutdown().await;
                    let mut sink = [0u8; 4096];
                    while matches!(conn.stream.read(&mut sink).await, Ok(n) if n > 0) {}
                };
                let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
            });
        }
        while closing.join_next().await.is_some() {
            self.counts.closed(1);
        }
    }

    fn take_idle(&self) -> Option<Idle> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let timeout = self.config.idle_timeout;
        let before = idle.len();
        idle.retain(|c| c.since.elapsed() < timeout);
        self.counts.closed((before - idle.len()) as u64);
        idle.pop()
    }

    fn wrap(
        &self,
        stream: ClientStream,
        served: u32,
        reused: bool,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Connection {
        self.counts.busy.fetch_add(1, Ordering::Relaxed);
        Connection {
            stream: Some(stream),
            config: self.config.clone(),
            pool: self.idle.clone(),
            counts: self.counts.clone(),
            served,
            reused,
            broken: false,
            _permit: permit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Origin, Section, SectionKind};
    use tokio::net::TcpListener;

    fn config(pairs: &[(&str, &str)], port: u16) -> UpstreamConfig {
        let mut s = Section::new(SectionKind::Output, Origin::new("t.conf", 1));
        for (i, (k, v)) in pairs.iter().enumerate() {
            s.push(*k, *v, Origin::new("t.conf", i + 2));
        }
        let cfg = PluginConfig::new(&s, "t", "t.0".into(), &[UPSTREAM_PROPS]).unwrap();
        let target = Target::Net {
            host: "127.0.0.1".into(),
            port,
        };
        UpstreamConfig::from_config(&cfg, target).unwrap()
    }

    #[tokio::test]
    async fn a_connection_is_reused_after_drop() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            got
        });
        let up = Upstream::new(config(&[], port));
        let mut c = up.connection().await.unwrap();
        assert!(!c.is_reused());
        c.write_all(b"one ").await.unwrap();
        drop(c);
        let mut c = up.connection().await.unwrap();
        assert!(c.is_reused());
        c.write_all(b"two").await.unwrap();
        assert_eq!(up.counts().get(), (1, 1));
        c.mark_broken();
        drop(c);
        assert_eq!(up.counts().get(), (0, 0));
        assert_eq!(server.await.unwrap(), b"one two");
    }

    #[tokio::test]
    async fn a_pooled_connection_the_server_closed_is_replaced() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Upstream::new(config(&[], port));
        let c = up.connection().await.unwrap();
        let (first, _) = listener.accept().await.unwrap();
        drop(first);
        if let Some(ClientStream::Tcp(s)) = c.stream.as_ref() {
            // Readable once the server's FIN has arrived.
            s.readable().await.unwrap();
        }
        drop(c);
        let c = up.connection().await.unwrap();
        assert!(!c.is_reused());
    }

    /// Servers that never close their side hold each connection's close
    /// for its whole second: the pool waits out those seconds together.
    #[tokio::test]
    async fn idle_connections_to_silent_servers_close_together() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                held.push(socket);
            }
        });
        let up = Upstream::new(config(&[], port));
        let mut conns = Vec::new();
        for _ in 0..4 {
            conns.push(up.connection().await.unwrap());
        }
        drop(conns);
        assert_eq!(up.counts().get(), (4, 0));
        // From here no real waiting: the clock jumps to each timeout.
        tokio::time::pause();
        let start = tokio::time::Instant::now();
        up.close_idle().await;
        let waited = start.elapsed();
        assert!(
            waited < Duration::from_secs(2),
            "{waited:?} for 4 connections"
        );
        assert_eq!(up.counts().get(), (0, 0));
        server.abort();
    }

    #[tokio::test]
    async fn keepalive_off_closes_after_each_use() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Upstream::new(config(&[("net.keepalive", "off")], port));
        drop(up.connection().await.unwrap());
        assert!(!up.connection().await.unwrap().is_reused());
    }

    #[tokio::test]
    async fn an_unknown_name_is_a_resolve_error() {
        let mut cfg = config(&[("net.connect_timeout", "5s")], 1);
        cfg.target = Target::Net {
            host: "no-such-host.invalid".into(),
            port: 1,
        };
        let err = Upstream::new(cfg).connection().await.unwrap_err();
        assert!(
            matches!(
                err,
                UpstreamError::Resolve { .. } | UpstreamError::ConnectTimeout { .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_bad_source_address_names_its_key() {
        let mut s = Section::new(SectionKind::Output, Origin::new("t.conf", 1));
        s.push("net.source_address", "nowhere", Origin::new("t.conf", 4));
        let cfg = PluginConfig::new(&s, "t", "t.0".into(), &[UPSTREAM_PROPS]).unwrap();
        let target = Target::Net {
            host: "h".into(),
            port: 1,
        };
        let err = UpstreamConfig::from_config(&cfg, target).unwrap_err();
        assert!(err.to_string().contains("t.conf:4"), "{err}");
    }
}
