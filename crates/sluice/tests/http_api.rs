//! The HTTP monitoring API through the real binary and curl: every
//! endpoint's status and JSON shape, Prometheus text that promtool
//! accepts, health that follows failing outputs, and hostile clients.

mod common;

use std::io::Write as _;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{curl, eventually, free_port, rss_kib, spawn, temp_dir, terminate, wait, write_file};
use serde_json::Value;

/// A running sluice with the API on a fresh port.
struct Api {
    child: Option<Child>,
    base: String,
}

impl Api {
    fn start(body: &str) -> Api {
        let port = free_port();
        let dir = temp_dir("api");
        let text = format!(
            "[SERVICE]\n    Flush 0.2\n    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    HTTP_Port {port}\n{}",
            body.replace("DIR", dir.to_str().unwrap())
        );
        let conf = write_file(&dir, "api.conf", &text);
        let child = spawn(&["-c", conf.to_str().unwrap()]);
        let base = format!("http://127.0.0.1:{port}");
        let up = eventually(Duration::from_secs(10), || curl(&base, &[]).is_some());
        assert!(up, "the API never answered");
        Api {
            child: Some(child),
            base,
        }
    }

    fn get(&self, path: &str) -> common::HttpAnswer {
        curl(&format!("{}{path}", self.base), &[]).expect("API answers")
    }

    fn json(&self, path: &str) -> Value {
        let a = self.get(path);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", a.body))
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    fn stop(mut self) -> common::Output {
        let child = self.child.take().unwrap();
        terminate(&child);
        wait(child, Duration::from_secs(20))
    }
}

const PIPELINE: &str = "
    Health_Check On
    storage.metrics On

[INPUT]
    Name  dummy
    Alias gen
    Rate  50

[FILTER]
    Name  grep
    Match *
    Exclude message ^never$

[OUTPUT]
    Name  null
    Alias sink
    Match *
";

#[test]
fn endpoints_answer_with_fluent_bit_shapes() {
    let api = Api::start(PIPELINE);
    let delivered = eventually(Duration::from_secs(10), || {
        api.json("/api/v1/metrics")["output"]["sink"]["proc_records"]
            .as_u64()
            .unwrap_or(0)
            > 0
    });
    assert!(delivered);

    let root = api.json("/");
    assert!(root["fluent-bit"]["version"].is_string(), "{root}");
    let up = api.json("/api/v1/uptime");
    assert!(
        up["uptime_sec"].is_u64() && up["uptime_hr"].is_string(),
        "{up}"
    );

    let m = api.json("/api/v1/metrics");
    assert!(m["input"]["gen"]["records"].as_u64().unwrap() > 0, "{m}");
    assert!(m["input"]["gen"]["bytes"].as_u64().unwrap() > 0, "{m}");
    for key in ["records", "drop_records", "add_records"] {
        assert!(m["filter"]["grep.0"][key].is_u64(), "{key}: {m}");
    }
    for key in [
        "proc_records",
        "proc_bytes",
        "errors",
        "retries",
        "retries_failed",
        "dropped_records",
        "retried_records",
    ] {
        assert!(m["output"]["sink"][key].is_u64(), "{key}: {m}");
    }

    let storage = api.json("/api/v1/storage");
    assert!(storage["storage_layer"]["chunks"]["total_chunks"].is_u64());
    assert_eq!(storage["input_chunks"]["gen"]["status"]["overlimit"], false);
    let plugins = api.json("/api/v1/plugins");
    assert_eq!(plugins["instances"]["outputs"][0], "sink");

    let health = api.get("/api/v1/health");
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    let h2 = api.json("/api/v2/health");
    assert_eq!(h2["status"], "ok");
    assert_eq!(api.json("/api/v2/reload")["hot_reload_count"], 0);

    let reload = curl(&format!("{}/api/v2/reload", api.base), &["-X", "POST"]).unwrap();
    assert_eq!(reload.status, 400, "hot reload is off: {}", reload.body);
    assert_eq!(api.get("/no/such/path").status, 404);
    let v2 = api.get("/api/v2/metrics");
    assert!(v2
        .body
        .contains("fluentbit_output_proc_records_total{name=\"sink\"} = "));

    let out = api.stop();
    assert!(out.status.success(), "{}", out.stderr);
}

/// promtool as scripts/test lays it out (or `SLUICE_PROMTOOL`).
fn promtool() -> String {
    if let Ok(p) = std::env::var("SLUICE_PROMTOOL") {
        return p;
    }
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/test-tools/usr/bin/promtool"
    );
    assert!(
        std::path::Path::new(p).exists(),
        "no promtool at {p}; scripts/test fetches it"
    );
    p.to_owned()
}

