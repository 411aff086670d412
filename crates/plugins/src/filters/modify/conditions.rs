//! The conditions of `modify`: tests on a record that must all hold for
//! the rules to run on it.
//!
//! A condition's KEY is a record accessor (`$a['b']`) or a plain top-level
//! key; the `*_key_matches` and `matching_keys_*` conditions test the
//! top-level keys with a regular expression. As in Fluent Bit, only a
//! string equals a VALUE, and only a string or a boolean (`true`,
//! `false`) matches a value regex; numbers never do.

use regex::Regex;
use sluice_core::record_accessor::RecordAccessor;
use sluice_core::{Map, Value};

use super::rules::compile;

#[derive(Debug)]
pub(super) enum Condition {
    KeyExists(RecordAccessor),
    KeyDoesNotExist(RecordAccessor),
    AKeyMatches(Regex),
    NoKeyMatches(Regex),
    KeyValueEquals(RecordAccessor, String),
    KeyValueDoesNotEqual(RecordAccessor, String),
    KeyValueMatches(RecordAccessor, Regex),
    KeyValueDoesNotMatch(RecordAccessor, Regex),
    /// Every key matching the first regex has a value matching the second
    /// (true when no key matches).
    MatchingKeysHaveMatchingValues(Regex, Regex),
    /// The negation of the previous one: some matching key has a value
    /// that does not match.
    MatchingKeysDoNotHaveMatchingValues(Regex, Regex),
}

impl Condition {
    /// Builds a condition from the words of a `Condition` property: its
    /// type (any case) and one or two arguments.
    pub(super) fn parse(words: &[String]) -> Result<Condition, String> {
        let Some((kind, args)) = words.split_first() else {
            return Err("expects a condition type and its arguments".into());
        };
        let kind = kind.to_ascii_lowercase();
        let arity = match kind.as_str() {
            "key_exists" | "key_does_not_exist" | "a_key_matches" | "no_key_matches" => 1,
            "key_value_equals"
            | "key_value_does_not_equal"
            | "key_value_matches"
            | "key_value_does_not_match"
            | "matching_keys_have_matching_values"
            | "matching_keys_do_not_have_matching_values" => 2,
            _ => return Err(format!("unknown condition '{}'", words[0])),
        };
        if args.len() != arity {
            return Err(format!(
                "condition '{}' expects {arity} argument(s); got {} (quote values that \
                 contain spaces)",
                words[0],
                args.len()
            ));
        }
        let key = || RecordAccessor::parse(&args[0]);
        Ok(match kind.as_str() {
            "key_exists" => Condition::KeyExists(key()?),
            "key_does_not_exist" => Condition::KeyDoesNotExist(key()?),
            "a_key_matches" => Condition::AKeyMatches(compile(&args[0])?),
            "no_key_matches" => Condition::NoKeyMatches(compile(&args[0])?),
            "key_value_equals" => Condition::KeyValueEquals(key()?, args[1].clone()),
            "key_value_does_not_equal" => Condition::KeyValueDoesNotEqual(key()?, args[1].clone()),
            "key_value_matches" => Condition::KeyValueMatches(key()?, compile(&args[1])?),
            "key_value_does_not_match" => {
                Condition::KeyValueDoesNotMatch(key()?, compile(&args[1])?)
            }
            "matching_keys_have_matching_values" => {
                Condition::MatchingKeysHaveMatchingValues(compile(&args[0])?, compile(&args[1])?)
            }
            _ => Condition::MatchingKeysDoNotHaveMatchingValues(
                compile(&args[0])?,
                compile(&args[1])?,
            ),
        })
    }

    pub(super) fn holds(&self, body: &Map) -> bool {
        match self {
            Condition::KeyExists(k) => k.get(body).is_some(),
            Condition::KeyDoesNotExist(k) => k.get(body).is_none(),
            Condition::AKeyMatches(re) => body.keys().any(|k| re.is_match(k)),
            Condition::NoKeyMatches(re) => !body.keys().any(|k| re.is_match(k)),
            Condition::KeyValueEquals(k, v) => k.get(body).is_some_and(|x| equals(x, v)),
            Condition::KeyValueDoesNotEqual(k, v) => k.get(body).is_some_and(|x| !equals(x, v)),
            Condition::KeyValueMatches(k, re) => k.get(body).is_some_and(|x| matches(x, re)),
            Condition::KeyValueDoesNotMatch(k, re) => k.get(body).is_some_and(|x| !matches(x, re)),
            Condition::MatchingKeysHaveMatchingValues(kre, vre) => all_match(body, kre, vre),
            Condition::MatchingKeysDoNotHaveMatchingValues(kre, vre) => !all_match(body, kre, vre),
        }
    }
}

