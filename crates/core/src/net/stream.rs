//! Connections' byte streams: plain TCP, TLS or Unix behind one type, for
//! the connections inputs accept and those outputs open, and the peer an
//! accepted one came from.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::{client, server};

/// Where a connection or datagram came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Tcp(SocketAddr),
    Udp(SocketAddr),
    Unix,
}

impl Peer {
    /// The address as Fluent Bit writes it under `source_address_key`:
    /// `tcp://IP:PORT`, `udp://IP:PORT`, or `unix://` for a Unix socket.
    pub fn source_address(&self) -> String {
        match self {
            Peer::Tcp(a) => format!("tcp://{a}"),
            Peer::Udp(a) => format!("udp://{a}"),
            Peer::Unix => "unix://".to_owned(),
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source_address())
    }
}

/// A byte stream, whatever carries it: plain TCP, TLS over TCP (`T`, the
/// server or client side of rustls) or a Unix socket. Inputs read
/// accepted connections through [`Stream`]; outputs write through
/// [`ClientStream`].
#[derive(Debug)]
pub enum ByteStream<T> {
    Tcp(TcpStream),
    Tls(Box<T>),
    Unix(UnixStream),
}

/// An accepted connection's stream.
pub type Stream = ByteStream<server::TlsStream<TcpStream>>;

/// A stream an output opened.
pub type ClientStream = ByteStream<client::TlsStream<TcpStream>>;

impl<T: AsyncRead + Unpin> AsyncRead for ByteStream<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ByteStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            ByteStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            ByteStream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ByteStream<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ByteStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            ByteStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            ByteStream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ByteStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            ByteStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            ByteStream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ByteStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            ByteStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            ByteStream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// An accepted connection, its TLS handshake (if any) done.
#[derive(Debug)]
pub struct Connection {
    pub stream: Stream,
    pub peer: Peer,
}
