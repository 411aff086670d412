//! `Format json`: a line holding a JSON object becomes that record.
//!
//! No options of its own. The object is transcoded straight into
//! MessagePack; the time key (a string) is read with `Time_Format` and
//! removed unless `Time_Keep`. Decoders apply; `Types` does not (the
//! values already have JSON's types). A line that is not one JSON object
//! does not match.

use std::sync::Arc;

use sluice_core::config::{ConfigError, PluginConfig, Property};
use sluice_core::json::to_msgpack_object;
use sluice_core::parser::{
    take_time_from_map, ParseError, ParseState, Parsed, Parser, ParserOptions,
};
use sluice_core::plugin::{BuildParser, Spec};

pub const SPEC: Spec<BuildParser> = Spec {
    name: "json",
    description: "A JSON object per line",
    properties: &[] as &[Property],
    build,
};

#[derive(Debug)]
struct Json {
    opts: ParserOptions,
}

fn build(_: &PluginConfig, opts: ParserOptions) -> Result<Arc<dyn Parser>, ConfigError> {
    Ok(Arc::new(Json { opts }))
}

impl Parser for Json {
    fn parse(
        &self,
        input: &[u8],
        state: &mut ParseState,
        out: &mut Vec<u8>,
    ) -> Result<Parsed, ParseError> {
        let start = out.len();
        to_msgpack_object(input, out).map_err(|_| ParseError::NoMatch)?;
        let result = take_time_from_map(&self.opts, out, start, &mut state.scratch).and_then(|p| {
            if !self.opts.decoders.is_empty() {
                let invalid =
                    |e: sluice_core::msgpack::DecodeError| ParseError::Invalid(e.to_string());
                self.opts.decoders.apply(out, start).map_err(invalid)?;
            }
            Ok(p)
        });
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{build, parse};
    use sluice_core::parser::ParseError;
    use sluice_core::{EventTime, Value};

    #[test]
    fn objects_parse_and_other_text_does_not_match() {
        let p = build(&[("Format", "json")]).unwrap();
        let (body, parsed) = parse(&*p, r#"{"a":1,"b":{"c":"d"}}"#).unwrap();
        assert_eq!(body.get("a"), Some(&Value::UInt(1)));
        assert!(parsed.time.is_none());
        assert_eq!(parse(&*p, "[1,2]").unwrap_err(), ParseError::NoMatch);
        assert_eq!(parse(&*p, "{broken").unwrap_err(), ParseError::NoMatch);
    }

    #[test]
    fn time_key_is_read_kept_or_dropped() {
        let lines = [
            ("Format", "json"),
            ("Time_Key", "ts"),
            ("Time_Format", "%Y-%m-%dT%H:%M:%S.%L%z"),
        ];
        let p = build(&lines).unwrap();
        let line = r#"{"ts":"2023-11-14T22:13:20.250+00:00","msg":"hi"}"#;
        let (body, parsed) = parse(&*p, line).unwrap();
        assert_eq!(
            parsed.time,
            Some(EventTime::new(1_700_000_000, 250_000_000))
        );
        assert_eq!(body.keys().collect::<Vec<_>>(), ["msg"]);

        let mut keep = lines.to_vec();
        keep.push(("Time_Keep", "on"));
        let p = build(&keep).unwrap();
        let (body, _) = parse(&*p, line).unwrap();
        assert_eq!(body.keys().collect::<Vec<_>>(), ["ts", "msg"]);

        let (body, parsed) = parse(&*p, r#"{"ts":"yesterday"}"#).unwrap();
        assert!(parsed.time_error && parsed.time.is_none());
        assert_eq!(body.get("ts"), Some(&Value::from("yesterday")));
    }

    #[test]
    fn decoders_run_on_json_fields() {
        let p = build(&[("Format", "json"), ("Decode_Field_As", "json log")]).unwrap();
        let (body, _) = parse(&*p, r#"{"log":"{\"status\":\"up\"}"}"#).unwrap();
        let log = body.get("log").and_then(Value::as_map).unwrap();
        assert_eq!(log.get("status"), Some(&Value::from("up")));
    }
}
