//! The filters: each module is one `[FILTER]` plugin, named as configs
//! name it, plus the small pieces several of them share (splitting a
//! `KEY VALUE` property, key wildcards).

pub mod grep;
pub mod modify;
pub mod multiline;
pub mod nest;
pub mod parser;
pub mod record_modifier;

use sluice_core::plugin::{BuildFilter, Spec};

/// Every filter plugin, in the order `-h` lists them.
pub fn specs() -> Vec<Spec<BuildFilter>> {
    vec![
        grep::SPEC,
        modify::SPEC,
        multiline::SPEC,
        nest::SPEC,
        parser::SPEC,
        record_modifier::SPEC,
    ]
}

/// Splits a property value into at most `max` words on white space.
///
/// A word in double quotes may hold spaces (`"hello world"`); inside
/// quotes `\"` and `\\` stand for `"` and `\`. Single quotes are plain
/// characters, because record accessors (`$a['b']`) use them. When the
/// value has more words than `max`, the last part is the rest of the text
/// as written (trimmed), unless it is exactly one quoted word.
///
/// # Errors
/// An unclosed double quote.
pub(crate) fn split_args(value: &str, max: usize) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut rest = value.trim_start();
    while !rest.is_empty() {
        if words.len() + 1 == max {
            words.push(last_part(rest)?);
            break;
        }
        let (word, after) = next_word(rest)?;
        words.push(word);
        rest = after.trim_start();
    }
    Ok(words)
}

/// The final part of a split: one quoted word unquoted, or the text.
fn last_part(rest: &str) -> Result<String, String> {
    let rest = rest.trim_end();
    if rest.starts_with('"') {
        let (word, after) = next_word(rest)?;
        if after.trim().is_empty() {
            return Ok(word);
        }
    }
    Ok(rest.to_owned())
}

/// Reads one word from the start of `text`, returning it and what follows.
fn next_word(text: &str) -> Result<(String, &str), String> {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text.find(char::is_whitespace).unwrap_or(text.len());
        return Ok((text[..end].to_owned(), &text[end..]));
    };
    let mut word = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((word, &quoted[i + 1..])),
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => word.push(e),
                Some((_, other)) => {
                    word.push('\\');
                    word.push(other);
                }
                None => word.push('\\'),
            },
            _ => word.push(c),
        }
    }
    Err(format!("unclosed double quote in '{text}'"))
}

/// A key pattern: an exact key, or a prefix when written with a trailing
/// `*` (`Mem.*` matches `Mem.total`), as Fluent Bit's key wildcards are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyWildcard {
    text: String,
    prefix: bool,
}

impl KeyWildcard {
    /// A trailing `*` makes a prefix; anything else is an exact key.
    pub(crate) fn parse(pattern: &str) -> Self {
        match pattern.strip_suffix('*') {
            Some(prefix) => KeyWildcard {
                text: prefix.to_owned(),
                prefix: true,
            },
            None => KeyWildcard {
                text: pattern.to_owned(),
                prefix: false,
            },
        }
    }

    /// Always a prefix, with or without the trailing `*` (modify's
    /// `Remove_wildcard Mem` and `Remove_wildcard Mem*` are the same).
    pub(crate) fn prefix(pattern: &str) -> Self {
        KeyWildcard {
            text: pattern.strip_suffix('*').unwrap_or(pattern).to_owned(),
            prefix: true,
        }
    }

    pub(crate) fn matches(&self, key: &str) -> bool {
        if self.prefix {
            key.starts_with(&self.text)
        } else {
            key == self.text
        }
    }

    /// The same test ignoring ASCII case.
    pub(crate) fn matches_ignore_case(&self, key: &str) -> bool {
        let (k, t) = (key.as_bytes(), self.text.as_bytes());
        if self.prefix {
            k.len() >= t.len() && k[..t.len()].eq_ignore_ascii_case(t)
        } else {
            k.eq_ignore_ascii_case(t)
        }
    }
}

