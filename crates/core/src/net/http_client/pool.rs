//! Kept-alive connections of one output instance.
//!
//! A flush takes a connection from the pool, or opens one, and gives it
//! back after a complete response. An HTTP/1.1 connection serves one
//! request at a time: it leaves the pool while in use and returns unless
//! the server closed it. An HTTP/2 connection is shared instead: the pool
//! keeps one, and every flush that finds it open sends its request on it
//! at the same time as the others. A connection unused for longer than
//! `net.keepalive_idle_timeout` is closed instead of reused, since servers
//! drop idle connections and a request sent on one that is closing fails.
//! With `net.keepalive off` nothing is kept: every request opens its own
//! connection.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::conn::{Conn, Version};
use super::connect::Destination;
use super::HttpError;

/// The kept connections, each with the moment a request last ended on it.
#[derive(Default)]
struct Kept {
    /// Free HTTP/1.1 connections, newest last.
    free: Vec<(Conn, Instant)>,
    /// The HTTP/2 connection every flush shares.
    shared: Option<(Conn, Instant)>,
}

pub(crate) struct Pool {
    kept: Mutex<Kept>,
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
            kept: Mutex::new(Kept::default()),
            max_idle,
        }
    }

    /// A handle on the shared HTTP/2 connection, else the newest free
    /// HTTP/1.1 connection; only those still open and fresh.
    pub async fn take(&self) -> Option<Conn> {
        let max_idle = self.max_idle?;
        if let Some(conn) = self.shared(max_idle) {
            return Some(conn);
        }
        loop {
            let (mut conn, since) = self.lock().free.pop()?;
            if since.elapsed() >= max_idle || conn.is_closed() {
                continue;
            }
            if conn.ready().await {
                return Some(conn);
            }
        }
    }

    fn shared(&self, max_idle: Duration) -> Option<Conn> {
        let mut kept = self.lock();
        let (conn, since) = kept.shared.as_mut()?;
        if since.elapsed() >= max_idle || conn.is_closed() {
            kept.shared = None;
            return None;
        }
        *since = Instant::now();
        conn.handle()
    }

    /// Opens a new connection. An HTTP/2 one becomes the shared one when
    /// keep-alive is on and no other is open (two flushes that opened one
    /// each at once keep the first; the second closes after its request).
    ///
    /// # Errors
    /// Those of [`Conn::open`].
    pub async fn open(&self, dest: &Destination) -> Result<Conn, HttpError> {
        let conn = Conn::open(dest).await?;
        if self.max_idle.is_some() {
            if let Some(handle) = conn.handle() {
                let mut kept = self.lock();
                if kept.shared.as_ref().is_none_or(|(c, _)| c.is_closed()) {
                    kept.shared = Some((handle, Instant::now()));
                }
            }
        }
        Ok(conn)
    }

    /// Returns `conn` after a complete response: an HTTP/1.1 connection
    /// is kept when keep-alive is on and the server left it open; on the
    /// shared HTTP/2 connection the idle clock starts again.
    pub fn give_back(&self, conn: Conn) {
        if self.max_idle.is_none() || conn.is_closed() {
            return;
        }
        let mut kept = self.lock();
        match conn.version() {
            Version::Http1 => kept.free.push((conn, Instant::now())),
            Version::Http2 => {
                if let Some((shared, since)) = kept.shared.as_mut() {
                    if shared.same_as(&conn) {
                        *since = Instant::now();
                    }
                }
            }
        }
    }

    /// Stops sharing the HTTP/2 connection `conn` is on after a request on
    /// it failed or timed out, so the next flush opens a new one (as it
    /// does after a failure on HTTP/1.1). Requests still running on it
    /// finish; it closes with the last of them.
    pub fn forget(&self, conn: &Conn) {
        let mut kept = self.lock();
        if kept.shared.as_ref().is_some_and(|(c, _)| c.same_as(conn)) {
            kept.shared = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        // A panic while holding this lock leaves plain values behind,
        // which are still usable.
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}
