//! The parser formats: each module is one `Format` a `[PARSER]` section
//! can name. Core builds them into its `Parsers` set; inputs and filters
//! reach them only through `Setup::parser`.

pub mod builtin;
pub mod builtin_multiline;
pub mod json;
pub mod logfmt;
pub mod ltsv;
pub mod regex;
mod rfc5424;

use sluice_core::plugin::{BuildParser, Spec};

/// Every parser format, in the order `-h` lists them.
pub fn specs() -> Vec<Spec<BuildParser>> {
    vec![json::SPEC, logfmt::SPEC, ltsv::SPEC, regex::SPEC]
}

/// Helpers for the formats' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use sluice_core::config::{Origin, Section, SectionKind};
    use sluice_core::msgpack::Reader;
    use sluice_core::parser::{ParseError, ParseState, Parsed, Parser, Parsers};
    use sluice_core::Map;

    /// Builds one parser from `key value` lines (`Name t` is added).
    pub(crate) fn build(lines: &[(&str, &str)]) -> Result<Arc<dyn Parser>, String> {
        let mut section = Section::new(SectionKind::Parser, Origin::new("p.conf", 1));
        section.push("Name", "t", Origin::new("p.conf", 1));
        for (i, (k, v)) in lines.iter().enumerate() {
            section.push(*k, *v, Origin::new("p.conf", i + 2));
        }
        let parsers = Parsers::build(&[section], &crate::registry()).map_err(|e| e.to_string())?;
        Ok(parsers.get("t").expect("built"))
    }

    /// Parses one line into its body and what else was found.
    pub(crate) fn parse(parser: &dyn Parser, line: &str) -> Result<(Map, Parsed), ParseError> {
        let mut out = vec![0xc0];
        let parsed = parser.parse(line.as_bytes(), &mut ParseState::default(), &mut out)?;
        assert_eq!(out[0], 0xc0, "a parser wrote before its start");
        Ok((Reader::new(&out[1..]).map().expect("a map"), parsed))
    }
}
