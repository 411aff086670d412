//! The engine: builds a pipeline from a configuration and runs it.
//!
//! Building checks every section against its plugin's declaration and
//! constructs every plugin, so a bad configuration fails before anything
//! starts (`--dry-run` stops right there). Running spawns each input as a
//! task, each output's queue as a task, and a ticker that seals open
//! chunks every `Flush` seconds; it ends when a stop is asked for or every
//! input has finished, after draining what is still queued.

mod backlog;
mod build;
mod emitter;
mod input;
mod limit;
mod log_settings;
mod output;
mod pipeline;
mod retry;
mod run;
mod service;

pub use build::{Engine, InstanceMetrics};
pub use input::InputContext;
pub use log_settings::{InstanceLog, LogLevel};
pub use retry::{Backoff, RetryLimit};
pub use run::{Ended, Report};
pub use service::{HealthConfig, HttpServerConfig, ServiceConfig, SERVICE_PROPS};
