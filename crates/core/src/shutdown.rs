//! The process-wide stop signal: anything may ask for a graceful stop
//! (a signal handler, the `exit` output), and the engine waits on it.

use std::sync::Arc;

use tokio::sync::watch;

/// A cloneable handle to request and await a graceful stop.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        let (tx, _) = watch::channel(false);
        Shutdown { tx: Arc::new(tx) }
    }

    /// Asks for a graceful stop; asking twice is harmless.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once a stop was asked for.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        // An error means the sender is gone, which cannot happen while we
        // hold it; treat it as a stop all the same.
        let _ = rx.wait_for(|stop| *stop).await;
    }
}
