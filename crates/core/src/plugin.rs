//! The three plugin traits and what the engine hands them.
//!
//! An input is a task that reads and appends events through its
//! [`InputContext`]; a filter changes a batch of decoded events; an output
//! turns one chunk into one delivery attempt and answers with a
//! [`Verdict`]. None of them sees the event loop, a queue or a retry: the
//! engine owns those.

use std::sync::Arc;

use async_trait::async_trait;

use crate::chunk::Chunk;
use crate::config::{Config, ConfigError, Entry, PluginConfig, Property};
use crate::event::Event;
use crate::multiline::{MultilineParser, MultilineParsers};
use crate::parser::{Parser, ParserOptions, Parsers};
use crate::shutdown::Shutdown;

pub use crate::ack::InputHold;
pub use crate::engine::InputContext;

/// Why an input stopped early.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

/// What one flush of one chunk to one output came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered.
    Ok,
    /// Not delivered now; the engine schedules another attempt.
    Retry(String),
    /// Will never succeed; the chunk is dropped for this output.
    Error(String),
    /// Some records were delivered, some refused for good, and the rest
    /// are worth another attempt: the engine retries just those, on the
    /// backoff schedule, as a narrowed chunk (see [`Partial`]).
    Partial(Partial),
}

/// The outcome of a flush that delivered only part of its chunk (an
/// Elasticsearch bulk answer with some items failed).
///
/// The records to retry are handed back encoded, in chunk layout; the
/// next attempt's `flush` sees a chunk of only those, with the original
/// tag and input. The original chunk stays held (its memory and its
/// input's delivery progress) until the narrowed one is done, so a
/// partial retry never releases records that were not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    /// The events to send again, MessagePack in chunk layout.
    pub retry: Vec<u8>,
    /// How many events `retry` holds.
    pub retry_records: usize,
    /// Records refused for good: counted as dropped for this output.
    pub dropped: usize,
    /// Why, for the log line.
    pub reason: String,
}

/// A source of events.
#[async_trait]
pub trait Input: Send + 'static {
    /// Reads until the source ends (the input then counts as finished) or
    /// the engine stops the task. Appending is synchronous, so stopping at
    /// any `.await` loses nothing already appended.
    async fn run(self: Box<Self>, ctx: InputContext) -> Result<(), PluginError>;

    /// Whether the input may hold records it read but has not appended
    /// yet (lines `tail` is still joining into one multiline record), or
    /// state to save once its last appends are delivered. At a stop (or a
    /// reload replacing the pipeline) such an input is not aborted at
    /// once: [`InputContext::stopping`] resolves, and the engine waits up
    /// to `Grace` for [`Input::run`] to return, with outputs flushing
    /// meanwhile. The input should stop reading, append what it holds at
    /// once, may then wait for it to be done with
    /// ([`InputContext::wait_done`]), and return. Past `Grace` it is
    /// aborted like any other.
    fn stops_gracefully(&self) -> bool {
        false
    }

    /// Whether a record of this input that a filter holds back across
    /// batches (`multiline`) keeps the input's appends from counting as
    /// done ([`InputContext::done`]) until the record is delivered, so a
    /// crash meanwhile loses nothing. Right for an input that can read
    /// its source again from a saved place (`tail`); wrong for one whose
    /// sender waits for each answer (Forward acks, HTTP responses): the
    /// sender would wait out the filter's flush timeout on every record,
    /// unable to send the line that completes it.
    fn waits_for_held_records(&self) -> bool {
        false
    }
}

/// Changes, drops or adds events of matching tags, in configuration order.
pub trait Filter: Send + Sync + 'static {
    /// Works on `events` in place: remove to drop, push to add.
    fn filter(&self, tag: &str, events: &mut Vec<Event>);

    /// For a filter that holds events back across batches (`multiline`
    /// with `buffer on`): how the engine should emit them later. The
    /// engine then calls [`Filter::take_held`] every `check_every`, and
    /// with `all` set once at shutdown, and appends what it gets through
    /// an emitter of its own, running only the filters after this one.
    fn emitter(&self) -> Option<EmitterSpec> {
        None
    }

    /// For a filter with an emitter, the engine calls this instead of
    /// [`Filter::filter`]. `holds.batch` keeps the batch's inputs from
    /// counting its events as done: the filter keeps a clone with every
    /// record it holds back, and when a record it held leaves in this
    /// batch, moves that record's holds to `holds.released`, which the
    /// engine ties to the batch's chunk. So a crash while a record is held
    /// loses nothing: its input has not counted it as done.
    fn filter_holding(&self, tag: &str, events: &mut Vec<Event>, holds: &mut Holds) {
        let _ = holds;
        self.filter(tag, events);
    }

    /// Events held back whose time has come (all of them when `all` is
    /// set), by tag, in the order they must leave, each with the holds
    /// kept for them (see [`Filter::filter_holding`]).
    fn take_held(&self, _now: std::time::Instant, _all: bool) -> Vec<Released> {
        Vec::new()
    }
}

