//! Emitters: how events a filter held back re-enter the pipeline.
//!
//! A filter that joins events across batches (`multiline` with `buffer
//! on`) cannot hand everything back from [`Filter::filter`]: a stack
//! trace followed by silence must still come out. Such a filter declares
//! an [`EmitterSpec`]; the engine gives it an emitter, an input context
//! of its own (named like Fluent Bit's `emitter_for_...` input, with its
//! own metrics and memory account), and owns the timer: every
//! `check_every` it asks the filter for held events and appends them,
//! under their tag, through the filters that come after this one. The
//! filter never sees a timer or a route.
//!
//! At shutdown the engine asks every emitter, in configuration order,
//! for everything still held, before it seals the last chunks, so nothing
//! held is lost; a later filter that also holds events gets them before
//! its own final call.
//!
//! [`Filter::filter`]: crate::plugin::Filter::filter
//! [`EmitterSpec`]: crate::plugin::EmitterSpec

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::{interval, MissedTickBehavior};

use super::input::InputContext;
use super::pipeline::Pipeline;

// TODO: let `emitter_mem_buf_limit` hold back the filter's input, because
// now the emitter's account only reports being over it: held events
// cannot wait (they are already out of their input) and events held in
// the filter are counted in no account at all.

/// The emitter of one filter.
#[derive(Clone)]
pub(crate) struct Emitter {
    /// The filter's position in the pipeline's filter chain.
    pub filter: usize,
    pub ctx: InputContext,
    pub pipeline: Arc<Pipeline>,
    pub every: Duration,
}

impl Emitter {
    /// Appends what the filter releases now (everything when `all`).
    pub fn emit(&self, all: bool) {
        let held = self.pipeline.take_held(self.filter, Instant::now(), all);
        for (tag, events) in held {
            self.ctx.append_after(self.filter, &tag, events);
        }
    }

    /// Asks for held events every `every`, until aborted.
    pub async fn run(self) {
        let mut t = interval(self.every);
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
        t.tick().await;
        loop {
            t.tick().await;
            self.emit(false);
        }
    }
}
