//! The layer that decides which log lines are written: the level of the
//! plugin instance a line comes from (or `[SERVICE]`'s), and
//! `Log_Suppress_Interval` for repeats.
//!
//! The engine runs each instance's work in a span named `input`,
//! `filter` or `output` whose `name` field is the instance name. When
//! such a span opens, the gate notes the name in it; when a line is
//! logged, the nearest enclosing instance span chooses the level and
//! interval, from the table [`GateState::set_instances`] fills after each
//! build. Lines of other crates (hyper, rustls) are never more verbose
//! than `warn`.
//!
//! Callsites more verbose than every level in use are disabled once and
//! cached by `tracing`, so a `trace!` per record costs nothing unless
//! some instance asked for `trace`.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sluice_core::engine::{InstanceLog, LogLevel};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::repeats::{Admit, Repeats};

/// Separates instance, level and text in a line's key.
const KEY_SEPARATOR: char = '\u{1f}';

/// Span names the engine gives plugin instances.
const INSTANCE_SPANS: [&str; 3] = ["input", "filter", "output"];

/// The settings the gate reads; shared with [`super::set_instances`].
#[derive(Debug)]
pub(crate) struct GateState {
    level: LogLevel,
    suppress_interval: Duration,
    instances: RwLock<HashMap<Arc<str>, InstanceLog>>,
    /// The most verbose level any instance or the process writes at.
    ceiling: AtomicU8,
    repeats: Repeats,
}

impl GateState {
    pub fn new(level: LogLevel, suppress_interval: Duration) -> Self {
        GateState {
            level,
            suppress_interval,
            instances: RwLock::default(),
            ceiling: AtomicU8::new(level as u8),
            repeats: Repeats::default(),
        }
    }

    /// Takes the instance settings of a newly built pipeline.
    pub fn set_instances(&self, list: &[InstanceLog]) {
        let table = list
            .iter()
            .map(|i| (Arc::clone(&i.name), i.clone()))
            .collect();
        *self.instances.write().unwrap_or_else(|e| e.into_inner()) = table;
        let ceiling = list
            .iter()
            .filter_map(|i| i.level)
            .fold(self.level, Ord::max);
        let before = self.ceiling.swap(ceiling as u8, Ordering::AcqRel);
        if before != ceiling as u8 {
            // Callsites cached as disabled may be wanted now, or the other
            // way round.
            tracing::callsite::rebuild_interest_cache();
        }
    }

