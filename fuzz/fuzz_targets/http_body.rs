//! Arbitrary bytes as an `http` input request body: JSON objects, arrays
//! and NDJSON, forms, gzip, and tags taken from records.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sluice_plugins::fuzzing::http_body(data);
});
