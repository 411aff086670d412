//! Formatting event times the ways outputs need (`json_date_format`).

use crate::event::EventTime;

/// How an output writes the record time (`json_date_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFormat {
    /// Seconds with a fraction: `1700000000.123456`.
    Double,
    /// Whole seconds.
    Epoch,
    /// Whole milliseconds.
    EpochMs,
    /// `2023-11-14T22:13:20.123456Z`.
    Iso8601,
    /// `2023-11-14 22:13:20.123456`.
    JavaSqlTimestamp,
}

impl DateFormat {
    /// Reads Fluent Bit's names for the formats.
    pub fn parse(name: &str) -> Option<Self> {
        let _ = name;
        unimplemented!("DateFormat::parse")
    }

    /// Writes the time as a JSON value (a number, or a quoted string).
    pub fn write_json(self, out: &mut Vec<u8>, t: EventTime) {
        let _ = (out, t);
        unimplemented!("DateFormat::write_json")
    }
}
