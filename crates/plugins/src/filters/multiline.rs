//! `multiline`: joins records that hold pieces of one message (stack
//! traces, lines split by a container runtime) into one record.
//!
//! Options: `multiline.parser` (required unless `mode partial_message`;
//! comma-separated multiline parser names, repeatable; a record's stream
//! belongs to the first parser that starts a record with it),
//! `multiline.key_content` (the field whose text is matched and joined;
//! unset, each parser's own `key_content`, whose default is `log`), `mode` (`parser`, the default, or
//! `partial_message`: rejoin records Docker's fluentd driver split,
//! flagged `partial_message`, by `partial_id`, until `partial_last`),
//! `buffer` (default on: hold a record across batches until it is
//! complete or idle for `flush_ms`; off: whatever a batch leaves open
//! comes out at its end), `flush_ms` (default 2000), and, accepted for
//! compatibility, `emitter_name` (default `emitter_for_<filter>`),
//! `emitter_storage.type` (default memory; `filesystem` keeps the chunks
//! of released records in files when `storage.path` is set) and
//! `emitter_mem_buf_limit` (default 10M).
//!
//! Records of different tags never join, nor do records whose `stream`
//! field differs. With `buffer on`, completed records stay in their
//! batch; records released later (idle, or at shutdown, when everything
//! held is released) re-enter through the engine's emitter for this
//! filter and pass only the filters after this one.
//!
//! A record held across batches keeps an input that can read its
//! source again (`tail`) from counting its lines as done: no offset is
//! saved past them until the chunk the record finally lands in is
//! delivered, so a crash while a record is held loses none of its lines;
//! they are read again at restart.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::multiline::{Kind, MultilineBuffer, MultilineParser};
use sluice_core::plugin::{
    BuildFilter, EmitterSpec, Filter, Holds, InputHold, Released, Setup, Spec,
};
use sluice_core::{Event, Value};

const PROPS: &[Property] = &[
    Property::new(
        "multiline.parser",
        PropKind::Str,
        None,
        "Multiline parsers to try, comma-separated, in order",
    )
    .repeatable(),
    Property::new(
        "multiline.key_content",
        PropKind::Str,
        Some("log"),
        "Field holding the text to match and join",
    ),
    Property::new(
        "mode",
        PropKind::Str,
        Some("parser"),
        "parser, or partial_message (Docker's split records)",
    ),
    Property::new(
        "buffer",
        PropKind::Bool,
        Some("on"),
        "Hold records across batches until complete or idle",
    ),
    Property::new(
        "flush_ms",
        PropKind::Int,
        Some("2000"),
        "Milliseconds a held record waits for more lines",
    ),
    Property::new(
        "emitter_name",
        PropKind::Str,
        None,
        "Name of the emitter that re-emits held records",
    ),
    Property::new(
        "emitter_storage.type",
        PropKind::Str,
        Some("memory"),
        "Storage of the emitter's chunks (memory)",
    ),
    Property::new(
        "emitter_mem_buf_limit",
        PropKind::Size,
        Some("10M"),
        "Memory the emitter's chunks may hold",
    ),
];

pub const SPEC: Spec<BuildFilter> = Spec {
    name: "multiline",
    description: "Join records that hold pieces of one message",
    properties: PROPS,
    build,
};

/// The fields Docker's fluentd driver adds to split records.
const PARTIAL_FIELDS: &[&str] = &[
    "partial_message",
    "partial_id",
    "partial_ordinal",
    "partial_last",
];

struct MultilineFilter {
    held: Mutex<Held>,
    partial_message: bool,
    hold: bool,
    emitter: EmitterSpec,
}

/// The records being joined, and what each owes its inputs.
struct Held {
    buffer: MultilineBuffer,
    /// By pending record id: its stream, and the holds of the batches
    /// its lines came from.
    owed: HashMap<u64, (String, Vec<InputHold>)>,
}

