//! Listening for network inputs: where to listen, how many connections
//! to take, TLS, and the accept loop that gives each connection its task.
//!
//! Properties every network input shares ([`LISTENER_PROPS`]): `listen`
//! (default `0.0.0.0`), `net.max_connections` (default 1024; a connection
//! over it is closed at once and logged), `net.io_timeout` (a connection
//! that sends nothing for this long is closed; default 0, never) and the
//! `tls.*` keys of [`super::tls`]. Each plugin declares its own `port`
//! default with [`port_property`]; inputs that can listen on a Unix socket
//! add [`UNIX_PROPS`] (`unix_path`, which replaces `listen`/`port`, and
//! `unix_perm`, octal, e.g. `0600`).
//!
//! Sockets are bound when the input starts, not when the configuration is
//! checked, so `--dry-run` binds nothing. Connection tasks run through
//! `InputContext::spawn`: at shutdown each sees the stop, the engine waits
//! for all of them, and only then seals the last chunks.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, UdpSocket, UnixListener};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::stream::{Connection, Peer, Stream};
use super::tls::{self, TLS_PROPS};
use crate::config::props::join_props;
use crate::config::{ConfigError, PluginConfig, PropKind, Property};
use crate::plugin::InputContext;

const BASE_PROPS: &[Property] = &[
    Property::new(
        "listen",
        PropKind::Str,
        Some("0.0.0.0"),
        "Address to listen on",
    ),
    Property::new(
        "net.max_connections",
        PropKind::Int,
        Some("1024"),
        "Most connections open at once; more are closed on arrival",
    ),
    Property::new(
        "net.io_timeout",
        PropKind::Time,
        Some("0"),
        "Close a connection idle for this long (0: never)",
    ),
];

const ALL_PROPS: [Property; BASE_PROPS.len() + TLS_PROPS.len()] = join_props(BASE_PROPS, TLS_PROPS);

/// The properties every network input takes (plus its own `port`).
pub const LISTENER_PROPS: &[Property] = &ALL_PROPS;

/// The Unix socket properties, for inputs that can listen on one.
pub const UNIX_PROPS: &[Property] = &[
    Property::new(
        "unix_path",
        PropKind::Str,
        None,
        "Listen on this Unix socket instead of listen/port",
    ),
    Property::new(
        "unix_perm",
        PropKind::Str,
        None,
        "Permissions of the Unix socket file, octal (e.g. 0600)",
    ),
];

/// The `port` property with a plugin's default.
pub const fn port_property(default: &'static str) -> Property {
    Property::new("port", PropKind::Int, Some(default), "Port to listen on")
}

/// Where a listener binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Net { host: String, port: u16 },
    Unix { path: PathBuf, perm: Option<u32> },
}

impl std::fmt::Display for Bind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bind::Net { host, port } => write!(f, "{host}:{port}"),
            Bind::Unix { path, .. } => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A checked listener configuration.
#[derive(Clone)]
pub struct ListenerConfig {
    pub bind: Bind,
    pub tls: Option<TlsAcceptor>,
    pub max_connections: usize,
    pub idle_timeout: Option<Duration>,
}

impl std::fmt::Debug for ListenerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerConfig")
            .field("bind", &self.bind)
            .field("tls", &self.tls.is_some())
            .field("max_connections", &self.max_connections)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

impl ListenerConfig {
    /// Reads the listener properties of an input.
    ///
    /// # Errors
    ///
    /// A port outside 1–65535, a `unix_perm` that is not octal, a
    /// `net.max_connections` below 1, or a TLS setting that cannot be used.
    pub fn from_config(cfg: &PluginConfig) -> Result<Self, ConfigError> {
        let bind = match cfg.str("unix_path").filter(|p| !p.is_empty()) {
            Some(path) => Bind::Unix {
                path: PathBuf::from(path),
                perm: unix_perm(cfg)?,
            },
            None => Bind::Net {
                host: cfg.str("listen").unwrap_or("0.0.0.0").to_owned(),
                port: port(cfg)?,
            },
        };
        let max = cfg.int("net.max_connections").unwrap_or(1024);
        if max < 1 {
            return Err(cfg.error("net.max_connections", "must be at least 1"));
        }
        let idle = cfg.time("net.io_timeout").filter(|d| !d.is_zero());
        let tls = tls::server_config(cfg)?.map(TlsAcceptor::from);
        if tls.is_some() && matches!(bind, Bind::Unix { .. }) {
            return Err(cfg.error("tls", "tls is not supported on a unix_path socket"));
        }
        Ok(ListenerConfig {
            bind,
            tls,
            max_connections: max as usize,
            idle_timeout: idle,
        })
    }

    /// Offers `protocols` by ALPN in the TLS handshake, most preferred
    /// first, for a server that speaks more than one (the `http` input:
    /// `h2` and `http/1.1`). Without TLS nothing changes.
    pub fn offer_alpn(&mut self, protocols: &[&[u8]]) {
        if let Some(acceptor) = &self.tls {
            let mut config = rustls::ServerConfig::clone(acceptor.config());
            config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
            self.tls = Some(TlsAcceptor::from(Arc::new(config)));
        }
    }

