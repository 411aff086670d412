//! The shipped `conf/parsers.conf`: every parser builds, and each one
//! reads real sample lines into the fields and times users expect.

use std::path::Path;
use std::sync::Arc;

use sluice_core::config::{load_parsers_file, Config};
use sluice_core::msgpack::Reader;
use sluice_core::parser::{ParseError, ParseState, Parser, Parsers};
use sluice_core::timefmt::DateFormat;
use sluice_core::{EventTime, Map, Value};

fn parsers() -> Parsers {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conf/parsers.conf");
    let mut config = Config::default();
    load_parsers_file(&path, &mut config).expect("parsers.conf loads");
    Parsers::build(&config.parsers, &sluice_plugins::registry()).expect("parsers.conf builds")
}

fn parser(name: &str) -> Arc<dyn Parser> {
    parsers()
        .get(name)
        .unwrap_or_else(|| panic!("no parser {name}"))
}

/// Parses `line`, returning the body and the time as ISO 8601 text.
fn parse(name: &str, line: &str) -> (Map, Option<String>) {
    let mut out = Vec::new();
    let parsed = parser(name)
        .parse(line.as_bytes(), &mut ParseState::default(), &mut out)
        .unwrap_or_else(|e| panic!("{name} on {line:?}: {e}"));
    assert!(!parsed.time_error, "{name}: time did not read in {line:?}");
    let body = Reader::new(&out).map().unwrap();
    (body, parsed.time.map(iso))
}

fn iso(t: EventTime) -> String {
    let mut out = Vec::new();
    DateFormat::Iso8601.write_text(&mut out, t);
    String::from_utf8(out).unwrap()
}

fn s(body: &Map, key: &str) -> String {
    match body.get(key) {
        Some(Value::Str(s)) => s.clone(),
        other => panic!("{key}: {other:?} in {body:?}"),
    }
}

fn this_year() -> i64 {
    let now = chrono::Utc::now();
    chrono::Datelike::year(&now) as i64
}

#[test]
fn every_expected_parser_is_there() {
    let parsers = parsers();
    for name in [
        "json",
        "docker",
        "cri",
        "apache",
        "apache2",
        "apache_error",
        "nginx",
        "syslog-rfc5424",
        "syslog-rfc3164",
        "syslog-rfc3164-local",
        "logfmt",
        "mongodb",
        "envoy",
        "kube-custom",
    ] {
        assert!(parsers.get(name).is_some(), "{name} missing");
    }
}

