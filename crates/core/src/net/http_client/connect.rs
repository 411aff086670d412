//! Opening one connection to an HTTP destination: name resolution with
//! `tokio::net::lookup_host` (so a slow resolver never blocks a reactor
//! thread), a TCP connect bounded by `net.connect_timeout` that tries each
//! resolved address in turn, and the TLS handshake when `tls` is on.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::HttpError;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub(crate) struct Destination {
    pub host: String,
    pub port: u16,
    pub connect_timeout: Duration,
    /// The HTTP proxy to connect to instead (plain HTTP only).
    pub proxy: Option<(String, u16)>,
    /// The TLS settings and the name to present and verify, with `tls on`.
    pub tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

/// A client connection, plain or TLS.
pub(crate) enum ClientStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
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
        return Ok(ClientStream::Plain(tcp));
    };
    let tls = TlsConnector::from(Arc::clone(config))
        .connect(name.clone(), tcp)
        .await
        .map_err(|e| HttpError::Tls(e.to_string()))?;
    Ok(ClientStream::Tls(Box::new(tls)))
}

async fn connect_any(dest: &Destination) -> Result<TcpStream, HttpError> {
    let (host, port) = match &dest.proxy {
        Some((host, port)) => (host.as_str(), *port),
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

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
