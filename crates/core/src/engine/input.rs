//! The input side of the engine: open chunks, filters, sealing.
//!
//! An input task appends encoded events through its [`InputContext`].
//! Events of a tag that some filter matches are decoded, filtered in
//! configuration order and encoded again; otherwise the bytes go straight
//! into the open chunk of their tag. A chunk is sealed when it reaches
//! [`CHUNK_SIZE_LIMIT`] or on the flush tick, and sealing hands it to the
//! router under the same lock that appends, so chunks of one input leave
//! in the order their events arrived.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::task::JoinSet;
use tracing::Instrument;

use crate::ack::{Checkpoint, ChunkHold, InputHold, Progress, SharedHold};
use crate::buffers;
use crate::chunk::{Chunk, CHUNK_SIZE_LIMIT};
use crate::event::{Event, Events};
use crate::memory::Account;
use crate::metrics::InputMetrics;
use crate::plugin::Holds;
use crate::shutdown::Shutdown;
use crate::storage::store::FileHandle;
use crate::storage::Store;

use super::pipeline::Pipeline;

/// Sealed chunks alive past which an input yields after each seal (see
/// [`InputContext::ready`]).
const YIELD_AT_CHUNKS: usize = 4;

/// Events appended but not yet sealed, for one tag.
#[derive(Debug)]
struct OpenChunk {
    tag: Arc<str>,
    data: Vec<u8>,
    records: usize,
    /// The checkpoint of the append that opened it.
    first: u64,
    /// Its file, with filesystem storage.
    file: Option<FileHandle>,
    /// Holds of records a filter had kept back and that are in this
    /// chunk: their inputs wait for the chunk.
    carried: Vec<InputHold>,
    /// Room to take when the next chunk of this tag opens: what the last
    /// one held, and half again for the batch that tips it over the
    /// limit. A busy tag's chunks then fill one reused buffer instead of
    /// growing through a dozen fresh ones (see [`crate::buffers`]).
    expect: usize,
}

/// What sealing takes out of an open chunk.
struct Sealing {
    tag: Arc<str>,
    data: Vec<u8>,
    records: usize,
    first: u64,
    file: Option<FileHandle>,
    carried: Vec<InputHold>,
}

impl OpenChunk {
    /// Takes the events out, leaving the chunk empty for the next ones.
    fn take(&mut self) -> Sealing {
        let held = self.data.len();
        self.expect = (held + held / 2).min(2 * CHUNK_SIZE_LIMIT);
        Sealing {
            tag: Arc::clone(&self.tag),
            data: std::mem::take(&mut self.data),
            records: std::mem::take(&mut self.records),
            first: self.first,
            file: self.file.take(),
            carried: std::mem::take(&mut self.carried),
        }
    }
}

struct Shared {
    name: Arc<str>,
    tag: Arc<str>,
    routable: bool,
    account: Arc<Account>,
    metrics: Arc<InputMetrics>,
    progress: Arc<Progress>,
    open: Mutex<HashMap<Box<str>, OpenChunk>>,
    pipeline: Arc<Pipeline>,
    shutdown: Shutdown,
    /// Triggered when the engine stops this pipeline: a stop, or a
    /// reload replacing it.
    stopping: Shutdown,
    /// Filesystem storage, for `storage.type filesystem`.
    store: Option<Arc<Store>>,
    /// Records a filter holds keep this input's appends from being done
    /// (see [`crate::plugin::Input::waits_for_held_records`]).
    waits_for_held: bool,
    /// `storage.pause_on_chunks_overlimit`: wait while
    /// `storage.max_chunks_up` chunks are up instead of sealing new ones
    /// down.
    pause_on_overlimit: bool,
    /// Tasks the input started besides its own (one per connection).
    tasks: Mutex<JoinSet<()>>,
    /// A chunk was sealed since the input last waited in `ready()`.
    sealed_since_ready: AtomicBool,
}

/// The handle an input uses to hand events to the pipeline.
///
/// Cloning is cheap; clones share the open chunks, so a socket input may
/// give one to each connection.
#[derive(Clone)]
pub struct InputContext {
    inner: Arc<Shared>,
}

impl std::fmt::Debug for InputContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputContext")
            .field("name", &self.inner.name)
            .finish()
    }
}

