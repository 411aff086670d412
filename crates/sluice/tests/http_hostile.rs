//! The HTTP monitoring API under hostile clients, through the real
//! binary on 127.0.0.1: oversized heads and bodies, odd methods, paths
//! and JSON bodies, and 1,000 slow connections (idle, or trickling a
//! request head a byte at a time). Throughout, `/api/v1/health` must
//! answer quickly and the process's resident memory stay bounded; slow
//! connections must be cut off once the head timeout passes.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::api::Api;
use common::{curl, rss_kib};

const PIPELINE: &str = "
[INPUT]
    Name  dummy
    Rate  50

[OUTPUT]
    Name  null
    Match *
";

/// Generous ceiling for the whole process under attack.
const RSS_CEILING_KIB: u64 = 200 * 1024;

/// Sends `head` (and up to `body_bytes` of body), then reads the answer's
/// status; `None` when the server closed without answering.
fn raw_request(addr: &str, head: &str, body_bytes: usize) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.set_write_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(head.as_bytes()).ok()?;
    let block = vec![b'z'; 64 * 1024];
    let mut sent = 0;
    while sent < body_bytes {
        // The server may answer and close before taking it all.
        if s.write_all(&block).is_err() {
            break;
        }
        sent += block.len();
    }
    let mut answer = [0u8; 64];
    let n = loop {
        match s.read(&mut answer) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => break other.ok()?,
        }
    };
    let text = String::from_utf8_lossy(&answer[..n]);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// How long one health probe takes, and its status.
fn probe(api: &Api) -> (Duration, u16) {
    let started = Instant::now();
    let status = api.get("/api/v1/health").status;
    (started.elapsed(), status)
}

fn assert_healthy_and_bounded(api: &Api, when: &str) {
    let (took, status) = probe(api);
    assert_eq!(status, 200, "{when}");
    assert!(
        took < Duration::from_secs(1),
        "{when}: health took {took:?}"
    );
    let rss = rss_kib(api.pid()).unwrap_or(0);
    eprintln!("{when}: health in {took:?}, {rss} KiB resident");
    assert!(rss < RSS_CEILING_KIB, "{when}: {rss} KiB resident");
}

#[test]
fn oversized_heads_and_bodies_are_refused_without_buffering() {
    let api = Api::start(PIPELINE);
    let addr = api.addr();

    let big = "x".repeat(64 * 1024);
    let huge_header = curl(&format!("{}/", api.base), &["-H", &format!("X-Big: {big}")]);
    assert!(
        huge_header.as_ref().is_none_or(|a| a.status >= 400),
        "{huge_header:?}"
    );
    let many: String = (0..5000).map(|i| format!("X-{i}: v\r\n")).collect();
    let status = raw_request(
        &addr,
        &format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n"),
        0,
    );
    assert!(status.is_none_or(|s| s >= 400), "{status:?}");
    let status = raw_request(&addr, "\x00\x01\x02 not http at all\r\n\r\n", 0);
    assert!(status.is_none_or(|s| s == 400), "{status:?}");

    // Bodies are never read: a gigabyte announced, 64 MiB sent.
    for path in ["/api/v2/reload", "/api/v1/metrics"] {
        let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n");
        let status = raw_request(&addr, &head, 64 * 1024 * 1024);
        assert!(
            matches!(status, None | Some(400) | Some(405)),
            "{path}: {status:?}"
        );
    }
    let chunked = "POST /api/v2/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    let status = raw_request(&addr, chunked, 16 * 1024 * 1024);
    assert!(matches!(status, None | Some(400)), "{status:?}");
    assert_healthy_and_bounded(&api, "after oversized requests");

    let out = api.stop();
    assert!(out.status.success(), "{}", out.stderr);
}

#[test]
fn odd_methods_paths_and_json_bodies_get_clear_answers() {
    let api = Api::start(PIPELINE);
    let base = &api.base;
    // No endpoint parses a body: JSON of any shape changes nothing.
    for body in [
        r#"{"reload":[1,2]}"#,
        "[]",
        "null",
        r#"{"timeout":"x"}"#,
        "{",
    ] {
        let a = curl(
            &format!("{base}/api/v2/reload"),
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-d",
                body,
            ],
        )
        .unwrap();
        assert_eq!(a.status, 400, "hot reload is off: {body} -> {}", a.body);
        let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["status"], -1, "{}", a.body);
    }
    for (method, path, want) in [
        ("DELETE", "/api/v1/metrics", 405),
        ("PATCH", "/api/v2/reload", 405),
        ("GET", "/api/v1/../../etc/passwd", 404),
        ("GET", "/api/v1/metrics?x=%zz%00&y", 200),
        ("GET", "/api/v1/metrics/", 200),
        ("GET", "/api/v1/storage", 404),
    ] {
        let a = curl(&format!("{base}{path}"), &["-X", method, "--path-as-is"]).unwrap();
        assert_eq!(a.status, want, "{method} {path}: {}", a.body);
    }
    assert_healthy_and_bounded(&api, "after odd requests");
    api.stop();
}

/// Opens `n` connections; each sends `first` when it is not empty.
fn open_many(addr: &str, n: usize, first: &[u8]) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            let mut s = TcpStream::connect(addr).unwrap_or_else(|e| {
                panic!("connection {i} of {n}: {e} (is `ulimit -n` above 2,500?)")
            });
            s.set_read_timeout(Some(Duration::from_millis(10))).ok();
            s.write_all(first).unwrap();
            s
        })
        .collect()
}

/// Has the server closed `s` (EOF, reset, or an error answer)?
fn closed_by_server(mut s: &TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Ok(0) => return true,
            // An error answer (408, 400) before closing.
            Ok(_) => return true,
            Err(e) => return !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        }
    }
}

#[test]
fn a_thousand_slow_connections_neither_block_nor_bloat_the_server() {
    let api = Api::start(PIPELINE);
    let addr = api.addr();
    let idle = open_many(&addr, 500, b"");
    let trickling = open_many(&addr, 500, b"GET /api/v1/metrics HTTP/1.1\r\nHost: x\r\n");

    // One byte per connection every 100 ms: a head that never ends.
    let stop = Arc::new(AtomicBool::new(false));
    let trickler = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut conns = trickling;
            while !stop.load(Ordering::Relaxed) {
                for s in &mut conns {
                    let _ = s.write_all(b"X");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            conns
        })
    };
    for round in 0..5 {
        assert_healthy_and_bounded(&api, &format!("beside 1,000 slow clients, probe {round}"));
        std::thread::sleep(Duration::from_millis(200));
    }

    // The head timeout (5 s) cuts both kinds off.
    std::thread::sleep(Duration::from_secs(6));
    stop.store(true, Ordering::Relaxed);
    let trickling = trickler.join().unwrap();
    let cut = idle
        .iter()
        .chain(trickling.iter())
        .filter(|s| closed_by_server(s))
        .count();
    assert_eq!(
        cut, 1000,
        "slow connections still open after the head timeout"
    );
    assert_healthy_and_bounded(&api, "after the slow clients were cut off");

    let out = api.stop();
    assert!(out.status.success(), "{}", out.stderr);
}
