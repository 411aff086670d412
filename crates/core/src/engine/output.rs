//! The output side of the engine: a queue per output, flush tasks with a
//! `workers` limit, verdicts, and retries on the backoff schedule.
//!
//! Each flush is its own task, so a destination that hangs holds only its
//! own flushes (at most `workers` of them); other outputs and every input
//! go on. A chunk travels as an `Arc`: when the last output is done with
//! it, its memory goes back to its input.

use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};
use tracing::Instrument;

use crate::chunk::Chunk;
use crate::metrics::OutputMetrics;
use crate::plugin::{Output, Partial, Verdict};

use super::limit::{Evicted, Ledger, Slot};
use super::retry::{Backoff, RetryLimit};

/// One chunk's pending delivery to one output.
struct Task {
    chunk: Arc<Chunk>,
    /// After a partial delivery, the records still to send; `chunk` is
    /// kept beside it so its memory and delivery hold last until then.
    narrowed: Option<Arc<Chunk>>,
    /// Retries already made.
    retries: u32,
    /// Its place under `storage.total_limit_size`, when that is set.
    slot: Option<Arc<Slot>>,
}

impl Task {
    /// What the next attempt sends.
    fn current(&self) -> &Arc<Chunk> {
        self.narrowed.as_ref().unwrap_or(&self.chunk)
    }
}

/// The engine's side of one output instance.
pub(crate) struct OutputShared {
    pub name: Arc<str>,
    pub plugin: Arc<dyn Output>,
    pub metrics: Arc<OutputMetrics>,
    pub retry_limit: RetryLimit,
    pub backoff: Backoff,
    pub workers: usize,
    /// `storage.total_limit_size`, for chunks kept on disk.
    pub ledger: Option<Ledger>,
    /// The store, when `storage.keep.rejected` is on: chunks dropped for
    /// good are copied there.
    pub rejected: Option<Arc<crate::storage::Store>>,
}

/// Where chunks for one output are queued.
#[derive(Clone)]
pub(crate) struct OutputHandle {
    shared: Arc<OutputShared>,
    tx: mpsc::UnboundedSender<Task>,
}

impl OutputHandle {
    /// The output's instance name.
    pub fn name(&self) -> &Arc<str> {
        &self.shared.name
    }

    pub fn enqueue(&self, chunk: Arc<Chunk>) {
        let shared = &*self.shared;
        let slot = match &shared.ledger {
            Some(ledger) if chunk.is_stored() => {
                let (slot, evicted) = ledger.admit(&chunk);
                for e in evicted {
                    evict(shared, &e);
                }
                Some(slot)
            }
            _ => None,
        };
        // The receiver lives as long as the engine; a send after it is
        // gone only happens at exit, where the chunk is reported anyway.
        let _ = self.tx.send(Task {
            chunk,
            narrowed: None,
            retries: 0,
            slot,
        });
    }
}

/// Drops a chunk `storage.total_limit_size` pushed out, counted.
fn evict(shared: &OutputShared, e: &Evicted) {
    shared.metrics.dropped_records.add(e.records as u64);
    tracing::warn!(
        output = %shared.name,
        tag = e.chunk.tag(),
        records = e.records,
        bytes = e.chunk.size(),
        "storage.total_limit_size reached: oldest chunk dropped for this output"
    );
    e.chunk.route_done(&shared.name);
}

/// Copies a chunk dropped for good to `storage.rejected.path`, when
/// `storage.keep.rejected` is on: the records still owed (after a partial
/// delivery, only those).
fn keep_rejected(shared: &OutputShared, task: &Task) {
    if let Some(store) = &shared.rejected {
        let chunk = match &task.narrowed {
            Some(n) => n,
            None => &task.chunk,
        };
        store.reject(&shared.name, chunk);
    }
}

/// The output is done with the task's chunk: delivered, or dropped with
/// a counted reason.
fn finished(shared: &OutputShared, task: &Task) {
    if let (Some(ledger), Some(slot)) = (&shared.ledger, &task.slot) {
        ledger.release(slot);
    }
    task.chunk.route_done(&shared.name);
}

/// Creates the queue of an output; `run` consumes it.
pub(crate) fn queue(shared: Arc<OutputShared>) -> (OutputHandle, OutputRunner) {
    let (tx, rx) = mpsc::unbounded_channel();
    let runner = OutputRunner {
        shared,
        rx,
        tx: tx.downgrade(),
    };
    let shared = Arc::clone(&runner.shared);
    (OutputHandle { shared, tx }, runner)
}

pub(crate) struct OutputRunner {
    shared: Arc<OutputShared>,
    rx: mpsc::UnboundedReceiver<Task>,
    // Weak, so retries do not keep the queue open on their own.
    tx: mpsc::WeakUnboundedSender<Task>,
}

impl OutputRunner {
    /// Starts a flush for every queued chunk, `workers` at a time.
    pub async fn run(mut self) {
        let slots = Arc::new(Semaphore::new(self.shared.workers.max(1)));
        while let Some(task) = self.rx.recv().await {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return; // the semaphore is never closed
            };
            let shared = Arc::clone(&self.shared);
            let tx = self.tx.clone();
            let span = tracing::info_span!("output", name = %shared.name);
            tokio::spawn(
                async move {
                    flush(&shared, task, tx).await;
                    drop(slot);
                }
                .instrument(span),
            );
        }
    }
}