    /// Binds a UDP socket on `listen`/`port`.
    ///
    /// # Errors
    ///
    /// The address cannot be resolved or bound, or the configuration names
    /// a Unix socket.
    pub async fn bind_udp(&self) -> io::Result<UdpSocket> {
        match &self.bind {
            Bind::Net { host, port } => UdpSocket::bind((host.as_str(), *port)).await,
            Bind::Unix { .. } => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "udp cannot listen on a unix socket",
            )),
        }
    }
}

fn port(cfg: &PluginConfig) -> Result<u16, ConfigError> {
    let port = cfg.int("port").unwrap_or(0);
    u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| cfg.error("port", format!("'{port}' is not a port (1-65535)")))
}

/// The `unix_perm` property (octal), or its default.
///
/// # Errors
///
/// The value is not an octal mode.
pub fn unix_perm(cfg: &PluginConfig) -> Result<Option<u32>, ConfigError> {
    let Some(text) = cfg.str("unix_perm") else {
        return Ok(None);
    };
    u32::from_str_radix(text.trim(), 8)
        .ok()
        .filter(|p| *p <= 0o7777)
        .map(Some)
        .ok_or_else(|| cfg.error("unix_perm", format!("'{text}' is not an octal mode")))
}

enum Socket {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

/// A bound stream listener.
pub struct Listener {
    socket: Socket,
    config: ListenerConfig,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("config", &self.config)
            .finish()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Socket::Unix(_, path) = &self.socket {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Connections the kernel may hold for `accept`. std's 128 makes Linux
/// drop SYNs now and then under a burst of connects even while every
/// connection is accepted at once, and each drop costs the client a 1 s
/// retransmit; the kernel caps this at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 1024;

/// Binds the first address `host` resolves to that can be bound.
async fn bind_tcp(host: &str, port: u16) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket
            .bind(addr)
            .and_then(|()| socket.listen(LISTEN_BACKLOG))
        {
            Ok(listener) => return Ok(listener),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "address resolves to nothing",
        )
    }))
}

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl Listener {
    /// Binds the TCP or Unix socket the configuration names. A stale Unix
    /// socket file is replaced.
    ///
    /// # Errors
    ///
    /// The address cannot be resolved or bound, or the Unix socket's
    /// permissions cannot be set.
    pub async fn bind(config: &ListenerConfig) -> io::Result<Self> {
        let socket = match &config.bind {
            Bind::Net { host, port } => Socket::Tcp(bind_tcp(host, *port).await?),
            Bind::Unix { path, perm } => {
                if path.exists() {
                    std::fs::remove_file(path)?;
                }
                let listener = UnixListener::bind(path)?;
                if let Some(mode) = perm {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))?;
                }
                Socket::Unix(listener, path.clone())
            }
        };
        Ok(Listener {
            socket,
            config: config.clone(),
        })
    }

    /// The bound address, for logs.
    pub fn local_addr(&self) -> String {
        match &self.socket {
            Socket::Tcp(l) => l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| self.config.bind.to_string()),
            Socket::Unix(_, path) => format!("unix:{}", path.display()),
        }
    }

    async fn accept(&self) -> io::Result<(Stream, Peer)> {
        match &self.socket {
            Socket::Tcp(l) => {
                let (s, addr): (_, SocketAddr) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok((Stream::Tcp(s), Peer::Tcp(addr)))
            }
            Socket::Unix(l, _) => Ok((Stream::Unix(l.accept().await?.0), Peer::Unix)),
        }
    }

    /// Accepts connections until the process stops, handing each, after
    /// its TLS handshake, to `handle` on a task of its own.
    pub async fn serve<F, Fut>(self, ctx: &InputContext, handle: F)
    where
        F: Fn(Connection) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        tracing::info!(address = %self.local_addr(), tls = self.config.tls.is_some(), "listening");
        let handle = Arc::new(handle);
        let permits = Arc::new(Semaphore::new(self.config.max_connections));
        let shutdown = ctx.shutdown().clone();
        loop {
            let accepted = tokio::select! {
                biased;
                _ = shutdown.wait() => return,
                a = self.accept() => a,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(err) => {
                    // Out of descriptors and the like: wait instead of
                    // spinning on the same error.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                tracing::warn!(%peer, limit = self.config.max_connections, "too many connections; closed");
                continue;
            };
            tracing::debug!(%peer, "connection accepted");
            let tls = self.config.tls.clone();
            let handle = Arc::clone(&handle);
            ctx.spawn(async move {
                let _permit = permit;
                if let Some(stream) = handshake(tls, stream, peer).await {
                    handle(Connection { stream, peer }).await;
                }
            });
        }
    }
}

async fn handshake(tls: Option<TlsAcceptor>, stream: Stream, peer: Peer) -> Option<Stream> {
    let (acceptor, tcp) = match (tls, stream) {
        (Some(acceptor), Stream::Tcp(tcp)) => (acceptor, tcp),
        // Without TLS (and on Unix sockets, which never carry it) the
        // stream is ready as it is.
        (_, stream) => return Some(stream),
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => Some(Stream::Tls(Box::new(s))),
        Ok(Err(err)) => {
            tracing::warn!(%peer, error = %err, "tls handshake failed; closed");
            None
        }
        Err(_) => {
            tracing::warn!(%peer, "tls handshake timed out; closed");
            None
        }
    }
}
