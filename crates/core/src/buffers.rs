//! Large byte buffers kept for reuse: the data of busy chunks and the
//! payloads outputs render from them.
//!
//! A busy pipeline fills a 2 MiB chunk, renders it into a payload of a few
//! MiB, sends it and frees both, many times a second. Fresh buffers of that
//! size come straight from the kernel as untouched pages, and every page is
//! then faulted in and zeroed on first write: a tenth of the CPU of a
//! tcp → tcp run went there. Buffers given back here are handed out again
//! with their pages already in place. Only a few are kept, at most [`KEEP`]
//! buffers of at most [`LARGEST`] bytes, and the engine's flush tick frees
//! those that lay unused for a whole tick, so a burst's buffers do not stay
//! resident after it.

use std::sync::Mutex;

/// Buffers the pool keeps at most.
const KEEP: usize = 4;
/// Buffers smaller than this are left to the allocator, which serves them
/// well from memory it already holds.
const SMALLEST: usize = 256 * 1024;
/// Buffers larger than this are freed: keeping them would hold more memory
/// than a pipeline of default-sized chunks ever needs at once.
const LARGEST: usize = 8 * 1024 * 1024;

/// Kept buffers; one pool serves the whole process.
struct Pool {
    /// Each with whether it was given back since the last [`trim`].
    kept: Mutex<Vec<(Vec<u8>, bool)>>,
}

static POOL: Pool = Pool::new();

impl Pool {
    const fn new() -> Self {
        Pool {
            kept: Mutex::new(Vec::new()),
        }
    }

    fn take(&self, capacity: usize) -> Vec<u8> {
        if capacity >= SMALLEST {
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            // The smallest that fits, leaving larger ones for larger needs
            // (payloads are larger than the chunks they are rendered from).
            let fitting = kept
                .iter()
                .enumerate()
                .filter(|(_, (b, _))| b.capacity() >= capacity)
                .min_by_key(|(_, (b, _))| b.capacity());
            if let Some((at, _)) = fitting {
                return kept.swap_remove(at).0;
            }
        }
        Vec::with_capacity(capacity)
    }

    fn give(&self, mut buffer: Vec<u8>) {
        if !(SMALLEST..=LARGEST).contains(&buffer.capacity()) {
            return;
        }
        buffer.clear();
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < KEEP {
            kept.push((buffer, true));
        }
    }

    fn trim(&self) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|(_, recent)| *recent);
        for (_, recent) in kept.iter_mut() {
            *recent = false;
        }
    }
}

/// An empty buffer with room for at least `capacity` bytes: a kept one
/// when one is large enough, otherwise a new one.
pub fn take(capacity: usize) -> Vec<u8> {
    POOL.take(capacity)
}

/// Gives a buffer back for [`take`] to hand out again; it is freed when
/// it is too small or too large to keep or the pool is full.
pub fn give(buffer: Vec<u8>) {
    POOL.give(buffer)
}

/// Frees the buffers given back before the previous call and not taken
/// since; the engine calls this on each flush tick.
pub fn trim() {
    POOL.trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_buffers_come_back_empty_and_only_fitting_ones_are_kept() {
        let pool = Pool::new();
        let mut big = pool.take(SMALLEST);
        big.extend_from_slice(b"old bytes");
        let at = big.as_ptr();
        pool.give(big);
        let again = pool.take(SMALLEST / 2 + SMALLEST);
        assert!(again.capacity() >= SMALLEST / 2 + SMALLEST);
        assert_ne!(again.as_ptr(), at, "too small for the request");
        let again = pool.take(SMALLEST);
        assert_eq!(again.as_ptr(), at);
        assert!(again.is_empty());

        pool.give(Vec::with_capacity(SMALLEST - 1));
        pool.give(Vec::with_capacity(LARGEST + 1));
        assert!(pool.kept.lock().unwrap().is_empty());
        for _ in 0..KEEP + 2 {
            pool.give(Vec::with_capacity(SMALLEST));
        }
        assert_eq!(pool.kept.lock().unwrap().len(), KEEP);

        // A buffer survives one trim and is freed by the next, unless it
        // was taken and given back in between.
        pool.trim();
        assert_eq!(pool.kept.lock().unwrap().len(), KEEP);
        let again = pool.take(SMALLEST);
        pool.give(again);
        pool.trim();
        assert_eq!(pool.kept.lock().unwrap().len(), 1);
        pool.trim();
        assert!(pool.kept.lock().unwrap().is_empty());
    }
}
