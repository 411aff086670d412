//! The `forward` output through the real binary: one sluice reads a
//! numbered stream on stdin and forwards it to a second sluice (forward
//! input, file output), plain, gzip, with acks, with the shared-key
//! handshake, over TLS and mutual TLS (with encrypted keys too); the
//! receiver killed and restarted mid-stream;
//! and the non-blocking property, with destinations that never answer or
//! never accept next to one that delivers.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use common::{
    connect, eventually, free_port, spawn, temp_dir, test_certificates, wait, write_file, Run,
};

const T: Duration = Duration::from_secs(20);

/// A receiving sluice: forward input on `port` with `props`, a file per
/// tag.
fn receiver(port: u16, props: &[&str], out: Option<&Path>) -> Run {
    let port_prop = format!("port={port}");
    let mut inputs = vec!["-i", "forward", "-p", "listen=127.0.0.1", "-p", &port_prop];
    for p in props {
        inputs.extend(["-p", p]);
    }
    let run = Run::start(&inputs, out, &[]);
    // The receiver is ready once it accepts.
    drop(connect(port));
    run
}

/// A sending sluice: stdin (tag `num`) to a forward output with `props`,
/// retrying every second.
fn sender(dir: &Path, props: &[String]) -> Child {
    let conf = write_file(
        dir,
        "sender.conf",
        "[SERVICE]\n    scheduler.base 1\n    scheduler.cap 1\n    grace 5\n",
    );
    let mut args = vec![
        "-c".to_owned(),
        conf.display().to_string(),
        "-i".into(),
        "stdin".into(),
        "-t".into(),
        "num".into(),
        "-o".into(),
        "forward".into(),
        "-m".into(),
        "*".into(),
        "-p".into(),
        "retry_limit=no_limits".into(),
    ];
    for p in props {
        args.extend(["-p".into(), p.clone()]);
    }
    args.extend(["-f".into(), "0.2".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    spawn(&args)
}

fn lines(from: usize, to: usize) -> Vec<u8> {
    let mut text = Vec::new();
    for i in from..to {
        writeln!(
            text,
            "{{\"n\":{i},\"pad\":\"some text to make the record longer\"}}"
        )
        .unwrap();
    }
    text
}

/// Records a batch holds in the upstream-file tests.
const NODE_BATCH: usize = 1_000;

/// Writes batches of numbered lines, a flush (0.2 s) apart so that each
/// is its own chunk.
fn send_batches(stdin: &mut std::process::ChildStdin, batches: std::ops::Range<usize>) {
    for batch in batches {
        stdin
            .write_all(&lines(batch * NODE_BATCH, (batch + 1) * NODE_BATCH))
            .unwrap();
        std::thread::sleep(Duration::from_millis(400));
    }
}

/// Closes the sender's input and waits for it to exit, which it must do
/// cleanly and without a single retry.
fn finish_without_retries(tx: Child, stdin: std::process::ChildStdin) {
    drop(stdin);
    let out = wait(tx, T);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!out.stderr.contains("retry"), "{}", out.stderr);
}

/// How many times each number arrived.
fn counts(records: &[serde_json::Value]) -> HashMap<i64, usize> {
    let mut seen = HashMap::new();
    for r in records {
        *seen
            .entry(r["n"].as_i64().expect("n is a number"))
            .or_default() += 1;
    }
    seen
}

/// Sends `n` numbered records through sender and receiver and checks
/// that each arrived exactly once.
fn exactly_once(receiver_props: &[&str], sender_props: &[&str]) {
    const N: usize = 20_000;
    let dir = temp_dir("fwd-out");
    let port = free_port();
    let rx = receiver(port, receiver_props, None);
    let mut props = vec!["host=127.0.0.1".to_owned(), format!("port={port}")];
    props.extend(sender_props.iter().map(|p| (*p).to_owned()));
    let mut tx = sender(&dir, &props);
    tx.stdin.take().unwrap().write_all(&lines(0, N)).unwrap();
    let out = wait(tx, T);
    assert!(out.status.success(), "sender failed:\n{}", out.stderr);

    let got = rx.wait_for("num", N);
    let rx_out = rx.stop();
    let seen = counts(&got);
    assert_eq!(got.len(), N, "receiver stderr:\n{}", rx_out.stderr);
    assert!((0..N as i64).all(|i| seen.get(&i) == Some(&1)));
    assert!(!out.stderr.contains("retry"), "{}", out.stderr);
}

#[test]
fn forward_delivers_a_numbered_stream_exactly_once() {
    exactly_once(&[], &[]);
}

#[test]
fn forward_with_gzip_and_metadata_delivers_exactly_once() {
    exactly_once(
        &[],
        &[
            "compress=gzip",
            "retain_metadata_in_forward_mode=on",
            "send_options=on",
        ],
    );
}

#[test]
fn forward_with_acks_delivers_exactly_once() {
    exactly_once(&[], &["require_ack_response=on", "time_as_integer=on"]);
}

#[test]
fn forward_with_shared_key_delivers_exactly_once() {
    exactly_once(
        &["shared_key=s3cret", "self_hostname=rx"],
        &["shared_key=s3cret", "self_hostname=tx"],
    );
}

#[test]
fn forward_over_tls_delivers_exactly_once() {
    let dir = temp_dir("fwd-tls");
    let certs = test_certificates(&dir);
    let crt = format!("tls.crt_file={}", certs.crt.display());
    let key = format!("tls.key_file={}", certs.key.display());
    let ca = format!("tls.ca_file={}", certs.ca.display());
    exactly_once(
        &["tls=on", &crt, &key],
        &[
            "tls=on",
            &ca,
            "tls.verify_hostname=on",
            "tls.vhost=localhost",
            "require_ack_response=on",
        ],
    );
}

#[test]
fn a_wrong_shared_key_is_retried_not_delivered() {
    let dir = temp_dir("fwd-key");
    let port = free_port();
    let rx = receiver(port, &["shared_key=right"], None);
    let props = [
        "host=127.0.0.1".to_owned(),
        format!("port={port}"),
        "shared_key=wrong".to_owned(),
        "retry_limit=2".to_owned(),
    ];
    let mut tx = sender(&dir, &props);
    tx.stdin.take().unwrap().write_all(&lines(0, 10)).unwrap();
    let out = wait(tx, T);
    assert!(
        out.stderr.contains("shared_key mismatch") && out.stderr.contains("retry"),
        "{}",
        out.stderr
    );
    assert!(rx.records("num").is_empty());
    rx.stop();
}

#[test]
fn a_receiver_killed_mid_stream_loses_nothing() {
    const BATCH: usize = 2_000;
    let dir = temp_dir("fwd-restart");
    let out_dir = temp_dir("fwd-restart-out");
    let port = free_port();
    let mut rx = receiver(port, &[], Some(&out_dir));
    let props = [
        "host=127.0.0.1".to_owned(),
        format!("port={port}"),
        "require_ack_response=on".to_owned(),
        "ack_timeout=2s".to_owned(),
    ];
    let mut tx = sender(&dir, &props);
    let mut stdin = tx.stdin.take().unwrap();

    stdin.write_all(&lines(0, BATCH)).unwrap();
    assert!(eventually(T, || !rx.records("num").is_empty()));
    rx.child.kill().unwrap();
    rx.child.wait().unwrap();
    stdin.write_all(&lines(BATCH, 2 * BATCH)).unwrap();
    std::thread::sleep(Duration::from_millis(500));

    let rx = receiver(port, &[], Some(&out_dir));
    stdin.write_all(&lines(2 * BATCH, 3 * BATCH)).unwrap();
    drop(stdin);
    let out = wait(tx, T);
    assert!(out.status.success(), "{}", out.stderr);

    let got = rx.wait_for("num", 3 * BATCH);
    rx.stop();
    let seen = counts(&got);
    let missing: Vec<i64> = (0..3 * BATCH as i64)
        .filter(|i| !seen.contains_key(i))
        .collect();
    assert!(missing.is_empty(), "lost {} records", missing.len());
    let duplicates = got.len() - seen.len();
    eprintln!("duplicates after the restart: {duplicates}");
    assert!(duplicates <= 2 * BATCH, "{duplicates} duplicates");
}

/// A listener that accepts connections and never reads or answers.
fn silent_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// A listener whose accept queue is full, so the kernel drops further
/// SYNs and a connect hangs: what an unroutable address looks like, on
/// 127.0.0.1. The returned streams keep the queue full.
fn syn_dropping_listener() -> (socket2::Socket, Vec<std::net::TcpStream>, u16) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&addr.into()).unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut queued = Vec::new();
    while queued.len() < 16 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => queued.push(s),
            Err(_) => break,
        }
    }
    (socket, queued, addr.port())
}

