//! Chunks: runs of encoded events with one tag, the unit of storage,
//! routing and flushing.
//!
//! An input appends events to an open chunk of its tag; the chunk is
//! sealed at [`CHUNK_SIZE_LIMIT`] or on the flush tick and then shared,
//! read-only, by every output it is routed to. The memory it holds is
//! leased from its input's account and given back when the last route
//! lets go of it, which is what lets `Mem_Buf_Limit` pause and resume
//! the input.

use std::sync::Arc;
use std::time::Instant;

use crate::ack::SharedHold;
use crate::event::Events;
use crate::memory::Lease;
use crate::storage::{Down, StoredChunk};

/// A chunk is sealed once its data reaches this size.
pub const CHUNK_SIZE_LIMIT: usize = 2 * 1024 * 1024;

/// A sealed chunk.
#[derive(Debug)]
pub struct Chunk {
    tag: Arc<str>,
    input: Arc<str>,
    data: Vec<u8>,
    records: usize,
    sealed: Instant,
    // Held for its Drop: returns the bytes to the input's account.
    _lease: Option<Lease>,
    /// Released on drop, if the chunk's file being synced has not
    /// released it already: tells the input these appends are done.
    hold: Option<SharedHold>,
    /// The chunk's file, with filesystem storage.
    stored: Option<StoredChunk>,
    /// Set when the chunk is down: its events are in its file only, and
    /// `data` is empty.
    down: Option<Arc<Down>>,
    /// Bytes of events, whether in memory or down.
    size: usize,
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if let Some(hold) = &self.hold {
            hold.release();
        }
        crate::buffers::give(std::mem::take(&mut self.data));
    }
}

impl Chunk {
    /// A chunk outside any input's account (tests, tools).
    pub fn new(tag: impl Into<Arc<str>>, data: Vec<u8>, records: usize) -> Self {
        Chunk {
            tag: tag.into(),
            input: Arc::from(""),
            size: data.len(),
            down: None,
            data,
            records,
            sealed: Instant::now(),
            _lease: None,
            hold: None,
            stored: None,
        }
    }

    /// A chunk of some of this one's events (a partial retry), with its
    /// tag, input and seal time but none of its memory lease: the engine
    /// keeps the original alive beside it.
    pub fn narrowed(&self, data: Vec<u8>, records: usize) -> Self {
        Chunk {
            tag: Arc::clone(&self.tag),
            input: Arc::clone(&self.input),
            size: data.len(),
            down: None,
            data,
            records,
            sealed: self.sealed,
            _lease: None,
            hold: None,
            stored: None,
        }
    }

    pub(crate) fn leased(
        tag: Arc<str>,
        input: Arc<str>,
        data: Vec<u8>,
        records: usize,
        lease: Lease,
        hold: Option<SharedHold>,
        stored: Option<StoredChunk>,
    ) -> Self {
        Chunk {
            tag,
            input,
            size: data.len(),
            down: None,
            data,
            records,
            sealed: Instant::now(),
            _lease: Some(lease),
            hold,
            stored,
        }
    }

    /// A chunk that is down: `size` bytes of events in its file only.
    pub(crate) fn down(
        tag: Arc<str>,
        input: Arc<str>,
        records: usize,
        size: usize,
        hold: SharedHold,
        stored: StoredChunk,
        down: Arc<Down>,
    ) -> Self {
        Chunk {
            tag,
            input,
            data: Vec::new(),
            records,
            sealed: Instant::now(),
            _lease: None,
            hold: Some(hold),
            stored: Some(stored),
            down: Some(down),
            size,
        }
    }

    /// Is the chunk down (its events on disk only)?
    pub fn is_down(&self) -> bool {
        self.down.is_some()
    }

    /// For a chunk that is down, a copy in memory to flush (read back
    /// from its file); `None` for a chunk in memory.
    ///
    /// # Errors
    ///
    /// The file cannot be read back whole.
    pub async fn bring_up(&self) -> Option<std::io::Result<Chunk>> {
        let down = self.down.as_ref()?;
        Some(down.events().await.map(|events| {
            let events = Arc::try_unwrap(events).unwrap_or_else(|e| e.as_ref().clone());
            self.narrowed(events, self.records)
        }))
    }

    /// The store's number for the chunk's file, if it has one.
    pub(crate) fn stored_id(&self) -> Option<u64> {
        self.stored.as_ref().map(StoredChunk::id)
    }

    /// Is the chunk kept in a file (filesystem storage)?
    pub fn is_stored(&self) -> bool {
        self.stored.is_some()
    }

    /// Tells the chunk's file, if it has one, that `output` is done with
    /// it (delivered, or dropped for good); the file goes when its last
    /// route is done. A route left pending at exit is delivered to at the
    /// next start.
    pub fn route_done(&self, output: &str) {
        if let Some(stored) = &self.stored {
            stored.route_done(output);
        }
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }

    pub fn tag_arc(&self) -> &Arc<str> {
        &self.tag
    }

    /// The instance name of the input that produced it.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The events, MessagePack in Fluent Bit's layout.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    pub fn records(&self) -> usize {
        self.records
    }

    /// When the chunk was sealed; delivery latency counts from here.
    pub fn sealed(&self) -> Instant {
        self.sealed
    }

    /// Bytes of events, also for a chunk that is down.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Walks the events without decoding their bodies.
    pub fn events(&self) -> Events<'_> {
        Events::new(&self.data)
    }
}
