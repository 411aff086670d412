//! The store: where chunks of `storage.type filesystem` inputs are written,
//! and the thread that writes them.
//!
//! Inputs must not block on the disk, so every file operation is a
//! message to one writer thread, handled in the order sent: create a
//! chunk's file when its first event is appended, add a frame per append,
//! seal it, mark a route done, delete it when the last route is done.
//! Once a sealed chunk is written (and synced, with `storage.sync full`),
//! its input is told the appends in it are safe (tail saves its offset,
//! forward answers its ack) without waiting for delivery.
//!
//! A failed write (a full disk, a removed directory) is logged and
//! counted, and the chunk goes on in memory only: its file is removed so
//! that a later start does not deliver a partial copy, and its input
//! learns it is safe only once it is delivered, as with memory storage.
//! While writes fail, filesystem inputs are paused (their `ready()`
//! waits), so nothing more is read than the disk can take; the writer
//! probes the disk every second and resumes them once a write works.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::ack::SharedHold;
use crate::metrics::{Counter, Gauge};

use super::chunk_file::{self, ChunkHeader, ChunkWriter, EventType, RouteState, SyncMode};

/// The file name ending of chunk files.
pub const CHUNK_SUFFIX: &str = "chunk";

/// The folder under `storage.path` that damaged files are moved to.
pub const QUARANTINE_DIR: &str = "quarantine";

/// How often a failing store checks whether the disk takes writes again.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// How much a probe writes: a chunk's frames are written in pieces of
/// about this size, so a probe that fits means appends fit again.
const PROBE_BYTES: usize = 64 * 1024;

/// Frame bytes sent to the writer and not yet written past which
/// filesystem inputs wait: the disk sets the pace, not memory.
const QUEUE_LIMIT: usize = 16 << 20;

/// Whether the disk takes writes and keeps up, shared by the writer and
/// the inputs.
#[derive(Debug, Default)]
struct Health {
    failing: AtomicBool,
    /// Frame bytes queued for the writer.
    queued: AtomicUsize,
    /// Notified when writes work again, the queue drains below half its
    /// limit, or a chunk that was up is released.
    changed: Notify,
}

impl Health {
    fn must_wait(&self) -> bool {
        self.failing.load(Ordering::Acquire) || self.queued.load(Ordering::Acquire) > QUEUE_LIMIT
    }

    /// The writer handled `bytes` of queued frames.
    fn dequeued(&self, bytes: usize) {
        let before = self.queued.fetch_sub(bytes, Ordering::AcqRel);
        let after = before - bytes;
        if before > QUEUE_LIMIT / 2 && after <= QUEUE_LIMIT / 2 {
            self.changed.notify_waiters();
        }
    }
}

/// The `[SERVICE]` storage settings.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// `storage.path`.
    pub root: PathBuf,
    /// `storage.sync`.
    pub sync: SyncMode,
    /// `storage.delete_irrecoverable_chunks`: delete damaged files
    /// instead of moving them aside.
    pub delete_irrecoverable: bool,
    /// `storage.backlog.mem_limit`: memory for chunks replayed at start.
    pub backlog_mem_limit: usize,
    /// `storage.max_chunks_up`: sealed stored chunks kept in memory; the
    /// rest are down (on disk only) and read back when flushed.
    pub max_chunks_up: usize,
    /// `storage.keep.rejected` with `storage.rejected.path`: where copies
    /// of chunks an output dropped for good are kept.
    pub rejected: Option<PathBuf>,
}

/// Counters of the store, for logs and `/api/v1/storage`.
#[derive(Debug, Default)]
pub struct StorageMetrics {
    /// Chunk files on disk that still owe some route.
    pub files: Gauge,
    /// Chunk files created.
    pub created: Counter,
    /// Chunk writes that failed (the chunk then lives in memory only).
    pub write_errors: Counter,
    /// Chunks read back from an earlier run.
    pub replayed: Counter,
    /// Sealed stored chunks held in memory.
    pub up: Gauge,
    /// Sealed stored chunks on disk only, read back when flushed.
    pub down: Gauge,
    /// Damaged files moved aside (or deleted).
    pub quarantined: Counter,
    /// Chunks copied to `storage.rejected.path`.
    pub rejected: Counter,
}

