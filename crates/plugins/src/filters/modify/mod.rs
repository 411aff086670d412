//! `modify`: changes records with rules, when conditions hold.
//!
//! Rules (all repeatable, applied in the order written, each to the
//! result of the one before): `Set KEY VALUE` (replace, or add at the
//! end), `Add KEY VALUE` (only when KEY is absent; `Add_if_not_present` is
//! the old name), `Remove KEY`, `Remove_wildcard PREFIX` (a trailing `*`
//! is optional), `Remove_regex REGEX`, `Rename KEY NEW` (only when NEW is
//! absent), `Hard_rename KEY NEW` (replacing NEW), `Copy KEY NEW` (only
//! when NEW is absent), `Hard_copy KEY NEW`, `Move_to_start PREFIX`,
//! `Move_to_end PREFIX`. Rules act on top-level keys, case-sensitively;
//! values are strings.
//!
//! Conditions (`Condition TYPE ARG [ARG]`, repeatable, all must hold for
//! any rule to run): `Key_exists`, `Key_does_not_exist`, `A_key_matches`,
//! `No_key_matches`, `Key_value_equals`, `Key_value_does_not_equal`,
//! `Key_value_matches`, `Key_value_does_not_match`,
//! `Matching_keys_have_matching_values`,
//! `Matching_keys_do_not_have_matching_values` (see [`conditions`]).
//!
//! Arguments are separated by spaces; double quotes keep a value with
//! spaces in one piece (`Set msg "hello world"`). Everything, regexes
//! included, is compiled when the filter is built.

mod conditions;
mod rules;

use sluice_core::config::{ConfigError, Entry, PluginConfig, PropKind, Property};
use sluice_core::plugin::{BuildFilter, Filter, Setup, Spec};
use sluice_core::Event;

use self::conditions::Condition;
use self::rules::Rule;
use crate::filters::split_args;

const fn rule(name: &'static str, description: &'static str) -> Property {
    Property::new(name, PropKind::Str, None, description).repeatable()
}

const PROPS: &[Property] = &[
    rule("set", "KEY VALUE: set KEY to VALUE, replacing it"),
    rule("add", "KEY VALUE: add KEY with VALUE when KEY is absent"),
    rule("add_if_not_present", "Old name of add"),
    rule("remove", "KEY: remove KEY"),
    rule(
        "remove_wildcard",
        "PREFIX: remove keys starting with PREFIX",
    ),
    rule("remove_regex", "REGEX: remove keys matching REGEX"),
    rule("rename", "KEY NEW: rename KEY to NEW when NEW is absent"),
    rule("hard_rename", "KEY NEW: rename KEY to NEW, replacing NEW"),
    rule("copy", "KEY NEW: copy KEY to NEW when NEW is absent"),
    rule("hard_copy", "KEY NEW: copy KEY to NEW, replacing NEW"),
    rule(
        "move_to_start",
        "PREFIX: move keys starting with PREFIX to the start",
    ),
    rule(
        "move_to_end",
        "PREFIX: move keys starting with PREFIX to the end",
    ),
    rule(
        "condition",
        "TYPE ARGS: apply the rules only to records meeting every condition",
    ),
];

pub const SPEC: Spec<BuildFilter> = Spec {
    name: "modify",
    description: "Set, add, remove, rename, copy and move keys, under conditions",
    properties: PROPS,
    build,
};

