//! The rules of `modify`: each changes the top-level keys of one record.
//!
//! Rules name top-level keys exactly and case-sensitively, as Fluent Bit's
//! do. A rule whose key is missing, or whose target already exists for the
//! non-`hard_` variants, leaves the record as it was.

use regex::Regex;
use sluice_core::{Map, Value};

use crate::filters::KeyWildcard;

/// One rule, ready to apply.
#[derive(Debug)]
pub(super) enum Rule {
    /// Replaces every pair with the key by one pair at the end.
    Set(String, Value),
    /// Appends the pair when the key is absent.
    Add(String, Value),
    Remove(String),
    RemoveWildcard(KeyWildcard),
    RemoveRegex(Regex),
    Rename(String, String),
    HardRename(String, String),
    Copy(String, String),
    HardCopy(String, String),
    MoveToStart(KeyWildcard),
    MoveToEnd(KeyWildcard),
}

impl Rule {
    /// Builds the rule for property `name` from its words, or says why
    /// not. `name` is the lowercase key; `None` when it is no rule.
    pub(super) fn parse(name: &str, args: &[String]) -> Option<Result<Rule, String>> {
        let one = |make: fn(&str) -> Result<Rule, String>| match args {
            [a] => make(a),
            _ => Err(format!("expects one argument; got {}", args.len())),
        };
        let two = |make: fn(String, String) -> Rule| match args {
            [a, b] => Ok(make(a.clone(), b.clone())),
            _ => Err(format!(
                "expects KEY VALUE; got {} words (quote values that contain spaces)",
                args.len()
            )),
        };
        Some(match name {
            "set" => two(|k, v| Rule::Set(k, Value::Str(v))),
            "add" | "add_if_not_present" => two(|k, v| Rule::Add(k, Value::Str(v))),
            "remove" => one(|k| Ok(Rule::Remove(k.to_owned()))),
            "remove_wildcard" => one(|k| Ok(Rule::RemoveWildcard(KeyWildcard::prefix(k)))),
            "remove_regex" => one(|k| compile(k).map(Rule::RemoveRegex)),
            "rename" => two(Rule::Rename),
            "hard_rename" => two(Rule::HardRename),
            "copy" => two(Rule::Copy),
            "hard_copy" => two(Rule::HardCopy),
            "move_to_start" => one(|k| Ok(Rule::MoveToStart(KeyWildcard::prefix(k)))),
            "move_to_end" => one(|k| Ok(Rule::MoveToEnd(KeyWildcard::prefix(k)))),
            _ => return None,
        })
    }

    /// Applies the rule to one record.
    pub(super) fn apply(&self, body: &mut Map) {
        match self {
            Rule::Set(k, v) => {
                body.remove(k);
                body.push(k.as_str(), v.clone());
            }
            Rule::Add(k, v) => {
                if !body.contains_key(k) {
                    body.push(k.as_str(), v.clone());
                }
            }
            Rule::Remove(k) => {
                body.remove(k);
            }
            Rule::RemoveWildcard(w) => body.retain(|k, _| !w.matches(k)),
            Rule::RemoveRegex(re) => body.retain(|k, _| !re.is_match(k)),
            Rule::Rename(from, to) => {
                if body.contains_key(from) && !body.contains_key(to) {
                    rename(body, from, to);
                }
            }
            Rule::HardRename(from, to) => {
                if from != to && body.contains_key(from) {
                    body.remove(to);
                    rename(body, from, to);
                }
            }
            Rule::Copy(from, to) => {
                if !body.contains_key(to) {
                    copy_after(body, from, to);
                }
            }
            Rule::HardCopy(from, to) => {
                if from != to && count(body, to) <= 1 && count(body, from) == 1 {
                    body.remove(to);
                    copy_after(body, from, to);
                }
            }
            Rule::MoveToStart(w) => move_matching(body, w, true),
            Rule::MoveToEnd(w) => move_matching(body, w, false),
        }
    }
}

pub(super) fn compile(pattern: &str) -> Result<Regex, String> {
    // TODO: translate Onigmo-only syntax before compiling, because Fluent
    // Bit's regexes are Onigmo's; a later change adds the translation.
    Regex::new(pattern).map_err(|e| format!("invalid regular expression '{pattern}'; {e}"))
}

fn count(body: &Map, key: &str) -> usize {
    body.keys().filter(|k| *k == key).count()
}

/// Renames every pair with key `from` in place, keeping its position.
fn rename(body: &mut Map, from: &str, to: &str) {
    for (k, _) in body.entries_mut().iter_mut().filter(|(k, _)| k == from) {
        *k = to.to_owned();
    }
}

/// Inserts a copy of the one pair with key `from` right after it, under
/// `to`. Fluent Bit skips the copy when the source key repeats.
fn copy_after(body: &mut Map, from: &str, to: &str) {
    if count(body, from) != 1 {
        return;
    }
    let Some(i) = body.position(from) else { return };
    let value = body.entries()[i].1.clone();
    body.entries_mut().insert(i + 1, (to.to_owned(), value));
}

