//! The process's own log lines, offered to the pipeline.
//!
//! The binary's log subscriber [`publish`]es every line it writes while
//! someone listens; the `fluentbit_logs` input [`subscribe`]s and appends
//! them as records. Each subscriber has a queue of [`QUEUE_LIMIT`] lines:
//! a line that finds it full is not queued, and counted on the
//! subscription instead, so a slow pipeline never holds the logger up.
//! Lines written before a subscriber exists are not kept.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::event::EventTime;

/// Lines queued per subscriber before new ones are dropped.
pub const QUEUE_LIMIT: usize = 1024;

/// One line of the process log.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub time: EventTime,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: &'static str,
    pub message: String,
}

struct Subscriber {
    tx: mpsc::Sender<LogLine>,
    dropped: Arc<AtomicU64>,
}

static SUBSCRIBERS: Mutex<Vec<Subscriber>> = Mutex::new(Vec::new());
/// A fast check for the logger: is anyone listening?
static TAPPED: AtomicBool = AtomicBool::new(false);

/// A listener's end: its queue and the count of lines it missed.
#[derive(Debug)]
pub struct Subscription {
    pub lines: mpsc::Receiver<LogLine>,
    dropped: Arc<AtomicU64>,
}

impl Subscription {
    /// Lines dropped on a full queue since the last call.
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

fn subscribers() -> std::sync::MutexGuard<'static, Vec<Subscriber>> {
    // Only queue handles are kept under the lock; a panic cannot leave
    // them half-changed.
    SUBSCRIBERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts listening to the process log. Dropping the subscription stops.
pub fn subscribe() -> Subscription {
    let (tx, lines) = mpsc::channel(QUEUE_LIMIT);
    let dropped = Arc::new(AtomicU64::new(0));
    subscribers().push(Subscriber {
        tx,
        dropped: Arc::clone(&dropped),
    });
    TAPPED.store(true, Ordering::Release);
    Subscription { lines, dropped }
}

/// Is anyone listening? Lets the logger skip building lines for nobody.
pub fn is_tapped() -> bool {
    TAPPED.load(Ordering::Acquire)
}

/// Offers a line to every listener, without waiting.
pub fn publish(line: LogLine) {
    let mut subs = subscribers();
    subs.retain(|s| {
        match s.tx.try_send(line.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                s.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            // The listener is gone (its input stopped or was reloaded).
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    });
    TAPPED.store(!subs.is_empty(), Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: usize) -> LogLine {
        LogLine {
            time: EventTime::new(0, 0),
            level: "info",
            message: n.to_string(),
        }
    }

    #[test]
    fn a_full_queue_counts_what_it_drops_and_a_closed_one_is_forgotten() {
        let mut sub = subscribe();
        assert!(is_tapped());
        for n in 0..QUEUE_LIMIT + 5 {
            publish(line(n));
        }
        assert_eq!(sub.take_dropped(), 5);
        assert_eq!(sub.take_dropped(), 0);
        assert_eq!(sub.lines.try_recv().unwrap().message, "0");
        drop(sub);
        publish(line(0));
        assert!(!is_tapped());
    }
}
