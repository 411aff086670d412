//! `nest`: moves top-level keys into a map, or lifts a map's keys to the
//! top.
//!
//! Options: `Operation` (`nest` or `lift`, required); for `nest`,
//! `Wildcard` (repeatable; an exact key, or a prefix with a trailing `*`)
//! and `Nest_under` (the new map's key); for `lift`, `Nested_under` (the
//! map to lift); for either, `Add_prefix` or `Remove_prefix` (exclusive),
//! applied to the keys that move.
//!
//! `nest` takes the matching keys out, in order, and appends one map
//! holding them; a record with no matching key is left as it is. `lift`
//! replaces every map under `Nested_under` by its pairs, appended after
//! the other keys; a value there that is not a map stays where it is.
//! As in Fluent Bit, `nest` appends its map even when `Nest_under` already
//! exists, so the record then repeats that key.

use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::plugin::{BuildFilter, Filter, Setup, Spec};
use sluice_core::{Event, Map, Value};

use crate::filters::KeyWildcard;

const PROPS: &[Property] = &[
    Property::new("operation", PropKind::Str, None, "nest or lift"),
    Property::new(
        "wildcard",
        PropKind::Str,
        None,
        "Keys to nest: exact, or a prefix ending in *",
    )
    .repeatable(),
    Property::new(
        "nest_under",
        PropKind::Str,
        None,
        "Key of the map the keys are nested under (nest)",
    ),
    Property::new(
        "nested_under",
        PropKind::Str,
        None,
        "Key of the map whose keys are lifted (lift)",
    ),
    Property::new(
        "add_prefix",
        PropKind::Str,
        None,
        "Prefix added to the keys that move",
    ),
    Property::new(
        "remove_prefix",
        PropKind::Str,
        None,
        "Prefix removed from the keys that move, where present",
    ),
];

pub const SPEC: Spec<BuildFilter> = Spec {
    name: "nest",
    description: "Nest keys under a map, or lift a map's keys to the top",
    properties: PROPS,
    build,
};

#[derive(Debug)]
enum Prefix {
    Keep,
    Add(String),
    Remove(String),
}

impl Prefix {
    fn apply(&self, key: String) -> String {
        match self {
            Prefix::Keep => key,
            Prefix::Add(p) => format!("{p}{key}"),
            Prefix::Remove(p) => match key.strip_prefix(p.as_str()) {
                Some(rest) => rest.to_owned(),
                None => key,
            },
        }
    }
}

#[derive(Debug)]
enum Operation {
    Nest {
        wildcards: Vec<KeyWildcard>,
        under: String,
    },
    Lift {
        under: String,
    },
}

struct Nest {
    operation: Operation,
    prefix: Prefix,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Box<dyn Filter>, ConfigError> {
    let required = |key: &str, op: &str| {
        cfg.str(key)
            .map(str::to_owned)
            .ok_or_else(|| cfg.error(key, format!("is required when Operation is {op}")))
    };
    let operation = match cfg.str("operation").map(str::trim) {
        Some(op) if op.eq_ignore_ascii_case("nest") => {
            let wildcards: Vec<_> = cfg
                .all("wildcard")
                .iter()
                .map(|e| KeyWildcard::parse(e.value.trim()))
                .collect();
            if wildcards.is_empty() {
                return Err(cfg.error("wildcard", "is required when Operation is nest"));
            }
            let under = required("nest_under", "nest")?;
            Operation::Nest { wildcards, under }
        }
        Some(op) if op.eq_ignore_ascii_case("lift") => Operation::Lift {
            under: required("nested_under", "lift")?,
        },
        Some(op) => {
            return Err(cfg.error(
                "operation",
                format!("'{op}' is not an operation (use nest or lift)"),
            ))
        }
        None => return Err(cfg.error("operation", "is required (nest or lift)")),
    };
    let prefix = match (cfg.str("add_prefix"), cfg.str("remove_prefix")) {
        (Some(_), Some(_)) => {
            return Err(cfg.error("remove_prefix", "cannot be used with Add_prefix"))
        }
        (Some(p), None) => Prefix::Add(p.to_owned()),
        (None, Some(p)) => Prefix::Remove(p.to_owned()),
        (None, None) => Prefix::Keep,
    };
    Ok(Box::new(Nest { operation, prefix }))
}

impl Nest {
    fn nest(&self, body: &mut Map, wildcards: &[KeyWildcard], under: &str) {
        let matches = |k: &str| wildcards.iter().any(|w| w.matches(k));
        if !body.keys().any(matches) {
            return;
        }
        let entries = body.entries_mut();
        let (moved, kept): (Vec<_>, Vec<_>) = entries.drain(..).partition(|(k, _)| matches(k));
        entries.extend(kept);
        let nested: Map = moved
            .into_iter()
            .map(|(k, v)| (self.prefix.apply(k), v))
            .collect();
        body.push(under, Value::Map(nested));
    }