/// Moves the pairs whose key matches to the start or the end, keeping
/// the order within each group.
fn move_matching(body: &mut Map, w: &KeyWildcard, to_start: bool) {
    let entries = body.entries_mut();
    if !entries.iter().any(|(k, _)| w.matches(k)) {
        return;
    }
    let (matched, rest): (Vec<_>, Vec<_>) = entries.drain(..).partition(|(k, _)| w.matches(k));
    if to_start {
        entries.extend(matched);
        entries.extend(rest);
    } else {
        entries.extend(rest);
        entries.extend(matched);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testing::{keys, map, s};

    fn rule(name: &str, args: &[&str]) -> Rule {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        Rule::parse(name, &args).unwrap().unwrap()
    }

    fn applied(r: Rule, mut body: Map) -> Map {
        r.apply(&mut body);
        body
    }

    fn abc() -> Map {
        map(&[("a", s("1")), ("b", s("2")), ("c", s("3"))])
    }

    #[test]
    fn set_replaces_and_moves_to_the_end() {
        let out = applied(rule("set", &["a", "x"]), abc());
        assert_eq!(out, map(&[("b", s("2")), ("c", s("3")), ("a", s("x"))]));
        let out = applied(rule("set", &["d", "4"]), abc());
        assert_eq!(keys(&out), ["a", "b", "c", "d"]);
    }

    #[test]
    fn add_only_when_absent() {
        assert_eq!(applied(rule("add", &["a", "x"]), abc()), abc());
        let out = applied(rule("add", &["d", "4"]), abc());
        assert_eq!(out.get("d"), Some(&s("4")));
        let out = applied(rule("add_if_not_present", &["e", "5"]), abc());
        assert_eq!(out.get("e"), Some(&s("5")));
    }

    #[test]
    fn remove_variants() {
        assert_eq!(keys(&applied(rule("remove", &["b"]), abc())), ["a", "c"]);
        assert_eq!(applied(rule("remove", &["zz"]), abc()), abc());
        let mem = map(&[
            ("Mem.total", s("1")),
            ("Swap.total", s("2")),
            ("Mem.used", s("3")),
        ]);
        let out = applied(rule("remove_wildcard", &["Mem*"]), mem.clone());
        assert_eq!(keys(&out), ["Swap.total"]);
        let out = applied(rule("remove_wildcard", &["Mem"]), mem.clone());
        assert_eq!(keys(&out), ["Swap.total"]);
        let out = applied(rule("remove_regex", &["total$"]), mem);
        assert_eq!(keys(&out), ["Mem.used"]);
    }

    #[test]
    fn rename_keeps_position_and_respects_existing_target() {
        let out = applied(rule("rename", &["b", "B"]), abc());
        assert_eq!(out, map(&[("a", s("1")), ("B", s("2")), ("c", s("3"))]));
        assert_eq!(applied(rule("rename", &["b", "c"]), abc()), abc());
        assert_eq!(applied(rule("rename", &["x", "y"]), abc()), abc());
    }

    #[test]
    fn hard_rename_replaces_the_target() {
        let out = applied(rule("hard_rename", &["a", "c"]), abc());
        assert_eq!(out, map(&[("c", s("1")), ("b", s("2"))]));
        assert_eq!(applied(rule("hard_rename", &["x", "c"]), abc()), abc());
        assert_eq!(applied(rule("hard_rename", &["a", "a"]), abc()), abc());
    }

    #[test]
    fn copy_inserts_after_the_source() {
        let out = applied(rule("copy", &["a", "a2"]), abc());
        assert_eq!(keys(&out), ["a", "a2", "b", "c"]);
        assert_eq!(out.get("a2"), Some(&s("1")));
        assert_eq!(applied(rule("copy", &["a", "b"]), abc()), abc());
        assert_eq!(applied(rule("copy", &["x", "y"]), abc()), abc());
    }

    #[test]
    fn hard_copy_overwrites_the_target() {
        let out = applied(rule("hard_copy", &["a", "c"]), abc());
        assert_eq!(out, map(&[("a", s("1")), ("c", s("1")), ("b", s("2"))]));
        let out = applied(rule("hard_copy", &["b", "z"]), abc());
        assert_eq!(keys(&out), ["a", "b", "z", "c"]);
        assert_eq!(applied(rule("hard_copy", &["x", "c"]), abc()), abc());
    }

    #[test]
    fn move_to_start_and_end() {
        let body = map(&[("x1", s("1")), ("a", s("2")), ("x2", s("3")), ("b", s("4"))]);
        let out = applied(rule("move_to_start", &["b"]), body.clone());
        assert_eq!(keys(&out), ["b", "x1", "a", "x2"]);
        let out = applied(rule("move_to_end", &["x*"]), body.clone());
        assert_eq!(keys(&out), ["a", "b", "x1", "x2"]);
        assert_eq!(applied(rule("move_to_end", &["zz"]), body.clone()), body);
    }

    #[test]
    fn rules_are_case_sensitive() {
        assert_eq!(applied(rule("remove", &["A"]), abc()), abc());
    }

    #[test]
    fn wrong_argument_counts_are_errors() {
        let words = |w: &[&str]| w.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let err = Rule::parse("set", &words(&["a", "b", "c"]))
            .unwrap()
            .unwrap_err();
        assert!(err.contains("quote values"), "{err}");
        assert!(Rule::parse("remove", &words(&["a", "b"])).unwrap().is_err());
        assert!(Rule::parse("remove_regex", &words(&["("]))
            .unwrap()
            .is_err());
        assert!(Rule::parse("condition", &words(&["a"])).is_none());
    }
}
