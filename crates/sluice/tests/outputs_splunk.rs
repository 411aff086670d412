//! The `splunk` output through the real binary, against a receiver that
//! checks the HEC request: the token and channel headers, the path, one
//! JSON object per event with its time, metadata and fields, gzip; and
//! that a refused token is dropped while a busy server is retried.

mod common;

use std::time::Duration;

use common::http_out::{records, Pipeline};
use common::http_sink::{Answer, HttpSink};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(10);

#[test]
fn events_reach_the_collector_with_token_metadata_and_fields() {
    let sink = HttpSink::start(|_, _| Answer::status(200, r#"{"text":"Success","code":0}"#));
    let sluice = Pipeline::start(&format!(
        "    Name splunk\n    Port {}\n    Splunk_Token 11-22-33\n    Channel ch-1\n    \
         Event_Host $msg\n    Event_Sourcetype sluice\n    Event_Index main\n    \
         Event_Field env prod\n    Event_Field rid $id\n    Compress gzip\n",
        sink.port
    ));
    sluice.send(&records(0..3));
    let got = sink.wait_for(1, T);
    let out = sluice.stop();
    assert_eq!(sink.violations(), Vec::<String>::new());
    assert_eq!(got.len(), 1, "{}", out.stderr);

    let req = &got[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/services/collector/event")
    );
    assert_eq!(req.header("authorization"), Some("Splunk 11-22-33"));
    assert_eq!(req.header("x-splunk-request-channel"), Some("ch-1"));
    assert_eq!(req.header("content-encoding"), Some("gzip"));
    let text = req.text();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 3, "{text}");
    for (i, event) in events.iter().enumerate() {
        assert!(event["time"].as_f64().unwrap() > 1.7e9, "{event}");
        assert_eq!(event["host"], format!("record {i}"));
        assert_eq!(event["sourcetype"], "sluice");
        assert_eq!(event["index"], "main");
        assert_eq!(
            event["event"],
            json!({"id": i, "msg": format!("record {i}")})
        );
        assert_eq!(event["fields"], json!({"env": "prod", "rid": i}));
    }
}

#[test]
fn a_bad_token_is_dropped_and_a_busy_collector_is_retried() {
    let bad = HttpSink::start(|_, _| Answer::status(403, r#"{"text":"Invalid token","code":4}"#));
    let busy = HttpSink::start(|_, n| match n {
        0 => Answer::status(503, r#"{"text":"Server is busy","code":9}"#),
        _ => Answer::status(200, r#"{"text":"Success","code":0}"#),
    });
    let sluice = Pipeline::start(&format!(
        "    Name splunk\n    Port {}\n    Splunk_Send_Raw On\n    Retry_Limit 3\n\n\
         [OUTPUT]\n    Match *\n    Name splunk\n    Port {}\n    Retry_Limit 3\n",
        bad.port, busy.port
    ));
    sluice.send(&records(0..1));
    let retried = busy.wait_for(2, T);
    std::thread::sleep(Duration::from_millis(1000));
    let out = sluice.stop();
    assert_eq!(bad.received().len(), 1, "a 403 is not retried");
    assert_eq!(
        bad.received()[0].text(),
        "{\"id\":0,\"msg\":\"record 0\"}\n"
    );
    assert!(out.stderr.contains("HTTP status 403"), "{}", out.stderr);
    assert_eq!(retried.len(), 2, "{}", out.stderr);
    assert_eq!(retried[0].body, retried[1].body);
}
