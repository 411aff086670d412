//! Hostile input for every decoder that reads bytes from outside: the
//! MessagePack reader, the chunk event walker, and the JSON reader and
//! writers.
//!
//! Each case must end in a value or an error, never a panic, and must not
//! allocate by what a length prefix claims: a counting allocator checks
//! that no single allocation outgrows a small multiple of the input.
//! Cases come from files under `tests/corpus/` (each fed to every decoder,
//! whatever its extension) and from mutations of valid input made here.

// The counting allocator needs `unsafe impl GlobalAlloc`; it only
// delegates to the system allocator and records sizes.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;

use sluice_core::event::{Event, Events};
use sluice_core::json;
use sluice_core::msgpack::Reader;
use sluice_core::timefmt::DateFormat;
use sluice_core::{EventTime, Map, Value};

/// Records the largest single allocation each thread asks for, so tests
/// running in parallel do not see each other's.
struct Counting;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: the slot may already be gone while a thread exits.
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as the caller's; System does the work.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` via `alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as for `dealloc`; the new size is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs every decoder over `bytes` and checks the allocation bound.
fn check(name: &str, bytes: &[u8]) {
    LARGEST.with(|l| l.set(0));
    every_decoder(name, bytes);
    let largest = LARGEST.with(|l| l.get());
    // A decoded tree may take a few dozen bytes per input byte; anything
    // beyond that came from believing a length prefix.
    let bound = 64 * 1024 + 64 * bytes.len();
    assert!(
        largest <= bound,
        "{name}: allocated {largest} bytes for {} bytes of input",
        bytes.len()
    );
}

fn every_decoder(name: &str, bytes: &[u8]) {
    msgpack_reader(bytes);
    event_walk(name, bytes);
    json_reader(name, bytes);
}

fn msgpack_reader(bytes: &[u8]) {
    let value = Reader::new(bytes).value();
    let skipped = Reader::new(bytes).skip();
    // Both walk the same grammar: one succeeds exactly when the other does,
    // except that `value` also refuses depth and container keys.
    if value.is_ok() {
        assert!(skipped.is_ok());
    }
    let _ = Reader::new(bytes).map();

    let mut out = Vec::new();
    let streamed = json::write_msgpack(&mut out, &mut Reader::new(bytes));
    assert_eq!(streamed.is_ok(), value.is_ok());
    if let Ok(v) = value {
        let mut tree = Vec::new();
        json::write_value(&mut tree, &v);
        assert_eq!(out, tree);
        assert_valid_json(&out);
    } else {
        assert!(out.is_empty(), "a failed write leaves no partial output");
    }
}

fn event_walk(name: &str, bytes: &[u8]) {
    let date = Some(("date", DateFormat::Iso8601, EventTime::new(0, 0)));
    let mut items = 0;
    for item in Events::new(bytes) {
        items += 1;
        assert!(items <= bytes.len(), "{name}: the walk does not end");
        let Ok(raw) = item else { continue };
        let _ = raw.decode();
        let mut out = Vec::new();
        if json::write_record(&mut out, raw.body, date).is_ok() {
            assert_valid_json(&out);
        }
        let mut out = Vec::new();
        let _ = json::write_msgpack(&mut out, &mut Reader::new(raw.meta));
        for format in [DateFormat::Double, DateFormat::JavaSqlTimestamp] {
            format.write_text(&mut out, raw.time);
        }
    }
}

fn json_reader(name: &str, bytes: &[u8]) {
    let mut out = b"x".to_vec();
    match json::to_msgpack(bytes, &mut out) {
        Ok(()) => {
            let v = Reader::new(&out[1..]).value();
            let v = v.unwrap_or_else(|e| panic!("{name}: transcoder wrote bad msgpack: {e}"));
            let mut text = Vec::new();
            json::write_value(&mut text, &v);
            assert_valid_json(&text);
        }
        Err(_) => assert_eq!(out, b"x", "{name}: a failed transcode leaves out as it was"),
    }

    let mut out = Vec::new();
    if json::to_msgpack_object(bytes, &mut out).is_err() {
        assert!(out.is_empty());
    }
    let _ = json::parse_object(bytes);
}

