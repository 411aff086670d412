//! Opening one connection to an HTTP destination: name resolution with
//! `tokio::net::lookup_host` (so a slow resolver never blocks a reactor
//! thread), a TCP connect bounded by `net.connect_timeout` that tries each
//! resolved address in turn, and the TLS handshake when `tls` is on.
//! Which HTTP version the stream then carries is [`super::conn`]'s call.

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::net::stream::ClientStream;

use super::{Http2, HttpError};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub(crate) struct Destination {
    pub host: String,
    pub port: u16,
    pub connect_timeout: Duration,
    /// The HTTP proxy to connect to instead (plain HTTP only).
    pub proxy: Option<super::proxy::Proxy>,
    /// The TLS settings and the name to present and verify, with `tls on`.
    /// The settings offer `h2` by ALPN unless `http2` is off.
    pub tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    /// When to speak HTTP/2.
    pub http2: Http2,
}

/// Resolves, connects and, with TLS, shakes hands.
///
/// # Errors
/// The name does not resolve, no address accepts within the timeout, or
/// the TLS handshake fails (a certificate that does not verify included).
pub(crate) async fn open(dest: &Destination) -> Result<ClientStream, HttpError> {
    let tcp = tokio::time::timeout(dest.connect_timeout, connect_any(dest))
        .await
        .map_err(|_| {
            HttpError::Connect(format!("no answer within {:?}", dest.connect_timeout))
        })??;
    let _ = tcp.set_nodelay(true);
    let Some((config, name)) = &dest.tls else {
        return Ok(ClientStream::Tcp(tcp));
    };
    let tls = TlsConnector::from(Arc::clone(config))
        .connect(name.clone(), tcp)
        .await
        .map_err(|e| HttpError::Tls(e.to_string()))?;
    Ok(ClientStream::Tls(Box::new(tls)))
}

async fn connect_any(dest: &Destination) -> Result<TcpStream, HttpError> {
    let (host, port) = match &dest.proxy {
        Some(proxy) => (proxy.host.as_str(), proxy.port),
        None => (dest.host.as_str(), dest.port),
    };
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| HttpError::Resolve(format!("{host}: {e}")))?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(format!("{addr}: {e}")),
        }
    }
    Err(HttpError::Connect(last.unwrap_or_else(|| {
        format!("{host} resolves to no address")
    })))
}
