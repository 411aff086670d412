//! `storage.total_limit_size`: how many bytes of stored chunks one output
//! may hold (queued, waiting for a retry or being flushed), and the
//! eviction of its oldest waiting chunks when a new one would pass that.
//!
//! Each held chunk has a [`Slot`] its task carries. A flush claims the
//! slot before it starts; eviction only takes slots that are waiting, so
//! a chunk is never both delivered and counted as dropped. An evicted
//! task is skipped when its turn comes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::chunk::Chunk;

const WAITING: u8 = 0;
const FLUSHING: u8 = 1;
const EVICTED: u8 = 2;

/// One held chunk's state, shared by its task and the ledger.
#[derive(Debug)]
pub(crate) struct Slot {
    seq: u64,
    state: AtomicU8,
    /// Records still owed (fewer after a partial delivery).
    records: AtomicUsize,
}

impl Slot {
    /// Claims the slot for a flush; false when it was evicted.
    pub fn start_flush(&self) -> bool {
        self.state
            .compare_exchange(WAITING, FLUSHING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The flush ended and the chunk waits again (for a retry).
    pub fn wait_again(&self, records: usize) {
        self.records.store(records, Ordering::Relaxed);
        self.state.store(WAITING, Ordering::Release);
    }
}

/// A chunk the ledger evicted: the caller counts and logs it.
pub(crate) struct Evicted {
    pub chunk: Arc<Chunk>,
    pub records: usize,
}

#[derive(Default)]
struct Held {
    bytes: usize,
    next: u64,
    chunks: BTreeMap<u64, (Arc<Slot>, Arc<Chunk>)>,
}

/// The chunks one output holds, against its limit.
pub(crate) struct Ledger {
    limit: usize,
    held: Mutex<Held>,
}

impl Ledger {
    pub fn new(limit: usize) -> Self {
        Ledger {
            limit,
            held: Mutex::new(Held::default()),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `chunk` in and evicts the oldest waiting chunks until the
    /// total fits again (the new chunk itself is kept).
    pub fn admit(&self, chunk: &Arc<Chunk>) -> (Arc<Slot>, Vec<Evicted>) {
        let mut held = self.held();
        let seq = held.next;
        held.next += 1;
        let slot = Arc::new(Slot {
            seq,
            state: AtomicU8::new(WAITING),
            records: AtomicUsize::new(chunk.records()),
        });
        held.bytes += chunk.size();
        held.chunks
            .insert(seq, (Arc::clone(&slot), Arc::clone(chunk)));
        let mut evicted = Vec::new();
        if held.bytes <= self.limit {
            return (slot, evicted);
        }
        let oldest: Vec<u64> = held.chunks.keys().copied().filter(|&s| s != seq).collect();
        for s in oldest {
            if held.bytes <= self.limit {
                break;
            }
            let claimed = held.chunks[&s]
                .0
                .state
                .compare_exchange(WAITING, EVICTED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            if !claimed {
                continue; // being flushed: it may be delivered
            }
            let (slot, chunk) = held.chunks.remove(&s).expect("key listed above");
            held.bytes -= chunk.size();
            evicted.push(Evicted {
                records: slot.records.load(Ordering::Relaxed),
                chunk,
            });
        }
        (slot, evicted)
    }

    /// The chunk of `slot` is done with for this output.
    pub fn release(&self, slot: &Slot) {
        let mut held = self.held();
        if let Some((_, chunk)) = held.chunks.remove(&slot.seq) {
            held.bytes -= chunk.size();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(bytes: usize) -> Arc<Chunk> {
        Arc::new(Chunk::new("t", vec![0; bytes], 1))
    }

    #[test]
    fn the_oldest_waiting_chunks_go_first_and_flushing_ones_stay() {
        let ledger = Ledger::new(250);
        let (a, _) = ledger.admit(&chunk(100));
        let (b, _) = ledger.admit(&chunk(100));
        assert!(a.start_flush());
        let (_c, evicted) = ledger.admit(&chunk(100));
        assert_eq!(evicted.len(), 1, "b goes, a is being flushed");
        assert!(!b.start_flush());
        ledger.release(&a);
        let (_d, evicted) = ledger.admit(&chunk(100));
        assert!(evicted.is_empty());
    }
}
