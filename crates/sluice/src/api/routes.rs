//! The API's endpoints and the JSON they answer with.
//!
//! Field names follow Fluent Bit's, so a script that reads
//! `.output["es.0"].retries_failed` works unchanged. Every answer is built
//! from atomic counters; nothing here waits on the pipeline.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{header, Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value};
use sluice_core::engine::{HealthConfig, InstanceMetrics};
use sluice_core::registry::Registry;

use super::health::HealthWindow;
use super::prometheus;

/// What the API reads: the counters of every instance and a few facts
/// about the process.
#[derive(Debug)]
pub struct ApiState {
    /// The running pipeline's counters; replaced on a hot reload.
    metrics: RwLock<InstanceMetrics>,
    pub plugins: PluginNames,
    pub started: Instant,
    /// Seconds since the epoch at start.
    pub started_unix: f64,
    pub hostname: String,
    pub health_config: HealthConfig,
    pub health: HealthWindow,
    pub hot_reload: bool,
    pub reloads: AtomicU64,
    /// Set from a reload request until the supervisor has acted on it.
    reloading: AtomicBool,
    reload_tx: Option<tokio::sync::mpsc::Sender<()>>,
    pub storage_metrics: bool,
}

/// The names of the plugins this build has, for `/api/v1/plugins`.
#[derive(Debug, Default)]
pub struct PluginNames {
    pub inputs: Vec<&'static str>,
    pub filters: Vec<&'static str>,
    pub outputs: Vec<&'static str>,
}

impl PluginNames {
    pub fn of(registry: &Registry) -> Self {
        PluginNames {
            inputs: registry.inputs.iter().map(|s| s.name).collect(),
            filters: registry.filters.iter().map(|s| s.name).collect(),
            outputs: registry.outputs.iter().map(|s| s.name).collect(),
        }
    }
}

impl ApiState {
    pub fn new(
        metrics: InstanceMetrics,
        plugins: PluginNames,
        health_config: HealthConfig,
        reload_tx: Option<tokio::sync::mpsc::Sender<()>>,
        storage_metrics: bool,
    ) -> Self {
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        ApiState {
            metrics: RwLock::new(metrics),
            plugins,
            started: Instant::now(),
            started_unix,
            hostname: hostname(),
            health: HealthWindow::new(health_config.period),
            health_config,
            hot_reload: reload_tx.is_some(),
            reloads: AtomicU64::new(0),
            reloading: AtomicBool::new(false),
            reload_tx,
            storage_metrics,
        }
    }

    /// The running pipeline's counters (a cheap copy of handles).
    pub fn metrics(&self) -> InstanceMetrics {
        self.metrics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn replace_metrics(&self, m: InstanceMetrics) {
        *self.metrics.write().unwrap_or_else(|e| e.into_inner()) = m;
    }

    pub fn count_reload(&self) {
        self.reloads.fetch_add(1, Ordering::Relaxed);
    }

    /// A reload finished or was rejected; the next request may start one.
    pub fn reload_done(&self) {
        self.reloading.store(false, Ordering::Release);
    }

    /// Asks the supervisor for a reload; false when one is under way.
    pub fn request_reload(&self) -> bool {
        let Some(tx) = &self.reload_tx else {
            return false;
        };
        if self.reloading.swap(true, Ordering::AcqRel) {
            return false;
        }
        if tx.try_send(()).is_err() {
            self.reload_done();
            return false;
        }
        true
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

type Answer = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Answer {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        res.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    res
}

fn json_answer(status: StatusCode, value: &Value) -> Answer {
    respond(status, "application/json", value.to_string())
}

/// Answers one request.
pub fn answer<B>(state: &ApiState, req: &Request<B>) -> Answer {
    let path = req.uri().path();
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let method = req.method();
    if path == "/api/v2/reload" {
        return reload(state, method);
    }
    if method != Method::GET && method != Method::HEAD {
        return json_answer(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"error": "method not allowed"}),
        );
    }
    match path {
        "/" => json_answer(StatusCode::OK, &build_info()),
        "/api/v1/uptime" => json_answer(StatusCode::OK, &uptime(state)),
        "/api/v1/metrics" => json_answer(StatusCode::OK, &metrics_json(&state.metrics())),
        "/api/v1/metrics/prometheus" | "/api/v2/metrics/prometheus" => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            prometheus::render(state),
        ),
        "/api/v2/metrics" => respond(
            StatusCode::OK,
            "text/plain",
            prometheus::render_plain(state),
        ),
        "/api/v1/storage" if state.storage_metrics => {
            json_answer(StatusCode::OK, &storage_json(&state.metrics()))
        }
        "/api/v1/plugins" => json_answer(StatusCode::OK, &plugins_json(state)),
        "/api/v1/health" => health_v1(state),
        "/api/v2/health" => health_v2(state),
        _ => json_answer(StatusCode::NOT_FOUND, &json!({"error": "not found"})),
    }
}

