//! The HTTP client every HTTP-based output shares: HTTP/1.1 over plain TCP,
//! HTTP/2 or HTTP/1.1 over TLS (whichever the server picks by ALPN), a
//! keep-alive pool per output instance, timeouts, and one rule for what a
//! response status means.
//!
//! An output builds one [`HttpClient`] from its configuration (`host`,
//! `port` and the [`HTTP_CLIENT_PROPS`]) and calls [`HttpClient::send`]
//! in its flush; [`verdict`] turns the answer into a [`Verdict`]: 2xx is
//! delivered, 408, 429 and 5xx are retried, any other status is an error
//! whose reason quotes the start of the response body. A connection that
//! cannot be opened, breaks, or does not answer within `net.io_timeout`
//! is a retry.
//!
//! Options: `net.connect_timeout` (10s), `net.io_timeout` (60s, the
//! longest wait for a response once the request is written; 0 waits
//! forever), `net.keepalive` (on), `net.keepalive_idle_timeout` (30s),
//! the `tls.*` keys of [`crate::net::tls`], `tls.verify_hostname` (off)
//! and `tls.vhost`.
//! Plain-HTTP destinations go through `HTTP_PROXY` unless `NO_PROXY`
//! excludes them (see [`proxy`]).
//!
//! HTTP/2 needs no key: over TLS the handshake offers `h2` and
//! `http/1.1`, and a server that picks `h2` gets every flush of the
//! output multiplexed on one connection (see [`pool`]); plain TCP stays
//! HTTP/1.1. An output that takes Fluent Bit's `http2` key (only
//! `opentelemetry` does there) adds [`HTTP2_PROP`]: `off` keeps HTTP/1.1
//! everywhere, `force` also speaks HTTP/2 with prior knowledge (h2c) on
//! plain TCP. Statuses, timeouts, gzip, headers and the proxy rules are
//! the same whichever version a connection speaks.

mod body;
mod conn;
mod connect;
mod pool;
mod proxy;
mod tls;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};

use crate::config::props::join_props;
use crate::config::{ConfigError, PluginConfig, PropKind, Property};
use crate::net::tls::TLS_PROPS;
use crate::plugin::Verdict;

pub use body::{basic_auth, compress_with, gzip};
use conn::{Conn, Version};
use connect::Destination;
use pool::Pool;

/// The connection properties every HTTP output takes, besides `host`,
/// `port` (whose defaults differ per output) and `tls.*`.
pub const HTTP_CLIENT_PROPS: &[Property] = &[
    Property::new(
        "net.connect_timeout",
        PropKind::Time,
        Some("10s"),
        "Longest wait for a connection to open",
    ),
    Property::new(
        "net.io_timeout",
        PropKind::Time,
        Some("60s"),
        "Longest wait for a response once the request is sent (0: forever)",
    ),
    Property::new(
        "net.keepalive",
        PropKind::Bool,
        Some("on"),
        "Keep connections open between requests",
    ),
    Property::new(
        "net.keepalive_idle_timeout",
        PropKind::Time,
        Some("30s"),
        "Close a kept connection unused this long",
    ),
    Property::new(
        "tls.verify_hostname",
        PropKind::Bool,
        Some("off"),
        "Check that the server certificate names tls.vhost (or host)",
    ),
    Property::new(
        "tls.vhost",
        PropKind::Str,
        None,
        "Server name sent in the TLS handshake (default: host)",
    ),
];

/// Fluent Bit's `http2` key, for an output that takes it (none of
/// sluice's does yet; Fluent Bit's `opentelemetry` output does): `on`
/// offers HTTP/2 by ALPN over TLS, `off` speaks only HTTP/1.1, `force`
/// also speaks HTTP/2 with prior knowledge on plain TCP.
pub const HTTP2_PROP: Property = Property::new(
    "http2",
    PropKind::Str,
    Some("on"),
    "HTTP/2: on (when a TLS server offers it), off, or force (also h2c)",
);

