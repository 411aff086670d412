//! Per-record cost of the codec paths every record takes: JSON text to a
//! chunk event, a chunk walk (framing only, and with the tree decoded),
//! and a chunk event back to JSON.
//!
//! `cargo bench -p sluice-core --bench codec`; divan reports the time per
//! batch of 1,000 records and the records per second.

use std::hint::black_box;

use divan::counter::ItemsCount;
use divan::Bencher;
use sluice_core::event::{write_header, Events};
use sluice_core::{json, EventTime, Map};

const LINE: &[u8] = br#"{"time":"2023-11-14T22:13:20.123Z","level":"info","msg":"request handled","user_id":48213,"latency_ms":12.345,"path":"/api/v1/users","method":"GET","status":200,"host":"web-07.example.internal","request_id":"9f86d081884c7d65"}"#;

/// Records per measured batch.
const BATCH: usize = 1000;

fn main() {
    divan::main();
}

/// A chunk of `BATCH` events transcoded from `LINE`.
fn chunk() -> Vec<u8> {
    let mut chunk = Vec::new();
    for _ in 0..BATCH {
        write_header(&mut chunk, EventTime::new(1_700_000_000, 0), &Map::new());
        json::to_msgpack(LINE, &mut chunk).expect("valid json");
    }
    chunk
}

#[divan::bench]
fn json_to_chunk_event(bencher: Bencher) {
    let meta = Map::new();
    let t = EventTime::new(1_700_000_000, 0);
    let mut chunk = Vec::with_capacity(1 << 20);
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        chunk.clear();
        for _ in 0..BATCH {
            write_header(&mut chunk, t, &meta);
            json::to_msgpack(black_box(LINE), &mut chunk).expect("valid json");
        }
    });
}

#[divan::bench]
fn chunk_walk(bencher: Bencher) {
    let chunk = chunk();
    bencher
        .counter(ItemsCount::new(BATCH))
        .bench_local(|| Events::new(black_box(&chunk)).filter(|e| e.is_ok()).count());
}

#[divan::bench]
fn chunk_event_to_tree(bencher: Bencher) {
    let chunk = chunk();
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        for e in Events::new(black_box(&chunk)) {
            black_box(e.and_then(|r| r.decode()).is_ok());
        }
    });
}

#[divan::bench]
fn chunk_event_to_json(bencher: Bencher) {
    let chunk = chunk();
    let mut out = Vec::with_capacity(1 << 20);
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        out.clear();
        let mut events = Events::new(black_box(&chunk));
        while let Some(written) = events.next_read_in_place(|e| {
            json::write_record_at(&mut out, e.body, None)?;
            out.push(b'\n');
            Ok(())
        }) {
            written.expect("valid event");
        }
    });
}