impl Held {
    /// Feeds one record of `stream`. When the record pending where it
    /// joins leaves, its holds go to `holds.released` (it is in this
    /// batch's output); the record pending after the feed keeps the
    /// batch's holds.
    fn feed(
        &mut self,
        stream: &str,
        event: &Event,
        now: Instant,
        out: &mut Vec<Event>,
        holds: &mut Holds,
    ) {
        let before = self.buffer.pending_id(stream, event);
        self.buffer.feed_record(stream, event, now, out);
        let after = self.buffer.pending_id(stream, event);
        if before != after {
            if let Some((_, owed)) = before.and_then(|id| self.owed.remove(&id)) {
                InputHold::merge(&mut holds.released, owed);
            }
        }
        if let (Some(id), false) = (after, holds.batch.is_empty()) {
            let (_, owed) = self
                .owed
                .entry(id)
                .or_insert_with(|| (stream.to_owned(), Vec::new()));
            InputHold::merge(owed, holds.batch.iter().cloned());
        }
    }

    /// The holds of records that are no longer pending, by stream.
    fn take_gone(&mut self) -> Vec<(String, Vec<InputHold>)> {
        let live: HashSet<u64> = self.buffer.pending_ids().map(|(_, id)| id).collect();
        let gone: Vec<u64> = self
            .owed
            .keys()
            .filter(|id| !live.contains(id))
            .copied()
            .collect();
        gone.iter().filter_map(|id| self.owed.remove(id)).collect()
    }
}

fn build(cfg: &PluginConfig, setup: &Setup) -> Result<Box<dyn Filter>, ConfigError> {
    let key = cfg.str("multiline.key_content").unwrap_or("log").to_owned();
    let partial_message = match cfg.str("mode").unwrap_or("parser").trim() {
        m if m.eq_ignore_ascii_case("parser") => false,
        m if m.eq_ignore_ascii_case("partial_message") => true,
        other => {
            let message = format!("unknown mode '{other}' (parser or partial_message)");
            return Err(cfg.error("mode", message));
        }
    };
    let parsers = if partial_message {
        vec![partial_message_parser(&key)]
    } else {
        parsers(cfg, setup)?
    };
    let flush_ms = cfg.int("flush_ms").unwrap_or(2000);
    if flush_ms <= 0 {
        return Err(cfg.error("flush_ms", "must be a positive number of milliseconds"));
    }
    let on_disk = match cfg
        .str("emitter_storage.type")
        .unwrap_or("memory")
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "memory" => false,
        "filesystem" => true,
        other => {
            return Err(cfg.error(
                "emitter_storage.type",
                format!("'{other}' is not memory or filesystem"),
            ))
        }
    };
    let flush = Duration::from_millis(flush_ms as u64);
    let emitter = EmitterSpec {
        name: cfg
            .str("emitter_name")
            .map_or_else(|| format!("emitter_for_{}", cfg.instance), str::to_owned),
        mem_buf_limit: cfg.size("emitter_mem_buf_limit").unwrap_or(10 << 20) as usize,
        check_every: (flush / 4).max(Duration::from_millis(10)),
        on_disk,
    };
    let mut buffer = MultilineBuffer::new(parsers).with_flush_timeout(flush);
    // Unset, each parser reads its own `key_content` (default `log`).
    if partial_message || cfg.is_set("multiline.key_content") {
        buffer = buffer.with_key_content(key);
    }
    Ok(Box::new(MultilineFilter {
        held: Mutex::new(Held {
            buffer,
            owed: HashMap::new(),
        }),
        partial_message,
        hold: cfg.bool("buffer"),
        emitter,
    }))
}

fn parsers(cfg: &PluginConfig, setup: &Setup) -> Result<Vec<Arc<MultilineParser>>, ConfigError> {
    let entries = cfg.all("multiline.parser");
    if entries.is_empty() {
        return Err(cfg.error(
            "multiline.parser",
            "the multiline filter needs multiline.parser in mode parser",
        ));
    }
    let mut parsers = Vec::new();
    for entry in entries {
        parsers.extend(setup.multiline_parsers(entry)?);
    }
    Ok(parsers)
}

/// Docker's split records: `partial_last` "false" means more follows.
fn partial_message_parser(key: &str) -> Arc<MultilineParser> {
    Arc::new(MultilineParser {
        name: "partial_message".into(),
        kind: Kind::Partial {
            key: "partial_last".into(),
            value: "false".into(),
        },
        key_content: key.to_owned(),
        parser: None,
        flush_timeout: Duration::from_secs(5),
    })
}

