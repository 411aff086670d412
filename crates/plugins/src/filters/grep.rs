//! `grep`: keeps or drops records by regular expressions on their values.
//!
//! Options: `Regex KEY REGEX` (repeatable; keep records whose KEY matches),
//! `Exclude KEY REGEX` (repeatable; drop records whose KEY matches),
//! `Logical_Op` (`legacy`, `AND` or `OR`; default `legacy`).
//!
//! KEY is a record accessor (`$log`, `$kubernetes['labels']['app']`); a
//! KEY without `$` is read as if it had one. The regular expression is the
//! rest of the line and may contain spaces.
//!
//! With `legacy` a record is kept when every `Regex` matches and no
//! `Exclude` does. With `AND` or `OR` the rules are all of one kind
//! (mixing is a configuration error) and are combined with that operator:
//! `Regex` rules keep the record when the combination holds, `Exclude`
//! rules drop it. The value tested is a string as it is, a number or a
//! boolean in its usual spelling; a missing key, a null, a map or an array
//! never matches, so a `Regex` on it drops the record and an `Exclude`
//! keeps it.

use regex::Regex;
use sluice_core::config::{ConfigError, Entry, PluginConfig, PropKind, Property};
use sluice_core::plugin::{BuildFilter, Filter, Setup, Spec};
use sluice_core::record_accessor::RecordAccessor;
use sluice_core::{Event, Map, Value};

const PROPS: &[Property] = &[
    Property::new(
        "regex",
        PropKind::Str,
        None,
        "KEY REGEX: keep records whose KEY matches REGEX",
    )
    .repeatable(),
    Property::new(
        "exclude",
        PropKind::Str,
        None,
        "KEY REGEX: drop records whose KEY matches REGEX",
    )
    .repeatable(),
    Property::new(
        "logical_op",
        PropKind::Str,
        Some("legacy"),
        "How rules combine: legacy, AND or OR",
    ),
];

