//! `http`: records POSTed over HTTP/1.1 or HTTP/2 as JSON (an object, an
//! array of objects, or NDJSON) or as a form, plain or gzip-compressed.
//!
//! Options: `port` (default 9880), `buffer_max_size` (largest body, after
//! inflating; default 4M; larger ones get 413), `buffer_chunk_size` (the
//! most read from the socket at once, which also bounds a request head;
//! default 512K), `successful_response_code` (201; 200 or 204 also
//! allowed), `success_header` (`Name value`, repeatable, added to success
//! answers), `tag_key` (a record key whose string value becomes the
//! record's tag), `add_remote_addr` (adds `REMOTE_ADDR`: the first
//! address of `X-Forwarded-For`, or the peer's IP; default off), `http2`
//! (on: HTTP/2 too, by ALPN `h2` over TLS and with prior knowledge (h2c)
//! on plain TCP; off: HTTP/1.1 only), and the listener options every
//! network input takes (`listen`, `net.max_connections`,
//! `net.io_timeout`, `tls.*`).
//!
//! The tag is the request path (`POST /app.log`: `app.log`; `/`: the
//! input's tag), unless a record names one under `tag_key`; a tag a client
//! sets is checked by [`tag`] and refused with 400 when unsafe. Answers:
//! the success code once the records are safe (written to their chunk
//! file with `storage.type filesystem`, delivered with memory storage);
//! 400 for a malformed body or tag, 405 for a method other than POST, 413
//! for a body over `buffer_max_size`, 415 for an unknown content type or
//! encoding, 503 while stopping or while filesystem storage cannot
//! write. While the input is paused by `Mem_Buf_Limit` no request
//! is read, so clients wait instead of records being dropped.
//!
//! [`conn`] serves one connection, [`body`] turns a body into events and
//! is pure (fuzz it there), [`io`] holds reads back while paused.

pub mod body;
mod conn;
mod io;
pub mod tag;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hyper::header::{HeaderName, HeaderValue};
use hyper::StatusCode;
use sluice_core::config::props::join_props;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::net::listener::{port_property, Listener, ListenerConfig, LISTENER_PROPS};
use sluice_core::plugin::{BuildInput, Input, InputContext, PluginError, Setup, Spec};

const OWN: &[Property] = &[
    port_property("9880"),
    Property::new(
        "buffer_max_size",
        PropKind::Size,
        Some("4M"),
        "Largest request body, after inflating; larger ones get 413",
    ),
    Property::new(
        "buffer_chunk_size",
        PropKind::Size,
        Some("512K"),
        "Most bytes read at once; also the longest request head",
    ),
    Property::new(
        "successful_response_code",
        PropKind::Int,
        Some("201"),
        "Status of a successful answer: 200, 201 or 204",
    ),
    Property::new(
        "success_header",
        PropKind::Str,
        None,
        "Header added to successful answers, as 'Name value'",
    )
    .repeatable(),
    Property::new(
        "tag_key",
        PropKind::Str,
        None,
        "Record key whose string value becomes the record's tag",
    ),
    Property::new(
        "add_remote_addr",
        PropKind::Bool,
        Some("off"),
        "Add REMOTE_ADDR (X-Forwarded-For, or the peer's IP) to records",
    ),
    Property::new(
        "http2",
        PropKind::Bool,
        Some("on"),
        "Serve HTTP/2 too: by ALPN h2 over TLS, with prior knowledge on TCP",
    ),
];
const ALL: [Property; OWN.len() + LISTENER_PROPS.len()] = join_props(OWN, LISTENER_PROPS);

pub const SPEC: Spec<BuildInput> = Spec {
    name: "http",
    description: "Receive JSON or form records over HTTP",
    properties: &ALL,
    build,
};

/// The checked options of one `http` input.
#[derive(Debug)]
struct HttpConfig {
    max_body: usize,
    read_buffer: usize,
    success_code: StatusCode,
    success_headers: Vec<(HeaderName, HeaderValue)>,
    tag_key: Option<String>,
    add_remote_addr: bool,
    idle: Option<Duration>,
    /// Serve HTTP/2 as well as HTTP/1.1.
    http2: bool,
}

struct Http {
    listener: ListenerConfig,
    config: Arc<HttpConfig>,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Box<dyn Input>, ConfigError> {
    let mut listener = ListenerConfig::from_config(cfg)?;
    let http2 = cfg.bool("http2");
    if http2 {
        listener.offer_alpn(&[b"h2", b"http/1.1"]);
    }
    let config = HttpConfig {
        max_body: size(cfg, "buffer_max_size", 4 << 20)?,
        // hyper needs room for at least 8 KiB of request head.
        read_buffer: size(cfg, "buffer_chunk_size", 512 << 10)?.max(8192),
        success_code: success_code(cfg)?,
        success_headers: success_headers(cfg)?,
        tag_key: cfg
            .str("tag_key")
            .filter(|k| !k.is_empty())
            .map(str::to_owned),
        add_remote_addr: cfg.bool("add_remote_addr"),
        idle: listener.idle_timeout,
        http2,
    };
    Ok(Box::new(Http {
        listener,
        config: Arc::new(config),
    }))
}

fn size(cfg: &PluginConfig, key: &str, default: u64) -> Result<usize, ConfigError> {
    let bytes = cfg.size(key).unwrap_or(default);
    if bytes == 0 || bytes > 1 << 30 {
        return Err(cfg.error(key, "must be between 1 byte and 1G"));
    }
    Ok(bytes as usize)
}

fn success_code(cfg: &PluginConfig) -> Result<StatusCode, ConfigError> {
    match cfg.int("successful_response_code").unwrap_or(201) {
        code @ (200 | 201 | 204) => Ok(StatusCode::from_u16(code as u16)
            .unwrap_or_else(|_| unreachable!("200, 201 and 204 are valid statuses"))),
        code => Err(cfg.error(
            "successful_response_code",
            format!("'{code}' is not 200, 201 or 204"),
        )),
    }
}

fn success_headers(cfg: &PluginConfig) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
    let parse = |text: &str| {
        let (name, value) = text.trim().split_once(char::is_whitespace)?;
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        let value = HeaderValue::from_str(value.trim()).ok()?;
        Some((name, value))
    };
    cfg.all("success_header")
        .into_iter()
        .map(|entry| {
            parse(&entry.value).ok_or_else(|| {
                let message = format!("'{}' is not 'Name value' (a valid header)", entry.value);
                ConfigError::at(&entry.origin, message).with_key(entry.key.clone())
            })
        })
        .collect()
}

#[async_trait]
impl Input for Http {
    async fn run(self: Box<Self>, ctx: InputContext) -> Result<(), PluginError> {
        let listener = Listener::bind(&self.listener).await.map_err(|e| {
            PluginError::Other(format!("cannot listen on {}; {e}", self.listener.bind))
        })?;
        let config = self.config;
        let conn_ctx = ctx.clone();
        listener
            .serve(&ctx, move |conn| {
                conn::serve(conn, conn_ctx.clone(), Arc::clone(&config))
            })
            .await;
        Ok(())
    }
}
