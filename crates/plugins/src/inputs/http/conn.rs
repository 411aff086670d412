//! One connection of the `http` input: HTTP/1.1 with keep-alive, each
//! request read, decoded, appended and answered in turn; or, with `http2`
//! on, HTTP/2 when the client starts with its preface (after agreeing on
//! `h2` by ALPN, or with prior knowledge on plain TCP), up to
//! [`MAX_STREAMS`] requests at once.
//!
//! A request is answered only after its events were appended, so a
//! success code means the records are in the pipeline (in memory, or
//! wherever the input's storage keeps them), not that an output delivered
//! them: Fluent Bit answers at the same point, and waiting for delivery
//! would make every request last a flush interval. Bodies are bounded
//! before they are read (`Content-Length` over `buffer_max_size`: 413
//! without reading it) and while they are read (chunked bodies). Bodies
//! over [`INLINE_LIMIT`] are decoded on a blocking thread. A refused
//! request is counted as an input error and logged with its reason; the
//! connection stays open for the next request when the body was read
//! whole.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use sluice_core::net::stream::{Connection, Peer};
use sluice_core::plugin::InputContext;
use sluice_core::EventTime;

use super::body::{self, Batch, BodyError, BodyFormat, BodyOptions};
use super::io::GatedStream;
use super::tag::{self, TagError};
use super::HttpConfig;

/// Bodies up to this size are decoded on the connection's task.
const INLINE_LIMIT: usize = 64 * 1024;

/// Requests one HTTP/2 connection may have open at once. Each may hold a
/// body of up to `buffer_max_size`, so an HTTP/2 client can hold this many
/// times what an HTTP/1.1 client holds per connection.
const MAX_STREAMS: u32 = 4;

type Answer = Response<Full<Bytes>>;

/// Why a request was not taken.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    /// Anything but POST.
    #[error("method {0} not allowed; use POST")]
    Method(Method),
    /// The process is stopping; the client should send it elsewhere or
    /// later.
    #[error("input is stopping")]
    Stopping,
    /// Filesystem storage cannot write: the records could not be kept.
    #[error("storage cannot write chunk files")]
    Storage,
    /// The path names a tag a client may not set.
    #[error("tag refused; {0}")]
    Tag(#[from] TagError),
    /// The body is too large, of an unknown kind, or malformed.
    #[error("{0}")]
    Body(#[from] BodyError),
    /// The body could not be read (the client went away mid-body).
    #[error("body not read; {0}")]
    Read(hyper::Error),
    /// The blocking thread that decoded the body failed: a bug.
    #[error("decoding thread failed")]
    Task,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        let code = match self {
            Refusal::Method(_) => 405,
            Refusal::Stopping | Refusal::Storage => 503,
            Refusal::Tag(_) | Refusal::Read(_) => 400,
            Refusal::Body(e) => e.status(),
            Refusal::Task => 500,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
    }

    /// Bad data is counted and logged as a rejected record; a refusal for
    /// the request's form or timing is only a debug line.
    fn report(&self, ctx: &InputContext, peer: Peer) {
        match self {
            Refusal::Tag(_) | Refusal::Body(_) => {
                ctx.reject(&format_args!("request from {peer} refused; {self}"));
            }
            Refusal::Task => tracing::error!(%peer, reason = %self, "http request failed"),
            Refusal::Storage => tracing::warn!(%peer, reason = %self, "http request refused"),
            _ => tracing::debug!(%peer, reason = %self, "http request refused"),
        }
    }
}

/// HTTP/1.1, and HTTP/2 when `http2` is on: hyper tells them apart by
/// the first bytes the client sends.
fn builder(config: &HttpConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(config.read_buffer)
        .header_read_timeout(None);
    builder.http2().max_concurrent_streams(MAX_STREAMS);
    if config.http2 {
        builder
    } else {
        builder.http1_only()
    }
}

/// Serves requests on `conn` until the client closes it, it idles past
/// `net.io_timeout`, or the process stops (the request in progress is
/// finished first).
pub(super) async fn serve(conn: Connection, ctx: InputContext, config: Arc<HttpConfig>) {
    let peer = conn.peer;
    let io = TokioIo::new(GatedStream::new(conn.stream, ctx.clone(), config.idle));
    let shutdown = ctx.shutdown().clone();
    let builder = builder(&config);
    let service = service_fn(move |req| {
        let ctx = ctx.clone();
        let config = Arc::clone(&config);
        async move { Ok::<_, Infallible>(answer(req, &ctx, &config, peer).await) }
    });
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        _ = shutdown.wait() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = ended {
        tracing::debug!(%peer, error = %err, "http connection ended");
    }
}

async fn answer(
    req: Request<Incoming>,
    ctx: &InputContext,
    config: &HttpConfig,
    peer: Peer,
) -> Answer {
    match take(req, ctx, config, peer).await {
        Ok(()) => success(config),
        Err(refusal) => {
            refusal.report(ctx, peer);
            refused(&refusal)
        }
    }
}

/// Reads, decodes and appends one request's records.
async fn take(
    req: Request<Incoming>,
    ctx: &InputContext,
    config: &HttpConfig,
    peer: Peer,
) -> Result<(), Refusal> {
    if ctx.shutdown().is_triggered() {
        return Err(Refusal::Stopping);
    }
    let (parts, body) = req.into_parts();
    let request = match check_head(&parts, ctx, config, peer) {
        Ok(request) => request,
        Err(refusal) => {
            drain(body, config.max_body).await;
            return Err(refusal);
        }
    };
    let body = read_body(body, config.max_body).await?;
    let batches = request.run(body, config).await?;
    if ctx.storage_failing() {
        return Err(Refusal::Storage);
    }
    let mut last = None;
    for batch in batches {
        last = Some(ctx.append(&batch.tag, &batch.data, batch.records));
    }
    // The success answer means the records are safe: written to their
    // chunk file (filesystem storage) or delivered (memory storage).
    if let Some(cp) = last {
        ctx.wait_done(cp).await;
    }
    Ok(())
}

/// Checks what the request line and headers say before the body is read.
fn check_head(
    parts: &hyper::http::request::Parts,
    ctx: &InputContext,
    config: &HttpConfig,
    peer: Peer,
) -> Result<Decode, Refusal> {
    if parts.method != Method::POST {
        return Err(Refusal::Method(parts.method.clone()));
    }
    let tag = tag::from_path(parts.uri.path())?.unwrap_or_else(|| ctx.tag().to_owned());
    let headers = &parts.headers;
    let format = BodyFormat::from_content_type(header_bytes(headers, header::CONTENT_TYPE))?;
    let gzip = body::is_gzip(header_bytes(headers, header::CONTENT_ENCODING))?;
    let announced = header_bytes(headers, header::CONTENT_LENGTH)
        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > config.max_body as u64) {
        return Err(BodyError::TooLarge(config.max_body).into());
    }
    Ok(Decode {
        format,
        gzip,
        tag,
        remote: config.add_remote_addr.then(|| remote_addr(headers, peer)),
    })
}

