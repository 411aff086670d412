//! Running a built engine: start every task, tick, stop, drain, report.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{interval, sleep, Instant, MissedTickBehavior};
use tracing::Instrument;

use super::build::Engine;
use super::input::InputContext;
use crate::memory::Account;

/// What was left when the engine stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Bytes of chunks that were still not delivered to every route.
    pub undelivered_bytes: usize,
}

/// How often the drain checks whether everything is delivered.
const DRAIN_POLL: Duration = Duration::from_millis(20);

impl Engine {
    /// Runs until a stop is asked for (signal, `exit` output) or every
    /// input has finished, then drains.
    ///
    /// After inputs finish on their own (stdin at EOF), everything queued
    /// is delivered before returning, however long it takes, unless a stop
    /// is asked for meanwhile. After a stop, flushes and retries get
    /// `Grace` more time; what is left then is reported as undelivered.
    pub async fn run(self) -> Report {
        let Engine {
            service,
            inputs,
            outputs,
            shutdown,
            ..
        } = self;
        let plugins: Vec<_> = outputs.iter().map(|(s, _)| Arc::clone(&s.plugin)).collect();
        for (_, runner) in outputs {
            tokio::spawn(runner.run());
        }

        let contexts: Vec<InputContext> = inputs.iter().map(|i| i.ctx.clone()).collect();
        let accounts: Vec<Arc<Account>> = inputs.iter().map(|i| Arc::clone(&i.account)).collect();
        let mut tasks = JoinSet::new();
        for input in inputs {
            let span = tracing::info_span!("input", name = %input.ctx.name());
            tasks.spawn(async move { input.plugin.run(input.ctx).await }.instrument(span));
        }
        tracing::info!(
            inputs = contexts.len(),
            outputs = plugins.len(),
            "pipeline started"
        );

        let ticker = tokio::spawn(tick(contexts.clone(), service.flush));
        let stopped = wait_inputs(&mut tasks, &shutdown).await;
        // An aborted task that is running on another worker goes on until
        // its next await and may append meanwhile: wait for every one to
        // end, so the seal below catches its last events.
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        ticker.abort();
        for ctx in &contexts {
            ctx.seal_all();
        }
        if stopped {
            tracing::info!(
                grace_secs = service.grace.as_secs_f64(),
                "stopping; draining queued chunks"
            );
        } else {
            tracing::info!("all inputs finished; draining queued chunks");
        }

        let deadline = stopped.then(|| Instant::now() + service.grace);
        let report = drain(&accounts, &shutdown, deadline, service.grace).await;
        for plugin in plugins {
            plugin.shutdown().await;
        }
        if report.undelivered_bytes > 0 {
            tracing::error!(
                bytes = report.undelivered_bytes,
                "chunks not delivered before exit (memory storage: lost)"
            );
        } else {
            tracing::info!("all chunks delivered");
        }
        report
    }
}

/// Seals open chunks every `Flush`.
async fn tick(contexts: Vec<InputContext>, every: Duration) {
    let mut t = interval(every);
    t.set_missed_tick_behavior(MissedTickBehavior::Delay);
    t.tick().await;
    loop {
        t.tick().await;
        for ctx in &contexts {
            ctx.seal_all();
        }
    }
}

/// Waits for every input to end (false) or a stop request (true).
async fn wait_inputs(
    tasks: &mut JoinSet<Result<(), crate::plugin::PluginError>>,
    shutdown: &crate::shutdown::Shutdown,
) -> bool {
    if tasks.is_empty() {
        shutdown.wait().await;
        return true;
    }
    loop {
        tokio::select! {
            _ = shutdown.wait() => return true,
            done = tasks.join_next() => match done {
                None => return false,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(err))) => tracing::error!(error = %err, "input stopped with an error"),
                Some(Err(err)) if err.is_panic() => tracing::error!("input task panicked"),
                Some(Err(_)) => {}
            },
        }
    }
}

/// Waits until every chunk is released, or the deadline passes. A stop
/// asked for during an unbounded drain starts the grace period.
async fn drain(
    accounts: &[Arc<Account>],
    shutdown: &crate::shutdown::Shutdown,
    mut deadline: Option<Instant>,
    grace: Duration,
) -> Report {
    loop {
        let held: usize = accounts.iter().map(|a| a.used()).sum();
        if held == 0 {
            return Report::default();
        }
        if deadline.is_none() && shutdown.is_triggered() {
            deadline = Some(Instant::now() + grace);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Report {
                undelivered_bytes: held,
            };
        }
        sleep(DRAIN_POLL).await;
    }
}
