//! Parsers through the real binary: `-R conf/parsers.conf` and config
//! files, the stdin parser and the parser filter on real sample lines,
//! times with zones and fractions, types, and bad `[PARSER]`s refused by
//! `--dry-run` with their file and line.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{run, temp_dir, write_file};
use serde_json::Value;

const T: Duration = Duration::from_secs(20);

fn shipped_parsers() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../conf/parsers.conf");
    path.to_str().expect("utf-8 path").to_owned()
}

/// Runs stdin -> (parser) -> stdout as JSON lines with the time as an
/// ISO 8601 `date`, returning the records.
fn through_stdin(parser: &str, input: &str) -> Vec<Value> {
    let conf = shipped_parsers();
    let args = [
        "-R",
        &conf,
        "-i",
        "stdin",
        "-p",
        &format!("parser={parser}"),
        "-o",
        "stdout",
        "-p",
        "format=json_lines",
        "-p",
        "json_date_format=iso8601",
        "-f",
        "0.2",
    ];
    let out = run(&args, input.as_bytes(), T);
    assert!(out.status.success(), "{}", out.stderr);
    out.json_lines()
}

#[test]
fn stdin_parses_apache2_lines_and_keeps_unmatched_ones_whole() {
    let input = "\
192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] \"GET /cgi-bin/try/ HTTP/1.0\" 200 3395 \"-\" \"curl/8.4.0\"
this line is not an access log
127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326 \"http://example.com/\" \"Mozilla/5.0\"
";
    let records = through_stdin("apache2", input);
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(records[0]["date"], "2006-07-28T13:27:10.000000Z");
    assert_eq!(records[0]["host"], "192.168.2.20");
    assert_eq!(records[0]["path"], "/cgi-bin/try/");
    assert_eq!(records[0]["agent"], "curl/8.4.0");
    assert!(records[0].get("time").is_none(), "{:?}", records[0]);
    assert_eq!(records[1]["log"], "this line is not an access log");
    assert_eq!(records[2]["user"], "frank");
    assert_eq!(records[2]["date"], "2000-10-10T20:55:36.000000Z");
}

#[test]
fn stdin_parses_nginx_and_syslog() {
    let nginx = "93.184.216.34 - - [14/Nov/2023:22:13:20 +0000] \"POST /api/v1/orders HTTP/1.1\" 201 512 \"-\" \"curl/8.4.0\"\n";
    let records = through_stdin("nginx", nginx);
    assert_eq!(records[0]["remote"], "93.184.216.34");
    assert_eq!(records[0]["code"], "201");
    assert_eq!(records[0]["date"], "2023-11-14T22:13:20.000000Z");

    let rfc5424 = "<165>1 2003-10-11T22:14:15.003+02:00 mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut=\"3\"] An application event\n";
    let records = through_stdin("syslog-rfc5424", rfc5424);
    assert_eq!(records[0]["date"], "2003-10-11T20:14:15.003000Z");
    assert_eq!(records[0]["pid"], 1234, "Types pid:integer");
    assert_eq!(records[0]["message"], "An application event");
    assert_eq!(
        records[0]["time"], "2003-10-11T22:14:15.003+02:00",
        "Time_Keep"
    );

    let rfc3164 = "<34>Oct  1 22:14:15 mymachine su[230]: 'su root' failed on /dev/pts/8\n";
    let records = through_stdin("syslog-rfc3164", rfc3164);
    assert_eq!(records[0]["host"], "mymachine");
    assert_eq!(records[0]["ident"], "su");
    let date = records[0]["date"].as_str().unwrap();
    assert!(date.ends_with("-10-01T22:14:15.000000Z"), "{date}");
}

#[test]
fn stdin_parses_docker_and_cri_container_logs() {
    let docker =
        r#"{"log":"GET /healthz 200\n","stream":"stdout","time":"2018-03-09T01:01:44.851160855Z"}"#;
    let records = through_stdin("docker", &format!("{docker}\n"));
    assert_eq!(records[0]["log"], "GET /healthz 200\n");
    assert_eq!(records[0]["date"], "2018-03-09T01:01:44.851160Z");

    let cri = "2023-11-14T22:13:20.123456789+01:00 stderr F panic: index out of range\n";
    let records = through_stdin("cri", cri);
    assert_eq!(records[0]["stream"], "stderr");
    assert_eq!(records[0]["message"], "panic: index out of range");
    assert_eq!(records[0]["date"], "2023-11-14T21:13:20.123456Z");
}