fn assert_valid_json(text: &[u8]) {
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(text) {
        // serde_json refuses nesting past 128 levels, which a MessagePack
        // value may legally reach; anything else is a writer bug.
        assert!(
            e.to_string().contains("recursion limit"),
            "invalid json written ({e}): {}",
            String::from_utf8_lossy(&text[..text.len().min(200)])
        );
    }
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus directory exists")
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("corpus file is readable"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn corpus_files_never_panic_or_overallocate() {
    let files = corpus();
    assert!(files.len() >= 40, "corpus is present");
    for (name, bytes) in &files {
        check(name, bytes);
    }
}

#[test]
fn every_prefix_of_every_small_corpus_file() {
    for (name, bytes) in corpus().iter().filter(|(_, b)| b.len() <= 512) {
        for end in 0..bytes.len() {
            check(&format!("{name}[..{end}]"), &bytes[..end]);
        }
    }
}

/// A chunk with a bit of everything: nested containers, strings of each
/// header size, numbers of each width, metadata, the legacy event form.
fn sample_chunk() -> Vec<u8> {
    let mut body = Map::new();
    body.push("log", Value::from("GET /index.html 200"));
    body.push("n", Value::Int(-70_000));
    body.push("u", Value::UInt(u64::MAX));
    body.push("f", Value::Float(0.25));
    body.push("long", Value::from("x".repeat(40)));
    body.push("bin", Value::Bin(vec![1, 2, 3]));
    let mut inner = Map::new();
    inner.push("k", Value::Array(vec![Value::Null, Value::Bool(true)]));
    body.push("inner", Value::Map(inner));

    let mut chunk = Vec::new();
    let mut e = Event::new(EventTime::new(1_700_000_000, 42), body);
    e.encode(&mut chunk);
    e.meta.push("m", Value::from("meta"));
    e.encode(&mut chunk);
    // The legacy `[time, body]` form.
    chunk.extend_from_slice(&[0x92, 0xce, 0x65, 0x53, 0xf1, 0x00, 0x81, 0xa1, b'a', 0x01]);
    chunk
}

/// Markers that start long or reserved forms, for single-byte mutations.
const HOSTILE: [u8; 10] = [0xdd, 0xdf, 0xdb, 0xc6, 0xc9, 0xdc, 0xde, 0xc1, 0x91, 0xff];

#[test]
fn mutations_of_a_valid_chunk() {
    let chunk = sample_chunk();
    let events: Vec<_> = Events::new(&chunk).collect();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.is_ok()));

    for end in 0..chunk.len() {
        check("chunk prefix", &chunk[..end]);
    }
    let mut mutated = chunk.clone();
    for at in 0..chunk.len() {
        for b in HOSTILE {
            mutated[at] = b;
            check(&format!("chunk with 0x{b:02x} at {at}"), &mutated);
        }
        mutated[at] = chunk[at];
    }
}

#[test]
fn mutations_of_a_valid_json_record() {
    let line = br#"{"a":[1,-2,3.5e10,{"b":null}],"s":"t\u00e9\n","c":true,"d":{}}"#;
    let mut out = Vec::new();
    json::to_msgpack_object(line, &mut out).expect("the sample is valid");

    for end in 0..line.len() {
        check("json prefix", &line[..end]);
    }
    let mut mutated = line.to_vec();
    for at in 0..line.len() {
        for b in *b"{[]}\",:\\0e-\x00\xff" {
            mutated[at] = b;
            check("json mutation", &mutated);
        }
        mutated[at] = line[at];
    }
}

#[test]
fn wide_json_containers_transcode_to_their_true_length() {
    let pairs: Vec<_> = (0..70_000).map(|i| format!("\"k{}\":{i}", i % 7)).collect();
    let text = format!("{{{}}}", pairs.join(","));
    check("wide object", text.as_bytes());
    let map = json::parse_object(text.as_bytes()).expect("valid object");
    assert_eq!(map.len(), 70_000);
    assert_eq!(map.entries()[69_999].1, Value::UInt(69_999));
}

#[test]
fn the_allocation_bound_would_catch_a_trusted_length() {
    // What a decoder that believed an array32 header would do.
    LARGEST.with(|l| l.set(0));
    let claimed = u32::from_be_bytes([0x00, 0x10, 0x00, 0x00]) as usize;
    let trusted: Vec<Value> = Vec::with_capacity(claimed);
    drop(trusted);
    let largest = LARGEST.with(|l| l.get());
    assert!(largest > 64 * 1024 + 64 * 5, "allocator saw {largest}");
}
