//! `Log_Suppress_Interval`: remembers when each distinct log line was
//! last written, so a repeat within the interval is counted instead of
//! written.
//!
//! The first repeat after the interval is written again, preceded by a
//! report of how many repeats were held back meanwhile. Counts of lines
//! that never came back are reported at exit ([`Repeats::take_pending`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

// TODO: report the count of a line that stops repeating when its
// interval ends, because today that waits for the line's next appearance
// or the exit; it needs a timer beside the logger.

/// Distinct lines remembered before old ones are forgotten.
const MAX_REMEMBERED: usize = 4096;

/// What to do with one log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Write it: first of its kind, or the interval has passed with no
    /// repeat held back.
    Write,
    /// A repeat within the interval: count it, do not write it.
    Suppress,
    /// The interval has passed: write it, after reporting the repeats
    /// held back since it was last written.
    WriteAfter(u64),
}

#[derive(Debug)]
struct Seen {
    written: Instant,
    suppressed: u64,
}

/// Lines written recently, by their text (instance, level, message and
/// fields).
#[derive(Debug, Default)]
pub(crate) struct Repeats {
    seen: Mutex<HashMap<String, Seen>>,
}

impl Repeats {
    /// Decides whether `line` is written at `now`.
    pub fn admit(&self, line: String, interval: Duration, now: Instant) -> Admit {
        // A panic while holding the lock leaves only counts behind.
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = seen.get_mut(&line) {
            if now.saturating_duration_since(s.written) < interval {
                s.suppressed += 1;
                return Admit::Suppress;
            }
            let held = std::mem::take(&mut s.suppressed);
            s.written = now;
            return if held > 0 {
                Admit::WriteAfter(held)
            } else {
                Admit::Write
            };
        }
        if seen.len() >= MAX_REMEMBERED {
            // Keep only lines within their window that hold a count; if
            // all are such, forget everything rather than grow.
            seen.retain(|_, s| {
                s.suppressed > 0 && now.saturating_duration_since(s.written) < interval
            });
            if seen.len() >= MAX_REMEMBERED {
                seen.clear();
            }
        }
        seen.insert(
            line,
            Seen {
                written: now,
                suppressed: 0,
            },
        );
        Admit::Write
    }
}

impl Repeats {
    /// Lines with repeats held back and not yet reported, with their
    /// counts; the counts start again from zero.
    pub fn take_pending(&self) -> Vec<(String, u64)> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter_mut()
            .filter(|(_, s)| s.suppressed > 0)
            .map(|(line, s)| (line.clone(), std::mem::take(&mut s.suppressed)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_within_the_interval_are_counted_then_reported() {
        let r = Repeats::default();
        let t0 = Instant::now();
        let secs = |s: u64| t0 + Duration::from_secs(s);
        let every = Duration::from_secs(10);
        assert_eq!(r.admit("a".into(), every, t0), Admit::Write);
        assert_eq!(r.admit("a".into(), every, secs(1)), Admit::Suppress);
        assert_eq!(r.admit("b".into(), every, secs(2)), Admit::Write);
        assert_eq!(r.admit("a".into(), every, secs(9)), Admit::Suppress);
        assert_eq!(r.admit("a".into(), every, secs(10)), Admit::WriteAfter(2));
        assert_eq!(r.admit("a".into(), every, secs(21)), Admit::Write);
        assert_eq!(r.admit("a".into(), every, secs(22)), Admit::Suppress);
        assert_eq!(r.take_pending(), vec![("a".to_owned(), 1)]);
        assert!(r.take_pending().is_empty());
    }

    #[test]
    fn memory_stays_bounded_with_endless_distinct_lines() {
        let r = Repeats::default();
        let now = Instant::now();
        for n in 0..3 * MAX_REMEMBERED {
            r.admit(n.to_string(), Duration::from_secs(60), now);
        }
        assert!(r.seen.lock().unwrap().len() <= MAX_REMEMBERED);
    }
}
