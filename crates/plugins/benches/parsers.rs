//! Per-line cost of the parsers on the hot path: the shipped apache2
//! regex and the docker JSON parser, each writing a whole chunk event
//! (header, body, time) into a reused buffer.
//!
//! `cargo bench -p sluice-plugins --bench parsers`; divan reports the
//! time per batch of 1,000 lines and the lines per second.

use std::hint::black_box;
use std::path::Path;

use divan::counter::ItemsCount;
use divan::Bencher;
use sluice_core::config::{load_parsers_file, Config};
use sluice_core::parser::{append_event, ParseState, Parsers};
use sluice_core::EventTime;

const APACHE2: &[u8] = br#"192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/index.html?q=1 HTTP/1.1" 200 3395 "http://example.com/start.html" "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0""#;
const DOCKER: &[u8] = br#"{"log":"2023-11-14 22:13:20 INFO request handled path=/api/v1/users status=200\n","stream":"stdout","time":"2023-11-14T22:13:20.123456789Z"}"#;

/// Lines per measured batch.
const BATCH: usize = 1000;

fn main() {
    divan::main();
}

fn parse_batch(bencher: Bencher, parser: &str, line: &[u8]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conf/parsers.conf");
    let mut config = Config::default();
    load_parsers_file(&path, &mut config).expect("parsers.conf loads");
    let parsers = Parsers::build(&config.parsers, &sluice_plugins::registry()).expect("builds");
    let parser = parsers.get(parser).expect("shipped parser");
    let now = EventTime::new(1_700_000_000, 0);
    let mut state = ParseState::default();
    let mut buf = Vec::with_capacity(1 << 20);
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        buf.clear();
        for _ in 0..BATCH {
            let parsed = append_event(&*parser, &mut state, black_box(line), now, &mut buf);
            assert!(parsed.is_ok_and(|p| p.time.is_some()));
        }
    });
}

#[divan::bench]
fn apache2_regex(bencher: Bencher) {
    parse_batch(bencher, "apache2", APACHE2);
}

#[divan::bench]
fn docker_json(bencher: Bencher) {
    parse_batch(bencher, "docker", DOCKER);
}
