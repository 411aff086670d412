//! `stdout`: prints every record to standard output.
//!
//! Options: `format` — `msgpack` (default; Fluent Bit's printed form, one
//! numbered line per record: `[0] tag: [[1700000000.123456789, {}],
//! {"k"=>"v"}]`), `json` (one array per chunk, then a newline),
//! `json_lines` (one object per line) or `json_stream` (objects back to
//! back, a newline after the chunk); `json_date_key` (default `date`;
//! `false`/`off`/`no` leaves the time out of JSON records);
//! `json_date_format` (`double` default, `epoch`, `epoch_ms`, `iso8601`,
//! `java_sql_timestamp`).
//!
//! A chunk is rendered into one buffer and written in one locked write, so
//! concurrent flushes never interleave lines. A write error (a closed
//! pipe) drops the chunk: standard output does not come back.

use std::sync::Arc;

use async_trait::async_trait;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::json;
use sluice_core::msgpack::{DecodeError, Reader};
use sluice_core::plugin::{BuildOutput, Output, Setup, Spec, Verdict};
use sluice_core::timefmt::DateFormat;
use sluice_core::{Chunk, RawEvent};

use super::format::{each_body, each_event, write_printed, write_time_nanos, Walk};

const PROPS: &[Property] = &[
    Property::new(
        "format",
        PropKind::Str,
        Some("msgpack"),
        "Output format: msgpack, json, json_lines or json_stream",
    ),
    Property::new(
        "json_date_key",
        PropKind::Str,
        Some("date"),
        "Key of the record time in JSON formats (false: no time key)",
    ),
    Property::new(
        "json_date_format",
        PropKind::Str,
        Some("double"),
        "Time format: double, epoch, epoch_ms, iso8601 or java_sql_timestamp",
    ),
];

pub const SPEC: Spec<BuildOutput> = Spec {
    name: "stdout",
    description: "Print records to the standard output",
    properties: PROPS,
    build,
};

/// How records are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Msgpack,
    Json,
    JsonLines,
    JsonStream,
}

impl Format {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "msgpack" => Some(Format::Msgpack),
            "json" => Some(Format::Json),
            "json_lines" => Some(Format::JsonLines),
            "json_stream" => Some(Format::JsonStream),
            _ => None,
        }
    }
}

/// What `render` needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub format: Format,
    /// The time key and format for JSON records; `None` leaves it out.
    pub date: Option<(String, DateFormat)>,
}

struct Stdout {
    options: Options,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    Ok(Arc::new(Stdout {
        options: options(cfg)?,
    }))
}

pub(crate) fn options(cfg: &PluginConfig) -> Result<Options, ConfigError> {
    let name = cfg.str("format").unwrap_or("msgpack");
    let format = Format::parse(name).ok_or_else(|| {
        cfg.error(
            "format",
            format!("unknown format '{name}'; use msgpack, json, json_lines or json_stream"),
        )
    })?;
    Ok(Options {
        format,
        date: date_option(cfg)?,
    })
}

/// The `json_date_key` / `json_date_format` pair.
pub(crate) fn date_option(cfg: &PluginConfig) -> Result<Option<(String, DateFormat)>, ConfigError> {
    let name = cfg.str("json_date_format").unwrap_or("double");
    let format = DateFormat::parse(name).ok_or_else(|| {
        cfg.error(
            "json_date_format",
            format!(
                "unknown date format '{name}'; use double, epoch, epoch_ms, iso8601 or \
                 java_sql_timestamp"
            ),
        )
    })?;
    let key = cfg.str("json_date_key").unwrap_or("date").trim();
    let disabled = ["false", "off", "no"]
        .iter()
        .any(|off| key.eq_ignore_ascii_case(off));
    Ok((!disabled).then(|| (key.to_owned(), format)))
}

#[async_trait]
impl Output for Stdout {
    async fn flush(&self, chunk: &Chunk) -> Verdict {
        let mut text = Vec::with_capacity(chunk.size() * 2);
        let walk = render(chunk, &self.options, &mut text);
        walk.log(chunk.tag());
        super::write_stdout(text).await
    }
}

/// Appends the text `stdout` prints for `chunk`.
pub(crate) fn render(chunk: &Chunk, options: &Options, out: &mut Vec<u8>) -> Walk {
    let date = options.date.as_ref().map(|(k, f)| (k.as_str(), *f));
    let start = out.len();
    let walk = match options.format {
        Format::Msgpack => each_event(chunk, out, |out, n, e| printed_line(out, n, chunk.tag(), e)),
        Format::JsonLines => each_body(chunk, out, |out, _, e| {
            json::write_record_at(out, e.body, date.map(|(k, f)| (k, f, e.time)))?;
            out.push(b'\n');
            Ok(())
        }),
        Format::Json | Format::JsonStream => {
            let array = options.format == Format::Json;
            if array {
                out.push(b'[');
            }
            let walk = each_body(chunk, out, |out, n, e| {
                if array && n > 0 {
                    out.push(b',');
                }
                json::write_record_at(out, e.body, date.map(|(k, f)| (k, f, e.time)))
            });
            if array {
                out.push(b']');
            }
            out.push(b'\n');
            walk
        }
    };
    if walk.written == 0 {
        // Nothing printable: print nothing rather than an empty array.
        out.truncate(start);
    }
    walk
}