fn equals(value: &Value, expected: &str) -> bool {
    match value {
        Value::Str(s) => s == expected,
        Value::Bin(b) => b.as_slice() == expected.as_bytes(),
        _ => false,
    }
}

fn matches(value: &Value, re: &Regex) -> bool {
    match value {
        Value::Str(s) => re.is_match(s),
        Value::Bool(true) => re.is_match("true"),
        Value::Bool(false) => re.is_match("false"),
        _ => false,
    }
}

fn all_match(body: &Map, kre: &Regex, vre: &Regex) -> bool {
    body.iter()
        .filter(|(k, _)| kre.is_match(k))
        .all(|(_, v)| matches(v, vre))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testing::{map, s};

    fn cond(words: &[&str]) -> Condition {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        Condition::parse(&words).unwrap()
    }

    fn record() -> Map {
        map(&[
            ("level", s("error")),
            ("code", Value::Int(500)),
            ("ok", Value::Bool(false)),
            ("k8s", Value::Map(map(&[("ns", s("prod"))]))),
        ])
    }

    #[test]
    fn key_exists_and_does_not_exist() {
        let r = record();
        assert!(cond(&["Key_exists", "level"]).holds(&r));
        assert!(cond(&["KEY_EXISTS", "$k8s['ns']"]).holds(&r));
        assert!(!cond(&["key_exists", "$k8s['pod']"]).holds(&r));
        assert!(cond(&["key_does_not_exist", "Level"]).holds(&r));
        assert!(!cond(&["key_does_not_exist", "$level"]).holds(&r));
    }

    #[test]
    fn key_name_regexes() {
        let r = record();
        assert!(cond(&["a_key_matches", "^le"]).holds(&r));
        assert!(!cond(&["a_key_matches", "^zz"]).holds(&r));
        assert!(cond(&["no_key_matches", "^zz"]).holds(&r));
        assert!(!cond(&["no_key_matches", "od"]).holds(&r));
    }

    #[test]
    fn value_equality_is_on_strings_only() {
        let r = record();
        assert!(cond(&["key_value_equals", "level", "error"]).holds(&r));
        assert!(cond(&["key_value_equals", "$k8s['ns']", "prod"]).holds(&r));
        assert!(!cond(&["key_value_equals", "level", "Error"]).holds(&r));
        assert!(!cond(&["key_value_equals", "code", "500"]).holds(&r));
        assert!(cond(&["key_value_does_not_equal", "level", "info"]).holds(&r));
        assert!(!cond(&["key_value_does_not_equal", "level", "error"]).holds(&r));
        assert!(!cond(&["key_value_does_not_equal", "missing", "x"]).holds(&r));
    }

    #[test]
    fn value_regexes_on_strings_and_booleans() {
        let r = record();
        assert!(cond(&["key_value_matches", "level", "^err"]).holds(&r));
        assert!(cond(&["key_value_matches", "ok", "^false$"]).holds(&r));
        assert!(!cond(&["key_value_matches", "code", "5"]).holds(&r));
        assert!(!cond(&["key_value_matches", "missing", "."]).holds(&r));
        assert!(cond(&["key_value_does_not_match", "level", "^info"]).holds(&r));
        assert!(!cond(&["key_value_does_not_match", "level", "err"]).holds(&r));
        assert!(!cond(&["key_value_does_not_match", "missing", "x"]).holds(&r));
    }

    #[test]
    fn matching_keys_and_values() {
        let r = map(&[
            ("ip1", s("10.0.0.1")),
            ("ip2", s("10.0.0.2")),
            ("x", s("y")),
        ]);
        let all = |k: &str, v: &str| cond(&["matching_keys_have_matching_values", k, v]).holds(&r);
        let not_all =
            |k: &str, v: &str| cond(&["matching_keys_do_not_have_matching_values", k, v]).holds(&r);
        assert!(all("^ip", r"^10\."));
        assert!(!all("^ip", r"\.1$"));
        assert!(all("^none", "x"));
        assert!(!not_all("^ip", r"^10\."));
        assert!(not_all("^ip", r"\.1$"));
    }

    #[test]
    fn bad_conditions_are_errors() {
        let parse =
            |w: &[&str]| Condition::parse(&w.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert!(parse(&["key_is_blue", "a"])
            .unwrap_err()
            .contains("unknown condition"));
        assert!(parse(&["key_exists"]).is_err());
        assert!(parse(&["key_value_equals", "a"]).is_err());
        assert!(parse(&["key_value_matches", "a", "("]).is_err());
        assert!(parse(&["key_exists", "$a["]).is_err());
        assert!(parse(&[]).is_err());
    }
}
