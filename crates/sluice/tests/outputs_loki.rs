//! The `loki` output through the real binary, against a receiver that
//! reads the push body strictly: one stream per label set, entries in
//! time order with nanosecond timestamps as strings, structured metadata,
//! the tenant and auth headers.

mod common;

use std::time::Duration;

use common::http_out::Pipeline;
use common::http_sink::{Answer, HttpSink};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(10);

fn lines(apps: &[&str]) -> Vec<String> {
    apps.iter()
        .enumerate()
        .map(|(i, app)| json!({"app": app, "n": i, "msg": format!("line {i}")}).to_string())
        .collect()
}

#[test]
fn records_are_pushed_as_one_stream_per_label_set() {
    let sink = HttpSink::start(|_, _| Answer::status(204, ""));
    let sluice = Pipeline::start(&format!(
        "    Name loki\n    Port {}\n    Labels job=sluice, $app\n    Remove_Keys $app\n    \
         Tenant_ID team-a\n    Bearer_Token tok3n\n    Compress gzip\n    \
         Structured_Metadata rid=$n\n",
        sink.port
    ));
    sluice.send(&lines(&["web", "db", "web", "web", "db"]));
    let got = sink.wait_for(1, T);
    let out = sluice.stop();
    assert_eq!(sink.violations(), Vec::<String>::new());
    assert_eq!(got.len(), 1, "{}", out.stderr);

    let req = &got[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/loki/api/v1/push")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("x-scope-orgid"), Some("team-a"));
    assert_eq!(req.header("authorization"), Some("Bearer tok3n"));
    let push: Value = serde_json::from_str(&req.text()).expect("a JSON body");
    let streams = push["streams"].as_array().expect("streams");
    assert_eq!(streams.len(), 2, "{push}");
    assert_eq!(streams[0]["stream"], json!({"app": "web", "job": "sluice"}));
    assert_eq!(streams[1]["stream"], json!({"app": "db", "job": "sluice"}));

    let mut last = 0u128;
    let mut web = Vec::new();
    for entry in streams[0]["values"].as_array().unwrap() {
        let ns = entry[0].as_str().expect("the time is a string");
        assert_eq!(ns.len(), 19, "nanoseconds since the epoch: {ns}");
        let ns: u128 = ns.parse().unwrap();
        assert!(ns >= last, "entries in time order");
        last = ns;
        let line: Value = serde_json::from_str(entry[1].as_str().unwrap()).unwrap();
        assert!(line.get("app").is_none(), "removed from the line: {line}");
        let n = line["n"].as_u64().unwrap();
        assert_eq!(
            entry[2],
            json!({"rid": n.to_string()}),
            "structured metadata"
        );
        web.push(n);
    }
    assert_eq!(web, [0, 2, 3]);
    assert_eq!(streams[1]["values"].as_array().unwrap().len(), 2);
}

#[test]
fn key_value_lines_and_a_refused_push_is_dropped() {
    let sink = HttpSink::start(|_, _| Answer::status(400, "entry out of order"));
    let sluice = Pipeline::start(&format!(
        "    Name loki\n    Port {}\n    Line_Format key_value\n    Retry_Limit 3\n",
        sink.port
    ));
    sluice.send(&lines(&["web"]));
    let got = sink.wait_for(1, T);
    std::thread::sleep(Duration::from_millis(1500));
    let out = sluice.stop();
    assert_eq!(sink.received().len(), 1, "a 400 is not retried");
    let push: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(push["streams"][0]["stream"], json!({"job": "fluent-bit"}));
    assert_eq!(push["streams"][0]["values"][0][1], "app=web msg=line 0 n=0");
    assert!(
        out.stderr.contains("HTTP status 400; entry out of order"),
        "{}",
        out.stderr
    );
}

/// One protobuf field: its number and its varint or length-delimited
/// value. Any other wire type fails the test, as Loki would refuse it.
#[derive(Debug)]
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// Reads a protobuf message into its fields, strictly: every byte must
/// belong to a well-formed field.
fn fields(mut bytes: &[u8]) -> Vec<(u64, Field<'_>)> {
    fn varint(bytes: &mut &[u8]) -> u64 {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = bytes.split_first().expect("a varint cut short");
            *bytes = rest;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return n;
            }
        }
        panic!("a varint over ten bytes");
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes);
        let field = match key & 7 {
            0 => Field::Varint(varint(&mut bytes)),
            2 => {
                let len = varint(&mut bytes) as usize;
                assert!(len <= bytes.len(), "a field longer than its message");
                let (value, rest) = bytes.split_at(len);
                bytes = rest;
                Field::Bytes(value)
            }
            other => panic!("wire type {other} in a push request"),
        };
        out.push((key >> 3, field));
    }
    out
}

