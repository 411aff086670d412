//! A connection lent to a flush: reads and writes under `net.io_timeout`,
//! and on drop either back to the pool or closed.

use std::future::Future;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::OwnedSemaphorePermit;

use super::{ClientStream, ConnectionCounts, Idle, UpstreamConfig, UpstreamError};

/// A connection taken from an [`Upstream`]. Dropping it returns it to the
/// pool, unless it was marked broken.
pub struct Connection {
    pub(super) stream: Option<ClientStream>,
    pub(super) config: Arc<UpstreamConfig>,
    pub(super) pool: Arc<Mutex<Vec<Idle>>>,
    pub(super) counts: Arc<ConnectionCounts>,
    pub(super) served: u32,
    pub(super) reused: bool,
    pub(super) broken: bool,
    pub(super) _permit: Option<OwnedSemaphorePermit>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("target", &self.config.target)
            .field("reused", &self.reused)
            .finish()
    }
}

impl Connection {
    /// Was this connection used by an earlier flush? A plugin that needs a
    /// handshake once per connection does it only when this is false.
    pub fn is_reused(&self) -> bool {
        self.reused
    }

    /// Closes the connection when it is dropped instead of pooling it:
    /// what is on the wire is no longer known.
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Writes all of `data`; a failure marks the connection broken.
    ///
    /// # Errors
    ///
    /// The write failed or made no progress within `net.io_timeout`.
    pub async fn write_all(&mut self, data: &[u8]) -> Result<(), UpstreamError> {
        let io_timeout = self.config.io_timeout;
        let stream = self.stream_mut();
        let written = with_timeout(io_timeout, async {
            stream.write_all(data).await?;
            stream.flush().await
        })
        .await;
        self.checked(written)
    }

    /// Reads what has arrived into `buf` (appending); `Ok(0)` is
    /// end-of-stream, which also marks the connection broken.
    ///
    /// # Errors
    ///
    /// The read failed or nothing arrived within `net.io_timeout`.
    pub async fn read_buf(&mut self, buf: &mut Vec<u8>) -> Result<usize, UpstreamError> {
        self.read_buf_within(buf, self.config.io_timeout).await
    }

    /// [`Self::read_buf`] with a timeout of the caller's (an ack timeout).
    ///
    /// # Errors
    ///
    /// The read failed or nothing arrived within `timeout`.
    pub async fn read_buf_within(
        &mut self,
        buf: &mut Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<usize, UpstreamError> {
        buf.reserve(4096);
        let stream = self.stream_mut();
        let read = with_timeout(timeout, stream.read_buf(buf)).await;
        let n = self.checked(read)?;
        if n == 0 {
            self.broken = true;
        }
        Ok(n)
    }

    fn stream_mut(&mut self) -> &mut ClientStream {
        // Present until drop.
        self.stream
            .as_mut()
            .expect("connection stream taken before drop")
    }

    fn checked<T>(&mut self, result: io::Result<T>) -> Result<T, UpstreamError> {
        result.map_err(|source| {
            self.broken = true;
            UpstreamError::Io {
                target: self.config.target.to_string(),
                source,
            }
        })
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let served = self.served + 1;
        let keep = !self.broken && self.config.keepalive && served < self.config.max_recycle;
        self.counts.busy.fetch_sub(1, Ordering::Relaxed);
        match (keep, self.stream.take()) {
            (true, Some(stream)) => {
                let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
                pool.push(Idle {
                    stream,
                    since: Instant::now(),
                    served,
                });
            }
            _ => self.counts.closed(1),
        }
    }
}

async fn with_timeout<T>(
    timeout: Option<Duration>,
    work: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match timeout {
        None => work.await,
        Some(limit) => tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no progress within {limit:?}"),
            ))
        }),
    }
}
