//! Per-instance counters, kept in core so every part of the engine can
//! count and the HTTP API can read them without locks.

use std::sync::atomic::{AtomicU64, Ordering};

/// A counter that only goes up.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters of one input instance.
#[derive(Debug, Default)]
pub struct InputMetrics {
    pub records: Counter,
    pub bytes: Counter,
    /// Records that could not be decoded or were refused.
    pub errors: Counter,
}

/// Counters of one filter instance.
#[derive(Debug, Default)]
pub struct FilterMetrics {
    pub records: Counter,
    pub dropped: Counter,
    pub added: Counter,
}

/// Counters of one output instance.
#[derive(Debug, Default)]
pub struct OutputMetrics {
    /// Records and bytes delivered.
    pub proc_records: Counter,
    pub proc_bytes: Counter,
    /// Flushes that answered `Error`.
    pub errors: Counter,
    /// Flushes that answered `Retry` and were scheduled again.
    pub retries: Counter,
    /// Chunks whose retries ran out.
    pub retries_failed: Counter,
    /// Records given up on (errors and exhausted retries).
    pub dropped_records: Counter,
    /// Records that needed at least one retry.
    pub retried_records: Counter,
}
