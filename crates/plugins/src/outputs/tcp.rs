//! `tcp`: writes records to a TCP (or TLS) server.
//!
//! Options: `host` (127.0.0.1), `port` (5170), `format` — `msgpack`
//! (default: the chunk's MessagePack events, `[[time, meta], body]`, sent
//! as they are), `json` (one array per chunk), `json_lines` (one object a
//! line) or `json_stream` (objects back to back); `json_date_key` (date;
//! `false` leaves the time out) and `json_date_format` (double, epoch,
//! epoch_ms, iso8601, java_sql_timestamp); `workers` (2); and the
//! `net.*`/`tls.*` keys of `net::upstream`.
//!
//! A chunk is one write on a pooled connection. A failed connect or write
//! is a Retry; the server never answers, so what it received before a
//! broken connection may be sent again.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use sluice_core::buffers;
use sluice_core::config::props::join_props;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::net::upstream::{Upstream, UPSTREAM_PROPS};
use sluice_core::plugin::{BuildOutput, Output, Setup, Spec, Verdict};
use sluice_core::Chunk;

use super::stdout::{self, Format, Options};

const OWN_PROPS: &[Property] = &[
    Property::new("host", PropKind::Str, Some("127.0.0.1"), "Server host"),
    Property::new("port", PropKind::Int, Some("5170"), "Server port"),
    Property::new(
        "format",
        PropKind::Str,
        Some("msgpack"),
        "Payload format: msgpack, json, json_lines or json_stream",
    ),
    Property::new(
        "json_date_key",
        PropKind::Str,
        Some("date"),
        "Key of the record time in JSON formats (false: no time key)",
    ),
    Property::new(
        "json_date_format",
        PropKind::Str,
        Some("double"),
        "Time format: double, epoch, epoch_ms, iso8601 or java_sql_timestamp",
    ),
    Property::new(
        "workers",
        PropKind::Int,
        Some("2"),
        "Flushes of this output that may run at once",
    ),
];

const PROPS: [Property; OWN_PROPS.len() + UPSTREAM_PROPS.len()] =
    join_props(OWN_PROPS, UPSTREAM_PROPS);

pub const SPEC: Spec<BuildOutput> = Spec {
    name: "tcp",
    description: "Send records to a TCP or TLS server",
    properties: &PROPS,
    build,
};

struct Tcp {
    upstream: Upstream,
    options: Options,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    Ok(Arc::new(Tcp {
        upstream: super::upstream(cfg)?,
        options: stdout::options(cfg)?,
    }))
}

/// The bytes `tcp` sends for `chunk`.
// TODO: render JSON off the reactor for large chunks, because a 2 MiB
// chunk takes a few milliseconds of a worker thread. `block_in_place`
// was measured (W4: 1.88 -> 1.99 M records/s) but raised peak RSS from
// 43 to 80 MiB, past the 50 MiB target (buffers freed on other threads'
// malloc arenas); a fixed render thread may do better.
fn payload<'a>(chunk: &'a Chunk, options: &Options) -> Cow<'a, [u8]> {
    if options.format == Format::Msgpack {
        return Cow::Borrowed(chunk.data());
    }
    let mut text = buffers::take(chunk.size() * 2);
    stdout::render(chunk, options, &mut text).log(chunk.tag());
    Cow::Owned(text)
}

#[async_trait]
impl Output for Tcp {
    async fn flush(&self, chunk: &Chunk) -> Verdict {
        let payload = payload(chunk, &self.options);
        let verdict = super::write_stream(&self.upstream, &payload).await;
        if let Cow::Owned(text) = payload {
            buffers::give(text);
        }
        verdict
    }

    fn connections(&self) -> Option<(u64, u64)> {
        super::connection_counts([&self.upstream])
    }

    async fn shutdown(&self) {
        self.upstream.close_idle().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::testutil::{body, chunk, config, setup};
    use sluice_core::Value;

    #[test]
    fn msgpack_is_the_chunk_as_it_is_and_json_lines_is_text() {
        let c = chunk("t", &[body(&[("a", Value::UInt(1))])]);
        let cfg = config(&SPEC, &[]).unwrap();
        assert_eq!(&*payload(&c, &stdout::options(&cfg).unwrap()), c.data());
        let cfg = config(&SPEC, &[("format", "json_lines"), ("json_date_key", "off")]).unwrap();
        let text = payload(&c, &stdout::options(&cfg).unwrap()).into_owned();
        assert_eq!(text, b"{\"a\":1}\n");
        assert!((SPEC.build)(&config(&SPEC, &[("format", "xml")]).unwrap(), &setup()).is_err());
    }
}
