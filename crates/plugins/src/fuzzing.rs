//! Entry points for the fuzz targets in `fuzz/`: each takes arbitrary
//! bytes through one decoder exactly as a connection's bytes would go,
//! and checks what the decoder promises about its output. Not an API;
//! hidden from the docs and used by nothing else.
//!
//! A panic here (an explicit check, an overflow, an index out of range)
//! is what the fuzzer reports as a crash.

use sluice_core::event::Events;

use crate::inputs::forward::{frame, gzip};
use crate::inputs::http::{body, tag};
use crate::inputs::syslog;

/// Inflated payloads are capped low so the fuzzer spends its time on
/// decoding, not on allocating.
const FUZZ_INFLATE_LIMIT: usize = 1 << 20;

/// Cuts `data` into Forward frames as the `forward` input does, parses
/// each, and re-frames its entries (inflating compressed ones). Every
/// event that re-framing counts must then read back from the chunk bytes.
pub fn forward_stream(data: &[u8]) {
    let mut rest = data;
    let mut chunk = Vec::new();
    let mut scan = frame::FrameScan::default();
    loop {
        let whole = frame::frame_len(rest);
        // The resumable scan, fed the bytes in two pieces, agrees.
        let half = &rest[..rest.len() / 2];
        let scanned = match scan.frame_len(half) {
            Ok(None) => scan.frame_len(rest),
            other => other,
        };
        match (&whole, &scanned) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "frame scan disagrees"),
            (Ok(Some(_)), Err(_)) | (Err(_), Ok(Some(_))) => panic!("frame scan disagrees"),
            _ => {}
        }
        scan = frame::FrameScan::default();
        let Ok(Some(len)) = whole else {
            break;
        };
        let (bytes, tail) = rest.split_at(len);
        rest = tail;
        let Ok(parsed) = frame::parse(bytes) else {
            continue;
        };
        let before = chunk.len();
        let events = match parsed.body {
            frame::Body::Message { time, record } => {
                frame::write_message(&mut chunk, time, record);
                1
            }
            frame::Body::Entries(b)
            | frame::Body::Packed {
                bytes: b,
                gzip: false,
            } => frame::reframe(b, &mut chunk).map_or(0, |c| c.events),
            frame::Body::Packed {
                bytes: b,
                gzip: true,
            } => match gzip::inflate_now(b, FUZZ_INFLATE_LIMIT) {
                Ok(inflated) => frame::reframe(&inflated, &mut chunk).map_or(0, |c| c.events),
                Err(_) => 0,
            },
        };
        let read_back = Events::new(&chunk[before..]).filter(Result::is_ok).count();
        assert!(
            read_back >= events,
            "re-framed {events} events but only {read_back} read back"
        );
    }
}

/// Frames `data` as a syslog TCP stream twice: in one read, and in two
/// reads split where its first byte says. Framing must not depend on how
/// the bytes arrived: when neither run breaks, both give the same
/// messages, and no message is ever longer than the limit.
pub fn syslog_stream(data: &[u8]) {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let max = 64;
    let whole = syslog::framing::split_frames(stream, max, true);

    let at = usize::from(split).min(stream.len());
    let (mut pieces, used, broken) = syslog::framing::split_frames(&stream[..at], max, false);
    assert!(used <= at);
    let mut pending = stream[used..at].to_vec();
    let mut second = None;
    if broken.is_none() {
        pending.extend_from_slice(&stream[at..]);
        let (more, _, err) = syslog::framing::split_frames(&pending, max, true);
        pieces.extend(more);
        second = err;
    }
    for message in whole.0.iter().chain(&pieces) {
        assert!(message.len() <= max, "message over the limit");
    }
    if whole.2.is_none() && broken.is_none() && second.is_none() {
        assert_eq!(whole.0, pieces, "framing depends on where reads end");
    }
}

/// Decodes `data` as an `http` input request body. The first byte picks
/// the options (format, gzip, `tag_key`); the rest is the body. A body
/// is taken whole or refused whole: when it is taken, every batch must be
/// whole chunk-layout events, as many as it says, and under a tag that
/// passes the input's tag check.
pub fn http_body(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let opts = body::BodyOptions {
        format: if pick & 1 == 0 {
            body::BodyFormat::Json
        } else {
            body::BodyFormat::Form
        },
        gzip: pick & 2 != 0,
        max_size: 1 << 20,
        tag: "http.0",
        tag_key: (pick & 4 != 0).then_some("tag"),
        remote_addr: (pick & 8 != 0).then_some("127.0.0.1"),
        time: sluice_core::EventTime::default(),
    };
    let Ok(batches) = body::decode(body, &opts) else {
        return;
    };
    for batch in batches {
        assert!(
            tag::check(&batch.tag).is_ok(),
            "unchecked tag {:?}",
            batch.tag
        );
        let events = Events::new(&batch.data).collect::<Vec<_>>();
        assert!(
            events.iter().all(Result::is_ok),
            "batch is not whole events"
        );
        assert_eq!(events.len(), batch.records, "record count is off");
    }
}

/// Reads `data` with sluice's JSON reader and with serde_json: both must
/// accept or both refuse (nesting at serde_json's limit aside), and what
/// both accept must be the same value once sluice's MessagePack is
/// printed back as JSON. Build with serde_json's `float_roundtrip` (the
/// fuzz crate does) so both read floats exactly.
pub fn json_reader(data: &[u8]) {
    let mut packed = Vec::new();
    let ours = sluice_core::json::to_msgpack(data, &mut packed);
    let theirs = serde_json::from_slice::<serde_json::Value>(data);
    let (want, got) = match (ours, theirs) {
        (Ok(()), Ok(want)) => (want, packed),
        (Err(_), Err(_)) => return,
        (Err(e), Ok(_)) if e.0.contains("recursion limit") => return,
        (Ok(()), Err(e)) if e.to_string().contains("recursion limit") => return,
        (ours, theirs) => panic!("sluice says {ours:?}, serde_json says {theirs:?}"),
    };
    let mut printed = Vec::new();
    let mut reader = sluice_core::msgpack::Reader::new(&got);
    sluice_core::json::write_msgpack(&mut printed, &mut reader).expect("valid msgpack");
    let back: serde_json::Value = serde_json::from_slice(&printed).expect("printed json reads");
    assert!(same_json(&want, &back), "{want} became {back}");
}

/// Equality of JSON values where a number is compared by value, whatever
/// its kind (serde_json reads `-0` as a float, sluice as an integer).
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Number(x), J::Number(y)) => match (x.as_u64(), y.as_u64(), x.as_i64(), y.as_i64()) {
            (Some(p), Some(q), _, _) => p == q,
            (_, _, Some(p), Some(q)) => p == q,
            _ => x.as_f64() == y.as_f64(),
        },
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_json(p, q))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// Reads `data` as a chunk file. Whatever the bytes, the reader keeps
/// inside them: the trusted length never passes the end, and the events
/// it returns are no more than the bytes it trusted.
pub fn chunk_file(data: &[u8]) {
    if let Ok(read) = sluice_core::storage::chunk_file::read_chunk(data) {
        assert!(read.valid_len <= data.len(), "trusted past the end");
        assert!(
            read.events.len() <= read.valid_len,
            "more events than bytes"
        );
    }
}