fn build_info() -> Value {
    let version = env!("CARGO_PKG_VERSION");
    json!({
        "fluent-bit": {
            "version": version,
            "edition": "sluice",
            "flags": ["FLB_HAVE_METRICS", "FLB_HAVE_HTTP_SERVER", "FLB_HAVE_REGEX"],
        },
        "sluice": {"version": version},
    })
}

fn uptime(state: &ApiState) -> Value {
    let secs = state.started.elapsed().as_secs();
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut human = String::from("sluice has been running: ");
    let _ = write!(
        human,
        "{d} day{}, {h} hour{}, {m} minute{} and {s} second{}",
        plural(d),
        plural(h),
        plural(m),
        plural(s)
    );
    json!({"uptime_sec": secs, "uptime_hr": human})
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `/api/v1/metrics`: counters per instance, Fluent Bit's field names.
pub fn metrics_json(m: &InstanceMetrics) -> Value {
    let mut input = Map::new();
    for ((name, c), acct) in m.inputs.iter().zip(&m.input_memory) {
        // Fluent Bit's two fields, then sluice's view of the input's
        // memory (what `sluice top` shows).
        input.insert(
            name.to_string(),
            json!({
                "records": c.records.get(),
                "bytes": c.bytes.get(),
                "chunks": acct.chunks(),
                "mem_bytes": acct.used(),
                "paused": acct.is_paused(),
            }),
        );
    }
    let mut filter = Map::new();
    for (name, c) in &m.filters {
        filter.insert(
            name.to_string(),
            json!({
                "records": c.records.get(),
                "drop_records": c.dropped.get(),
                "add_records": c.added.get(),
            }),
        );
    }
    let mut output = Map::new();
    for (name, c) in &m.outputs {
        output.insert(
            name.to_string(),
            json!({
                "proc_records": c.proc_records.get(),
                "proc_bytes": c.proc_bytes.get(),
                "errors": c.errors.get(),
                "retries": c.retries.get(),
                "retries_failed": c.retries_failed.get(),
                "dropped_records": c.dropped_records.get(),
                "retried_records": c.retried_records.get(),
            }),
        );
    }
    json!({"input": input, "filter": filter, "output": output})
}

/// Chunk counts of the whole storage layer, as `/api/v1/storage` and the
/// `fluentbit_storage_*` families report them.
pub(crate) struct StorageLayer {
    pub total: u64,
    /// Chunks of memory-storage inputs.
    pub mem: u64,
    /// Chunk files.
    pub fs: u64,
    /// Sealed chunk files whose events are also in memory.
    pub fs_up: u64,
    /// Sealed chunk files whose events are on disk only.
    pub fs_down: u64,
}

impl StorageLayer {
    pub fn of(m: &InstanceMetrics) -> Self {
        let held: usize = m.input_memory.iter().map(|a| a.chunks()).sum();
        let (fs, fs_up, fs_down) = m
            .storage
            .as_ref()
            .map_or((0, 0, 0), |s| (s.files.get(), s.up.get(), s.down.get()));
        let mem = (held as u64).saturating_sub(fs_up);
        StorageLayer {
            total: mem + fs,
            mem,
            fs,
            fs_up,
            fs_down,
        }
    }
}

/// `/api/v1/storage`: chunks and memory per input; the `filesystem`
/// object (sluice's own) counts the store's work.
fn storage_json(m: &InstanceMetrics) -> Value {
    let mut inputs = Map::new();
    for ((name, _), acct) in m.inputs.iter().zip(&m.input_memory) {
        inputs.insert(
            name.to_string(),
            json!({
                "status": {
                    "overlimit": acct.is_paused(),
                    "mem_size": acct.used(),
                    "mem_limit": acct.limit(),
                },
                "chunks": {
                    "total": acct.chunks(),
                    "up": acct.chunks(),
                    "down": 0,
                    "busy": acct.chunks(),
                    "busy_size": acct.used(),
                },
            }),
        );
    }
    let layer = StorageLayer::of(m);
    let mut out = json!({
        "storage_layer": {
            "chunks": {
                "total_chunks": layer.total,
                "mem_chunks": layer.mem,
                "fs_chunks": layer.fs,
                "fs_chunks_up": layer.fs_up,
                "fs_chunks_down": layer.fs_down,
            }
        },
        "input_chunks": inputs,
    });
    if let Some(s) = &m.storage {
        out["filesystem"] = json!({
            "files": s.files.get(),
            "created": s.created.get(),
            "write_errors": s.write_errors.get(),
            "replayed": s.replayed.get(),
            "quarantined": s.quarantined.get(),
            "rejected": s.rejected.get(),
        });
    }
    out
}

fn names<T>(instances: &[(Arc<str>, T)]) -> Vec<String> {
    instances.iter().map(|(n, _)| n.to_string()).collect()
}

fn plugins_json(state: &ApiState) -> Value {
    let m = state.metrics();
    json!({
        "plugins": {
            "inputs": state.plugins.inputs,
            "filters": state.plugins.filters,
            "outputs": state.plugins.outputs,
        },
        "instances": {
            "inputs": names(&m.inputs),
            "filters": names(&m.filters),
            "outputs": names(&m.outputs),
        },
    })
}

/// Fluent Bit answers `ok` or `error` in plain text. Without
/// `Health_Check` sluice is always healthy while it can answer.
fn health_v1(state: &ApiState) -> Answer {
    let verdict = state.health.verdict(&state.metrics(), &state.health_config);
    if verdict.healthy {
        respond(StatusCode::OK, "text/plain", "ok")
    } else {
        respond(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", "error")
    }
}

fn health_v2(state: &ApiState) -> Answer {
    let cfg = &state.health_config;
    let v = state.health.verdict(&state.metrics(), cfg);
    let status = if v.healthy {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let body = json!({
        "status": if v.healthy { "ok" } else { "error" },
        "health_check": cfg.enabled,
        "period_sec": cfg.period.as_secs(),
        "errors": {"count": v.errors, "limit": cfg.errors},
        "retries_failed": {"count": v.retry_failures, "limit": cfg.retry_failures},
    });
    json_answer(status, &body)
}

/// `GET` tells the reload count; `POST`/`PUT` asks for a reload, which
/// runs in the background: 400 when hot reload is off or a reload is
/// under way, as in Fluent Bit.
fn reload(state: &ApiState, method: &Method) -> Answer {
    match *method {
        Method::GET | Method::HEAD => json_answer(
            StatusCode::OK,
            &json!({"hot_reload_count": state.reloads.load(Ordering::Relaxed)}),
        ),
        Method::POST | Method::PUT if !state.hot_reload => json_answer(
            StatusCode::BAD_REQUEST,
            &json!({"reload": "not enabled", "status": -1}),
        ),
        Method::POST | Method::PUT if state.request_reload() => {
            json_answer(StatusCode::OK, &json!({"reload": "started", "status": 0}))
        }
        Method::POST | Method::PUT => json_answer(
            StatusCode::BAD_REQUEST,
            &json!({"reload": "in progress", "status": -2}),
        ),
        _ => json_answer(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"error": "method not allowed"}),
        ),
    }
}
