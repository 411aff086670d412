//! `syslog`: syslog messages over TCP, UDP or a Unix socket, parsed into
//! records.
//!
//! Options: `mode` (`unix_udp`, default, `unix_tcp`, `tcp` or `udp`),
//! `listen` (default `0.0.0.0`) and `port` (default 5140) for the network
//! modes, `path` (the socket file, required for the Unix modes) and
//! `unix_perm` (its permissions, octal, default 0644), `parser` (default
//! `syslog-rfc5424` for `tcp`/`udp`, `syslog-rfc3164-local` for the Unix
//! modes; both are built in, so no parsers file is needed),
//! `buffer_chunk_size` (bytes a connection's buffer grows by, and the
//! largest datagram; default 32k), `buffer_max_size` (the largest
//! message on a stream; default `buffer_chunk_size`),
//! `receive_buffer_size` (the socket's kernel receive buffer for the
//! datagram modes; default: the system's), `source_address_key` and
//! `raw_message_key` (keys that get the sender's address and the message
//! as received; default none), `format` (`newline` or `octet_counting`;
//! accepted for Fluent Bit's configurations, but both framings are
//! detected on every frame), and on `tcp` the listener's
//! `net.max_connections`, `net.io_timeout` and `tls.*`.
//!
//! On a stream each frame is newline-terminated or octet-counted (see
//! [`framing`]). A message over `buffer_max_size` closes its connection
//! with a logged reason, after the messages before it were kept. While
//! the input is paused by `Mem_Buf_Limit` no connection is read, so
//! senders wait. A datagram is one message; while paused, datagrams are
//! read and dropped, counted in `dropped` and reported when the input
//! resumes, and a datagram longer than `buffer_chunk_size` is kept cut
//! short and counted in `errors`.

pub mod framing;
mod messages;
mod receive;

use std::sync::Arc;

use async_trait::async_trait;
use sluice_core::config::props::join_props;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::net::listener::{port_property, unix_perm, Bind, ListenerConfig, LISTENER_PROPS};
use sluice_core::net::reader::BufferLimits;
use sluice_core::parser::Parser;
use sluice_core::plugin::{BuildInput, Input, InputContext, PluginError, Setup, Spec};

use messages::MessageOptions;

const OWN: &[Property] = &[
    Property::new(
        "mode",
        PropKind::Str,
        Some("unix_udp"),
        "unix_udp, unix_tcp, tcp or udp",
    ),
    port_property("5140"),
    Property::new(
        "path",
        PropKind::Str,
        None,
        "Unix socket file (unix_udp and unix_tcp modes)",
    ),
    Property::new(
        "unix_perm",
        PropKind::Str,
        Some("0644"),
        "Permissions of the Unix socket file, octal",
    ),
    Property::new(
        "parser",
        PropKind::Str,
        None,
        "Parser for each message (default syslog-rfc5424, or syslog-rfc3164-local on Unix sockets)",
    ),
    Property::new(
        "buffer_chunk_size",
        PropKind::Size,
        Some("32k"),
        "Buffer growth step, and the largest datagram",
    ),
    Property::new(
        "buffer_max_size",
        PropKind::Size,
        None,
        "Largest message on a stream (default buffer_chunk_size)",
    ),
    Property::new(
        "receive_buffer_size",
        PropKind::Size,
        None,
        "Kernel receive buffer of the datagram socket (default: the system's)",
    ),
    Property::new(
        "source_address_key",
        PropKind::Str,
        None,
        "Key that receives the sender's address",
    ),
    Property::new(
        "raw_message_key",
        PropKind::Str,
        None,
        "Key that receives the message as received",
    ),
    Property::new(
        "format",
        PropKind::Str,
        Some("newline"),
        "newline or octet_counting (both are detected per frame either way)",
    ),
];
const ALL: [Property; OWN.len() + LISTENER_PROPS.len()] = join_props(OWN, LISTENER_PROPS);

pub const SPEC: Spec<BuildInput> = Spec {
    name: "syslog",
    description: "Receive syslog messages over TCP, UDP or a Unix socket",
    properties: &ALL,
    build,
};

/// How messages arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Tcp,
    Udp,
    UnixTcp,
    UnixUdp,
}

impl Mode {
    fn from_config(cfg: &PluginConfig) -> Result<Self, ConfigError> {
        let text = cfg.str("mode").unwrap_or("unix_udp");
        match text.trim().to_ascii_lowercase().as_str() {
            "tcp" => Ok(Mode::Tcp),
            "udp" => Ok(Mode::Udp),
            "unix_tcp" => Ok(Mode::UnixTcp),
            "unix_udp" => Ok(Mode::UnixUdp),
            _ => Err(cfg.error(
                "mode",
                format!("'{text}' is not unix_udp, unix_tcp, tcp or udp"),
            )),
        }
    }

