//! The engine through the real binary: routing by tag across several
//! inputs and outputs, retries on a destination that comes back, and
//! Mem_Buf_Limit backpressure that holds memory while the sender waits.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, parse_json_lines, rss_kib, spawn, temp_dir, terminate, wait, write_file};

fn read_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    parse_json_lines(&std::fs::read_to_string(path).unwrap_or_default())
}

fn routing_case(conf_name: &str, text: &str) {
    let dir = temp_dir("routing");
    let conf = write_file(&dir, conf_name, &text.replace("DIR", dir.to_str().unwrap()));
    let child = spawn(&["-c", conf.to_str().unwrap()]);
    let (a, b) = (dir.join("a.log"), dir.join("b.log"));
    let done = eventually(Duration::from_secs(20), || {
        read_lines(&a).len() >= 3 && read_lines(&b).len() >= 3
    });
    terminate(&child);
    let out = wait(child, Duration::from_secs(20));
    assert!(done, "files never filled; stderr:\n{}", out.stderr);
    assert!(out.status.success(), "{}", out.stderr);

    let a = read_lines(&a);
    let b = read_lines(&b);
    assert!(
        a.iter().all(|r| r["src"] == "a" && r["env"] == "prod"),
        "{a:?}"
    );
    assert!(
        b.iter().all(|r| r["src"] == "b" && r.get("env").is_none()),
        "{b:?}"
    );
    let all = out.json_lines();
    assert!(
        all.iter().any(|r| r["src"] == "a") && all.iter().any(|r| r["src"] == "b"),
        "{}",
        out.stdout
    );
}

#[test]
fn classic_config_routes_by_tag() {
    routing_case(
        "routes.conf",
        r#"
[SERVICE]
    Flush     0.2

[INPUT]
    Name      dummy
    Tag       app.a
    Dummy     {"src": "a"}
    Rate      20

[INPUT]
    Name      dummy
    Tag       sys.b
    Dummy     {"src": "b"}
    Rate      20

[FILTER]
    Name      record_modifier
    Match     app.*
    Record    env prod

[OUTPUT]
    Name      file
    Match     app.*
    Path      DIR
    File      a.log
    Format    plain

[OUTPUT]
    Name      file
    Match_Regex ^sys\.
    Path      DIR
    File      b.log
    Format    plain

[OUTPUT]
    Name      stdout
    Match     *
    Format    json_lines
"#,
    );
}

#[test]
fn yaml_config_routes_by_tag() {
    routing_case(
        "routes.yaml",
        r#"
service:
  flush: 0.2
pipeline:
  inputs:
    - name: dummy
      tag: app.a
      dummy: '{"src": "a"}'
      rate: 20
    - name: dummy
      tag: sys.b
      dummy: '{"src": "b"}'
      rate: 20
  filters:
    - name: record_modifier
      match: 'app.*'
      record: env prod
  outputs:
    - name: file
      match: 'app.*'
      path: DIR
      file: a.log
      format: plain
    - name: file
      match_regex: '^sys\.'
      path: DIR
      file: b.log
      format: plain
    - name: stdout
      match: '*'
      format: json_lines
"#,
    );
}

#[test]
fn retries_deliver_once_the_destination_appears() {
    let dir = temp_dir("retry");
    let target = dir.join("later");
    let dir2 = dir.clone();
    let conf = write_file(
        &dir2,
        "sched.conf",
        "[SERVICE]\n    scheduler.base 1\n    scheduler.cap 1\n",
    );
    let child = spawn(&[
        "-c",
        conf.to_str().unwrap(),
        "-i",
        "stdin",
        "-t",
        "r",
        "-o",
        "file",
        "-m",
        "*",
        "-p",
        &format!("path={}", target.display()),
        "-p",
        "file=out.log",
        "-p",
        "format=plain",
        "-p",
        "retry_limit=no_limits",
        "-f",
        "0.2",
    ]);
    let mut child = child;
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n")
        .unwrap();
    drop(stdin);
    std::thread::sleep(Duration::from_secs(1));
    std::fs::create_dir_all(&target).unwrap();
    let out = wait(child, Duration::from_secs(60));
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("retry scheduled"), "{}", out.stderr);
    let got = read_lines(&target.join("out.log"));
    let ns: Vec<_> = got.iter().map(|r| r["n"].as_i64().unwrap()).collect();
    assert_eq!(ns, [1, 2, 3], "each record exactly once");
}

#[test]
fn mem_buf_limit_stops_reading_and_bounds_memory() {
    let dir = temp_dir("backpressure");
    let target = dir.join("later");
    let conf = write_file(
        &dir,
        "bp.conf",
        &format!(
            "[SERVICE]\n    Flush 0.2\n    scheduler.base 1\n    scheduler.cap 1\n\n\
             [INPUT]\n    Name stdin\n    Mem_Buf_Limit 1M\n\n\
             [OUTPUT]\n    Name file\n    Match *\n    Path {}\n    File out.log\n    Format plain\n    Retry_Limit no_limits\n",
            target.display()
        ),
    );
    let mut child = spawn(&["-c", conf.to_str().unwrap()]);
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let lines = 300_000usize;
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let written = Arc::clone(&written);
        std::thread::spawn(move || {
            let mut block = Vec::new();
            for i in 0..lines {
                writeln!(block, "line {i:08} {}", "x".repeat(80)).unwrap();
                if block.len() > 64 * 1024 {
                    if stdin.write_all(&block).is_err() {
                        return;
                    }
                    written.fetch_add(block.len(), Ordering::SeqCst);
                    block.clear();
                }
            }
            let _ = stdin.write_all(&block);
            written.fetch_add(block.len(), Ordering::SeqCst);
        })
    };

    // The destination is missing: the input must stop near its limit.
    std::thread::sleep(Duration::from_secs(4));
    let held = written.load(Ordering::SeqCst);
    let total = lines * 95;
    assert!(
        held < total / 4,
        "sender was not slowed: {held} of {total} bytes accepted"
    );
    let rss = rss_kib(pid).unwrap_or(0);
    assert!(rss < 64 * 1024, "memory not bounded: {rss} KiB");

    std::fs::create_dir_all(&target).unwrap();
    writer.join().unwrap();
    let out = wait(child, Duration::from_secs(120));
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("input paused"), "{}", out.stderr);
    assert!(out.stderr.contains("input resumed"), "{}", out.stderr);
    let text = std::fs::read_to_string(target.join("out.log")).unwrap();
    assert_eq!(text.lines().count(), lines, "every line delivered once");
}
