//! A chunk as one Forward protocol frame.
//!
//! Forward mode is `[tag, [entry, ...], options?]`; CompressedPackedForward
//! is `[tag, bin(gzip(entries)), {"compressed": "gzip", ...}]`. A chunk's
//! events are already entries in Fluent Bit's layout (`[[time, meta],
//! body]`), so with `retain_metadata_in_forward_mode on` the chunk's
//! bytes are sent as they are, between a header and the options. By
//! default each entry is rewritten as `[time, body]`, which every Fluentd
//! reads; `time_as_integer` writes whole seconds instead of EventTime.
//! Bodies are copied byte for byte, never decoded.

use std::borrow::Cow;
use std::io::Write as _;

use flate2::write::GzEncoder;
use flate2::Compression;
use sluice_core::{buffers, msgpack};
use sluice_core::{Chunk, RawEvent};

/// How frames are built, from the plugin's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FrameOptions {
    /// `tag`: replaces the chunk's tag.
    pub tag: Option<String>,
    pub time_as_integer: bool,
    pub retain_metadata: bool,
    /// `send_options`: always send `{"size": n}`.
    pub send_options: bool,
    pub gzip: bool,
}

/// A frame in three parts, so a chunk's bytes need not be copied: the
/// head (array, tag, entries header), the entries, the options.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub head: Vec<u8>,
    pub entries: Cow<'a, [u8]>,
    pub tail: Vec<u8>,
    /// Events in the frame, and those left out as malformed.
    pub events: usize,
    pub skipped: usize,
}

/// A chunk's entries as this output sends them.
#[derive(Debug)]
pub(crate) struct Entries<'a> {
    pub bytes: Cow<'a, [u8]>,
    pub events: usize,
    pub skipped: usize,
}

impl Entries<'_> {
    /// The entries gzip-compressed, for CompressedPackedForward. Slow on
    /// a full chunk: run it where it cannot stall the reactor.
    pub fn gzipped(self) -> Entries<'static> {
        Entries {
            bytes: Cow::Owned(gzip(&self.bytes)),
            events: self.events,
            skipped: self.skipped,
        }
    }

    pub fn into_owned(self) -> Entries<'static> {
        Entries {
            bytes: Cow::Owned(self.bytes.into_owned()),
            events: self.events,
            skipped: self.skipped,
        }
    }
}

/// The entries of `chunk` as this output sends them.
pub(crate) fn entries<'a>(chunk: &'a Chunk, options: &FrameOptions) -> Entries<'a> {
    if options.retain_metadata && !options.time_as_integer {
        return Entries {
            bytes: Cow::Borrowed(chunk.data()),
            events: chunk.records(),
            skipped: 0,
        };
    }
    let mut out = buffers::take(chunk.size());
    let (mut events, mut skipped) = (0, 0);
    for event in chunk.events() {
        match event {
            Ok(e) => {
                write_entry(&mut out, &e, options);
                events += 1;
            }
            Err(_) => skipped += 1,
        }
    }
    Entries {
        bytes: Cow::Owned(out),
        events,
        skipped,
    }
}

fn write_entry(out: &mut Vec<u8>, e: &RawEvent<'_>, options: &FrameOptions) {
    out.push(0x92);
    if options.retain_metadata {
        out.push(0x92);
    }
    if options.time_as_integer {
        msgpack::write_int(out, e.time.sec);
    } else {
        e.time.write(out);
    }
    if options.retain_metadata {
        out.extend_from_slice(e.meta);
    }
    out.extend_from_slice(e.body);
}

/// Builds the frame around `entries` (gzipped already when
/// `options.gzip`); `chunk_id` asks the server for an ack.
pub(crate) fn build<'a>(
    tag: &str,
    entries: Entries<'a>,
    options: &FrameOptions,
    chunk_id: Option<&str>,
) -> Frame<'a> {
    let tag = options.tag.as_deref().unwrap_or(tag);
    let wants_options = options.send_options || options.gzip || chunk_id.is_some();
    let mut head = Vec::with_capacity(tag.len() + 16);
    msgpack::write_array_len(&mut head, if wants_options { 3 } else { 2 });
    msgpack::write_str(&mut head, tag);
    if options.gzip {
        bin_header(&mut head, entries.bytes.len());
    } else {
        msgpack::write_array_len(&mut head, entries.events);
    }
    let mut tail = Vec::new();
    if wants_options {
        write_options(&mut tail, entries.events, options.gzip, chunk_id);
    }
    Frame {
        head,
        entries: entries.bytes,
        tail,
        events: entries.events,
        skipped: entries.skipped,
    }
}

