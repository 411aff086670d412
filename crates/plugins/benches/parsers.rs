//! Per-line cost of the parsers on the hot path: the shipped apache2
//! regex and the docker JSON parser, each writing a whole chunk event
//! (header, body, time) into a reused buffer.
//!
//! A plain timing loop (no harness crate): each case runs for about a
//! second and prints nanoseconds per line.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use sluice_core::config::{load_parsers_file, Config};
use sluice_core::parser::{append_event, ParseState, Parsers};
use sluice_core::EventTime;

const APACHE2: &[u8] = br#"192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/index.html?q=1 HTTP/1.1" 200 3395 "http://example.com/start.html" "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0""#;
const DOCKER: &[u8] = br#"{"log":"2023-11-14 22:13:20 INFO request handled path=/api/v1/users status=200\n","stream":"stdout","time":"2023-11-14T22:13:20.123456789Z"}"#;

fn time(name: &str, mut per_batch: impl FnMut() -> usize) {
    let start = Instant::now();
    let mut lines = 0usize;
    while start.elapsed() < Duration::from_secs(1) {
        lines += per_batch();
    }
    let ns = start.elapsed().as_nanos() as f64 / lines as f64;
    println!("{name:<40} {ns:>8.1} ns/line  {:>12.0} lines/s", 1e9 / ns);
}

fn main() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conf/parsers.conf");
    let mut config = Config::default();
    load_parsers_file(&path, &mut config).expect("parsers.conf loads");
    let parsers = Parsers::build(&config.parsers, &sluice_plugins::registry()).expect("builds");
    let now = EventTime::new(1_700_000_000, 0);
    let mut buf = Vec::with_capacity(4 << 20);

    for (name, parser, line) in [
        ("apache2 regex -> chunk event", "apache2", APACHE2),
        ("docker json -> chunk event", "docker", DOCKER),
    ] {
        let parser = parsers.get(parser).expect("shipped parser");
        let mut state = ParseState::default();
        time(name, || {
            buf.clear();
            for _ in 0..1000 {
                let parsed = append_event(&*parser, &mut state, black_box(line), now, &mut buf);
                assert!(parsed.is_ok_and(|p| p.time.is_some()));
            }
            1000
        });
    }
}
