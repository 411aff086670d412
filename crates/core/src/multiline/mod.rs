//! Multiline parsers: joining the lines of one logical record (a stack
//! trace, a line split by a container runtime) back into one event.
//!
//! `[MULTILINE_PARSER]` sections (inline, from `parsers_file`, `-R` or
//! YAML `multiline_parsers:`) and the registry's built-in ones (`docker`,
//! `cri`, `go`, `python`, `java`, `ruby`) make up [`MultilineParsers`]
//! when the engine is built. The configuration's own are compiled then,
//! so `--dry-run` checks their rules; a built-in one is compiled when a
//! plugin first names it (their Unicode classes cost about a megabyte of
//! heap and some milliseconds to compile, which most configurations never
//! need). Options: `name`, `type` (`regex`, the default;
//! `endswith`; `equal`; `partial`), `rule` (regex: `"state" "/regex/"
//! "next_state"`, repeatable), `match_string` and `negate` (endswith,
//! equal), `partial_key`/`partial_value` (partial; default `_p` and `P`),
//! `key_content` (the field holding the text; default `log`), `parser` (a
//! `[PARSER]` applied to each raw line before the rules) and
//! `flush_timeout` (ms a pending record waits for more lines; default
//! 5000).
//!
//! A user of multiline (the `multiline` filter, an input such as `tail`)
//! gets its parsers through
//! [`Setup::multiline_parsers`](crate::plugin::Setup::multiline_parsers)
//! or a ready buffer through
//! [`Setup::multiline_buffer`](crate::plugin::Setup::multiline_buffer),
//! and keeps one [`MultilineBuffer`] per instance, feeding it lines or
//! records tagged with a stream id; see [`buffer`].

pub mod buffer;
pub mod rules;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::{ConfigError, Entry, PluginConfig, PropKind, Property, Section};
use crate::parser::Parsers;

pub use buffer::MultilineBuffer;
pub use rules::{Kind, Next, Start};

/// The keys a `[MULTILINE_PARSER]` takes.
pub const MULTILINE_PROPS: &[Property] = &[
    Property::new("name", PropKind::Str, None, "Multiline parser name"),
    Property::new(
        "type",
        PropKind::Str,
        Some("regex"),
        "How lines are told apart: regex, endswith, equal or partial",
    ),
    Property::new(
        "rule",
        PropKind::Str,
        None,
        "\"state\" \"/regex/\" \"next_state\" (regex)",
    )
    .repeatable(),
    Property::new(
        "match_string",
        PropKind::Str,
        None,
        "Suffix (endswith) or whole line (equal); \\n and \\t are escapes",
    ),
    Property::new(
        "negate",
        PropKind::Bool,
        Some("off"),
        "Invert match_string (endswith, equal)",
    ),
    Property::new(
        "partial_key",
        PropKind::Str,
        Some("_p"),
        "Field flagging a partial record (partial)",
    ),
    Property::new(
        "partial_value",
        PropKind::Str,
        Some("P"),
        "Value of partial_key that means more follows (partial)",
    ),
    Property::new(
        "key_content",
        PropKind::Str,
        Some("log"),
        "Field holding the text to match and join",
    ),
    Property::new(
        "parser",
        PropKind::Str,
        None,
        "Parser applied to each raw line before the rules",
    ),
    Property::new(
        "flush_timeout",
        PropKind::Int,
        Some("5000"),
        "Milliseconds a pending record waits for more lines",
    ),
];

/// One built multiline parser.
#[derive(Debug)]
pub struct MultilineParser {
    pub name: String,
    pub kind: Kind,
    /// Field holding the text the rules see and lines are joined into.
    pub key_content: String,
    /// Applied to raw lines before the rules.
    pub parser: Option<Arc<dyn crate::parser::Parser>>,
    pub flush_timeout: Duration,
}