#[test]
fn stuck_destinations_do_not_hold_up_another_output() {
    const N: usize = 5_000;
    let dir = temp_dir("fwd-stuck");
    let (_silent, silent_port) = silent_listener();
    let refused_port = free_port();
    let (_full, _queued, syn_port) = syn_dropping_listener();
    let conf = write_file(
        &dir,
        "stuck.conf",
        &format!(
            "[SERVICE]\n    flush 0.2\n    grace 2\n    scheduler.base 1\n    scheduler.cap 1\n\
             [INPUT]\n    name stdin\n    tag num\n\
             [OUTPUT]\n    name forward\n    alias silent\n    match *\n    host 127.0.0.1\n\
             \x20   port {silent_port}\n    require_ack_response on\n    ack_timeout 1s\n\
             \x20   retry_limit no_limits\n\
             [OUTPUT]\n    name forward\n    alias refused\n    match *\n    host 127.0.0.1\n\
             \x20   port {refused_port}\n    retry_limit no_limits\n\
             [OUTPUT]\n    name forward\n    alias unroutable\n    match *\n    host 127.0.0.1\n\
             \x20   port {syn_port}\n    net.connect_timeout 1s\n    retry_limit no_limits\n\
             [OUTPUT]\n    name file\n    match *\n    path {}\n    file good\n    format plain\n",
            dir.display()
        ),
    );
    let mut child = spawn(&["-c", conf.to_str().unwrap()]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&lines(0, N)).unwrap();
    let good = dir.join("good");
    assert!(
        eventually(Duration::from_secs(5), || {
            common::read_json_file(&good).len() >= N
        }),
        "the file output was held up by the stuck ones"
    );

    // Let each stuck output fail at least once before the stop.
    std::thread::sleep(Duration::from_secs(2));
    let stopping = Instant::now();
    common::terminate(&child);
    let out = wait(child, T);
    drop(stdin);
    let took = stopping.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "shutdown took {took:?} with grace 2"
    );
    for stuck in ["silent", "refused", "unroutable"] {
        assert!(
            out.stderr.contains(stuck),
            "no log line names {stuck}:\n{}",
            out.stderr
        );
    }
    assert!(out.stderr.contains("timed out after 1s"), "{}", out.stderr);
    assert!(
        out.stderr.contains("no progress within 1s"),
        "{}",
        out.stderr
    );
    assert_eq!(counts(&common::read_json_file(&good)).len(), N);
}

