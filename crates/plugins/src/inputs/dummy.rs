//! `dummy`: generates a fixed record at a steady rate.
//!
//! Options: `dummy` (the record, JSON, default `{"message":"dummy"}`),
//! `metadata` (JSON map, default `{}`), `rate` (records per second,
//! default 1), `copies` (records per beat, default 1), `samples` (stop
//! after this many records, default 0 = never), `start_time_sec` /
//! `start_time_nsec` (timestamp of the first record; later ones advance
//! by real time), `fixed_timestamp` (every record gets the first
//! timestamp), `flush_on_startup` (emit the first beat at once).
//!
//! The record is encoded once at build time; each beat copies it behind a
//! fresh time header, so generation allocates nothing per record. After
//! `samples` the input idles (as Fluent Bit's does) rather than ending.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::event::write_header;
use sluice_core::plugin::{BuildInput, Input, InputContext, PluginError, Setup, Spec};
use sluice_core::{EventTime, Map};

const PROPS: &[Property] = &[
    Property::new(
        "dummy",
        PropKind::Str,
        Some(r#"{"message":"dummy"}"#),
        "The record to generate, as JSON",
    ),
    Property::new(
        "metadata",
        PropKind::Str,
        Some("{}"),
        "Metadata of each record, as a JSON map",
    ),
    Property::new("rate", PropKind::Int, Some("1"), "Records per second"),
    Property::new(
        "copies",
        PropKind::Int,
        Some("1"),
        "Records generated per beat",
    ),
    Property::new(
        "samples",
        PropKind::Int,
        Some("0"),
        "Stop after this many records (0: never)",
    ),
    Property::new(
        "start_time_sec",
        PropKind::Int,
        Some("-1"),
        "Seconds of the first record's time (-1: now)",
    ),
    Property::new(
        "start_time_nsec",
        PropKind::Int,
        Some("-1"),
        "Nanoseconds of the first record's time (-1: now)",
    ),
    Property::new(
        "fixed_timestamp",
        PropKind::Bool,
        Some("off"),
        "Give every record the first record's time",
    ),
    Property::new(
        "flush_on_startup",
        PropKind::Bool,
        Some("off"),
        "Generate the first beat at start-up",
    ),
    Property::new(
        "interval_sec",
        PropKind::Int,
        Some("0"),
        "Seconds between beats (overrides rate when set)",
    ),
    Property::new(
        "interval_nsec",
        PropKind::Int,
        Some("0"),
        "Nanoseconds between beats (with interval_sec)",
    ),
];

pub const SPEC: Spec<BuildInput> = Spec {
    name: "dummy",
    description: "Generate dummy records",
    properties: PROPS,
    build,
};

struct Dummy {
    body: Vec<u8>,
    meta: Map,
    beat: Duration,
    per_beat: u64,
    samples: u64,
    start: Option<EventTime>,
    fixed: bool,
    immediate: bool,
}

fn build(cfg: &PluginConfig, _: &Setup) -> Result<Box<dyn Input>, ConfigError> {
    let mut body = Vec::new();
    super::json_object(cfg.str("dummy").unwrap_or_default().as_bytes(), &mut body)
        .map_err(|e| cfg.error("dummy", format!("must be a JSON object; {e}")))?;
    let meta = sluice_core::json::parse_object(cfg.str("metadata").unwrap_or("{}").as_bytes())
        .map_err(|e| cfg.error("metadata", format!("must be a JSON object; {e}")))?;
    let rate = cfg.int("rate").unwrap_or(1);
    if rate < 1 {
        return Err(cfg.error("rate", "must be at least 1"));
    }
    let copies = cfg.int("copies").unwrap_or(1).max(1) as u64;
    let interval = Duration::from_secs(cfg.int("interval_sec").unwrap_or(0).max(0) as u64)
        + Duration::from_nanos(cfg.int("interval_nsec").unwrap_or(0).max(0) as u64);
    let (beat, per_beat) = beat_for(rate as u64, interval, copies);
    let sec = cfg.int("start_time_sec").unwrap_or(-1);
    let nsec = cfg.int("start_time_nsec").unwrap_or(-1);
    let start = (sec >= 0 || nsec >= 0)
        .then(|| EventTime::new(sec.max(0), nsec.clamp(0, 999_999_999) as u32));
    Ok(Box::new(Dummy {
        body,
        meta,
        beat,
        per_beat,
        samples: cfg.int("samples").unwrap_or(0).max(0) as u64,
        start,
        fixed: cfg.bool("fixed_timestamp"),
        immediate: cfg.bool("flush_on_startup"),
    }))
}

/// The timer period and the records per beat. High rates batch several
/// records per millisecond beat instead of asking the timer for more.
fn beat_for(rate: u64, interval: Duration, copies: u64) -> (Duration, u64) {
    if !interval.is_zero() {
        return (interval, copies);
    }
    let min_beat = Duration::from_millis(1);
    let beat = Duration::from_secs(1) / rate.min(u32::MAX as u64) as u32;
    if beat >= min_beat {
        (beat, copies)
    } else {
        let per_ms = rate.div_ceil(1000);
        (min_beat, per_ms * copies)
    }
}

impl Dummy {
    fn time(&self, first: EventTime, started: Instant) -> EventTime {
        if self.fixed {
            return first;
        }
        match self.start {
            None => EventTime::now(),
            Some(s) => {
                let e = started.elapsed();
                let nsec = s.nsec as u64 + e.subsec_nanos() as u64;
                EventTime::new(
                    s.sec + e.as_secs() as i64 + (nsec / 1_000_000_000) as i64,
                    (nsec % 1_000_000_000) as u32,
                )
            }
        }
    }
}

#[async_trait]
impl Input for Dummy {
    async fn run(self: Box<Self>, ctx: InputContext) -> Result<(), PluginError> {
        let started = Instant::now();
        let first = self.start.unwrap_or_else(EventTime::now);
        let mut timer = tokio::time::interval(self.beat);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        if !self.immediate {
            timer.tick().await;
        }
        let mut emitted = 0u64;
        let mut buf = Vec::new();
        loop {
            timer.tick().await;
            ctx.ready().await;
            let mut n = self.per_beat;
            if self.samples > 0 {
                n = n.min(self.samples - emitted);
            }
            let time = self.time(first, started);
            buf.clear();
            for _ in 0..n {
                write_header(&mut buf, time, &self.meta);
                buf.extend_from_slice(&self.body);
            }
            ctx.append(ctx.tag(), &buf, n as usize);
            emitted += n;
            if self.samples > 0 && emitted >= self.samples {
                // Fluent Bit's dummy stays alive after its samples.
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_rates_batch_per_millisecond() {
        assert_eq!(beat_for(1, Duration::ZERO, 1), (Duration::from_secs(1), 1));
        assert_eq!(
            beat_for(100, Duration::ZERO, 2),
            (Duration::from_millis(10), 2)
        );
        assert_eq!(
            beat_for(1_000_000, Duration::ZERO, 1),
            (Duration::from_millis(1), 1000)
        );
        assert_eq!(
            beat_for(5, Duration::from_millis(200), 1),
            (Duration::from_millis(200), 1)
        );
    }
}
