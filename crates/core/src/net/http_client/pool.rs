//! Kept-alive connections of one output instance.
//!
//! A flush takes an idle connection, or opens one; after a complete
//! response it gives the connection back unless the server closed it. A
//! connection idle for longer than `net.keepalive_idle_timeout` is closed
//! instead of reused, since servers drop idle connections and a request
//! sent on one that is closing fails. Each connection's I/O runs in a
//! task of its own (hyper's connection driver) that ends with it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use super::connect::{self, Destination};
use super::HttpError;

/// One open connection, ready for a request.
pub(crate) struct Conn {
    pub sender: SendRequest<Full<Bytes>>,
}

/// Idle connections, newest last.
pub(crate) struct Pool {
    idle: Mutex<Vec<(Conn, Instant)>>,
    /// How long a connection may idle; `None` with `net.keepalive off`.
    max_idle: Option<Duration>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max_idle", &self.max_idle)
            .finish()
    }
}

impl Pool {
    pub fn new(max_idle: Option<Duration>) -> Self {
        Pool {
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    /// The newest idle connection that is still open and fresh.
    pub async fn take(&self) -> Option<Conn> {
        let max_idle = self.max_idle?;
        loop {
            let (mut conn, since) = self.lock().pop()?;
            if since.elapsed() >= max_idle || conn.sender.is_closed() {
                continue;
            }
            if conn.sender.ready().await.is_ok() {
                return Some(conn);
            }
        }
    }

    /// Opens a new connection and starts its driver task.
    pub async fn open(&self, dest: &Destination) -> Result<Conn, HttpError> {
        let stream = connect::open(dest).await?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| HttpError::Request(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "http connection ended");
            }
        });
        Ok(Conn { sender })
    }

    /// Keeps `conn` for the next request, when keep-alive is on and the
    /// server left it open.
    pub fn give_back(&self, conn: Conn) {
        if self.max_idle.is_some() && !conn.sender.is_closed() {
            self.lock().push((conn, Instant::now()));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Conn, Instant)>> {
        // A panic while holding this lock leaves a plain Vec behind,
        // which is still usable.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}
