//! Arbitrary bytes as a chunk file of filesystem storage.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sluice_plugins::fuzzing::chunk_file(data);
});