/// When the client speaks HTTP/2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Http2 {
    /// HTTP/1.1 only.
    Off,
    /// HTTP/2 when a TLS server picks `h2` by ALPN.
    On,
    /// As `On`, and HTTP/2 with prior knowledge (h2c) on plain TCP.
    Force,
}

impl Http2 {
    /// The `http2` key, `On` when the output does not take it.
    ///
    /// # Errors
    /// A value other than a boolean or `force`.
    pub fn from_config(cfg: &PluginConfig) -> Result<Self, ConfigError> {
        let Some(value) = cfg.str("http2") else {
            return Ok(Http2::On);
        };
        if value.trim().eq_ignore_ascii_case("force") {
            return Ok(Http2::Force);
        }
        match crate::config::props::parse_bool(value) {
            Ok(true) => Ok(Http2::On),
            Ok(false) => Ok(Http2::Off),
            Err(_) => Err(cfg.error("http2", format!("'{value}' is not on, off or force"))),
        }
    }
}

/// Every connection property of an HTTP output: [`HTTP_CLIENT_PROPS`]
/// and the shared `tls.*` keys. An output joins its own list to this one.
pub const HTTP_OUTPUT_NET_PROPS: [Property; HTTP_CLIENT_PROPS.len() + TLS_PROPS.len()] =
    join_props(HTTP_CLIENT_PROPS, TLS_PROPS);

/// Responses larger than this are cut; nothing sluice reads is this big.
const MAX_RESPONSE_BODY: usize = 64 * 1024 * 1024;

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The host name did not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// No connection could be opened.
    #[error("cannot connect; {0}")]
    Connect(String),
    /// The TLS handshake failed.
    #[error("tls handshake failed; {0}")]
    Tls(String),
    /// The connection broke while the request or response was on it.
    #[error("request failed; {0}")]
    Request(String),
    /// No complete response within `net.io_timeout`.
    #[error("no response within {0:?}")]
    Timeout(Duration),
}

/// How one exchange on one connection failed.
enum Exchange {
    /// The connection closed before the request was read: safe to send
    /// again.
    Unsent(String),
    Failed(HttpError),
}

impl Exchange {
    fn into_error(self) -> HttpError {
        match self {
            Exchange::Unsent(e) => HttpError::Request(e),
            Exchange::Failed(e) => e,
        }
    }
}

/// One request: the body is sent as it is, with a `Content-Length`.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub body: Bytes,
}

/// A client for one destination, shared by an output's flushes.
#[derive(Debug)]
pub struct HttpClient {
    dest: Destination,
    /// `host:port` as the `Host` header says it.
    authority: HeaderValue,
    /// `http` or `https`, for the `:scheme` of HTTP/2 requests.
    scheme: &'static str,
    io_timeout: Option<Duration>,
    pool: Pool,
}

impl HttpClient {
    /// Builds the client from `host`, `port` and the shared properties.
    ///
    /// # Errors
    /// A port out of range, or TLS settings that cannot be used (see
    /// [`tls::client_config`]), each naming its key.
    pub fn from_config(cfg: &PluginConfig) -> Result<Self, ConfigError> {
        let host = cfg.str("host").unwrap_or("127.0.0.1").trim().to_owned();
        let port = cfg.int("port").unwrap_or(80);
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| cfg.error("port", format!("{port} is not a port")))?;
        let authority = HeaderValue::try_from(format!("{host}:{port}"))
            .map_err(|_| cfg.error("host", format!("'{host}' is not a host name")))?;
        let http2 = Http2::from_config(cfg)?;
        let tls = tls::client_config(cfg, &host, http2)?;
        let io_timeout = cfg.time("net.io_timeout").filter(|t| !t.is_zero());
        let idle = cfg.bool("net.keepalive").then(|| {
            cfg.time("net.keepalive_idle_timeout")
                .unwrap_or(Duration::from_secs(30))
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        Ok(HttpClient {
            dest: Destination {
                port,
                connect_timeout: cfg
                    .time("net.connect_timeout")
                    .unwrap_or(Duration::from_secs(10)),
                proxy: if tls.is_none() {
                    proxy::for_host(&host)
                } else {
                    None
                },
                host,
                tls,
                http2,
            },
            authority,
            scheme,
            io_timeout,
            pool: Pool::new(idle),
        })
    }

    /// Sends one request and reads the whole response, on the shared
    /// HTTP/2 connection or a free HTTP/1.1 one when the pool has one,
    /// else on a new one.
    ///
    /// # Errors
    /// See [`HttpError`]; each is worth a retry.
    pub async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        if let Some(conn) = self.pool.take().await {
            match self.exchange(conn, request).await {
                // A kept connection closed with no answer: most likely the
                // server dropped it as idle as the request went out. Send
                // once more on a new one (a server that read the request
                // and then died would get it twice; rare and retried anyway).
                Err(Exchange::Unsent(e)) => tracing::debug!(error = %e, "kept connection closed"),
                other => return other.map_err(Exchange::into_error),
            }
        }
        let conn = self.pool.open(&self.dest).await?;
        self.exchange(conn, request)
            .await
            .map_err(Exchange::into_error)
    }

