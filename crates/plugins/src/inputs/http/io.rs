//! A connection's stream as the HTTP server reads it: reads wait while
//! the input is paused by `Mem_Buf_Limit`, and a connection that sends
//! nothing for `net.io_timeout` fails its read.
//!
//! The server (hyper) pulls bytes when it wants a request head or a piece
//! of a body; holding those reads back is what makes a client wait while
//! the input is paused, the same way the `tcp` input's senders block.
//! Time spent paused is not idle time: the timeout only runs while a read
//! is actually waiting on the socket.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use sluice_core::net::stream::Stream;
use sluice_core::plugin::InputContext;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

type Wait = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A stream whose reads follow the input's pause and idle timeout.
pub(super) struct GatedStream {
    stream: Stream,
    ctx: InputContext,
    /// Set while a read waits for the input to resume.
    resume: Option<Wait>,
    idle: Option<Duration>,
    /// Runs while a read waits on the socket.
    idle_timer: Option<Pin<Box<Sleep>>>,
    /// The timer was started for the read now waiting.
    armed: bool,
}

impl GatedStream {
    pub fn new(stream: Stream, ctx: InputContext, idle: Option<Duration>) -> Self {
        GatedStream {
            stream,
            ctx,
            resume: None,
            idle,
            idle_timer: None,
            armed: false,
        }
    }

    /// Ready once the input takes data.
    fn poll_resumed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.resume.is_none() {
            if !self.ctx.is_paused() {
                return Poll::Ready(());
            }
            let ctx = self.ctx.clone();
            self.resume = Some(Box::pin(async move { ctx.ready().await }));
        }
        if let Some(wait) = &mut self.resume {
            ready!(wait.as_mut().poll(cx));
        }
        self.resume = None;
        Poll::Ready(())
    }

    /// Fails the read once the socket has been quiet for the idle time.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(idle) = self.idle else {
            return Poll::Pending;
        };
        let timer = self
            .idle_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        if !self.armed {
            timer.as_mut().reset(Instant::now() + idle);
            self.armed = true;
        }
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("idle for longer than {idle:?}"),
        )))
    }
}

impl AsyncRead for GatedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_resumed(cx));
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.armed = false;
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_idle(cx),
        }
    }
}

impl AsyncWrite for GatedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
