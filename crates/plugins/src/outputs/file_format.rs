//! The record formats of the `file` output: what one chunk becomes in the
//! file, rendered into a buffer before any file is touched.
//!
//! `out_file` (default): `tag: [1700000000.123456, {"k":"v"}]`; `plain`:
//! the body as JSON; `json_lines`: the body as JSON with `"date"` (seconds
//! with six decimals) first; `csv`: `1700000000.123456,"v1",2`; `ltsv`:
//! `"time":1700000000.123456<TAB>"k":"v"`; `template`: `{time}` and
//! `{key}` filled in; `msgpack`: the chunk's bytes as they are. Every text
//! format writes one line per record. CSV and LTSV print values (and LTSV
//! keys) in Fluent Bit's printed form, so strings are quoted; records with
//! an empty body print nothing there, as in Fluent Bit.

use sluice_core::json;
use sluice_core::msgpack::{DecodeError, Reader};
use sluice_core::timefmt::DateFormat;
use sluice_core::{Chunk, RawEvent};

use super::format::{body_header, each_event, key_text, write_bare, write_printed, Walk};

/// How the `file` output writes records.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FileFormat {
    OutFile,
    Plain,
    JsonLines,
    Csv { delimiter: u8, column_names: bool },
    Ltsv { delimiter: u8, label_delimiter: u8 },
    Template(Template),
    Msgpack,
}

/// A chunk rendered for the file.
#[derive(Debug, Default)]
pub(crate) struct Rendered {
    pub text: Vec<u8>,
    /// The CSV column names line, written only into an empty file.
    pub header: Option<Vec<u8>>,
    pub walk: Walk,
}

/// Renders `chunk` in `format`.
pub(crate) fn render(format: &FileFormat, chunk: &Chunk) -> Rendered {
    let mut r = Rendered {
        text: Vec::with_capacity(chunk.size() * 2),
        ..Rendered::default()
    };
    let out = &mut r.text;
    r.walk = match format {
        FileFormat::OutFile => each_event(chunk, out, |out, _, e| out_file(out, chunk.tag(), e)),
        FileFormat::Plain => each_event(chunk, out, |out, _, e| json_line(out, e, None)),
        FileFormat::JsonLines => each_event(chunk, out, |out, _, e| {
            json_line(out, e, Some(("date", DateFormat::Double, e.time)))
        }),
        FileFormat::Csv {
            delimiter,
            column_names,
        } => {
            let header = &mut r.header;
            each_event(chunk, out, |out, _, e| {
                if *column_names && header.is_none() {
                    *header = csv_header(e.body, *delimiter)?;
                }
                csv(out, e, *delimiter)
            })
        }
        FileFormat::Ltsv {
            delimiter,
            label_delimiter,
        } => each_event(chunk, out, |out, _, e| {
            ltsv(out, e, *delimiter, *label_delimiter)
        }),
        FileFormat::Template(t) => each_event(chunk, out, |out, _, e| t.write(out, e)),
        FileFormat::Msgpack => {
            out.extend_from_slice(chunk.data());
            Walk::default()
        }
    };
    r
}

/// `tag: [sec.usec, {json}]`
fn out_file(out: &mut Vec<u8>, tag: &str, e: &RawEvent<'_>) -> Result<(), DecodeError> {
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(b": [");
    DateFormat::Double.write_text(out, e.time);
    out.extend_from_slice(b", ");
    json::write_record(out, e.body, None)?;
    out.extend_from_slice(b"]\n");
    Ok(())
}

fn json_line(
    out: &mut Vec<u8>,
    e: &RawEvent<'_>,
    date: Option<(&str, DateFormat, sluice_core::EventTime)>,
) -> Result<(), DecodeError> {
    json::write_record(out, e.body, date)?;
    out.push(b'\n');
    Ok(())
}

