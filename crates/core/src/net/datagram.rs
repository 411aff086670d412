//! Datagram sockets for inputs: UDP on `listen`/`port`, or a Unix
//! datagram socket on a path, read one message at a time.
//!
//! The input owns the receive loop (a datagram cannot be made to wait, so
//! what to do while paused is the input's call); this type only binds,
//! sizes the kernel's receive buffer and says who sent each datagram. A
//! Unix socket file is created with the configured permissions, replaces
//! a stale one, and is removed when the socket is dropped.

use std::io;
use std::path::PathBuf;

use tokio::net::{UdpSocket, UnixDatagram};

use super::listener::{Bind, ListenerConfig};
use super::stream::Peer;

enum Socket {
    Udp(UdpSocket),
    Unix(UnixDatagram, PathBuf),
}

/// A bound datagram socket.
pub struct DatagramSocket {
    socket: Socket,
}

impl std::fmt::Debug for DatagramSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatagramSocket")
            .field("address", &self.local_addr())
            .finish()
    }
}

impl Drop for DatagramSocket {
    fn drop(&mut self) {
        if let Socket::Unix(_, path) = &self.socket {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl DatagramSocket {
    /// Binds where `config` says: UDP for `listen`/`port`, a Unix datagram
    /// socket for a path. `receive_buffer` sets the kernel's receive
    /// buffer (`SO_RCVBUF`) when given.
    ///
    /// # Errors
    ///
    /// The address cannot be resolved or bound, or the socket file's
    /// permissions or the buffer size cannot be set.
    pub async fn bind(config: &ListenerConfig, receive_buffer: Option<usize>) -> io::Result<Self> {
        let socket = match &config.bind {
            Bind::Net { host, port } => Socket::Udp(UdpSocket::bind((host.as_str(), *port)).await?),
            Bind::Unix { path, perm } => {
                if path.exists() {
                    std::fs::remove_file(path)?;
                }
                let socket = UnixDatagram::bind(path)?;
                let bound = DatagramSocket {
                    socket: Socket::Unix(socket, path.clone()),
                };
                if let Some(mode) = perm {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))?;
                }
                return bound.with_receive_buffer(receive_buffer);
            }
        };
        DatagramSocket { socket }.with_receive_buffer(receive_buffer)
    }

    fn with_receive_buffer(self, size: Option<usize>) -> io::Result<Self> {
        if let Some(size) = size {
            let sock = match &self.socket {
                Socket::Udp(s) => socket2::SockRef::from(s),
                Socket::Unix(s, _) => socket2::SockRef::from(s),
            };
            sock.set_recv_buffer_size(size)?;
        }
        Ok(self)
    }

    /// The bound address, for logs: `IP:PORT` or `unix:PATH`.
    pub fn local_addr(&self) -> String {
        match &self.socket {
            Socket::Udp(s) => s.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            Socket::Unix(_, path) => format!("unix:{}", path.display()),
        }
    }

    /// Waits for the next datagram, copies it into `buf` (cut to its
    /// length, as the kernel does) and says who sent it.
    ///
    /// # Errors
    ///
    /// Those of the receive call; on UDP these include ICMP errors of
    /// earlier sends, after which the socket is still usable.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, Peer)> {
        match &self.socket {
            Socket::Udp(s) => {
                let (n, from) = s.recv_from(buf).await?;
                Ok((n, Peer::Udp(from)))
            }
            Socket::Unix(s, _) => Ok((s.recv(buf).await?, Peer::Unix)),
        }
    }
}
