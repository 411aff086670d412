//! The options every `[PARSER]` shares, checked and compiled once.

use crate::config::{ConfigError, PluginConfig};

use super::decode::Decoders;
use super::time::{parse_offset, TimeParser, Zone};
use super::types::Types;

/// What a format needs besides its own options: how to read the time key,
/// which fields get which type, which decoders run.
#[derive(Debug, Clone)]
pub struct ParserOptions {
    /// The parser's `Name`.
    pub name: String,
    /// `Time_Key`, default `time`.
    pub time_key: String,
    /// Compiled from `Time_Format`; without one the time key is an
    /// ordinary field.
    pub time: Option<TimeParser>,
    /// `Time_Keep`: leave the time key in the record.
    pub time_keep: bool,
    pub types: Types,
    /// `Skip_Empty_Values` (default on): the regex format leaves out
    /// groups that captured nothing.
    pub skip_empty: bool,
    pub decoders: Decoders,
}

impl ParserOptions {
    /// Reads the common options of a checked `[PARSER]` section.
    ///
    /// # Errors
    /// A bad `Time_Format`, `Time_Offset`, `Types` or decoder rule, naming
    /// its line and key.
    pub fn from_config(cfg: &PluginConfig) -> Result<Self, ConfigError> {
        let zone = match cfg.str("time_offset") {
            Some(offset) => {
                Zone::Fixed(parse_offset(offset).map_err(|m| cfg.error("time_offset", m))?)
            }
            None if cfg.bool("time_system_timezone") => Zone::Local,
            None => Zone::Utc,
        };
        let time = cfg
            .str("time_format")
            .map(|f| TimeParser::new(f, zone, cfg.bool("time_strict")))
            .transpose()
            .map_err(|m| cfg.error("time_format", m))?;
        let types =
            Types::parse(cfg.str("types").unwrap_or("")).map_err(|m| cfg.error("types", m))?;
        let mut decoders = Decoders::default();
        // In the order written: a `try_next` chain may mix both keys.
        for (key, entry) in cfg.entries() {
            let merge = match key {
                "decode_field" => true,
                "decode_field_as" => false,
                _ => continue,
            };
            decoders
                .add(&entry.value, merge)
                .map_err(|m| ConfigError::at(&entry.origin, m).with_key(&entry.key))?;
        }
        Ok(ParserOptions {
            name: cfg.instance.clone(),
            time_key: cfg.str("time_key").unwrap_or("time").to_owned(),
            time,
            time_keep: cfg.bool("time_keep"),
            types,
            skip_empty: cfg.bool("skip_empty_values"),
            decoders,
        })
    }
}