    fn is_unix(self) -> bool {
        matches!(self, Mode::UnixTcp | Mode::UnixUdp)
    }

    fn is_stream(self) -> bool {
        matches!(self, Mode::Tcp | Mode::UnixTcp)
    }

    /// Fluent Bit's default parser for the mode.
    fn default_parser(self) -> &'static str {
        if self.is_unix() {
            "syslog-rfc3164-local"
        } else {
            "syslog-rfc5424"
        }
    }
}

/// A checked `syslog` input.
struct Syslog {
    mode: Mode,
    listener: ListenerConfig,
    /// The largest message; on a stream, a bigger one closes the
    /// connection.
    max_message: usize,
    /// Buffer growth step, and the largest datagram.
    chunk: usize,
    receive_buffer: Option<usize>,
    messages: Arc<MessageOptions>,
}

fn build(cfg: &PluginConfig, setup: &Setup) -> Result<Box<dyn Input>, ConfigError> {
    let mode = Mode::from_config(cfg)?;
    if let Some(format) = cfg.str("format") {
        if !matches!(format.trim(), "newline" | "octet_counting") {
            let message = format!("'{format}' is not newline or octet_counting");
            return Err(cfg.error("format", message));
        }
    }
    let chunk = size(cfg, "buffer_chunk_size")?.unwrap_or(32 * 1024);
    let max_message = size(cfg, "buffer_max_size")?.unwrap_or(chunk).max(chunk);
    Ok(Box::new(Syslog {
        mode,
        listener: listener(cfg, mode)?,
        max_message,
        chunk,
        receive_buffer: size(cfg, "receive_buffer_size")?,
        messages: Arc::new(message_options(cfg, setup, mode)?),
    }))
}

/// The listener options, with `path` in place of `listen`/`port` for the
/// Unix modes.
fn listener(cfg: &PluginConfig, mode: Mode) -> Result<ListenerConfig, ConfigError> {
    let mut listener = ListenerConfig::from_config(cfg)?;
    if listener.tls.is_some() && mode != Mode::Tcp {
        return Err(cfg.error("tls", "tls needs mode tcp"));
    }
    if mode.is_unix() {
        let path = cfg.str("path").map(str::trim).unwrap_or_default();
        if path.is_empty() {
            return Err(cfg.error("path", "a Unix mode needs the socket's path"));
        }
        listener.bind = Bind::Unix {
            path: path.into(),
            perm: unix_perm(cfg)?,
        };
    }
    Ok(listener)
}

fn message_options(
    cfg: &PluginConfig,
    setup: &Setup,
    mode: Mode,
) -> Result<MessageOptions, ConfigError> {
    let (parser, parser_name): (Arc<dyn Parser>, String) = match cfg.entry("parser") {
        Some(entry) => (setup.parser(entry)?, entry.value.trim().to_owned()),
        None => {
            let name = mode.default_parser();
            let parser = setup.parsers.get(name).ok_or_else(|| {
                cfg.error(
                    "parser",
                    format!("the default parser '{name}' is not defined"),
                )
            })?;
            (parser, name.to_owned())
        }
    };
    let key = |k: &str| cfg.str(k).filter(|v| !v.is_empty()).map(str::to_owned);
    Ok(MessageOptions {
        parser,
        parser_name,
        raw_message_key: key("raw_message_key"),
        source_address_key: key("source_address_key"),
    })
}

fn size(cfg: &PluginConfig, key: &str) -> Result<Option<usize>, ConfigError> {
    match cfg.size(key) {
        None => Ok(None),
        Some(0) => Err(cfg.error(key, "must be at least 1 byte")),
        Some(n) if n > 1 << 30 => Err(cfg.error(key, "must be at most 1G")),
        Some(n) => Ok(Some(n as usize)),
    }
}

#[async_trait]
impl Input for Syslog {
    async fn run(self: Box<Self>, ctx: InputContext) -> Result<(), PluginError> {
        if self.mode.is_stream() {
            // Room for the octet count before a message of the largest
            // size; the framing itself enforces `max_message`.
            let limits = BufferLimits::new(self.chunk, self.max_message + 16);
            let streams = receive::Streams {
                limits,
                max_message: self.max_message,
                idle: self.listener.idle_timeout,
                messages: self.messages,
            };
            return streams.serve(&self.listener, &ctx).await;
        }
        let datagrams = receive::Datagrams {
            max_datagram: self.chunk,
            receive_buffer: self.receive_buffer,
            messages: self.messages,
        };
        datagrams.serve(&self.listener, &ctx).await
    }
}
