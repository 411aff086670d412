//! Forward protocol frames, and their events re-framed into chunk layout.
//!
//! A frame is one MessagePack array: `[tag, time, record, option?]`
//! (Message), `[tag, [entry, ...], option?]` (Forward), or `[tag, bytes,
//! option?]` (PackedForward: `bytes`, bin or str, holds entries back to
//! back; gzip-compressed, in one or more members, when the option says
//! `compressed: "gzip"`: CompressedPackedForward). An entry is `[time,
//! record]` or `[[time, metadata], record]`; a time is the EventTime
//! extension (fixext8 or ext8), an integer or a float.
//!
//! Entries are validated and re-framed byte for byte, never decoded into
//! trees: an entry already in chunk layout with a fixext8 time is copied
//! as it is, others get a new header in front of their metadata and body
//! bytes. An entry of the wrong shape is rejected on its own; packed bytes
//! that stop being MessagePack reject the whole frame, because nothing
//! after that point can be framed.

use sluice_core::event::{EventTime, RawEvent, EVENT_TIME_EXT};
use sluice_core::msgpack::{DecodeError, Reader, Token};

/// The length of the first whole frame of `data`, `None` while it is
/// still arriving.
///
/// # Errors
///
/// Bytes that are not MessagePack: the stream cannot be framed any more.
pub(crate) fn frame_len(data: &[u8]) -> Result<Option<usize>, DecodeError> {
    match Reader::new(data).skip() {
        Ok(frame) => Ok(Some(frame.len())),
        Err(DecodeError::Truncated(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Finds where frames end in a stream that arrives in pieces. It walks
/// each token once and remembers how far it got, so a large frame that
/// arrives over many reads costs one walk, not one per read (a 2 MiB
/// Forward-mode frame was walked from its start after every read).
#[derive(Debug, Default)]
pub(crate) struct FrameScan {
    /// Bytes of the current frame walked so far, in whole tokens.
    walked: usize,
    /// Values still to walk before the frame ends (a count, as
    /// `Reader::skip` keeps, so nesting costs no memory).
    pending: u64,
    started: bool,
}

impl FrameScan {
    /// The length of the frame at the front of `data`, `None` while it
    /// is still arriving. Between calls `data` must start at the same
    /// frame (more bytes may follow); after a frame is found the scan
    /// starts over at the next one.
    ///
    /// # Errors
    ///
    /// Bytes that are not MessagePack.
    pub fn frame_len(&mut self, data: &[u8]) -> Result<Option<usize>, DecodeError> {
        if !self.started {
            self.pending = 1;
            self.started = true;
        }
        let mut r = Reader::new(&data[self.walked.min(data.len())..]);
        match r.walk(&mut self.pending) {
            Ok(()) => {
                let len = self.walked + r.position();
                *self = FrameScan::default();
                Ok(Some(len))
            }
            Err(DecodeError::Truncated(_)) => {
                self.walked += r.position();
                Ok(None)
            }
            Err(e) => {
                *self = FrameScan::default();
                Err(e)
            }
        }
    }
}

/// What a frame's entries look like on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Body<'a> {
    /// Message mode: one event.
    Message { time: EventTime, record: &'a [u8] },
    /// Forward mode: the bytes of the entries array's elements.
    Entries(&'a [u8]),
    /// PackedForward: entries back to back, maybe gzip-compressed.
    Packed { bytes: &'a [u8], gzip: bool },
}

/// A frame's `option` map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Options<'a> {
    /// Asks for `{"ack": chunk}` once the events are done with.
    pub chunk: Option<&'a [u8]>,
    /// How many events the sender says the frame holds.
    pub size: Option<u64>,
}

/// One parsed frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Frame<'a> {
    pub tag: &'a [u8],
    pub body: Body<'a>,
    pub options: Options<'a>,
}

/// Parses one whole frame (as [`frame_len`] cut it).
///
/// # Errors
///
/// [`DecodeError::Shape`] naming what is wrong: not an array of 2 to 4
/// elements, a tag that is not a string, an entries value of no known
/// mode, an option that is not a map, or an unknown compression.
pub(crate) fn parse(frame: &[u8]) -> Result<Frame<'_>, DecodeError> {
    let mut r = Reader::new(frame);
    let n = match r.token()? {
        Token::Array(n @ 2..=4) => n,
        _ => {
            return Err(DecodeError::Shape(
                "frame is not an array of 2 to 4 elements",
            ))
        }
    };
    let tag = match r.token()? {
        Token::Str(t) | Token::Bin(t) => t,
        _ => return Err(DecodeError::Shape("tag is not a string")),
    };
    let (body, rest) = match r.clone().token()? {
        Token::Str(_) | Token::Bin(_) => (packed(&mut r)?, n - 2),
        Token::Array(_) => (entries(&mut r)?, n - 2),
        _ if n >= 3 => (message(&mut r)?, n - 3),
        _ => return Err(DecodeError::Shape("message frame has no record")),
    };
    let (options, gzip) = match rest {
        0 => (Options::default(), false),
        _ => options(&mut r)?,
    };
    let body = match body {
        Body::Packed { bytes, .. } => Body::Packed { bytes, gzip },
        other if gzip => {
            let _ = other;
            return Err(DecodeError::Shape("only packed entries can be compressed"));
        }
        other => other,
    };
    Ok(Frame { tag, body, options })
}

fn packed<'a>(r: &mut Reader<'a>) -> Result<Body<'a>, DecodeError> {
    match r.token()? {
        Token::Str(bytes) | Token::Bin(bytes) => Ok(Body::Packed { bytes, gzip: false }),
        _ => unreachable!("peeked as str or bin"),
    }
}

fn entries<'a>(r: &mut Reader<'a>) -> Result<Body<'a>, DecodeError> {
    let whole = r.skip()?;
    let mut inner = Reader::new(whole);
    inner.token()?;
    Ok(Body::Entries(inner.remaining()))
}

