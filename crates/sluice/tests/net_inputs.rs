//! The `tcp` and `udp` inputs through the real binary: JSON streams with
//! and without separators, `format none` with separators, the source
//! address, UDP datagrams, and Mem_Buf_Limit backpressure that blocks a
//! TCP sender without losing a record.

mod common;

use std::io::Write;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{connect, eventually, free_port, free_udp_port, rss_kib, temp_dir, write_file, Run};

const T: Duration = Duration::from_secs(10);

fn port_prop(port: u16) -> String {
    format!("port={port}")
}

#[test]
fn tcp_json_stream_with_and_without_newlines() {
    let port = free_port();
    let p = port_prop(port);
    let run = Run::start(
        &["-i", "tcp", "-p", "listen=127.0.0.1", "-p", &p, "-t", "j"],
        None,
        &[],
    );
    let mut c = connect(port);
    c.write_all(b"{\"n\":1}{\"n\":2}\n{\"n\":3} {\"n\":4,\"o\":{\"k\":\"}\"}}\r\n")
        .unwrap();
    c.write_all(b"not json\n{\"n\":5,\"s\":\"sp").unwrap();
    c.flush().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    c.write_all(b"lit\"}{\"n\":6}").unwrap();
    drop(c);
    let got = run.wait_for("j", 6);
    let out = run.stop();
    let ns: Vec<i64> = got.iter().map(|r| r["n"].as_i64().unwrap()).collect();
    assert_eq!(ns, [1, 2, 3, 4, 5, 6], "{}", out.stderr);
    assert_eq!(got[3]["o"]["k"], "}");
    assert_eq!(got[4]["s"], "split");
    assert!(out.stderr.contains("record rejected"), "{}", out.stderr);
}

#[test]
fn tcp_format_none_splits_on_the_separator() {
    let (a, b) = (free_port(), free_port());
    let (pa, pb) = (port_prop(a), port_prop(b));
    let run = Run::start(
        &[
            "-i",
            "tcp",
            "-p",
            "listen=127.0.0.1",
            "-p",
            &pa,
            "-t",
            "lines",
            "-p",
            "format=none",
            "-p",
            "source_address_key=src",
            "-i",
            "tcp",
            "-p",
            "listen=127.0.0.1",
            "-p",
            &pb,
            "-t",
            "pipes",
            "-p",
            "format=none",
            "-p",
            "separator=||",
        ],
        None,
        &[],
    );
    let mut c = connect(a);
    let local = c.local_addr().unwrap();
    c.write_all(b"first line\nsecond {not json}\n\nlast without newline")
        .unwrap();
    drop(c);
    let mut c = connect(b);
    c.write_all(b"one||two\nstill two||three").unwrap();
    drop(c);

    let lines = run.wait_for("lines", 3);
    let pipes = run.wait_for("pipes", 3);
    let out = run.stop();
    let logs: Vec<_> = lines.iter().map(|r| r["log"].as_str().unwrap()).collect();
    assert_eq!(
        logs,
        ["first line", "second {not json}", "last without newline"],
        "{}",
        out.stderr
    );
    let src = format!("tcp://{local}");
    assert!(lines.iter().all(|r| r["src"] == src.as_str()), "{lines:?}");
    let logs: Vec<_> = pipes.iter().map(|r| r["log"].as_str().unwrap()).collect();
    assert_eq!(logs, ["one", "two\nstill two", "three"]);
    assert!(pipes.iter().all(|r| r.get("src").is_none()));
}

