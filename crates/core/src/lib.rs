//! sluice's core: the event and chunk model, the MessagePack and JSON
//! codecs, configuration, routing, and the engine that moves chunks from
//! inputs through filters to outputs without ever blocking on one of them.
//!
//! Plugins depend on this crate and on nothing of each other; the binary
//! wires a [`registry::Registry`] of them into an [`engine::Engine`].

pub mod ack;
pub mod buffers;
pub mod chunk;
pub mod config;
pub mod engine;
pub mod event;
pub mod internal_log;
pub mod json;
pub mod memory;
pub mod metrics;
pub mod msgpack;
pub mod multiline;
pub mod net;
pub mod parser;
pub mod plugin;
pub mod record_accessor;
pub mod regex_compat;
pub mod registry;
pub mod router;
pub mod shutdown;
pub mod storage;
pub mod timefmt;
pub mod value;

pub use chunk::Chunk;
pub use event::{Event, EventTime, RawEvent};
pub use value::{Map, Value};
