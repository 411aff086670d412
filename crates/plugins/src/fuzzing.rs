//! Entry points for the fuzz targets in `fuzz/`: each takes arbitrary
//! bytes through one decoder exactly as a connection's bytes would go,
//! and checks what the decoder promises about its output. Not an API;
//! hidden from the docs and used by nothing else.
//!
//! A panic here (an explicit check, an overflow, an index out of range)
//! is what the fuzzer reports as a crash.

use sluice_core::event::Events;

use crate::inputs::forward::{frame, gzip};

/// Inflated payloads are capped low so the fuzzer spends its time on
/// decoding, not on allocating.
const FUZZ_INFLATE_LIMIT: usize = 1 << 20;

/// Cuts `data` into Forward frames as the `forward` input does, parses
/// each, and re-frames its entries (inflating compressed ones). Every
/// event that re-framing counts must then read back from the chunk bytes.
pub fn forward_stream(data: &[u8]) {
    let mut rest = data;
    let mut chunk = Vec::new();
    while let Ok(Some(len)) = frame::frame_len(rest) {
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
