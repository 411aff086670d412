//! Arbitrary bytes as JSON text: sluice's reader against serde_json.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sluice_plugins::fuzzing::json_reader(data);
});
