//! The `tcp` and `udp` outputs through the real binary: sluice reads
//! numbered records on stdin and sends them to a plain socket this test
//! reads, in each format; and `tcp` over TLS to a second sluice's `tcp`
//! input.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use common::{free_port, spawn, temp_dir, test_certificates, wait, Run};
use sluice_core::event::Events;

const N: usize = 500;
const T: Duration = Duration::from_secs(20);

fn lines() -> Vec<u8> {
    let mut text = Vec::new();
    for i in 0..N {
        writeln!(text, "{{\"n\":{i},\"s\":\"x\"}}").unwrap();
    }
    text
}

/// Runs stdin → `output` with `props` and feeds the numbered lines.
fn send(output: &str, props: &[String]) {
    let mut args = vec!["-i", "stdin", "-t", "num", "-o", output, "-m", "*"];
    for p in props {
        args.extend(["-p", p.as_str()]);
    }
    args.extend(["-f", "0.2"]);
    let mut child = spawn(&args);
    child.stdin.take().unwrap().write_all(&lines()).unwrap();
    let out = wait(child, T);
    assert!(out.status.success(), "{}", out.stderr);
}

/// Everything one sluice sends over TCP with `format`, until it exits.
fn received_over_tcp(format: &str, extra: &[&str]) -> Vec<u8> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        // Connections in turn: a retry may open a second one.
        listener.set_nonblocking(false).unwrap();
        let (mut s, _) = common::retry_eintr(|| listener.accept()).unwrap();
        s.read_to_end(&mut all).unwrap();
        all
    });
    let mut props = vec![format!("port={port}"), format!("format={format}")];
    props.extend(extra.iter().map(|p| (*p).to_owned()));
    send("tcp", &props);
    reader.join().unwrap()
}

fn numbers(values: impl Iterator<Item = serde_json::Value>) -> Vec<i64> {
    values.map(|v| v["n"].as_i64().expect("n")).collect()
}

fn expected() -> Vec<i64> {
    (0..N as i64).collect()
}

#[test]
fn tcp_json_lines_sends_one_object_a_line() {
    let bytes = received_over_tcp("json_lines", &["json_date_format=iso8601"]);
    let text = String::from_utf8(bytes).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(numbers(records.iter().cloned()), expected());
    assert!(records[0]["date"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn tcp_json_sends_arrays_and_json_stream_objects() {
    let bytes = received_over_tcp("json", &[]);
    let arrays = serde_json::Deserializer::from_slice(&bytes).into_iter::<serde_json::Value>();
    let records = arrays.flat_map(|a| a.unwrap().as_array().unwrap().clone());
    assert_eq!(numbers(records), expected());

    let bytes = received_over_tcp("json_stream", &["json_date_key=false"]);
    let records: Vec<_> = serde_json::Deserializer::from_slice(&bytes)
        .into_iter::<serde_json::Value>()
        .map(Result::unwrap)
        .collect();
    assert!(records[0].get("date").is_none());
    assert_eq!(numbers(records.into_iter()), expected());
}

#[test]
fn tcp_msgpack_sends_the_events_as_they_are() {
    let bytes = received_over_tcp("msgpack", &[]);
    let mut ns = Vec::new();
    for event in Events::new(&bytes) {
        let event = event.unwrap().decode().unwrap();
        match event.body.get("n") {
            Some(sluice_core::Value::UInt(n)) => ns.push(*n as i64),
            Some(sluice_core::Value::Int(n)) => ns.push(*n),
            other => panic!("n is {other:?}"),
        }
    }
    assert_eq!(ns, expected());
}

#[test]
fn tcp_over_tls_reaches_a_tls_tcp_input() {
    let dir = temp_dir("tcp-tls");
    let certs = test_certificates(&dir);
    let port = free_port();
    let inputs = [
        "-i".to_owned(),
        "tcp".to_owned(),
        "-p".to_owned(),
        "listen=127.0.0.1".to_owned(),
        "-p".to_owned(),
        format!("port={port}"),
        "-p".to_owned(),
        "tls=on".to_owned(),
        "-p".to_owned(),
        format!("tls.crt_file={}", certs.crt.display()),
        "-p".to_owned(),
        format!("tls.key_file={}", certs.key.display()),
        "-t".to_owned(),
        "got".to_owned(),
    ];
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let rx = Run::start(&inputs, None, &[]);
    drop(common::connect(port));
    send(
        "tcp",
        &[
            format!("port={port}"),
            "format=json_lines".to_owned(),
            "tls=on".to_owned(),
            format!("tls.ca_file={}", certs.ca.display()),
            "tls.verify_hostname=on".to_owned(),
            "tls.vhost=localhost".to_owned(),
        ],
    );
    let got = rx.wait_for("got", N);
    rx.stop();
    assert_eq!(numbers(got.into_iter()), expected());
}

/// Datagrams one sluice sends over UDP with `props`.
fn received_over_udp(props: &[&str]) -> Vec<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Room for every datagram of a run, so the kernel drops none on
    // loopback while the reader thread starts.
    let raw = socket2::SockRef::from(&socket);
    raw.set_recv_buffer_size(4 << 20).unwrap();
    socket.set_read_timeout(Some(T)).unwrap();
    let port = socket.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 70_000];
        while got.len() < N {
            let Ok(n) = common::retry_eintr(|| socket.recv(&mut buf)) else {
                break;
            };
            got.push(buf[..n].to_vec());
        }
        got
    });
    let mut all = vec![format!("port={port}")];
    all.extend(props.iter().map(|p| (*p).to_owned()));
    send("udp", &all);
    reader.join().unwrap()
}

