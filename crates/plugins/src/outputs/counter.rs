//! `counter`: prints how many records each flush brought.
//!
//! No options. Each flush prints one line to standard output,
//! `<unix seconds>,<records in the chunk> (total = <records so far>)`,
//! as Fluent Bit's `counter` does. The total counts every record this
//! instance was handed since start, across concurrent flushes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use sluice_core::config::{ConfigError, PluginConfig};
use sluice_core::plugin::{BuildOutput, Output, Setup, Spec, Verdict};
use sluice_core::{Chunk, EventTime};

pub const SPEC: Spec<BuildOutput> = Spec {
    name: "counter",
    description: "Print the number of records per flush",
    properties: &[],
    build,
};

#[derive(Default)]
struct Counter {
    total: AtomicU64,
}

fn build(_: &PluginConfig, _: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    Ok(Arc::new(Counter::default()))
}

impl Counter {
    /// Adds the chunk's records to the total and answers the line to print.
    fn count(&self, records: u64, now: EventTime) -> String {
        let total = self.total.fetch_add(records, Ordering::Relaxed) + records;
        format!("{},{records} (total = {total})\n", now.sec)
    }
}

#[async_trait]
impl Output for Counter {
    async fn flush(&self, chunk: &Chunk) -> Verdict {
        let line = self.count(chunk.records() as u64, EventTime::now());
        super::write_stdout(line.into_bytes()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_the_running_total() {
        let c = Counter::default();
        let now = EventTime::new(1_500_484_743, 9);
        assert_eq!(c.count(1, now), "1500484743,1 (total = 1)\n");
        assert_eq!(c.count(5, now), "1500484743,5 (total = 6)\n");
        assert_eq!(c.count(0, now), "1500484743,0 (total = 6)\n");
    }
}