/// A message to the writer thread.
enum Op {
    Create {
        id: u64,
        path: PathBuf,
        header: ChunkHeader,
    },
    Append {
        id: u64,
        frame: Vec<u8>,
    },
    Seal {
        id: u64,
        hold: Option<SharedHold>,
        /// For a chunk that goes down: its events, dropped once written
        /// (kept if the write fails), and where to say which.
        down: Option<(Vec<u8>, Arc<Down>)>,
    },
    /// A file read back at start-up, with its routes still pending.
    Adopt {
        id: u64,
        path: PathBuf,
        route_offsets: Vec<usize>,
        pending: usize,
    },
    RouteDone {
        id: u64,
        route: usize,
    },
    /// Keep a copy of a chunk an output dropped for good: `events`, or
    /// when the chunk is down, the file of chunk `id`.
    Reject {
        path: PathBuf,
        header: ChunkHeader,
        events: Option<Vec<u8>>,
        id: Option<u64>,
    },
    Barrier(tokio::sync::oneshot::Sender<()>),
}

/// Filesystem storage of one pipeline.
pub struct Store {
    settings: StoreSettings,
    /// To the writer thread; a std sender may be shared between threads.
    tx: mpsc::Sender<Op>,
    /// Names files: the store's start time, then a counter, so names
    /// sort by creation across runs.
    stem: u128,
    next: AtomicU64,
    metrics: Arc<StorageMetrics>,
    health: Arc<Health>,
    /// Sealed stored chunks in memory, against `max_chunks_up`.
    up: AtomicUsize,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.settings.root)
            .finish()
    }
}

impl Store {
    /// Creates `storage.path` if needed and starts the writer thread.
    ///
    /// # Errors
    ///
    /// The folder cannot be created, or the thread cannot be started.
    pub fn open(settings: StoreSettings) -> io::Result<Arc<Self>> {
        std::fs::create_dir_all(&settings.root)?;
        let (tx, rx) = mpsc::channel();
        let metrics = Arc::new(StorageMetrics::default());
        let health = Arc::new(Health::default());
        let writer = Writer {
            sync: settings.sync,
            root: settings.root.clone(),
            files: HashMap::new(),
            metrics: Arc::clone(&metrics),
            health: Arc::clone(&health),
        };
        std::thread::Builder::new()
            .name("sluice-storage".into())
            .spawn(move || writer.run(rx))?;
        let stem = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Ok(Arc::new(Store {
            settings,
            tx,
            stem,
            next: AtomicU64::new(1),
            metrics,
            health,
            up: AtomicUsize::new(0),
        }))
    }

    /// Should the next sealed chunk go down? Only while the disk takes
    /// writes: a chunk whose file failed lives in memory.
    pub(crate) fn chunks_over_limit(&self) -> bool {
        self.up.load(Ordering::Relaxed) >= self.settings.max_chunks_up && !self.is_failing()
    }

    /// Waits while `storage.max_chunks_up` chunks are up: for an input
    /// with `storage.pause_on_chunks_overlimit on`.
    pub async fn chunks_below_limit(&self) {
        self.wait_until(|| !self.chunks_over_limit()).await
    }

    /// Waits until `ready` holds, checking it again whenever the store's
    /// state changes.
    async fn wait_until(&self, ready: impl Fn() -> bool) {
        loop {
            let changed = self.health.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if ready() {
                return;
            }
            changed.await;
        }
    }

    fn set_gauges(&self) {
        self.metrics.up.set(self.up.load(Ordering::Relaxed) as u64);
    }

    /// Is the disk refusing writes?
    pub fn is_failing(&self) -> bool {
        self.health.failing.load(Ordering::Acquire)
    }

    /// Waits while the disk refuses writes or the writer is behind.
    /// Filesystem inputs call this before each read, so a full or slow
    /// disk pauses them instead of growing memory with records that
    /// cannot be stored yet.
    pub async fn writable(&self) {
        self.wait_until(|| !self.health.must_wait()).await
    }

