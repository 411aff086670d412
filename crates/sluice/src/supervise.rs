//! Runs the pipeline for the life of the process, replacing it on a hot
//! reload (`Hot_Reload on`: SIGHUP or `POST /api/v2/reload`).
//!
//! A reload reads the configuration again from the same command line and
//! builds a new pipeline first; if that fails, the error is logged and the
//! running pipeline goes on untouched. Otherwise the old pipeline's inputs
//! stop and their open chunks are sealed, the new pipeline starts, and the
//! old outputs keep delivering what they hold in the background until
//! done (or `Hot_Reload.Timeout`). Nothing queued is dropped by a reload;
//! at exit, what any old pipeline could not deliver is added to the
//! report.
//!
//! The HTTP API keeps its listener across reloads (a changed
//! `HTTP_Port` needs a restart) and reads the new pipeline's counters.

use std::sync::Arc;

use sluice_core::engine::{Ended, Engine, Report};
use sluice_core::registry::Registry;
use sluice_core::shutdown::Shutdown;
use tokio::sync::mpsc;

use crate::api::ApiState;
use crate::cli::{self, Action};

/// What a supervisor needs to build the next pipeline.
pub struct Supervisor {
    pub argv: Vec<String>,
    pub registry: Registry,
    pub shutdown: Shutdown,
    pub reloads: mpsc::Receiver<()>,
    pub api: Option<Arc<ApiState>>,
}

impl Supervisor {
    /// Runs `engine`, and each one that replaces it, until the process
    /// is done.
    pub async fn run(mut self, mut engine: Engine) -> Report {
        let mut total = Report::default();
        let mut drains: Vec<tokio::task::JoinHandle<Report>> = Vec::new();
        loop {
            let replace = Shutdown::new();
            let mut run = tokio::spawn(engine.run_until_replaced(replace.clone()));
            let next = loop {
                tokio::select! {
                    ended = &mut run => {
                        add(&mut total, settle(ended).await);
                        for drain in drains {
                            add(&mut total, drain.await.unwrap_or_default());
                        }
                        return total;
                    }
                    Some(()) = self.reloads.recv() => {
                        if let Some(next) = self.rebuild() {
                            break next;
                        }
                        self.reload_settled();
                    }
                }
            };
            replace.trigger();
            match run.await {
                Ok(Ended::Replaced(drain)) => drains.push(drain),
                other => add(&mut total, settle(other).await),
            }
            if let Some(api) = &self.api {
                api.replace_metrics(next.metrics().clone());
                api.count_reload();
            }
            self.reload_settled();
            tracing::info!("configuration reloaded");
            engine = next;
        }
    }

    /// Reads the configuration again and builds it, or logs why not.
    fn rebuild(&self) -> Option<Engine> {
        let config = match cli::parse(&self.argv) {
            Ok(Action::Run(args)) => args.config,
            Ok(_) => {
                tracing::error!("reload rejected: the command line no longer runs a pipeline");
                return None;
            }
            Err(err) => {
                tracing::error!(error = %err, "reload rejected; the running pipeline stays");
                return None;
            }
        };
        match Engine::build(config, &self.registry, self.shutdown.clone()) {
            Ok(mut engine) => {
                crate::logging::set_instances(engine.instance_logs());
                // The running pipeline still owns the stored chunks.
                engine.skip_backlog();
                Some(engine)
            }
            Err(err) => {
                tracing::error!(error = %err, "reload rejected; the running pipeline stays");
                None
            }
        }
    }

    fn reload_settled(&self) {
        if let Some(api) = &self.api {
            api.reload_done();
        }
    }
}

/// The report of a run that ended, waiting for its drain if it had been
/// replaced meanwhile.
async fn settle(ended: Result<Ended, tokio::task::JoinError>) -> Report {
    match ended {
        Ok(Ended::Finished(report)) => report,
        Ok(Ended::Replaced(drain)) => drain.await.unwrap_or_default(),
        Err(err) => {
            tracing::error!(error = %err, "pipeline task failed");
            Report::default()
        }
    }
}

fn add(total: &mut Report, r: Report) {
    total.undelivered_bytes += r.undelivered_bytes;
    total.kept_bytes += r.kept_bytes;
}
