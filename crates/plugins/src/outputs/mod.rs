//! The outputs: each module is one `[OUTPUT]` plugin, named as configs
//! name it. `format` holds the record printing that several share.

pub mod counter;
pub mod es;
pub mod exit;
pub mod file;
mod file_format;
mod format;
pub mod http;
pub mod loki;
pub mod null;
pub mod splunk;
pub mod stdout;

use sluice_core::plugin::{BuildOutput, Spec, Verdict};

/// Every output plugin, in the order `-h` lists them.
pub fn specs() -> Vec<Spec<BuildOutput>> {
    vec![
        counter::SPEC,
        es::SPEC,
        exit::SPEC,
        file::SPEC,
        http::SPEC,
        loki::SPEC,
        null::SPEC,
        es::OPENSEARCH_SPEC,
        splunk::SPEC,
        stdout::SPEC,
    ]
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