/// Helpers for the filters' unit tests: build a checked configuration
/// from `(key, value)` lines and records from pairs.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use sluice_core::config::{Config, ConfigError, Origin, PluginConfig, Section, SectionKind};
    use sluice_core::plugin::{BuildFilter, Filter, Setup, Spec};
    use sluice_core::registry::FILTER_COMMON;
    use sluice_core::shutdown::Shutdown;
    use sluice_core::{Event, EventTime, Map, Value};

    /// Builds `spec` from lines written at `test.conf` lines 2, 3, ...
    pub(crate) fn build(
        spec: &Spec<BuildFilter>,
        lines: &[(&str, &str)],
    ) -> Result<Box<dyn Filter>, ConfigError> {
        let mut section = Section::new(SectionKind::Filter, Origin::new("test.conf", 1));
        section.push("Name", spec.name, Origin::new("test.conf", 1));
        for (i, (k, v)) in lines.iter().enumerate() {
            section.push(*k, *v, Origin::new("test.conf", i + 2));
        }
        let cfg = PluginConfig::new(
            &section,
            spec.name,
            format!("{}.0", spec.name),
            &[FILTER_COMMON, spec.properties],
        )?;
        let setup = Setup::new(Arc::new(Config::default()), Shutdown::new());
        (spec.build)(&cfg, &setup)
    }

    /// Builds a filter that must build.
    pub(crate) fn filter(spec: &Spec<BuildFilter>, lines: &[(&str, &str)]) -> Box<dyn Filter> {
        match build(spec, lines) {
            Ok(f) => f,
            Err(e) => panic!("config rejected: {e}"),
        }
    }

    /// The error a configuration must give, as printed.
    pub(crate) fn error(spec: &Spec<BuildFilter>, lines: &[(&str, &str)]) -> String {
        match build(spec, lines) {
            Ok(_) => panic!("config accepted: {lines:?}"),
            Err(e) => e.to_string(),
        }
    }

    pub(crate) fn map(pairs: &[(&str, Value)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    pub(crate) fn s(text: &str) -> Value {
        Value::from(text)
    }

    /// Runs one record through the filter; `None` when it was dropped.
    pub(crate) fn run(f: &dyn Filter, body: Map) -> Option<Map> {
        let mut events = vec![Event::new(EventTime::new(1, 0), body)];
        f.filter("test", &mut events);
        assert!(events.len() <= 1, "one record became {}", events.len());
        events.pop().map(|e| e.body)
    }

    /// The keys of a record, in order.
    pub(crate) fn keys(body: &Map) -> Vec<&str> {
        body.keys().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_args_honours_double_quotes() {
        assert_eq!(split_args("a  b", 3).unwrap(), ["a", "b"]);
        assert_eq!(
            split_args(r#"msg "hello world""#, 3).unwrap(),
            ["msg", "hello world"]
        );
        assert_eq!(
            split_args(r#""say \"hi\"" x"#, 3).unwrap(),
            [r#"say "hi""#, "x"]
        );
        assert_eq!(split_args("$a['b c']", 3).unwrap(), ["$a['b", "c']"]);
        assert!(split_args(r#"a "b"#, 3).is_err());
    }

    #[test]
    fn split_args_keeps_the_rest_in_the_last_part() {
        assert_eq!(split_args("log ^a b$ ", 2).unwrap(), ["log", "^a b$"]);
        assert_eq!(
            split_args(r#"k "quoted value""#, 2).unwrap(),
            ["k", "quoted value"]
        );
        assert_eq!(split_args(r#"k "a" "b""#, 2).unwrap(), ["k", r#""a" "b""#]);
        assert_eq!(split_args("one", 2).unwrap(), ["one"]);
    }

    #[test]
    fn wildcards_match_exact_or_prefix() {
        let exact = KeyWildcard::parse("Mem");
        assert!(exact.matches("Mem") && !exact.matches("Mem.total"));
        let prefix = KeyWildcard::parse("Mem.*");
        assert!(prefix.matches("Mem.total") && !prefix.matches("Swap.total"));
        assert!(KeyWildcard::prefix("Mem").matches("Mem.used"));
        assert!(KeyWildcard::prefix("Mem*").matches("Mem.used"));
        assert!(KeyWildcard::parse("mem.*").matches_ignore_case("MEM.total"));
        assert!(!KeyWildcard::parse("mem").matches_ignore_case("MEM.total"));
    }
}
