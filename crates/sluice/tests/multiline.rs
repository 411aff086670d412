//! Multiline through the real binary: the `multiline` filter joining a
//! Java stack trace, a Python traceback and a Go panic read from stdin;
//! a `[MULTILINE_PARSER]` of a parsers file; a trace followed by silence
//! released after `flush_ms`; two tags interleaved on TCP never joined,
//! and held records released at shutdown; bad multiline configuration
//! refused with its file, line and key.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{connect, free_port, run, temp_dir, write_file, Run};
use serde_json::Value;

const T: Duration = Duration::from_secs(20);

const JAVA: &str = "\
Exception in thread \"main\" java.lang.IllegalStateException: could not load config
\tat com.example.config.Loader.load(Loader.java:42)
\tat com.example.Main.main(Main.java:12)
Caused by: java.io.FileNotFoundException: /etc/app.yaml (No such file or directory)
\tat java.base/java.io.FileInputStream.open0(Native Method)
\t... 2 more";

const PYTHON: &str = "\
Traceback (most recent call last):
  File \"/srv/app/worker.py\", line 18, in run
    result = handle(job)
  File \"/srv/app/jobs.py\", line 7, in handle
    return 1 / job.weight
ZeroDivisionError: division by zero";

const GO: &str = "\
panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.pick(...)
\t/home/dev/app/main.go:9
main.main()
\t/home/dev/app/main.go:14 +0x1d
exit status 2";

fn logs(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["log"].as_str().unwrap_or("<no log>"))
        .collect()
}

#[test]
fn the_filter_joins_java_python_and_go_traces_from_stdin() {
    let input = format!("service up\n{JAVA}\nrequest done\n{PYTHON}\nretrying\n{GO}\n");
    let args = [
        "-i",
        "stdin",
        "-F",
        "multiline",
        "-m",
        "*",
        "-p",
        "multiline.parser=java, python,go",
        "-o",
        "stdout",
        "-p",
        "format=json_lines",
        "-f",
        "0.2",
    ];
    let out = run(&args, input.as_bytes(), T);
    assert!(out.status.success(), "{}", out.stderr);
    let records = out.json_lines();
    // stdin makes no record of an empty line, so the panic's blank line
    // never reaches the filter.
    let go = GO.replace("\n\n", "\n");
    assert_eq!(
        logs(&records),
        ["service up", JAVA, "request done", PYTHON, "retrying", &go],
        "{}",
        out.stderr
    );
}

/// `main.conf` in `dir`: stdin lines (tagged `app`) through the multiline
/// filter with `ml_parser` on `log`, printed as JSON lines with `output`'s
/// extra keys; the parsers come from `parsers.conf` beside it.
fn stdin_filter_conf(dir: &Path, ml_parser: &str, output: &str) -> PathBuf {
    write_file(
        dir,
        "main.conf",
        &format!(
            "[SERVICE]\n    Flush 0.2\n    Parsers_File parsers.conf\n\
             [INPUT]\n    Name stdin\n    Tag app\n\
             [FILTER]\n    Name multiline\n    Match app\n    multiline.key_content log\n    \
             multiline.parser {ml_parser}\n\
             [OUTPUT]\n    Name stdout\n    Match *\n    Format json_lines\n{output}"
        ),
    )
}

#[test]
fn a_multiline_parser_from_a_parsers_file_joins_its_lines() {
    let dir = temp_dir("ml-custom");
    write_file(
        &dir,
        "parsers.conf",
        r#"[MULTILINE_PARSER]
    name          dated
    type          regex
    flush_timeout 1000
    rule  "start_state"  "/^[A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d /"  "detail"
    rule  "detail"       "/^\s+\S/"                               "detail"
"#,
    );
    let conf = stdin_filter_conf(&dir, "dated", "");
    let input =
        "Dec 14 06:41:08 request failed\n  user=42\n  path=/x\nDec 14 06:41:09 ok\nloose line\n";
    let out = run(&["-c", conf.to_str().unwrap()], input.as_bytes(), T);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(
        logs(&out.json_lines()),
        [
            "Dec 14 06:41:08 request failed\n  user=42\n  path=/x",
            "Dec 14 06:41:09 ok",
            "loose line"
        ]
    );
}

