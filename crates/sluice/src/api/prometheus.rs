//! Metrics in the Prometheus text format (0.0.4), with Fluent Bit's
//! family names, labels and types so existing dashboards and alerts work.
//!
//! Families are collected first ([`families`]), then written either as
//! Prometheus text ([`render`]) or as one `name{labels} = value` line
//! each ([`render_plain`], the shape of Fluent Bit's `/api/v2/metrics`).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use sluice_core::metrics::{Histogram, LATENCY_BUCKETS};

use super::ApiState;

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One series: its name suffix (for histograms), labels and value.
struct Sample {
    suffix: &'static str,
    labels: Vec<(&'static str, String)>,
    value: f64,
}

struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    samples: Vec<Sample>,
}

impl Family {
    fn new(name: &'static str, kind: Kind, help: &'static str) -> Self {
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    fn add(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push(Sample {
            suffix: "",
            labels,
            value,
        });
    }

    fn histogram(&mut self, labels: Vec<(&'static str, String)>, h: &Histogram) {
        for (bound, count) in LATENCY_BUCKETS.iter().zip(h.cumulative()) {
            let mut l = labels.clone();
            l.push(("le", format_value(*bound)));
            self.samples.push(Sample {
                suffix: "_bucket",
                labels: l,
                value: count as f64,
            });
        }
        let mut inf = labels.clone();
        inf.push(("le", "+Inf".into()));
        let count = h.count() as f64;
        for (suffix, labels, value) in [
            ("_bucket", inf, count),
            ("_sum", labels.clone(), h.sum_secs()),
            ("_count", labels, count),
        ] {
            self.samples.push(Sample {
                suffix,
                labels,
                value,
            });
        }
    }
}

fn name(n: &str) -> Vec<(&'static str, String)> {
    vec![("name", n.to_owned())]
}

fn families(state: &ApiState) -> Vec<Family> {
    let mut out = process_families(state);
    out.extend(input_families(state));
    if state.storage_metrics {
        out.extend(storage_families(state));
    }
    out.extend(filter_families(state));
    out.extend(output_families(state));
    out.extend(process_os_families(state));
    out
}

fn process_families(state: &ApiState) -> Vec<Family> {
    let host = || vec![("hostname", state.hostname.clone())];
    // Fluent Bit types this a counter, which promtool rejects for its
    // lack of a `_total` suffix; the name is what dashboards use, so the
    // name stays and the type says gauge.
    let mut uptime = Family::new(
        "fluentbit_uptime",
        Kind::Gauge,
        "Seconds the process has been running.",
    );
    uptime.add(host(), state.started.elapsed().as_secs() as f64);
    let mut start = Family::new(
        "fluentbit_process_start_time_seconds",
        Kind::Gauge,
        "Unix time the process started.",
    );
    start.add(host(), state.started_unix.floor());
    let mut build = Family::new(
        "fluentbit_build_info",
        Kind::Gauge,
        "Build information; the value is the start time.",
    );
    let mut labels = host();
    labels.push(("version", env!("CARGO_PKG_VERSION").to_owned()));
    labels.push(("os", std::env::consts::OS.to_owned()));
    build.add(labels, state.started_unix.floor());
    let mut reloads = Family::new(
        "fluentbit_hot_reloaded_times",
        Kind::Gauge,
        "Times the configuration was reloaded.",
    );
    reloads.add(
        host(),
        state.reloads.load(std::sync::atomic::Ordering::Relaxed) as f64,
    );
    vec![uptime, start, build, reloads]
}

fn input_families(state: &ApiState) -> Vec<Family> {
    let m = &state.metrics();
    let mut records = Family::new(
        "fluentbit_input_records_total",
        Kind::Counter,
        "Records the input ingested.",
    );
    let mut bytes = Family::new(
        "fluentbit_input_bytes_total",
        Kind::Counter,
        "Bytes of records the input ingested.",
    );
    let mut paused = Family::new(
        "fluentbit_input_ingestion_paused",
        Kind::Gauge,
        "1 while the input is paused by its memory limit.",
    );
    for ((n, c), acct) in m.inputs.iter().zip(&m.input_memory) {
        records.add(name(n), c.records.get() as f64);
        bytes.add(name(n), c.bytes.get() as f64);
        paused.add(name(n), f64::from(u8::from(acct.is_paused())));
    }
    vec![records, bytes, paused]
}

/// The storage layer's families, served with `storage.metrics on` as
/// Fluent Bit does. Every chunk is in memory until filesystem storage
/// exists, so the filesystem counts are 0 and every chunk is up and busy
/// (queued or being flushed).
fn storage_families(state: &ApiState) -> Vec<Family> {
    let m = &state.metrics();
    type Get = fn(&sluice_core::memory::Account) -> f64;
    let per_input: [(&'static str, &'static str, Get); 7] = [
        (
            "fluentbit_input_storage_overlimit",
            "1 while the input is over its memory limit.",
            |a| f64::from(u8::from(a.is_paused())),
        ),
        (
            "fluentbit_input_storage_memory_bytes",
            "Bytes of the input's chunks held in memory.",
            |a| a.used() as f64,
        ),
        (
            "fluentbit_input_storage_chunks",
            "Chunks of the input not yet released by every output.",
            |a| a.chunks() as f64,
        ),
        (
            "fluentbit_input_storage_chunks_up",
            "Chunks of the input loaded in memory.",
            |a| a.chunks() as f64,
        ),
        (
            "fluentbit_input_storage_chunks_down",
            "Chunks of the input on disk only.",
            |_| 0.0,
        ),
        (
            "fluentbit_input_storage_chunks_busy",
            "Chunks of the input queued or being flushed.",
            |a| a.chunks() as f64,
        ),
        (
            "fluentbit_input_storage_chunks_busy_bytes",
            "Bytes of the input's busy chunks.",
            |a| a.used() as f64,
        ),
    ];
    let mut out = Vec::new();
    for (fam, help, get) in per_input {
        let mut f = Family::new(fam, Kind::Gauge, help);
        for ((n, _), acct) in m.inputs.iter().zip(&m.input_memory) {
            f.add(name(n), get(acct));
        }
        out.push(f);
    }
    let layer = super::routes::StorageLayer::of(m);
    for (fam, help, value) in [
        (
            "fluentbit_storage_chunks",
            "Chunks held, all inputs.",
            layer.total,
        ),
        (
            "fluentbit_storage_mem_chunks",
            "Chunks held in memory, all inputs.",
            layer.mem,
        ),
        (
            "fluentbit_storage_fs_chunks",
            "Chunks held on disk, all inputs.",
            layer.fs,
        ),
        (
            "fluentbit_storage_fs_chunks_up",
            "Chunks on disk also loaded in memory.",
            layer.fs_up,
        ),
        (
            "fluentbit_storage_fs_chunks_down",
            "Chunks on disk only.",
            layer.fs_down,
        ),
    ] {
        let mut f = Family::new(fam, Kind::Gauge, help);
        f.add(Vec::new(), value as f64);
        out.push(f);
    }
    out
}

fn filter_families(state: &ApiState) -> Vec<Family> {
    let mut records = Family::new(
        "fluentbit_filter_records_total",
        Kind::Counter,
        "Records the filter saw.",
    );
    let mut dropped = Family::new(
        "fluentbit_filter_drop_records_total",
        Kind::Counter,
        "Records the filter dropped.",
    );
    let mut added = Family::new(
        "fluentbit_filter_add_records_total",
        Kind::Counter,
        "Records the filter added.",
    );
    for (n, c) in &state.metrics().filters {
        records.add(name(n), c.records.get() as f64);
        dropped.add(name(n), c.dropped.get() as f64);
        added.add(name(n), c.added.get() as f64);
    }
    vec![records, dropped, added]
}

fn output_families(state: &ApiState) -> Vec<Family> {
    type Get = fn(&sluice_core::metrics::OutputMetrics) -> u64;
    let counters: [(&'static str, &'static str, Get); 7] = [
        (
            "fluentbit_output_proc_records_total",
            "Records the output delivered.",
            |o| o.proc_records.get(),
        ),
        (
            "fluentbit_output_proc_bytes_total",
            "Bytes of records the output delivered.",
            |o| o.proc_bytes.get(),
        ),
        (
            "fluentbit_output_errors_total",
            "Flushes that failed, retriable or not.",
            |o| o.errors.get(),
        ),
        (
            "fluentbit_output_retries_total",
            "Retries the output asked for.",
            |o| o.retries.get(),
        ),
        (
            "fluentbit_output_retries_failed_total",
            "Chunks whose retries ran out.",
            |o| o.retries_failed.get(),
        ),
        (
            "fluentbit_output_dropped_records_total",
            "Records given up on: errors and exhausted retries.",
            |o| o.dropped_records.get(),
        ),
        (
            "fluentbit_output_retried_records_total",
            "Records of chunks that needed a retry.",
            |o| o.retried_records.get(),
        ),
    ];
    let outputs = state.metrics().outputs;
    let mut out = Vec::new();
    for (fam, help, get) in counters {
        let mut f = Family::new(fam, Kind::Counter, help);
        for (n, o) in &outputs {
            f.add(name(n), get(o) as f64);
        }
        out.push(f);
    }
    let gauges: [(&'static str, &'static str, Get); 2] = [
        (
            "fluentbit_output_upstream_total_connections",
            "Connections the output's upstream holds.",
            |o| o.upstream_total_connections.get(),
        ),
        (
            "fluentbit_output_upstream_busy_connections",
            "Connections of the output's upstream in use.",
            |o| o.upstream_busy_connections.get(),
        ),
    ];
    for (fam, help, get) in gauges {
        let mut f = Family::new(fam, Kind::Gauge, help);
        for (n, o) in &outputs {
            f.add(name(n), get(o) as f64);
        }
        out.push(f);
    }
    let mut latency = Family::new(
        "fluentbit_output_latency_seconds",
        Kind::Histogram,
        "Seconds from a chunk's sealing to its delivery.",
    );
    for (n, o) in &outputs {
        for (input, h) in o.latency.by_input() {
            let labels = vec![("input", input.to_string()), ("output", n.to_string())];
            latency.histogram(labels, &h);
        }
    }
    out.push(latency);
    out
}

/// The standard `process_*` families, read from `/proc/self`.
fn process_os_families(state: &ApiState) -> Vec<Family> {
    let mut start = Family::new(
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since the Unix epoch, in seconds.",
    );
    start.add(Vec::new(), state.started_unix.floor());
    let mut out = vec![start];
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold
    // spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = 100.0; // USER_HZ on every Linux target
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    if let (Some(utime), Some(stime)) = (field(11), field(12)) {
        let mut f = Family::new(
            "process_cpu_seconds_total",
            Kind::Counter,
            "User and system CPU seconds used.",
        );
        f.add(Vec::new(), (utime + stime) / ticks);
        out.push(f);
    }
    if let (Some(vsize), Some(rss)) = (field(20), field(21)) {
        let mut v = Family::new(
            "process_virtual_memory_bytes",
            Kind::Gauge,
            "Virtual memory size in bytes.",
        );
        v.add(Vec::new(), vsize);
        out.push(v);
        let mut r = Family::new(
            "process_resident_memory_bytes",
            Kind::Gauge,
            "Resident memory size in bytes.",
        );
        r.add(Vec::new(), rss * 4096.0);
        out.push(r);
    }
    if let Some(max) = max_open_files() {
        let mut f = Family::new(
            "process_max_fds",
            Kind::Gauge,
            "Most open file descriptors allowed.",
        );
        f.add(Vec::new(), max);
        out.push(f);
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        let mut f = Family::new("process_open_fds", Kind::Gauge, "Open file descriptors.");
        f.add(Vec::new(), dir.count() as f64);
        out.push(f);
    }
    out
}

/// The soft limit on open files, from `/proc/self/limits`.
fn max_open_files() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn write_series(out: &mut String, fam: &Family, s: &Sample) {
    out.push_str(fam.name);
    out.push_str(s.suffix);
    if !s.labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in s.labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_label(v, out);
            out.push('"');
        }
        out.push('}');
    }
}

/// The Prometheus text exposition of every family.
pub fn render(state: &ApiState) -> String {
    let mut out = String::with_capacity(8192);
    for fam in families(state) {
        let _ = writeln!(out, "# HELP {} {}", fam.name, fam.help);
        let _ = writeln!(out, "# TYPE {} {}", fam.name, fam.kind.as_str());
        for s in &fam.samples {
            write_series(&mut out, &fam, s);
            let _ = writeln!(out, " {}", format_value(s.value));
        }
    }
    out
}

/// One `TIMESTAMP name{labels} = value` line per series.
pub fn render_plain(state: &ApiState) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let stamp = chrono::DateTime::from_timestamp(now.as_secs() as i64, now.subsec_nanos())
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string())
        .unwrap_or_default();
    let mut out = String::with_capacity(8192);
    for fam in families(state) {
        for s in &fam.samples {
            out.push_str(&stamp);
            out.push(' ');
            write_series(&mut out, &fam, s);
            let _ = writeln!(out, " = {}", format_value(s.value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_prometheus_wants() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.5), "0.5");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        let mut s = String::new();
        escape_label("a\"b\\c\nd", &mut s);
        assert_eq!(s, "a\\\"b\\\\c\\nd");
    }
}
