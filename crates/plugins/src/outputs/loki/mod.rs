//! `loki`: pushes records to Grafana Loki's push API as JSON.
//!
//! Options: `host` (127.0.0.1), `port` (3100), `uri`
//! (/loki/api/v1/push), `tenant_id` (sent as `X-Scope-OrgID`), `labels`
//! (job=fluent-bit; comma-separated `name=value`, `name=$accessor` or
//! `$accessor`), `label_keys` (comma-separated `$accessor`s),
//! `structured_metadata` (the same forms as `labels`, sent beside each
//! line), `remove_keys` (accessors removed from the line), `line_format`
//! (json or key_value),
//! `drop_single_key` (off; on: a record left with one key sends just its
//! value, JSON-encoded; raw: strings without quotes), `http_user`/
//! `http_passwd`, `bearer_token`, `header NAME VALUE` (repeatable),
//! `compress` (`gzip`: the JSON body gzipped; `snappy`, not in Fluent
//! Bit: the protobuf `PushRequest` in a Snappy block, as Promtail and
//! Vector send), and the shared HTTP client's `net.*` and `tls.*`.
//!
//! A chunk is one request; records are grouped into one stream per label
//! set (see [`push`]). Keys used as labels stay in the line unless
//! `remove_keys` names them.

mod labels;
mod proto;
mod push;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use hyper::Method;
use sluice_core::config::props::join_props;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::net::http_client::{self, HttpClient, HttpRequest, HTTP_OUTPUT_NET_PROPS};
use sluice_core::plugin::{BuildOutput, Output, Setup, Spec, Verdict};
use sluice_core::record_accessor::RecordAccessor;
use sluice_core::Chunk;

use super::http::{configured_headers, header_value};
use labels::LabelSet;
use push::{LineFormat, PushOptions, SingleKey};

const OWN_PROPS: &[Property] = &[
    Property::new("host", PropKind::Str, Some("127.0.0.1"), "Loki address"),
    Property::new("port", PropKind::Int, Some("3100"), "Loki port"),
    Property::new("uri", PropKind::Str, Some("/loki/api/v1/push"), "Push path"),
    Property::new("tenant_id", PropKind::Str, None, "Tenant (X-Scope-OrgID)"),
    Property::new(
        "labels",
        PropKind::Str,
        Some("job=fluent-bit"),
        "Stream labels: name=value, name=$key or $key, comma-separated",
    ),
    Property::new(
        "label_keys",
        PropKind::Str,
        None,
        "Record keys ($key) as labels",
    ),
    Property::new(
        "structured_metadata",
        PropKind::Str,
        None,
        "Metadata sent with each line: name=value, name=$key or $key",
    ),
    Property::new(
        "remove_keys",
        PropKind::Str,
        None,
        "Record keys ($key) to remove",
    ),
    Property::new(
        "line_format",
        PropKind::Str,
        Some("json"),
        "json or key_value",
    ),
    Property::new(
        "drop_single_key",
        PropKind::Str,
        Some("off"),
        "on/raw: a record with one key left sends only its value",
    ),
    Property::new("http_user", PropKind::Str, None, "Basic auth user"),
    Property::new(
        "http_passwd",
        PropKind::Str,
        Some(""),
        "Basic auth password",
    ),
    Property::new("bearer_token", PropKind::Str, None, "Bearer token"),
    Property::new("header", PropKind::Str, None, "A header: NAME VALUE").repeatable(),
    Property::new(
        "compress",
        PropKind::Str,
        None,
        "gzip: JSON gzipped; snappy: protobuf in a Snappy block",
    ),
];

const PROPS: [Property; OWN_PROPS.len() + HTTP_OUTPUT_NET_PROPS.len()] =
    join_props(OWN_PROPS, &HTTP_OUTPUT_NET_PROPS);

pub const SPEC: Spec<BuildOutput> = Spec {
    name: "loki",
    description: "Push records to Grafana Loki",
    properties: &PROPS,
    build,
};

struct Loki {
    client: HttpClient,
    path: String,
    options: PushOptions,
    headers: Vec<(HeaderName, HeaderValue)>,
    compress: Compress,
}

/// `compress`: how the body is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compress {
    None,
    /// JSON, gzipped.
    Gzip,
    /// Protobuf in a Snappy block.
    Snappy,
}

