//! Hostile peers against the network inputs, through the real binary:
//! 10,000 idle connections, a sender that trickles one byte at a time,
//! MessagePack headers that claim gigabytes, a gzip bomb and invalid
//! UTF-8. In each case the bad peer gets a logged reason, memory stays
//! bounded, and an honest client on the same input still gets its
//! records through.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{connect, free_port, rss_kib, venv_python, Run};
use flate2::write::GzEncoder;
use flate2::Compression;

/// Generous ceiling on sluice's resident memory in these tests.
const RSS_CEILING_KIB: u64 = 256 * 1024;

fn listen_on(plugin: &'static str, port: u16, tag: &'static str) -> Vec<String> {
    ["-i", plugin, "-p", "listen=127.0.0.1", "-t", tag]
        .into_iter()
        .map(str::to_owned)
        .chain(["-p".to_owned(), format!("port={port}")])
        .collect()
}

fn start(inputs: &[String], extra: &[&str]) -> Run {
    let args: Vec<&str> = inputs.iter().map(String::as_str).collect();
    Run::start(&args, None, extra)
}

fn send_json(port: u16, from: usize, to: usize) {
    let mut c = connect(port);
    for n in from..to {
        writeln!(c, "{{\"n\":{n}}}").unwrap();
    }
}

fn numbers(records: &[serde_json::Value]) -> Vec<i64> {
    records.iter().filter_map(|r| r["n"].as_i64()).collect()
}

fn assert_bounded(run: &Run) {
    let rss = rss_kib(run.child.id()).expect("sluice is running");
    assert!(rss < RSS_CEILING_KIB, "resident memory {rss} KiB");
}

/// A Python process (its own descriptor limit raised) that holds `n`
/// connections open to `port` until it is told to let go.
struct Holder(std::process::Child);

