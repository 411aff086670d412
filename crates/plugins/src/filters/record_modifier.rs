//! `record_modifier`: appends fixed keys to records and removes others.
//!
//! Options: `Record KEY VALUE` (repeatable; sets KEY to the string VALUE,
//! in place when KEY exists, else at the end), `Remove_key KEY`
//! (repeatable), `Allowlist_key KEY` (repeatable; every other key is
//! removed; `Whitelist_key` is the old name), `Uuid_key KEY` (sets KEY to
//! a fresh random UUID v4 per record).
//!
//! `Remove_key` and `Allowlist_key` exclude each other. Their keys match
//! top-level keys ignoring ASCII case, and a trailing `*` makes a prefix
//! (`Swap.*`), as in Fluent Bit. Removal runs first, then `Record`, then
//! `Uuid_key`. VALUE is the rest of the line (`${ENV}` is already
//! substituted by the configuration loader); a VALUE that is one
//! double-quoted word loses its quotes.

use sluice_core::config::{ConfigError, Entry, PluginConfig, PropKind, Property};
use sluice_core::plugin::{BuildFilter, Filter, Setup, Spec};
use sluice_core::{Event, Map, Value};

use crate::filters::{split_args, KeyWildcard};

const PROPS: &[Property] = &[
    Property::new(
        "record",
        PropKind::Str,
        None,
        "KEY VALUE: set KEY to VALUE in every record",
    )
    .repeatable(),
    Property::new("remove_key", PropKind::Str, None, "Remove this key").repeatable(),
    Property::new(
        "allowlist_key",
        PropKind::Str,
        None,
        "Keep this key; remove every key not listed",
    )
    .repeatable(),
    Property::new(
        "whitelist_key",
        PropKind::Str,
        None,
        "Old name of allowlist_key",
    )
    .repeatable(),
    Property::new(
        "uuid_key",
        PropKind::Str,
        None,
        "Set this key to a random UUID v4 in every record",
    ),
];

pub const SPEC: Spec<BuildFilter> = Spec {
    name: "record_modifier",
    description: "Append fixed keys to records and remove others",
    properties: PROPS,
    build,
};

/// Which keys go.
enum Removal {
    None,
    Listed(Vec<KeyWildcard>),
    Unlisted(Vec<KeyWildcard>),
}

