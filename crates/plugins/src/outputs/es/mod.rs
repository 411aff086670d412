//! `es` (also `opensearch`): indexes records through the `_bulk` API.
//!
//! Options: `host` (127.0.0.1), `port` (9200), `path` (prefix before
//! `/_bulk`), `pipeline`, `index` (fluent-bit), `type` (_doc),
//! `suppress_type_name` (off: the action line carries `_type`),
//! `logstash_format` (off; on: index `logstash_prefix-DATE`),
//! `logstash_prefix` (logstash), `logstash_dateformat` (%Y.%m.%d),
//! `current_time_index` (off: the date is the record's), `time_key`
//! (@timestamp), `time_key_format` (%Y-%m-%dT%H:%M:%S, then milliseconds
//! and `Z`), `time_key_nanos` (off), `include_tag_key` (off), `tag_key`
//! (_flb-key), `generate_id` (off: on gives each record an id hashed from
//! its content), `id_key` (the record key whose value is the id),
//! `write_operation` (create, index, update, upsert; the last two need an
//! id), `replace_dots` (off), `buffer_size` (512KB; accepted, see below),
//! `http_user`/`http_passwd`, `http_api_key`, `compress gzip`, `workers`
//! (2, as in Fluent Bit), and the shared HTTP client's `net.*` and `tls.*`.
//!
//! A 2xx answer is read item by item (see [`answer`]): records whose items
//! failed with 408/429/5xx are handed back to the engine in a
//! [`Verdict::Partial`] and only they are sent again; records refused for
//! good are dropped and counted; records stored are never sent again. The
//! whole answer is always read, whatever `buffer_size` says, since the
//! items decide what is retried.

mod answer;
mod bulk;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use hyper::Method;
use sluice_core::config::props::join_props;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::net::http_client::{self, HttpClient, HttpRequest, HTTP_OUTPUT_NET_PROPS};
use sluice_core::plugin::{BuildOutput, Output, Partial, Setup, Spec, Verdict};
use sluice_core::Chunk;

use super::http::{compression, header_value};
use bulk::{check_strftime, Bulk, BulkOptions, IndexName, WriteOperation};

const OWN_PROPS: &[Property] = &[
    Property::new(
        "workers",
        PropKind::Int,
        Some("2"),
        "Flushes of this output that may run at once",
    ),
    Property::new("host", PropKind::Str, Some("127.0.0.1"), "Server address"),
    Property::new("port", PropKind::Int, Some("9200"), "Server port"),
    Property::new("path", PropKind::Str, Some(""), "Path prefix before /_bulk"),
    Property::new("pipeline", PropKind::Str, None, "Ingest pipeline to run"),
    Property::new("index", PropKind::Str, Some("fluent-bit"), "Index name"),
    Property::new("type", PropKind::Str, Some("_doc"), "Document type"),
    Property::new(
        "suppress_type_name",
        PropKind::Bool,
        Some("off"),
        "Leave _type out of action lines (Elasticsearch 8)",
    ),
    Property::new(
        "logstash_format",
        PropKind::Bool,
        Some("off"),
        "Index into logstash_prefix-DATE",
    ),
    Property::new(
        "logstash_prefix",
        PropKind::Str,
        Some("logstash"),
        "Index prefix",
    ),
    Property::new(
        "logstash_dateformat",
        PropKind::Str,
        Some("%Y.%m.%d"),
        "strftime format of the index date",
    ),
    Property::new(
        "current_time_index",
        PropKind::Bool,
        Some("off"),
        "Date the index by the flush time instead of the record's",
    ),
    Property::new(
        "time_key",
        PropKind::Str,
        Some("@timestamp"),
        "Key of the time",
    ),
    Property::new(
        "time_key_format",
        PropKind::Str,
        Some("%Y-%m-%dT%H:%M:%S"),
        "strftime format of the time (fraction and Z follow)",
    ),
    Property::new(
        "time_key_nanos",
        PropKind::Bool,
        Some("off"),
        "Nanoseconds instead of milliseconds in the time",
    ),
    Property::new(
        "include_tag_key",
        PropKind::Bool,
        Some("off"),
        "Add the tag to each record",
    ),
    Property::new("tag_key", PropKind::Str, Some("_flb-key"), "Key of the tag"),
    Property::new(
        "generate_id",
        PropKind::Bool,
        Some("off"),
        "Give each record an id hashed from its content",
    ),
    Property::new("id_key", PropKind::Str, None, "Record key holding the _id"),
    Property::new(
        "write_operation",
        PropKind::Str,
        Some("create"),
        "create, index, update or upsert",
    ),
    Property::new(
        "replace_dots",
        PropKind::Bool,
        Some("off"),
        "Replace dots in keys with underscores",
    ),
    Property::new(
        "buffer_size",
        PropKind::Str,
        Some("512KB"),
        "Accepted for compatibility; the whole answer is always read",
    ),
    Property::new("http_user", PropKind::Str, None, "Basic auth user"),
    Property::new(
        "http_passwd",
        PropKind::Str,
        Some(""),
        "Basic auth password",
    ),
    Property::new(
        "http_api_key",
        PropKind::Str,
        None,
        "API key (Authorization: ApiKey)",
    ),
    Property::new("compress", PropKind::Str, None, "gzip: compress the body"),
];

