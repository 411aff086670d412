//! JSON in and out: transcoding JSON text to MessagePack without building
//! a tree, and writing values or raw MessagePack as JSON for outputs.

use crate::event::EventTime;
use crate::msgpack::{DecodeError, Reader};
use crate::timefmt::DateFormat;
use crate::value::{Map, Value};

/// Why JSON text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid json: {0}")]
pub struct JsonError(pub String);

/// Writes `v` as JSON.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    let _ = (out, v);
    unimplemented!("json::write_value")
}

/// Writes bytes as a JSON string literal, escaping as needed; invalid
/// UTF-8 becomes U+FFFD.
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    let _ = (out, s);
    unimplemented!("json::write_str")
}

/// Writes the MessagePack value at the reader as JSON.
pub fn write_msgpack(out: &mut Vec<u8>, r: &mut Reader<'_>) -> Result<(), DecodeError> {
    let _ = (out, r);
    unimplemented!("json::write_msgpack")
}

/// Writes a record body (a MessagePack map) as a JSON object; with
/// `date`, the key and formatted time come first.
pub fn write_record(
    out: &mut Vec<u8>,
    body: &[u8],
    date: Option<(&str, DateFormat, EventTime)>,
) -> Result<(), DecodeError> {
    let _ = (out, body, date);
    unimplemented!("json::write_record")
}

/// Transcodes one JSON value into MessagePack appended to `out`.
pub fn to_msgpack(json: &[u8], out: &mut Vec<u8>) -> Result<(), JsonError> {
    let _ = (json, out);
    unimplemented!("json::to_msgpack")
}

/// Parses JSON text that must be an object.
pub fn parse_object(json: &[u8]) -> Result<Map, JsonError> {
    let _ = json;
    unimplemented!("json::parse_object")
}
