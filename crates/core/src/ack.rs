//! Delivery progress of one input: which of its appends are done with.
//!
//! Every append an input makes gets a [`Checkpoint`], a number that grows
//! with each append. An append is *done* once every chunk holding its
//! events has been released by every route (delivered, or dropped with a
//! counted reason), or at once when filters dropped all of its events. The
//! input learns the highest checkpoint below which everything is done, so
//! `tail` can save a file offset only for lines that are safe and
//! `forward` can answer an ack only for events that were delivered.
//!
//! Chunks of different tags are released out of order, so the answer is a
//! watermark: the first checkpoint of the oldest chunk still alive, less
//! one. Open chunks count as alive from their first append.
//!
//! A filter that keeps events back across batches (`multiline`) holds the
//! watermark too: the engine gives it an [`InputHold`] for each batch, the
//! filter keeps a clone with every record it holds, and hands the clones
//! back with the record when it lets it go; the engine then ties them to
//! the chunk the record lands in. So a held record counts as done for its
//! input only once that chunk is.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::watch;

/// A position in one input's stream of appends. Checkpoints start at 1;
/// `Checkpoint(0)` is before the first append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Checkpoint(pub u64);

#[derive(Debug, Default)]
struct State {
    /// The checkpoint the next append gets.
    next: u64,
    /// First checkpoint of each alive chunk, with how many chunks start
    /// there (appends to several tags at once share one).
    alive: BTreeMap<u64, usize>,
}

impl State {
    fn watermark(&self) -> u64 {
        match self.alive.first_key_value() {
            Some((&first, _)) => first - 1,
            None => self.next.saturating_sub(1),
        }
    }
}

/// The progress tracker of one input.
#[derive(Debug)]
pub(crate) struct Progress {
    state: Mutex<State>,
    done: watch::Sender<u64>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            state: Mutex::new(State {
                next: 1,
                alive: BTreeMap::new(),
            }),
            done: watch::channel(0).0,
        }
    }
}

impl Progress {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is updated in single statements; a panic elsewhere
        // cannot leave it half-changed.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands out the next checkpoint. `opens_chunk` says the append starts
    /// a new open chunk, which from now on holds the watermark back.
    pub fn begin(&self, opens_chunk: bool) -> u64 {
        let mut state = self.state();
        let seq = state.next;
        state.next += 1;
        if opens_chunk {
            *state.alive.entry(seq).or_insert(0) += 1;
        } else if state.alive.is_empty() {
            // Nothing is in flight: this append is done already (its
            // events were all filtered out).
            self.publish(&state);
        }
        seq
    }

    /// Holds the watermark below the checkpoint the next append gets,
    /// until [`Progress::release`] of the returned checkpoint.
    pub fn hold_next(&self) -> u64 {
        let mut state = self.state();
        let seq = state.next;
        *state.alive.entry(seq).or_insert(0) += 1;
        seq
    }

    /// A chunk that started at `first` is gone.
    pub fn release(&self, first: u64) {
        let mut state = self.state();
        if let Some(n) = state.alive.get_mut(&first) {
            *n -= 1;
            if *n == 0 {
                state.alive.remove(&first);
            }
        }
        self.publish(&state);
    }

    fn publish(&self, state: &State) {
        let mark = state.watermark();
        self.done.send_if_modified(|old| {
            let moved = mark > *old;
            if moved {
                *old = mark;
            }
            moved
        });
    }

    /// The highest checkpoint below which every append is done.
    pub fn done(&self) -> Checkpoint {
        Checkpoint(*self.done.borrow())
    }

    /// Waits until `cp` and every append before it are done.
    pub async fn wait(&self, cp: Checkpoint) {
        let mut rx = self.done.subscribe();
        // The sender lives in `self`, so the channel cannot close here.
        let _ = rx.wait_for(|done| *done >= cp.0).await;
    }
}

/// Held by a chunk from its first append on; dropping it (when the last
/// route lets go of the chunk) releases the checkpoint it started at.
#[derive(Debug)]
pub(crate) struct ChunkHold {
    progress: std::sync::Arc<Progress>,
    first: u64,
}

