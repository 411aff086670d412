//! The `[SERVICE]` section: process-wide settings.

use std::time::Duration;

use crate::config::{ConfigError, PluginConfig, PropKind, Property, Section};
use crate::storage::chunk_file::SyncMode;
use crate::storage::StoreSettings;

use super::log_settings::{parse_level, LogLevel};
use super::retry::Backoff;

/// Every key `[SERVICE]` accepts. Keys that belong to parts sluice does
/// not have yet are accepted so Fluent Bit configs load, and named in a
/// warning when set.
pub const SERVICE_PROPS: &[Property] = &[
    Property::new(
        "flush",
        PropKind::Double,
        Some("1"),
        "Seconds between flushes of open chunks (fractions allowed)",
    ),
    Property::new(
        "grace",
        PropKind::Time,
        Some("5"),
        "Seconds to wait for pending flushes at shutdown",
    ),
    Property::new(
        "daemon",
        PropKind::Bool,
        Some("off"),
        "Ignored: run sluice under a supervisor (systemd Type=simple) instead",
    ),
    Property::new(
        "log_level",
        PropKind::Str,
        Some("info"),
        "off, error, warn, info, debug or trace",
    ),
    Property::new(
        "log_file",
        PropKind::Str,
        None,
        "Write the process log to this file instead of stderr",
    ),
    Property::new(
        "parsers_file",
        PropKind::Str,
        None,
        "File with [PARSER] and [MULTILINE_PARSER] sections",
    )
    .repeatable(),
    Property::new(
        "plugins_file",
        PropKind::Str,
        None,
        "Not supported: sluice has no dynamically loaded plugins",
    ),
    Property::new(
        "streams_file",
        PropKind::Str,
        None,
        "Not supported yet: stream processing",
    ),
    Property::new(
        "http_server",
        PropKind::Bool,
        Some("off"),
        "Serve the HTTP monitoring API",
    ),
    Property::new(
        "http_listen",
        PropKind::Str,
        Some("0.0.0.0"),
        "Address of the HTTP monitoring API",
    ),
    Property::new(
        "http_port",
        PropKind::Int,
        Some("2020"),
        "Port of the HTTP monitoring API",
    ),
    Property::new(
        "health_check",
        PropKind::Bool,
        Some("off"),
        "Enable /api/v1/health",
    ),
    Property::new(
        "hc_errors_count",
        PropKind::Int,
        Some("5"),
        "Errors per period that make the health check fail",
    ),
    Property::new(
        "hc_retry_failure_count",
        PropKind::Int,
        Some("5"),
        "Exhausted retries per period that make the health check fail",
    ),
    Property::new(
        "hc_period",
        PropKind::Int,
        Some("60"),
        "Seconds of the health check period",
    ),
    Property::new(
        "hot_reload",
        PropKind::Bool,
        Some("off"),
        "Reload the configuration on SIGHUP or POST /api/v2/reload",
    ),
    Property::new(
        "hot_reload.timeout",
        PropKind::Time,
        Some("0"),
        "Longest a replaced pipeline keeps delivering its queue (0: until done)",
    ),
    Property::new(
        "coro_stack_size",
        PropKind::Int,
        None,
        "Ignored: flushes are async tasks, not coroutines",
    ),
    Property::new(
        "scheduler.base",
        PropKind::Int,
        Some("5"),
        "Base of the retry backoff, in seconds",
    ),
    Property::new(
        "scheduler.cap",
        PropKind::Int,
        Some("2000"),
        "Longest retry wait, in seconds",
    ),
    Property::new(
        "storage.path",
        PropKind::Str,
        None,
        "Directory for filesystem storage",
    ),
    Property::new(
        "storage.sync",
        PropKind::Str,
        Some("normal"),
        "normal or full",
    ),
    Property::new(
        "storage.checksum",
        PropKind::Bool,
        Some("off"),
        "Checksum chunk files",
    ),
    Property::new(
        "storage.max_chunks_up",
        PropKind::Int,
        Some("128"),
        "Most chunks in memory",
    ),
    Property::new(
        "storage.backlog.mem_limit",
        PropKind::Size,
        Some("100M"),
        "Memory for loading the backlog",
    ),
    Property::new(
        "storage.backlog.flush_on_shutdown",
        PropKind::Bool,
        Some("off"),
        "Flush the backlog at shutdown",
    ),
    Property::new(
        "storage.delete_irrecoverable_chunks",
        PropKind::Bool,
        Some("off"),
        "Delete chunk files that cannot be read",
    ),
    Property::new(
        "storage.metrics",
        PropKind::Bool,
        Some("off"),
        "Serve /api/v1/storage",
    ),
    Property::new(
        "storage.keep.rejected",
        PropKind::Bool,
        Some("off"),
        "Keep chunks that outputs rejected",
    ),
    Property::new(
        "storage.rejected.path",
        PropKind::Str,
        None,
        "Where rejected chunks are kept",
    ),
    Property::new(
        "log_suppress_interval",
        PropKind::Time,
        Some("0"),
        "Seconds within which a repeated identical log line is not written again (0: off)",
    ),
    Property::new(
        "dns.mode",
        PropKind::Str,
        None,
        "UDP or TCP for DNS lookups",
    ),
    Property::new(
        "dns.resolver",
        PropKind::Str,
        None,
        "Resolver implementation",
    ),
    Property::new(
        "dns.prefer_ipv4",
        PropKind::Bool,
        Some("off"),
        "Prefer IPv4 addresses",
    ),
    Property::new(
        "json.convert_nan_to_null",
        PropKind::Bool,
        Some("on"),
        "NaN is always written as null in JSON",
    ),
];

