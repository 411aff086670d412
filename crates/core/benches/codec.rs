//! Per-record cost of the codec paths every record takes: JSON text to a
//! chunk event, a chunk walk, and a chunk event back to JSON.
//!
//! A plain timing loop (no harness crate): each case runs for about a
//! second and prints nanoseconds per record.

use std::hint::black_box;
use std::time::{Duration, Instant};

use sluice_core::event::{write_header, Events};
use sluice_core::{json, EventTime, Map};

const LINE: &[u8] = br#"{"time":"2023-11-14T22:13:20.123Z","level":"info","msg":"request handled","user_id":48213,"latency_ms":12.345,"path":"/api/v1/users","method":"GET","status":200,"host":"web-07.example.internal","request_id":"9f86d081884c7d65"}"#;

fn time(name: &str, mut per_batch: impl FnMut() -> usize) {
    let start = Instant::now();
    let mut records = 0usize;
    while start.elapsed() < Duration::from_secs(1) {
        records += per_batch();
    }
    let ns = start.elapsed().as_nanos() as f64 / records as f64;
    println!(
        "{name:<40} {ns:>8.1} ns/record  {:>12.0} records/s",
        1e9 / ns
    );
}

fn main() {
    let meta = Map::new();
    let t = EventTime::new(1_700_000_000, 0);
    let mut chunk = Vec::with_capacity(4 << 20);

    time("json -> chunk event (transcode)", || {
        chunk.clear();
        for _ in 0..1000 {
            write_header(&mut chunk, t, &meta);
            json::to_msgpack(black_box(LINE), &mut chunk).expect("valid json");
        }
        1000
    });

    time("chunk walk (events, no decode)", || {
        black_box(Events::new(&chunk).filter(|e| e.is_ok()).count())
    });

    time("chunk event -> Event tree (decode)", || {
        let mut n = 0;
        for e in Events::new(&chunk) {
            black_box(e.and_then(|r| r.decode()).is_ok());
            n += 1;
        }
        n
    });

    let mut out = Vec::with_capacity(4 << 20);
    time("chunk event -> json (write_record)", || {
        out.clear();
        let mut n = 0;
        for e in Events::new(&chunk).flatten() {
            json::write_record(&mut out, e.body, None).expect("valid body");
            out.push(b'\n');
            n += 1;
        }
        n
    });
}
