//! Memory accounting for `Mem_Buf_Limit`: how many bytes of an input's
//! chunks are alive, and the pause/resume signal that follows from it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// The bytes an input holds in chunks not yet released by every route.
#[derive(Debug)]
pub struct Account {
    name: Arc<str>,
    used: AtomicUsize,
    /// Sealed chunks alive (not yet released by every route).
    chunks: AtomicUsize,
    /// 0 means no limit.
    limit: usize,
    paused: AtomicBool,
    drained: Notify,
}

impl Account {
    pub fn new(name: Arc<str>, limit: usize) -> Arc<Self> {
        Arc::new(Account {
            name,
            used: AtomicUsize::new(0),
            chunks: AtomicUsize::new(0),
            limit,
            paused: AtomicBool::new(false),
            drained: Notify::new(),
        })
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Sealed chunks of this input still held by some route.
    pub fn chunks(&self) -> usize {
        self.chunks.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// Counts `bytes` as held; the caller gets them back through a
    /// [`Lease`] once the chunk is done.
    pub fn add(&self, bytes: usize) {
        let used = self.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if self.limit > 0 && used >= self.limit && !self.paused.swap(true, Ordering::Relaxed) {
            tracing::warn!(input = %self.name, used, limit = self.limit, "mem_buf_limit reached, input paused");
        }
    }

    /// Turns `bytes` already counted by [`Account::add`] into a lease.
    pub fn lease(self: &Arc<Self>, bytes: usize) -> Lease {
        self.chunks.fetch_add(1, Ordering::Relaxed);
        Lease {
            account: Arc::clone(self),
            bytes,
        }
    }

    fn release(&self, bytes: usize) {
        self.chunks.fetch_sub(1, Ordering::Relaxed);
        let used = self.used.fetch_sub(bytes, Ordering::Relaxed) - bytes;
        if self.limit > 0 && used < self.limit && self.paused.swap(false, Ordering::Relaxed) {
            tracing::info!(input = %self.name, used, limit = self.limit, "input resumed");
        }
        self.drained.notify_waiters();
    }

    /// Waits until the input is below its limit.
    pub async fn ready(&self) {
        loop {
            let drained = self.drained.notified();
            if !self.is_paused() {
                return;
            }
            drained.await;
        }
    }
}

/// Bytes held on an [`Account`]; dropping the lease gives them back.
#[derive(Debug)]
pub struct Lease {
    account: Arc<Account>,
    bytes: usize,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.account.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pauses_at_the_limit_and_resumes_below_it() {
        let acct = Account::new("in".into(), 100);
        acct.add(60);
        let a = acct.lease(60);
        assert!(!acct.is_paused());
        acct.add(60);
        let b = acct.lease(60);
        assert!(acct.is_paused());
        let waiter = {
            let acct = Arc::clone(&acct);
            tokio::spawn(async move { acct.ready().await })
        };
        drop(a);
        waiter.await.unwrap();
        assert!(!acct.is_paused());
        drop(b);
        assert_eq!(acct.used(), 0);
    }
}
