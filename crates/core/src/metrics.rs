//! Per-instance counters, kept in core so every part of the engine can
//! count and the HTTP API can read them without locks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// A value that goes up and down (connections open, chunks held).
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
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
    /// Records dropped unread because the input was paused and its source
    /// cannot be made to wait (UDP datagrams).
    pub dropped: Counter,
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
    /// Flushes that failed, retriable or not (Fluent Bit counts both).
    pub errors: Counter,
    /// Flushes that answered `Retry` and were scheduled again.
    pub retries: Counter,
    /// Chunks whose retries ran out.
    pub retries_failed: Counter,
    /// Records given up on (errors and exhausted retries).
    pub dropped_records: Counter,
    /// Records that needed at least one retry.
    pub retried_records: Counter,
    /// Time from a chunk's sealing to its delivery here, per input.
    pub latency: Latency,
    /// Connections the output's upstream holds, and those in use, as the
    /// plugin reported them at the start and end of its last flush.
    pub upstream_total_connections: Gauge,
    pub upstream_busy_connections: Gauge,
}

/// Delivery latency histograms of one output, one per input whose chunks
/// it delivered (Fluent Bit labels the family with both).
#[derive(Debug, Default)]
pub struct Latency(Mutex<Vec<(Arc<str>, Arc<Histogram>)>>);

impl Latency {
    /// Records the latency of a chunk of `input`. Once per delivered
    /// chunk; a short lock over a list as long as the inputs.
    pub fn observe(&self, input: &str, d: Duration) {
        self.histogram_of(input).observe(d);
    }

    fn histogram_of(&self, input: &str) -> Arc<Histogram> {
        let mut list = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, h)) = list.iter().find(|(name, _)| &**name == input) {
            return Arc::clone(h);
        }
        let h = Arc::new(Histogram::default());
        list.push((Arc::from(input), Arc::clone(&h)));
        h
    }

    /// Every input's histogram, in the order they first delivered.
    pub fn by_input(&self) -> Vec<(Arc<str>, Arc<Histogram>)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Upper bounds, in seconds, of the latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 10] = [0.5, 1.0, 1.5, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0];

/// A histogram of durations over [`LATENCY_BUCKETS`], updated without
/// locks.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations at or below each bound (not cumulative).
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    /// The sum of observations, in microseconds.
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|&b| secs <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Cumulative counts per bucket, as Prometheus wants them.
    pub fn cumulative(&self) -> [u64; LATENCY_BUCKETS.len()] {
        let mut out = [0; LATENCY_BUCKETS.len()];
        let mut running = 0;
        for (o, b) in out.iter_mut().zip(&self.buckets) {
            running += b.load(Ordering::Relaxed);
            *o = running;
        }
        out
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn sum_secs(&self) -> f64 {
        self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_keeps_one_histogram_per_input() {
        let l = Latency::default();
        l.observe("a", Duration::from_millis(1));
        l.observe("b", Duration::from_millis(1));
        l.observe("a", Duration::from_millis(1));
        let by = l.by_input();
        assert_eq!(by.len(), 2);
        assert_eq!((&*by[0].0, by[0].1.count()), ("a", 2));
    }

    #[test]
    fn histogram_counts_cumulatively_and_overflows_into_inf() {
        let h = Histogram::default();
        h.observe(Duration::from_millis(200));
        h.observe(Duration::from_secs(3));
        h.observe(Duration::from_secs(500));
        let c = h.cumulative();
        assert_eq!(c[0], 1);
        assert_eq!(c[4], 2, "3 s falls in the 5 s bucket");
        assert_eq!(c[9], 2, "500 s is only in +Inf");
        assert_eq!(h.count(), 3);
        assert!((h.sum_secs() - 503.2).abs() < 1e-6);
    }
}