    pub fn settings(&self) -> &StoreSettings {
        &self.settings
    }

    pub fn metrics(&self) -> &Arc<StorageMetrics> {
        &self.metrics
    }

    fn send(&self, op: Op) {
        // The writer thread only ends when every sender is gone.
        let _ = self.tx.send(op);
    }

    /// A fresh file path for a chunk of `input`.
    pub(crate) fn new_path(&self, input: &str) -> (u64, PathBuf) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let name = format!("{:020}-{id:010}.{CHUNK_SUFFIX}", self.stem);
        (id, self.settings.root.join(dir_name(input)).join(name))
    }

    /// Starts the file of a new chunk of `input` with `tag`, owed to
    /// `routes` (output instance names).
    pub(crate) fn create(
        self: &Arc<Self>,
        input: &str,
        tag: &str,
        routes: Arc<[Arc<str>]>,
    ) -> FileHandle {
        let (id, path) = self.new_path(input);
        let header = ChunkHeader {
            tag: tag.to_owned(),
            input: input.to_owned(),
            event_type: EventType::Logs,
            routes: routes
                .iter()
                .map(|r| (r.to_string(), RouteState::Pending))
                .collect(),
            sealed: false,
        };
        self.send(Op::Create { id, path, header });
        FileHandle {
            store: Arc::clone(self),
            id,
            routes,
        }
    }

    /// Keeps a copy of `chunk`, which `output` dropped for good, under
    /// `storage.rejected.path`, when `storage.keep.rejected` is on.
    pub fn reject(&self, output: &str, chunk: &crate::chunk::Chunk) {
        let Some(dir) = &self.settings.rejected else {
            return;
        };
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let name = format!("{:020}-{id:010}.{CHUNK_SUFFIX}", self.stem);
        let header = ChunkHeader {
            tag: chunk.tag().to_owned(),
            input: chunk.input().to_owned(),
            event_type: EventType::Logs,
            routes: vec![(output.to_owned(), RouteState::Done)],
            sealed: true,
        };
        let (events, id) = match chunk.stored_id().filter(|_| chunk.is_down()) {
            Some(id) => (None, Some(id)),
            None => (Some(chunk.data().to_vec()), None),
        };
        self.send(Op::Reject {
            path: dir.join(dir_name(output)).join(name),
            header,
            events,
            id,
        });
    }

    /// Waits until every message sent so far has been handled: at exit,
    /// so each sealed chunk is on disk before the process ends.
    pub async fn flushed(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Op::Barrier(tx));
        let _ = rx.await;
    }

    /// Takes over a file read back at start-up; `routes` are all of its
    /// header's routes, of which `pending` are still owed.
    pub(crate) fn adopt(
        self: &Arc<Self>,
        path: PathBuf,
        header: &ChunkHeader,
        pending: usize,
    ) -> FileHandle {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let route_offsets = chunk_file::route_offsets(header);
        self.send(Op::Adopt {
            id,
            path,
            route_offsets,
            pending,
        });
        FileHandle {
            store: Arc::clone(self),
            id,
            routes: header
                .routes
                .iter()
                .map(|(name, _)| Arc::from(name.as_str()))
                .collect(),
        }
    }
}

/// A folder name for an input's chunks: its instance name, with anything
/// that could leave the folder replaced.
fn dir_name(input: &str) -> String {
    input
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_owned()
}

/// The file of one chunk, as the input writing it sees it.
#[derive(Debug)]
pub(crate) struct FileHandle {
    store: Arc<Store>,
    id: u64,
    routes: Arc<[Arc<str>]>,
}

impl FileHandle {
    /// Adds one frame of events.
    pub fn append(&self, events: &[u8]) {
        let mut frame = Vec::with_capacity(events.len() + 8);
        chunk_file::encode_frame(&mut frame, events);
        self.store
            .health
            .queued
            .fetch_add(frame.len(), Ordering::AcqRel);
        self.store.send(Op::Append { id: self.id, frame });
    }

