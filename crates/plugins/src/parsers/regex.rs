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
//! straight into the output: no allocation per line. The shipped
//! `syslog-rfc5424` pattern is matched by hand where that is certain to
//! agree with the regex (`rfc5424`).

use std::sync::Arc;

use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::parser::{ParseError, ParseState, Parsed, Parser, ParserOptions, RecordWriter};
use sluice_core::plugin::{BuildParser, Spec};
use sluice_core::regex_compat::{self, CompiledRegex};

use super::rfc5424::{self, Outcome};

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
    /// The pattern is the shipped `syslog-rfc5424` one: most lines are
    /// matched by hand (see `rfc5424`).
    rfc5424: bool,
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
    let rfc5424 = pattern.trim() == rfc5424::PATTERN
        && regex
            .names()
            .iter()
            .map(|(_, n)| n.as_str())
            .eq(rfc5424::GROUPS);
    Ok(Arc::new(RegexParser {
        regex,
        opts,
        rfc5424,
    }))
}

impl Parser for RegexParser {
    fn parse(
        &self,
        input: &[u8],
        state: &mut ParseState,
        out: &mut Vec<u8>,
    ) -> Result<Parsed, ParseError> {
        if self.rfc5424 {
            match rfc5424::find(input) {
                Outcome::Match(spans) => {
                    let fields = rfc5424::GROUPS.iter().zip(spans);
                    return self.write(input, fields, out);
                }
                Outcome::NoMatch => return Err(ParseError::NoMatch),
                Outcome::Undecided => {}
            }
        }
        if !self.regex.captures(input, &mut state.captures) {
            return Err(ParseError::NoMatch);
        }
        let fields = self
            .regex
            .names()
            .iter()
            .map(|(group, name)| (name.as_str(), state.captures.get(*group)));
        self.write(input, fields, out)
    }
}

impl RegexParser {
    /// Writes the record of a match: each group that took part, by name.
    fn write<'n, N: AsRef<str> + 'n>(
        &self,
        input: &[u8],
        fields: impl Iterator<Item = (N, Option<(usize, usize)>)>,
        out: &mut Vec<u8>,
    ) -> Result<Parsed, ParseError> {
        let start = out.len();
        let mut record = RecordWriter::new(&self.opts, out);
        for (name, span) in fields {
            let Some((from, to)) = span else {
                continue;
            };
            if from == to && self.opts.skip_empty {
                continue;
            }
            record.field(name.as_ref().as_bytes(), &input[from..to]);
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

    #[test]
    fn the_shipped_rfc5424_parser_gives_the_same_record_either_way() {
        let p = build(&[
            ("Format", "regex"),
            ("Regex", super::rfc5424::PATTERN),
            ("Time_Key", "time"),
            ("Time_Format", "%Y-%m-%dT%H:%M:%S.%L%z"),
            ("Time_Keep", "On"),
            ("Types", "pid:integer"),
        ])
        .unwrap();
        // ASCII: matched by hand. With a UTF-8 message: by the regex.
        let ascii = "<34>1 2003-10-11T22:14:15.003Z host su 77 ID47 [a b=\"c\"] went";
        let utf8 = "<34>1 2003-10-11T22:14:15.003Z host su 77 ID47 [a b=\"c\"] wént";
        let (by_hand, hand_parsed) = parse(&*p, ascii).unwrap();
        let (by_regex, regex_parsed) = parse(&*p, utf8).unwrap();
        assert_eq!(hand_parsed.time, regex_parsed.time);
        assert_eq!(by_hand.get("pid"), Some(&Value::UInt(77)));
        assert_eq!(by_hand.get("message"), Some(&Value::from("went")));
        assert_eq!(by_regex.get("message"), Some(&Value::from("wént")));
        let keys = |m: &sluice_core::Map| m.keys().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(keys(&by_hand), keys(&by_regex));
        assert_eq!(
            parse(&*p, "<34>1 - - - - - x").unwrap_err(),
            ParseError::NoMatch
        );
    }
}