#[test]
fn an_upstream_file_balances_over_nodes_and_skips_a_dead_one() {
    const BATCH: usize = NODE_BATCH;
    let dir = temp_dir("fwd-nodes");
    let (a, b, dead) = (free_port(), free_port(), free_port());
    let rx_a = receiver(a, &[], None);
    let rx_b = receiver(b, &[], None);
    let nodes = write_file(
        &dir,
        "upstream.conf",
        &format!(
            "[UPSTREAM]\n    name pair\n[NODE]\n    name dead\n    host 127.0.0.1\n    port {dead}\n\
             [NODE]\n    name a\n    host 127.0.0.1\n    port {a}\n\
             [NODE]\n    name b\n    host 127.0.0.1\n    port {b}\n"
        ),
    );
    let props = [format!("upstream={}", nodes.display())];
    let mut tx = sender(&dir, &props);
    let mut stdin = tx.stdin.take().unwrap();
    send_batches(&mut stdin, 0..4);
    finish_without_retries(tx, stdin);

    let total = 4 * BATCH;
    assert!(eventually(T, || {
        rx_a.records("num").len() + rx_b.records("num").len() >= total
    }));
    let (got_a, got_b) = (rx_a.records("num"), rx_b.records("num"));
    rx_a.stop();
    rx_b.stop();
    assert!(
        !got_a.is_empty() && !got_b.is_empty(),
        "both nodes get chunks"
    );
    let all: Vec<_> = got_a.into_iter().chain(got_b).collect();
    let seen = counts(&all);
    assert_eq!(all.len(), total);
    assert!((0..total as i64).all(|i| seen.get(&i) == Some(&1)));
}