/// Reads and drops the body of a refused request, so the connection can
/// carry the next one; a body over `max` is left, and the connection
/// closes after the answer.
async fn drain(mut body: Incoming, max: usize) {
    let mut seen = 0;
    while let Some(Ok(frame)) = body.frame().await {
        seen += frame.data_ref().map_or(0, Bytes::len);
        if seen > max {
            return;
        }
    }
}

fn header_bytes(headers: &HeaderMap, name: header::HeaderName) -> Option<&[u8]> {
    headers.get(name).map(HeaderValue::as_bytes)
}

/// Collects the body, refusing it as soon as it passes `max` bytes.
// TODO: count bodies being read against Mem_Buf_Limit, because today
// only appended chunks are counted and `net.max_connections` clients
// can each hold a `buffer_max_size` body (4 GiB at the defaults; an
// HTTP/2 connection holds up to `MAX_STREAMS` of them); needs
// a reservation API on the input's memory account.
async fn read_body(mut body: Incoming, max: usize) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(Refusal::Read)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry no records
        };
        if out.len() + data.len() > max {
            return Err(BodyError::TooLarge(max).into());
        }
        out.extend_from_slice(&data);
    }
    Ok(out)
}

/// The client's address for `add_remote_addr`: the first address of
/// `X-Forwarded-For` when a proxy set it, otherwise the peer's IP.
fn remote_addr(headers: &HeaderMap, peer: Peer) -> String {
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    match (forwarded, peer) {
        (Some(addr), _) => addr.to_owned(),
        (None, Peer::Tcp(addr) | Peer::Udp(addr)) => addr.ip().to_string(),
        (None, Peer::Unix) => "unix".to_owned(),
    }
}

/// What decoding one body needs, owned so it can move to a blocking
/// thread.
struct Decode {
    format: BodyFormat,
    gzip: bool,
    tag: String,
    remote: Option<String>,
}

impl Decode {
    async fn run(self, body: Vec<u8>, config: &HttpConfig) -> Result<Vec<Batch>, Refusal> {
        // A gzip body may inflate to buffer_max_size whatever its size.
        let inline = body.len() <= INLINE_LIMIT && !self.gzip;
        let tag_key = config.tag_key.clone();
        let max_size = config.max_body;
        let job = move || {
            let opts = BodyOptions {
                format: self.format,
                gzip: self.gzip,
                max_size,
                tag: &self.tag,
                tag_key: tag_key.as_deref(),
                remote_addr: self.remote.as_deref(),
                time: EventTime::now(),
            };
            body::decode(&body, &opts)
        };
        if inline {
            return Ok(job()?);
        }
        match tokio::task::spawn_blocking(job).await {
            Ok(decoded) => Ok(decoded?),
            Err(_) => Err(Refusal::Task),
        }
    }
}

fn success(config: &HttpConfig) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::new()));
    *answer.status_mut() = config.success_code;
    for (name, value) in &config.success_headers {
        answer.headers_mut().append(name.clone(), value.clone());
    }
    answer
}

fn refused(refusal: &Refusal) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(format!("{refusal}\n"))));
    *answer.status_mut() = refusal.status();
    let headers = answer.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    if matches!(refusal, Refusal::Method(_)) {
        headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    answer
}