struct Modify {
    conditions: Vec<Condition>,
    rules: Vec<Rule>,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Box<dyn Filter>, ConfigError> {
    let mut conditions = Vec::new();
    let mut rules = Vec::new();
    for (name, entry) in cfg.entries() {
        let err = |msg: String| ConfigError::at(&entry.origin, msg).with_key(&entry.key);
        if name == "condition" {
            let words = split_args(&entry.value, 4).map_err(err)?;
            conditions.push(Condition::parse(&words).map_err(err)?);
        } else if let Some(rule) = parse_rule(name, entry) {
            rules.push(rule.map_err(err)?);
        }
    }
    if rules.is_empty() {
        tracing::warn!(
            instance = %cfg.instance,
            "modify has no rules; records pass unchanged"
        );
    }
    Ok(Box::new(Modify { conditions, rules }))
}

/// The rule of one entry; `None` for the engine's own keys (`match`, ...).
fn parse_rule(name: &str, entry: &Entry) -> Option<Result<Rule, String>> {
    if !PROPS.iter().any(|p| p.name == name) {
        return None;
    }
    match split_args(&entry.value, 3) {
        Ok(words) => Rule::parse(name, &words),
        Err(e) => Some(Err(e)),
    }
}

impl Filter for Modify {
    fn filter(&self, _tag: &str, events: &mut Vec<Event>) {
        for event in events.iter_mut() {
            if self.conditions.iter().all(|c| c.holds(&event.body)) {
                for rule in &self.rules {
                    rule.apply(&mut event.body);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testing::{error, filter, keys, map, run, s};
    use sluice_core::Value;

    fn mem() -> sluice_core::Map {
        map(&[
            ("Mem.total", Value::Int(100)),
            ("Mem.used", Value::Int(60)),
            ("Swap.total", Value::Int(10)),
        ])
    }

    #[test]
    fn rules_apply_in_the_order_written() {
        let f = filter(
            &SPEC,
            &[
                ("Add", "Service1 SOMEVALUE"),
                ("Rename", "Mem.used MEMUSED"),
                ("Copy", "MEMUSED used_copy"),
                ("Remove", "Swap.total"),
                ("Set", "msg \"hello world\""),
            ],
        );
        let out = run(&*f, mem()).unwrap();
        assert_eq!(
            out,
            map(&[
                ("Mem.total", Value::Int(100)),
                ("MEMUSED", Value::Int(60)),
                ("used_copy", Value::Int(60)),
                ("Service1", s("SOMEVALUE")),
                ("msg", s("hello world")),
            ])
        );
    }

    #[test]
    fn a_later_rule_sees_the_earlier_result() {
        let f = filter(&SPEC, &[("Rename", "a b"), ("Set", "b changed")]);
        let out = run(&*f, map(&[("a", s("1"))])).unwrap();
        assert_eq!(out, map(&[("b", s("changed"))]));
    }

    #[test]
    fn rules_run_only_when_every_condition_holds() {
        let f = filter(
            &SPEC,
            &[
                ("Condition", "Key_Does_Not_Exist cpustats"),
                ("Condition", "Key_Exists Mem.used"),
                ("Set", "cpustats UNKNOWN"),
                ("Remove_wildcard", "Mem"),
            ],
        );
        let out = run(&*f, mem()).unwrap();
        assert_eq!(keys(&out), ["Swap.total", "cpustats"]);
        let mut has = mem();
        has.insert("cpustats", s("KNOWN"));
        assert_eq!(run(&*f, has.clone()), Some(has));
    }

    #[test]
    fn conditions_take_record_accessors_and_quoted_values() {
        let f = filter(
            &SPEC,
            &[
                (
                    "Condition",
                    "Key_value_equals \"$k['app name']\" \"my app\"",
                ),
                ("Add", "matched yes"),
            ],
        );
        let rec = |name: &str| map(&[("k", Value::Map(map(&[("app name", s(name))])))]);
        assert_eq!(
            run(&*f, rec("my app")).unwrap().get("matched"),
            Some(&s("yes"))
        );
        assert_eq!(run(&*f, rec("other")).unwrap().get("matched"), None);
    }

    #[test]
    fn config_errors_name_the_line() {
        let e = error(&SPEC, &[("Set", "a b"), ("Remove_regex", "(")]);
        assert!(
            e.starts_with("test.conf:3: key 'Remove_regex': invalid regular expression"),
            "{e}"
        );
        let e = error(&SPEC, &[("Set", "msg hello world")]);
        assert!(
            e.starts_with("test.conf:2: key 'Set': expects KEY VALUE"),
            "{e}"
        );
        let e = error(&SPEC, &[("Condition", "Key_value_matches a (")]);
        assert!(
            e.starts_with("test.conf:2: key 'Condition': invalid regular"),
            "{e}"
        );
        let e = error(&SPEC, &[("Condition", "Key_is_blue a")]);
        assert!(e.contains("unknown condition 'Key_is_blue'"), "{e}");
        let e = error(&SPEC, &[("Set", "msg \"open")]);
        assert!(e.contains("unclosed double quote"), "{e}");
        let e = error(&SPEC, &[("Rename", "onlyone")]);
        assert!(e.starts_with("test.conf:2: key 'Rename'"), "{e}");
    }
}
