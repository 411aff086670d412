//! The HTTP monitoring API (`HTTP_Server on`): Fluent Bit's endpoints at
//! Fluent Bit's paths, so probes, scrapers and dashboards keep working.
//!
//! The server runs on the same runtime as the pipeline but only reads
//! counters the engine keeps anyway; it takes no lock the pipeline takes,
//! so a flood of requests costs CPU, never a stalled flush. It is
//! hardened for hostile clients:
//!
//! - at most [`MAX_CONNECTIONS`] connections at once; more are closed as
//!   soon as they are accepted;
//! - request heads are bounded ([`MAX_HEAD_BYTES`]) and must arrive within
//!   [`HEAD_TIMEOUT`]; a connection lives at most [`CONNECTION_LIFETIME`];
//! - request bodies are never read, so their size cannot matter: the
//!   only endpoint that acts (`/api/v2/reload`) takes no body.
//!
//! Routing and answers live in [`routes`]; metric rendering in
//! [`prometheus`]; the health window in [`health`].

mod health;
mod prometheus;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use routes::{ApiState, PluginNames};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// Longest request head (request line and headers) accepted.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Time a client has to send a whole request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a connection may stay open, however busy.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);

/// Binds the API's listener.
///
/// # Errors
/// The address does not parse or cannot be bound (in use, permissions).
pub async fn bind(listen: &str, port: u16) -> std::io::Result<TcpListener> {
    let addr = format!("{listen}:{port}");
    let addr: SocketAddr = match addr.parse() {
        Ok(a) => a,
        // A name (localhost): resolve without blocking the reactor.
        Err(_) => tokio::net::lookup_host(&addr)
            .await?
            .next()
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no address for http_listen")
            })?,
    };
    TcpListener::bind(addr).await
}

/// Accepts and serves connections until the task is dropped.
pub async fn serve(listener: TcpListener, state: Arc<ApiState>) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "http api listening");
    }
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(health::sample(Arc::clone(&state)));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                // Out of descriptors and the like: wait rather than spin.
                tracing::warn!(error = %err, "http api accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!(%peer, "http api at its connection limit; closing");
            continue; // dropping the stream closes it
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            serve_connection(stream, state).await;
            drop(slot);
        });
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, state: Arc<ApiState>) {
    let service = service_fn(move |req| {
        let state = Arc::clone(&state);
        async move { Ok::<_, std::convert::Infallible>(routes::answer(&state, &req)) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(CONNECTION_LIFETIME, conn).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::debug!(error = %err, "http api connection ended"),
        Err(_) => tracing::debug!("http api connection reached its lifetime"),
    }
}