// TODO: keep a held record of an input that answers its sender (forward
// acks, http responses) from counting as done, because now a crash before
// its release loses it once answered; holding the answer would stall a
// sender that waits for each one for `flush_ms` per record, so this
// needs the held records kept on disk (as emitter_storage.type
// filesystem keeps released ones) and the answer sent once they are.
impl Filter for MultilineFilter {
    fn filter(&self, tag: &str, events: &mut Vec<Event>) {
        self.filter_holding(tag, events, &mut Holds::default());
    }

    fn filter_holding(&self, tag: &str, events: &mut Vec<Event>, holds: &mut Holds) {
        let now = Instant::now();
        let mut held = self.lock();
        let mut out = Vec::with_capacity(events.len());
        for event in events.drain(..) {
            match self.stream_of(tag, &event) {
                Some(stream) => held.feed(&stream, &event, now, &mut out, holds),
                None => out.push(event),
            }
        }
        if !self.hold {
            let mut rest = Vec::new();
            held.buffer.flush_all(&mut rest);
            out.extend(rest.into_iter().map(|(_, e)| e));
            for (_, owed) in held.take_gone() {
                InputHold::merge(&mut holds.released, owed);
            }
        }
        if self.partial_message {
            out.iter_mut().for_each(strip_partial_fields);
        }
        *events = out;
    }

    fn emitter(&self) -> Option<EmitterSpec> {
        self.hold.then(|| self.emitter.clone())
    }

    fn take_held(&self, now: Instant, all: bool) -> Vec<Released> {
        let mut released = Vec::new();
        let mut held = self.lock();
        if all {
            held.buffer.flush_all(&mut released);
        } else {
            held.buffer.flush_due(now, &mut released);
        }
        // Each group is one append: consecutive records of one tag, with
        // the streams they came from.
        let mut groups: Vec<(Released, HashSet<String>)> = Vec::new();
        for (stream, mut event) in released {
            if self.partial_message {
                strip_partial_fields(&mut event);
            }
            let tag = stream.split('\0').next().unwrap_or_default().to_owned();
            match groups.last_mut() {
                Some((r, streams)) if r.tag == tag => {
                    r.events.push(event);
                    streams.insert(stream);
                }
                _ => {
                    let r = Released {
                        tag,
                        events: vec![event],
                        holds: Vec::new(),
                    };
                    groups.push((r, HashSet::from([stream])));
                }
            }
        }
        // A record's holds go with every group holding a record of its
        // stream: more than needed at worst, never less.
        for (stream, owed) in held.take_gone() {
            for (r, _) in groups.iter_mut().filter(|(_, s)| s.contains(&stream)) {
                InputHold::merge(&mut r.holds, owed.iter().cloned());
            }
        }
        groups.into_iter().map(|(r, _)| r).collect()
    }
}

impl MultilineFilter {
    fn lock(&self) -> MutexGuard<'_, Held> {
        // Feeding leaves the buffer whole between records, so a panic
        // elsewhere under the lock leaves nothing half-joined.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stream a record joins within: its tag, and in
    /// `partial_message` mode its `partial_id`. `None` passes the record
    /// through untouched (not a split record).
    fn stream_of(&self, tag: &str, event: &Event) -> Option<String> {
        if !self.partial_message {
            return Some(tag.to_owned());
        }
        let flagged = event.body.get("partial_message").and_then(Value::to_text);
        if flagged.as_deref() != Some("true") {
            return None;
        }
        let id = event.body.get("partial_id").and_then(Value::to_text);
        Some(format!("{tag}\0{}", id.unwrap_or_default()))
    }
}

