//! The `http` input through the real binary, driven by curl and by a
//! plain socket: JSON objects, arrays, NDJSON, forms and gzip bodies;
//! tags from the path and from `tag_key`; answers and their codes;
//! keep-alive; size limits and gzip bombs; unsafe tags; TLS; and clients
//! held back while Mem_Buf_Limit pauses the input.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use common::{
    connect, eventually, free_port, read_json_file, spawn, temp_dir, terminate, test_certificates,
    wait, write_file,
};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(10);

/// A running sluice with one `http` input and a file output per tag.
struct Run {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Run {
    /// Starts sluice with an `http` input on a free port, its extra
    /// properties `props` (`key=value`), and a file output in `dir`.
    fn start(props: &[&str]) -> Self {
        Self::start_in(temp_dir("http"), props, &[])
    }

    fn start_in(dir: PathBuf, props: &[&str], extra: &[&str]) -> Self {
        let port = free_port();
        let port_p = format!("port={port}");
        let path_p = format!("path={}", dir.display());
        let mut args = vec!["-i", "http", "-p", "listen=127.0.0.1", "-p", &port_p];
        for p in props {
            args.extend(["-p", p]);
        }
        args.extend(["-o", "file", "-m", "*", "-p", &path_p, "-p", "format=plain"]);
        args.extend(["-f", "0.2"]);
        args.extend(extra);
        let child = spawn(&args);
        drop(connect(port));
        Run { child, port, dir }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn records(&self, tag: &str) -> Vec<Value> {
        read_json_file(&self.dir.join(tag))
    }

    fn wait_for(&self, tag: &str, n: usize) -> Vec<Value> {
        eventually(T, || self.records(tag).len() >= n);
        self.records(tag)
    }

    fn stop(self) -> common::Output {
        terminate(&self.child);
        wait(self.child, Duration::from_secs(20))
    }
}

/// One answer as curl saw it.
#[derive(Debug)]
struct Reply {
    status: u16,
    /// New connections curl opened for this transfer (0: reused).
    connects: u32,
    /// The head, lowercased.
    head: String,
    body: String,
}

/// Runs curl with `args` (one transfer, or several split by `--next`)
/// and returns each transfer's answer.
fn curl(args: &[&str]) -> Vec<Reply> {
    // `--next` resets options, so each transfer gets them again.
    let common = [
        "-s",
        "-m",
        "10",
        "-i",
        "-w",
        "\n@@%{http_code} %{num_connects}@@\n",
    ];
    let mut all: Vec<&str> = common.to_vec();
    for &arg in args {
        all.push(arg);
        if arg == "--next" {
            all.extend(common);
        }
    }
    let out = Command::new("curl")
        .args(&all)
        .output()
        .expect("curl is installed (scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut replies = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("\n@@") {
        let (answer, after) = (&rest[..at], &rest[at + 3..]);
        let end = after.find("@@").expect("write-out marker");
        let (status, connects) = after[..end].split_once(' ').expect("two numbers");
        replies.push(reply(
            answer,
            status.parse().unwrap(),
            connects.parse().unwrap(),
        ));
        rest = after[end + 2..].trim_start_matches('\n');
    }
    replies
}

fn reply(mut answer: &str, status: u16, connects: u32) -> Reply {
    // Skip interim answers (100 Continue) to the final head.
    loop {
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
        if head.starts_with("HTTP/1.1 1") {
            answer = body;
            continue;
        }
        return Reply {
            status,
            connects,
            head: head.to_ascii_lowercase(),
            body: body.to_owned(),
        };
    }
}

/// POSTs `body` as JSON to `url` and returns the answer.
fn post_json(url: &str, body: &str) -> Reply {
    let mut r = curl(&[
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        body,
        url,
    ]);
    assert_eq!(r.len(), 1, "{r:?}");
    r.remove(0)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn json_object_array_ndjson_and_form_bodies_become_records() {
    let run = Run::start(&[]);
    let url = run.url("/");
    assert_eq!(post_json(&url, r#"{"n":1,"msg":"one"}"#).status, 201);
    assert_eq!(
        post_json(&url, r#"[{"n":2},{"n":3,"deep":{"a":[1,2]}}]"#).status,
        201
    );
    let ndjson = curl(&[
        "-H",
        "Content-Type: application/x-ndjson",
        "--data-binary",
        "{\"n\":4}\n{\"n\":5}\n{\"n\":6}\n",
        &url,
    ]);
    assert_eq!(ndjson[0].status, 201, "{ndjson:?}");
    // curl -d sends a form by default.
    let form = curl(&["-d", "n=7&msg=two+words%21", &url]);
    assert_eq!(form[0].status, 201, "{form:?}");

    let got = run.wait_for("http.0", 7);
    let out = run.stop();
    assert_eq!(got.len(), 7, "{}", out.stderr);
    assert_eq!(got[0], json!({"n": 1, "msg": "one"}));
    assert_eq!(got[2], json!({"n": 3, "deep": {"a": [1, 2]}}));
    let ns: Vec<i64> = got[..6].iter().map(|r| r["n"].as_i64().unwrap()).collect();
    assert_eq!(ns, [1, 2, 3, 4, 5, 6]);
    assert_eq!(got[6], json!({"n": "7", "msg": "two words!"}));
}

#[test]
fn gzip_bodies_are_inflated_and_gzip_bombs_refused() {
    let dir = temp_dir("http-gzip");
    std::fs::create_dir(dir.join("out")).unwrap();
    let run = Run::start_in(dir.join("out"), &["buffer_max_size=1M"], &[]);
    let records: String = (0..100).map(|i| format!("{{\"i\":{i}}}\n")).collect();
    let small = dir.join("small.gz");
    std::fs::write(&small, gzip(records.as_bytes())).unwrap();
    let bomb = dir.join("bomb.gz");
    std::fs::write(&bomb, gzip(&vec![b' '; 64 << 20])).unwrap();
    assert!(std::fs::metadata(&bomb).unwrap().len() < 1 << 20);

    let send = |file: &Path| {
        let data = format!("@{}", file.display());
        curl(&[
            "-H",
            "Content-Type: application/json",
            "-H",
            "Content-Encoding: gzip",
            "--data-binary",
            &data,
            &run.url("/zipped"),
        ])
        .remove(0)
    };
    assert_eq!(send(&small).status, 201);
    let refused = send(&bomb);
    assert_eq!(refused.status, 413, "{refused:?}");
    assert!(refused.body.contains("larger than"), "{refused:?}");
    // The process still serves the next client.
    assert_eq!(send(&small).status, 201);

    let got = run.wait_for("zipped", 200);
    let out = run.stop();
    assert_eq!(got.len(), 200, "{}", out.stderr);
    assert_eq!(got[99], json!({"i": 99}));
    assert!(out.stderr.contains("record rejected"), "{}", out.stderr);
}

#[test]
fn the_path_tags_records_and_routes_them() {
    let root = temp_dir("http-route");
    let conf = format!(
        "[INPUT]\n    Name http\n    Listen 127.0.0.1\n    Port {port}\n\n\
         [OUTPUT]\n    Name file\n    Match app.*\n    Path {root}/apps\n    Format plain\n\n\
         [OUTPUT]\n    Name file\n    Match http.0\n    Path {root}/default\n    Format plain\n",
        port = "${HTTP_PORT}",
        root = root.display()
    );
    let conf = write_file(&root, "route.conf", &conf);
    std::fs::create_dir(root.join("apps")).unwrap();
    std::fs::create_dir(root.join("default")).unwrap();
    let port = free_port();
    let child = Command::new(common::BIN)
        .args(["-c", conf.to_str().unwrap(), "-f", "0.2"])
        .env("HTTP_PORT", port.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start sluice");
    drop(connect(port));
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    assert_eq!(post_json(&url("/app.log"), r#"{"to":"app"}"#).status, 201);
    assert_eq!(post_json(&url("/"), r#"{"to":"default"}"#).status, 201);
    assert_eq!(
        post_json(&url("/app.web?x=1"), r#"{"to":"web"}"#).status,
        201
    );

    let apps = root.join("apps");
    eventually(T, || read_json_file(&apps.join("app.web")).len() == 1);
    eventually(T, || {
        read_json_file(&root.join("default/http.0")).len() == 1
    });
    terminate(&child);
    let out = wait(child, Duration::from_secs(20));
    assert_eq!(
        read_json_file(&apps.join("app.log")),
        [json!({"to": "app"})],
        "{}",
        out.stderr
    );
    assert_eq!(
        read_json_file(&apps.join("app.web")),
        [json!({"to": "web"})]
    );
    assert_eq!(
        read_json_file(&root.join("default/http.0")),
        [json!({"to": "default"})]
    );
    assert!(!apps.join("http.0").exists() && !root.join("default/app.log").exists());
}

#[test]
fn tag_key_gives_each_record_its_tag() {
    let run = Run::start(&["tag_key=dest"]);
    let body = r#"[{"dest":"a.one","n":1},{"n":2},{"dest":"b.two","n":3},{"dest":"a.one","n":4}]"#;
    assert_eq!(post_json(&run.url("/from.path"), body).status, 201);
    let bad = post_json(&run.url("/"), r#"[{"n":5},{"dest":"../../etc/x","n":6}]"#);
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.body.contains("tag_key"), "{bad:?}");

    let a = run.wait_for("a.one", 2);
    let b = run.wait_for("b.two", 1);
    let path = run.wait_for("from.path", 1);
    let dir = run.dir.clone();
    let out = run.stop();
    assert_eq!(
        a,
        [json!({"dest":"a.one","n":1}), json!({"dest":"a.one","n":4})]
    );
    assert_eq!(b, [json!({"dest":"b.two","n":3})]);
    assert_eq!(path, [json!({"n":2})], "{}", out.stderr);
    // The refused body was refused whole: record 5 is nowhere.
    for file in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
        assert!(!text.contains("\"n\":5"), "{text}");
    }
}

#[test]
fn success_code_and_headers_follow_the_configuration() {
    let run = Run::start(&[
        "successful_response_code=200",
        "success_header=X-Custom custom-answer",
        "success_header=X-Other two words",
    ]);
    let ok = post_json(&run.url("/"), r#"{"a":1}"#);
    assert_eq!(ok.status, 200);
    assert!(ok.head.contains("x-custom: custom-answer"), "{ok:?}");
    assert!(ok.head.contains("x-other: two words"), "{ok:?}");
    let refused = post_json(&run.url("/"), "{");
    assert!(!refused.head.contains("x-custom"), "{refused:?}");
    run.wait_for("http.0", 1);
    run.stop();

    let run = Run::start(&["successful_response_code=204"]);
    assert_eq!(post_json(&run.url("/"), r#"{"a":2}"#).status, 204);
    assert_eq!(run.wait_for("http.0", 1), [json!({"a": 2})]);
    run.stop();

    let out = common::run(
        &[
            "-i",
            "http",
            "-p",
            "successful_response_code=202",
            "-o",
            "null",
            "--dry-run",
        ],
        b"",
        T,
    );
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("successful_response_code"),
        "{}",
        out.stderr
    );

    let dir = temp_dir("http-bad-conf");
    let conf = write_file(
        &dir,
        "bad.conf",
        "[INPUT]\n    Name http\n    success_header X-Fine yes\n    success_header NoValue\n\n\
         [OUTPUT]\n    Name null\n    Match *\n",
    );
    let out = common::run(&["-c", conf.to_str().unwrap(), "--dry-run"], b"", T);
    assert!(!out.status.success());
    let place = format!("{}:4: key 'success_header'", conf.display());
    assert!(out.stderr.contains(&place), "{}", out.stderr);
}

#[test]
fn keep_alive_serves_several_requests_and_survives_bad_ones() {
    let run = Run::start(&[]);
    let url = run.url("/ka");
    let json = "Content-Type: application/json";
    let replies = curl(&[
        "-H",
        json,
        "--data-binary",
        r#"{"n":1}"#,
        &url,
        "--next",
        "-H",
        json,
        "--data-binary",
        r#"{"n":2,"broken":"#,
        &url,
        "--next",
        "-H",
        json,
        "--data-binary",
        r#"{"n":3}"#,
        &url,
        "--next",
        "-X",
        "GET",
        &url,
        "--next",
        "-H",
        "Content-Type: text/plain",
        "--data-binary",
        "hello",
        &url,
        "--next",
        "-H",
        json,
        "--data-binary",
        r#"[{"n":4},{"n":5}]"#,
        &url,
    ]);
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201, 400, 201, 405, 415, 201], "{replies:?}");
    let connects: Vec<u32> = replies.iter().map(|r| r.connects).collect();
    assert_eq!(
        connects,
        [1, 0, 0, 0, 0, 0],
        "one connection for all: {replies:?}"
    );
    assert!(replies[1].body.contains("record 0"), "{replies:?}");
    assert!(replies[3].head.contains("allow: post"), "{replies:?}");

    let got = run.wait_for("ka", 4);
    let out = run.stop();
    let ns: Vec<i64> = got.iter().map(|r| r["n"].as_i64().unwrap()).collect();
    assert_eq!(ns, [1, 3, 4, 5], "{}", out.stderr);
    assert!(out.stderr.contains("record rejected"), "{}", out.stderr);
    assert!(out.stderr.contains("invalid json"), "{}", out.stderr);
}

#[test]
fn oversized_bodies_get_413_and_the_next_request_works() {
    let run = Run::start(&["buffer_max_size=4k"]);
    let url = run.url("/size");
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(8 << 10));
    let announced = post_json(&url, &big);
    assert_eq!(announced.status, 413, "{announced:?}");
    let chunked = curl(&[
        "-H",
        "Content-Type: application/json",
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &big,
        &url,
    ]);
    assert_eq!(chunked[0].status, 413, "{chunked:?}");
    assert_eq!(post_json(&url, r#"{"fits":true}"#).status, 201);

    let got = run.wait_for("size", 1);
    let out = run.stop();
    assert_eq!(got, [json!({"fits": true})], "{}", out.stderr);
}

#[test]
fn unsafe_path_tags_are_refused() {
    let run = Run::start(&[]);
    for path in [
        "/../escape",
        "/a/b",
        "/a%2Fb",
        "/%2e%2e",
        "/a%0Ab",
        "/a%00b",
    ] {
        let url = run.url(path);
        let r = curl(&[
            "--path-as-is",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            r#"{"bad":1}"#,
            &url,
        ]);
        assert_eq!(r[0].status, 400, "{path}: {r:?}");
        assert!(r[0].body.contains("tag refused"), "{path}: {r:?}");
    }
    assert_eq!(post_json(&run.url("/good"), r#"{"ok":1}"#).status, 201);
    run.wait_for("good", 1);
    let files: Vec<_> = std::fs::read_dir(&run.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let out = run.stop();
    assert_eq!(files, ["good"], "{}", out.stderr);
    assert!(out.stderr.contains("tag refused"), "{}", out.stderr);
}

#[test]
fn a_raw_http_request_on_a_plain_socket() {
    let run = Run::start(&["add_remote_addr=on"]);
    let mut s = connect(run.port);
    let body = r#"{"via":"socket"}"#;
    let second = r#"{"via":"proxy"}"#;
    write!(
        s,
        "POST /raw.tag HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}\
         POST /raw.tag HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         X-Forwarded-For: 10.1.2.3, 10.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{second}",
        body.len(),
        second.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert_eq!(
        answer.matches("HTTP/1.1 201 Created\r\n").count(),
        2,
        "{answer}"
    );

    let got = run.wait_for("raw.tag", 2);
    run.stop();
    assert_eq!(got[0], json!({"via": "socket", "REMOTE_ADDR": "127.0.0.1"}));
    assert_eq!(got[1], json!({"via": "proxy", "REMOTE_ADDR": "10.1.2.3"}));
}

#[test]
fn tls_with_curl_and_a_private_ca() {
    let dir = temp_dir("http-tls");
    let certs = test_certificates(&dir);
    let crt = format!("tls.crt_file={}", certs.crt.display());
    let key = format!("tls.key_file={}", certs.key.display());
    std::fs::create_dir(dir.join("out")).unwrap();
    let run = Run::start_in(dir.join("out"), &["tls=on", &crt, &key], &[]);
    let url = format!("https://localhost:{}/secure", run.port);
    let ca = certs.ca.display().to_string();
    let r = curl(&[
        "--cacert",
        &ca,
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        r#"{"tls":true}"#,
        &url,
    ]);
    assert_eq!(r.first().map(|r| r.status), Some(201), "{r:?}");
    // Plain HTTP on the TLS port gets no answer.
    let plain = post_json(&run.url("/secure"), r#"{"tls":false}"#);
    assert_ne!(plain.status, 201);

    let got = run.wait_for("secure", 1);
    let out = run.stop();
    assert_eq!(got, [json!({"tls": true})], "{}", out.stderr);
}

#[test]
fn answers_wait_for_delivery_and_a_paused_input_holds_clients() {
    let root = temp_dir("http-pause");
    let target = root.join("later");
    let conf = write_file(
        &root,
        "svc.conf",
        "[SERVICE]\n    scheduler.base 1\n    scheduler.cap 1\n",
    );
    let run = Run::start_in(
        target.clone(),
        &["mem_buf_limit=64k"],
        &["-c", conf.to_str().unwrap(), "-p", "retry_limit=no_limits"],
    );
    let fill: Vec<String> = (0..100)
        .map(|i| format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(1000)))
        .collect();
    let fill = format!("[{}]", fill.join(","));
    // The output cannot write yet: this batch stays and pauses the input,
    // and its answer waits for its delivery.
    let url = run.url("/p");
    let first = std::thread::spawn(move || post_json(&url, &fill));
    std::thread::sleep(Duration::from_millis(500));
    let url = run.url("/p");
    let waiting = std::thread::spawn(move || post_json(&url, r#"{"i":100}"#));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !first.is_finished(),
        "answered before the records were delivered"
    );
    assert!(!waiting.is_finished(), "a request was taken while paused");

    std::fs::create_dir_all(&target).unwrap();
    let answered = first.join().unwrap();
    assert_eq!(answered.status, 201, "{answered:?}");
    let late = waiting.join().unwrap();
    assert_eq!(late.status, 201, "{late:?}");
    let got = run.wait_for("p", 101);
    let out = run.stop();
    assert_eq!(got.len(), 101, "{}", out.stderr);
    assert_eq!(got[100], json!({"i": 100}));
    assert!(out.stderr.contains("input paused"), "{}", out.stderr);
}

#[test]
fn idle_connections_close_after_net_io_timeout() {
    let run = Run::start(&["net.io_timeout=1s"]);
    let mut s = connect(run.port);
    let started = std::time::Instant::now();
    // Half a request head, then silence.
    s.write_all(b"POST /idle HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(8),
        "closed after {waited:?}"
    );
    // A client that keeps talking is not cut off.
    assert_eq!(post_json(&run.url("/idle"), r#"{"a":1}"#).status, 201);
    assert_eq!(run.wait_for("idle", 1), [json!({"a": 1})]);
    run.stop();
}