    /// Seals the file of a chunk that stays in memory; once the seal is
    /// written, `hold` is released.
    pub fn seal(self, hold: Option<SharedHold>) -> StoredChunk {
        self.store.send(Op::Seal {
            id: self.id,
            hold,
            down: None,
        });
        self.into_sealed()
    }

    /// Seals the file of a chunk that goes down: `events` leave memory
    /// once written, and the chunk is read back from the file when an
    /// output flushes it.
    pub fn seal_down(self, events: Vec<u8>, hold: Option<SharedHold>) -> (StoredChunk, Arc<Down>) {
        let down = Arc::new(Down::default());
        self.store
            .health
            .queued
            .fetch_add(events.len(), Ordering::AcqRel);
        self.store.send(Op::Seal {
            id: self.id,
            hold,
            down: Some((events, Arc::clone(&down))),
        });
        let metrics = &self.store.metrics;
        metrics.down.set(metrics.down.get() + 1);
        let stored = StoredChunk {
            file: self,
            up: false,
        };
        (stored, down)
    }

    /// The handle of a sealed chunk held in memory (one sealed now, or
    /// read back from an earlier run).
    pub fn into_sealed(self) -> StoredChunk {
        self.store.up.fetch_add(1, Ordering::Relaxed);
        self.store.set_gauges();
        StoredChunk {
            file: self,
            up: true,
        }
    }
}

/// The file of a sealed chunk, held by the chunk.
#[derive(Debug)]
pub struct StoredChunk {
    file: FileHandle,
    /// Counted as up (in memory) rather than down.
    up: bool,
}

impl StoredChunk {
    /// The writer's number for the file.
    pub(crate) fn id(&self) -> u64 {
        self.file.id
    }

    /// Marks the route to `output` done; the file is deleted once every
    /// route is.
    pub fn route_done(&self, output: &str) {
        let h = &self.file;
        match h.routes.iter().position(|r| &**r == output) {
            Some(route) => h.store.send(Op::RouteDone { id: h.id, route }),
            None => tracing::debug!(output, "route not in the chunk file; nothing to mark"),
        }
    }
}

impl Drop for StoredChunk {
    fn drop(&mut self) {
        let store = &self.file.store;
        if self.up {
            store.up.fetch_sub(1, Ordering::Relaxed);
            store.set_gauges();
            // Inputs paused on storage.max_chunks_up may go on.
            store.health.changed.notify_waiters();
        } else {
            let down = &store.metrics.down;
            down.set(down.get().saturating_sub(1));
        }
    }
}

/// Where the events of a chunk that went down are.
#[derive(Debug, Default)]
pub struct Down {
    state: Mutex<DownState>,
    settled: Notify,
}

#[derive(Debug, Default)]
enum DownState {
    /// The writer has not handled the seal yet.
    #[default]
    Writing,
    OnDisk(PathBuf),
    /// The file failed: the events stayed in memory.
    Kept(Arc<Vec<u8>>),
}

impl Down {
    fn settle(&self, state: DownState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
        self.settled.notify_waiters();
    }

    /// Reads the events back (on a blocking thread), once written.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or no longer holds every frame.
    pub async fn events(&self) -> io::Result<Arc<Vec<u8>>> {
        let path = loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            match &*self.state.lock().unwrap_or_else(|e| e.into_inner()) {
                DownState::Writing => {}
                DownState::OnDisk(path) => break path.clone(),
                DownState::Kept(events) => return Ok(Arc::clone(events)),
            }
            settled.await;
        };
        tokio::task::spawn_blocking(move || {
            let bytes = std::fs::read(&path)?;
            let read = chunk_file::read_chunk(&bytes)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if let Some(damage) = read.damage {
                return Err(io::Error::new(io::ErrorKind::InvalidData, damage));
            }
            Ok(Arc::new(read.events))
        })
        .await
        .map_err(io::Error::other)?
    }
}