/// A multiline parser with a `parser` of its own, used from the filter:
/// each record's content is parsed first (here CRI-like lines with their
/// own time), the parsed records are joined, and a record the parser does
/// not match passes as it came.
#[test]
fn the_filter_parses_record_content_with_the_multiline_parsers_parser() {
    let dir = temp_dir("ml-parser");
    write_file(
        &dir,
        "parsers.conf",
        r#"[PARSER]
    Name        crilike
    Format      regex
    Regex       ^(?<time>[^ ]+) (?<stream>stdout|stderr) (?<logtag>[^ ]*) (?<log>.*)$
    Time_Key    time
    Time_Format %Y-%m-%dT%H:%M:%S.%L%z

[MULTILINE_PARSER]
    name          crijava
    type          regex
    parser        crilike
    key_content   log
    flush_timeout 1000
    rule  "start_state"  "/^Exception/"  "cont"
    rule  "cont"         "/^\s+at /"     "cont"
"#,
    );
    let conf = stdin_filter_conf(&dir, "crijava", "    json_date_format iso8601\n");
    let input = "\
2024-03-01T10:00:00.250+0000 stdout F Exception in thread \"main\" boom
2024-03-01T10:00:00.251+0000 stdout F     at com.example.App.run(App.java:10)
2024-03-01T10:00:00.252+0000 stdout F     at com.example.App.main(App.java:3)
2024-03-01T10:00:01.000+0000 stdout F done
not a cri line
";
    let out = run(&["-c", conf.to_str().unwrap()], input.as_bytes(), T);
    assert!(out.status.success(), "{}", out.stderr);
    let records = out.json_lines();
    assert_eq!(
        logs(&records),
        [
            "Exception in thread \"main\" boom\n    at com.example.App.run(App.java:10)\n    \
             at com.example.App.main(App.java:3)",
            "done",
            "not a cri line"
        ]
    );
    assert_eq!(records[0]["stream"], "stdout");
    assert_eq!(records[0]["date"], "2024-03-01T10:00:00.250000Z");
    assert_eq!(records[1]["stream"], "stdout");
    assert_eq!(records[1]["date"], "2024-03-01T10:00:01.000000Z");
    assert!(records[2].get("stream").is_none(), "{}", records[2]);
}

#[test]
fn a_yaml_multiline_parser_with_rules_joins_its_lines() {
    let dir = temp_dir("ml-yaml");
    let conf = write_file(
        &dir,
        "main.yaml",
        r#"service:
  flush: 0.2
multiline_parsers:
  - name: indented
    type: regex
    rules:
      - state: start_state
        regex: '/^\S/'
        next_state: more
      - state: more
        regex: '/^\s+\S/'
        next_state: more
pipeline:
  inputs:
    - name: stdin
  filters:
    - name: multiline
      match: '*'
      multiline.parser: indented
  outputs:
    - name: stdout
      match: '*'
      format: json_lines
"#,
    );
    let input = "first\n  a\n  b\nsecond\nthird\n  c\n";
    let out = run(&["-c", conf.to_str().unwrap()], input.as_bytes(), T);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(
        logs(&out.json_lines()),
        ["first\n  a\n  b", "second", "third\n  c"]
    );
}

