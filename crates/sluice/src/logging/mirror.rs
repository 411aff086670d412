//! Mirrors each line the process log writes into
//! `sluice_core::internal_log`, where the `fluentbit_logs` input picks it
//! up. Costs one atomic load per line while no such input runs.

use std::fmt::Write as _;

use sluice_core::internal_log::{self, LogLine};
use sluice_core::EventTime;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::gate::{instance_of, line_of};

/// The layer; it sits after the gate, so it sees only written lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mirror;

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl<S> Layer<S> for Mirror
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !internal_log::is_tapped() {
            return;
        }
        let mut message = String::new();
        if let Some(i) = instance_of(event, &ctx) {
            let _ = write!(message, "[{}:{}] ", i.kind, i.name);
        }
        message.push_str(&line_of(event));
        internal_log::publish(LogLine {
            time: EventTime::now(),
            level: level_name(event.metadata().level()),
            message,
        });
    }
}
