//! The process log: `tracing` to stderr or to `Log_File`, filtered by the
//! `Log_Level` of `[SERVICE]` and of each plugin instance, with repeats
//! held back for `Log_Suppress_Interval`.
//!
//! Each line names the plugin instance it comes from through the span the
//! engine opens for it (`output{name=stdout.0}: ...`). Decisions live in
//! [`gate`]; remembering repeats in [`repeats`]; [`mirror`] hands written
//! lines to the `fluentbit_logs` input.

mod gate;
mod mirror;
mod repeats;

use std::fs::OpenOptions;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sluice_core::engine::{InstanceLog, LogLevel};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use gate::{Gate, GateState};

/// What `[SERVICE]` and the command line say about the process log.
#[derive(Debug, Clone)]
pub struct LogSettings {
    pub level: LogLevel,
    pub file: Option<String>,
    pub suppress_interval: Duration,
}

/// The installed gate, for [`set_instances`].
static GATE: OnceLock<Arc<GateState>> = OnceLock::new();

/// Installs the log subscriber.
///
/// # Errors
/// The log file cannot be opened.
pub fn init(settings: &LogSettings) -> Result<(), String> {
    let state = Arc::new(GateState::new(settings.level, settings.suppress_interval));
    let _ = GATE.set(Arc::clone(&state));
    let registry = tracing_subscriber::registry()
        .with(Gate(state))
        .with(mirror::Mirror);
    let fmt = tracing_subscriber::fmt::layer().with_target(false);
    match &settings.file {
        Some(path) => {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open log file {path}; {e}"))?;
            let fmt = fmt.with_ansi(false).with_writer(Mutex::new(f));
            registry.with(fmt).init();
        }
        None => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let fmt = fmt.with_ansi(ansi).with_writer(std::io::stderr);
            registry.with(fmt).init();
        }
    }
    Ok(())
}

/// Applies the per-instance `log_level` and `log_suppress_interval` of a
/// pipeline that is about to run (at start and after each hot reload).
pub fn set_instances(list: &[InstanceLog]) {
    if let Some(state) = GATE.get() {
        state.set_instances(list);
    }
}

/// Reports repeats still held back by `Log_Suppress_Interval`; call once
/// the pipeline has stopped.
pub fn report_pending() {
    if let Some(state) = GATE.get() {
        state.report_pending();
    }
}
