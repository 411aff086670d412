//! The outputs: each module is one `[OUTPUT]` plugin, named as configs
//! name it. `format` holds the record printing that several share,
//! `gelf_message` the GELF message that `gelf` and `http` send,
//! `datagram` the UDP sending of `udp`, `syslog` and `gelf`;
//! [`upstream`] reads where a network output connects.

pub mod counter;
mod datagram;
pub mod es;
pub mod exit;
pub mod file;
mod file_format;
mod format;
pub mod forward;
pub mod gelf;
mod gelf_message;
pub mod http;
pub mod loki;
pub mod null;
pub mod splunk;
pub mod stdout;
pub mod syslog;
pub mod tcp;
pub mod udp;

use sluice_core::config::{ConfigError, PluginConfig};
use sluice_core::net::upstream::{Target, Upstream, UpstreamConfig};
use sluice_core::plugin::{BuildOutput, Spec, Verdict};

/// Every output plugin, in the order `-h` lists them.
pub fn specs() -> Vec<Spec<BuildOutput>> {
    vec![
        counter::SPEC,
        es::SPEC,
        exit::SPEC,
        file::SPEC,
        forward::SPEC,
        gelf::SPEC,
        http::SPEC,
        loki::SPEC,
        null::SPEC,
        es::OPENSEARCH_SPEC,
        splunk::SPEC,
        stdout::SPEC,
        syslog::SPEC,
        tcp::SPEC,
        udp::SPEC,
    ]
}

/// Where a network output connects: `host` and `port`, or `unix_path`
/// when the plugin declares it.
///
/// # Errors
///
/// A port outside 1–65535 or an empty host.
pub(crate) fn target(cfg: &PluginConfig) -> Result<Target, ConfigError> {
    if let Some(path) = cfg.str("unix_path").filter(|p| !p.is_empty()) {
        return Ok(Target::Unix(path.into()));
    }
    let host = cfg.str("host").unwrap_or_default().trim();
    if host.is_empty() {
        return Err(cfg.error("host", "must not be empty"));
    }
    let port = cfg.int("port").unwrap_or(0);
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| cfg.error("port", format!("'{port}' is not a port (1-65535)")))?;
    Ok(Target::Net {
        host: host.to_owned(),
        port,
    })
}

/// The upstream settings of a network output: its target and the
/// `net.*`/`tls.*` keys.
///
/// # Errors
///
/// A bad target or a bad `net.*`/`tls.*` value.
pub(crate) fn upstream_config(cfg: &PluginConfig) -> Result<UpstreamConfig, ConfigError> {
    UpstreamConfig::from_config(cfg, target(cfg)?)
}

/// The connection pool of a network output.
///
/// # Errors
///
/// As [`upstream_config`].
pub(crate) fn upstream(cfg: &PluginConfig) -> Result<Upstream, ConfigError> {
    Ok(Upstream::new(upstream_config(cfg)?))
}

/// The open and busy connections of an output's upstreams, summed.
pub(crate) fn connection_counts<'a>(
    upstreams: impl IntoIterator<Item = &'a Upstream>,
) -> Option<(u64, u64)> {
    let sum = upstreams.into_iter().fold((0, 0), |(open, busy), up| {
        let (o, b) = up.counts().get();
        (open + o, busy + b)
    });
    Some(sum)
}

/// Writes `payload` on a pooled connection. A pooled connection that the
/// server closed after it was checked gets one more try on a new one;
/// anything else that fails is a Retry.
pub(crate) async fn write_stream(upstream: &Upstream, payload: &[u8]) -> Verdict {
    if payload.is_empty() {
        return Verdict::Ok;
    }
    let mut first = true;
    loop {
        let mut conn = match upstream.connection().await {
            Ok(conn) => conn,
            Err(e) => return Verdict::Retry(e.to_string()),
        };
        match conn.write_all(payload).await {
            Ok(()) => return Verdict::Ok,
            Err(e) if conn.is_reused() && first => {
                tracing::debug!(error = %e, "pooled connection failed; trying a new one");
                first = false;
            }
            Err(e) => return Verdict::Retry(e.to_string()),
        }
    }
}

/// Writes `text` to standard output in one locked write, off the reactor.
///
/// Holding the lock for the whole buffer is what keeps the lines of
/// concurrent flushes (`workers` > 1, or several stdout outputs) from
/// interleaving. A failed write is an error, not a retry: a closed or
/// broken standard output does not come back.
pub(crate) async fn write_stdout(text: Vec<u8>) -> Verdict {
    if text.is_empty() {
        return Verdict::Ok;
    }
    let written = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        out.write_all(&text)?;
        out.flush()
    })
    .await;
    match written {
        Ok(Ok(())) => Verdict::Ok,
        Ok(Err(e)) => Verdict::Error(format!("cannot write to standard output; {e}")),
        Err(e) => Verdict::Error(format!("standard output writer failed; {e}")),
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Builders for the outputs' unit tests.

    use std::sync::Arc;

    use sluice_core::config::{Config, Origin, PluginConfig, Section, SectionKind};
    use sluice_core::plugin::Setup;
    use sluice_core::registry::OUTPUT_COMMON;
    use sluice_core::shutdown::Shutdown;
    use sluice_core::{Chunk, Event, EventTime, Map, Value};

    /// A checked `[OUTPUT]` section with these keys, as the engine makes
    /// one.
    pub fn config(
        spec: &sluice_core::plugin::Spec<sluice_core::plugin::BuildOutput>,
        pairs: &[(&str, &str)],
    ) -> Result<PluginConfig, sluice_core::config::ConfigError> {
        let mut s = Section::new(SectionKind::Output, Origin::new("t.conf", 1));
        s.push("name", spec.name, Origin::new("t.conf", 2));
        for (i, (k, v)) in pairs.iter().enumerate() {
            s.push(*k, *v, Origin::new("t.conf", i + 3));
        }
        let instance = format!("{}.0", spec.name);
        PluginConfig::new(&s, spec.name, instance, &[OUTPUT_COMMON, spec.properties])
    }

    pub fn setup() -> Setup {
        Setup::new(Arc::new(Config::default()), Shutdown::new())
    }

    /// A body map from string pairs.
    pub fn body(pairs: &[(&str, Value)]) -> Map {
        let mut m = Map::new();
        for (k, v) in pairs {
            m.push(*k, v.clone());
        }
        m
    }

    /// A chunk of events at 1700000000.123456789, one second apart.
    pub fn chunk(tag: &str, bodies: &[Map]) -> Chunk {
        let mut data = Vec::new();
        for (i, b) in bodies.iter().enumerate() {
            let time = EventTime::new(1_700_000_000 + i as i64, 123_456_789);
            Event::new(time, b.clone()).encode(&mut data);
        }
        Chunk::new(tag, data, bodies.len())
    }
}