#[test]
fn tcp_json_records_get_the_source_address() {
    let port = free_port();
    let p = port_prop(port);
    let run = Run::start(
        &[
            "-i",
            "tcp",
            "-p",
            "listen=127.0.0.1",
            "-p",
            &p,
            "-t",
            "s",
            "-p",
            "source_address_key=peer",
        ],
        None,
        &[],
    );
    let mut c = connect(port);
    let local = c.local_addr().unwrap();
    let many: String = (0..20).map(|i| format!("\"k{i}\":{i},")).collect();
    c.write_all(format!("{{\"a\":1}}\n{{{many}\"z\":0}}\n").as_bytes())
        .unwrap();
    drop(c);
    let got = run.wait_for("s", 2);
    let out = run.stop();
    let want = format!("tcp://{local}");
    assert_eq!(got.len(), 2, "{}", out.stderr);
    assert_eq!(got[0], serde_json::json!({"a": 1, "peer": want}));
    assert_eq!(got[1]["peer"], want.as_str(), "map16 widened");
    assert_eq!(got[1]["k19"], 19);
}

/// Sends a probe datagram until a record of `tag` comes out, so the test
/// knows the socket is bound.
fn udp_ready(run: &Run, sock: &UdpSocket, port: u16, tag: &str, probe: &[u8]) {
    let ready = eventually(T, || {
        let _ = sock.send_to(probe, ("127.0.0.1", port));
        std::thread::sleep(Duration::from_millis(100));
        !run.records(tag).is_empty()
    });
    assert!(ready, "udp input never answered");
}

#[test]
fn udp_datagrams_hold_one_or_more_records() {
    let (a, b) = (free_udp_port(), free_udp_port());
    let (pa, pb) = (port_prop(a), port_prop(b));
    let run = Run::start(
        &[
            "-i",
            "udp",
            "-p",
            "listen=127.0.0.1",
            "-p",
            &pa,
            "-t",
            "uj",
            "-p",
            "source_address_key=src",
            "-i",
            "udp",
            "-p",
            "listen=127.0.0.1",
            "-p",
            &pb,
            "-t",
            "un",
            "-p",
            "format=none",
        ],
        None,
        &[],
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp_ready(&run, &sock, a, "uj", b"{\"probe\":true}");
    udp_ready(&run, &sock, b, "un", b"probe");
    sock.send_to(b"{\"n\":1}\n{\"n\":2}{\"n\":3}", ("127.0.0.1", a))
        .unwrap();
    sock.send_to(b"{\"n\":4}", ("127.0.0.1", a)).unwrap();
    sock.send_to(b"{\"n\":5, \"cut\":", ("127.0.0.1", a))
        .unwrap();
    sock.send_to(b"x\ny\nz", ("127.0.0.1", b)).unwrap();

    let json = run.wait_for("uj", 5);
    let text = run.wait_for("un", 4);
    let out = run.stop();
    let ns: Vec<_> = json.iter().filter_map(|r| r["n"].as_i64()).collect();
    assert_eq!(ns, [1, 2, 3, 4], "{}", out.stderr);
    let src = format!("udp://{}", sock.local_addr().unwrap());
    assert!(json.iter().all(|r| r["src"] == src.as_str()), "{json:?}");
    let logs: Vec<_> = text
        .iter()
        .map(|r| r["log"].as_str().unwrap())
        .filter(|l| *l != "probe")
        .collect();
    assert_eq!(logs, ["x", "y", "z"]);
    assert!(
        out.stderr.contains("json object cut short"),
        "{}",
        out.stderr
    );
}

#[test]
fn tcp_sender_is_blocked_by_mem_buf_limit_and_loses_nothing() {
    let root = temp_dir("tcp-backpressure");
    let target = root.join("later");
    let conf = write_file(
        &root,
        "bp.conf",
        "[SERVICE]\n    scheduler.base 1\n    scheduler.cap 1\n",
    );
    let port = free_port();
    let p = port_prop(port);
    let run = Run::start(
        &[
            "-c",
            conf.to_str().unwrap(),
            "-i",
            "tcp",
            "-p",
            "listen=127.0.0.1",
            "-p",
            &p,
            "-t",
            "bp",
            "-p",
            "mem_buf_limit=1M",
        ],
        Some(&target),
        &["-p", "retry_limit=no_limits", "-f", "0.1"],
    );
    let pid = run.child.id();

    let records = 24_000usize;
    let pad = "x".repeat(1000);
    let total = records * (pad.len() + 20);
    let written = Arc::new(AtomicUsize::new(0));
    let mut c = connect(port);
    let writer = {
        let written = Arc::clone(&written);
        std::thread::spawn(move || {
            let mut block = Vec::with_capacity(80 * 1024);
            for i in 0..records {
                writeln!(block, "{{\"i\":{i},\"pad\":\"{pad}\"}}").unwrap();
                if block.len() >= 64 * 1024 || i + 1 == records {
                    c.write_all(&block).expect("write");
                    written.fetch_add(block.len(), Ordering::SeqCst);
                    block.clear();
                }
            }
        })
    };

    // The destination is missing: the input pauses, stops reading, and
    // the sender's writes stop going through.
    std::thread::sleep(Duration::from_secs(2));
    let first = written.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(1));
    let second = written.load(Ordering::SeqCst);
    assert_eq!(first, second, "writes kept going while paused");
    assert!(second < total / 2, "sender not slowed: {second} of {total}");
    let rss = rss_kib(pid).unwrap_or(0);
    assert!(rss < 96 * 1024, "memory not bounded: {rss} KiB");

    std::fs::create_dir_all(&target).unwrap();
    writer.join().unwrap();
    let done = eventually(Duration::from_secs(30), || {
        run.records("bp").len() >= records
    });
    let got = run.records("bp");
    let out = run.stop();
    assert!(
        done,
        "only {} of {records} delivered; {}",
        got.len(),
        out.stderr
    );
    assert!(out.stderr.contains("input paused"), "{}", out.stderr);
    let mut seen: Vec<i64> = got.iter().map(|r| r["i"].as_i64().unwrap()).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), records, "each record exactly once");
}