const PROPS: [Property; OWN_PROPS.len() + HTTP_OUTPUT_NET_PROPS.len()] =
    join_props(OWN_PROPS, &HTTP_OUTPUT_NET_PROPS);

pub const SPEC: Spec<BuildOutput> = Spec {
    name: "es",
    description: "Index records in Elasticsearch or OpenSearch (_bulk API)",
    properties: &PROPS,
    build,
};

/// The same plugin under OpenSearch's name.
pub const OPENSEARCH_SPEC: Spec<BuildOutput> = Spec {
    name: "opensearch",
    description: "Index records in OpenSearch (_bulk API)",
    properties: &PROPS,
    build,
};

struct Elasticsearch {
    client: HttpClient,
    path: String,
    options: BulkOptions,
    authorization: Option<HeaderValue>,
    gzip: bool,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    Ok(Arc::new(Elasticsearch {
        client: HttpClient::from_config(cfg)?,
        path: bulk_path(cfg)?,
        options: bulk_options(cfg)?,
        authorization: authorization(cfg)?,
        gzip: compression(cfg)?,
    }))
}

fn bulk_path(cfg: &PluginConfig) -> Result<String, ConfigError> {
    let prefix = cfg.str("path").unwrap_or("").trim().trim_end_matches('/');
    let mut path = format!("{prefix}/_bulk");
    if let Some(pipeline) = cfg.str("pipeline").filter(|p| !p.trim().is_empty()) {
        path = format!("{path}?pipeline={}", pipeline.trim());
    }
    path.parse::<hyper::Uri>()
        .map_err(|e| cfg.error("path", format!("'{path}' is not a request path; {e}")))?;
    Ok(path)
}

fn bulk_options(cfg: &PluginConfig) -> Result<BulkOptions, ConfigError> {
    let text = |key: &str| cfg.str(key).unwrap_or_default().trim().to_owned();
    let strftime = |key: &str| {
        let pattern = text(key);
        if check_strftime(&pattern) {
            Ok(pattern)
        } else {
            Err(cfg.error(key, format!("'{pattern}' is not a strftime format")))
        }
    };
    let index = if cfg.bool("logstash_format") {
        IndexName::Logstash {
            prefix: text("logstash_prefix"),
            date_format: strftime("logstash_dateformat")?,
        }
    } else {
        IndexName::Fixed(text("index"))
    };
    let operation_name = text("write_operation");
    let operation = WriteOperation::parse(&operation_name).ok_or_else(|| {
        cfg.error(
            "write_operation",
            format!("'{operation_name}' is not create, index, update or upsert"),
        )
    })?;
    let id_key = cfg.str("id_key").map(|k| k.trim().to_owned());
    let generate_id = cfg.bool("generate_id");
    if matches!(operation, WriteOperation::Update | WriteOperation::Upsert)
        && id_key.is_none()
        && !generate_id
    {
        return Err(cfg.error(
            "write_operation",
            "update and upsert need id_key or generate_id",
        ));
    }
    Ok(BulkOptions {
        index,
        type_name: (!cfg.bool("suppress_type_name")).then(|| text("type")),
        operation,
        time_key: text("time_key"),
        time_format: strftime("time_key_format")?,
        time_nanos: cfg.bool("time_key_nanos"),
        current_time_index: cfg.bool("current_time_index"),
        tag_key: cfg.bool("include_tag_key").then(|| text("tag_key")),
        generate_id,
        id_key,
        replace_dots: cfg.bool("replace_dots"),
    })
}

