//! `Format logfmt`: `key=value key2="quoted value" flag` lines.
//!
//! Option: `Logfmt_No_Bare_Keys` (default off): refuse lines with a key
//! that has no `=value`; otherwise such a key is `true`. Values in double
//! quotes may hold spaces and `\"`, `\\` escapes. `Types`, the time key
//! and decoders apply. A line with no key at all does not match.

use std::borrow::Cow;
use std::sync::Arc;

use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::msgpack;
use sluice_core::parser::{ParseError, ParseState, Parsed, Parser, ParserOptions, RecordWriter};
use sluice_core::plugin::{BuildParser, Spec};

const PROPS: &[Property] = &[Property::new(
    "logfmt_no_bare_keys",
    PropKind::Bool,
    Some("off"),
    "Refuse lines with a key that has no value",
)];

pub const SPEC: Spec<BuildParser> = Spec {
    name: "logfmt",
    description: "key=value pairs",
    properties: PROPS,
    build,
};

#[derive(Debug)]
struct Logfmt {
    opts: ParserOptions,
    no_bare_keys: bool,
}

fn build(cfg: &PluginConfig, opts: ParserOptions) -> Result<Arc<dyn Parser>, ConfigError> {
    let no_bare_keys = cfg.bool("logfmt_no_bare_keys");
    Ok(Arc::new(Logfmt { opts, no_bare_keys }))
}

/// One `key[=value]` of a line.
struct Pair<'a> {
    key: &'a [u8],
    value: Option<Cow<'a, [u8]>>,
}

/// Splits the next pair off `line` at `at`; `None` at the end.
fn next_pair<'a>(line: &'a [u8], at: &mut usize) -> Option<Pair<'a>> {
    while line.get(*at).is_some_and(|b| b.is_ascii_whitespace()) {
        *at += 1;
    }
    let start = *at;
    while line
        .get(*at)
        .is_some_and(|b| !b.is_ascii_whitespace() && *b != b'=')
    {
        *at += 1;
    }
    if *at == start {
        // A stray `=` with no key: skip it.
        return (*at < line.len()).then(|| {
            *at += 1;
            Pair {
                key: b"",
                value: None,
            }
        });
    }
    let key = &line[start..*at];
    if line.get(*at) != Some(&b'=') {
        return Some(Pair { key, value: None });
    }
    *at += 1;
    Some(Pair {
        key,
        value: Some(read_value(line, at)),
    })
}

fn read_value<'a>(line: &'a [u8], at: &mut usize) -> Cow<'a, [u8]> {
    if line.get(*at) != Some(&b'"') {
        let start = *at;
        while line.get(*at).is_some_and(|b| !b.is_ascii_whitespace()) {
            *at += 1;
        }
        return Cow::Borrowed(&line[start..*at]);
    }
    *at += 1;
    let start = *at;
    let mut owned: Option<Vec<u8>> = None;
    while let Some(&b) = line.get(*at) {
        match b {
            b'"' => break,
            b'\\' if *at + 1 < line.len() => {
                let buf = owned.get_or_insert_with(|| line[start..*at].to_vec());
                buf.push(line[*at + 1]);
                *at += 2;
                continue;
            }
            _ => {
                if let Some(buf) = owned.as_mut() {
                    buf.push(b);
                }
            }
        }
        *at += 1;
    }
    let end = *at;
    *at = (*at + 1).min(line.len());
    match owned {
        Some(buf) => Cow::Owned(buf),
        None => Cow::Borrowed(&line[start..end]),
    }
}

impl Parser for Logfmt {
    fn parse(
        &self,
        input: &[u8],
        _: &mut ParseState,
        out: &mut Vec<u8>,
    ) -> Result<Parsed, ParseError> {
        let start = out.len();
        let mut record = RecordWriter::new(&self.opts, out);
        let mut at = 0;
        let mut bare = false;
        while let Some(pair) = next_pair(input, &mut at) {
            match pair.value {
                _ if pair.key.is_empty() => {}
                Some(value) => record.field(pair.key, &value),
                None => {
                    bare = true;
                    record.raw_field(pair.key, |o| msgpack::write_bool(o, true));
                }
            }
        }
        let refused = record.is_empty() || (bare && self.no_bare_keys);
        let result = if refused {
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
    use sluice_core::Value;

    #[test]
    fn pairs_quotes_and_bare_keys() {
        let p = build(&[("Format", "logfmt"), ("Types", "status:integer")]).unwrap();
        let line = r#"level=info msg="request \"done\" ok" status=200 cached path="" "#;
        let (body, _) = parse(&*p, line).unwrap();
        assert_eq!(body.get("level"), Some(&Value::from("info")));
        assert_eq!(body.get("msg"), Some(&Value::from(r#"request "done" ok"#)));
        assert_eq!(body.get("status"), Some(&Value::UInt(200)));
        assert_eq!(body.get("cached"), Some(&Value::Bool(true)));
        assert_eq!(body.get("path"), Some(&Value::from("")));
        assert_eq!(parse(&*p, "   ").unwrap_err(), ParseError::NoMatch);
    }

    #[test]
    fn bare_keys_can_be_refused() {
        let p = build(&[("Format", "logfmt"), ("Logfmt_No_Bare_Keys", "on")]).unwrap();
        assert_eq!(parse(&*p, "a=1 b").unwrap_err(), ParseError::NoMatch);
        assert!(parse(&*p, "a=1 b=2").is_ok());
    }
}