fn bytes_of<'a>(field: &Field<'a>) -> &'a [u8] {
    match field {
        Field::Bytes(b) => b,
        Field::Varint(_) => panic!("expected a string or message"),
    }
}

#[test]
fn compress_snappy_pushes_protobuf_as_loki_reads_it() {
    let sink = HttpSink::start(|_, _| Answer::status(204, ""));
    let sluice = Pipeline::start(&format!(
        "    Name loki\n    Port {}\n    Labels job=sluice, $app\n    Remove_Keys $app\n    \
         Compress snappy\n    Structured_Metadata rid=$n\n",
        sink.port
    ));
    sluice.send(&lines(&["web", "db", "web"]));
    let got = sink.wait_for(1, T);
    let out = sluice.stop();
    assert_eq!(sink.violations(), Vec::<String>::new());
    assert_eq!(got.len(), 1, "{}", out.stderr);
    let req = &got[0];
    assert_eq!(req.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(req.header("content-encoding"), None);

    let body = snap::raw::Decoder::new()
        .decompress_vec(&req.body)
        .expect("one Snappy block");
    let mut streams = Vec::new();
    for (number, stream) in fields(&body) {
        assert_eq!(number, 1, "PushRequest holds only streams");
        let mut labels = String::new();
        let mut entries = Vec::new();
        for (number, value) in fields(bytes_of(&stream)) {
            match number {
                1 => labels = String::from_utf8(bytes_of(&value).to_vec()).unwrap(),
                2 => {
                    let (mut seconds, mut nanos, mut line, mut metadata) = (0, 0, None, vec![]);
                    for (number, value) in fields(bytes_of(&value)) {
                        match (number, &value) {
                            (1, Field::Bytes(ts)) => {
                                for (n, v) in fields(ts) {
                                    match (n, v) {
                                        (1, Field::Varint(s)) => seconds = s,
                                        (2, Field::Varint(ns)) => nanos = ns,
                                        other => panic!("timestamp field {other:?}"),
                                    }
                                }
                            }
                            (2, Field::Bytes(l)) => {
                                line = Some(serde_json::from_slice::<Value>(l).unwrap());
                            }
                            (3, Field::Bytes(pair)) => {
                                let pair = fields(pair);
                                let text = |f: &Field<'_>| {
                                    String::from_utf8(bytes_of(f).to_vec()).unwrap()
                                };
                                metadata.push((text(&pair[0].1), text(&pair[1].1)));
                            }
                            other => panic!("entry field {other:?}"),
                        }
                    }
                    assert!(seconds > 1_700_000_000 && nanos < 1_000_000_000);
                    entries.push((seconds * 1_000_000_000 + nanos, line.unwrap(), metadata));
                }
                other => panic!("stream field {other}"),
            }
        }
        streams.push((labels, entries));
    }
    assert_eq!(streams.len(), 2, "one stream per label set");
    assert_eq!(streams[0].0, r#"{app="web", job="sluice"}"#);
    assert_eq!(streams[1].0, r#"{app="db", job="sluice"}"#);
    let web = &streams[0].1;
    assert!(web[0].0 <= web[1].0, "entries in time order");
    let numbers: Vec<u64> = web
        .iter()
        .map(|(_, l, _)| l["n"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [0, 2]);
    assert!(web[0].1.get("app").is_none(), "removed from the line");
    assert_eq!(web[1].2, [("rid".to_owned(), "2".to_owned())]);
}