pub(crate) struct InputParts {
    pub name: Arc<str>,
    pub tag: Arc<str>,
    pub routable: bool,
    pub account: Arc<Account>,
    pub metrics: Arc<InputMetrics>,
    pub store: Option<Arc<Store>>,
    pub pause_on_overlimit: bool,
    pub waits_for_held: bool,
}

impl InputContext {
    pub(crate) fn new(
        parts: InputParts,
        pipeline: Arc<Pipeline>,
        shutdown: Shutdown,
        stopping: Shutdown,
    ) -> Self {
        InputContext {
            inner: Arc::new(Shared {
                name: parts.name,
                tag: parts.tag,
                routable: parts.routable,
                account: parts.account,
                metrics: parts.metrics,
                progress: Arc::default(),
                open: Mutex::new(HashMap::new()),
                pipeline,
                shutdown,
                stopping,
                store: parts.store,
                pause_on_overlimit: parts.pause_on_overlimit,
                waits_for_held: parts.waits_for_held,
                tasks: Mutex::new(JoinSet::new()),
                sealed_since_ready: AtomicBool::new(false),
            }),
        }
    }

    /// The instance name (`dummy.0`, or the alias).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Does the input keep its chunks in files (`storage.type
    /// filesystem` with a `storage.path`)?
    pub fn stores_to_disk(&self) -> bool {
        self.inner.store.is_some()
    }

    /// Is the input's filesystem storage refusing writes (a full disk)?
    /// Inputs that answer for their records refuse new ones meanwhile.
    pub fn storage_failing(&self) -> bool {
        self.inner.store.as_ref().is_some_and(|s| s.is_failing())
    }

    /// The input's default tag.
    pub fn tag(&self) -> &str {
        &self.inner.tag
    }

    pub fn metrics(&self) -> &InputMetrics {
        &self.inner.metrics
    }

    /// The process-wide stop signal.
    pub fn shutdown(&self) -> &Shutdown {
        &self.inner.shutdown
    }

    /// Resolves once the engine stops the pipeline (a stop, or a reload
    /// replacing it). Only an input that [stops gracefully] is still
    /// running then: it should append what it holds and return.
    ///
    /// [stops gracefully]: crate::plugin::Input::stops_gracefully
    pub async fn stopping(&self) {
        self.inner.stopping.wait().await
    }

    /// Has the engine begun to stop the pipeline?
    pub fn is_stopping(&self) -> bool {
        self.inner.stopping.is_triggered()
    }

    /// The input's memory account.
    pub(crate) fn account(&self) -> Arc<Account> {
        Arc::clone(&self.inner.account)
    }

    /// Is the input over its `Mem_Buf_Limit`, or storing to a disk that
    /// refuses writes?
    pub fn is_paused(&self) -> bool {
        self.inner.account.is_paused() || self.inner.store.as_ref().is_some_and(|s| s.is_failing())
    }

    /// Waits while the input is over its `Mem_Buf_Limit`. Inputs call this
    /// before each read, so a paused input stops reading its source.
    ///
    /// With filesystem storage it also waits while the disk refuses
    /// writes, so nothing is read that cannot be stored.
    ///
    /// When sealed chunks pile up it also yields after a seal: the output
    /// queue a chunk woke waits in this worker's next-task slot, which
    /// other workers cannot steal, so an input that reads without pause
    /// (a socket that is always readable) would otherwise hold its chunks
    /// back from delivery and grow memory. Below the pile-up it does not,
    /// since handing the worker over costs throughput.
    pub async fn ready(&self) {
        if self.inner.sealed_since_ready.swap(false, Ordering::Relaxed)
            && self.inner.account.chunks() >= YIELD_AT_CHUNKS
        {
            tokio::task::yield_now().await;
        }
        if let Some(store) = &self.inner.store {
            store.writable().await;
            if self.inner.pause_on_overlimit {
                store.chunks_below_limit().await;
            }
        }
        self.inner.account.ready().await
    }