#[test]
fn parser_filter_from_a_config_file_with_offsets_fractions_and_types() {
    let dir = temp_dir("parser-filter");
    write_file(
        &dir,
        "parsers.conf",
        r#"
[PARSER]
    Name        app
    Format      regex
    Regex       /^(?<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) (?<level>\w+) (?<latency>[\d.]+) (?<ok>true|false) (?<msg>.*)$/
    Time_Key    time
    Time_Format %Y-%m-%d %H:%M:%S.%L
    Time_Offset +0900
    Types       latency:float ok:bool
"#,
    );
    let conf = write_file(
        &dir,
        "main.conf",
        &format!(
            r#"
[SERVICE]
    Flush        0.2
    Parsers_File parsers.conf
    Parsers_File {shipped}

[INPUT]
    Name stdin
    Tag  app

[FILTER]
    Name         parser
    Match        app
    Key_Name     log
    Parser       app
    Parser       logfmt
    Reserve_Data On

[OUTPUT]
    Name             stdout
    Match            *
    Format           json_lines
    Json_Date_Format iso8601
"#,
            shipped = shipped_parsers()
        ),
    );
    let input = concat!(
        "{\"log\":\"2023-11-15 07:13:20.250 warn 12.5 true slow request\",\"pod\":\"web-1\"}\n",
        "{\"log\":\"level=info msg=started\",\"pod\":\"web-2\"}\n",
        "{\"other\":\"no log key\"}\n",
    );
    let out = run(&["-c", conf.to_str().unwrap()], input.as_bytes(), T);
    assert!(out.status.success(), "{}", out.stderr);
    let records = out.json_lines();
    assert_eq!(records.len(), 3, "{}", out.stdout);
    let first = &records[0];
    assert_eq!(first["date"], "2023-11-14T22:13:20.250000Z");
    assert_eq!(first["level"], "warn");
    assert_eq!(first["latency"], 12.5);
    assert_eq!(first["ok"], true);
    assert_eq!(first["pod"], "web-1", "Reserve_Data keeps other fields");
    assert!(first.get("log").is_none());
    assert_eq!(records[1]["msg"], "started", "second parser, logfmt");
    assert_eq!(records[2]["other"], "no log key");
}

#[test]
fn yaml_parsers_section_is_used() {
    let dir = temp_dir("parser-yaml");
    let conf = write_file(
        &dir,
        "main.yaml",
        r#"
service:
  flush: 0.2
parsers:
  - name: kv
    format: ltsv
    types: n:integer
pipeline:
  inputs:
    - name: stdin
      parser: kv
  outputs:
    - name: stdout
      match: "*"
      format: json_lines
"#,
    );
    let out = run(&["-c", conf.to_str().unwrap()], b"a:x\tn:42\n", T);
    assert!(out.status.success(), "{}", out.stderr);
    let records = out.json_lines();
    assert_eq!(records[0]["a"], "x");
    assert_eq!(records[0]["n"], 42);
}

#[test]
fn dry_run_rejects_a_bad_regex_naming_file_line_and_parser() {
    let dir = temp_dir("parser-bad");
    let parsers = write_file(
        &dir,
        "bad.conf",
        "[PARSER]\n    Name   broken\n    Format regex\n    Regex  ^(?<open>[a-z+$\n",
    );
    let conf = write_file(
        &dir,
        "main.conf",
        "[SERVICE]\n    Parsers_File bad.conf\n[INPUT]\n    Name dummy\n[OUTPUT]\n    Name null\n    Match *\n",
    );
    let out = run(&["-c", conf.to_str().unwrap(), "--dry-run"], b"", T);
    assert!(!out.status.success());
    let want = format!("{}:4: key 'Regex': parser 'broken'", parsers.display());
    assert!(out.stderr.contains(&want), "{}", out.stderr);
    assert!(
        out.stderr.contains("invalid regular expression"),
        "{}",
        out.stderr
    );
}

#[test]
fn dry_run_rejects_unknown_parser_keys_formats_and_names() {
    let dir = temp_dir("parser-keys");
    let bad_key = write_file(
        &dir,
        "key.conf",
        "[PARSER]\n    Name   p\n    Format json\n    Time_Kep on\n",
    );
    let out = run(
        &[
            "-R",
            bad_key.to_str().unwrap(),
            "-i",
            "dummy",
            "-o",
            "null",
            "--dry-run",
        ],
        b"",
        T,
    );
    assert!(!out.status.success());
    let want = format!("{}:4: key 'Time_Kep': unknown property", bad_key.display());
    assert!(out.stderr.contains(&want), "{}", out.stderr);

    let bad_format = write_file(&dir, "fmt.conf", "[PARSER]\n    Name p\n    Format xml\n");
    let out = run(
        &[
            "-R",
            bad_format.to_str().unwrap(),
            "-i",
            "dummy",
            "-o",
            "null",
            "--dry-run",
        ],
        b"",
        T,
    );
    assert!(
        out.stderr.contains("unknown parser format 'xml'"),
        "{}",
        out.stderr
    );

    let out = run(
        &[
            "-i",
            "stdin",
            "-p",
            "parser=missing",
            "-o",
            "null",
            "--dry-run",
        ],
        b"",
        T,
    );
    assert!(!out.status.success());
    assert!(
        out.stderr
            .contains("key 'parser': unknown parser 'missing'"),
        "{}",
        out.stderr
    );
}
