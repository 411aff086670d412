//! `http`: sends each chunk as one HTTP request.
//!
//! Options: `host` (127.0.0.1), `port` (80), `uri` (/), `http_method`
//! (POST; PUT also works), `format` — `msgpack` (default: the chunk's
//! events as they are stored, `[[time, meta], body]` each), `json` (one
//! array), `json_lines` (one object per line) or `json_stream` (objects
//! back to back); `json_date_key` (date; `false` leaves the time out) and
//! `json_date_format` (double, epoch, epoch_ms, iso8601,
//! java_sql_timestamp) for the JSON formats; `header NAME VALUE`
//! (repeatable); `allow_duplicated_headers` (on; off keeps only the last
//! of a name); `header_tag` (a header that carries the chunk's tag);
//! `http_user`/`http_passwd` (basic auth); `compress gzip`;
//! `log_response_payload` (on), `workers` (2, as in Fluent Bit).
//! Connection options are the shared HTTP client's (`net.*`, `tls.*`).
//!
//! The answer decides the verdict: 2xx delivered, 408/429/5xx retried,
//! other statuses dropped with the start of the response body logged.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use hyper::Method;
use sluice_core::config::props::join_props;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::net::http_client::{self, HttpClient, HttpRequest, HTTP_OUTPUT_NET_PROPS};
use sluice_core::plugin::{BuildOutput, Output, Setup, Spec, Verdict};
use sluice_core::Chunk;

use super::gelf_message::{self, KEY_PROPS};
use super::stdout::{self, Format};

const OWN_PROPS: &[Property] = &[
    Property::new(
        "workers",
        PropKind::Int,
        Some("2"),
        "Flushes of this output that may run at once",
    ),
    Property::new("host", PropKind::Str, Some("127.0.0.1"), "Server address"),
    Property::new("port", PropKind::Int, Some("80"), "Server port"),
    Property::new("uri", PropKind::Str, Some("/"), "Request path"),
    Property::new("http_method", PropKind::Str, Some("POST"), "POST or PUT"),
    Property::new(
        "format",
        PropKind::Str,
        Some("msgpack"),
        "Body format: msgpack, json, json_lines, json_stream or gelf",
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
    Property::new("header", PropKind::Str, None, "A header: NAME VALUE").repeatable(),
    Property::new(
        "allow_duplicated_headers",
        PropKind::Bool,
        Some("on"),
        "Send every header given more than once (off: the last one wins)",
    ),
    Property::new(
        "header_tag",
        PropKind::Str,
        None,
        "Header that carries the tag",
    ),
    Property::new("http_user", PropKind::Str, None, "Basic auth user"),
    Property::new(
        "http_passwd",
        PropKind::Str,
        Some(""),
        "Basic auth password",
    ),
    Property::new("compress", PropKind::Str, None, "gzip: compress the body"),
    Property::new(
        "log_response_payload",
        PropKind::Bool,
        Some("on"),
        "Log the response body of successful requests at debug level",
    ),
];

const WITH_GELF: [Property; OWN_PROPS.len() + KEY_PROPS.len()] = join_props(OWN_PROPS, KEY_PROPS);
const PROPS: [Property; WITH_GELF.len() + HTTP_OUTPUT_NET_PROPS.len()] =
    join_props(&WITH_GELF, &HTTP_OUTPUT_NET_PROPS);

pub const SPEC: Spec<BuildOutput> = Spec {
    name: "http",
    description: "Send records to an HTTP server",
    properties: &PROPS,
    build,
};

/// What the request body holds.
enum Body {
    /// The stored events, or JSON in one of stdout's layouts.
    Records(stdout::Options),
    /// One GELF message per record, each ending in a newline.
    Gelf(gelf_message::Keys),
}

struct Http {
    client: HttpClient,
    method: Method,
    path: String,
    body: Body,
    /// Headers sent with every request, in configuration order.
    headers: Vec<(HeaderName, HeaderValue)>,
    header_tag: Option<HeaderName>,
    gzip: bool,
    log_response: bool,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    let body = body(cfg)?;
    let mut headers = vec![(CONTENT_TYPE, content_type(&body))];
    headers.extend(configured_headers(cfg)?);
    if let Some(user) = cfg.str("http_user") {
        let auth = http_client::basic_auth(user, cfg.str("http_passwd").unwrap_or(""));
        headers.push((AUTHORIZATION, header_value(cfg, "http_user", &auth)?));
    }
    Ok(Arc::new(Http {
        client: HttpClient::from_config(cfg)?,
        method: method(cfg)?,
        path: http_client::request_path(cfg, "uri", "/")?,
        body,
        headers,
        header_tag: cfg
            .str("header_tag")
            .map(|name| header_name(cfg, "header_tag", name))
            .transpose()?,
        gzip: compression(cfg)?,
        log_response: cfg.bool("log_response_payload"),
    }))
}

fn body(cfg: &PluginConfig) -> Result<Body, ConfigError> {
    let name = cfg.str("format").unwrap_or("msgpack").trim();
    if name.eq_ignore_ascii_case("gelf") {
        return Ok(Body::Gelf(gelf_message::Keys::from_config(cfg)));
    }
    let format = Format::parse(name).ok_or_else(|| {
        cfg.error(
            "format",
            format!("unknown format '{name}'; use msgpack, json, json_lines, json_stream or gelf"),
        )
    })?;
    Ok(Body::Records(stdout::Options {
        format,
        date: stdout::date_option(cfg)?,
    }))
}

fn method(cfg: &PluginConfig) -> Result<Method, ConfigError> {
    match cfg
        .str("http_method")
        .unwrap_or("POST")
        .trim()
        .to_ascii_uppercase()
        .as_str()
    {
        "POST" => Ok(Method::POST),
        "PUT" => Ok(Method::PUT),
        other => Err(cfg.error("http_method", format!("'{other}' is not POST or PUT"))),
    }
}

/// `compress gzip`, or nothing.
pub(crate) fn compression(cfg: &PluginConfig) -> Result<bool, ConfigError> {
    match cfg.str("compress").map(str::trim) {
        None | Some("") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("gzip") => Ok(true),
        Some(v) => Err(cfg.error("compress", format!("unknown compression '{v}'; use gzip"))),
    }
}

fn content_type(body: &Body) -> HeaderValue {
    HeaderValue::from_static(match body {
        Body::Records(o) => match o.format {
            Format::Msgpack => "application/msgpack",
            Format::Json => "application/json",
            Format::JsonLines | Format::JsonStream => "application/x-ndjson",
        },
        // What Graylog's GELF HTTP input documents, and what Fluent Bit
        // sends: each line is a JSON document of its own.
        Body::Gelf(_) => "application/json",
    })
}

/// The `header` entries, checked; with `allow_duplicated_headers off`
/// only the last of each name is kept.
pub(crate) fn configured_headers(
    cfg: &PluginConfig,
) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    for entry in cfg.all("header") {
        let text = entry.value.trim();
        let (name, value) = text
            .split_once(char::is_whitespace)
            .ok_or_else(|| cfg.error("header", format!("'{text}' is not 'NAME VALUE'")))?;
        let name = header_name(cfg, "header", name)?;
        let value = header_value(cfg, "header", value.trim())?;
        if !cfg.bool("allow_duplicated_headers") {
            headers.retain(|(n, _)| *n != name);
        }
        headers.push((name, value));
    }
    Ok(headers)
}