/// `sec.usec,v1,v2` with values printed; nothing for an empty body.
fn csv(out: &mut Vec<u8>, e: &RawEvent<'_>, delimiter: u8) -> Result<(), DecodeError> {
    let mut r = Reader::new(e.body);
    let n = body_header(&mut r)?;
    if n == 0 {
        return Ok(());
    }
    DateFormat::Double.write_text(out, e.time);
    for _ in 0..n {
        out.push(delimiter);
        r.skip()?;
        write_printed(out, &mut r)?;
    }
    out.push(b'\n');
    Ok(())
}

/// `timestamp,"k1","k2"` from the first record's keys; `None` when that
/// record has no keys (the next one is asked).
fn csv_header(body: &[u8], delimiter: u8) -> Result<Option<Vec<u8>>, DecodeError> {
    let mut r = Reader::new(body);
    let n = body_header(&mut r)?;
    if n == 0 {
        return Ok(None);
    }
    let mut line = b"timestamp".to_vec();
    for _ in 0..n {
        line.push(delimiter);
        write_printed(&mut line, &mut r)?;
        r.skip()?;
    }
    line.push(b'\n');
    Ok(Some(line))
}

/// `"time":sec.usec<TAB>"k":v…`; nothing for an empty body.
fn ltsv(out: &mut Vec<u8>, e: &RawEvent<'_>, delimiter: u8, label: u8) -> Result<(), DecodeError> {
    let mut r = Reader::new(e.body);
    let n = body_header(&mut r)?;
    if n == 0 {
        return Ok(());
    }
    out.extend_from_slice(b"\"time\"");
    out.push(label);
    DateFormat::Double.write_text(out, e.time);
    for _ in 0..n {
        out.push(delimiter);
        write_printed(out, &mut r)?;
        out.push(label);
        write_printed(out, &mut r)?;
    }
    out.push(b'\n');
    Ok(())
}

/// A parsed `template`: text with `{time}` and `{key}` placeholders.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(Vec<u8>),
    Time,
    Key(Vec<u8>),
}

impl Template {
    /// Splits the template once, at build time. A `{` without a closing
    /// `}` is kept as text.
    pub fn parse(template: &str) -> Self {
        let mut pieces = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let Some(len) = rest[open..].find('}') else {
                break;
            };
            if open > 0 {
                pieces.push(Piece::Text(rest.as_bytes()[..open].to_vec()));
            }
            let name = &rest[open + 1..open + len];
            pieces.push(match name {
                "time" => Piece::Time,
                _ => Piece::Key(name.as_bytes().to_vec()),
            });
            rest = &rest[open + len + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.as_bytes().to_vec()));
        }
        Template(pieces)
    }

    /// One line: placeholders of keys the record lacks print nothing;
    /// string values print bare, others in the printed form.
    fn write(&self, out: &mut Vec<u8>, e: &RawEvent<'_>) -> Result<(), DecodeError> {
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.extend_from_slice(t),
                Piece::Time => DateFormat::Double.write_text(out, e.time),
                Piece::Key(k) => {
                    if let Some(mut value) = find(e.body, k)? {
                        write_bare(out, &mut value)?;
                    }
                }
            }
        }
        out.push(b'\n');
        Ok(())
    }
}