    async fn exchange(
        &self,
        mut conn: Conn,
        request: &HttpRequest,
    ) -> Result<HttpResponse, Exchange> {
        let hyper_request = self.hyper_request(request, conn.version());
        let exchange = async {
            let response = conn.send(hyper_request).await.map_err(|e| {
                if e.is_canceled() || e.is_incomplete_message() {
                    Exchange::Unsent(e.to_string())
                } else {
                    Exchange::Failed(HttpError::Request(e.to_string()))
                }
            })?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BODY)
                .collect()
                .await
                .map_err(|e| Exchange::Failed(HttpError::Request(e.to_string())))?
                .to_bytes();
            Ok(HttpResponse { status, body })
        };
        let response = match self.io_timeout {
            Some(limit) => tokio::time::timeout(limit, exchange)
                .await
                .unwrap_or(Err(Exchange::Failed(HttpError::Timeout(limit)))),
            None => exchange.await,
        };
        match response {
            Ok(_) => self.pool.give_back(conn),
            Err(_) => self.pool.forget(&conn),
        }
        response
    }

    fn hyper_request(&self, request: &HttpRequest, version: Version) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(request.body.clone()));
        *req.method_mut() = request.method.clone();
        let authority = self.authority.to_str().unwrap_or_default();
        let uri = match (&self.dest.proxy, version) {
            // HTTP/2 carries the scheme and authority as pseudo-headers,
            // which hyper takes from an absolute URI; they replace `Host`.
            (_, Version::Http2) => format!("{}://{authority}{}", self.scheme, request.path),
            // A proxy needs the absolute form: `POST http://host:port/path`.
            (Some(_), Version::Http1) => format!("http://{authority}{}", request.path),
            (None, Version::Http1) => request.path.clone(),
        };
        // A path that is not a valid URI was refused when the output was
        // built, so this only falls back for a caller's mistake.
        *req.uri_mut() = uri.parse().unwrap_or_else(|_| "/".parse().expect("/"));
        let headers = req.headers_mut();
        if version == Version::Http1 {
            headers.insert(hyper::header::HOST, self.authority.clone());
            let credentials = self
                .dest
                .proxy
                .as_ref()
                .and_then(|p| p.authorization.clone());
            if let Some(credentials) = credentials {
                headers.insert(hyper::header::PROXY_AUTHORIZATION, credentials);
            }
        }
        headers.insert(
            hyper::header::USER_AGENT,
            HeaderValue::from_static("sluice"),
        );
        for (name, value) in &request.headers {
            headers.append(name.clone(), value.clone());
        }
        req
    }
}

