//! One connection to an HTTP destination, speaking HTTP/1.1 or HTTP/2.
//!
//! The version is settled once, when the connection opens: HTTP/2 when
//! the TLS handshake agreed on `h2` by ALPN, or on plain TCP when
//! `http2 force` asks for HTTP/2 with prior knowledge (h2c); HTTP/1.1
//! otherwise, and always through an HTTP proxy. An HTTP/1.1 connection
//! carries one request at a time; an HTTP/2 one carries many at once, so
//! [`Conn::handle`] gives out more handles on it. The connection's I/O
//! runs in a task of its own (hyper's connection driver), which ends when
//! the server closes it or the last handle is dropped.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::net::stream::ClientStream;

use super::connect::{self, Destination};
use super::{Http2, HttpError};

/// The HTTP version a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    Http1,
    Http2,
}

/// A handle on one open connection, ready for a request.
pub(crate) struct Conn {
    /// Tells handles on the same HTTP/2 connection apart from others.
    id: u64,
    sender: Sender,
}

enum Sender {
    Http1(http1::SendRequest<Full<Bytes>>),
    Http2(http2::SendRequest<Full<Bytes>>),
}

impl Conn {
    /// Connects, agrees on a version and starts the driver task.
    ///
    /// # Errors
    /// Those of [`connect::open`], or a failed HTTP/2 handshake.
    pub async fn open(dest: &Destination) -> Result<Conn, HttpError> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let stream = connect::open(dest).await?;
        let version = version(dest, &stream);
        let io = TokioIo::new(stream);
        let sender = match version {
            Version::Http1 => {
                let (sender, connection) = http1::handshake(io).await.map_err(handshake)?;
                tokio::spawn(drive(connection));
                Sender::Http1(sender)
            }
            Version::Http2 => {
                let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(handshake)?;
                tokio::spawn(drive(connection));
                Sender::Http2(sender)
            }
        };
        tracing::debug!(host = %dest.host, port = dest.port, ?version, "http connection opened");
        Ok(Conn {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            sender,
        })
    }

    pub fn version(&self) -> Version {
        match self.sender {
            Sender::Http1(_) => Version::Http1,
            Sender::Http2(_) => Version::Http2,
        }
    }

    /// Whether `other` is a handle on the same connection.
    pub fn same_as(&self, other: &Conn) -> bool {
        self.id == other.id
    }

    /// Another handle on this connection when it multiplexes (HTTP/2).
    pub fn handle(&self) -> Option<Conn> {
        match &self.sender {
            Sender::Http1(_) => None,
            Sender::Http2(sender) => Some(Conn {
                id: self.id,
                sender: Sender::Http2(sender.clone()),
            }),
        }
    }

    /// The server, or an error, closed the connection.
    pub fn is_closed(&self) -> bool {
        match &self.sender {
            Sender::Http1(sender) => sender.is_closed(),
            Sender::Http2(sender) => sender.is_closed(),
        }
    }

    /// Waits until the connection can take a request; false when it
    /// closed instead.
    pub async fn ready(&mut self) -> bool {
        match &mut self.sender {
            Sender::Http1(sender) => sender.ready().await.is_ok(),
            Sender::Http2(sender) => sender.ready().await.is_ok(),
        }
    }

    /// Sends `request` and waits for the response head.
    pub async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> hyper::Result<Response<Incoming>> {
        match &mut self.sender {
            Sender::Http1(sender) => sender.send_request(request).await,
            Sender::Http2(sender) => sender.send_request(request).await,
        }
    }
}

/// HTTP/2 when TLS agreed on `h2`, or on direct plain TCP with
/// `http2 force`; HTTP/1.1 otherwise.
fn version(dest: &Destination, stream: &ClientStream) -> Version {
    let http2 = match stream {
        ClientStream::Tls(tls) => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
        _ => dest.http2 == Http2::Force && dest.proxy.is_none(),
    };
    if http2 {
        Version::Http2
    } else {
        Version::Http1
    }
}

fn handshake(e: hyper::Error) -> HttpError {
    HttpError::Request(format!("http handshake; {e}"))
}

async fn drive<C: Future<Output = hyper::Result<()>>>(connection: C) {
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "http connection ended");
    }
}
