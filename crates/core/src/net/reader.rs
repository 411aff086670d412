//! The read side of a connection: a buffer that grows by a chunk size up
//! to a limit, reads only while the input may take more, and knows why a
//! connection ended.
//!
//! A plugin calls [`FrameReader::fill`], frames whole records out of
//! [`FrameReader::data`], appends them and [`FrameReader::consume`]s their
//! bytes, so only a partial last frame is ever held between reads. Before
//! each read the reader waits in `InputContext::ready()`: a paused input
//! stops reading, the kernel's receive buffer fills, and the sender's TCP
//! window closes. When the held partial frame reaches the maximum, the
//! next fill fails with [`Closed::Overflow`]; everything framed before it
//! was appended already.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::plugin::InputContext;

/// How a connection's buffer may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLimits {
    /// Bytes added to the buffer at a time (and asked for per read).
    pub chunk: usize,
    /// The most one frame may take; a bigger frame ends the connection.
    pub max: usize,
}

impl BufferLimits {
    /// Limits with `max` raised to at least `chunk`, as Fluent Bit does.
    pub fn new(chunk: usize, max: usize) -> Self {
        let chunk = chunk.max(1);
        BufferLimits {
            chunk,
            max: max.max(chunk),
        }
    }
}

/// Why a connection stopped being read.
#[derive(Debug, thiserror::Error)]
pub enum Closed {
    /// The peer closed its side.
    #[error("closed by peer")]
    Eof,
    /// The process is stopping.
    #[error("stopping")]
    Shutdown,
    /// Nothing arrived within the idle timeout (`net.io_timeout`).
    #[error("idle for longer than {0:?}")]
    Idle(Duration),
    /// One frame is larger than the buffer may grow.
    #[error("frame larger than the buffer limit of {0} bytes")]
    Overflow(usize),
    #[error("read failed; {0}")]
    Io(#[from] io::Error),
}

/// Buffered reads of one connection.
#[derive(Debug)]
pub struct FrameReader<S> {
    stream: S,
    buf: Vec<u8>,
    limits: BufferLimits,
    idle: Option<Duration>,
}

impl<S: AsyncRead + Unpin> FrameReader<S> {
    pub fn new(stream: S, limits: BufferLimits, idle: Option<Duration>) -> Self {
        FrameReader {
            stream,
            buf: Vec::new(),
            limits,
            idle,
        }
    }

    /// The bytes read and not yet consumed.
    pub fn data(&self) -> &[u8] {
        &self.buf
    }

    /// Drops the first `n` bytes of [`FrameReader::data`].
    pub fn consume(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
        // Big frames are over: give their memory back. While they keep
        // coming the room stays, or each would fault in fresh pages.
        if n < self.limits.chunk
            && self.buf.capacity() > 2 * self.limits.chunk
            && self.buf.len() < self.limits.chunk
        {
            self.buf.shrink_to(self.limits.chunk);
        }
    }

    /// The stream, to write answers on.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Waits until the input may take more, then reads once; returns the
    /// number of bytes added.
    ///
    /// # Errors
    ///
    /// [`Closed`] says why nothing more will be read: end of stream, the
    /// process stopping, the idle timeout, a frame over the limit, or an
    /// I/O error.
    pub async fn fill(&mut self, ctx: &InputContext) -> Result<usize, Closed> {
        let room = self.limits.max.saturating_sub(self.buf.len());
        if room == 0 {
            return Err(Closed::Overflow(self.limits.max));
        }
        let shutdown = ctx.shutdown().clone();
        tokio::select! {
            biased;
            _ = shutdown.wait() => Err(Closed::Shutdown),
            n = self.read_when_ready(ctx, room) => n,
        }
    }

    async fn read_when_ready(&mut self, ctx: &InputContext, room: usize) -> Result<usize, Closed> {
        ctx.ready().await;
        let want = room.min(self.limits.chunk);
        self.buf.reserve(want);
        let mut limited = (&mut self.stream).take(want as u64);
        let read = limited.read_buf(&mut self.buf);
        let n = match self.idle {
            Some(idle) => tokio::time::timeout(idle, read)
                .await
                .map_err(|_| Closed::Idle(idle))??,
            None => read.await?,
        };
        if n == 0 {
            return Err(Closed::Eof);
        }
        Ok(n)
    }
}
