//! `parser`: parses one field of each record with named parsers.
//!
//! Options: `Key_Name` (required; the field to parse), `Parser`
//! (required, repeatable; tried in order, the first that matches wins),
//! `Preserve_Key` (default off; keep the parsed field), `Reserve_Data`
//! (default off; keep the record's other fields), `Unescape_Key` (default
//! off; undo backslash escapes in the field before parsing).
//!
//! A matched record becomes the parsed fields — after the original field
//! when `Preserve_Key` alone is on, before the other original fields with
//! `Reserve_Data` — and takes the parsed time when the parser found one.
//! A record without the field, with a field that is not a string, or that
//! no parser matches is kept as it is and counted (logged at debug per
//! batch).

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::msgpack::Reader;
use sluice_core::parser::{unescape, ParseState, Parsed, Parser};
use sluice_core::plugin::{BuildFilter, Filter, Setup, Spec};
use sluice_core::{Event, Map, Value};

const PROPS: &[Property] = &[
    Property::new("key_name", PropKind::Str, None, "Field to parse"),
    Property::new(
        "parser",
        PropKind::Str,
        None,
        "Parser name; repeat to try several, the first match wins",
    )
    .repeatable(),
    Property::new(
        "preserve_key",
        PropKind::Bool,
        Some("off"),
        "Keep the parsed field in the record",
    ),
    Property::new(
        "reserve_data",
        PropKind::Bool,
        Some("off"),
        "Keep the record's other fields",
    ),
    Property::new(
        "unescape_key",
        PropKind::Bool,
        Some("off"),
        "Undo backslash escapes in the field before parsing",
    ),
];

pub const SPEC: Spec<BuildFilter> = Spec {
    name: "parser",
    description: "Parse a field of each record with named parsers",
    properties: PROPS,
    build,
};

struct ParserFilter {
    key: String,
    parsers: Vec<Arc<dyn Parser>>,
    preserve_key: bool,
    reserve_data: bool,
    unescape_key: bool,
    unmatched: AtomicU64,
    time_errors: AtomicU64,
}

fn build(cfg: &PluginConfig, setup: &Setup) -> Result<Box<dyn Filter>, ConfigError> {
    let key = cfg
        .str("key_name")
        .ok_or_else(|| cfg.error("key_name", "the parser filter needs key_name"))?;
    let parsers = cfg
        .all("parser")
        .into_iter()
        .map(|entry| setup.parser(entry))
        .collect::<Result<Vec<_>, _>>()?;
    if parsers.is_empty() {
        return Err(cfg.error("parser", "the parser filter needs at least one parser"));
    }
    Ok(Box::new(ParserFilter {
        key: key.to_owned(),
        parsers,
        preserve_key: cfg.bool("preserve_key"),
        reserve_data: cfg.bool("reserve_data"),
        unescape_key: cfg.bool("unescape_key"),
        unmatched: AtomicU64::new(0),
        time_errors: AtomicU64::new(0),
    }))
}

impl Filter for ParserFilter {
    fn filter(&self, tag: &str, events: &mut Vec<Event>) {
        let mut state = ParseState::default();
        let mut buf = Vec::new();
        let (mut unmatched, mut time_errors) = (0u64, 0u64);
        for event in events.iter_mut() {
            match self.parse_event(event, &mut state, &mut buf) {
                Some(parsed) => time_errors += u64::from(parsed.time_error),
                None => unmatched += 1,
            }
        }
        if unmatched + time_errors > 0 {
            // TODO: report these through the filter's metrics, because
            // the Filter trait has no counter of its own to add them to.
            let total_unmatched = self.unmatched.fetch_add(unmatched, Ordering::Relaxed);
            let total_time_errors = self.time_errors.fetch_add(time_errors, Ordering::Relaxed);
            tracing::debug!(
                tag,
                key = %self.key,
                unmatched,
                time_errors,
                total_unmatched = total_unmatched + unmatched,
                total_time_errors = total_time_errors + time_errors,
                "records kept as they were, or with their time unread"
            );
        }
    }
}

impl ParserFilter {
    /// Parses one record in place; `None` when it is left as it was.
    fn parse_event(
        &self,
        event: &mut Event,
        state: &mut ParseState,
        buf: &mut Vec<u8>,
    ) -> Option<Parsed> {
        let text: &[u8] = match event.body.get(&self.key)? {
            Value::Str(s) => s.as_bytes(),
            Value::Bin(b) => b,
            _ => return None,
        };
        let text = if self.unescape_key {
            Cow::Owned(unescape(text, false).into_bytes())
        } else {
            Cow::Borrowed(text)
        };
        let parsed = self.parsers.iter().find_map(|p| {
            buf.clear();
            p.parse(&text, state, buf).ok()
        })?;
        let fields = Reader::new(buf).map().ok()?;
        if let Some(time) = parsed.time {
            event.time = time;
        }
        event.body = self.merge(std::mem::take(&mut event.body), fields);
        Some(parsed)
    }

