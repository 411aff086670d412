//! The `es` output through the real binary, against a receiver that
//! checks the `_bulk` body strictly (action and source lines in pairs,
//! the final newline) and answers item by item: stored items are never
//! sent again, items refused with 429 are, alone, and items refused with
//! 400 are dropped and counted.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::http_out::{records, Pipeline};
use common::http_sink::{Answer, HttpSink, Received};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(10);

/// The (action, source) pairs of a bulk body, checked line by line.
fn pairs(req: &Received) -> Vec<(Value, Value)> {
    let text = req.text();
    assert!(
        text.ends_with('\n'),
        "a bulk body ends with a newline: {text:?}"
    );
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is one JSON object"))
        .collect();
    assert_eq!(lines.len() % 2, 0, "{text}");
    lines
        .chunks(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect()
}

fn id_of(source: &Value) -> u64 {
    source["id"].as_u64().expect("an id")
}

/// Ids ending in 0 are stored, 1 refused once with 429, 2 refused with
/// 400 (ids 0..9 spread over the three).
fn item_answer(req: &Received, tries: &std::sync::Mutex<BTreeMap<u64, u32>>) -> Answer {
    let mut items = Vec::new();
    for (_, source) in pairs(req) {
        let id = id_of(&source);
        let mut tries = tries.lock().unwrap();
        let seen = tries.entry(id).or_insert(0);
        *seen += 1;
        let status = match id % 3 {
            1 if *seen == 1 => 429,
            2 => 400,
            _ => 201,
        };
        let mut item = json!({"_index": "fluent-bit", "status": status});
        if status >= 300 {
            item["error"] = json!({"type": "scripted", "reason": format!("record {id}")});
        }
        items.push(json!({ "create": item }));
    }
    Answer::status(
        200,
        &json!({"took": 1, "errors": true, "items": items}).to_string(),
    )
}

#[test]
fn a_partial_bulk_failure_resends_only_the_429_items_and_drops_the_400_ones() {
    let tries = std::sync::Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    let answer_tries = std::sync::Arc::clone(&tries);
    let sink = HttpSink::start(move |req, _| item_answer(req, &answer_tries));
    let sluice = Pipeline::start(&format!(
        "    Name es\n    Port {}\n    Retry_Limit 3\n",
        sink.port
    ));
    sluice.send(&records(0..9));
    common::eventually(T, || tries.lock().unwrap().values().sum::<u32>() >= 12);
    std::thread::sleep(Duration::from_millis(1500));
    let out = sluice.stop();
    assert_eq!(sink.violations(), Vec::<String>::new());

    let mut sent: BTreeMap<u64, u32> = BTreeMap::new();
    let requests = sink.received();
    for req in &requests {
        assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/_bulk"));
        assert_eq!(req.header("content-type"), Some("application/x-ndjson"));
        for (action, source) in pairs(req) {
            assert_eq!(
                action,
                json!({"create": {"_index": "fluent-bit", "_type": "_doc"}})
            );
            let stamp = source["@timestamp"].as_str().expect("@timestamp");
            assert_eq!(stamp.len(), "2026-01-01T00:00:00.000Z".len(), "{stamp}");
            *sent.entry(id_of(&source)).or_default() += 1;
        }
    }
    let expected: BTreeMap<u64, u32> = (0..9)
        .map(|id| (id, if id % 3 == 1 { 2 } else { 1 }))
        .collect();
    assert_eq!(sent, expected, "{}", out.stderr);
    // The last request carried the retried records and nothing else.
    let last_ids: Vec<u64> = pairs(requests.last().unwrap())
        .iter()
        .map(|(_, s)| id_of(s))
        .collect();
    assert_eq!(last_ids, [1, 4, 7], "{}", out.stderr);
    assert!(
        out.stderr.contains("records refused for good"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("dropped=3"), "{}", out.stderr);
    assert!(
        out.stderr.contains("item status 429; scripted: record 1"),
        "{}",
        out.stderr
    );
}

#[test]
fn logstash_indexes_ids_tags_gzip_and_auth_are_on_the_wire() {
    let sink = HttpSink::ok();
    let sluice = Pipeline::start(&format!(
        "    Name es\n    Port {}\n    Path /search\n    Logstash_Format On\n    \
         Logstash_Prefix app\n    Suppress_Type_Name On\n    Include_Tag_Key On\n    \
         Generate_ID On\n    Time_Key ts\n    HTTP_User elastic\n    HTTP_Passwd pw\n    \
         Compress gzip\n",
        sink.port
    ));
    sluice.send(&records(0..2));
    let got = sink.wait_for(1, T);
    sluice.stop();
    assert!(sink.violations().is_empty());
    let req = &got[0];
    assert_eq!(req.path, "/search/_bulk");
    assert_eq!(req.header("content-encoding"), Some("gzip"));
    assert_eq!(req.header("authorization"), Some("Basic ZWxhc3RpYzpwdw=="));
    let pairs = pairs(req);
    assert_eq!(pairs.len(), 2);
    let today = chrono::Utc::now().format("app-%Y.%m.%d").to_string();
    let mut ids = Vec::new();
    for (action, source) in &pairs {
        let create = &action["create"];
        assert_eq!(create["_index"], today.as_str(), "{action}");
        assert!(create.get("_type").is_none(), "{action}");
        ids.push(create["_id"].as_str().expect("a generated id").to_owned());
        assert_eq!(source["_flb-key"], "app.web");
        assert!(source["ts"].is_string(), "{source}");
    }
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn an_unreadable_answer_retries_the_whole_request() {
    let sink = HttpSink::start(|_, n| match n {
        0 => Answer::status(200, "<html>proxy</html>"),
        _ => Answer::status(200, r#"{"errors":false,"items":[]}"#),
    });
    let sluice = Pipeline::start(&format!("    Name es\n    Port {}\n", sink.port));
    sluice.send(&records(0..2));
    let got = sink.wait_for(2, T);
    let out = sluice.stop();
    assert_eq!(got.len(), 2, "{}", out.stderr);
    assert_eq!(got[0].body, got[1].body);
    assert!(
        out.stderr.contains("bulk answer is not readable"),
        "{}",
        out.stderr
    );
}
