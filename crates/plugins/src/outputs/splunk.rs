//! `splunk`: sends records to Splunk's HTTP Event Collector (HEC).
//!
//! Options: `host` (127.0.0.1), `port` (8088), `splunk_token` (sent as
//! `Authorization: Splunk TOKEN`), `http_user`/`http_passwd` (basic auth,
//! when there is no token), `channel` (`X-Splunk-Request-Channel`),
//! `compress gzip`, `event_key` (an accessor: send that value as the
//! event instead of the whole record), `event_host`, `event_source`,
//! `event_sourcetype`, `event_index` (each a fixed text, or an accessor
//! such as `$host` read from the record), `event_sourcetype_key` and
//! `event_index_key` (accessors that override the fixed values),
//! `event_field NAME VALUE` (repeatable; the value fixed or an accessor;
//! goes under `fields`), `splunk_send_raw` (off; on: the record is sent
//! as the whole HEC object, so it carries its own `event`, `time`...),
//! `http_buffer_size` and `http_debug_bad_request` (accepted), `workers`
//! (2, as in Fluent Bit), and the shared HTTP client's `net.*` and `tls.*`.
//!
//! A chunk is one POST to `/services/collector/event`, its events one
//! JSON object each, one per line.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use hyper::Method;
use sluice_core::config::props::join_props;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::json;
use sluice_core::msgpack::DecodeError;
use sluice_core::net::http_client::{self, HttpClient, HttpRequest, HTTP_OUTPUT_NET_PROPS};
use sluice_core::plugin::{BuildOutput, Output, Setup, Spec, Verdict};
use sluice_core::record_accessor::RecordAccessor;
use sluice_core::timefmt::DateFormat;
use sluice_core::{Chunk, Map, RawEvent, Value};

use super::format::each_event;
use super::http::{compression, header_value};

const OWN_PROPS: &[Property] = &[
    Property::new(
        "workers",
        PropKind::Int,
        Some("2"),
        "Flushes of this output that may run at once",
    ),
    Property::new("host", PropKind::Str, Some("127.0.0.1"), "Splunk address"),
    Property::new("port", PropKind::Int, Some("8088"), "HEC port"),
    Property::new("splunk_token", PropKind::Str, None, "HEC token"),
    Property::new("http_user", PropKind::Str, None, "Basic auth user"),
    Property::new(
        "http_passwd",
        PropKind::Str,
        Some(""),
        "Basic auth password",
    ),
    Property::new("channel", PropKind::Str, None, "X-Splunk-Request-Channel"),
    Property::new("compress", PropKind::Str, None, "gzip: compress the body"),
    Property::new(
        "event_key",
        PropKind::Str,
        None,
        "Accessor of the event value",
    ),
    Property::new("event_host", PropKind::Str, None, "host: text or $accessor"),
    Property::new(
        "event_source",
        PropKind::Str,
        None,
        "source: text or $accessor",
    ),
    Property::new(
        "event_sourcetype",
        PropKind::Str,
        None,
        "sourcetype: text or $accessor",
    ),
    Property::new(
        "event_sourcetype_key",
        PropKind::Str,
        None,
        "Accessor of the sourcetype (overrides event_sourcetype)",
    ),
    Property::new(
        "event_index",
        PropKind::Str,
        None,
        "index: text or $accessor",
    ),
    Property::new(
        "event_index_key",
        PropKind::Str,
        None,
        "Accessor of the index (overrides event_index)",
    ),
    Property::new(
        "event_field",
        PropKind::Str,
        None,
        "NAME VALUE under fields",
    )
    .repeatable(),
    Property::new(
        "splunk_send_raw",
        PropKind::Bool,
        Some("off"),
        "Send each record as the whole HEC object",
    ),
    Property::new(
        "http_buffer_size",
        PropKind::Size,
        Some("2M"),
        "Accepted for compatibility; answers are read whole",
    ),
    Property::new(
        "http_debug_bad_request",
        PropKind::Bool,
        Some("off"),
        "Accepted for compatibility; a 400 answer is always logged",
    ),
];

const PROPS: [Property; OWN_PROPS.len() + HTTP_OUTPUT_NET_PROPS.len()] =
    join_props(OWN_PROPS, &HTTP_OUTPUT_NET_PROPS);