/// One file the writer knows.
struct Entry {
    path: PathBuf,
    /// Open while the chunk takes appends.
    file: Option<ChunkWriter>,
    route_offsets: Vec<usize>,
    pending: usize,
    /// A write failed: the chunk lives in memory only.
    failed: bool,
}

struct Writer {
    sync: SyncMode,
    root: PathBuf,
    files: HashMap<u64, Entry>,
    metrics: Arc<StorageMetrics>,
    health: Arc<Health>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Op>) {
        loop {
            if self.failing() {
                match rx.recv_timeout(PROBE_EVERY) {
                    Ok(op) => self.handle(op),
                    Err(mpsc::RecvTimeoutError::Timeout) => self.probe(),
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            } else {
                match rx.recv() {
                    Ok(op) => self.handle(op),
                    Err(_) => return,
                }
            }
        }
    }

    fn failing(&self) -> bool {
        self.health.failing.load(Ordering::Acquire)
    }

    /// Writes and removes a scratch file: if that works, the disk has
    /// room again and paused inputs go on.
    fn probe(&mut self) {
        let path = self.root.join(".probe");
        let written = std::fs::write(&path, vec![0u8; PROBE_BYTES]);
        let _ = std::fs::remove_file(&path);
        if written.is_ok() {
            self.recovered();
        }
    }

    fn recovered(&mut self) {
        if self.health.failing.swap(false, Ordering::AcqRel) {
            tracing::info!("chunk files can be written again; filesystem inputs resume");
            self.health.changed.notify_waiters();
        }
    }

    fn handle(&mut self, op: Op) {
        match op {
            Op::Create { id, path, header } => {
                let pending = header.routes.len();
                let route_offsets = chunk_file::route_offsets(&header);
                let result = path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| ChunkWriter::create(&path, &header, self.sync));
                let mut entry = Entry {
                    path,
                    file: None,
                    route_offsets,
                    pending,
                    failed: false,
                };
                match result {
                    Ok(file) => {
                        entry.file = Some(file);
                        self.metrics.created.inc();
                        self.metrics.files.set(self.metrics.files.get() + 1);
                    }
                    Err(err) => {
                        entry.failed = true;
                        self.failed_log("create", &err);
                        // A file created before the error holds nothing.
                        let _ = std::fs::remove_file(&entry.path);
                    }
                }
                self.files.insert(id, entry);
            }
            Op::Append { id, frame } => {
                self.append(id, &frame);
                self.health.dequeued(frame.len());
            }
            Op::Seal { id, hold, down } => {
                let written = self.seal(id, hold);
                if let Some((events, down)) = down {
                    self.health.dequeued(events.len());
                    match written {
                        Some(path) => down.settle(DownState::OnDisk(path)),
                        None => down.settle(DownState::Kept(Arc::new(events))),
                    }
                }
                self.finish_if_done(id);
            }
            Op::Adopt {
                id,
                path,
                route_offsets,
                pending,
            } => {
                self.metrics.files.set(self.metrics.files.get() + 1);
                self.files.insert(
                    id,
                    Entry {
                        path,
                        file: None,
                        route_offsets,
                        pending,
                        failed: false,
                    },
                );
                self.finish_if_done(id);
            }
            Op::RouteDone { id, route } => {
                let Some(entry) = self.files.get_mut(&id) else {
                    return;
                };
                entry.pending = entry.pending.saturating_sub(1);
                if entry.pending > 0 && !entry.failed {
                    if let Some(&at) = entry.route_offsets.get(route) {
                        if let Err(err) = chunk_file::mark_route_done(&entry.path, at) {
                            // Left pending, the route is delivered to again
                            // after a restart: a duplicate, not a loss.
                            tracing::warn!(path = %entry.path.display(), error = %err, "cannot mark a chunk route done");
                        }
                    }
                }
                self.finish_if_done(id);
            }
            Op::Reject {
                path,
                header,
                events,
                id,
            } => self.reject(&path, &header, events, id),
            Op::Barrier(done) => {
                let _ = done.send(());
            }
        }
    }

    /// Writes a dead-letter copy of a chunk.
    fn reject(
        &mut self,
        path: &Path,
        header: &ChunkHeader,
        events: Option<Vec<u8>>,
        id: Option<u64>,
    ) {
        let events = match (events, id.and_then(|id| self.files.get(&id))) {
            (Some(events), _) => Ok(events),
            (None, Some(entry)) => std::fs::read(&entry.path).and_then(|bytes| {
                chunk_file::read_chunk(&bytes)
                    .map(|read| read.events)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
            }),
            (None, None) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "chunk file is gone",
            )),
        };
        let written = events.and_then(|events| {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut copy = ChunkWriter::create(path, header, self.sync)?;
            copy.append(&events)?;
            copy.seal()
        });
        match written {
            Ok(()) => {
                self.metrics.rejected.inc();
                tracing::info!(path = %path.display(), "rejected chunk kept");
            }
            Err(err) => {
                let _ = std::fs::remove_file(path);
                tracing::error!(path = %path.display(), error = %err, "cannot keep a rejected chunk");
            }
        }
    }

    /// Seals a file; returns its path when it holds the chunk, `None`
    /// when the chunk lives in memory only.
    fn seal(&mut self, id: u64, hold: Option<SharedHold>) -> Option<PathBuf> {
        let entry = self.files.get_mut(&id)?;
        if entry.failed {
            return None;
        }
        let mut file = entry.file.take()?;
        match file.seal() {
            Ok(()) => {
                // Written: the input may count these appends as safe now.
                if let Some(hold) = hold {
                    hold.release();
                }
                let path = entry.path.clone();
                self.recovered();
                Some(path)
            }
            Err(err) => {
                entry.file = Some(file);
                Self::abandon(entry);
                self.failed_entry("seal", &err);
                None
            }
        }
    }

    fn append(&mut self, id: u64, frame: &[u8]) {
        let Some(entry) = self.files.get_mut(&id) else {
            return;
        };
        let Some(file) = entry.file.as_mut().filter(|_| !entry.failed) else {
            return;
        };
        if let Err(err) = file.append_frame(frame) {
            Self::abandon(entry);
            self.failed_entry("append", &err);
        }
    }

    /// Deletes a file every route is done with.
    fn finish_if_done(&mut self, id: u64) {
        let Some(entry) = self.files.get(&id) else {
            return;
        };
        if entry.pending > 0 || entry.file.is_some() {
            return;
        }
        let entry = self.files.remove(&id).expect("looked up above");
        if entry.failed {
            return;
        }
        self.metrics
            .files
            .set(self.metrics.files.get().saturating_sub(1));
        if let Err(err) = std::fs::remove_file(&entry.path) {
            if err.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %entry.path.display(), error = %err, "cannot delete a delivered chunk file");
            }
        }
    }

    /// Gives up on an entry's file: the chunk goes on in memory only.
    fn abandon(entry: &mut Entry) {
        entry.failed = true;
        entry.file = None;
        // A partial copy would be delivered again after a restart.
        let _ = std::fs::remove_file(&entry.path);
    }

    /// A file that was counted failed after its creation.
    fn failed_entry(&mut self, what: &str, err: &io::Error) {
        self.metrics
            .files
            .set(self.metrics.files.get().saturating_sub(1));
        self.failed_log(what, err);
    }

    /// Counts a failed write, logs the first of a run of failures, and
    /// pauses filesystem inputs.
    fn failed_log(&mut self, what: &str, err: &io::Error) {
        self.metrics.write_errors.inc();
        if !self.health.failing.swap(true, Ordering::AcqRel) {
            tracing::error!(
                operation = what,
                error = %err,
                "cannot write a chunk file; filesystem inputs are paused and chunks already read stay in memory until it works again"
            );
        } else {
            tracing::debug!(operation = what, error = %err, "chunk file write failed again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_stay_inside_the_store() {
        assert_eq!(dir_name("tail.0"), "tail.0");
        assert_eq!(dir_name("../etc"), "_etc");
        assert_eq!(dir_name("a/b c"), "a_b_c");
    }
}