/// The holds a batch carries through a filter that keeps events back
/// (see [`Filter::filter_holding`]).
#[derive(Debug, Default)]
pub struct Holds {
    /// What every event of the batch owes its inputs.
    pub batch: Vec<InputHold>,
    /// The holds of records held earlier that leave in this batch.
    pub released: Vec<InputHold>,
}

/// Events a filter held back and lets go now.
#[derive(Debug)]
pub struct Released {
    pub tag: String,
    pub events: Vec<Event>,
    /// The holds kept for them: they end once the chunk the events land
    /// in is done with.
    pub holds: Vec<InputHold>,
}

/// How the engine re-emits the events a filter held back, as Fluent
/// Bit's internal emitter input does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmitterSpec {
    /// The emitter's instance name in metrics and logs.
    pub name: String,
    /// Memory the emitter's chunks may hold before it counts as paused.
    pub mem_buf_limit: usize,
    /// How often to ask for held events.
    pub check_every: std::time::Duration,
    /// `emitter_storage.type filesystem`: the emitter's chunks are kept
    /// in files when the service has a `storage.path`.
    pub on_disk: bool,
}

/// A destination.
#[async_trait]
pub trait Output: Send + Sync + 'static {
    /// Tries to deliver one chunk. Runs as its own task; up to `workers`
    /// run at once for one instance.
    async fn flush(&self, chunk: &Chunk) -> Verdict;

    /// Called once after the last flush, before the process exits.
    async fn shutdown(&self) {}

    /// Connections the output holds open and those a flush is using, for
    /// the upstream gauges; `None` for an output without connections.
    fn connections(&self) -> Option<(u64, u64)> {
        None
    }
}

/// What a plugin gets when it is built.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The whole configuration (parsers and multiline parsers live here).
    pub config: Arc<Config>,
    /// Lets a plugin ask for a graceful stop (the `exit` output does).
    pub shutdown: Shutdown,
    /// The configuration's `[PARSER]`s, built.
    pub parsers: Arc<Parsers>,
    /// The configuration's and the built-in `[MULTILINE_PARSER]`s, built.
    pub multiline: Arc<MultilineParsers>,
}

impl Setup {
    /// A setup without parsers (tests, and plugins built on their own).
    pub fn new(config: Arc<Config>, shutdown: Shutdown) -> Self {
        Setup {
            config,
            shutdown,
            parsers: Arc::default(),
            multiline: Arc::default(),
        }
    }

    /// The parser an entry (`Parser apache2`) names.
    ///
    /// # Errors
    /// No parser has that name; the error names the entry's file, line
    /// and key.
    pub fn parser(&self, entry: &Entry) -> Result<Arc<dyn Parser>, ConfigError> {
        self.parsers.lookup(entry)
    }

    /// The multiline parsers an entry (`multiline.parser java, go`)
    /// names, in order. An input keeps one
    /// [`MultilineBuffer`](crate::multiline::MultilineBuffer) over them.
    ///
    /// # Errors
    /// An empty list or an unknown name; the error names the entry's
    /// file, line and key.
    pub fn multiline_parsers(
        &self,
        entry: &Entry,
    ) -> Result<Vec<Arc<MultilineParser>>, ConfigError> {
        self.multiline.lookup_list(entry)
    }

    /// A fresh [`MultilineBuffer`](crate::multiline::MultilineBuffer)
    /// over the multiline parsers an entry names: what an input such as
    /// `tail` keeps, one per instance, feeding it lines by stream.
    ///
    /// # Errors
    /// Those of [`Setup::multiline_parsers`].
    pub fn multiline_buffer(
        &self,
        entry: &Entry,
    ) -> Result<crate::multiline::MultilineBuffer, ConfigError> {
        Ok(crate::multiline::MultilineBuffer::new(
            self.multiline_parsers(entry)?,
        ))
    }
}

pub type BuildInput = fn(&PluginConfig, &Setup) -> Result<Box<dyn Input>, ConfigError>;
pub type BuildFilter = fn(&PluginConfig, &Setup) -> Result<Box<dyn Filter>, ConfigError>;
pub type BuildOutput = fn(&PluginConfig, &Setup) -> Result<Arc<dyn Output>, ConfigError>;
pub type BuildParser = fn(&PluginConfig, ParserOptions) -> Result<Arc<dyn Parser>, ConfigError>;

/// A plugin's declaration: its name, its properties and how to build it.
#[derive(Debug, Clone, Copy)]
pub struct Spec<B> {
    pub name: &'static str,
    pub description: &'static str,
    pub properties: &'static [Property],
    pub build: B,
}