#[test]
fn json_and_docker() {
    let (body, time) = parse("json", r#"{"time":"14/Nov/2023:22:13:20 +0000","k":"v"}"#);
    assert_eq!(time.as_deref(), Some("2023-11-14T22:13:20.000000Z"));
    assert_eq!(body.keys().collect::<Vec<_>>(), ["k"]);

    let line =
        r#"{"log":"GET /healthz 200\n","stream":"stdout","time":"2018-03-09T01:01:44.851160855Z"}"#;
    let (body, time) = parse("docker", line);
    assert_eq!(time.as_deref(), Some("2018-03-09T01:01:44.851160Z"));
    assert_eq!(s(&body, "log"), "GET /healthz 200\n");
    assert_eq!(s(&body, "stream"), "stdout");
    assert_eq!(s(&body, "time"), "2018-03-09T01:01:44.851160855Z");
}

#[test]
fn cri() {
    let line =
        "2023-11-14T22:13:20.123456789+01:00 stderr F panic: runtime error: index out of range";
    let (body, time) = parse("cri", line);
    assert_eq!(time.as_deref(), Some("2023-11-14T21:13:20.123456Z"));
    assert_eq!(s(&body, "stream"), "stderr");
    assert_eq!(s(&body, "logtag"), "F");
    assert_eq!(
        s(&body, "message"),
        "panic: runtime error: index out of range"
    );
    let (body, _) = parse("cri", "2023-11-14T22:13:20.1Z stdout P ");
    assert_eq!(s(&body, "logtag"), "P");
    assert!(body.get("message").is_none(), "empty values are skipped");
}

#[test]
fn apache_common_and_combined() {
    let common =
        r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#;
    let (body, time) = parse("apache", common);
    assert_eq!(time.as_deref(), Some("2000-10-10T20:55:36.000000Z"));
    assert_eq!(s(&body, "host"), "127.0.0.1");
    assert_eq!(s(&body, "user"), "frank");
    assert_eq!(s(&body, "method"), "GET");
    assert_eq!(s(&body, "path"), "/apache_pb.gif");
    assert_eq!(s(&body, "code"), "200");
    assert_eq!(s(&body, "size"), "2326");

    let combined = r#"192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ HTTP/1.0" 200 3395 "http://example.com/start.html" "Mozilla/5.0 (X11; Linux x86_64) \"quoted\"""#;
    let (body, time) = parse("apache2", combined);
    assert_eq!(time.as_deref(), Some("2006-07-28T13:27:10.000000Z"));
    assert_eq!(s(&body, "user"), "-");
    assert_eq!(s(&body, "referer"), "http://example.com/start.html");
    assert_eq!(
        s(&body, "agent"),
        r#"Mozilla/5.0 (X11; Linux x86_64) \"quoted\""#
    );
    let (body, _) = parse("apache2", common);
    assert!(body.get("agent").is_none());
}

#[test]
fn apache_error_24_and_22() {
    let line = "[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 1234:tid 5678] [client 127.0.0.1:50000] AH00126: Invalid URI in request GET /%% HTTP/1.1";
    let (body, time) = parse("apache_error", line);
    assert_eq!(time.as_deref(), Some("2000-10-11T14:32:52.123456Z"));
    assert_eq!(s(&body, "module"), "core");
    assert_eq!(s(&body, "level"), "error");
    assert_eq!(s(&body, "pid"), "1234");
    assert_eq!(s(&body, "tid"), "5678");
    assert_eq!(s(&body, "client"), "127.0.0.1:50000");
    assert!(s(&body, "message").starts_with("AH00126: "));

    let old = "[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration: /export/home/live/ap/htdocs/test";
    let (body, time) = parse("apache_error", old);
    assert_eq!(time.as_deref(), Some("2000-10-11T14:32:52.000000Z"));
    assert_eq!(s(&body, "level"), "error");
    assert!(body.get("module").is_none());
}

#[test]
fn nginx() {
    let line = r#"93.184.216.34 - - [14/Nov/2023:22:13:20 +0000] "POST /api/v1/orders?id=7 HTTP/1.1" 201 512 "-" "curl/8.4.0""#;
    let (body, time) = parse("nginx", line);
    assert_eq!(time.as_deref(), Some("2023-11-14T22:13:20.000000Z"));
    assert_eq!(s(&body, "remote"), "93.184.216.34");
    assert_eq!(s(&body, "method"), "POST");
    assert_eq!(s(&body, "path"), "/api/v1/orders?id=7");
    assert_eq!(s(&body, "code"), "201");
    assert_eq!(s(&body, "agent"), "curl/8.4.0");
}

#[test]
fn syslog_rfc5424() {
    let line = r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry..."#;
    let (body, time) = parse("syslog-rfc5424", line);
    assert_eq!(time.as_deref(), Some("2003-10-11T22:14:15.003000Z"));
    assert_eq!(s(&body, "pri"), "165");
    assert_eq!(s(&body, "host"), "mymachine.example.com");
    assert_eq!(s(&body, "ident"), "evntslog");
    assert_eq!(body.get("pid"), Some(&Value::UInt(1234)));
    assert_eq!(s(&body, "msgid"), "ID47");
    assert!(s(&body, "extradata").starts_with("[exampleSDID@32473 "));
    assert_eq!(s(&body, "message"), "An application event log entry...");

    // No fraction, no structured data, a nil PROCID.
    let line = "<34>1 2003-10-11T22:14:15+02:00 host su - ID47 - 'su root' failed";
    let (body, time) = parse("syslog-rfc5424", line);
    assert_eq!(time.as_deref(), Some("2003-10-11T20:14:15.000000Z"));
    assert_eq!(s(&body, "pid"), "-");
    assert_eq!(s(&body, "extradata"), "-");
    assert_eq!(s(&body, "message"), "'su root' failed");

    // An octet-counted frame may carry a message of several lines.
    let line = "<13>1 2003-10-11T22:14:15.003Z - app - - - first\nsecond\n";
    let (body, _) = parse("syslog-rfc5424", line);
    assert_eq!(s(&body, "message"), "first\nsecond\n");
}

#[test]
fn syslog_rfc3164_takes_the_current_year() {
    let line = "<34>Oct  1 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8";
    let (body, time) = parse("syslog-rfc3164", line);
    let want = format!("{}-10-01T22:14:15.000000Z", this_year());
    assert_eq!(time.as_deref(), Some(want.as_str()));
    assert_eq!(s(&body, "time"), "Oct  1 22:14:15");
    assert_eq!(s(&body, "host"), "mymachine");
    assert_eq!(s(&body, "ident"), "su");
    assert_eq!(s(&body, "pid"), "230");
    assert_eq!(
        s(&body, "message"),
        "'su root' failed for lonvick on /dev/pts/8"
    );

    let local = "<13>Nov 14 22:13:20 CRON[4242]: (root) CMD (run-parts /etc/cron.hourly)";
    let (body, _) = parse("syslog-rfc3164-local", local);
    assert_eq!(s(&body, "ident"), "CRON");
    assert_eq!(s(&body, "pid"), "4242");
    assert_eq!(
        s(&body, "message"),
        "(root) CMD (run-parts /etc/cron.hourly)"
    );

    let lines = "<13>Nov 14 22:13:20 host app: one\ntwo";
    let (body, _) = parse("syslog-rfc3164", lines);
    assert_eq!(s(&body, "message"), "one\ntwo");
}

#[test]
fn logfmt_mongodb_envoy_and_kube() {
    let (body, _) = parse("logfmt", r#"level=warn msg="disk almost full" pct=91"#);
    assert_eq!(s(&body, "msg"), "disk almost full");

    let line = "2014-11-03T18:28:32.450-0500 I NETWORK  [initandlisten] waiting for connections on port 27017 12ms";
    let (body, time) = parse("mongodb", line);
    assert_eq!(time.as_deref(), Some("2014-11-03T23:28:32.450000Z"));
    assert_eq!(s(&body, "severity"), "I");
    assert_eq!(s(&body, "component"), "NETWORK");
    assert_eq!(s(&body, "context"), "initandlisten");
    assert_eq!(s(&body, "message"), "waiting for connections on port 27017");
    assert_eq!(s(&body, "ms"), "12");

    let line = r#"[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80""#;
    let (body, time) = parse("envoy", line);
    assert_eq!(time.as_deref(), Some("2016-04-15T20:17:00.310000Z"));
    assert_eq!(s(&body, "protocol"), "HTTP/2");
    assert_eq!(s(&body, "response_flags"), "-");
    assert_eq!(s(&body, "upstream_host"), "tcp://10.0.2.1:80");

    let id = "aeeccc7a9f00f6e4e066aeff0434cf80621215071f1b20a51e8340aa7c35eac6";
    let name = format!("apache-logs-annotated_default_apache-{id}.log");
    let (body, _) = parse("kube-custom", &name);
    assert_eq!(s(&body, "pod_name"), "apache-logs-annotated");
    assert_eq!(s(&body, "namespace_name"), "default");
    assert_eq!(s(&body, "container_name"), "apache");
    assert_eq!(s(&body, "docker_id"), id);
}

#[test]
fn lines_in_another_format_do_not_match() {
    let mut out = Vec::new();
    let mut state = ParseState::default();
    for name in [
        "apache2",
        "nginx",
        "syslog-rfc5424",
        "syslog-rfc3164",
        "cri",
    ] {
        let got = parser(name).parse(b"just some text", &mut state, &mut out);
        assert_eq!(got, Err(ParseError::NoMatch), "{name}");
    }
    assert!(out.is_empty());
}
