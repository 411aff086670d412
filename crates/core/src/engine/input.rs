//! What an input task holds: its tag, its open chunks, its memory account.

use std::sync::Arc;

use crate::event::Event;

/// The handle an input uses to hand events to the pipeline.
#[derive(Clone)]
pub struct InputContext {
    inner: Arc<()>,
}

impl InputContext {
    /// The input's default tag.
    pub fn tag(&self) -> &str {
        unimplemented!()
    }
    /// Appends encoded events (chunk layout) under `tag`.
    pub fn append(&self, tag: &str, data: &[u8], records: usize) {
        let _ = (tag, data, records, &self.inner);
        unimplemented!()
    }
    /// Appends one decoded event under `tag`.
    pub fn append_event(&self, tag: &str, event: &Event) {
        let _ = (tag, event);
        unimplemented!()
    }
    /// Waits while the input is paused by `Mem_Buf_Limit`.
    pub async fn ready(&self) {}
}