fn message<'a>(r: &mut Reader<'a>) -> Result<Body<'a>, DecodeError> {
    let time = EventTime::read(r)?;
    let record = r.skip()?;
    if !matches!(Reader::new(record).token()?, Token::Map(_)) {
        return Err(DecodeError::Shape("record is not a map"));
    }
    Ok(Body::Message { time, record })
}

fn options<'a>(r: &mut Reader<'a>) -> Result<(Options<'a>, bool), DecodeError> {
    let Token::Map(n) = r.token()? else {
        return Err(DecodeError::Shape("option is not a map"));
    };
    let mut options = Options::default();
    let mut gzip = false;
    for _ in 0..n {
        let key = match r.token()? {
            Token::Str(k) | Token::Bin(k) => k,
            _ => {
                r.skip()?;
                continue;
            }
        };
        match (key, r.token()?) {
            (b"chunk", Token::Str(c) | Token::Bin(c)) => options.chunk = Some(c),
            (b"size", Token::UInt(s)) => options.size = Some(s),
            (b"compressed", Token::Str(b"gzip")) => gzip = true,
            (b"compressed", Token::Str(b"text")) => gzip = false,
            (b"compressed", _) => return Err(DecodeError::Shape("unknown compression")),
            // Any other option (fluent_signal, ...) is not ours to judge;
            // its value was one token, or a container to skip.
            (_, Token::Array(k)) => skip_n(r, k as u64)?,
            (_, Token::Map(k)) => skip_n(r, 2 * k as u64)?,
            _ => {}
        }
    }
    Ok((options, gzip))
}

fn skip_n(r: &mut Reader<'_>, n: u64) -> Result<(), DecodeError> {
    for _ in 0..n {
        r.skip()?;
    }
    Ok(())
}

/// How many entries of a frame were kept and rejected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub events: usize,
    pub rejected: usize,
}