#[test]
fn open_connections_end_at_shutdown_with_their_records() {
    let port = free_port();
    let p = port_prop(port);
    let run = Run::start(
        &[
            "-i",
            "tcp",
            "-p",
            "listen=127.0.0.1",
            "-p",
            &p,
            "-t",
            "open",
        ],
        None,
        &[],
    );
    let mut c = connect(port);
    c.write_all(b"{\"n\":1}\n{\"n\":2}\n{\"partial\":").unwrap();
    let mut idle = connect(port);
    idle.write_all(b"{\"n\":3}\n").unwrap();
    let got = run.wait_for("open", 3);
    let started = std::time::Instant::now();
    let out = run.stop();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "open connections held up the stop"
    );
    let mut ns: Vec<_> = got.iter().map(|r| r["n"].as_i64().unwrap()).collect();
    ns.sort_unstable();
    assert_eq!(ns, [1, 2, 3]);
    drop((c, idle));
}

#[test]
fn listener_limits_close_idle_and_excess_connections() {
    let port = free_port();
    let p = port_prop(port);
    let run = Run::start(
        &[
            "-i",
            "tcp",
            "-p",
            "listen=127.0.0.1",
            "-p",
            &p,
            "-t",
            "lim",
            "-p",
            "net.max_connections=1",
            "-p",
            "net.io_timeout=500ms",
        ],
        None,
        &[],
    );
    let mut first = connect(port);
    first.write_all(b"{\"n\":1}\n").unwrap();
    run.wait_for("lim", 1);
    let mut second = connect(port);
    let mut buf = [0u8; 1];
    assert_eq!(
        std::io::Read::read(&mut second, &mut buf).unwrap_or(0),
        0,
        "the connection over net.max_connections is closed"
    );
    // The first one sends nothing more and is closed after the timeout.
    assert_eq!(std::io::Read::read(&mut first, &mut buf).unwrap_or(0), 0);
    let mut third = connect(port);
    third.write_all(b"{\"n\":2}\n").unwrap();
    let got = run.wait_for("lim", 2);
    let out = run.stop();
    assert_eq!(got.len(), 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("too many connections"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("idle for longer than"),
        "{}",
        out.stderr
    );
}

#[test]
fn udp_counts_datagrams_dropped_while_paused() {
    let root = temp_dir("udp-paused");
    let target = root.join("later");
    let conf = write_file(
        &root,
        "bp.conf",
        "[SERVICE]\n    scheduler.base 1\n    scheduler.cap 1\n",
    );
    let port = free_udp_port();
    let p = port_prop(port);
    let run = Run::start(
        &[
            "-c",
            conf.to_str().unwrap(),
            "-i",
            "udp",
            "-p",
            "listen=127.0.0.1",
            "-p",
            &p,
            "-t",
            "up",
            "-p",
            "mem_buf_limit=1k",
        ],
        Some(&target),
        &["-p", "retry_limit=no_limits"],
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    // The first datagram fills the limit; the destination is missing, so
    // the input stays paused and the next ones are dropped.
    let big = format!("{{\"n\":0,\"pad\":\"{}\"}}", "x".repeat(2000));
    std::thread::sleep(Duration::from_millis(500));
    sock.send_to(big.as_bytes(), ("127.0.0.1", port)).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    for i in 1..=5 {
        sock.send_to(format!("{{\"n\":{i}}}").as_bytes(), ("127.0.0.1", port))
            .unwrap();
    }
    std::fs::create_dir_all(&target).unwrap();
    let resumed = eventually(T, || {
        let _ = sock.send_to(b"{\"n\":99}", ("127.0.0.1", port));
        std::thread::sleep(Duration::from_millis(100));
        run.records("up").iter().any(|r| r["n"] == 99)
    });
    let got = run.records("up");
    let out = run.stop();
    assert!(resumed, "{}", out.stderr);
    assert_eq!(got[0]["n"], 0, "{}", out.stderr);
    assert!(got
        .iter()
        .all(|r| !(1..=5).contains(&r["n"].as_i64().unwrap())));
    // The five, and the probes that came before the resume.
    let dropped: u64 = out
        .stderr
        .lines()
        .filter(|l| l.contains("udp datagrams dropped while the input was paused"))
        .filter_map(|l| l.rsplit("datagrams=").next()?.trim().parse::<u64>().ok())
        .sum();
    assert!(dropped >= 5, "{}", out.stderr);
}

#[test]
fn tcp_format_none_with_a_parser() {
    let port = free_port();
    let p = format!("port={port}");
    let parsers = concat!(env!("CARGO_MANIFEST_DIR"), "/../../conf/parsers.conf");
    let inputs = [
        "-R",
        parsers,
        "-i",
        "tcp",
        "-p",
        "listen=127.0.0.1",
        "-p",
        &p,
        "-p",
        "format=none",
        "-p",
        "parser=apache2",
        "-p",
        "source_address_key=src",
        "-t",
        "web",
    ];
    let run = Run::start(&inputs, None, &[]);
    let mut c = connect(port);
    c.write_all(
        b"192.168.1.7 - ann [14/Nov/2023:22:13:20 +0000] \"GET /index.html HTTP/1.1\" 200 512 \"-\" \"curl/8.5.0\"\n\
          not an access log line\n",
    )
    .unwrap();
    drop(c);
    let got = run.wait_for("web", 2);
    let out = run.stop();
    assert_eq!(got[0]["host"], "192.168.1.7", "{}", out.stderr);
    assert_eq!(got[0]["path"], "/index.html");
    assert!(got[0]["src"]
        .as_str()
        .unwrap()
        .starts_with("tcp://127.0.0.1:"));
    assert_eq!(got[1]["log"], "not an access log line");
    assert!(got[1]["src"].is_string());

    let dry = common::run(
        &[
            "-R",
            parsers,
            "-i",
            "tcp",
            "-p",
            "parser=json",
            "-o",
            "null",
            "--dry-run",
        ],
        b"",
        Duration::from_secs(10),
    );
    assert!(!dry.status.success());
    assert!(dry.stderr.contains("needs format none"), "{}", dry.stderr);
}