    fn merge(&self, original: Map, parsed: Map) -> Map {
        let mut body = Map::with_capacity(original.len() + parsed.len());
        if self.reserve_data {
            body.entries_mut().extend(parsed.entries().iter().cloned());
            for (k, v) in original.entries() {
                if *k != self.key || self.preserve_key {
                    body.push(k.clone(), v.clone());
                }
            }
            return body;
        }
        if self.preserve_key {
            if let Some(v) = original.get(&self.key) {
                body.push(self.key.clone(), v.clone());
            }
        }
        body.entries_mut().extend(parsed.entries().iter().cloned());
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testing::{keys, map, s};
    use sluice_core::config::{Config, Origin, Section, SectionKind};
    use sluice_core::parser::Parsers;
    use sluice_core::registry::FILTER_COMMON;
    use sluice_core::shutdown::Shutdown;
    use sluice_core::EventTime;

    fn setup() -> Setup {
        let mut section = Section::new(SectionKind::Parser, Origin::new("p.conf", 1));
        for (k, v) in [
            ("Name", "kv"),
            ("Format", "regex"),
            ("Regex", r"^(?<a>\w+)=(?<b>\w+)(?: (?<t>\d+))?$"),
            ("Time_Key", "t"),
            ("Time_Format", "%s"),
        ] {
            section.push(k, v, Origin::new("p.conf", 2));
        }
        let mut json = Section::new(SectionKind::Parser, Origin::new("p.conf", 9));
        json.push("Name", "json", Origin::new("p.conf", 9));
        json.push("Format", "json", Origin::new("p.conf", 10));
        let parsers = Parsers::build(&[section, json], &crate::registry()).unwrap();
        let mut setup = Setup::new(Arc::new(Config::default()), Shutdown::new());
        setup.parsers = Arc::new(parsers);
        setup
    }

    fn filter(lines: &[(&str, &str)]) -> Result<Box<dyn Filter>, ConfigError> {
        let mut section = Section::new(SectionKind::Filter, Origin::new("f.conf", 1));
        section.push("Name", "parser", Origin::new("f.conf", 1));
        for (i, (k, v)) in lines.iter().enumerate() {
            section.push(*k, *v, Origin::new("f.conf", i + 2));
        }
        let cfg = PluginConfig::new(
            &section,
            "parser",
            "parser.0".into(),
            &[FILTER_COMMON, PROPS],
        )?;
        build(&cfg, &setup())
    }

    fn run(f: &dyn Filter, body: Map) -> Event {
        let mut events = vec![Event::new(EventTime::new(1, 0), body)];
        f.filter("t", &mut events);
        events.pop().unwrap()
    }

    #[test]
    fn first_matching_parser_wins_and_sets_the_time() {
        let f = filter(&[("Key_Name", "log"), ("Parser", "json"), ("Parser", "kv")]).unwrap();
        let e = run(&*f, map(&[("log", s("x=y 1700000000")), ("other", s("o"))]));
        assert_eq!(keys(&e.body), ["a", "b"]);
        assert_eq!(e.time, EventTime::new(1_700_000_000, 0));
        let e = run(&*f, map(&[("log", s(r#"{"j":1}"#))]));
        assert_eq!(keys(&e.body), ["j"]);
    }

    #[test]
    fn preserve_and_reserve_shape_the_record() {
        let body = || map(&[("log", s("x=y")), ("other", s("o"))]);
        let both = [("Key_Name", "log"), ("Parser", "kv")];
        let f = filter(&[both[0], both[1], ("Preserve_Key", "on")]).unwrap();
        assert_eq!(keys(&run(&*f, body()).body), ["log", "a", "b"]);
        let f = filter(&[both[0], both[1], ("Reserve_Data", "on")]).unwrap();
        assert_eq!(keys(&run(&*f, body()).body), ["a", "b", "other"]);
        let f = filter(&[
            both[0],
            both[1],
            ("Reserve_Data", "on"),
            ("Preserve_Key", "on"),
        ])
        .unwrap();
        assert_eq!(keys(&run(&*f, body()).body), ["a", "b", "log", "other"]);
    }

    #[test]
    fn unmatched_records_are_kept_as_they_are() {
        let f = filter(&[("Key_Name", "log"), ("Parser", "kv")]).unwrap();
        let e = run(&*f, map(&[("log", s("no match")), ("n", Value::UInt(1))]));
        assert_eq!(keys(&e.body), ["log", "n"]);
        assert_eq!(e.time, EventTime::new(1, 0));
        let e = run(&*f, map(&[("other", s("x=y"))]));
        assert_eq!(keys(&e.body), ["other"]);
    }

    #[test]
    fn unescape_key_undoes_escapes_first() {
        let f = filter(&[
            ("Key_Name", "log"),
            ("Parser", "json"),
            ("Unescape_Key", "on"),
        ])
        .unwrap();
        let e = run(&*f, map(&[("log", s(r#"{\"k\":\"v\"}"#))]));
        assert_eq!(e.body.get("k"), Some(&s("v")));
    }

    #[test]
    fn unknown_parsers_and_missing_keys_are_config_errors() {
        let err = filter(&[("Key_Name", "log"), ("Parser", "nope")])
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "f.conf:3: key 'Parser': unknown parser 'nope'"
        );
        let err = filter(&[("Parser", "kv")]).err().unwrap();
        assert!(err.to_string().contains("needs key_name"), "{err}");
        let err = filter(&[("Key_Name", "log")]).err().unwrap();
        assert!(err.to_string().contains("at least one parser"), "{err}");
    }
}