/// Appends the entries in `bytes` to `out` in chunk layout.
///
/// # Errors
///
/// The bytes stop being MessagePack; `out` is then left as it was.
pub(crate) fn reframe(bytes: &[u8], out: &mut Vec<u8>) -> Result<Counts, DecodeError> {
    let mark = out.len();
    let mut counts = Counts::default();
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        // One walk per well-formed entry: reading the event finds its
        // end. Only an entry that fails is walked again, to step over it
        // whole or to find that the bytes stop being MessagePack.
        let mut entry = r.clone();
        match RawEvent::read(&mut entry) {
            Ok(event) => {
                write_event(out, &event);
                counts.events += 1;
                r = entry;
            }
            Err(_) => match r.skip() {
                Ok(_) => counts.rejected += 1,
                Err(e) => {
                    out.truncate(mark);
                    return Err(e);
                }
            },
        }
    }
    Ok(counts)
}

/// Appends one Message-mode event in chunk layout.
pub(crate) fn write_message(out: &mut Vec<u8>, time: EventTime, record: &[u8]) {
    out.extend_from_slice(&[0x92, 0x92]);
    time.write(out);
    out.push(0x80);
    out.extend_from_slice(record);
}

fn write_event(out: &mut Vec<u8>, event: &RawEvent<'_>) {
    let raw = event.raw;
    let chunk_form = raw.len() > 12
        && raw[..4] == [0x92, 0x92, 0xd7, EVENT_TIME_EXT as u8]
        && u32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]) <= 999_999_999;
    if chunk_form {
        out.extend_from_slice(raw);
        return;
    }
    out.extend_from_slice(&[0x92, 0x92]);
    event.time.write(out);
    out.extend_from_slice(event.meta);
    out.extend_from_slice(event.body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::event::Events;
    use sluice_core::msgpack::{write_array_len, write_bin, write_ext, write_map_len, write_str};
    use sluice_core::msgpack::{write_f64, write_uint};

    fn record(buf: &mut Vec<u8>, v: &str) {
        write_map_len(buf, 1);
        write_str(buf, "k");
        write_str(buf, v);
    }

    fn decoded(chunk: &[u8]) -> Vec<(EventTime, String)> {
        Events::new(chunk)
            .map(|e| {
                let e = e.unwrap().decode().unwrap();
                (
                    e.time,
                    e.body.get("k").unwrap().as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn entries_in_every_time_form_are_reframed() {
        let mut packed = Vec::new();
        // [fixext8 time, record]
        write_array_len(&mut packed, 2);
        EventTime::new(10, 5).write(&mut packed);
        record(&mut packed, "a");
        // [ext8 time, record]
        write_array_len(&mut packed, 2);
        packed.extend_from_slice(&[0xc7, 8, 0, 0, 0, 0, 11, 0, 0, 0, 0]);
        record(&mut packed, "b");
        // [[int time, {meta}], record]
        write_array_len(&mut packed, 2);
        write_array_len(&mut packed, 2);
        write_uint(&mut packed, 12);
        write_map_len(&mut packed, 0);
        record(&mut packed, "c");
        // [float time, record]
        write_array_len(&mut packed, 2);
        write_f64(&mut packed, 13.5);
        record(&mut packed, "d");

        let mut out = Vec::new();
        let counts = reframe(&packed, &mut out).unwrap();
        assert_eq!(
            counts,
            Counts {
                events: 4,
                rejected: 0
            }
        );
        let got = decoded(&out);
        assert_eq!(got[0], (EventTime::new(10, 5), "a".into()));
        assert_eq!(got[1].0, EventTime::new(11, 0));
        assert_eq!(got[2].0, EventTime::new(12, 0));
        assert_eq!(got[3].0, EventTime::new(13, 500_000_000));
    }

    #[test]
    fn chunk_layout_entries_are_copied_as_they_are() {
        let mut entry = vec![0x92, 0x92];
        EventTime::new(7, 1).write(&mut entry);
        write_map_len(&mut entry, 0);
        record(&mut entry, "x");
        let mut out = Vec::new();
        reframe(&entry, &mut out).unwrap();
        assert_eq!(out, entry);
    }

    #[test]
    fn bad_entries_are_rejected_alone_and_garbage_rejects_all() {
        let mut packed = Vec::new();
        write_array_len(&mut packed, 2);
        write_uint(&mut packed, 1);
        write_uint(&mut packed, 2); // body is not a map
        write_array_len(&mut packed, 2);
        write_uint(&mut packed, 3);
        record(&mut packed, "ok");
        let mut out = Vec::new();
        assert_eq!(
            reframe(&packed, &mut out).unwrap(),
            Counts {
                events: 1,
                rejected: 1
            }
        );

        packed.push(0xc1);
        let mut out = b"kept".to_vec();
        assert!(reframe(&packed, &mut out).is_err());
        assert_eq!(out, b"kept");
    }

    #[test]
    fn modes_and_options_parse() {
        let mut f = Vec::new();
        write_array_len(&mut f, 4);
        write_str(&mut f, "app");
        write_ext(&mut f, 0, &[0, 0, 0, 9, 0, 0, 0, 0]);
        record(&mut f, "m");
        write_map_len(&mut f, 1);
        write_str(&mut f, "chunk");
        write_str(&mut f, "abc");
        let frame = parse(&f).unwrap();
        assert_eq!(frame.tag, b"app");
        assert_eq!(frame.options.chunk, Some(&b"abc"[..]));
        assert!(matches!(frame.body, Body::Message { time, .. } if time.sec == 9));

        let mut f = Vec::new();
        write_array_len(&mut f, 3);
        write_str(&mut f, "app");
        write_bin(&mut f, b"\x1f\x8b");
        write_map_len(&mut f, 2);
        write_str(&mut f, "compressed");
        write_str(&mut f, "gzip");
        write_str(&mut f, "size");
        write_uint(&mut f, 2);
        let frame = parse(&f).unwrap();
        assert_eq!(
            frame.body,
            Body::Packed {
                bytes: b"\x1f\x8b",
                gzip: true
            }
        );
        assert_eq!(frame.options.size, Some(2));
    }

    #[test]
    fn frames_are_cut_only_when_whole() {
        let mut f = Vec::new();
        write_array_len(&mut f, 2);
        write_str(&mut f, "t");
        write_array_len(&mut f, 0);
        assert_eq!(frame_len(&f[..f.len() - 1]).unwrap(), None);
        assert_eq!(frame_len(&f).unwrap(), Some(f.len()));
        assert!(frame_len(&[0xc1]).is_err());
        assert!(parse(&[0x80]).is_err());
    }

    #[test]
    fn the_scan_finds_frames_fed_a_byte_at_a_time() {
        let mut stream = Vec::new();
        let frames: [&[u8]; 3] = [
            &[
                0x92, 0xa1, b't', 0x91, 0x92, 0x01, 0x81, 0xa1, b'k', 0xa2, b'v', b'w',
            ],
            &[0x90],
            &[0x93, 0xa1, b'u', 0xc4, 0x02, 0x00, 0x01, 0x80],
        ];
        for f in frames {
            stream.extend_from_slice(f);
        }
        let mut scan = FrameScan::default();
        let mut found = Vec::new();
        let mut start = 0;
        for end in 1..=stream.len() {
            if let Some(len) = scan.frame_len(&stream[start..end]).unwrap() {
                assert_eq!(frame_len(&stream[start..]).unwrap(), Some(len));
                found.push(&stream[start..start + len]);
                start += len;
            }
        }
        assert_eq!(found, frames);
        assert!(FrameScan::default().frame_len(&[0xc1]).is_err());
        // Deep nesting is only counted; it ends like any frame.
        let mut deep = vec![0x91; 200];
        deep.push(0xc0);
        assert_eq!(FrameScan::default().frame_len(&deep).unwrap(), Some(201));
    }
}
