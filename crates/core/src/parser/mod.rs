//! Parsers: turning one line (or any byte slice) into a record body and,
//! optionally, its time.
//!
//! The `[PARSER]` sections of a configuration (inline, from
//! `parsers_file`, `-R` or YAML `parsers:`) are built once into
//! [`Parsers`], by name, when the engine is built; a bad one stops the
//! start-up even if nothing uses it. The formats (json, regex, logfmt,
//! ltsv) are plugins: core only knows the [`Parser`] trait and the
//! options every format shares ([`ParserOptions`]).
//!
//! Inputs (tail, tcp, syslog, stdin), the multiline engine and the parser
//! filter ask [`Setup::parser`](crate::plugin::Setup::parser) for one by
//! name and call [`Parser::parse`], which writes MessagePack straight
//! into the caller's buffer — usually right after the event header of a
//! chunk (see [`append_event`]). A caller keeps one [`ParseState`] per
//! task so that parsing reuses its buffers.

mod decode;
mod options;
mod record;
pub mod time;
mod types;

use std::fmt;
use std::sync::Arc;

pub use decode::{unescape, Decoder, Decoders};
pub use options::ParserOptions;
pub use record::{take_time_from_map, RecordWriter};
pub use types::{FieldType, Types};

use crate::config::{ConfigError, Entry, PluginConfig, Section};
use crate::event::{write_header, EventTime};
use crate::regex_compat::Captures;
use crate::registry::{Registry, PARSER_COMMON};
use crate::value::Map;

/// What parsing found besides the body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The record time read from the time key, when there was one and it
    /// read; otherwise the caller's time applies (now, for inputs).
    pub time: Option<EventTime>,
    /// The time key was there but did not fit `Time_Format`; it was kept
    /// in the record. Callers count this and log it at debug.
    pub time_error: bool,
}

/// Why a line gave no record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line is not in the parser's format (a regex that does not
    /// match, text that is not a JSON object).
    #[error("line does not match the parser")]
    NoMatch,
    /// The line matched but could not be turned into a record.
    #[error("invalid record; {0}")]
    Invalid(String),
}

/// Buffers a caller keeps between calls so parsing does not allocate per
/// line. One per task; cheap to create.
#[derive(Debug, Default)]
pub struct ParseState {
    /// Regex match positions, reused across lines.
    pub captures: Captures,
    /// Free room for a format's rewrites.
    pub scratch: Vec<u8>,
}

/// One parser format instance, built from a `[PARSER]` section.
pub trait Parser: Send + Sync + fmt::Debug + 'static {
    /// Parses `input`, appending the record body (a MessagePack map) to
    /// `out`. On error `out` is left as it was.
    ///
    /// # Errors
    /// [`ParseError::NoMatch`] when `input` is not in this format.
    fn parse(
        &self,
        input: &[u8],
        state: &mut ParseState,
        out: &mut Vec<u8>,
    ) -> Result<Parsed, ParseError>;
}

/// Appends the chunk event `[[time, {}], body]` for `input` to `out`,
/// with the parsed time or else `default_time`. On error `out` is left as
/// it was, so the caller can write its fallback record instead.
///
/// # Errors
/// Those of [`Parser::parse`].
pub fn append_event(
    parser: &dyn Parser,
    state: &mut ParseState,
    input: &[u8],
    default_time: EventTime,
    out: &mut Vec<u8>,
) -> Result<Parsed, ParseError> {
    let mark = out.len();
    write_header(out, default_time, &Map::new());
    match parser.parse(input, state, out) {
        Ok(parsed) => {
            if let Some(t) = parsed.time {
                // The header is [0x92, 0x92, 0xd7, 0x00, sec:4, nsec:4, ...].
                let sec = t.sec.clamp(0, u32::MAX as i64) as u32;
                out[mark + 4..mark + 8].copy_from_slice(&sec.to_be_bytes());
                out[mark + 8..mark + 12].copy_from_slice(&t.nsec.to_be_bytes());
            }
            Ok(parsed)
        }
        Err(e) => {
            out.truncate(mark);
            Err(e)
        }
    }
}

/// Every parser of a configuration, by name.
#[derive(Debug, Clone, Default)]
pub struct Parsers {
    by_name: Vec<(String, Arc<dyn Parser>)>,
}

impl Parsers {
    /// Builds every `[PARSER]` section with the format plugins of
    /// `registry`, then the registry's built-in parsers whose names the
    /// sections do not define. A name defined twice keeps its first
    /// definition, as in Fluent Bit, with a warning.
    ///
    /// # Errors
    /// A section without `name` or `format`, an unknown format, key or
    /// value, naming the file, line and key.
    pub fn build(sections: &[Section], registry: &Registry) -> Result<Self, ConfigError> {
        let mut parsers = Parsers::default();
        for section in sections {
            let (name, parser) = build_one(section, registry)?;
            if parsers.get(&name).is_some() {
                tracing::warn!(parser = %name, origin = %section.origin,
                    "parser defined again; the first definition is kept");
                continue;
            }
            parsers.by_name.push((name, parser));
        }
        for section in &registry.builtin_parsers {
            let defined = section
                .name()
                .is_some_and(|n| parsers.get(n.trim()).is_some());
            if !defined {
                parsers.by_name.push(build_one(section, registry)?);
            }
        }
        Ok(parsers)
    }

    /// The parser called `name` (names are case-sensitive).
    pub fn get(&self, name: &str) -> Option<Arc<dyn Parser>> {
        self.by_name
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| Arc::clone(p))
    }

    /// The parser an entry such as `Parser apache2` names.
    ///
    /// # Errors
    /// No parser has that name; the error points at the entry.
    pub fn lookup(&self, entry: &Entry) -> Result<Arc<dyn Parser>, ConfigError> {
        let name = entry.value.trim();
        self.get(name).ok_or_else(|| {
            ConfigError::at(&entry.origin, format!("unknown parser '{name}'")).with_key(&entry.key)
        })
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

fn build_one(
    section: &Section,
    registry: &Registry,
) -> Result<(String, Arc<dyn Parser>), ConfigError> {
    let name = section
        .name()
        .map(|n| n.trim().to_owned())
        .ok_or_else(|| ConfigError::at(&section.origin, "parser section has no 'name'"))?;
    let format = section.get("format").ok_or_else(|| {
        ConfigError::at(&section.origin, format!("parser '{name}' has no 'format'"))
    })?;
    let spec = registry.parser(format.value.trim()).ok_or_else(|| {
        let message = format!("unknown parser format '{}'", format.value.trim());
        ConfigError::at(&format.origin, message).with_key(&format.key)
    })?;
    let cfg = PluginConfig::new(
        section,
        spec.name,
        name.clone(),
        &[PARSER_COMMON, spec.properties],
    )?;
    let options = ParserOptions::from_config(&cfg)?;
    let parser = (spec.build)(&cfg, options)?;
    Ok((name, parser))
}