fn compress(cfg: &PluginConfig) -> Result<Compress, ConfigError> {
    match cfg.str("compress").map(str::trim) {
        None | Some("") => Ok(Compress::None),
        Some(v) if v.eq_ignore_ascii_case("gzip") => Ok(Compress::Gzip),
        Some(v) if v.eq_ignore_ascii_case("snappy") => Ok(Compress::Snappy),
        Some(v) => Err(cfg.error(
            "compress",
            format!("unknown compression '{v}'; use gzip or snappy"),
        )),
    }
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    let compress = compress(cfg)?;
    let mut options = push_options(cfg)?;
    options.protobuf = compress == Compress::Snappy;
    Ok(Arc::new(Loki {
        client: HttpClient::from_config(cfg)?,
        path: http_client::request_path(cfg, "uri", "/loki/api/v1/push")?,
        options,
        headers: headers(cfg, compress)?,
        compress,
    }))
}

fn push_options(cfg: &PluginConfig) -> Result<PushOptions, ConfigError> {
    let text = |key: &str| cfg.str(key).unwrap_or_default().to_owned();
    let labels = LabelSet::parse(&text("labels"), &text("label_keys"))
        .map_err(|e| cfg.error("labels", e))?;
    let metadata = LabelSet::parse(&text("structured_metadata"), "")
        .map_err(|e| cfg.error("structured_metadata", e))?;
    let remove_keys = text("remove_keys")
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| RecordAccessor::parse(k).map_err(|e| cfg.error("remove_keys", e)))
        .collect::<Result<_, _>>()?;
    let line_format = match text("line_format").trim().to_ascii_lowercase().as_str() {
        "json" => LineFormat::Json,
        "key_value" => LineFormat::KeyValue,
        other => {
            return Err(cfg.error("line_format", format!("'{other}' is not json or key_value")))
        }
    };
    let single_key = match text("drop_single_key").trim().to_ascii_lowercase().as_str() {
        "raw" => SingleKey::Raw,
        other => match sluice_core::config::props::parse_bool(other) {
            Ok(true) => SingleKey::Drop,
            Ok(false) => SingleKey::Keep,
            Err(e) => return Err(cfg.error("drop_single_key", format!("{e}, or raw"))),
        },
    };
    Ok(PushOptions {
        labels,
        metadata,
        remove_keys,
        line_format,
        single_key,
        protobuf: false,
    })
}

fn headers(
    cfg: &PluginConfig,
    compress: Compress,
) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
    let content_type = match compress {
        Compress::Snappy => "application/x-protobuf",
        Compress::None | Compress::Gzip => "application/json",
    };
    let mut headers = vec![(CONTENT_TYPE, HeaderValue::from_static(content_type))];
    headers.extend(configured_headers(cfg)?);
    if let Some(tenant) = cfg.str("tenant_id").filter(|t| !t.trim().is_empty()) {
        let name = HeaderName::from_static("x-scope-orgid");
        headers.push((name, header_value(cfg, "tenant_id", tenant.trim())?));
    }
    if let Some(token) = cfg.str("bearer_token") {
        let value = header_value(cfg, "bearer_token", &format!("Bearer {}", token.trim()))?;
        headers.push((AUTHORIZATION, value));
    } else if let Some(user) = cfg.str("http_user") {
        let auth = http_client::basic_auth(user, cfg.str("http_passwd").unwrap_or(""));
        headers.push((AUTHORIZATION, header_value(cfg, "http_user", &auth)?));
    }
    Ok(headers)
}

#[async_trait]
impl Output for Loki {
    async fn flush(&self, chunk: &Chunk) -> Verdict {
        let push = self.options.build(chunk.events());
        if let Some(err) = &push.first_error {
            tracing::warn!(
                tag = chunk.tag(),
                skipped = push.malformed,
                first_error = %err,
                "malformed events left out of the push"
            );
        }
        if push.entries == 0 {
            return Verdict::Ok;
        }
        let mut headers = self.headers.clone();
        let body = match self.compress {
            Compress::None => push.body,
            Compress::Gzip => {
                headers.push((CONTENT_ENCODING, HeaderValue::from_static("gzip")));
                http_client::gzip(push.body).await
            }
            // Loki reads a protobuf push as one Snappy block, with no
            // Content-Encoding.
            Compress::Snappy => proto::snappy(push.body).await,
        };
        let request = HttpRequest {
            method: Method::POST,
            path: self.path.clone(),
            headers,
            body: Bytes::from(body),
        };
        match self.client.send(&request).await {
            Ok(response) => http_client::verdict(&response),
            Err(e) => Verdict::Retry(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::testutil::{config, setup};

    #[test]
    fn bad_values_are_config_errors_naming_the_key() {
        for (key, value) in [
            ("labels", "nolabel"),
            ("line_format", "logfmt"),
            ("drop_single_key", "maybe"),
            ("remove_keys", "$a["),
            ("compress", "zstd"),
        ] {
            let cfg = config(&SPEC, &[(key, value)]).unwrap();
            let err = (SPEC.build)(&cfg, &setup()).err().expect(key).to_string();
            assert!(err.contains(&format!("key '{key}'")), "{key}: {err}");
        }
    }
}
