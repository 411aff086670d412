//! `exit`: asks the process to stop after a number of flushes, records or
//! seconds; for scripts and tests (`sluice -i dummy -o exit`).
//!
//! Options: `flush_count` (stop after this many flushes), `record_count`
//! (after this many records), `time_count` (at the first flush this many
//! seconds after start). The first limit reached wins; with none set,
//! `flush_count` is 1. Every flush answers `Ok` and the records are
//! thrown away. Stopping goes through the process's shutdown signal, so
//! other outputs still drain as on any graceful stop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::plugin::{BuildOutput, Output, Setup, Spec, Verdict};
use sluice_core::shutdown::Shutdown;
use sluice_core::Chunk;

const PROPS: &[Property] = &[
    Property::new(
        "flush_count",
        PropKind::Int,
        None,
        "Stop after this many flushes (1 when no limit is set)",
    ),
    Property::new(
        "record_count",
        PropKind::Int,
        None,
        "Stop after this many records",
    ),
    Property::new(
        "time_count",
        PropKind::Int,
        None,
        "Stop at the first flush this many seconds after start",
    ),
];

pub const SPEC: Spec<BuildOutput> = Spec {
    name: "exit",
    description: "Stop the process after a number of flushes, records or seconds",
    properties: PROPS,
    build,
};

struct Exit {
    flush_limit: Option<u64>,
    record_limit: Option<u64>,
    time_limit: Option<Duration>,
    started: Instant,
    flushes: AtomicU64,
    records: AtomicU64,
    shutdown: Shutdown,
}

fn build(cfg: &PluginConfig, setup: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    let limit = |key: &str| -> Result<Option<u64>, ConfigError> {
        match cfg.int(key) {
            Some(n) if n < 1 => Err(cfg.error(key, "must be at least 1")),
            n => Ok(n.map(|n| n as u64)),
        }
    };
    let mut flush_limit = limit("flush_count")?;
    let record_limit = limit("record_count")?;
    let time_limit = limit("time_count")?.map(Duration::from_secs);
    if flush_limit.is_none() && record_limit.is_none() && time_limit.is_none() {
        flush_limit = Some(1);
    }
    Ok(Arc::new(Exit {
        flush_limit,
        record_limit,
        time_limit,
        started: Instant::now(),
        flushes: AtomicU64::new(0),
        records: AtomicU64::new(0),
        shutdown: setup.shutdown.clone(),
    }))
}

impl Exit {
    /// Counts one flush and answers whether a limit is now reached.
    fn reached(&self, records: u64) -> bool {
        let flushes = self.flushes.fetch_add(1, Ordering::Relaxed) + 1;
        let records = self.records.fetch_add(records, Ordering::Relaxed) + records;
        self.flush_limit.is_some_and(|n| flushes >= n)
            || self.record_limit.is_some_and(|n| records >= n)
            || self.time_limit.is_some_and(|t| self.started.elapsed() >= t)
    }
}

#[async_trait]
impl Output for Exit {
    async fn flush(&self, chunk: &Chunk) -> Verdict {
        if self.reached(chunk.records() as u64) && !self.shutdown.is_triggered() {
            tracing::info!("exit limit reached; stopping");
            self.shutdown.trigger();
        }
        Verdict::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::testutil::{config, setup};

    fn exit(pairs: &[(&str, &str)]) -> (Arc<dyn Output>, Shutdown) {
        let setup = setup();
        let out = (SPEC.build)(&config(&SPEC, pairs).unwrap(), &setup).unwrap();
        (out, setup.shutdown)
    }

    fn chunk(records: usize) -> Chunk {
        Chunk::new("t", Vec::new(), records)
    }

    #[tokio::test]
    async fn stops_after_the_first_flush_by_default() {
        let (out, stop) = exit(&[]);
        assert!(!stop.is_triggered());
        assert_eq!(out.flush(&chunk(1)).await, Verdict::Ok);
        assert!(stop.is_triggered());
    }

    #[tokio::test]
    async fn stops_after_flush_count_flushes() {
        let (out, stop) = exit(&[("flush_count", "3")]);
        for _ in 0..2 {
            assert_eq!(out.flush(&chunk(1)).await, Verdict::Ok);
        }
        assert!(!stop.is_triggered());
        out.flush(&chunk(1)).await;
        assert!(stop.is_triggered());
    }

    #[tokio::test]
    async fn record_count_alone_ignores_the_flush_default() {
        let (out, stop) = exit(&[("record_count", "10")]);
        out.flush(&chunk(4)).await;
        out.flush(&chunk(5)).await;
        assert!(!stop.is_triggered());
        out.flush(&chunk(1)).await;
        assert!(stop.is_triggered());
    }

    #[test]
    fn limits_below_one_are_config_errors() {
        let cfg = config(&SPEC, &[("flush_count", "0")]).unwrap();
        let err = (SPEC.build)(&cfg, &setup()).err().unwrap().to_string();
        assert!(
            err.contains("key 'flush_count': must be at least 1"),
            "{err}"
        );
    }
}