    /// Reports the repeats still held back (at exit: nothing will
    /// report them later).
    pub fn report_pending(&self) {
        for (key, held) in self.repeats.take_pending() {
            let mut parts = key.splitn(3, KEY_SEPARATOR);
            let (Some(instance), Some(level), Some(line)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let level = level.parse().unwrap_or(Level::INFO);
            report_suppressed(&level, held, Some(instance).filter(|i| !i.is_empty()), line);
        }
    }

    fn ceiling(&self) -> u8 {
        self.ceiling.load(Ordering::Acquire)
    }

    /// The level and interval for lines within the named instance.
    fn settings_of(&self, instance: Option<&str>) -> (LogLevel, Duration) {
        let table = self.instances.read().unwrap_or_else(|e| e.into_inner());
        let own = instance.and_then(|name| table.get(name));
        (
            own.and_then(|i| i.level).unwrap_or(self.level),
            own.and_then(|i| i.suppress_interval)
                .unwrap_or(self.suppress_interval),
        )
    }
}

/// The layer; cheap to clone around its shared state.
#[derive(Debug, Clone)]
pub(crate) struct Gate(pub Arc<GateState>);

/// The instance noted in an instance span: its kind (the span's name,
/// `output`) and its name (`es.0`).
pub(super) struct InstanceName {
    pub kind: &'static str,
    pub name: Arc<str>,
}

thread_local! {
    /// Set while the gate writes its own report of suppressed repeats.
    static REPORTING: Cell<bool> = const { Cell::new(false) };
}

fn is_ours(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("sluice")
}

/// 1 for `error` up to 5 for `trace`, comparable with `LogLevel as u8`.
fn rank(level: &Level) -> u8 {
    match *level {
        Level::ERROR => LogLevel::Error as u8,
        Level::WARN => LogLevel::Warn as u8,
        Level::INFO => LogLevel::Info as u8,
        Level::DEBUG => LogLevel::Debug as u8,
        Level::TRACE => LogLevel::Trace as u8,
    }
}

/// The most verbose rank a line of `meta`'s crate may have under `limit`.
fn limit_for(meta: &Metadata<'_>, limit: u8) -> u8 {
    if is_ours(meta) {
        limit
    } else {
        limit.min(LogLevel::Warn as u8)
    }
}

impl Gate {
    fn could_write(&self, meta: &Metadata<'_>) -> bool {
        if meta.is_span() {
            return is_ours(meta);
        }
        rank(meta.level()) <= limit_for(meta, self.0.ceiling())
    }
}

impl<S> Layer<S> for Gate
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        match (self.could_write(meta), meta.is_span()) {
            (false, _) => Interest::never(),
            (true, true) => Interest::always(),
            // Whether an event is written depends on its instance.
            (true, false) => Interest::sometimes(),
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.could_write(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        // Instance spans are at info and must exist whatever the levels.
        let ceiling = self.0.ceiling();
        let hint = if ceiling >= LogLevel::Trace as u8 {
            LevelFilter::TRACE
        } else if ceiling >= LogLevel::Debug as u8 {
            LevelFilter::DEBUG
        } else {
            LevelFilter::INFO
        };
        Some(hint)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        if !is_ours(meta) || !INSTANCE_SPANS.contains(&meta.name()) {
            return;
        }
        let mut name = NameField(None);
        attrs.record(&mut name);
        if let (Some(name), Some(span)) = (name.0, ctx.span(id)) {
            span.extensions_mut().insert(InstanceName {
                kind: meta.name(),
                name: name.into(),
            });
        }
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        let instance = instance_of(event, &ctx).map(|i| i.name);
        let (level, interval) = self.0.settings_of(instance.as_deref());
        let meta = event.metadata();
        if rank(meta.level()) > limit_for(meta, level as u8) {
            return false;
        }
        if interval.is_zero() || REPORTING.get() {
            return true;
        }
        let line = line_of(event);
        let key = [
            instance.as_deref().unwrap_or(""),
            meta.level().as_str(),
            &line,
        ]
        .join(&KEY_SEPARATOR.to_string());
        match self.0.repeats.admit(key, interval, Instant::now()) {
            Admit::Write => true,
            Admit::Suppress => false,
            Admit::WriteAfter(held) => {
                // Inside the line's own span: the report names it anyway.
                report_suppressed(meta.level(), held, None, &line);
                true
            }
        }
    }
}

/// The nearest instance span around `event`.
pub(super) fn instance_of<S>(event: &Event<'_>, ctx: &Context<'_, S>) -> Option<InstanceName>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let scope = ctx.event_scope(event)?;
    for span in scope {
        if let Some(i) = span.extensions().get::<InstanceName>() {
            return Some(InstanceName {
                kind: i.kind,
                name: Arc::clone(&i.name),
            });
        }
    }
    None
}

/// Writes, at the level of the line it is about, how many repeats of it
/// were held back. Runs inside the gate, so it marks itself to pass.
/// `instance` is named when the report is made outside its span (exit).
fn report_suppressed(level: &Level, held: u64, instance: Option<&str>, line: &str) {
    macro_rules! emit {
        ($level:expr) => {
            tracing::event!(
                $level,
                suppressed = held,
                instance,
                line,
                "repeats of a log line were suppressed"
            )
        };
    }
    REPORTING.set(true);
    match *level {
        Level::ERROR => emit!(Level::ERROR),
        Level::WARN => emit!(Level::WARN),
        Level::INFO => emit!(Level::INFO),
        Level::DEBUG => emit!(Level::DEBUG),
        Level::TRACE => emit!(Level::TRACE),
    }
    REPORTING.set(false);
}

/// Reads the `name` field of an instance span.
struct NameField(Option<String>);

impl Visit for NameField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "name" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "name" {
            // `%name` records a Display value, whose Debug is its Display.
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// An event's message and fields as one line of text: what makes two
/// lines the same line.
pub(super) fn line_of(event: &Event<'_>) -> String {
    let mut text = LineText(String::new());
    event.record(&mut text);
    text.0
}

struct LineText(String);

impl Visit for LineText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }
}