#[test]
fn upstream_nodes_use_their_own_keys_and_tls_and_fail_over_when_one_is_killed() {
    const BATCH: usize = NODE_BATCH;
    let dir = temp_dir("fwd-node-keys");
    let (out_a, out_b) = (temp_dir("fwd-node-a"), temp_dir("fwd-node-b"));
    let certs = test_certificates(&dir);
    let (a, b) = (free_port(), free_port());
    // Node a: plain, with its own shared key. Node b: TLS with an
    // encrypted key, and another shared key.
    let mut rx_a = receiver(a, &["shared_key=key-of-a"], Some(&out_a));
    let rx_key = common::encrypted_key(&dir, &certs.key, "rx.key", "rx-pass");
    let crt = format!("tls.crt_file={}", certs.crt.display());
    let key = format!("tls.key_file={}", rx_key.display());
    let b_props = [
        "tls=on",
        &crt,
        &key,
        "tls.key_passwd=rx-pass",
        "shared_key=key-of-b",
    ];
    let rx_b = receiver(b, &b_props, Some(&out_b));
    let nodes = write_file(
        &dir,
        "upstream.conf",
        &format!(
            "[UPSTREAM]\n    name pair\n\
             [NODE]\n    name a\n    host 127.0.0.1\n    port {a}\n    shared_key key-of-a\n\
             [NODE]\n    name b\n    host 127.0.0.1\n    port {b}\n    shared_key key-of-b\n    \
             tls on\n    tls.verify on\n    tls.ca_file {}\n    tls.vhost localhost\n",
            certs.ca.display()
        ),
    );
    // The output's own key fits neither node, and it has no TLS: every
    // chunk that arrives was sent with the settings of its node.
    let props = [
        format!("upstream={}", nodes.display()),
        "shared_key=key-of-the-output".to_owned(),
        "self_hostname=tx".to_owned(),
        "require_ack_response=on".to_owned(),
    ];
    let mut tx = sender(&dir, &props);
    let mut stdin = tx.stdin.take().unwrap();
    send_batches(&mut stdin, 0..4);
    let arrived = |dirs: &[&Path]| {
        dirs.iter()
            .map(|d| common::read_json_file(&d.join("num")).len())
            .sum::<usize>()
    };
    assert!(eventually(T, || arrived(&[&out_a, &out_b]) >= 4 * BATCH));
    assert!(
        !common::read_json_file(&out_a.join("num")).is_empty()
            && !common::read_json_file(&out_b.join("num")).is_empty(),
        "chunks go round robin over both nodes"
    );

    // Node a dies: every flush that starts with it fails over to b.
    rx_a.child.kill().unwrap();
    rx_a.child.wait().unwrap();
    send_batches(&mut stdin, 4..8);
    finish_without_retries(tx, stdin);

    let total = 8 * BATCH;
    assert!(eventually(T, || arrived(&[&out_a, &out_b]) >= total));
    rx_b.stop();
    let all: Vec<_> = [&out_a, &out_b]
        .iter()
        .flat_map(|d| common::read_json_file(&d.join("num")))
        .collect();
    let seen = counts(&all);
    assert_eq!(all.len(), total, "no record twice");
    assert!((0..total as i64).all(|i| seen.get(&i) == Some(&1)));
}

