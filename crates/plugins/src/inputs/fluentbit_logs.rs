//! `fluentbit_logs`: sluice's own log lines as records, so they can be
//! filtered and shipped like any other.
//!
//! Each record is `{"level": ..., "message": ...}` with the time the line
//! was logged; `message` starts with the instance the line is about
//! (`[output:es.0] ...`) and ends with the line's fields. Only lines the
//! process log writes are mirrored (`Log_Level` and
//! `Log_Suppress_Interval` apply first). No options.
//!
//! Lines queue in memory up to 1,024; lines logged while the queue is
//! full, or before this input started, are not delivered (counted as
//! dropped records of this input). A pipeline that logs for each record
//! it receives from here would feed itself; the queue bounds that too.

use async_trait::async_trait;
use sluice_core::config::{ConfigError, PluginConfig};
use sluice_core::internal_log::{self, LogLine, Subscription};
use sluice_core::plugin::{BuildInput, Input, InputContext, PluginError, Setup, Spec};
use sluice_core::{Event, Map, Value};

pub const SPEC: Spec<BuildInput> = Spec {
    name: "fluentbit_logs",
    description: "Route sluice's own log lines into the pipeline",
    properties: &[],
    build,
};

struct FluentBitLogs;

fn build(_: &PluginConfig, _: &Setup) -> Result<Box<dyn Input>, ConfigError> {
    Ok(Box::new(FluentBitLogs))
}

fn record(line: LogLine) -> Event {
    let mut body = Map::with_capacity(2);
    body.push("level", Value::Str(line.level.to_owned()));
    body.push("message", Value::Str(line.message));
    Event::new(line.time, body)
}

#[async_trait]
impl Input for FluentBitLogs {
    async fn run(self: Box<Self>, ctx: InputContext) -> Result<(), PluginError> {
        let mut sub = internal_log::subscribe();
        loop {
            ctx.ready().await;
            let Some(line) = sub.lines.recv().await else {
                return Ok(());
            };
            append(&ctx, &mut sub, line);
        }
    }
}

/// Appends `first` and what else was queued (at most a queue's worth,
/// so lines logged meanwhile cannot keep it going), then counts the lines
/// the full queue turned away.
fn append(ctx: &InputContext, sub: &mut Subscription, first: LogLine) {
    ctx.append_event(ctx.tag(), &record(first));
    for _ in 1..internal_log::QUEUE_LIMIT {
        let Ok(line) = sub.lines.try_recv() else {
            break;
        };
        ctx.append_event(ctx.tag(), &record(line));
    }
    let dropped = sub.take_dropped();
    if dropped > 0 {
        ctx.metrics().dropped.add(dropped);
    }
}