fn strip_partial_fields(event: &mut Event) {
    event.body.retain(|k, _| !PARTIAL_FIELDS.contains(&k));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testing::{map, s};
    use sluice_core::config::{Config, Origin, Section, SectionKind};
    use sluice_core::multiline::MultilineParsers;
    use sluice_core::parser::Parsers;
    use sluice_core::registry::FILTER_COMMON;
    use sluice_core::shutdown::Shutdown;
    use sluice_core::EventTime;

    fn build_with(lines: &[(&str, &str)]) -> Result<Box<dyn Filter>, ConfigError> {
        let registry = crate::registry();
        let parsers = Parsers::build(&[], &registry).unwrap();
        let multiline =
            MultilineParsers::build(&[], &registry.builtin_multiline_parsers, &parsers).unwrap();
        let mut setup = Setup::new(Arc::new(Config::default()), Shutdown::new());
        setup.multiline = Arc::new(multiline);
        let mut section = Section::new(SectionKind::Filter, Origin::new("test.conf", 1));
        for (i, (k, v)) in lines.iter().enumerate() {
            section.push(*k, *v, Origin::new("test.conf", i + 2));
        }
        let cfg = PluginConfig::new(
            &section,
            "multiline",
            "multiline.0".into(),
            &[FILTER_COMMON, PROPS],
        )?;
        build(&cfg, &setup)
    }

    fn logs(events: &[Event]) -> Vec<&str> {
        events
            .iter()
            .map(|e| e.body.get("log").and_then(Value::as_str).unwrap_or("-"))
            .collect()
    }

    fn batch(lines: &[&str]) -> Vec<Event> {
        lines
            .iter()
            .map(|l| Event::new(EventTime::new(1, 0), map(&[("log", s(l))])))
            .collect()
    }

    #[test]
    fn buffered_records_wait_across_batches_and_leave_through_the_emitter() {
        let f = build_with(&[("multiline.parser", "java"), ("flush_ms", "500")]).unwrap();
        let spec = f.emitter().unwrap();
        assert_eq!(spec.name, "emitter_for_multiline.0");
        let mut first = batch(&["hello", "java.lang.RuntimeException: boom"]);
        f.filter("app", &mut first);
        assert_eq!(logs(&first), ["hello"]);
        let mut second = batch(&["\tat a.B.c(B.java:1)"]);
        f.filter("other", &mut second);
        f.filter("app", &mut batch(&["\tat a.B.c(B.java:1)"]));
        assert_eq!(logs(&second), ["\tat a.B.c(B.java:1)"]);
        assert!(f.take_held(Instant::now(), false).is_empty());
        let held = f.take_held(Instant::now() + Duration::from_secs(1), false);
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].tag, "app");
        assert_eq!(
            logs(&held[0].events),
            ["java.lang.RuntimeException: boom\n\tat a.B.c(B.java:1)"]
        );
    }

    #[test]
    fn unbuffered_batches_release_everything_at_their_end() {
        let f = build_with(&[("multiline.parser", "go, java"), ("buffer", "off")]).unwrap();
        assert!(f.emitter().is_none());
        let mut events = batch(&["panic: oops", "", "goroutine 1 [running]:", "main.main()"]);
        f.filter("t", &mut events);
        assert_eq!(
            logs(&events),
            ["panic: oops\n\ngoroutine 1 [running]:\nmain.main()"]
        );
    }

    #[test]
    fn partial_message_mode_rejoins_docker_splits() {
        let f = build_with(&[("mode", "partial_message")]).unwrap();
        let part = |id: &str, last: &str, log: &str| {
            let body = map(&[
                ("log", s(log)),
                ("partial_message", s("true")),
                ("partial_id", s(id)),
                ("partial_ordinal", s("1")),
                ("partial_last", s(last)),
            ]);
            Event::new(EventTime::new(1, 0), body)
        };
        let plain = Event::new(EventTime::new(1, 0), map(&[("log", s("whole"))]));
        let mut events = vec![
            part("a", "false", "one "),
            part("b", "false", "x"),
            plain,
            part("a", "true", "two"),
            part("b", "true", "y"),
        ];
        f.filter("t", &mut events);
        assert_eq!(logs(&events), ["whole", "one two", "xy"]);
        assert_eq!(events[1].body.keys().collect::<Vec<_>>(), ["log"]);
    }

    #[test]
    fn config_errors_name_the_key() {
        let err = |lines: &[(&str, &str)]| build_with(lines).err().unwrap().to_string();
        assert_eq!(
            err(&[("multiline.parser", "java, nope")]),
            "test.conf:2: key 'multiline.parser': unknown multiline parser 'nope'"
        );
        assert!(err(&[]).contains("needs multiline.parser"));
        assert!(err(&[("multiline.parser", "go"), ("mode", "odd")]).contains("unknown mode 'odd'"));
    }
}