#[test]
fn prometheus_text_passes_promtool_and_has_every_family() {
    let api = Api::start(PIPELINE);
    eventually(Duration::from_secs(10), || {
        api.json("/api/v1/metrics")["output"]["sink"]["proc_records"]
            .as_u64()
            .unwrap_or(0)
            > 0
    });
    for path in ["/api/v1/metrics/prometheus", "/api/v2/metrics/prometheus"] {
        let text = api.get(path).body;
        let promtool = promtool();
        let mut check = Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {promtool}: {e}"));
        check
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let res = check.wait_with_output().unwrap();
        assert!(
            res.status.success(),
            "promtool: {}{}\n{text}",
            String::from_utf8_lossy(&res.stdout),
            String::from_utf8_lossy(&res.stderr)
        );
        for series in [
            "fluentbit_uptime{hostname=",
            "fluentbit_build_info{hostname=",
            "fluentbit_input_records_total{name=\"gen\"}",
            "fluentbit_input_bytes_total{name=\"gen\"}",
            "fluentbit_input_ingestion_paused{name=\"gen\"} 0",
            "fluentbit_filter_records_total{name=\"grep.0\"}",
            "fluentbit_filter_drop_records_total{name=\"grep.0\"} 0",
            "fluentbit_filter_add_records_total{name=\"grep.0\"} 0",
            "fluentbit_output_proc_records_total{name=\"sink\"}",
            "fluentbit_output_proc_bytes_total{name=\"sink\"}",
            "fluentbit_output_errors_total{name=\"sink\"} 0",
            "fluentbit_output_retries_total{name=\"sink\"} 0",
            "fluentbit_output_retries_failed_total{name=\"sink\"} 0",
            "fluentbit_output_dropped_records_total{name=\"sink\"} 0",
            "fluentbit_output_retried_records_total{name=\"sink\"} 0",
            "fluentbit_output_latency_seconds_bucket{output=\"sink\",le=\"+Inf\"}",
            "fluentbit_hot_reloaded_times{hostname=",
            "fluentbit_storage_mem_chunks ",
            "process_resident_memory_bytes ",
        ] {
            assert!(text.contains(series), "{path}: no {series}\n{text}");
        }
    }
    api.stop();
}

#[test]
fn health_fails_while_an_output_keeps_failing_and_recovers() {
    // The file output retries while its directory is missing.
    let api = Api::start(
        "
    Health_Check On
    HC_Errors_Count 2
    HC_Retry_Failure_Count 100
    HC_Period 2
    scheduler.base 1
    scheduler.cap 1

[INPUT]
    Name  dummy
    Rate  20

[OUTPUT]
    Name  file
    Match *
    Path  DIR/missing
    Retry_Limit no_limits
",
    );
    let health = |api: &Api| api.get("/api/v1/health");
    let failing = eventually(Duration::from_secs(15), || {
        let h = health(&api);
        h.status == 500 && h.body == "error"
    });
    assert!(failing, "health never turned to error");
    let v2 = api.get("/api/v2/health");
    assert_eq!(v2.status, 500);

    let dir = api.json("/api/v1/metrics");
    assert!(dir["output"]["file.0"]["errors"].as_u64().unwrap() > 2);
    let conf_dir = std::path::Path::new(&api_dir(&api)).join("missing");
    std::fs::create_dir_all(&conf_dir).unwrap();
    let recovered = eventually(Duration::from_secs(20), || health(&api).status == 200);
    assert!(
        recovered,
        "health never came back once the output delivered"
    );
    api.stop();
}

/// The scratch directory of a running test instance, read from its
/// config's path in the process's command line.
fn api_dir(api: &Api) -> String {
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", api.pid())).unwrap();
    let conf = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .find(|a| a.ends_with("api.conf"))
        .unwrap();
    conf.trim_end_matches("/api.conf").to_owned()
}

#[test]
fn hostile_clients_do_not_take_the_api_down() {
    let api = Api::start(PIPELINE);
    let addr = api.base.trim_start_matches("http://").to_owned();

    // A head far past the limit gets an error answer or a closed
    // connection, never a crash.
    let big = "x".repeat(64 * 1024);
    let huge_header = curl(&format!("{}/", api.base), &["-H", &format!("X-Big: {big}")]);
    assert!(
        huge_header.as_ref().is_none_or(|a| a.status >= 400),
        "{huge_header:?}"
    );
    // Garbage instead of HTTP.
    let mut garbage = TcpStream::connect(&addr).unwrap();
    let _ = garbage.write_all(b"\x00\x01\x02 not http at all\r\n\r\n");
    // A body on an endpoint that takes none is never read.
    let big_body = curl(
        &format!("{}/api/v2/reload", api.base),
        &["-X", "POST", "--data-binary", &big],
    );
    assert!(
        big_body.as_ref().is_none_or(|a| a.status == 400),
        "{big_body:?}"
    );

    // Many slow clients each holding half a request.
    let mut slow = Vec::new();
    for _ in 0..1000 {
        match TcpStream::connect(&addr) {
            Ok(mut s) => {
                let _ = s.write_all(b"GET /api/v1/metrics HTTP/1.1\r\nHost: x\r\n");
                slow.push(s);
            }
            Err(_) => break,
        }
    }
    assert!(
        slow.len() >= 500,
        "could open only {} connections",
        slow.len()
    );
    std::thread::sleep(Duration::from_millis(500));
    let metrics = api.get("/api/v1/metrics");
    assert_eq!(metrics.status, 200, "served beside the slow clients");
    let rss = rss_kib(api.pid()).unwrap_or(0);
    assert!(rss < 96 * 1024, "memory bounded: {rss} KiB");
    drop(slow);

    assert_eq!(api.get("/api/v1/health").status, 200);
    let out = api.stop();
    assert!(out.status.success(), "{}", out.stderr);
}