pub const SPEC: Spec<BuildOutput> = Spec {
    name: "splunk",
    description: "Send records to Splunk's HTTP Event Collector",
    properties: &PROPS,
    build,
};

const EVENT_PATH: &str = "/services/collector/event";

/// A metadata value: fixed, or read from each record.
#[derive(Debug, Clone)]
enum Source {
    Fixed(String),
    Record(RecordAccessor),
}

impl Source {
    fn get(&self, record: &Map) -> Option<Value> {
        match self {
            Source::Fixed(text) => Some(Value::Str(text.clone())),
            Source::Record(path) => path.get(record).cloned(),
        }
    }
}

/// What each HEC object carries besides the event.
#[derive(Debug, Clone, Default)]
struct Metadata {
    event_key: Option<RecordAccessor>,
    /// `host`, `source`, `sourcetype`, `index`, in that order.
    fields: Vec<(&'static str, Source)>,
    /// `event_field`s, under `fields`.
    extra: Vec<(String, Source)>,
}

struct Splunk {
    client: HttpClient,
    headers: Vec<(HeaderName, HeaderValue)>,
    metadata: Metadata,
    raw: bool,
    gzip: bool,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    Ok(Arc::new(Splunk {
        client: HttpClient::from_config(cfg)?,
        headers: headers(cfg)?,
        metadata: metadata(cfg)?,
        raw: cfg.bool("splunk_send_raw"),
        gzip: compression(cfg)?,
    }))
}

fn headers(cfg: &PluginConfig) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
    let mut headers = vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
    if let Some(token) = cfg.str("splunk_token") {
        let value = format!("Splunk {}", token.trim());
        headers.push((AUTHORIZATION, header_value(cfg, "splunk_token", &value)?));
    } else if let Some(user) = cfg.str("http_user") {
        let auth = http_client::basic_auth(user, cfg.str("http_passwd").unwrap_or(""));
        headers.push((AUTHORIZATION, header_value(cfg, "http_user", &auth)?));
    }
    if let Some(channel) = cfg.str("channel") {
        let name = HeaderName::from_static("x-splunk-request-channel");
        headers.push((name, header_value(cfg, "channel", channel.trim())?));
    }
    Ok(headers)
}

fn metadata(cfg: &PluginConfig) -> Result<Metadata, ConfigError> {
    let accessor =
        |key: &str, text: &str| RecordAccessor::parse(text.trim()).map_err(|e| cfg.error(key, e));
    let source = |key: &str, text: &str| -> Result<Source, ConfigError> {
        let text = text.trim();
        if text.starts_with('$') {
            accessor(key, text).map(Source::Record)
        } else {
            Ok(Source::Fixed(text.to_owned()))
        }
    };
    let mut fields = Vec::new();
    for (name, key, override_key) in [
        ("host", "event_host", None),
        ("source", "event_source", None),
        (
            "sourcetype",
            "event_sourcetype",
            Some("event_sourcetype_key"),
        ),
        ("index", "event_index", Some("event_index_key")),
    ] {
        let chosen = match override_key.and_then(|k| Some((k, cfg.str(k)?))) {
            Some((k, text)) => Some(Source::Record(accessor(k, text)?)),
            None => cfg.str(key).map(|text| source(key, text)).transpose()?,
        };
        if let Some(chosen) = chosen {
            fields.push((name, chosen));
        }
    }
    let mut extra = Vec::new();
    for entry in cfg.all("event_field") {
        let text = entry.value.trim();
        let (name, value) = text
            .split_once(char::is_whitespace)
            .ok_or_else(|| cfg.error("event_field", format!("'{text}' is not 'NAME VALUE'")))?;
        extra.push((name.to_owned(), source("event_field", value)?));
    }
    Ok(Metadata {
        event_key: cfg
            .str("event_key")
            .map(|k| accessor("event_key", k))
            .transpose()?,
        fields,
        extra,
    })
}