impl MultilineParser {
    /// Builds a parser from its section.
    ///
    /// # Errors
    /// An unknown key or type, a bad rule, a missing `match_string`, an
    /// unknown `parser`; each names the file, line and key.
    pub fn build(section: &Section, parsers: &Parsers) -> Result<Self, ConfigError> {
        let name = section
            .name()
            .map(|n| n.trim().to_owned())
            .ok_or_else(|| ConfigError::at(&section.origin, "multiline parser has no 'name'"))?;
        let cfg = PluginConfig::new(section, &name, name.clone(), &[MULTILINE_PROPS])?;
        let kind = kind(&cfg)?;
        let parser = cfg.entry("parser").map(|e| parsers.lookup(e)).transpose()?;
        let timeout = cfg.int("flush_timeout").unwrap_or(5000);
        if timeout < 0 {
            return Err(cfg.error("flush_timeout", "must not be negative"));
        }
        Ok(MultilineParser {
            key_content: cfg.str("key_content").unwrap_or("log").to_owned(),
            name,
            kind,
            parser,
            flush_timeout: Duration::from_millis(timeout as u64),
        })
    }
}

fn kind(cfg: &PluginConfig) -> Result<Kind, ConfigError> {
    let kind = cfg
        .str("type")
        .unwrap_or("regex")
        .trim()
        .to_ascii_lowercase();
    let match_string = || {
        cfg.str("match_string")
            .map(unescape)
            .ok_or_else(|| cfg.error("match_string", format!("type {kind} needs match_string")))
    };
    match kind.as_str() {
        "regex" => rules::regex_kind(&cfg.all("rule"), &cfg.origin),
        "endswith" => Ok(Kind::EndsWith {
            suffix: match_string()?,
            negate: cfg.bool("negate"),
        }),
        "equal" => Ok(Kind::Equal {
            line: match_string()?,
            negate: cfg.bool("negate"),
        }),
        "partial" => Ok(Kind::Partial {
            key: cfg.str("partial_key").unwrap_or("_p").to_owned(),
            value: cfg.str("partial_value").unwrap_or("P").to_owned(),
        }),
        other => Err(cfg.error(
            "type",
            format!("unknown multiline type '{other}' (regex, endswith, equal or partial)"),
        )),
    }
}

/// `\n`, `\t`, `\r` and `\\` in a match string.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Every multiline parser of a configuration, by name.
#[derive(Debug, Clone, Default)]
pub struct MultilineParsers {
    by_name: Vec<Arc<MultilineParser>>,
    /// Built-in parsers the configuration does not redefine, each
    /// compiled when first named.
    builtin: Vec<Arc<Builtin>>,
    /// The `[PARSER]`s a built-in one may name, for building it later.
    parsers: Parsers,
}

/// A built-in multiline parser's section and, once named, the parser.
#[derive(Debug)]
struct Builtin {
    name: String,
    section: Section,
    built: Mutex<Option<Arc<MultilineParser>>>,
}

impl MultilineParsers {
    /// Builds the configuration's sections and keeps the built-in ones
    /// whose names they do not define. A name defined twice keeps its
    /// first definition, with a warning.
    ///
    /// # Errors
    /// The first bad section, naming its file, line and key.
    pub fn build(
        sections: &[Section],
        builtin: &[Section],
        parsers: &Parsers,
    ) -> Result<Self, ConfigError> {
        let mut set = MultilineParsers {
            parsers: parsers.clone(),
            ..MultilineParsers::default()
        };
        for section in sections {
            let parser = MultilineParser::build(section, parsers)?;
            if set.get(&parser.name).is_some() {
                tracing::warn!(multiline_parser = %parser.name, origin = %section.origin,
                    "multiline parser defined again; the first definition is kept");
                continue;
            }
            set.by_name.push(Arc::new(parser));
        }
        for section in builtin {
            let Some(name) = section.name().map(str::trim) else {
                continue;
            };
            if set.by_name.iter().all(|p| p.name != name) {
                set.builtin.push(Arc::new(Builtin {
                    name: name.to_owned(),
                    section: section.clone(),
                    built: Mutex::new(None),
                }));
            }
        }
        Ok(set)
    }

