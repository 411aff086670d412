//! Sending a chunk as UDP datagrams, for `udp`, and `syslog` and `gelf`
//! in UDP mode.
//!
//! [`UdpPeer`] is the destination: its socket is bound and connected on
//! the first flush, so the name is resolved in a flush and never blocks
//! a reactor thread or the start. [`RecordSends`] walks a chunk for an
//! output that sends record by record: when a send fails part way, it
//! hands the engine only the records from the failed one on, so a retry
//! sends nothing twice.

use sluice_core::event::Events;
use sluice_core::msgpack::DecodeError;
use sluice_core::plugin::{Partial, Verdict};
use sluice_core::{Chunk, RawEvent};
use tokio::net::UdpSocket;
use tokio::sync::OnceCell;

/// A UDP destination and its socket, made on first use.
pub(crate) struct UdpPeer {
    host: String,
    port: u16,
    socket: OnceCell<UdpSocket>,
}

impl UdpPeer {
    pub fn new(host: String, port: u16) -> Self {
        UdpPeer {
            host,
            port,
            socket: OnceCell::new(),
        }
    }

    /// The connected socket.
    ///
    /// # Errors
    ///
    /// A Retry verdict when the name does not resolve or the socket
    /// cannot be bound or connected.
    pub async fn socket(&self) -> Result<&UdpSocket, Verdict> {
        self.socket
            .get_or_try_init(|| connect(&self.host, self.port))
            .await
            .map_err(|e| Verdict::Retry(format!("cannot reach {}; {e}", self.name())))
    }

    /// `host:port`, for messages.
    pub fn name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A UDP socket connected to `host:port`, the name resolved without
/// blocking.
async fn connect(host: &str, port: u16) -> std::io::Result<UdpSocket> {
    let addr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other("the name has no address"))?;
    let local: std::net::SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(addr).await?;
    Ok(socket)
}

/// The records of a chunk, walked by an output that sends them one at a
/// time and may stop at a failed send.
pub(crate) struct RecordSends<'a> {
    chunk: &'a Chunk,
    events: Events<'a>,
    /// The chunk from the record last yielded on.
    current: &'a [u8],
    /// Records yielded: those before the current one were sent or
    /// dropped.
    yielded: usize,
    /// Records dropped for good.
    dropped: usize,
}

impl<'a> RecordSends<'a> {
    pub fn new(chunk: &'a Chunk) -> Self {
        RecordSends {
            chunk,
            events: chunk.events(),
            current: &[],
            yielded: 0,
            dropped: 0,
        }
    }

    /// The next record; asking for it means the one before was sent or
    /// dropped.
    pub fn next_record(&mut self) -> Option<Result<RawEvent<'a>, DecodeError>> {
        self.current = self.events.rest();
        let record = self.events.next()?;
        self.yielded += 1;
        Some(record)
    }

    /// Marks the current record as dropped for good (not a map, too
    /// large to send).
    pub fn drop_current(&mut self) {
        self.dropped += 1;
    }

    /// The verdict when sending the current record failed: Retry when
    /// nothing went out yet, else a Partial holding the current record
    /// and those after it, with the records dropped so far counted.
    pub fn failed(&self, reason: String) -> Verdict {
        let handled = self.yielded.saturating_sub(1);
        if handled == 0 {
            return Verdict::Retry(reason);
        }
        Verdict::Partial(Partial {
            retry: self.current.to_vec(),
            retry_records: self.chunk.records().saturating_sub(handled),
            dropped: self.dropped,
            reason,
        })
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    /// A UDP port on 127.0.0.1 nobody listens on: the first datagram
    /// sent there draws an ICMP "port unreachable", and the send after it
    /// fails with "connection refused".
    pub fn closed_udp_port() -> String {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port().to_string()
    }
}