    /// Runs `task` beside the input (a socket input runs one per
    /// connection). At shutdown the engine stops these tasks and waits for
    /// them to end before it seals the last open chunks, so an append they
    /// made just before the stop is not left behind.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
        // Reap finished tasks so a long-lived listener does not keep them.
        while tasks.try_join_next().is_some() {}
        // In the input's span, so a connection's log lines name the input.
        tasks.spawn(task.in_current_span());
    }

    /// Stops the tasks started with [`InputContext::spawn`] and waits for
    /// them to end.
    pub(crate) async fn stop_tasks(&self) {
        let mut tasks = {
            let mut guard = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut *guard)
        };
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }

    /// Counts a record the input could not accept, with the reason logged.
    pub fn reject(&self, reason: &dyn std::fmt::Display) {
        self.inner.metrics.errors.inc();
        tracing::warn!(input = %self.inner.name, %reason, "record rejected");
    }

    /// Appends one decoded event under `tag`.
    pub fn append_event(&self, tag: &str, event: &Event) -> Checkpoint {
        let mut buf = Vec::with_capacity(128);
        event.encode(&mut buf);
        self.append(tag, &buf, 1)
    }

    /// Appends `records` events, already encoded in chunk layout, under
    /// `tag`. The checkpoint tells when they are done with: see
    /// [`InputContext::done`].
    pub fn append(&self, tag: &str, data: &[u8], records: usize) -> Checkpoint {
        let shared = &*self.inner;
        shared.metrics.records.add(records as u64);
        shared.metrics.bytes.add(data.len() as u64);
        let filters = shared.pipeline.filters_for(tag);
        if filters.is_empty() {
            return self.store(tag, data, records, Vec::new());
        }
        let mut events = self.decode(data);
        let mut holds = Holds::default();
        if shared.waits_for_held && shared.pipeline.holds_back(&filters) {
            holds.batch.push(InputHold::new(&shared.progress));
        }
        shared
            .pipeline
            .apply_filters(&filters, tag, &mut events, &mut holds);
        if events.is_empty() {
            return Checkpoint(shared.progress.begin(false));
        }
        let mut buf = Vec::with_capacity(data.len());
        for e in &events {
            e.encode(&mut buf);
        }
        // The batch's own events are held by their chunk from its first
        // append on; only records held from earlier batches need theirs.
        self.store(tag, &buf, events.len(), holds.released)
    }

    /// Appends events a filter held back (see [`super::emitter`]),
    /// running only the filters after position `filter` on them. `holds`
    /// are those kept for them: they end with the chunk they land in.
    pub(crate) fn append_after(
        &self,
        filter: usize,
        tag: &str,
        mut events: Vec<Event>,
        holds: Vec<InputHold>,
    ) {
        let shared = &*self.inner;
        shared.metrics.records.add(events.len() as u64);
        let later: Vec<usize> = shared
            .pipeline
            .filters_for(tag)
            .iter()
            .copied()
            .filter(|&i| i > filter)
            .collect();
        let mut holds = Holds {
            batch: holds,
            released: Vec::new(),
        };
        shared
            .pipeline
            .apply_filters(&later, tag, &mut events, &mut holds);
        if events.is_empty() {
            return;
        }
        let mut buf = Vec::with_capacity(256 * events.len());
        for e in &events {
            e.encode(&mut buf);
        }
        shared.metrics.bytes.add(buf.len() as u64);
        let mut carried = holds.batch;
        InputHold::merge(&mut carried, holds.released);
        self.store(tag, &buf, events.len(), carried);
    }

    /// The highest checkpoint up to which every append is done with:
    /// each of its chunks was delivered to, or dropped with a counted
    /// reason by, every route. Undelivered chunks at exit never count.
    pub fn done(&self) -> Checkpoint {
        self.inner.progress.done()
    }

    /// Waits until the appends up to `cp` are done with.
    ///
    /// The open chunks that hold those appends are sealed first, so the
    /// wait is for delivery alone, not for the next flush tick as well: a
    /// client that waits for each ack (Forward's Message mode) would
    /// otherwise send one record per `Flush` interval.
    pub async fn wait_done(&self, cp: Checkpoint) {
        if self.done() < cp {
            self.seal_through(cp);
        }
        self.inner.progress.wait(cp).await
    }

    fn decode(&self, data: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        for raw in Events::new(data) {
            match raw.and_then(|r| r.decode()) {
                Ok(e) => events.push(e),
                Err(err) => self.reject(&err),
            }
        }
        events
    }

    fn open(&self) -> MutexGuard<'_, HashMap<Box<str>, OpenChunk>> {
        // A panic while holding the lock leaves whole events only: every
        // append extends the buffer in one call.
        self.inner.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn store(&self, tag: &str, data: &[u8], records: usize, carried: Vec<InputHold>) -> Checkpoint {
        let shared = &*self.inner;
        shared.account.add(data.len());
        let mut open = self.open();
        if !open.contains_key(tag) {
            let chunk = OpenChunk {
                tag: Arc::from(tag),
                data: Vec::new(),
                records: 0,
                first: 0,
                file: None,
                carried: Vec::new(),
                expect: 0,
            };
            open.insert(tag.into(), chunk);
        }
        let Some(chunk) = open.get_mut(tag) else {
            unreachable!("open chunk inserted just above, under the same lock");
        };
        let seq = shared.progress.begin(chunk.records == 0);
        if chunk.records == 0 {
            chunk.first = seq;
            chunk.file = self.create_file(tag);
            if chunk.data.capacity() == 0 {
                chunk.data = buffers::take(chunk.expect.max(data.len()));
            }
        }
        chunk.data.extend_from_slice(data);
        chunk.records += records;
        InputHold::merge(&mut chunk.carried, carried);
        if let Some(file) = &chunk.file {
            file.append(data);
        }
        if chunk.data.len() >= CHUNK_SIZE_LIMIT {
            self.seal(chunk.take());
        }
        Checkpoint(seq)
    }

    /// Starts the file of a new chunk of `tag`, with filesystem storage
    /// and some output to owe it to.
    fn create_file(&self, tag: &str) -> Option<FileHandle> {
        let shared = &*self.inner;
        let store = shared.store.as_ref().filter(|_| shared.routable)?;
        let routes = shared.pipeline.route_names(tag);
        if routes.is_empty() {
            return None;
        }
        Some(store.create(&shared.name, tag, routes))
    }

    /// Seals every open chunk; the engine calls this on each flush tick
    /// and at shutdown.
    pub(crate) fn seal_all(&self) {
        let mut open = self.open();
        // Tags come and go (one per file, per sender): forget the ones idle
        // since the last tick; the busy ones keep their expected size.
        open.retain(|_, chunk| chunk.records > 0);
        for chunk in open.values_mut() {
            self.seal(chunk.take());
        }
    }

    /// Seals the open chunks that may hold appends up to `cp`; chunks
    /// begun after it stay open to fill.
    fn seal_through(&self, cp: Checkpoint) {
        let mut open = self.open();
        for chunk in open.values_mut() {
            if chunk.records > 0 && chunk.first <= cp.0 {
                self.seal(chunk.take());
            }
        }
    }

    /// Turns an open chunk into a sealed one and routes it. Called with
    /// the open-chunk lock held, which keeps chunks in order.
    ///
    /// A chunk with a file tells its input its appends are safe once the
    /// sealed file is written; otherwise once every route is done with it.
    ///
    /// Past `storage.max_chunks_up` a stored chunk goes down: its events
    /// leave memory once written, and outputs read them back to flush.
    fn seal(&self, open: Sealing) {
        let shared = &*self.inner;
        shared.sealed_since_ready.store(true, Ordering::Relaxed);
        let lease = shared.account.lease(open.data.len());
        let hold = SharedHold::new(
            ChunkHold::new(Arc::clone(&shared.progress), open.first),
            open.carried,
        );
        // An input that pauses at the limit keeps its chunks up instead.
        let over_limit = !shared.pause_on_overlimit
            && shared.store.as_ref().is_some_and(|s| s.chunks_over_limit());
        let file = match open.file {
            Some(file) if over_limit && shared.routable => {
                let size = open.data.len();
                let (stored, down) = file.seal_down(open.data, Some(hold.clone()));
                // The writer holds the events now, counted in its queue.
                drop(lease);
                let chunk = Chunk::down(
                    open.tag,
                    Arc::clone(&shared.name),
                    open.records,
                    size,
                    hold,
                    stored,
                    down,
                );
                shared.pipeline.dispatch(Arc::new(chunk));
                return;
            }
            other => other,
        };
        let stored = file.map(|f| f.seal(Some(hold.clone())));
        let chunk = Chunk::leased(
            open.tag,
            Arc::clone(&shared.name),
            open.data,
            open.records,
            lease,
            Some(hold),
            stored,
        );
        if !shared.routable {
            return;
        }
        shared.pipeline.dispatch(Arc::new(chunk));
    }
}
