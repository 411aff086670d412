//! `Format regex`: named groups of a regular expression become fields.
//!
//! Option: `Regex` (required), in Fluent Bit's Onigmo/Ruby syntax
//! (`(?<name>...)`, optional `/.../` delimiters; see
//! `sluice_core::regex_compat`). Every named group that took part in the
//! match is a field, in the order the groups open; with
//! `Skip_Empty_Values` (default on) a group that captured nothing is left
//! out. `Types`, the time key and decoders apply. A line the regex does
//! not match does not match.
//!
//! The hot path reuses the caller's capture buffer and writes each field
//! straight into the output: no allocation per line.

use std::sync::Arc;

use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::parser::{ParseError, ParseState, Parsed, Parser, ParserOptions, RecordWriter};
use sluice_core::plugin::{BuildParser, Spec};
use sluice_core::regex_compat::{self, CompiledRegex};

const PROPS: &[Property] = &[Property::new(
    "regex",
    PropKind::Str,
    None,
    "Ruby-style regular expression with named groups (?<name>...)",
)];

pub const SPEC: Spec<BuildParser> = Spec {
    name: "regex",
    description: "Named groups of a regular expression",
    properties: PROPS,
    build,
};

#[derive(Debug)]
struct RegexParser {
    regex: CompiledRegex,
    opts: ParserOptions,
}

fn build(cfg: &PluginConfig, opts: ParserOptions) -> Result<Arc<dyn Parser>, ConfigError> {
    let Some(pattern) = cfg.str("regex") else {
        return Err(cfg.error("regex", format!("parser '{}' needs a regex", opts.name)));
    };
    let regex = regex_compat::compile(pattern)
        .map_err(|e| cfg.error("regex", format!("parser '{}': {e}", opts.name)))?;
    if regex.names().is_empty() {
        let message = format!(
            "parser '{}': regex has no named group (?<name>...)",
            opts.name
        );
        return Err(cfg.error("regex", message));
    }
    if regex.is_backtracking() {
        tracing::debug!(parser = %opts.name, "regex needs the backtracking engine");
    }
    Ok(Arc::new(RegexParser { regex, opts }))
}

impl Parser for RegexParser {
    fn parse(
        &self,
        input: &[u8],
        state: &mut ParseState,
        out: &mut Vec<u8>,
    ) -> Result<Parsed, ParseError> {
        if !self.regex.captures(input, &mut state.captures) {
            return Err(ParseError::NoMatch);
        }
        let start = out.len();
        let mut record = RecordWriter::new(&self.opts, out);
        for (group, name) in self.regex.names() {
            let Some((from, to)) = state.captures.get(*group) else {
                continue;
            };
            if from == to && self.opts.skip_empty {
                continue;
            }
            record.field(name.as_bytes(), &input[from..to]);
        }
        let result = record.finish();
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

    const LINE_RE: &str = r"^(?<host>\S+) (?<code>\d+) (?<extra>\w*) ?(?<time>\S+)$";

    #[test]
    fn named_groups_become_typed_fields() {
        let p = build(&[
            ("Format", "regex"),
            ("Regex", LINE_RE),
            ("Types", "code:integer"),
            ("Time_Format", "%s"),
        ])
        .unwrap();
        let (body, parsed) = parse(&*p, "web-1 200  1700000000").unwrap();
        assert_eq!(body.keys().collect::<Vec<_>>(), ["host", "code"]);
        assert_eq!(body.get("code"), Some(&Value::UInt(200)));
        assert_eq!(parsed.time, Some(EventTime::new(1_700_000_000, 0)));
        assert_eq!(
            parse(&*p, "no match here!").unwrap_err(),
            ParseError::NoMatch
        );
    }

    #[test]
    fn empty_values_are_kept_when_asked() {
        let p = build(&[
            ("Format", "regex"),
            ("Regex", LINE_RE),
            ("Skip_Empty_Values", "off"),
        ])
        .unwrap();
        let (body, _) = parse(&*p, "web-1 200  x").unwrap();
        assert_eq!(body.get("extra"), Some(&Value::from("")));
    }

    #[test]
    fn bad_regexes_name_the_parser_file_and_line() {
        let err = build(&[("Format", "regex"), ("Regex", "^(?<open>x")]).unwrap_err();
        assert!(
            err.starts_with("p.conf:3: key 'Regex': parser 't': invalid regular expression"),
            "{err}"
        );
        let err = build(&[("Format", "regex")]).unwrap_err();
        assert!(err.contains("needs a regex"), "{err}");
        let err = build(&[("Format", "regex"), ("Regex", "^x$")]).unwrap_err();
        assert!(err.contains("no named group"), "{err}");
        let err = build(&[
            ("Format", "regex"),
            ("Regex", "^(?<a>x)$"),
            ("Colour", "red"),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            "p.conf:4: key 'Colour': unknown property for parser 'regex'"
        );
    }
}