impl Holder {
    fn open(port: u16, n: usize) -> Self {
        let script = format!(
            "import resource, socket, sys\n\
             soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n\
             resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))\n\
             held = [socket.create_connection(('127.0.0.1', {port})) for _ in range({n})]\n\
             print('held', len(held), flush=True)\n\
             sys.stdin.read()\n"
        );
        let mut child = Command::new(venv_python())
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            format!("held {n}"),
            "could not open {n} connections"
        );
        Holder(child)
    }

    fn release(mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

#[test]
fn ten_thousand_idle_connections_leave_room_for_other_clients() {
    let port = free_port();
    let mut inputs = listen_on("tcp", port, "idle");
    inputs.extend(["-p".to_owned(), "net.max_connections=11000".to_owned()]);
    let run = start(&inputs, &[]);
    connect(port);
    let started = Instant::now();
    let holder = Holder::open(port, 10_000);
    let opened_in = started.elapsed();

    send_json(port, 0, 100);
    let got = run.wait_for("idle", 100);
    assert_eq!(numbers(&got), (0..100).collect::<Vec<_>>());
    assert_bounded(&run);
    holder.release();

    send_json(port, 100, 110);
    assert_eq!(run.wait_for("idle", 110).len(), 110);
    let out = run.stop();
    assert!(out.status.success(), "{}", out.stderr);
    // Each connect that the kernel drops costs a client a 1 s retransmit;
    // a listen backlog that keeps up opens them all well inside this.
    assert!(opened_in < Duration::from_secs(20), "took {opened_in:?}");
}

#[test]
fn a_sender_trickling_bytes_holds_up_nobody() {
    let port = free_port();
    let run = start(&listen_on("tcp", port, "slow"), &[]);
    let mut slow = connect(port);
    let record = b"{\"n\":-1,\"who\":\"slow\"}\n";
    let trickle = std::thread::spawn(move || {
        for b in record {
            slow.write_all(&[*b]).unwrap();
            std::thread::sleep(Duration::from_millis(40));
        }
    });
    send_json(port, 0, 50);
    let fast = run.wait_for("slow", 50);
    assert_eq!(numbers(&fast), (0..50).collect::<Vec<_>>());
    trickle.join().unwrap();
    let got = run.wait_for("slow", 51);
    assert_eq!(got[50]["who"], "slow");
    run.stop();
}

/// A forward Message frame `["t", n, {"n": n}]` (the input's `tag`
/// replaces "t").
fn message(n: u8) -> Vec<u8> {
    vec![0x93, 0xa1, b't', n, 0x81, 0xa1, b'n', n]
}

#[test]
fn msgpack_headers_claiming_gigabytes_allocate_nothing() {
    let port = free_port();
    let run = start(&listen_on("forward", port, "big"), &[]);
    let hostile: [&[u8]; 4] = [
        // An array of 4 G elements, then nothing.
        &[0xdd, 0xff, 0xff, 0xff, 0xff],
        // A frame whose tag is a 4 GiB string.
        &[0x93, 0xdb, 0xff, 0xff, 0xff, 0xff, b'x'],
        // PackedForward entries of 4 GiB (bin32).
        &[0x92, 0xa1, b't', 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00],
        // A map of 4 G pairs as a Message record.
        &[0x93, 0xa1, b't', 1, 0xdf, 0xff, 0xff, 0xff, 0xff],
    ];
    for bytes in hostile {
        let mut c = connect(port);
        c.write_all(&message(1)).unwrap();
        c.write_all(bytes).unwrap();
        // Past the default buffer_max_size: the claim is never believed.
        let filler = vec![0u8; 7_000_000];
        let _ = c.write_all(&filler);
    }
    assert_bounded(&run);
    let mut c = connect(port);
    c.write_all(&message(2)).unwrap();
    drop(c);
    let got = run.wait_for("big", 5);
    let out = run.stop();
    assert_eq!(numbers(&got), [1, 1, 1, 1, 2], "{}", out.stderr);
    assert!(out.stderr.contains("buffer limit"), "{}", out.stderr);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// `["t", <gzip entries>, {"compressed": "gzip"}]` as CompressedPackedForward.
fn compressed(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x93, 0xa1, b't', 0xc6];
    frame.extend((payload.len() as u32).to_be_bytes());
    frame.extend(payload);
    frame.extend([0x81, 0xaa]);
    frame.extend(b"compressed");
    frame.extend([0xa4]);
    frame.extend(b"gzip");
    frame
}

#[test]
fn gzip_bomb_is_refused_and_the_connection_goes_on() {
    let port = free_port();
    let run = start(&listen_on("forward", port, "bomb"), &[]);
    // 256 MiB of zeros inflate from about 250 KiB: past the 64 MiB cap.
    let bomb = gzip(&vec![0u8; 256 << 20]);
    assert!(bomb.len() < 1 << 20);
    let mut c = connect(port);
    c.write_all(&message(1)).unwrap();
    c.write_all(&compressed(&bomb)).unwrap();
    c.write_all(&message(2)).unwrap();
    drop(c);
    let got = run.wait_for("bomb", 2);
    assert_bounded(&run);
    let out = run.stop();
    assert_eq!(numbers(&got), [1, 2], "{}", out.stderr);
    assert!(out.stderr.contains("inflates past"), "{}", out.stderr);
}

#[test]
fn invalid_utf8_is_rejected_in_json_and_kept_as_text() {
    let (json_port, text_port) = (free_port(), free_port());
    let mut inputs = listen_on("tcp", json_port, "json");
    inputs.extend(listen_on("tcp", text_port, "text"));
    inputs.extend(["-p".to_owned(), "format=none".to_owned()]);
    let run = start(&inputs, &[]);

    let mut c = connect(json_port);
    c.write_all(b"{\"n\":1}\n{\"n\":2,\"s\":\"\xff\xfe\"}\n{\"n\":3}\n")
        .unwrap();
    drop(c);
    let mut c = connect(text_port);
    c.write_all(b"caf\xc3\xa9\nbad \xff byte\n").unwrap();
    drop(c);

    let json = run.wait_for("json", 2);
    let text = run.wait_for("text", 2);
    let out = run.stop();
    assert_eq!(numbers(&json), [1, 3], "{}", out.stderr);
    assert!(out.stderr.contains("record rejected"), "{}", out.stderr);
    assert_eq!(text[0]["log"], "café");
    let bad = text[1]["log"].as_str().unwrap();
    assert!(bad.starts_with("bad ") && bad.ends_with(" byte"), "{bad}");
}