fn write_options(out: &mut Vec<u8>, events: usize, gzip: bool, chunk_id: Option<&str>) {
    let pairs = 1 + usize::from(gzip) + usize::from(chunk_id.is_some());
    msgpack::write_map_len(out, pairs);
    msgpack::write_str(out, "size");
    msgpack::write_uint(out, events as u64);
    if gzip {
        msgpack::write_str(out, "compressed");
        msgpack::write_str(out, "gzip");
    }
    if let Some(id) = chunk_id {
        msgpack::write_str(out, "chunk");
        msgpack::write_str(out, id);
    }
}

/// A bin header for `len` bytes.
fn bin_header(out: &mut Vec<u8>, len: usize) {
    if let Ok(n) = u8::try_from(len) {
        out.extend_from_slice(&[0xc4, n]);
    } else if let Ok(n) = u16::try_from(len) {
        out.push(0xc5);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0xc6);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::default());
    // Writes into a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::testutil::{body, chunk};
    use flate2::read::GzDecoder;
    use sluice_core::msgpack::{Reader, Token};
    use sluice_core::Value;
    use std::io::Read as _;

    fn joined(f: &Frame<'_>) -> Vec<u8> {
        [f.head.as_slice(), &f.entries, &f.tail].concat()
    }

    fn two() -> Chunk {
        chunk(
            "app",
            &[
                body(&[("n", Value::UInt(1))]),
                body(&[("n", Value::UInt(2))]),
            ],
        )
    }

    #[test]
    fn default_frame_is_forward_mode_without_metadata() {
        let c = two();
        let options = FrameOptions::default();
        let bytes = joined(&build("app", entries(&c, &options), &options, None));
        let mut r = Reader::new(&bytes);
        assert_eq!(r.token().unwrap(), Token::Array(2));
        assert_eq!(r.token().unwrap(), Token::Str(b"app"));
        assert_eq!(r.token().unwrap(), Token::Array(2));
        assert_eq!(r.token().unwrap(), Token::Array(2));
        assert!(matches!(r.token().unwrap(), Token::Ext(0, _)));
        assert_eq!(r.token().unwrap(), Token::Map(1));
        r.skip().unwrap();
        r.skip().unwrap();
        r.skip().unwrap();
        assert!(r.remaining().is_empty());
    }

    #[test]
    fn retained_metadata_sends_the_chunk_as_it_is() {
        let c = two();
        let options = FrameOptions {
            retain_metadata: true,
            ..FrameOptions::default()
        };
        let f = build("app", entries(&c, &options), &options, None);
        assert!(matches!(f.entries, Cow::Borrowed(_)));
        assert_eq!(&*f.entries, c.data());
    }

    #[test]
    fn options_carry_size_chunk_and_integer_times() {
        let c = two();
        let options = FrameOptions {
            tag: Some("other".into()),
            time_as_integer: true,
            send_options: true,
            ..FrameOptions::default()
        };
        let bytes = joined(&build("app", entries(&c, &options), &options, Some("abc")));
        let mut r = Reader::new(&bytes);
        assert_eq!(r.token().unwrap(), Token::Array(3));
        assert_eq!(r.token().unwrap(), Token::Str(b"other"));
        assert_eq!(r.token().unwrap(), Token::Array(2));
        assert_eq!(r.token().unwrap(), Token::Array(2));
        assert_eq!(r.token().unwrap(), Token::UInt(1_700_000_000));
        r.skip().unwrap();
        r.skip().unwrap();
        assert_eq!(r.token().unwrap(), Token::Map(2));
        assert_eq!(r.token().unwrap(), Token::Str(b"size"));
        assert_eq!(r.token().unwrap(), Token::UInt(2));
        assert_eq!(r.token().unwrap(), Token::Str(b"chunk"));
        assert_eq!(r.token().unwrap(), Token::Str(b"abc"));
    }

    #[test]
    fn gzip_packs_the_entries() {
        let c = two();
        let options = FrameOptions {
            gzip: true,
            ..FrameOptions::default()
        };
        let packed = entries(&c, &options).gzipped();
        let bytes = joined(&build("app", packed, &options, None));
        let plain = entries(&c, &options).bytes.into_owned();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.token().unwrap(), Token::Array(3));
        r.skip().unwrap();
        let Token::Bin(packed) = r.token().unwrap() else {
            panic!("not bin")
        };
        let mut unpacked = Vec::new();
        GzDecoder::new(packed).read_to_end(&mut unpacked).unwrap();
        assert_eq!(unpacked, plain);
        assert_eq!(r.token().unwrap(), Token::Map(2));
    }
}
