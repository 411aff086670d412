//! Arbitrary bytes as a `forward` connection's stream: framing, frame
//! parsing, gzip inflating and re-framing into chunk layout.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sluice_plugins::fuzzing::forward_stream(data);
});
