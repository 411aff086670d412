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