/// Keys accepted for compatibility whose feature sluice lacks so far.
const NOT_YET: &[&str] = &["streams_file", "plugins_file"];

/// The settings the engine uses.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub flush: Duration,
    pub grace: Duration,
    pub log_level: LogLevel,
    pub log_file: Option<String>,
    /// `Log_Suppress_Interval`: repeats of a log line within it are
    /// counted instead of written (zero: off).
    pub log_suppress_interval: Duration,
    pub backoff: Backoff,
    /// The monitoring API, when `HTTP_Server` is on.
    pub http: Option<HttpServerConfig>,
    pub health: HealthConfig,
    pub hot_reload: bool,
    /// `Hot_Reload.Timeout`: how long a replaced pipeline may keep
    /// draining (zero: until done).
    pub hot_reload_timeout: Duration,
    /// `storage.metrics`: serve `/api/v1/storage`.
    pub storage_metrics: bool,
    /// Filesystem storage, when `storage.path` is set.
    pub storage: Option<StoreSettings>,
}

/// `HTTP_Listen` and `HTTP_Port`.
#[derive(Debug, Clone)]
pub struct HttpServerConfig {
    pub listen: String,
    pub port: u16,
}

/// `Health_Check` and its thresholds: unhealthy when, within the last
/// `period`, outputs failed more than `errors` flushes or exhausted more
/// than `retry_failures` chunks' retries.
#[derive(Debug, Clone, Copy)]
pub struct HealthConfig {
    pub enabled: bool,
    pub errors: u64,
    pub retry_failures: u64,
    pub period: Duration,
}

impl ServiceConfig {
    /// Checks the `[SERVICE]` section.
    ///
    /// # Errors
    /// Unknown keys, bad values, a flush interval that is not positive.
    pub fn from_section(section: &Section) -> Result<Self, ConfigError> {
        let cfg = PluginConfig::new(section, "service", "service".into(), &[SERVICE_PROPS])?;
        let flush_secs = cfg.double("flush").unwrap_or(1.0);
        let flush = Duration::try_from_secs_f64(flush_secs)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| cfg.error("flush", "must be a positive number of seconds"))?;
        let backoff = Backoff::new(
            cfg.int("scheduler.base").unwrap_or(5),
            cfg.int("scheduler.cap").unwrap_or(2000),
        )
        .map_err(|e| cfg.error("scheduler.base", e.message))?;
        let log_level = parse_level(&cfg, "log_level", cfg.str("log_level").unwrap_or("info"))?;
        for key in NOT_YET {
            if cfg.is_set(key) {
                tracing::warn!(
                    key,
                    "service setting accepted but not supported yet; ignored"
                );
            }
        }
        let http = cfg.bool("http_server").then(|| HttpServerConfig {
            listen: cfg.str("http_listen").unwrap_or("0.0.0.0").to_owned(),
            port: 0,
        });
        let http = match http {
            Some(mut h) => {
                let port = cfg.int("http_port").unwrap_or(2020);
                h.port = u16::try_from(port)
                    .map_err(|_| cfg.error("http_port", "must be between 0 and 65535"))?;
                Some(h)
            }
            None => None,
        };
        let count = |key: &str| {
            let n = cfg.int(key).unwrap_or(5);
            u64::try_from(n).map_err(|_| cfg.error(key, "must not be negative"))
        };
        let period = cfg.int("hc_period").unwrap_or(60);
        if period < 1 {
            return Err(cfg.error("hc_period", "must be at least 1 second"));
        }
        let health = HealthConfig {
            enabled: cfg.bool("health_check"),
            errors: count("hc_errors_count")?,
            retry_failures: count("hc_retry_failure_count")?,
            period: Duration::from_secs(period as u64),
        };
        let storage = storage_settings(&cfg)?;
        Ok(ServiceConfig {
            storage,
            http,
            health,
            hot_reload: cfg.bool("hot_reload"),
            hot_reload_timeout: cfg.time("hot_reload.timeout").unwrap_or_default(),
            storage_metrics: cfg.bool("storage.metrics"),
            flush,
            grace: cfg.time("grace").unwrap_or(Duration::from_secs(5)),
            log_level,
            log_file: cfg.str("log_file").map(str::to_owned),
            log_suppress_interval: cfg.time("log_suppress_interval").unwrap_or_default(),
            backoff,
        })
    }
}

/// The `storage.*` settings, when `storage.path` is set.
fn storage_settings(cfg: &PluginConfig) -> Result<Option<StoreSettings>, ConfigError> {
    let Some(root) = cfg.str("storage.path") else {
        return Ok(None);
    };
    let sync = match cfg
        .str("storage.sync")
        .unwrap_or("normal")
        .to_ascii_lowercase()
        .as_str()
    {
        "normal" => SyncMode::Normal,
        "full" => SyncMode::Full,
        other => return Err(cfg.error("storage.sync", format!("'{other}' is not normal or full"))),
    };
    let backlog = cfg.size("storage.backlog.mem_limit").unwrap_or(100 << 20);
    Ok(Some(StoreSettings {
        root: root.into(),
        sync,
        delete_irrecoverable: cfg.bool("storage.delete_irrecoverable_chunks"),
        backlog_mem_limit: usize::try_from(backlog).unwrap_or(usize::MAX).max(1),
        rejected: cfg.bool("storage.keep.rejected").then(|| {
            let dir = cfg.str("storage.rejected.path").unwrap_or("rejected");
            std::path::Path::new(root).join(dir)
        }),
        max_chunks_up: usize::try_from(cfg.int("storage.max_chunks_up").unwrap_or(128))
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| cfg.error("storage.max_chunks_up", "must be at least 1"))?,
    }))
}