fn authorization(cfg: &PluginConfig) -> Result<Option<HeaderValue>, ConfigError> {
    if let Some(key) = cfg.str("http_api_key") {
        return header_value(cfg, "http_api_key", &format!("ApiKey {}", key.trim())).map(Some);
    }
    let Some(user) = cfg.str("http_user") else {
        return Ok(None);
    };
    let auth = http_client::basic_auth(user, cfg.str("http_passwd").unwrap_or(""));
    header_value(cfg, "http_user", &auth).map(Some)
}

#[async_trait]
impl Output for Elasticsearch {
    async fn flush(&self, chunk: &Chunk) -> Verdict {
        let mut bulk = self.options.build(chunk.tag(), chunk.events());
        if let Some(err) = &bulk.first_error {
            tracing::warn!(
                tag = chunk.tag(),
                skipped = bulk.malformed,
                first_error = %err,
                "malformed events dropped from the bulk request"
            );
        }
        if bulk.events.is_empty() {
            return match bulk.malformed {
                0 => Verdict::Ok,
                n => Verdict::Error(format!("none of the {n} events could be read")),
            };
        }
        let body = std::mem::take(&mut bulk.body);
        let response = match self.client.send(&self.request(body).await).await {
            Ok(response) => response,
            Err(e) => return Verdict::Retry(e.to_string()),
        };
        if !response.status.is_success() {
            return http_client::verdict(&response);
        }
        match answer::read(&response.body, bulk.events.len()) {
            // TODO: retry only the unanswered items when the answer is
            // unreadable, because today the whole chunk is sent again and
            // records stored the first time are stored twice unless ids
            // are set (generate_id or id_key).
            Err(e) => Verdict::Retry(e.to_string()),
            Ok(items) => settle(&bulk, items),
        }
    }
}

impl Elasticsearch {
    async fn request(&self, body: Vec<u8>) -> HttpRequest {
        let mut headers = vec![(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        )];
        if let Some(auth) = &self.authorization {
            headers.push((AUTHORIZATION, auth.clone()));
        }
        let body = if self.gzip {
            headers.push((CONTENT_ENCODING, HeaderValue::from_static("gzip")));
            http_client::gzip(body).await
        } else {
            body
        };
        HttpRequest {
            method: Method::POST,
            path: self.path.clone(),
            headers,
            body: Bytes::from(body),
        }
    }
}

/// The verdict for a request whose answer was read item by item.
fn settle(bulk: &Bulk<'_>, items: answer::ItemOutcomes) -> Verdict {
    let dropped = items.dropped + bulk.malformed;
    if items.retry.is_empty() && dropped == 0 {
        return Verdict::Ok;
    }
    let mut retry = Vec::new();
    for &i in &items.retry {
        retry.extend_from_slice(bulk.events[i]);
    }
    Verdict::Partial(Partial {
        retry,
        retry_records: items.retry.len(),
        dropped,
        reason: format!(
            "{} of {} bulk items failed ({} to retry); first: {}",
            items.retry.len() + items.dropped,
            bulk.events.len(),
            items.retry.len(),
            items.first_failure.as_deref().unwrap_or("malformed events"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::testutil::{config, setup};

    #[test]
    fn bad_values_are_config_errors_naming_the_key() {
        for (key, value) in [
            ("write_operation", "delete"),
            ("write_operation", "upsert"),
            ("compress", "br"),
            ("path", "/a b"),
        ] {
            let cfg = config(&SPEC, &[(key, value)]).unwrap();
            let err = (SPEC.build)(&cfg, &setup()).err().expect(key).to_string();
            assert!(err.contains(&format!("key '{key}'")), "{key}: {err}");
        }
    }

    #[test]
    fn the_bulk_path_takes_the_prefix_and_pipeline() {
        let cfg = config(&SPEC, &[("path", "/es/"), ("pipeline", "geo")]).unwrap();
        assert_eq!(bulk_path(&cfg).unwrap(), "/es/_bulk?pipeline=geo");
        assert_eq!(bulk_path(&config(&SPEC, &[]).unwrap()).unwrap(), "/_bulk");
    }
}