#[test]
fn partial_message_mode_rejoins_docker_split_records_from_stdin() {
    let part = |id: &str, ord: u32, last: bool, log: &str| {
        format!(
            "{{\"log\":\"{log}\",\"partial_message\":\"true\",\"partial_id\":\"{id}\",\
             \"partial_ordinal\":\"{ord}\",\"partial_last\":\"{last}\",\"container_id\":\"c1\"}}\n"
        )
    };
    let input = [
        part("x", 1, false, "GET /a 200 "),
        part("y", 1, false, "long "),
        "{\"log\":\"a whole line\",\"container_id\":\"c1\"}\n".to_owned(),
        part("x", 2, true, "12ms"),
        part("y", 2, false, "long "),
        part("y", 3, true, "line"),
    ]
    .concat();
    let args = [
        "-i",
        "stdin",
        "-F",
        "multiline",
        "-m",
        "*",
        "-p",
        "mode=partial_message",
        "-o",
        "stdout",
        "-p",
        "format=json_lines",
        "-f",
        "0.2",
    ];
    let out = run(&args, input.as_bytes(), T);
    assert!(out.status.success(), "{}", out.stderr);
    let records = out.json_lines();
    assert_eq!(
        logs(&records),
        ["a whole line", "GET /a 200 12ms", "long long line"]
    );
    let keys: Vec<&str> = records[1]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "date")
        .collect();
    assert_eq!(keys, ["container_id", "log"]);
}

fn tcp_with_filter(ports: &[(u16, &str)], flush_ms: &str) -> Run {
    tcp_with_filter_and(ports, flush_ms, &[], &[])
}

