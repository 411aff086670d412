//! The `http` output through the real binary, against a strict receiver
//! in the test: body formats (GELF among them), headers, basic auth,
//! gzip, and what each
//! answer leads to (429 then 200 retried, 500 retried until the limit,
//! 400 dropped and counted, a slow answer timed out and retried).

mod common;

use std::time::Duration;

use common::http_out::{records, Pipeline};
use common::http_sink::{Answer, HttpSink};
use serde_json::Value;
use sluice_core::event::Events;

const T: Duration = Duration::from_secs(10);

fn output(sink: &HttpSink, extra: &str) -> String {
    format!("    Name http\n    Port {}\n{extra}", sink.port)
}

fn ids(lines: &str) -> Vec<u64> {
    lines
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("a JSON line")["id"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[test]
fn json_lines_arrive_gzipped_with_headers_auth_and_tag() {
    let sink = HttpSink::ok();
    let sluice = Pipeline::start(&output(
        &sink,
        "    Uri /ingest?src=sluice\n    Format json_lines\n    Json_Date_Key ts\n    \
         Json_Date_Format epoch\n    Header X-Team blue\n    Header X-Team green\n    \
         Header_Tag X-Tag\n    Http_User ann\n    Http_Passwd s3cret\n    Compress gzip\n",
    ));
    sluice.send(&records(0..3));
    let got = sink.wait_for(1, T);
    let out = sluice.stop();
    assert_eq!(sink.violations(), Vec::<String>::new());
    assert_eq!(got.len(), 1, "{}", out.stderr);

    let req = &got[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/ingest?src=sluice")
    );
    assert_eq!(req.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(req.header("content-encoding"), Some("gzip"));
    assert_eq!(req.headers_named("x-team"), ["blue", "green"]);
    assert_eq!(req.header("x-tag"), Some("app.web"));
    // base64("ann:s3cret")
    assert_eq!(req.header("authorization"), Some("Basic YW5uOnMzY3JldA=="));
    let text = req.text();
    assert!(text.ends_with('\n'), "{text}");
    assert_eq!(ids(&text), [0, 1, 2]);
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(first["ts"].as_u64().unwrap() > 1_700_000_000, "{first}");
    assert_eq!(first["msg"], "record 0");
}

#[test]
fn json_is_one_array_and_msgpack_is_the_stored_events() {
    let json_sink = HttpSink::ok();
    let msgpack_sink = HttpSink::ok();
    let sluice = Pipeline::start(&format!(
        "{}\n[OUTPUT]\n    Match *\n{}",
        output(&json_sink, "    Format json\n    Http_Method PUT\n"),
        output(&msgpack_sink, "")
    ));
    sluice.send(&records(0..2));
    let json = json_sink.wait_for(1, T);
    let msgpack = msgpack_sink.wait_for(1, T);
    sluice.stop();
    assert!(json_sink.violations().is_empty() && msgpack_sink.violations().is_empty());

    assert_eq!(json[0].method, "PUT");
    assert_eq!(json[0].header("content-type"), Some("application/json"));
    let array: Value = serde_json::from_slice(&json[0].body).expect("one JSON document");
    let ids: Vec<_> = array
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64())
        .collect();
    assert_eq!(ids, [Some(0), Some(1)]);
    assert!(array[0]["date"].is_f64());

    assert_eq!(
        msgpack[0].header("content-type"),
        Some("application/msgpack")
    );
    let events: Vec<_> = Events::new(&msgpack[0].body)
        .map(|e| e.expect("a well-formed event").decode().unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1].body.get("msg"),
        Some(&sluice_core::Value::Str("record 1".into()))
    );
}

#[test]
fn gelf_sends_one_message_per_line_with_the_configured_keys() {
    let sink = HttpSink::ok();
    let sluice = Pipeline::start(&output(
        &sink,
        "    Format gelf
    Gelf_Short_Message_Key log
    Gelf_Full_Message_Key trace
    \
         Gelf_Timestamp_Key ts
    Gelf_Host_Key source
    Gelf_Level_Key lvl
",
    ));
    sluice.send(&[
        r#"{"id":1,"log":"started","trace":"at main()","ts":1700000000.5,"source":"web-1","lvl":6,"user":{"name":"ann","admin":false},"gone":null}"#.into(),
        r#"{"id":2,"msg":"no short message: dropped"}"#.into(),
        r#"{"id":3,"log":"defaults"}"#.into(),
    ]);
    let got = sink.wait_for(1, T);
    let out = sluice.stop();
    assert_eq!(sink.violations(), Vec::<String>::new());
    assert_eq!(got.len(), 1, "{}", out.stderr);
    assert_eq!(got[0].header("content-type"), Some("application/json"));

    let text = got[0].text();
    assert!(text.ends_with('\n'), "every message ends its line: {text}");
    let messages: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one GELF message"))
        .collect();
    assert_eq!(messages.len(), 2, "{text}");
    let first = &messages[0];
    assert_eq!(first["version"], "1.1");
    assert_eq!(first["short_message"], "started");
    assert_eq!(first["full_message"], "at main()");
    assert_eq!(first["host"], "web-1");
    assert_eq!(first["timestamp"], 1_700_000_000.5);
    assert_eq!(first["level"], 6);
    // GELF reserves `_id`; a record's `id` goes as `__id`.
    assert_eq!(first["__id"], 1);
    assert_eq!(first["_user_name"], "ann");
    assert_eq!(first["_user_admin"], "false");
    let names: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for left_out in [
        "_id", "log", "trace", "ts", "source", "lvl", "_gone", "_log",
    ] {
        assert!(!names.contains(&left_out), "{left_out} in {first}");
    }

    let defaults = &messages[1];
    assert_eq!(defaults["short_message"], "defaults");
    assert_eq!(defaults["host"], "sluice");
    assert!(
        defaults["timestamp"].as_f64().unwrap() > 1_700_000_000.0,
        "the event's time: {defaults}"
    );
    assert!(defaults.get("level").is_none(), "{defaults}");
    assert!(
        out.stderr
            .contains("a GELF message needs its short message")
            && out.stderr.contains("without_short_message=1"),
        "{}",
        out.stderr
    );
}

#[test]
fn too_many_requests_is_retried_and_delivered_once() {
    let sink = HttpSink::start(|_, n| match n {
        0 => Answer::status(429, "slow down"),
        _ => Answer::status(200, "{}"),
    });
    let sluice = Pipeline::start(&output(&sink, "    Format json_lines\n    Retry_Limit 3\n"));
    sluice.send(&records(0..3));
    let got = sink.wait_for(2, T);
    std::thread::sleep(Duration::from_millis(1500));
    let out = sluice.stop();
    assert!(sink.violations().is_empty());
    let got_after = sink.received();
    assert_eq!(
        got_after.len(),
        2,
        "one refused, one delivered: {}",
        out.stderr
    );
    assert_eq!(ids(&got[0].text()), [0, 1, 2]);
    assert_eq!(got[0].body, got[1].body, "the retry sends the same records");
    assert!(
        out.stderr.contains("HTTP status 429; slow down"),
        "{}",
        out.stderr
    );
}

#[test]
fn server_errors_are_retried_until_the_limit_then_dropped() {
    let sink = HttpSink::start(|_, _| Answer::status(503, "unavailable"));
    let sluice = Pipeline::start(&output(&sink, "    Format json_lines\n    Retry_Limit 1\n"));
    sluice.send(&records(0..2));
    sink.wait_for(2, T);
    std::thread::sleep(Duration::from_millis(1500));
    let out = sluice.stop();
    assert_eq!(sink.received().len(), 2, "first try and one retry");
    assert!(out.stderr.contains("retries exhausted"), "{}", out.stderr);
}

#[test]
fn client_errors_are_dropped_at_once_and_logged_with_the_body() {
    let sink = HttpSink::start(|_, _| Answer::status(400, r#"{"error":"bad mapping"}"#));
    let sluice = Pipeline::start(&output(&sink, "    Format json_lines\n    Retry_Limit 5\n"));
    sluice.send(&records(0..2));
    sink.wait_for(1, T);
    std::thread::sleep(Duration::from_millis(1500));
    let out = sluice.stop();
    assert_eq!(sink.received().len(), 1, "a 400 is never retried");
    assert!(
        out.stderr.contains("chunk dropped for this output"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(r#"HTTP status 400; {"error":"bad mapping"}"#),
        "{}",
        out.stderr
    );
}

#[test]
fn a_slow_answer_times_out_and_is_retried() {
    let sink = HttpSink::start(|_, n| Answer {
        delay: if n == 0 {
            Duration::from_secs(4)
        } else {
            Duration::ZERO
        },
        ..Answer::status(200, "{}")
    });
    let sluice = Pipeline::start(&output(
        &sink,
        "    Format json_lines\n    net.io_timeout 1s\n    Retry_Limit 2\n",
    ));
    sluice.send(&records(0..2));
    let got = sink.wait_for(2, T);
    let out = sluice.stop();
    assert_eq!(got.len(), 2, "{}", out.stderr);
    assert_eq!(got[0].body, got[1].body);
    assert!(
        out.stderr.contains("no response within 1s"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_unreachable_server_is_retried() {
    let port = common::free_port();
    let sluice = Pipeline::start(&format!(
        "    Name http\n    Port {port}\n    Format json_lines\n    Retry_Limit 1\n"
    ));
    sluice.send(&records(0..1));
    std::thread::sleep(Duration::from_millis(2500));
    let out = sluice.stop();
    assert!(out.stderr.contains("cannot connect"), "{}", out.stderr);
    assert!(out.stderr.contains("retries exhausted"), "{}", out.stderr);
}

#[test]
fn requests_reuse_one_kept_alive_connection() {
    let sink = HttpSink::ok();
    let sluice = Pipeline::start(&output(&sink, "    Format json_lines\n"));
    for i in 0..3 {
        sluice.send(&records(i..i + 1));
        sink.wait_for(i + 1, T);
    }
    sluice.stop();
    let got = sink.received();
    assert_eq!(got.len(), 3);
    assert!(
        got.iter().all(|r| r.connection == 0),
        "one connection for all: {got:?}"
    );
}

#[test]
fn tls_verifies_the_server_against_the_ca_file_and_its_name() {
    let dir = common::temp_dir("http-out-tls");
    let certs = common::test_certificates(&dir);
    let sink = HttpSink::start_tls(&certs.crt, &certs.key, |_, _| Answer::status(200, "{}"));
    let wrong_name = HttpSink::start_tls(&certs.crt, &certs.key, |_, _| Answer::status(200, "{}"));
    let tls = |sink: &HttpSink, extra: &str| {
        output(
            sink,
            &format!(
                "    Format json_lines\n    tls on\n    tls.verify on\n    \
                 tls.ca_file {}\n    Retry_Limit 1\n{extra}",
                certs.ca.display()
            ),
        )
    };
    let sluice = Pipeline::start(&format!(
        "{}\n[OUTPUT]\n    Match *\n{}",
        tls(&sink, "    tls.verify_hostname on\n"),
        tls(
            &wrong_name,
            "    tls.verify_hostname on\n    tls.vhost other.example\n"
        ),
    ));
    sluice.send(&records(0..2));
    let got = sink.wait_for(1, T);
    std::thread::sleep(Duration::from_millis(1500));
    let out = sluice.stop();
    assert_eq!(ids(&got[0].text()), [0, 1], "{}", out.stderr);
    assert!(
        wrong_name.received().is_empty(),
        "a certificate for another name is refused"
    );
    assert!(
        out.stderr.contains("tls handshake failed"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_bad_output_setting_stops_the_start_naming_file_line_and_key() {
    let dir = common::temp_dir("http-out-bad");
    let conf = common::write_file(
        &dir,
        "bad.conf",
        "[INPUT]\n    Name dummy\n\n[OUTPUT]\n    Name es\n    Match *\n    \
         Write_Operation upsert\n",
    );
    let out = common::run(&["-c", conf.to_str().unwrap(), "--dry-run"], b"", T);
    assert!(!out.status.success());
    assert!(out.stderr.contains("bad.conf:7"), "{}", out.stderr);
    assert!(
        out.stderr.contains("key 'Write_Operation'"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("need id_key or generate_id"),
        "{}",
        out.stderr
    );
}

#[test]
fn plain_http_goes_through_http_proxy_unless_no_proxy_names_the_host() {
    let proxy = HttpSink::ok();
    let direct = HttpSink::ok();
    // With credentials, percent-encoded as URLs have them: they go to the
    // proxy as Proxy-Authorization, and never to the direct destination.
    let proxy_url = format!("http://log%40ops:s%3Acret@127.0.0.1:{}", proxy.port);
    let sluice = Pipeline::start_with_env(
        &format!(
            "    Name http\n    Host logs.example\n    Port 8080\n    Uri /in\n    \
             Format json_lines\n\n[OUTPUT]\n    Match *\n{}",
            output(&direct, "    Host localhost\n    Format json_lines\n")
        ),
        &[("HTTP_PROXY", &proxy_url), ("NO_PROXY", "localhost")],
    );
    sluice.send(&records(0..1));
    let proxied = proxy.wait_for(1, T);
    let straight = direct.wait_for(1, T);
    let out = sluice.stop();
    assert_eq!(proxied.len(), 1, "{}", out.stderr);
    assert_eq!(proxied[0].path, "http://logs.example:8080/in");
    assert_eq!(proxied[0].header("host"), Some("logs.example:8080"));
    // base64 of "log@ops:s:cret"
    assert_eq!(
        proxied[0].header("proxy-authorization"),
        Some("Basic bG9nQG9wczpzOmNyZXQ=")
    );
    assert_eq!(ids(&proxied[0].text()), [0]);
    assert_eq!(straight.len(), 1, "NO_PROXY hosts are reached directly");
    assert_eq!(straight[0].path, "/");
    assert_eq!(straight[0].header("proxy-authorization"), None);
}