fn header_name(cfg: &PluginConfig, key: &str, name: &str) -> Result<HeaderName, ConfigError> {
    HeaderName::try_from(name.trim())
        .map_err(|_| cfg.error(key, format!("'{name}' is not a header name")))
}

pub(crate) fn header_value(
    cfg: &PluginConfig,
    key: &str,
    value: &str,
) -> Result<HeaderValue, ConfigError> {
    HeaderValue::try_from(value).map_err(|_| cfg.error(key, "the value cannot be sent in a header"))
}

#[async_trait]
impl Output for Http {
    async fn flush(&self, chunk: &Chunk) -> Verdict {
        let Some(body) = self.body(chunk) else {
            return Verdict::Ok;
        };
        let mut headers = self.headers.clone();
        if let Some(name) = &self.header_tag {
            if let Ok(tag) = HeaderValue::try_from(chunk.tag()) {
                headers.push((name.clone(), tag));
            }
        }
        let body = if self.gzip {
            headers.push((CONTENT_ENCODING, HeaderValue::from_static("gzip")));
            http_client::gzip(body).await
        } else {
            body
        };
        let request = HttpRequest {
            method: self.method.clone(),
            path: self.path.clone(),
            headers,
            body: Bytes::from(body),
        };
        match self.client.send(&request).await {
            Ok(response) => {
                if self.log_response && response.status.is_success() {
                    tracing::debug!(
                        status = response.status.as_u16(),
                        body = %http_client::body_excerpt(&response.body),
                        "http response"
                    );
                }
                http_client::verdict(&response)
            }
            Err(e) => Verdict::Retry(e.to_string()),
        }
    }
}

impl Http {
    /// The request body, or `None` when nothing in the chunk is sendable.
    fn body(&self, chunk: &Chunk) -> Option<Vec<u8>> {
        match &self.body {
            Body::Records(render) => records_body(chunk, render),
            Body::Gelf(keys) => gelf_body(chunk, keys),
        }
    }
}

fn records_body(chunk: &Chunk, render: &stdout::Options) -> Option<Vec<u8>> {
    if render.format == Format::Msgpack {
        return (!chunk.data().is_empty()).then(|| chunk.data().to_vec());
    }
    let mut out = Vec::with_capacity(chunk.size() * 2);
    let walk = stdout::render(chunk, render, &mut out);
    walk.log(chunk.tag());
    if matches!(render.format, Format::Json | Format::JsonStream) {
        // stdout ends a chunk with a newline; a request body does not.
        out.pop();
    }
    (!out.is_empty()).then_some(out)
}

fn gelf_body(chunk: &Chunk, keys: &gelf_message::Keys) -> Option<Vec<u8>> {
    let written = keys.messages(chunk);
    written.log_skipped(chunk.tag(), keys);
    let size = written.messages.iter().map(|m| m.len() + 1).sum();
    let mut out = Vec::with_capacity(size);
    for m in &written.messages {
        out.extend_from_slice(m);
        out.push(b'\n');
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::testutil::{config, setup};

    #[test]
    fn bad_values_are_config_errors_naming_the_key() {
        for (key, value) in [
            ("format", "yaml"),
            ("http_method", "GET"),
            ("compress", "zstd"),
            ("header", "NoValue"),
            ("header", "Bad:Name v"),
            ("uri", "/a b"),
            ("port", "70000"),
        ] {
            let cfg = config(&SPEC, &[(key, value)]).unwrap();
            let err = (SPEC.build)(&cfg, &setup()).err().expect(key).to_string();
            assert!(err.contains(&format!("key '{key}'")), "{key}: {err}");
        }
    }

    #[test]
    fn later_headers_replace_earlier_ones_when_duplicates_are_off() {
        let pairs = [
            ("header", "X-A 1"),
            ("header", "X-A 2"),
            ("allow_duplicated_headers", "off"),
        ];
        let cfg = config(&SPEC, &pairs).unwrap();
        let headers = configured_headers(&cfg).unwrap();
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0].1, "2");
    }
}
