//! The limits of filesystem storage through the real binary, with the
//! receiver down while records pile up: `storage.total_limit_size` drops
//! an output's oldest chunks, and the records it says it dropped are
//! exactly the ones that never arrive once the receiver is back;
//! `storage.max_chunks_up` keeps the rest of the backlog down on disk,
//! and every record still arrives (or, with
//! `storage.pause_on_chunks_overlimit`, the input waits instead);
//! `storage.keep.rejected` keeps a copy of every chunk whose retries ran
//! out.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::api::Api;
use common::{connect, eventually, free_port};

const BATCHES: usize = 16;
const PER_BATCH: usize = 400;

#[test]
fn dropped_records_match_the_counter_exactly() {
    let input = free_port();
    let receiver = free_port();
    let api = Api::start(&stored(
        "    storage.path DIR/store\n",
        input,
        "",
        &[(receiver, "    storage.total_limit_size 100k\n")],
    ));
    send_batches(input);
    let dropped = || {
        api.json("/api/v1/metrics")["output"]["tcp.0"]["dropped_records"]
            .as_u64()
            .unwrap()
    };
    assert!(
        eventually(Duration::from_secs(10), || dropped() > 0),
        "nothing was dropped under the limit"
    );

    let received = receive(receiver);
    let total = (BATCHES * PER_BATCH) as u64;
    let settled = eventually(Duration::from_secs(30), || {
        received.lock().unwrap().len() as u64 + dropped() == total
    });
    let got = received.lock().unwrap().clone();
    assert!(
        settled,
        "received {} + dropped {} != sent {total}",
        got.len(),
        dropped()
    );
    let unique: HashSet<u64> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "a record arrived twice");
    assert!(!got.is_empty(), "the newest chunks must be delivered");
    // Nothing more arrives or is dropped afterwards.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(received.lock().unwrap().len() as u64 + dropped(), total);
    let files = std::fs::read_dir(api.dir.join("store/tcp.0"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(files, 0, "delivered and dropped chunks leave no file");
    let out = api.stop();
    assert!(
        out.stderr.contains("storage.total_limit_size reached"),
        "{}",
        out.stderr
    );
}

/// Sends the numbered records in batches far enough apart that each
/// becomes a chunk of its own (the flush tick is 0.2 s).
fn send_batches(port: u16) {
    let pad = "x".repeat(100);
    let mut sender = connect(port);
    for b in 0..BATCHES {
        let mut batch = Vec::new();
        for i in 0..PER_BATCH {
            let n = b * PER_BATCH + i;
            writeln!(batch, "{{\"n\":{n},\"pad\":\"{pad}\"}}").unwrap();
        }
        sender.write_all(&batch).unwrap();
        std::thread::sleep(Duration::from_millis(400));
    }
}

/// Starts a json_lines receiver on `port`; returns the numbers it got.
fn receive(port: u16) -> Arc<Mutex<Vec<u64>>> {
    let received = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let sink = Arc::clone(&received);
    std::thread::spawn(move || loop {
        let Ok((conn, _)) = common::retry_eintr(|| listener.accept()) else {
            return;
        };
        let sink = Arc::clone(&sink);
        std::thread::spawn(move || {
            for line in BufReader::new(conn).lines() {
                let Ok(line) = line else { return };
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                sink.lock().unwrap().push(v["n"].as_u64().unwrap());
            }
        });
    });
    received
}

#[test]
fn chunks_past_max_chunks_up_wait_down_on_disk_and_all_arrive() {
    let input = free_port();
    let receiver = free_port();
    // With storage.sync full, so the fsync path runs through the binary.
    let api = Api::start(&stored(
        "    storage.path DIR/store\n    storage.sync full\n    storage.max_chunks_up 2\n    \
         storage.metrics on\n",
        input,
        "",
        &[(receiver, "")],
    ));
    send_batches(input);
    let layer = || api.json("/api/v1/storage")["storage_layer"]["chunks"].clone();
    assert!(
        eventually(Duration::from_secs(10), || layer()["fs_chunks"] == BATCHES),
        "{}",
        layer()
    );
    let chunks = layer();
    assert!(chunks["fs_chunks_up"].as_u64().unwrap() <= 2, "{chunks}");
    assert_eq!(
        chunks["fs_chunks_down"].as_u64().unwrap(),
        BATCHES as u64 - chunks["fs_chunks_up"].as_u64().unwrap(),
        "{chunks}"
    );

    let received = receive(receiver);
    let total = BATCHES * PER_BATCH;
    let all = eventually(Duration::from_secs(30), || {
        received.lock().unwrap().len() >= total
    });
    let got = received.lock().unwrap().clone();
    assert!(all, "received {} of {total}", got.len());
    let unique: HashSet<u64> = got.iter().copied().collect();
    assert_eq!(unique.len(), total, "every record once");
    assert!(
        eventually(Duration::from_secs(5), || layer()["fs_chunks"] == 0),
        "{}",
        layer()
    );
    let out = api.stop();
    assert!(out.status.success(), "{}", out.stderr);
}

#[test]
fn chunks_whose_retries_run_out_are_kept_with_keep_rejected() {
    let input = free_port();
    let dead = free_port();
    let api = Api::start(&stored(
        "    storage.path DIR/store\n    storage.keep.rejected on\n    storage.max_chunks_up 4\n",
        input,
        "",
        &[(dead, "    Retry_Limit 1\n")],
    ));
    send_batches(input);
    let rejected_dir = api.dir.join("store/rejected/tcp.0");
    let numbers = || {
        let mut seen = Vec::new();
        for entry in std::fs::read_dir(&rejected_dir).into_iter().flatten() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let read = sluice_core::storage::chunk_file::read_chunk(&bytes).unwrap();
            for event in sluice_core::event::Events::new(&read.events) {
                let event = event.unwrap().decode().unwrap();
                let n = event.body.get("n").and_then(|v| v.as_i64()).unwrap();
                seen.push(n as u64);
            }
        }
        seen
    };
    let total = BATCHES * PER_BATCH;
    let all = eventually(Duration::from_secs(30), || numbers().len() >= total);
    let mut got = numbers();
    assert!(all, "kept {} of {total}", got.len());
    got.sort_unstable();
    assert_eq!(got, (0..total as u64).collect::<Vec<_>>());
    let dropped = api.json("/api/v1/metrics")["output"]["tcp.0"]["dropped_records"].clone();
    assert_eq!(dropped, total, "dropped_records");
    assert!(
        eventually(Duration::from_secs(5), || std::fs::read_dir(
            api.dir.join("store/tcp.0")
        )
        .map(|d| d.count() == 0)
        .unwrap_or(true)),
        "the dropped chunks' own files are gone"
    );
    api.stop();
}

