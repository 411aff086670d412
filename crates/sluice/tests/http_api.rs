//! The HTTP monitoring API through the real binary and curl: every
//! endpoint's status and JSON shape, Prometheus text that promtool
//! accepts, and health that follows failing outputs. Hostile clients are
//! in `http_hostile.rs`.

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::api::Api;
use common::{curl, eventually};

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

/// Every family Fluent Bit's dashboards read, with its type. Fluent Bit
/// types `fluentbit_uptime` a counter; see the README for why sluice
/// says gauge.
const FAMILIES: &[(&str, &str)] = &[
    ("fluentbit_uptime", "gauge"),
    ("fluentbit_process_start_time_seconds", "gauge"),
    ("fluentbit_build_info", "gauge"),
    ("fluentbit_hot_reloaded_times", "gauge"),
    ("fluentbit_input_records_total", "counter"),
    ("fluentbit_input_bytes_total", "counter"),
    ("fluentbit_input_ingestion_paused", "gauge"),
    ("fluentbit_filter_records_total", "counter"),
    ("fluentbit_filter_drop_records_total", "counter"),
    ("fluentbit_filter_add_records_total", "counter"),
    ("fluentbit_output_proc_records_total", "counter"),
    ("fluentbit_output_proc_bytes_total", "counter"),
    ("fluentbit_output_errors_total", "counter"),
    ("fluentbit_output_retries_total", "counter"),
    ("fluentbit_output_retries_failed_total", "counter"),
    ("fluentbit_output_dropped_records_total", "counter"),
    ("fluentbit_output_retried_records_total", "counter"),
    ("fluentbit_output_upstream_total_connections", "gauge"),
    ("fluentbit_output_upstream_busy_connections", "gauge"),
    ("fluentbit_output_latency_seconds", "histogram"),
    ("fluentbit_storage_chunks", "gauge"),
    ("fluentbit_storage_mem_chunks", "gauge"),
    ("fluentbit_storage_fs_chunks", "gauge"),
    ("fluentbit_storage_fs_chunks_up", "gauge"),
    ("fluentbit_storage_fs_chunks_down", "gauge"),
    ("fluentbit_input_storage_overlimit", "gauge"),
    ("fluentbit_input_storage_memory_bytes", "gauge"),
    ("fluentbit_input_storage_chunks", "gauge"),
    ("fluentbit_input_storage_chunks_up", "gauge"),
    ("fluentbit_input_storage_chunks_down", "gauge"),
    ("fluentbit_input_storage_chunks_busy", "gauge"),
    ("fluentbit_input_storage_chunks_busy_bytes", "gauge"),
    ("process_cpu_seconds_total", "counter"),
    ("process_resident_memory_bytes", "gauge"),
    ("process_virtual_memory_bytes", "gauge"),
    ("process_start_time_seconds", "gauge"),
    ("process_open_fds", "gauge"),
    ("process_max_fds", "gauge"),
];

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
        for (family, kind) in FAMILIES {
            let type_line = format!("# TYPE {family} {kind}\n");
            assert!(text.contains(&type_line), "{path}: no {type_line}{text}");
        }
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
            "fluentbit_output_upstream_total_connections{name=\"sink\"} 0",
            "fluentbit_output_upstream_busy_connections{name=\"sink\"} 0",
            "fluentbit_output_latency_seconds_bucket{input=\"gen\",output=\"sink\",le=\"0.5\"}",
            "fluentbit_output_latency_seconds_bucket{input=\"gen\",output=\"sink\",le=\"+Inf\"}",
            "fluentbit_output_latency_seconds_count{input=\"gen\",output=\"sink\"}",
            "fluentbit_hot_reloaded_times{hostname=",
            "fluentbit_input_storage_overlimit{name=\"gen\"} 0",
            "fluentbit_input_storage_chunks_down{name=\"gen\"} 0",
            "fluentbit_storage_fs_chunks 0",
            "process_resident_memory_bytes ",
        ] {
            assert!(text.contains(series), "{path}: no {series}\n{text}");
        }
    }
    // Without storage.metrics the storage layer's families are not served.
    let plain = Api::start(&PIPELINE.replace("storage.metrics On", "storage.metrics Off"));
    let text = plain.get("/api/v1/metrics/prometheus").body;
    assert!(!text.contains("fluentbit_storage_"), "{text}");
    assert!(!text.contains("fluentbit_input_storage_"), "{text}");
    assert!(text.contains("fluentbit_input_records_total"), "{text}");
    plain.stop();
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
    let conf_dir = api.dir.join("missing");
    std::fs::create_dir_all(&conf_dir).unwrap();
    let recovered = eventually(Duration::from_secs(20), || health(&api).status == 200);
    assert!(
        recovered,
        "health never came back once the output delivered"
    );
    api.stop();
}
