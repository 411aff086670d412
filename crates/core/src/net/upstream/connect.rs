//! Opening an upstream connection: resolving the name off the reactor,
//! connecting from `net.source_address` within `net.connect_timeout`, the
//! TLS handshake, and the byte stream type that carries the result.

use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::Poll;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::{TcpSocket, TcpStream, UnixStream};
use tokio_rustls::TlsConnector;

use crate::net::stream::ClientStream;

use super::{Target, UpstreamConfig, UpstreamError};

/// Resolves, connects and (with `tls on`) shakes hands, all within
/// `net.connect_timeout`.
pub(super) async fn connect(config: &UpstreamConfig) -> Result<ClientStream, UpstreamError> {
    let target = config.target.to_string();
    let attempt = async {
        let tcp = match &config.target {
            Target::Net { host, port } => connect_tcp(host, *port, config.source_address).await?,
            Target::Unix(path) => {
                return UnixStream::connect(path)
                    .await
                    .map(ClientStream::Unix)
                    .map_err(|source| UpstreamError::Connect {
                        target: target.clone(),
                        source,
                    })
            }
        };
        match &config.tls {
            None => Ok(ClientStream::Tcp(tcp)),
            Some(tls) => {
                let connector = TlsConnector::from(tls.config.clone());
                connector
                    .connect(tls.server_name.clone(), tcp)
                    .await
                    .map(|s| ClientStream::Tls(Box::new(s)))
                    .map_err(|source| UpstreamError::Tls {
                        target: target.clone(),
                        source,
                    })
            }
        }
    };
    tokio::time::timeout(config.connect_timeout, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(UpstreamError::ConnectTimeout {
                target: target.clone(),
                after: config.connect_timeout,
            })
        })
}

/// Tries each address the name resolves to, in order.
async fn connect_tcp(
    host: &str,
    port: u16,
    source: Option<IpAddr>,
) -> Result<TcpStream, UpstreamError> {
    let target = format!("{host}:{port}");
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| UpstreamError::Resolve {
            host: host.to_owned(),
            reason: e.to_string(),
        })?
        .filter(|a| source.is_none_or(|s| s.is_ipv4() == a.is_ipv4()))
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name has no usable address");
    for addr in addrs {
        match connect_addr(addr, source).await {
            Ok(stream) => {
                // Frames are written whole; waiting for more is no gain.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(UpstreamError::Connect {
        target,
        source: last,
    })
}

async fn connect_addr(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    socket.connect(addr).await
}

/// Is a pooled connection still open? A read that would block says yes;
/// end-of-stream or an error says the server closed it. Bytes nobody asked
/// for also make it unusable, since they would be taken for an answer.
pub(super) async fn still_open(stream: &mut ClientStream) -> bool {
    let mut byte = [0u8; 1];
    poll_fn(|cx| {
        let mut buf = ReadBuf::new(&mut byte);
        match Pin::new(&mut *stream).poll_read(cx, &mut buf) {
            Poll::Pending => Poll::Ready(true),
            Poll::Ready(_) => Poll::Ready(false),
        }
    })
    .await
}