/// `[n] tag: [[sec.nsec, {meta}], {body}]` and a newline.
fn printed_line(
    out: &mut Vec<u8>,
    n: usize,
    tag: &str,
    e: &RawEvent<'_>,
) -> Result<(), DecodeError> {
    out.push(b'[');
    json::write_u64(out, n as u64);
    out.extend_from_slice(b"] ");
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(b": [[");
    write_time_nanos(out, e.time);
    out.extend_from_slice(b", ");
    write_printed(out, &mut Reader::new(e.meta))?;
    out.extend_from_slice(b"], ");
    write_printed(out, &mut Reader::new(e.body))?;
    out.extend_from_slice(b"]\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::testutil::{body, chunk, config, setup};
    use sluice_core::{Event, EventTime, Value};

    fn text(pairs: &[(&str, &str)], c: &Chunk) -> String {
        let cfg = config(&SPEC, pairs).unwrap();
        let mut out = Vec::new();
        render(c, &options(&cfg).unwrap(), &mut out);
        String::from_utf8(out).unwrap()
    }

    fn two() -> Chunk {
        chunk(
            "dummy.0",
            &[
                body(&[("message", Value::Str("dummy".into()))]),
                body(&[("n", Value::Int(-1)), ("f", Value::Float(1.5))]),
            ],
        )
    }

    #[test]
    fn default_format_numbers_records_like_fluent_bit() {
        assert_eq!(
            text(&[], &two()),
            "[0] dummy.0: [[1700000000.123456789, {}], {\"message\"=>\"dummy\"}]\n\
             [1] dummy.0: [[1700000001.123456789, {}], {\"n\"=>-1, \"f\"=>1.500000}]\n"
        );
    }

    #[test]
    fn metadata_is_printed() {
        let mut e = Event::new(EventTime::new(1, 5), body(&[("a", Value::Null)]));
        e.meta.push("m", Value::Bool(false));
        let mut data = Vec::new();
        e.encode(&mut data);
        let c = Chunk::new("t", data, 1);
        assert_eq!(
            text(&[], &c),
            "[0] t: [[1.000000005, {\"m\"=>false}], {\"a\"=>nil}]\n"
        );
    }

    #[test]
    fn json_is_one_array_per_chunk() {
        assert_eq!(
            text(&[("format", "json")], &two()),
            "[{\"date\":1700000000.123456,\"message\":\"dummy\"},\
             {\"date\":1700000001.123456,\"n\":-1,\"f\":1.5}]\n"
        );
    }

    #[test]
    fn json_lines_is_one_object_per_line() {
        assert_eq!(
            text(
                &[("format", "json_lines"), ("json_date_format", "iso8601")],
                &two()
            ),
            "{\"date\":\"2023-11-14T22:13:20.123456Z\",\"message\":\"dummy\"}\n\
             {\"date\":\"2023-11-14T22:13:21.123456Z\",\"n\":-1,\"f\":1.5}\n"
        );
    }

    #[test]
    fn json_stream_concatenates_objects() {
        assert_eq!(
            text(
                &[
                    ("format", "json_stream"),
                    ("json_date_key", "ts"),
                    ("json_date_format", "epoch")
                ],
                &two()
            ),
            "{\"ts\":1700000000,\"message\":\"dummy\"}{\"ts\":1700000001,\"n\":-1,\"f\":1.5}\n"
        );
    }

    #[test]
    fn date_key_can_be_turned_off() {
        assert_eq!(
            text(
                &[("format", "json_lines"), ("json_date_key", "Off")],
                &two()
            ),
            "{\"message\":\"dummy\"}\n{\"n\":-1,\"f\":1.5}\n"
        );
    }

    #[test]
    fn malformed_events_are_skipped_and_the_rest_printed() {
        let good = two();
        let mut data = vec![0x92, 0x01, 0x02]; // [1, 2]: no body map
        data.extend_from_slice(good.data());
        let c = Chunk::new("dummy.0", data, 3);
        let cfg = config(&SPEC, &[("format", "json")]).unwrap();
        let mut out = Vec::new();
        let walk = render(&c, &options(&cfg).unwrap(), &mut out);
        assert_eq!((walk.written, walk.skipped), (2, 1));
        assert!(walk.first_error.is_some());
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("[{\"date\":1700000000.123456,\"message\""),
            "{text}"
        );
        assert!(!text.contains("[,"), "{text}");
    }

    #[test]
    fn a_chunk_with_nothing_printable_prints_nothing() {
        let c = Chunk::new("t", vec![0x92, 0x01, 0x02], 1);
        assert_eq!(text(&[("format", "json")], &c), "");
    }

    #[test]
    fn bad_names_are_config_errors_naming_the_line() {
        let cfg = config(&SPEC, &[("format", "yaml")]).unwrap();
        let err = options(&cfg).unwrap_err().to_string();
        assert!(
            err.starts_with("t.conf:3: key 'format': unknown format 'yaml'"),
            "{err}"
        );
        let cfg = config(&SPEC, &[("json_date_format", "rfc")]).unwrap();
        assert!(options(&cfg).is_err());
        assert!((SPEC.build)(&config(&SPEC, &[]).unwrap(), &setup()).is_ok());
    }

    #[tokio::test]
    async fn flush_of_an_empty_chunk_is_ok() {
        let out = (SPEC.build)(&config(&SPEC, &[]).unwrap(), &setup()).unwrap();
        assert_eq!(
            out.flush(&Chunk::new("t", Vec::new(), 0)).await,
            Verdict::Ok
        );
    }
}