impl ChunkHold {
    pub fn new(progress: std::sync::Arc<Progress>, first: u64) -> Self {
        ChunkHold { progress, first }
    }
}

impl Drop for ChunkHold {
    fn drop(&mut self) {
        self.progress.release(self.first);
    }
}

/// Keeps one input's appends from counting as done while it (or a
/// clone) lives: from the append it was made for on, since the progress
/// is a watermark. Cloning is cheap; the last clone dropped lets go.
#[derive(Debug, Clone)]
pub struct InputHold(std::sync::Arc<ChunkHold>);

impl InputHold {
    /// A hold on the appends of `progress` from the next one on.
    pub(crate) fn new(progress: &std::sync::Arc<Progress>) -> Self {
        let first = progress.hold_next();
        InputHold(std::sync::Arc::new(ChunkHold::new(
            std::sync::Arc::clone(progress),
            first,
        )))
    }

    /// Adds `more` to `holds`, keeping one hold per input: the oldest,
    /// which holds back everything the others would.
    pub fn merge(holds: &mut Vec<InputHold>, more: impl IntoIterator<Item = InputHold>) {
        for hold in more {
            let same = holds
                .iter_mut()
                .find(|h| std::sync::Arc::ptr_eq(&h.0.progress, &hold.0.progress));
            match same {
                Some(kept) if hold.0.first < kept.0.first => *kept = hold,
                Some(_) => {}
                None => holds.push(hold),
            }
        }
    }
}

/// A [`ChunkHold`] that whichever comes first may end: the chunk being
/// released by every route, or (filesystem storage) its file being
/// synced, after which the input may treat the appends as safe. It also
/// carries the [`InputHold`]s of held records that landed in the chunk.
#[derive(Debug, Clone)]
pub(crate) struct SharedHold(std::sync::Arc<Mutex<Option<Holding>>>);

/// What a [`SharedHold`] keeps until it ends: the chunk's own hold and
/// those it carries.
type Holding = (ChunkHold, Vec<InputHold>);

impl SharedHold {
    pub fn new(hold: ChunkHold, carried: Vec<InputHold>) -> Self {
        SharedHold(std::sync::Arc::new(Mutex::new(Some((hold, carried)))))
    }

    /// Ends the hold, if it has not ended yet.
    pub fn release(&self) {
        let hold = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(hold);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_waits_for_the_oldest_alive_chunk() {
        let p = Progress::default();
        let a = p.begin(true); // 1: opens chunk A
        let b = p.begin(true); // 2: opens chunk B (another tag)
        let _ = p.begin(false); // 3: joins A
        assert_eq!(p.done(), Checkpoint(0));
        p.release(b);
        assert_eq!(p.done(), Checkpoint(0), "A still holds 1 and 3");
        p.release(a);
        assert_eq!(p.done(), Checkpoint(3));
    }

    #[test]
    fn an_append_with_nothing_in_flight_is_done_at_once() {
        let p = Progress::default();
        p.begin(false);
        assert_eq!(p.done(), Checkpoint(1));
    }

    #[test]
    fn an_input_hold_keeps_the_next_append_from_being_done() {
        let p = std::sync::Arc::new(Progress::default());
        let hold = InputHold::new(&p);
        let seq = p.begin(false); // 1: filtered out, but held
        assert_eq!(p.done(), Checkpoint(0));
        let mut kept = vec![hold.clone()];
        let later = {
            p.begin(false); // 2
            InputHold::new(&p)
        };
        InputHold::merge(&mut kept, [later]);
        assert_eq!(kept.len(), 1, "one hold per input, the oldest");
        drop(hold);
        assert_eq!(p.done(), Checkpoint(0), "the clone still holds");
        drop(kept);
        assert!(p.done() >= Checkpoint(seq));
    }

    #[tokio::test]
    async fn wait_resolves_once_released() {
        let p = std::sync::Arc::new(Progress::default());
        let seq = p.begin(true);
        let waiter = {
            let p = std::sync::Arc::clone(&p);
            tokio::spawn(async move { p.wait(Checkpoint(seq)).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        p.release(seq);
        waiter.await.unwrap();
    }
}
