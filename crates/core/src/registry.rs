//! The table of known plugins, and the properties every instance of a
//! kind shares (`tag`, `match`, `retry_limit`, ...).
//!
//! `core` knows no plugin by name: the binary fills the registry from the
//! plugins crate.

use crate::config::{PropKind, Property, Section};
use crate::plugin::{BuildFilter, BuildInput, BuildOutput, BuildParser, Spec};

/// Properties every input takes.
pub const INPUT_COMMON: &[Property] = &[
    Property::new("name", PropKind::Str, None, "Plugin name"),
    Property::new(
        "alias",
        PropKind::Str,
        None,
        "Instance name used in logs and metrics",
    ),
    Property::new(
        "tag",
        PropKind::Str,
        None,
        "Tag of the records (default: the instance name)",
    ),
    Property::new(
        "mem_buf_limit",
        PropKind::Size,
        Some("0"),
        "Pause the input when its chunks in memory reach this size (0: no limit)",
    ),
    Property::new(
        "log_level",
        PropKind::Str,
        None,
        "Log level of this instance: off, error, warn, info, debug or trace",
    ),
    Property::new(
        "log_suppress_interval",
        PropKind::Time,
        None,
        "Seconds within which a repeat of this instance's log line is not written",
    ),
    Property::new(
        "storage.type",
        PropKind::Str,
        Some("memory"),
        "Where chunks are buffered: memory or filesystem",
    ),
    Property::new(
        "storage.pause_on_chunks_overlimit",
        PropKind::Bool,
        Some("off"),
        "Pause when storage.max_chunks_up is reached",
    ),
    Property::new(
        "threaded",
        PropKind::Bool,
        Some("off"),
        "Accepted for compatibility; every input already runs as its own task",
    ),
    Property::new(
        "routable",
        PropKind::Bool,
        Some("on"),
        "Whether records of this input are routed to outputs",
    ),
];

/// Properties every filter takes.
pub const FILTER_COMMON: &[Property] = &[
    Property::new("name", PropKind::Str, None, "Plugin name"),
    Property::new(
        "alias",
        PropKind::Str,
        None,
        "Instance name used in logs and metrics",
    ),
    Property::new(
        "match",
        PropKind::Str,
        None,
        "Tag pattern; * matches any run of characters",
    ),
    Property::new(
        "match_regex",
        PropKind::Str,
        None,
        "Regular expression on the tag",
    ),
    Property::new(
        "log_level",
        PropKind::Str,
        None,
        "Log level of this instance: off, error, warn, info, debug or trace",
    ),
    Property::new(
        "log_suppress_interval",
        PropKind::Time,
        None,
        "Seconds within which a repeat of this instance's log line is not written",
    ),
];

/// Properties every output takes.
pub const OUTPUT_COMMON: &[Property] = &[
    Property::new("name", PropKind::Str, None, "Plugin name"),
    Property::new(
        "alias",
        PropKind::Str,
        None,
        "Instance name used in logs and metrics",
    ),
    Property::new(
        "match",
        PropKind::Str,
        None,
        "Tag pattern; * matches any run of characters",
    ),
    Property::new(
        "match_regex",
        PropKind::Str,
        None,
        "Regular expression on the tag",
    ),
    Property::new(
        "retry_limit",
        PropKind::Str,
        Some("1"),
        "Retries per chunk: a number, no_limits/false/off (unlimited) or no_retries",
    ),
    Property::new(
        "workers",
        PropKind::Int,
        Some("1"),
        "Flushes of this output that may run at once",
    ),
    Property::new(
        "log_level",
        PropKind::Str,
        None,
        "Log level of this instance: off, error, warn, info, debug or trace",
    ),
    Property::new(
        "log_suppress_interval",
        PropKind::Time,
        None,
        "Seconds within which a repeat of this instance's log line is not written",
    ),
    Property::new(
        "storage.total_limit_size",
        PropKind::Size,
        None,
        "Most bytes of chunks queued for this output",
    ),
];

/// Properties every `[PARSER]` takes, whatever its format.
pub const PARSER_COMMON: &[Property] = &[
    Property::new("name", PropKind::Str, None, "Parser name"),
    Property::new(
        "format",
        PropKind::Str,
        None,
        "Format: json, regex, logfmt or ltsv",
    ),
    Property::new(
        "time_key",
        PropKind::Str,
        Some("time"),
        "Field that holds the record time",
    ),
    Property::new(
        "time_format",
        PropKind::Str,
        None,
        "strptime format of the time field (%L: fraction of a second)",
    ),
    Property::new(
        "time_offset",
        PropKind::Str,
        None,
        "UTC offset of times without %z, e.g. +0900",
    ),
    Property::new(
        "time_keep",
        PropKind::Bool,
        Some("off"),
        "Keep the time field in the record",
    ),
    Property::new(
        "time_system_timezone",
        PropKind::Bool,
        Some("off"),
        "Read times without %z in the system time zone",
    ),
    Property::new(
        "time_strict",
        PropKind::Bool,
        Some("on"),
        "Refuse times that do not fit the whole format",
    ),
    Property::new(
        "types",
        PropKind::Str,
        None,
        "KEY:TYPE pairs (string, integer, float, bool, hex)",
    ),
    Property::new(
        "skip_empty_values",
        PropKind::Bool,
        Some("on"),
        "Leave out fields whose value is empty (regex)",
    ),
    Property::new(
        "decode_field",
        PropKind::Str,
        None,
        "DECODER KEY [try_next|do_next]: merge what KEY decodes to",
    )
    .repeatable(),
    Property::new(
        "decode_field_as",
        PropKind::Str,
        None,
        "DECODER KEY [try_next|do_next]: replace KEY with what it decodes to",
    )
    .repeatable(),
];

/// Every plugin the binary knows.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    pub inputs: Vec<Spec<BuildInput>>,
    pub filters: Vec<Spec<BuildFilter>>,
    pub outputs: Vec<Spec<BuildOutput>>,
    /// Parser formats, by the name `Format` gives.
    pub parsers: Vec<Spec<BuildParser>>,
    /// `[PARSER]` sections every configuration has without loading a
    /// parsers file (the syslog input's defaults). A configuration that
    /// defines a parser of the same name uses its own.
    pub builtin_parsers: Vec<Section>,
    /// `[MULTILINE_PARSER]` sections every configuration has (`docker`,
    /// `cri`, `go`, `python`, `java`, `ruby`); a configuration's own
    /// definition of a name wins.
    pub builtin_multiline_parsers: Vec<Section>,
}

impl Registry {
    pub fn input(&self, name: &str) -> Option<&Spec<BuildInput>> {
        self.inputs
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    pub fn filter(&self, name: &str) -> Option<&Spec<BuildFilter>> {
        self.filters
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    pub fn output(&self, name: &str) -> Option<&Spec<BuildOutput>> {
        self.outputs
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    pub fn parser(&self, format: &str) -> Option<&Spec<BuildParser>> {
        self.parsers
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(format))
    }
}
