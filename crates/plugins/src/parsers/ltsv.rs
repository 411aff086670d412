//! `Format ltsv`: labeled tab-separated values, `label:value<TAB>...`.
//!
//! No options of its own. Each tab-separated field is split at its first
//! `:`; `Types`, the time key and decoders apply. A line with a field
//! that has no `:` does not match.

use std::sync::Arc;

use sluice_core::config::{ConfigError, PluginConfig, Property};
use sluice_core::parser::{ParseError, ParseState, Parsed, Parser, ParserOptions, RecordWriter};
use sluice_core::plugin::{BuildParser, Spec};

pub const SPEC: Spec<BuildParser> = Spec {
    name: "ltsv",
    description: "Labeled tab-separated values",
    properties: &[] as &[Property],
    build,
};

#[derive(Debug)]
struct Ltsv {
    opts: ParserOptions,
}

fn build(_: &PluginConfig, opts: ParserOptions) -> Result<Arc<dyn Parser>, ConfigError> {
    Ok(Arc::new(Ltsv { opts }))
}

impl Parser for Ltsv {
    fn parse(
        &self,
        input: &[u8],
        _: &mut ParseState,
        out: &mut Vec<u8>,
    ) -> Result<Parsed, ParseError> {
        let start = out.len();
        let mut record = RecordWriter::new(&self.opts, out);
        let mut refused = false;
        for field in input.split(|b| *b == b'\t').filter(|f| !f.is_empty()) {
            match memchr::memchr(b':', field) {
                Some(colon) => record.field(&field[..colon], &field[colon + 1..]),
                None => {
                    refused = true;
                    break;
                }
            }
        }
        let result = if refused || record.is_empty() {
            Err(ParseError::NoMatch)
        } else {
            record.finish()
        };
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
    fn labels_and_values() {
        let p = build(&[
            ("Format", "ltsv"),
            ("Time_Format", "[%d/%b/%Y:%H:%M:%S %z]"),
            ("Types", "status:integer"),
        ])
        .unwrap();
        let line =
            "time:[10/Oct/2000:13:55:36 -0700]\thost:127.0.0.1\tstatus:200\turl:http://x/a:b";
        let (body, parsed) = parse(&*p, line).unwrap();
        assert_eq!(parsed.time, Some(EventTime::new(971_211_336, 0)));
        assert_eq!(body.keys().collect::<Vec<_>>(), ["host", "status", "url"]);
        assert_eq!(body.get("status"), Some(&Value::UInt(200)));
        assert_eq!(body.get("url"), Some(&Value::from("http://x/a:b")));
        assert_eq!(
            parse(&*p, "host:a\tnolabel").unwrap_err(),
            ParseError::NoMatch
        );
    }
}