pub const SPEC: Spec<BuildFilter> = Spec {
    name: "grep",
    description: "Keep or drop records by regular expressions on their values",
    properties: PROPS,
    build,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogicalOp {
    Legacy,
    And,
    Or,
}

/// One `KEY REGEX` rule.
#[derive(Debug)]
struct Rule {
    field: RecordAccessor,
    regex: Regex,
}

impl Rule {
    fn parse(entry: &Entry) -> Result<Rule, ConfigError> {
        let err = |msg: String| ConfigError::at(&entry.origin, msg).with_key(&entry.key);
        let parts = crate::filters::split_args(&entry.value, 2).map_err(err)?;
        let [key, pattern] = parts.as_slice() else {
            return Err(err(format!("expects KEY REGEX; got '{}'", entry.value)));
        };
        let field = if key.starts_with('$') {
            RecordAccessor::parse(key)
        } else {
            RecordAccessor::parse(&format!("${key}"))
        }
        .map_err(err)?;
        // TODO: translate Onigmo-only syntax (e.g. `(?<name>`, `\h`) before
        // compiling, because Fluent Bit's regexes are Onigmo's and the
        // `regex` crate rejects or reads a few constructs differently.
        let regex = Regex::new(pattern)
            .map_err(|e| err(format!("invalid regular expression '{pattern}'; {e}")))?;
        Ok(Rule { field, regex })
    }

    fn matches(&self, body: &Map) -> bool {
        match self.field.get(body) {
            Some(Value::Str(s)) => self.regex.is_match(s),
            Some(v @ (Value::Int(_) | Value::UInt(_) | Value::Float(_) | Value::Bool(_))) => {
                v.to_text().is_some_and(|text| self.regex.is_match(&text))
            }
            Some(Value::Bin(b)) => self.regex.is_match(&String::from_utf8_lossy(b)),
            _ => false,
        }
    }
}

struct Grep {
    op: LogicalOp,
    regex: Vec<Rule>,
    exclude: Vec<Rule>,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Box<dyn Filter>, ConfigError> {
    let op = match cfg.str("logical_op").unwrap_or("legacy").trim() {
        v if v.eq_ignore_ascii_case("legacy") => LogicalOp::Legacy,
        v if v.eq_ignore_ascii_case("and") => LogicalOp::And,
        v if v.eq_ignore_ascii_case("or") => LogicalOp::Or,
        v => {
            return Err(cfg.error(
                "logical_op",
                format!("'{v}' is not a logical operator (use legacy, AND or OR)"),
            ))
        }
    };
    let regex = cfg
        .all("regex")
        .into_iter()
        .map(Rule::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let exclude = cfg
        .all("exclude")
        .into_iter()
        .map(Rule::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if op != LogicalOp::Legacy && !regex.is_empty() && !exclude.is_empty() {
        return Err(cfg.error(
            "exclude",
            "Regex and Exclude cannot be mixed when Logical_Op is AND or OR",
        ));
    }
    Ok(Box::new(Grep { op, regex, exclude }))
}

impl Grep {
    fn keep(&self, body: &Map) -> bool {
        let matched = |r: &Rule| r.matches(body);
        match self.op {
            LogicalOp::Legacy => {
                self.regex.iter().all(matched) && !self.exclude.iter().any(matched)
            }
            LogicalOp::And if !self.regex.is_empty() => self.regex.iter().all(matched),
            LogicalOp::And if !self.exclude.is_empty() => !self.exclude.iter().all(matched),
            LogicalOp::Or if !self.regex.is_empty() => self.regex.iter().any(matched),
            LogicalOp::Or => !self.exclude.iter().any(matched),
            LogicalOp::And => true,
        }
    }
}

impl Filter for Grep {
    fn filter(&self, _tag: &str, events: &mut Vec<Event>) {
        events.retain(|e| {
            let keep = self.keep(&e.body);
            if !keep {
                tracing::trace!(plugin = "grep", "record dropped");
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testing::{error, filter, map, run, s};

    fn log(text: &str) -> Map {
        map(&[("log", s(text))])
    }

    #[test]
    fn regex_keeps_matching_records() {
        let f = filter(&SPEC, &[("Regex", "log ^aa")]);
        let mut events: Vec<Event> = ["aaa", "aab", "bbb", "caa"]
            .iter()
            .map(|t| Event::new(Default::default(), log(t)))
            .collect();
        f.filter("t", &mut events);
        let kept: Vec<_> = events.iter().map(|e| e.body.get("log").unwrap()).collect();
        assert_eq!(kept, [&s("aaa"), &s("aab")]);
    }

    #[test]
    fn exclude_drops_matching_records() {
        let f = filter(&SPEC, &[("Exclude", "$log b+")]);
        assert!(run(&*f, log("abba")).is_none());
        assert_eq!(run(&*f, log("aaa")), Some(log("aaa")));
    }

    #[test]
    fn regex_may_contain_spaces() {
        let f = filter(&SPEC, &[("regex", "log ^hello world$")]);
        assert!(run(&*f, log("hello world")).is_some());
        assert!(run(&*f, log("hello")).is_none());
    }

    #[test]
    fn legacy_needs_every_regex_and_no_exclude() {
        let f = filter(
            &SPEC,
            &[("Regex", "a ^1"), ("Regex", "b ^2"), ("Exclude", "c x")],
        );
        let rec = |a: &str, b: &str, c: &str| map(&[("a", s(a)), ("b", s(b)), ("c", s(c))]);
        assert!(run(&*f, rec("1", "2", "y")).is_some());
        assert!(run(&*f, rec("1", "3", "y")).is_none());
        assert!(run(&*f, rec("0", "2", "y")).is_none());
        assert!(run(&*f, rec("1", "2", "x")).is_none());
    }

    #[test]
    fn missing_key_fails_regex_and_passes_exclude() {
        let keep = filter(&SPEC, &[("Regex", "nope .")]);
        assert!(run(&*keep, log("x")).is_none());
        let drop = filter(&SPEC, &[("Exclude", "nope .")]);
        assert!(run(&*drop, log("x")).is_some());
    }

    #[test]
    fn and_or_combine_regex_rules() {
        let and = filter(
            &SPEC,
            &[("Logical_Op", "AND"), ("Regex", "a 1"), ("Regex", "b 2")],
        );
        let or = filter(
            &SPEC,
            &[("Logical_Op", "or"), ("Regex", "a 1"), ("Regex", "b 2")],
        );
        let both = map(&[("a", s("1")), ("b", s("2"))]);
        let one = map(&[("a", s("1")), ("b", s("0"))]);
        let none = map(&[("a", s("0")), ("b", s("0"))]);
        assert!(run(&*and, both.clone()).is_some());
        assert!(run(&*and, one.clone()).is_none());
        assert!(run(&*or, one).is_some());
        assert!(run(&*or, none).is_none());
        assert!(run(&*or, both).is_some());
    }

    #[test]
    fn and_or_combine_exclude_rules() {
        let and = filter(
            &SPEC,
            &[
                ("Logical_Op", "AND"),
                ("Exclude", "a 1"),
                ("Exclude", "b 2"),
            ],
        );
        let or = filter(
            &SPEC,
            &[("Logical_Op", "OR"), ("Exclude", "a 1"), ("Exclude", "b 2")],
        );
        let both = map(&[("a", s("1")), ("b", s("2"))]);
        let one = map(&[("a", s("1"))]);
        assert!(run(&*and, both.clone()).is_none());
        assert!(run(&*and, one.clone()).is_some());
        assert!(run(&*or, one).is_none());
        assert!(run(&*or, map(&[("a", s("0"))])).is_some());
    }

    #[test]
    fn nested_keys_and_non_string_values() {
        let f = filter(
            &SPEC,
            &[
                ("Regex", "$k['labels']['app.io/name'] ^web$"),
                ("Regex", "code ^2"),
            ],
        );
        let labels = map(&[("app.io/name", s("web"))]);
        let rec = |code: Value| {
            map(&[
                (
                    "k",
                    Value::Map(map(&[("labels", Value::Map(labels.clone()))])),
                ),
                ("code", code),
            ])
        };
        assert!(run(&*f, rec(Value::Int(200))).is_some());
        assert!(run(&*f, rec(Value::Int(500))).is_none());
        let b = filter(&SPEC, &[("Regex", "ok ^true$")]);
        assert!(run(&*b, map(&[("ok", Value::Bool(true))])).is_some());
        assert!(run(&*b, map(&[("ok", Value::Array(vec![]))])).is_none());
    }

    #[test]
    fn config_errors_name_the_line() {
        let e = error(&SPEC, &[("Regex", "log ok"), ("Regex", "log (unclosed")]);
        assert!(
            e.starts_with("test.conf:3: key 'Regex': invalid regular expression"),
            "{e}"
        );
        let e = error(&SPEC, &[("Exclude", "lonely")]);
        assert!(
            e.starts_with("test.conf:2: key 'Exclude': expects KEY REGEX"),
            "{e}"
        );
        let e = error(&SPEC, &[("Logical_Op", "xor")]);
        assert!(e.contains("'xor' is not a logical operator"), "{e}");
        let e = error(
            &SPEC,
            &[("Logical_Op", "AND"), ("Regex", "a 1"), ("Exclude", "b 2")],
        );
        assert!(
            e.starts_with("test.conf:4: key 'Exclude': Regex and Exclude"),
            "{e}"
        );
        let e = error(&SPEC, &[("Regex", "$a[x] 1")]);
        assert!(e.contains("record accessor"), "{e}");
    }
}