/// The same, with more filter properties and more command line after.
fn tcp_with_filter_and(
    ports: &[(u16, &str)],
    flush_ms: &str,
    filter_props: &[&str],
    extra: &[&str],
) -> Run {
    let mut args: Vec<String> = Vec::new();
    for (port, tag) in ports {
        args.extend(["-i", "tcp", "-p", "listen=127.0.0.1", "-p", "format=none"].map(String::from));
        args.extend([
            "-p".into(),
            format!("port={port}"),
            "-t".into(),
            tag.to_string(),
        ]);
    }
    args.extend(["-F", "multiline", "-m", "*", "-p", "multiline.parser=java"].map(String::from));
    args.extend(["-p".into(), format!("flush_ms={flush_ms}")]);
    for prop in filter_props {
        args.extend(["-p".into(), (*prop).to_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Run::start(&args, None, extra)
}

#[test]
fn released_records_go_through_a_chunk_file_with_emitter_storage_filesystem() {
    let root = common::temp_dir("emitter-fs");
    let store = root.join("store");
    let conf = common::write_file(
        &root,
        "svc.conf",
        &format!("[SERVICE]\n    storage.path {}\n", store.display()),
    );
    let port = free_port();
    let run = tcp_with_filter_and(
        &[(port, "svc")],
        "300",
        &["emitter_storage.type=filesystem"],
        &["-c", conf.to_str().unwrap()],
    );
    let mut c = connect(port);
    c.write_all(format!("{JAVA}\n").as_bytes()).unwrap();
    c.flush().unwrap();
    let got = run.wait_for("svc", 1);
    drop(c);
    let out = run.stop();
    assert_eq!(logs(&got), [JAVA], "{}", out.stderr);
    assert!(
        store.join("emitter_for_multiline.0").is_dir(),
        "the released trace's chunk had a file; {}",
        out.stderr
    );
    assert!(!out.stderr.contains("buffers in memory"), "{}", out.stderr);
}

#[test]
fn a_trace_followed_by_silence_comes_out_after_flush_ms() {
    let port = free_port();
    let run = tcp_with_filter(&[(port, "svc")], "300");
    let mut c = connect(port);
    let sent = Instant::now();
    c.write_all(format!("{JAVA}\n").as_bytes()).unwrap();
    c.flush().unwrap();
    let got = run.wait_for("svc", 1);
    let waited = sent.elapsed();
    drop(c);
    let out = run.stop();
    assert_eq!(logs(&got), [JAVA], "{}", out.stderr);
    // Nothing ended the trace but the silence: it left after flush_ms.
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
}

#[test]
fn interleaved_tags_never_join_and_held_records_survive_shutdown() {
    let (pa, pb) = (free_port(), free_port());
    let run = tcp_with_filter(&[(pa, "a"), (pb, "b")], "60000");
    let (mut a, mut b) = (connect(pa), connect(pb));
    for (which, line) in [
        (0, "java.lang.IllegalArgumentException: from a"),
        (1, "java.lang.NullPointerException: from b"),
        (0, "\tat com.a.A.run(A.java:1)"),
        (1, "\tat com.b.B.run(B.java:2)"),
        (0, "\tat com.a.A.main(A.java:9)"),
    ] {
        let conn = if which == 0 { &mut a } else { &mut b };
        conn.write_all(format!("{line}\n").as_bytes()).unwrap();
        conn.flush().unwrap();
        std::thread::sleep(Duration::from_millis(60));
    }
    // Both traces are still open (flush_ms is a minute): only the stop
    // releases them.
    std::thread::sleep(Duration::from_millis(400));
    assert!(run.records("a").is_empty() && run.records("b").is_empty());
    drop((a, b));
    let dir = run.dir.clone();
    let out = run.stop();
    assert!(out.status.success(), "{}", out.stderr);
    let a = common::read_json_file(&dir.join("a"));
    let b = common::read_json_file(&dir.join("b"));
    assert_eq!(
        logs(&a),
        ["java.lang.IllegalArgumentException: from a\n\tat com.a.A.run(A.java:1)\n\tat com.a.A.main(A.java:9)"],
        "{}",
        out.stderr
    );
    assert_eq!(
        logs(&b),
        ["java.lang.NullPointerException: from b\n\tat com.b.B.run(B.java:2)"]
    );
}

/// `--dry-run` on a config whose parsers file is `parsers`; the error.
fn dry_run_error(name: &str, parsers: &str, filter_parser: &str) -> (String, String) {
    let dir = temp_dir(name);
    let file = write_file(&dir, "ml.conf", parsers);
    let conf = write_file(
        &dir,
        "main.conf",
        &format!(
            "[SERVICE]\n    Parsers_File ml.conf\n[INPUT]\n    Name dummy\n\
             [FILTER]\n    Name multiline\n    Match *\n    multiline.parser {filter_parser}\n\
             [OUTPUT]\n    Name null\n    Match *\n"
        ),
    );
    let out = run(&["-c", conf.to_str().unwrap(), "--dry-run"], b"", T);
    assert!(!out.status.success(), "accepted: {parsers}");
    (out.stderr, format!("{}", file.display()))
}

#[test]
fn bad_multiline_configuration_names_file_line_and_key() {
    let ok_rule = "[MULTILINE_PARSER]\n    name m\n    rule \"start_state\" \"/^a/\" \"cont\"\n    rule \"cont\" \"/^b/\" \"cont\"\n";

    let bad_regex = "[MULTILINE_PARSER]\n    name m\n    rule \"start_state\" \"/^(a/\" \"cont\"\n";
    let (stderr, file) = dry_run_error("ml-regex", bad_regex, "m");
    assert!(
        stderr.contains(&format!("{file}:3: key 'rule': invalid regular expression")),
        "{stderr}"
    );

    let unknown_state = "[MULTILINE_PARSER]\n    name m\n    rule \"start_state\" \"/^a/\" \"cont\"\n    rule \"cont\" \"/^b/\" \"nowhere\"\n";
    let (stderr, file) = dry_run_error("ml-state", unknown_state, "m");
    assert!(
        stderr.contains(&format!("{file}:4: key 'rule': unknown state 'nowhere'")),
        "{stderr}"
    );

    let (stderr, file) = dry_run_error("ml-name", ok_rule, "m, missing");
    let main = file.replace("ml.conf", "main.conf");
    assert!(
        stderr.contains(&format!(
            "{main}:8: key 'multiline.parser': unknown multiline parser 'missing'"
        )),
        "{stderr}"
    );
}