/// Everything sluice writes to `listener`, over as many connections as it
/// opens, until `stop` is set and every connection has closed.
fn raw_receiver(
    listener: TcpListener,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<Vec<u8>>> {
    use std::io::Read;
    use std::sync::atomic::Ordering;
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let mut readers = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((mut conn, _)) => {
                    conn.set_nonblocking(false).unwrap();
                    readers.push(std::thread::spawn(move || {
                        let mut bytes = Vec::new();
                        let _ = conn.read_to_end(&mut bytes);
                        bytes
                    }));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    })
}

/// The numbers in CompressedPackedForward frames whose entries carry
/// whole-second times; panics on any other frame.
fn numbers_of_gzip_frames_with_integer_times(stream: &[u8]) -> Vec<i64> {
    use sluice_core::msgpack::{Reader, Token};
    use std::io::Read;
    let mut numbers = Vec::new();
    let mut r = Reader::new(stream);
    while !r.is_empty() {
        assert_eq!(r.token().unwrap(), Token::Array(3), "a three-part frame");
        assert!(matches!(r.token().unwrap(), Token::Str(b"num")));
        let Token::Bin(packed) = r.token().unwrap() else {
            panic!("entries are not gzipped bytes");
        };
        let Token::Map(n) = r.token().unwrap() else {
            panic!("no options map");
        };
        let mut compressed = false;
        for _ in 0..n {
            let key = r.token().unwrap();
            let value = r.token().unwrap();
            compressed |= key == Token::Str(b"compressed") && value == Token::Str(b"gzip");
        }
        assert!(compressed, "options say gzip");
        let mut entries = Vec::new();
        flate2::read::MultiGzDecoder::new(packed)
            .read_to_end(&mut entries)
            .unwrap();
        let mut e = Reader::new(&entries);
        while !e.is_empty() {
            assert_eq!(e.token().unwrap(), Token::Array(2));
            let time = e.token().unwrap();
            assert!(
                matches!(time, Token::UInt(_)),
                "time {time:?} is not whole seconds"
            );
            let Token::Map(fields) = e.token().unwrap() else {
                panic!("a record is not a map");
            };
            for _ in 0..fields {
                let key = e.token().unwrap();
                let value = e.token().unwrap();
                if key == Token::Str(b"n") {
                    let Token::UInt(v) = value else {
                        panic!("n is {value:?}");
                    };
                    numbers.push(v as i64);
                }
            }
        }
    }
    numbers
}

#[test]
fn upstream_nodes_frame_and_confirm_chunks_their_own_way() {
    const BATCH: usize = NODE_BATCH;
    let dir = temp_dir("fwd-node-frames");
    // Node raw: a plain socket this test decodes, asking for gzip and
    // whole-second times. Node acked: a sluice, with acks required.
    let raw = TcpListener::bind("127.0.0.1:0").unwrap();
    let raw_port = raw.local_addr().unwrap().port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let raw_rx = raw_receiver(raw, stop.clone());
    let acked_port = free_port();
    let acked = receiver(acked_port, &[], None);
    let nodes = write_file(
        &dir,
        "upstream.conf",
        &format!(
            "[UPSTREAM]\n    name mixed\n\
             [NODE]\n    name raw\n    host 127.0.0.1\n    port {raw_port}\n    \
             compress gzip\n    time_as_integer on\n\
             [NODE]\n    name acked\n    host 127.0.0.1\n    port {acked_port}\n    \
             require_ack_response on\n"
        ),
    );
    let mut tx = sender(&dir, &[format!("upstream={}", nodes.display())]);
    let mut stdin = tx.stdin.take().unwrap();
    send_batches(&mut stdin, 0..4);
    finish_without_retries(tx, stdin);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let streams = raw_rx.join().unwrap();

    let via_raw: Vec<i64> = streams
        .iter()
        .flat_map(|s| numbers_of_gzip_frames_with_integer_times(s))
        .collect();
    let via_acked = acked.records("num");
    acked.stop();
    assert!(
        !via_raw.is_empty() && !via_acked.is_empty(),
        "both nodes get chunks"
    );
    let mut seen = counts(&via_acked);
    for n in via_raw {
        *seen.entry(n).or_default() += 1;
    }
    assert_eq!(seen.len(), 4 * BATCH);
    assert!((0..4 * BATCH as i64).all(|i| seen.get(&i) == Some(&1)));
}

