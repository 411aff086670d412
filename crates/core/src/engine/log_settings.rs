//! Log settings of the process and of each plugin instance: `Log_Level`
//! and `Log_Suppress_Interval`, in `[SERVICE]` and on any `[INPUT]`,
//! `[FILTER]` or `[OUTPUT]`.
//!
//! Core only reads and checks them. The engine runs every instance's work
//! inside a tracing span named `input`, `filter` or `output` with the
//! instance name as its `name` field; the binary's subscriber looks the
//! name up in [`InstanceLog`]s to decide what it writes.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{ConfigError, PluginConfig};

/// Fluent Bit's log levels, least to most verbose; `as u8` gives 0 for
/// `Off` up to 5 for `Trace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Off = 0,
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl LogLevel {
    /// Reads a level name; `warning` is Fluent Bit's spelling of `warn`.
    pub fn parse(name: &str) -> Option<LogLevel> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "off" => LogLevel::Off,
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Off => "off",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// One plugin instance's own log settings; `None` takes `[SERVICE]`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceLog {
    /// The instance name, as in its span and in metrics (`stdout.0`, or
    /// its `Alias`).
    pub name: Arc<str>,
    pub level: Option<LogLevel>,
    pub suppress_interval: Option<Duration>,
}

impl InstanceLog {
    /// Reads `log_level` and `log_suppress_interval` of one instance.
    ///
    /// # Errors
    /// A level name that is not one of Fluent Bit's.
    pub fn from_config(cfg: &PluginConfig) -> Result<Self, ConfigError> {
        let level = match cfg.str("log_level") {
            Some(name) => Some(parse_level(cfg, "log_level", name)?),
            None => None,
        };
        Ok(InstanceLog {
            name: cfg.instance.as_str().into(),
            level,
            suppress_interval: cfg
                .is_set("log_suppress_interval")
                .then(|| cfg.time("log_suppress_interval").unwrap_or_default()),
        })
    }
}

/// Reads a level, or says which key of which section holds a bad one.
pub(crate) fn parse_level(
    cfg: &PluginConfig,
    key: &str,
    name: &str,
) -> Result<LogLevel, ConfigError> {
    LogLevel::parse(name).ok_or_else(|| {
        cfg.error(
            key,
            format!("unknown log level '{name}' (off, error, warn, info, debug or trace)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_read_fluent_bit_names_and_order_by_verbosity() {
        assert_eq!(LogLevel::parse("Warning"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::parse("OFF"), Some(LogLevel::Off));
        assert_eq!(LogLevel::parse("loud"), None);
        assert!(LogLevel::Error < LogLevel::Debug);
        assert!(LogLevel::Off < LogLevel::Error);
    }
}
