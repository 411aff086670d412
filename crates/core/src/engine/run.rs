//! Running a built engine: start every task, tick, stop, drain, report.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{interval, sleep, Instant, MissedTickBehavior};
use tracing::Instrument;

use super::build::Engine;
use super::input::InputContext;
use crate::memory::Account;
use crate::shutdown::Shutdown;
use crate::storage::Store;

/// What was left when the engine stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Bytes of chunks that were still not delivered to every route and
    /// are lost: those of memory-storage inputs (and of filesystem ones
    /// whose files could not be written).
    pub undelivered_bytes: usize,
    /// Bytes of undelivered chunks whose files are kept for the next
    /// start.
    pub kept_bytes: usize,
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
        match self.run_until_replaced(Shutdown::new()).await {
            Ended::Finished(report) => report,
            // Never happens: nothing triggers the fresh handle.
            Ended::Replaced(drain) => drain.await.unwrap_or_default(),
        }
    }

    /// Like [`Engine::run`], but `replace` being triggered (a hot reload)
    /// stops the inputs, seals their open chunks and returns as soon as
    /// they ended (an input that stops gracefully gets up to `Grace`),
    /// while this pipeline's outputs go on delivering what is queued in
    /// the background. The handle ends when they are done, or after
    /// `Hot_Reload.Timeout` when it is set, or `Grace` after a stop.
    pub async fn run_until_replaced(self, replace: Shutdown) -> Ended {
        let Engine {
            service,
            inputs,
            outputs,
            emitters,
            shutdown,
            stopping,
            store,
            replay_backlog,
            pipeline,
            ..
        } = self;
        let plugins: Vec<_> = outputs.iter().map(|(s, _)| Arc::clone(&s.plugin)).collect();
        for (_, runner) in outputs {
            tokio::spawn(runner.run());
        }

        let mut contexts: Vec<InputContext> = inputs.iter().map(|i| i.ctx.clone()).collect();
        contexts.extend(emitters.iter().map(|e| e.ctx.clone()));
        let mut accounts: Vec<Held> = inputs
            .iter()
            .map(|i| Held {
                account: Arc::clone(&i.account),
                on_disk: i.ctx.stores_to_disk(),
            })
            .collect();
        accounts.extend(emitters.iter().map(|e| Held {
            account: e.ctx.account(),
            on_disk: false,
        }));
        if let Some(store) = store.as_ref().filter(|_| replay_backlog) {
            let account = Account::new(
                Arc::from(super::backlog::BACKLOG_ACCOUNT),
                store.settings().backlog_mem_limit,
            );
            accounts.push(Held {
                account: Arc::clone(&account),
                on_disk: true,
            });
            tokio::spawn(super::backlog::replay(
                Arc::clone(store),
                Arc::clone(&pipeline),
                account,
                shutdown.clone(),
            ));
        }
        drop(pipeline);
        let emitter_tasks: Vec<_> = emitters
            .iter()
            .map(|e| tokio::spawn(e.clone().run()))
            .collect();
        let mut tasks = JoinSet::new();
        let mut abort_at_stop = Vec::new();
        for input in inputs {
            let span = tracing::info_span!("input", name = %input.ctx.name());
            let graceful = input.plugin.stops_gracefully();
            let task =
                tasks.spawn(async move { input.plugin.run(input.ctx).await }.instrument(span));
            if !graceful {
                abort_at_stop.push(task);
            }
        }
        tracing::info!(
            inputs = contexts.len() - emitters.len(),
            outputs = plugins.len(),
            "pipeline started"
        );

        let ticker = tokio::spawn(tick(contexts.clone(), service.flush));
        let stop = wait_inputs(&mut tasks, &shutdown, &replace).await;
        let grace_end = Instant::now() + service.grace;
        stopping.trigger();
        for task in abort_at_stop {
            task.abort();
        }
        stop_inputs(&mut tasks, grace_end).await;
        for ctx in &contexts {
            ctx.stop_tasks().await;
        }
        ticker.abort();
        for task in emitter_tasks {
            task.abort();
            let _ = task.await;
        }
        // Held events leave before the last seal, in filter order, so a
        // later filter that holds events gets them before its own turn.
        for emitter in &emitters {
            emitter.emit(true);
        }
        for ctx in &contexts {
            ctx.seal_all();
        }
        let deadline = match stop {
            Stop::Asked => {
                tracing::info!(
                    grace_secs = service.grace.as_secs_f64(),
                    "stopping; draining queued chunks"
                );
                // Inputs that stopped gracefully used part of `Grace`.
                Some(grace_end)
            }
            Stop::InputsDone => {
                tracing::info!("all inputs finished; draining queued chunks");
                None
            }
            Stop::Replaced => {
                tracing::info!("pipeline replaced; its outputs drain in the background");
                // TODO: abort this pipeline's flushes still running when
                // the timeout passes, because they are not tracked per
                // pipeline: one hung on a dead destination runs on after
                // its chunk was reported undelivered.
                let timeout = service.hot_reload_timeout;
                let deadline = (!timeout.is_zero()).then(|| Instant::now() + timeout);
                let grace = service.grace;
                return Ended::Replaced(tokio::spawn(async move {
                    let report =
                        finish(&accounts, &shutdown, deadline, grace, plugins, store).await;
                    // The contexts hold the output queues open: retries
                    // scheduled during the drain must find them there.
                    drop(contexts);
                    report
                }));
            }
        };
        Ended::Finished(
            finish(
                &accounts,
                &shutdown,
                deadline,
                service.grace,
                plugins,
                store,
            )
            .await,
        )
    }
}