/// A reader at the value of `key` in a body map, when the key is there.
fn find<'a>(body: &'a [u8], key: &[u8]) -> Result<Option<Reader<'a>>, DecodeError> {
    let mut r = Reader::new(body);
    for _ in 0..body_header(&mut r)? {
        let k = r.skip()?;
        if key_text(k) == Some(key) {
            return Ok(Some(r));
        }
        r.skip()?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::testutil::{body, chunk};
    use sluice_core::Value;

    fn text(format: &FileFormat, c: &Chunk) -> String {
        String::from_utf8(render(format, c).text).unwrap()
    }

    fn sample() -> Chunk {
        chunk(
            "app.log",
            &[
                body(&[("message", Value::Str("hi".into())), ("n", Value::UInt(2))]),
                body(&[
                    ("message", Value::Str("a \"q\"".into())),
                    ("ok", Value::Bool(true)),
                ]),
            ],
        )
    }

    #[test]
    fn out_file_prints_tag_time_and_json() {
        assert_eq!(
            text(&FileFormat::OutFile, &sample()),
            "app.log: [1700000000.123456, {\"message\":\"hi\",\"n\":2}]\n\
             app.log: [1700000001.123456, {\"message\":\"a \\\"q\\\"\",\"ok\":true}]\n"
        );
    }

    #[test]
    fn plain_and_json_lines() {
        assert_eq!(
            text(&FileFormat::Plain, &sample()),
            "{\"message\":\"hi\",\"n\":2}\n{\"message\":\"a \\\"q\\\"\",\"ok\":true}\n"
        );
        assert_eq!(
            text(&FileFormat::JsonLines, &sample()),
            "{\"date\":1700000000.123456,\"message\":\"hi\",\"n\":2}\n\
             {\"date\":1700000001.123456,\"message\":\"a \\\"q\\\"\",\"ok\":true}\n"
        );
    }

    #[test]
    fn csv_quotes_strings_and_makes_a_header_from_the_first_record() {
        let f = FileFormat::Csv {
            delimiter: b',',
            column_names: true,
        };
        let r = render(&f, &sample());
        assert_eq!(
            String::from_utf8(r.text).unwrap(),
            "1700000000.123456,\"hi\",2\n1700000001.123456,\"a \\\"q\\\"\",true\n"
        );
        assert_eq!(r.header.unwrap(), b"timestamp,\"message\",\"n\"\n");
    }

    #[test]
    fn csv_without_column_names_has_no_header_and_skips_empty_bodies() {
        let f = FileFormat::Csv {
            delimiter: b'\t',
            column_names: false,
        };
        let c = chunk("t", &[body(&[]), body(&[("x", Value::Null)])]);
        let r = render(&f, &c);
        assert!(r.header.is_none());
        assert_eq!(r.text, b"1700000001.123456\tnil\n");
    }

    #[test]
    fn ltsv_quotes_keys_and_values_like_fluent_bit() {
        let f = FileFormat::Ltsv {
            delimiter: b'\t',
            label_delimiter: b':',
        };
        assert_eq!(
            text(&f, &sample()),
            "\"time\":1700000000.123456\t\"message\":\"hi\"\t\"n\":2\n\
             \"time\":1700000001.123456\t\"message\":\"a \\\"q\\\"\"\t\"ok\":true\n"
        );
    }

    #[test]
    fn template_fills_time_and_keys() {
        let t = Template::parse("{time} {message} n={n} missing={nope} {open");
        assert_eq!(
            text(&FileFormat::Template(t), &sample()),
            "1700000000.123456 hi n=2 missing= {open\n\
             1700000001.123456 a \"q\" n= missing= {open\n"
        );
    }

    #[test]
    fn template_keys_may_contain_dots() {
        let c = chunk("mem", &[body(&[("Mem.used", Value::UInt(10))])]);
        let t = Template::parse("used={Mem.used}");
        assert_eq!(text(&FileFormat::Template(t), &c), "used=10\n");
    }

    #[test]
    fn msgpack_is_the_chunk_as_it_is() {
        let c = sample();
        assert_eq!(render(&FileFormat::Msgpack, &c).text, c.data());
    }

    #[test]
    fn a_malformed_event_is_skipped() {
        let mut data = vec![0x92, 0x01, 0x02];
        data.extend_from_slice(sample().data());
        let c = Chunk::new("app.log", data, 3);
        let r = render(&FileFormat::Plain, &c);
        assert_eq!((r.walk.written, r.walk.skipped), (2, 1));
        assert!(r.text.starts_with(b"{\"message\":\"hi\""));
    }
}
