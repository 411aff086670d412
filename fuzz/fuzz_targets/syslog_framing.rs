//! Arbitrary bytes as a `syslog` TCP stream: newline and octet-counted
//! frames, read in one piece and in two.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sluice_plugins::fuzzing::syslog_stream(data);
});