/// How a run ended.
#[derive(Debug)]
pub enum Ended {
    Finished(Report),
    /// A new pipeline took over; the handle reports what this one's
    /// outputs could not deliver.
    Replaced(tokio::task::JoinHandle<Report>),
}

enum Stop {
    Asked,
    InputsDone,
    Replaced,
}

/// The memory of one input, and whether its chunks have files.
struct Held {
    account: Arc<Account>,
    on_disk: bool,
}

/// Drains, shuts the output plugins down and reports.
async fn finish(
    accounts: &[Held],
    shutdown: &Shutdown,
    deadline: Option<Instant>,
    grace: Duration,
    plugins: Vec<Arc<dyn crate::plugin::Output>>,
    store: Option<Arc<Store>>,
) -> Report {
    let report = drain(accounts, store.as_deref(), shutdown, deadline, grace).await;
    for plugin in plugins {
        plugin.shutdown().await;
    }
    // Every seal and route mark reaches the disk before the process ends.
    if let Some(store) = &store {
        store.flushed().await;
    }
    let files = store.as_ref().map_or(0, |s| s.metrics().files.get());
    if files > 0 {
        tracing::warn!(
            files,
            "chunk files not yet delivered are kept for the next start"
        );
    }
    if report.undelivered_bytes > 0 {
        tracing::error!(
            bytes = report.undelivered_bytes,
            "chunks not delivered before exit are lost (memory storage)"
        );
    } else if files == 0 {
        tracing::info!("all chunks delivered");
    }
    report
}

/// Seals open chunks every `Flush`, and frees the large buffers kept for
/// reuse that lay unused since the last tick.
async fn tick(contexts: Vec<InputContext>, every: Duration) {
    let mut t = interval(every);
    t.set_missed_tick_behavior(MissedTickBehavior::Delay);
    t.tick().await;
    loop {
        t.tick().await;
        for ctx in &contexts {
            ctx.seal_all();
        }
        crate::buffers::trim();
    }
}

/// Waits for every input to end, a stop request or a replacement.
async fn wait_inputs(
    tasks: &mut JoinSet<Result<(), crate::plugin::PluginError>>,
    shutdown: &Shutdown,
    replace: &Shutdown,
) -> Stop {
    loop {
        tokio::select! {
            _ = shutdown.wait() => return Stop::Asked,
            _ = replace.wait() => return Stop::Replaced,
            done = tasks.join_next(), if !tasks.is_empty() => match done {
                None | Some(Ok(Ok(()))) => {}
                Some(Ok(Err(err))) => tracing::error!(error = %err, "input stopped with an error"),
                Some(Err(err)) if err.is_panic() => tracing::error!("input task panicked"),
                Some(Err(_)) => {}
            },
        }
        // Only a finished input gets here; with none left, the run is
        // over. (With no inputs at all, only a stop ends it.)
        if tasks.is_empty() {
            return Stop::InputsDone;
        }
    }
}

/// Waits for the input tasks to end: those aborted end at their next
/// await (one running on another worker may append until then, which the
/// last seal must catch); those that stop gracefully get until
/// `grace_end`, and are aborted then.
async fn stop_inputs(
    tasks: &mut JoinSet<Result<(), crate::plugin::PluginError>>,
    grace_end: Instant,
) {
    let ended = tokio::time::timeout_at(grace_end, async {
        while let Some(done) = tasks.join_next().await {
            if let Ok(Err(err)) = done {
                tracing::error!(error = %err, "input stopped with an error");
            }
        }
    });
    if ended.await.is_err() {
        tracing::warn!(
            inputs = tasks.len(),
            "inputs still busy stopping when Grace ended; aborted"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

/// Waits until every chunk is released (and, with filesystem storage,
/// every chunk file is done with, down chunks included), or the deadline
/// passes. A stop asked for during an unbounded drain starts the grace
/// period.
async fn drain(
    accounts: &[Held],
    store: Option<&Store>,
    shutdown: &Shutdown,
    mut deadline: Option<Instant>,
    grace: Duration,
) -> Report {
    loop {
        let held: usize = accounts.iter().map(|h| h.account.used()).sum();
        let files = store.map_or(0, |s| s.metrics().files.get());
        if held == 0 && files == 0 {
            return Report::default();
        }
        if deadline.is_none() && shutdown.is_triggered() {
            deadline = Some(Instant::now() + grace);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // A failed write may have left some chunk of a filesystem
            // input in memory only: count those inputs as lost then.
            let disk_trusted = store.is_some_and(|s| s.metrics().write_errors.get() == 0);
            let (kept, lost): (Vec<&Held>, Vec<&Held>) =
                accounts.iter().partition(|h| h.on_disk && disk_trusted);
            return Report {
                undelivered_bytes: lost.iter().map(|h| h.account.used()).sum(),
                kept_bytes: kept.iter().map(|h| h.account.used()).sum(),
            };
        }
        sleep(DRAIN_POLL).await;
    }
}
