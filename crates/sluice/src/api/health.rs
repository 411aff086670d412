//! The health check: failed flushes and exhausted retries over the last
//! `HC_Period` seconds, against `HC_Errors_Count` and
//! `HC_Retry_Failure_Count`.
//!
//! A sampler notes the totals over all outputs once a second; the verdict
//! compares the totals now with the oldest note still inside the period.
//! So the window slides by the second, and an output that stops failing
//! is healthy again one period later.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_core::engine::{HealthConfig, InstanceMetrics};

use super::ApiState;

const SAMPLE_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Totals {
    at: Instant,
    errors: u64,
    retry_failures: u64,
}

fn totals(m: &InstanceMetrics) -> Totals {
    Totals {
        at: Instant::now(),
        errors: m.outputs.iter().map(|(_, o)| o.errors.get()).sum(),
        retry_failures: m.outputs.iter().map(|(_, o)| o.retries_failed.get()).sum(),
    }
}

/// The notes of the current period.
#[derive(Debug)]
pub struct HealthWindow {
    period: Duration,
    notes: Mutex<VecDeque<Totals>>,
}

/// What the health endpoints report.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    pub healthy: bool,
    pub errors: u64,
    pub retry_failures: u64,
}

impl HealthWindow {
    pub fn new(period: Duration) -> Self {
        HealthWindow {
            period,
            notes: Mutex::new(VecDeque::new()),
        }
    }

    fn note(&self, now: Totals) {
        let mut notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        notes.push_back(now);
        while notes
            .front()
            .is_some_and(|n| now.at.duration_since(n.at) > self.period)
        {
            notes.pop_front();
        }
    }

    /// Failures within the period, and whether they stay within limits.
    pub fn verdict(&self, m: &InstanceMetrics, cfg: &HealthConfig) -> Verdict {
        let now = totals(m);
        let oldest = {
            let notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
            notes.front().copied()
        };
        // Before the first note, everything counted so far is recent.
        let base = oldest.map_or((0, 0), |o| (o.errors, o.retry_failures));
        let errors = now.errors.saturating_sub(base.0);
        let retry_failures = now.retry_failures.saturating_sub(base.1);
        let healthy =
            !cfg.enabled || (errors <= cfg.errors && retry_failures <= cfg.retry_failures);
        Verdict {
            healthy,
            errors,
            retry_failures,
        }
    }
}

/// Notes the totals every second, for as long as the API runs.
pub async fn sample(state: Arc<ApiState>) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tick.tick().await;
        state.health.note(totals(&state.metrics()));
    }
}