#[test]
fn udp_sends_a_datagram_per_record() {
    let got = received_over_udp(&["json_date_format=epoch"]);
    assert_eq!(got.len(), N);
    let records = got.iter().map(|d| {
        assert_eq!(d.last(), Some(&b'\n'));
        serde_json::from_slice::<serde_json::Value>(d).unwrap()
    });
    assert_eq!(numbers(records), expected());

    let got = received_over_udp(&["format=msgpack"]);
    assert_eq!(got.len(), N);
    for d in &got {
        assert_eq!(Events::new(d).count(), 1);
    }

    let got = received_over_udp(&["raw_message_key=s"]);
    assert!(got.iter().all(|d| d == b"x"));
}

#[test]
fn udp_retries_resume_after_the_datagrams_already_sent() {
    // The receiver's port is closed when the first flush runs: each
    // attempt's first datagram draws a "port unreachable" and the send
    // after it fails. Once the receiver binds, the retry delivers the
    // rest of the chunk, each record once.
    let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dir = temp_dir("udp-resume");
    let conf = dir.join("sluice.conf");
    std::fs::write(
        &conf,
        format!(
            "[SERVICE]\n    flush 0.2\n    scheduler.base 1\n    scheduler.cap 1\n\
             [INPUT]\n    name stdin\n    tag num\n\
             [OUTPUT]\n    name udp\n    match *\n    port {port}\n    retry_limit false\n"
        ),
    )
    .unwrap();
    let mut child = spawn(&["-c", conf.to_str().unwrap()]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&lines()).unwrap();
    std::thread::sleep(Duration::from_millis(1500));

    let socket = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    socket2::SockRef::from(&socket)
        .set_recv_buffer_size(4 << 20)
        .unwrap();
    socket.set_read_timeout(Some(T)).unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1024];
    while got.last() != Some(&(N as i64 - 1)) {
        let n = common::retry_eintr(|| socket.recv(&mut buf)).expect("the retry's datagrams");
        let record: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
        got.push(record["n"].as_i64().unwrap());
    }
    drop(stdin);
    let out = wait(child, T);
    assert!(out.status.success(), "{}", out.stderr);

    let mut unique = got.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "a record arrived twice: {got:?}");
    // One datagram is lost to the closed port on each failed attempt.
    assert!(got.len() >= N - 10, "only {} of {N} arrived", got.len());
}