    fn lift(&self, body: &mut Map, under: &str) {
        let liftable = |k: &str, v: &Value| k == under && matches!(v, Value::Map(_));
        if !body.iter().any(|(k, v)| liftable(k, v)) {
            return;
        }
        let entries = body.entries_mut();
        let mut lifted = Vec::new();
        for (k, v) in std::mem::take(entries) {
            match v {
                Value::Map(inner) if k == under => lifted.extend(inner),
                v => entries.push((k, v)),
            }
        }
        entries.extend(lifted.into_iter().map(|(k, v)| (self.prefix.apply(k), v)));
    }
}

impl Filter for Nest {
    fn filter(&self, _tag: &str, events: &mut Vec<Event>) {
        for event in events.iter_mut() {
            match &self.operation {
                Operation::Nest { wildcards, under } => {
                    self.nest(&mut event.body, wildcards, under)
                }
                Operation::Lift { under } => self.lift(&mut event.body, under),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testing::{error, filter, keys, map, run, s};

    fn mem() -> Map {
        map(&[
            ("Mem.total", Value::Int(100)),
            ("Swap.total", Value::Int(10)),
            ("Mem.used", Value::Int(60)),
        ])
    }

    #[test]
    fn nest_moves_matching_keys_under_a_map_at_the_end() {
        let f = filter(
            &SPEC,
            &[
                ("Operation", "nest"),
                ("Wildcard", "Mem.*"),
                ("Nest_under", "Memstats"),
                ("Remove_prefix", "Mem."),
            ],
        );
        let out = run(&*f, mem()).unwrap();
        let inner = map(&[("total", Value::Int(100)), ("used", Value::Int(60))]);
        assert_eq!(
            out,
            map(&[
                ("Swap.total", Value::Int(10)),
                ("Memstats", Value::Map(inner))
            ])
        );
    }

    #[test]
    fn nest_with_several_wildcards_and_add_prefix() {
        let f = filter(
            &SPEC,
            &[
                ("Operation", "nest"),
                ("Wildcard", "Mem.*"),
                ("Wildcard", "Swap.total"),
                ("Nest_under", "Stats"),
                ("Add_prefix", "N_"),
            ],
        );
        let out = run(&*f, mem()).unwrap();
        assert_eq!(keys(&out), ["Stats"]);
        let inner = out.get("Stats").and_then(Value::as_map).unwrap();
        assert_eq!(keys(inner), ["N_Mem.total", "N_Swap.total", "N_Mem.used"]);
    }

    #[test]
    fn nest_without_a_match_leaves_the_record() {
        let f = filter(
            &SPEC,
            &[
                ("Operation", "nest"),
                ("Wildcard", "Mem"),
                ("Nest_under", "x"),
            ],
        );
        assert_eq!(run(&*f, mem()), Some(mem()));
    }

    #[test]
    fn lift_appends_the_inner_keys_with_prefix() {
        let f = filter(
            &SPEC,
            &[
                ("Operation", "lift"),
                ("Nested_under", "Stats"),
                ("Remove_prefix", "N_"),
            ],
        );
        let inner = map(&[("N_a", Value::Int(1)), ("b", Value::Int(2))]);
        let body = map(&[("Stats", Value::Map(inner)), ("other", s("x"))]);
        let out = run(&*f, body).unwrap();
        assert_eq!(
            out,
            map(&[
                ("other", s("x")),
                ("a", Value::Int(1)),
                ("b", Value::Int(2))
            ])
        );
        let add = filter(
            &SPEC,
            &[
                ("Operation", "LIFT"),
                ("Nested_under", "m"),
                ("Add_prefix", "m_"),
            ],
        );
        let out = run(&*add, map(&[("m", Value::Map(map(&[("k", s("v"))])))])).unwrap();
        assert_eq!(out, map(&[("m_k", s("v"))]));
    }

    #[test]
    fn lift_of_a_non_map_leaves_the_record() {
        let f = filter(&SPEC, &[("Operation", "lift"), ("Nested_under", "m")]);
        let body = map(&[("m", s("not a map")), ("x", s("y"))]);
        assert_eq!(run(&*f, body.clone()), Some(body));
    }

    #[test]
    fn nest_then_lift_round_trips() {
        let nest = filter(
            &SPEC,
            &[
                ("Operation", "nest"),
                ("Wildcard", "*"),
                ("Nest_under", "all"),
                ("Add_prefix", "p_"),
            ],
        );
        let lift = filter(
            &SPEC,
            &[
                ("Operation", "lift"),
                ("Nested_under", "all"),
                ("Remove_prefix", "p_"),
            ],
        );
        let nested = run(&*nest, mem()).unwrap();
        assert_eq!(run(&*lift, nested), Some(mem()));
    }

    #[test]
    fn config_errors() {
        let e = error(&SPEC, &[("Wildcard", "a*")]);
        assert!(e.contains("key 'operation': is required"), "{e}");
        let e = error(&SPEC, &[("Operation", "flatten")]);
        assert!(
            e.starts_with("test.conf:2: key 'Operation': 'flatten'"),
            "{e}"
        );
        let e = error(&SPEC, &[("Operation", "nest"), ("Nest_under", "x")]);
        assert!(e.contains("key 'wildcard': is required"), "{e}");
        let e = error(&SPEC, &[("Operation", "nest"), ("Wildcard", "a")]);
        assert!(e.contains("key 'nest_under': is required"), "{e}");
        let e = error(&SPEC, &[("Operation", "lift")]);
        assert!(e.contains("key 'nested_under': is required"), "{e}");
        let e = error(
            &SPEC,
            &[
                ("Operation", "lift"),
                ("Nested_under", "m"),
                ("Add_prefix", "a"),
                ("Remove_prefix", "b"),
            ],
        );
        assert!(e.starts_with("test.conf:5: key 'Remove_prefix'"), "{e}");
    }
}