#[async_trait]
impl Output for Splunk {
    async fn flush(&self, chunk: &Chunk) -> Verdict {
        let mut body = Vec::with_capacity(chunk.size() * 2);
        let walk = each_event(chunk, &mut body, |out, _, e| {
            self.write_event(out, e)?;
            out.push(b'\n');
            Ok(())
        });
        walk.log(chunk.tag());
        if body.is_empty() {
            return Verdict::Ok;
        }
        let mut headers = self.headers.clone();
        let body = if self.gzip {
            headers.push((CONTENT_ENCODING, HeaderValue::from_static("gzip")));
            http_client::gzip(body).await
        } else {
            body
        };
        let request = HttpRequest {
            method: Method::POST,
            path: EVENT_PATH.to_owned(),
            headers,
            body: Bytes::from(body),
        };
        match self.client.send(&request).await {
            Ok(response) => http_client::verdict(&response),
            Err(e) => Verdict::Retry(e.to_string()),
        }
    }
}

impl Splunk {
    /// One HEC object: `time`, the metadata, `event`, then `fields`.
    fn write_event(&self, out: &mut Vec<u8>, e: &RawEvent<'_>) -> Result<(), DecodeError> {
        if self.raw {
            return json::write_record(out, e.body, None);
        }
        let meta = &self.metadata;
        let mark = out.len();
        out.extend_from_slice(b"{\"time\":");
        DateFormat::Double.write_json(out, e.time);
        if meta.fields.is_empty() && meta.extra.is_empty() && meta.event_key.is_none() {
            // The common case needs no tree: the record is copied as JSON.
            out.extend_from_slice(b",\"event\":");
            json::write_record(out, e.body, None)?;
            out.push(b'}');
            return Ok(());
        }
        let record = match e.decode() {
            Ok(event) => event.body,
            Err(err) => {
                out.truncate(mark);
                return Err(err);
            }
        };
        let mut object = Map::new();
        for (name, source) in &meta.fields {
            if let Some(value) = source.get(&record) {
                object.push(*name, value);
            }
        }
        let event = match &meta.event_key {
            Some(path) => path.get(&record).cloned().unwrap_or(Value::Null),
            None => Value::Map(record.clone()),
        };
        object.push("event", event);
        let fields: Map = meta
            .extra
            .iter()
            .filter_map(|(name, source)| Some((name.clone(), source.get(&record)?)))
            .collect();
        if !fields.is_empty() {
            object.push("fields", Value::Map(fields));
        }
        // The object's pairs follow the time: `{...}` joins as `,...}`.
        let start = out.len();
        json::write_value(out, &Value::Map(object));
        out[start] = b',';
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::testutil::{body, chunk, config, setup};

    fn hec(pairs: &[(&str, &str)]) -> String {
        let cfg = config(&SPEC, pairs).unwrap();
        let splunk = Splunk {
            client: HttpClient::from_config(&cfg).unwrap(),
            headers: headers(&cfg).unwrap(),
            metadata: metadata(&cfg).unwrap(),
            raw: cfg.bool("splunk_send_raw"),
            gzip: false,
        };
        let c = chunk(
            "t",
            &[body(&[
                ("log", Value::Str("hi".into())),
                ("node", Value::Str("n1".into())),
            ])],
        );
        let mut out = Vec::new();
        each_event(&c, &mut out, |out, _, e| splunk.write_event(out, e));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn events_carry_time_metadata_event_and_fields() {
        assert_eq!(
            hec(&[]),
            r#"{"time":1700000000.123456,"event":{"log":"hi","node":"n1"}}"#
        );
        let text = hec(&[
            ("event_key", "$log"),
            ("event_host", "$node"),
            ("event_sourcetype", "app"),
            ("event_index", "main"),
            ("event_field", "env prod"),
            ("event_field", "origin $node"),
        ]);
        assert_eq!(
            text,
            r#"{"time":1700000000.123456,"host":"n1","sourcetype":"app","index":"main","event":"hi","fields":{"env":"prod","origin":"n1"}}"#
        );
        assert_eq!(
            hec(&[("splunk_send_raw", "on")]),
            r#"{"log":"hi","node":"n1"}"#
        );
    }

    #[test]
    fn bad_values_are_config_errors_naming_the_key() {
        for (key, value) in [
            ("event_field", "lonely"),
            ("event_key", "$a["),
            ("compress", "x"),
        ] {
            let cfg = config(&SPEC, &[(key, value)]).unwrap();
            let err = (SPEC.build)(&cfg, &setup()).err().expect(key).to_string();
            assert!(err.contains(&format!("key '{key}'")), "{key}: {err}");
        }
    }
}