#[test]
fn pause_on_chunks_overlimit_waits_instead_of_going_down() {
    let input = free_port();
    let receiver = free_port();
    let api = Api::start(&stored(
        "    storage.path DIR/store\n    storage.max_chunks_up 2\n    storage.metrics on\n",
        input,
        "    storage.pause_on_chunks_overlimit on\n",
        &[(receiver, "")],
    ));
    let sender = std::thread::spawn(move || send_batches(input));
    let layer = || api.json("/api/v1/storage")["storage_layer"]["chunks"].clone();
    assert!(
        eventually(Duration::from_secs(10), || layer()["fs_chunks_up"] == 2),
        "{}",
        layer()
    );
    std::thread::sleep(Duration::from_secs(2));
    let chunks = layer();
    assert_eq!(chunks["fs_chunks_down"], 0, "{chunks}");
    assert!(chunks["fs_chunks"].as_u64().unwrap() <= 3, "{chunks}");

    let received = receive(receiver);
    let total = BATCHES * PER_BATCH;
    let all = eventually(Duration::from_secs(40), || {
        received.lock().unwrap().len() >= total
    });
    sender.join().unwrap();
    let got = received.lock().unwrap().clone();
    assert!(all, "received {} of {total}", got.len());
    let unique: HashSet<u64> = got.iter().copied().collect();
    assert_eq!(unique.len(), total, "every record once");
    let out = api.stop();
    assert!(out.status.success(), "{}", out.stderr);
}

#[test]
fn a_route_done_before_a_stop_is_not_delivered_to_again() {
    let store = common::temp_dir("two-routes").join("store");
    let input = free_port();
    let (up, down) = (free_port(), free_port());
    let config = stored(
        &format!("    storage.path {}\n    Grace 1\n", store.display()),
        input,
        "",
        &[(up, ""), (down, "")],
    );
    let total = BATCHES * PER_BATCH;
    let first = receive(up);
    let api = Api::start(&config);
    send_batches(input);
    assert!(
        eventually(Duration::from_secs(20), || first.lock().unwrap().len()
            >= total),
        "the reachable output got {} of {total}",
        first.lock().unwrap().len()
    );
    let out = api.stop();
    assert!(out.status.success(), "{}", out.stderr);
    let files = || {
        std::fs::read_dir(store.join("tcp.0"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert!(files() > 0, "the second route is still owed");

    let second = receive(down);
    let api = Api::start(&config);
    assert!(
        eventually(Duration::from_secs(30), || second.lock().unwrap().len()
            >= total),
        "the second output got {} of {total}",
        second.lock().unwrap().len()
    );
    assert!(eventually(Duration::from_secs(10), || files() == 0));
    std::thread::sleep(Duration::from_secs(1));
    let out = api.stop();
    assert!(out.status.success(), "{}", out.stderr);
    let unique: HashSet<u64> = second.lock().unwrap().iter().copied().collect();
    assert_eq!(unique.len(), total);
    assert_eq!(second.lock().unwrap().len(), total, "no duplicate");
    assert_eq!(
        first.lock().unwrap().len(),
        total,
        "the first output, done before the stop, got nothing again"
    );
}

/// A configuration: `[SERVICE]` keys (after the API's), a tcp input on
/// `input` that stores to disk, with `input_keys`, and a `json_lines` tcp
/// output per `(port, keys)` that retries without limit unless its keys
/// set `Retry_Limit`.
fn stored(service: &str, input: u16, input_keys: &str, outputs: &[(u16, &str)]) -> String {
    let mut text = format!(
        "{service}    scheduler.base 1\n    scheduler.cap 2\n[INPUT]\n    Name tcp\n    \
         Listen 127.0.0.1\n    Port {input}\n    Format json\n    storage.type filesystem\n\
         {input_keys}"
    );
    for (port, keys) in outputs {
        let retry = if keys.contains("Retry_Limit") {
            ""
        } else {
            "    Retry_Limit no_limits\n"
        };
        text.push_str(&format!(
            "[OUTPUT]\n    Name tcp\n    Match *\n    Host 127.0.0.1\n    Port {port}\n    \
             Format json_lines\n{retry}{keys}"
        ));
    }
    text
}