async fn flush(shared: &OutputShared, task: Task, tx: mpsc::WeakUnboundedSender<Task>) {
    if task.slot.as_ref().is_some_and(|s| !s.start_flush()) {
        return; // evicted by storage.total_limit_size, counted then
    }
    let chunk = task.current();
    tracing::debug!(tag = chunk.tag(), records = chunk.records(), "flush");
    // A chunk that is down is read back for the flush, and dropped from
    // memory again after it.
    let up = match chunk.bring_up().await {
        None => None,
        Some(Ok(up)) => Some(up),
        Some(Err(err)) => {
            shared.metrics.errors.inc();
            shared.metrics.dropped_records.add(chunk.records() as u64);
            tracing::error!(
                tag = chunk.tag(),
                records = chunk.records(),
                error = %err,
                "stored chunk cannot be read back; dropped for this output"
            );
            finished(shared, &task);
            return;
        }
    };
    report_connections(shared);
    let verdict = shared.plugin.flush(up.as_ref().unwrap_or(chunk)).await;
    report_connections(shared);
    match verdict {
        Verdict::Ok => {
            delivered(shared, chunk, chunk.records(), chunk.size());
            finished(shared, &task);
        }
        Verdict::Retry(reason) => {
            shared.metrics.errors.inc();
            retry_later(shared, task, tx, &reason)
        }
        Verdict::Partial(partial) => partly_delivered(shared, task, tx, partial),
        Verdict::Error(reason) => {
            shared.metrics.errors.inc();
            shared.metrics.dropped_records.add(chunk.records() as u64);
            tracing::error!(
                tag = chunk.tag(),
                records = chunk.records(),
                %reason,
                "flush failed for good, chunk dropped for this output"
            );
            keep_rejected(shared, &task);
            finished(shared, &task);
        }
    }
}

/// Copies the plugin's connection counts into the upstream gauges; read
/// around each flush, which is when they change.
fn report_connections(shared: &OutputShared) {
    if let Some((open, busy)) = shared.plugin.connections() {
        shared.metrics.upstream_total_connections.set(open);
        shared.metrics.upstream_busy_connections.set(busy);
    }
}

fn delivered(shared: &OutputShared, chunk: &Chunk, records: usize, bytes: usize) {
    shared.metrics.proc_records.add(records as u64);
    shared.metrics.proc_bytes.add(bytes as u64);
    shared
        .metrics
        .latency
        .observe(chunk.input(), chunk.sealed().elapsed());
}

/// Counts what was delivered and dropped, and retries the rest as a
/// narrowed chunk that shares the original's retry count.
fn partly_delivered(
    shared: &OutputShared,
    task: Task,
    tx: mpsc::WeakUnboundedSender<Task>,
    partial: Partial,
) {
    let chunk = task.current();
    let records = chunk.records();
    let done = records.saturating_sub(partial.retry_records + partial.dropped);
    // Records differ in size; the delivered share of bytes is an estimate.
    let done_bytes = chunk.size() * done / records.max(1);
    delivered(shared, chunk, done, done_bytes);
    if partial.dropped > 0 || partial.retry_records > 0 {
        shared.metrics.errors.inc();
    }
    if partial.dropped > 0 {
        shared.metrics.dropped_records.add(partial.dropped as u64);
        tracing::error!(
            tag = chunk.tag(),
            dropped = partial.dropped,
            reason = %partial.reason,
            "records refused for good, dropped for this output"
        );
    }
    if partial.retry_records == 0 {
        finished(shared, &task);
        return;
    }
    let narrowed = chunk.narrowed(partial.retry, partial.retry_records);
    let task = Task {
        narrowed: Some(Arc::new(narrowed)),
        ..task
    };
    retry_later(shared, task, tx, &partial.reason);
}

fn retry_later(
    shared: &OutputShared,
    task: Task,
    tx: mpsc::WeakUnboundedSender<Task>,
    reason: &str,
) {
    let chunk = task.current();
    if !shared.retry_limit.allows(task.retries) {
        shared.metrics.retries_failed.inc();
        shared.metrics.dropped_records.add(chunk.records() as u64);
        tracing::error!(
            tag = chunk.tag(),
            records = chunk.records(),
            retries = task.retries,
            %reason,
            "retries exhausted, chunk dropped for this output"
        );
        keep_rejected(shared, &task);
        finished(shared, &task);
        return;
    }
    if let Some(slot) = &task.slot {
        slot.wait_again(chunk.records());
    }
    shared.metrics.retries.inc();
    if task.retries == 0 {
        shared.metrics.retried_records.add(chunk.records() as u64);
    }
    let wait = shared.backoff.wait(task.retries);
    tracing::warn!(
        tag = chunk.tag(),
        records = chunk.records(),
        retry = task.retries + 1,
        wait_secs = wait.as_secs(),
        %reason,
        "flush failed, retry scheduled"
    );
    let task = Task {
        retries: task.retries + 1,
        ..task
    };
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        match tx.upgrade() {
            Some(tx) => drop(tx.send(task)),
            // The pipeline's drain is over (exit, or Hot_Reload.Timeout);
            // its report already counts this chunk as undelivered.
            None => tracing::debug!(
                tag = task.current().tag(),
                "retry abandoned: the pipeline has stopped"
            ),
        }
    });
}
