//! The `gelf` output through the real binary: chunked, gzip-compressed
//! UDP messages reassembled by this test as Graylog would, and
//! NUL-terminated messages over TCP; records without a short message are
//! dropped and counted.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use common::{spawn, wait};

const T: Duration = Duration::from_secs(20);

fn send(props: &[String], text: &str) -> common::Output {
    let mut args = vec!["-i", "stdin", "-t", "app", "-o", "gelf", "-m", "*"];
    for p in props {
        args.extend(["-p", p.as_str()]);
    }
    args.extend(["-f", "0.2"]);
    let mut child = spawn(&args);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = wait(child, T);
    assert!(out.status.success(), "{}", out.stderr);
    out
}

fn records() -> String {
    let long = "y".repeat(3000);
    format!(
        "{{\"short_message\":\"one\",\"level\":3,\"host\":\"web1\",\"user\":{{\"id\":7}}}}\n\
         {{\"short_message\":\"two\",\"full_message\":\"{long}\"}}\n\
         {{\"nothing\":\"to say\"}}\n"
    )
}

fn check(messages: &[serde_json::Value]) {
    assert_eq!(messages.len(), 2, "{messages:#?}");
    let one = messages
        .iter()
        .find(|m| m["short_message"] == "one")
        .unwrap();
    assert_eq!(one["version"], "1.1");
    assert_eq!(one["level"], 3);
    assert_eq!(one["host"], "web1");
    assert_eq!(one["_user_id"], 7);
    assert!(one["timestamp"].as_f64().unwrap() > 1e9);
    let two = messages
        .iter()
        .find(|m| m["short_message"] == "two")
        .unwrap();
    assert_eq!(two["full_message"].as_str().unwrap().len(), 3000);
}

/// Reassembles GELF chunks and inflates gzip, as a Graylog input does.
fn decode_datagrams(datagrams: Vec<Vec<u8>>, gzip: bool) -> Vec<serde_json::Value> {
    let mut whole = Vec::new();
    let mut parts: HashMap<Vec<u8>, Vec<(u8, Vec<u8>)>> = HashMap::new();
    for d in datagrams {
        if d.starts_with(&[0x1e, 0x0f]) {
            let entry = parts.entry(d[2..10].to_vec()).or_default();
            entry.push((d[10], d[12..].to_vec()));
            if entry.len() == usize::from(d[11]) {
                entry.sort();
                whole.push(entry.iter().flat_map(|(_, p)| p.clone()).collect());
            }
        } else {
            whole.push(d);
        }
    }
    whole
        .into_iter()
        .map(|m| {
            let mut text = Vec::new();
            if gzip {
                flate2::read::GzDecoder::new(&m[..])
                    .read_to_end(&mut text)
                    .unwrap();
            } else {
                text = m;
            }
            serde_json::from_slice(&text).unwrap()
        })
        .collect()
}

/// The datagrams one sluice sends with `props`.
fn udp_run(props: &[&str]) -> (Vec<Vec<u8>>, common::Output) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    let mut all = vec![format!("port={port}")];
    all.extend(props.iter().map(|p| (*p).to_owned()));
    let out = send(&all, &records());
    let mut datagrams = Vec::new();
    let mut buf = vec![0u8; 70_000];
    while let Ok(n) = common::retry_eintr(|| socket.recv(&mut buf)) {
        datagrams.push(buf[..n].to_vec());
    }
    (datagrams, out)
}

#[test]
fn gelf_over_udp_is_chunked_and_compressed() {
    let (datagrams, out) = udp_run(&["packet_size=200", "compress=off"]);
    assert!(
        out.stderr.contains("without_short_message=1"),
        "{}",
        out.stderr
    );
    let chunks = datagrams
        .iter()
        .filter(|d| d.starts_with(&[0x1e, 0x0f]))
        .count();
    assert!(chunks >= 16, "{chunks} chunks");
    assert!(datagrams.iter().all(|d| d.len() <= 200));
    check(&decode_datagrams(datagrams, false));

    let (datagrams, _) = udp_run(&[]);
    assert_eq!(datagrams.len(), 2);
    check(&decode_datagrams(datagrams, true));
}

#[test]
fn gelf_over_tcp_ends_each_message_with_nul() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = common::retry_eintr(|| listener.accept()).unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        all
    });
    send(&[format!("port={port}"), "mode=tcp".to_owned()], &records());
    let bytes = reader.join().unwrap();
    assert_eq!(bytes.last(), Some(&0));
    let messages: Vec<serde_json::Value> = bytes
        .split(|b| *b == 0)
        .filter(|m| !m.is_empty())
        .map(|m| serde_json::from_slice(m).unwrap())
        .collect();
    check(&messages);
}