/// What a response means for the chunk it carried: 2xx delivered; 408,
/// 429 and 5xx retried; any other status an error quoting the first bytes
/// of the body.
pub fn verdict(response: &HttpResponse) -> Verdict {
    let status = response.status;
    if status.is_success() {
        return Verdict::Ok;
    }
    let reason = format!(
        "HTTP status {}; {}",
        status.as_u16(),
        body_excerpt(&response.body)
    );
    if is_retryable(status) {
        Verdict::Retry(reason)
    } else {
        Verdict::Error(reason)
    }
}

/// 408, 429 and 5xx: the server may take the same request later.
pub fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// The first 256 bytes of a body, as text for a log line.
pub fn body_excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(256)];
    let text = String::from_utf8_lossy(cut).replace(['\n', '\r'], " ");
    if body.len() > cut.len() {
        format!("{text}...")
    } else {
        text
    }
}

/// A `uri` property checked as a request path.
///
/// # Errors
/// The value is not a path an HTTP request line can carry.
pub fn request_path(cfg: &PluginConfig, key: &str, default: &str) -> Result<String, ConfigError> {
    let path = cfg.str(key).unwrap_or(default).trim();
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    path.parse::<hyper::Uri>()
        .map_err(|e| cfg.error(key, format!("'{path}' is not a request path; {e}")))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Verdict {
        verdict(&HttpResponse {
            status: StatusCode::from_u16(status).unwrap(),
            body: Bytes::from(body.to_owned()),
        })
    }

    #[test]
    fn statuses_map_to_verdicts() {
        assert_eq!(answer(200, ""), Verdict::Ok);
        assert_eq!(answer(204, ""), Verdict::Ok);
        for retried in [408, 429, 500, 503] {
            assert!(
                matches!(answer(retried, ""), Verdict::Retry(_)),
                "{retried}"
            );
        }
        for refused in [400, 401, 403, 404, 413] {
            assert!(
                matches!(answer(refused, ""), Verdict::Error(_)),
                "{refused}"
            );
        }
        assert_eq!(
            answer(400, "bad\nthing"),
            Verdict::Error("HTTP status 400; bad thing".into())
        );
    }

    fn cfg(pairs: &[(&str, &str)]) -> PluginConfig {
        use crate::config::{Origin, Section, SectionKind};
        let mut s = Section::new(SectionKind::Output, Origin::new("t.conf", 1));
        for (i, (k, v)) in pairs.iter().enumerate() {
            s.push(*k, *v, Origin::new("t.conf", i + 2));
        }
        let own = [HTTP2_PROP];
        PluginConfig::new(&s, "t", "t.0".into(), &[&own, &HTTP_OUTPUT_NET_PROPS]).unwrap()
    }

    #[test]
    fn http2_is_on_off_or_force() {
        assert_eq!(Http2::from_config(&cfg(&[])).unwrap(), Http2::On);
        assert_eq!(
            Http2::from_config(&cfg(&[("http2", "Off")])).unwrap(),
            Http2::Off
        );
        assert_eq!(
            Http2::from_config(&cfg(&[("http2", "force")])).unwrap(),
            Http2::Force
        );
        let err = Http2::from_config(&cfg(&[("http2", "h2c")])).unwrap_err();
        assert!(
            err.to_string().contains("'h2c' is not on, off or force"),
            "{err}"
        );
    }

    #[test]
    fn tls_offers_h2_by_alpn_unless_http2_is_off() {
        let tls = [("tls", "on"), ("tls.verify", "off")];
        let (on, _) = tls::client_config(&cfg(&tls), "h", Http2::On)
            .unwrap()
            .unwrap();
        assert_eq!(on.alpn_protocols, [&b"h2"[..], b"http/1.1"]);
        let (off, _) = tls::client_config(&cfg(&tls), "h", Http2::Off)
            .unwrap()
            .unwrap();
        assert!(off.alpn_protocols.is_empty());
    }

    #[test]
    fn long_bodies_are_cut_in_the_reason() {
        let reason = body_excerpt("x".repeat(1000).as_bytes());
        assert_eq!(reason.len(), 256 + 3);
        assert!(reason.ends_with("..."));
    }
}