#[test]
fn a_bad_node_setting_stops_the_start_naming_the_upstream_file_line_and_key() {
    let dir = temp_dir("fwd-node-bad");
    // Each upstream file, and what the refused dry run must say of it.
    let cases = [
        (
            "upstream.conf",
            "[UPSTREAM]\n    name u\n[NODE]\n    host 127.0.0.1\n    tls on\n    \
             tls.ca_file /nonexistent/ca.pem\n",
            "upstream.conf:6: key 'tls.ca_file'",
        ),
        (
            "unknown.conf",
            "[NODE]\n    host 127.0.0.1\n    retry_limit 3\n",
            "unknown.conf:3: unknown node key 'retry_limit'",
        ),
        (
            "compress.conf",
            "[NODE]\n    host 127.0.0.1\n    compress zstd\n",
            "compress.conf:3: key 'compress'",
        ),
    ];
    for (name, text, says) in cases {
        let nodes = write_file(&dir, name, text);
        let upstream = format!("upstream={}", nodes.display());
        let out = common::run(
            &["-i", "dummy", "-o", "forward", "-p", &upstream, "--dry-run"],
            b"",
            T,
        );
        assert!(!out.status.success());
        assert!(out.stderr.contains(says), "{}", out.stderr);
    }
}

#[test]
fn the_upstream_gauges_count_pooled_connections() {
    let dir = temp_dir("fwd-gauges");
    let port = free_port();
    let api = free_port();
    let rx = receiver(port, &[], None);
    let props = [
        "host=127.0.0.1".to_owned(),
        format!("port={port}"),
        "alias=fwd".to_owned(),
    ];
    let conf = write_file(&dir, "gauges.conf", "[SERVICE]\n    http_server on\n");
    let mut args: Vec<String> = vec!["-c".into(), conf.display().to_string()];
    args.extend(["-P".into(), api.to_string(), "-i".into(), "stdin".into()]);
    args.extend(["-t".into(), "num".into(), "-o".into(), "forward".into()]);
    args.extend(["-m".into(), "*".into()]);
    for p in &props {
        args.extend(["-p".into(), p.clone()]);
    }
    args.extend(["-f".into(), "0.2".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut tx = spawn(&args);
    let mut stdin = tx.stdin.take().unwrap();
    stdin.write_all(&lines(0, 100)).unwrap();
    rx.wait_for("num", 100);

    let url = format!("http://127.0.0.1:{api}/api/v1/metrics/prometheus");
    let mut text = String::new();
    let found = eventually(T, || {
        text = common::curl(&url, &[]).map(|a| a.body).unwrap_or_default();
        text.contains("fluentbit_output_upstream_total_connections{name=\"fwd\"} 1")
    });
    drop(stdin);
    wait(tx, T);
    rx.stop();
    assert!(found, "{text}");
    assert!(
        text.contains("fluentbit_output_upstream_busy_connections{name=\"fwd\"} 0"),
        "{text}"
    );
}

/// Runs the forward output against `peers/forward_server.py`, a Forward
/// server written with Python's msgpack, and returns the events it
/// printed.
fn to_python_server(props: &[&str]) -> Vec<serde_json::Value> {
    let dir = temp_dir("fwd-python");
    let port_file = dir.join("port");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/forward_server.py");
    let mut server = std::process::Command::new(common::venv_python())
        .arg(&script)
        .arg(&port_file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the python forward server");
    assert!(eventually(T, || std::fs::read_to_string(&port_file)
        .is_ok_and(|p| !p.is_empty())));
    let port = std::fs::read_to_string(&port_file).unwrap();
    let mut all = vec!["host=127.0.0.1".to_owned(), format!("port={port}")];
    all.extend(props.iter().map(|p| (*p).to_owned()));
    let mut tx = sender(&dir, &all);
    tx.stdin.take().unwrap().write_all(&lines(0, 300)).unwrap();
    let out = wait(tx, T);
    let _ = server.kill();
    let printed = server.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", out.stderr);
    common::parse_json_lines(&String::from_utf8_lossy(&printed.stdout))
}

#[test]
fn an_independent_forward_server_reads_every_mode() {
    for (props, mode, options) in [
        (&[][..], "forward", &[][..]),
        (
            &["compress=gzip"][..],
            "compressed",
            &["compressed", "size"][..],
        ),
        (
            &["require_ack_response=on", "tag=renamed"][..],
            "forward",
            &["chunk", "size"][..],
        ),
    ] {
        let events = to_python_server(props);
        assert_eq!(events.len(), 300, "{props:?}");
        let ns: Vec<i64> = events
            .iter()
            .map(|e| e["record"]["n"].as_i64().unwrap())
            .collect();
        assert_eq!(ns, (0..300).collect::<Vec<_>>(), "{props:?}");
        let first = &events[0];
        assert_eq!(first["mode"], mode, "{props:?}");
        let want: Vec<serde_json::Value> = options.iter().map(|o| (*o).into()).collect();
        assert_eq!(first["options"].as_array().unwrap(), &want, "{props:?}");
        let tag = if props.contains(&"tag=renamed") {
            "renamed"
        } else {
            "num"
        };
        assert_eq!(first["tag"], tag);
        assert!(
            first["time"].as_f64().unwrap() > 1.7e9,
            "EventTime decoded: {first}"
        );
    }
}

#[test]
fn forward_over_mutual_tls_delivers_exactly_once() {
    let dir = temp_dir("fwd-mtls");
    let certs = test_certificates(&dir);
    let crt = format!("tls.crt_file={}", certs.crt.display());
    let key = format!("tls.key_file={}", certs.key.display());
    let ca = format!("tls.ca_file={}", certs.ca.display());
    exactly_once(
        &["tls=on", &crt, &key, &ca, "tls.verify_client_cert=on"],
        &["tls=on", &ca, &crt, &key],
    );
}

#[test]
fn mutual_tls_with_encrypted_keys_on_both_sides_delivers_exactly_once() {
    let dir = temp_dir("fwd-mtls-enc");
    let certs = test_certificates(&dir);
    let rx_key = common::encrypted_key(&dir, &certs.key, "rx.key", "rx pass");
    let tx_key = common::encrypted_key(&dir, &certs.key, "tx.key", "tx-s3cret");
    let crt = format!("tls.crt_file={}", certs.crt.display());
    let ca = format!("tls.ca_file={}", certs.ca.display());
    let rx_key = format!("tls.key_file={}", rx_key.display());
    let tx_key = format!("tls.key_file={}", tx_key.display());
    exactly_once(
        &[
            "tls=on",
            &crt,
            &rx_key,
            "tls.key_passwd=rx pass",
            &ca,
            "tls.verify_client_cert=on",
        ],
        &["tls=on", &ca, &crt, &tx_key, "tls.key_passwd=tx-s3cret"],
    );
}

#[test]
fn tls_verify_off_trusts_any_server_and_verify_on_refuses_an_unknown_one() {
    let dir = temp_dir("fwd-noverify");
    let certs = test_certificates(&dir);
    let crt = format!("tls.crt_file={}", certs.crt.display());
    let key = format!("tls.key_file={}", certs.key.display());
    exactly_once(&["tls=on", &crt, &key], &["tls=on", "tls.verify=off"]);

    // Trusting only the server's own leaf (not its CA) cannot verify it.
    let port = free_port();
    let rx = receiver(port, &["tls=on", &crt, &key], None);
    let props = [
        "host=127.0.0.1".to_owned(),
        format!("port={port}"),
        "tls=on".to_owned(),
        format!("tls.ca_file={}", certs.crt.display()),
        "retry_limit=1".to_owned(),
    ];
    let mut tx = sender(&dir, &props);
    tx.stdin.take().unwrap().write_all(&lines(0, 10)).unwrap();
    let out = wait(tx, T);
    assert!(
        out.stderr.contains("tls handshake with 127.0.0.1"),
        "{}",
        out.stderr
    );
    assert!(rx.records("num").is_empty());
    rx.stop();
}