struct RecordModifier {
    removal: Removal,
    records: Vec<(String, Value)>,
    uuid_key: Option<String>,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Box<dyn Filter>, ConfigError> {
    let wildcards = |entries: Vec<&Entry>| -> Vec<KeyWildcard> {
        entries
            .iter()
            .map(|e| KeyWildcard::parse(e.value.trim()))
            .collect()
    };
    let remove = wildcards(cfg.all("remove_key"));
    let mut allow = wildcards(cfg.all("allowlist_key"));
    allow.extend(wildcards(cfg.all("whitelist_key")));
    let removal = match (remove.is_empty(), allow.is_empty()) {
        (true, true) => Removal::None,
        (false, true) => Removal::Listed(remove),
        (true, false) => Removal::Unlisted(allow),
        (false, false) => {
            return Err(cfg.error(
                "remove_key",
                "cannot be used with Allowlist_key (they exclude each other)",
            ))
        }
    };
    let records = cfg
        .all("record")
        .into_iter()
        .map(parse_record)
        .collect::<Result<_, _>>()?;
    let uuid_key = cfg.str("uuid_key").map(|k| k.trim().to_owned());
    Ok(Box::new(RecordModifier {
        removal,
        records,
        uuid_key,
    }))
}

fn parse_record(entry: &Entry) -> Result<(String, Value), ConfigError> {
    let err = |msg: String| ConfigError::at(&entry.origin, msg).with_key(&entry.key);
    let words = split_args(&entry.value, 2).map_err(err)?;
    match <[String; 2]>::try_from(words) {
        Ok([key, value]) => Ok((key, Value::Str(value))),
        Err(_) => Err(err(format!("expects KEY VALUE; got '{}'", entry.value))),
    }
}

impl RecordModifier {
    fn modify(&self, body: &mut Map) {
        match &self.removal {
            Removal::None => {}
            Removal::Listed(keys) => {
                body.retain(|k, _| !keys.iter().any(|w| w.matches_ignore_case(k)))
            }
            Removal::Unlisted(keys) => {
                body.retain(|k, _| keys.iter().any(|w| w.matches_ignore_case(k)))
            }
        }
        for (key, value) in &self.records {
            body.insert(key.as_str(), value.clone());
        }
        if let Some(key) = &self.uuid_key {
            body.insert(key.as_str(), Value::Str(uuid_v4()));
        }
    }
}

impl Filter for RecordModifier {
    fn filter(&self, _tag: &str, events: &mut Vec<Event>) {
        for event in events.iter_mut() {
            self.modify(&mut event.body);
        }
    }
}

/// A random (version 4, RFC 4122 variant) UUID in its usual spelling.
/// The bits come from `fastrand`, which is fast but not a secure source:
/// the key tells records apart, it is no secret.
fn uuid_v4() -> String {
    let mut bytes = fastrand::u128(..).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testing::{error, filter, keys, map, run, s};

    fn mem() -> Map {
        map(&[
            ("Mem.total", Value::Int(100)),
            ("Mem.used", Value::Int(60)),
            ("Swap.total", Value::Int(10)),
            ("Swap.used", Value::Int(1)),
        ])
    }

    #[test]
    fn record_appends_or_replaces() {
        let f = filter(
            &SPEC,
            &[
                ("Record", "hostname web-1"),
                ("Record", "product Awesome Tool"),
                ("Record", "Mem.used \"quoted value\""),
            ],
        );
        let out = run(&*f, mem()).unwrap();
        assert_eq!(
            keys(&out),
            [
                "Mem.total",
                "Mem.used",
                "Swap.total",
                "Swap.used",
                "hostname",
                "product"
            ]
        );
        assert_eq!(out.get("hostname"), Some(&s("web-1")));
        assert_eq!(out.get("product"), Some(&s("Awesome Tool")));
        assert_eq!(out.get("Mem.used"), Some(&s("quoted value")));
    }

    #[test]
    fn remove_key_drops_listed_keys() {
        let f = filter(
            &SPEC,
            &[("Remove_key", "swap.total"), ("Remove_key", "Mem.*")],
        );
        let out = run(&*f, mem()).unwrap();
        assert_eq!(out, map(&[("Swap.used", Value::Int(1))]));
    }

    #[test]
    fn allowlist_keeps_only_listed_keys_then_adds_records() {
        let f = filter(
            &SPEC,
            &[
                ("Allowlist_key", "Mem.total"),
                ("Whitelist_key", "Swap.*"),
                ("Record", "added yes"),
            ],
        );
        let out = run(&*f, mem()).unwrap();
        assert_eq!(
            keys(&out),
            ["Mem.total", "Swap.total", "Swap.used", "added"]
        );
    }

    #[test]
    fn uuid_key_gets_a_fresh_v4_uuid_per_record() {
        let f = filter(&SPEC, &[("Uuid_key", "id")]);
        let a = run(&*f, Map::new()).unwrap();
        let b = run(&*f, Map::new()).unwrap();
        let id = a.get("id").and_then(Value::as_str).unwrap();
        assert_ne!(a.get("id"), b.get("id"));
        assert_eq!(id.len(), 36);
        let groups: Vec<_> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }

    #[test]
    fn config_errors() {
        let e = error(&SPEC, &[("Remove_key", "a"), ("Allowlist_key", "b")]);
        assert!(
            e.starts_with("test.conf:2: key 'Remove_key': cannot be used"),
            "{e}"
        );
        let e = error(&SPEC, &[("Record", "ok 1"), ("Record", "lonely")]);
        assert!(
            e.starts_with("test.conf:3: key 'Record': expects KEY VALUE"),
            "{e}"
        );
    }
}