    /// The parser called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<MultilineParser>> {
        self.find(name).and_then(Result::ok)
    }

    /// The parser called `name`, a built-in one compiled on first use.
    fn find(&self, name: &str) -> Option<Result<Arc<MultilineParser>, ConfigError>> {
        if let Some(parser) = self.by_name.iter().find(|p| p.name == name) {
            return Some(Ok(Arc::clone(parser)));
        }
        let builtin = self.builtin.iter().find(|b| b.name == name)?;
        let mut built = builtin.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(parser) = built.as_ref() {
            return Some(Ok(Arc::clone(parser)));
        }
        let parser = match MultilineParser::build(&builtin.section, &self.parsers) {
            Ok(p) => Arc::new(p),
            Err(e) => return Some(Err(e)),
        };
        *built = Some(Arc::clone(&parser));
        Some(Ok(parser))
    }

    /// The parsers an entry names, as a comma-separated list.
    ///
    /// # Errors
    /// An empty list, or a name no multiline parser has; the error points
    /// at the entry.
    pub fn lookup_list(&self, entry: &Entry) -> Result<Vec<Arc<MultilineParser>>, ConfigError> {
        let error = |m: String| ConfigError::at(&entry.origin, m).with_key(&entry.key);
        let names: Vec<&str> = entry
            .value
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return Err(error("no multiline parser named".into()));
        }
        names
            .into_iter()
            .map(|n| match self.find(n) {
                Some(found) => found,
                None => Err(error(format!("unknown multiline parser '{n}'"))),
            })
            .collect()
    }

    /// How many parsers there are, built-in ones included.
    pub fn len(&self) -> usize {
        self.by_name.len() + self.builtin.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Origin, SectionKind};

    fn section(lines: &[(&str, &str)]) -> Section {
        let mut s = Section::new(SectionKind::MultilineParser, Origin::new("ml.conf", 1));
        for (i, (k, v)) in lines.iter().enumerate() {
            s.push(*k, *v, Origin::new("ml.conf", i + 2));
        }
        s
    }

    fn error(lines: &[(&str, &str)]) -> String {
        let parsers = Parsers::default();
        MultilineParser::build(&section(lines), &parsers)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_follow_fluent_bit() {
        let s = section(&[
            ("name", "m"),
            ("rule", r#""start_state" "/a/" "start_state""#),
        ]);
        let p = MultilineParser::build(&s, &Parsers::default()).unwrap();
        assert_eq!(p.flush_timeout, Duration::from_secs(5));
        assert_eq!(p.key_content, "log");
        assert!(matches!(p.kind, Kind::Regex { .. }));
    }

    #[test]
    fn config_errors_name_line_and_key() {
        assert_eq!(
            error(&[("name", "m"), ("type", "fancy")]),
            "ml.conf:3: key 'type': unknown multiline type 'fancy' (regex, endswith, equal or partial)"
        );
        assert_eq!(
            error(&[("name", "m"), ("type", "endswith")]),
            "ml.conf:1: key 'match_string': type endswith needs match_string"
        );
        assert_eq!(
            error(&[("name", "m"), ("type", "partial"), ("parser", "nope")]),
            "ml.conf:4: key 'parser': unknown parser 'nope'"
        );
        assert_eq!(
            error(&[("name", "m")]),
            "ml.conf:1: key 'rule': a regex multiline parser needs a rule for 'start_state'"
        );
        assert_eq!(
            error(&[("name", "m"), ("colour", "red")]),
            "ml.conf:3: key 'colour': unknown property for multiline_parser 'm'"
        );
    }

    #[test]
    fn lists_are_looked_up_in_order() {
        let a = section(&[("name", "a"), ("type", "endswith"), ("match_string", "\\n")]);
        let set = MultilineParsers::build(&[a], &[], &Parsers::default()).unwrap();
        let entry = Entry {
            key: "multiline.parser".into(),
            value: "a, b".into(),
            origin: Origin::new("f.conf", 7),
        };
        assert_eq!(
            set.lookup_list(&entry).unwrap_err().to_string(),
            "f.conf:7: key 'multiline.parser': unknown multiline parser 'b'"
        );
        let Kind::EndsWith { suffix, .. } = &set.get("a").unwrap().kind else {
            panic!("endswith");
        };
        assert_eq!(suffix, "\n");
    }
}
