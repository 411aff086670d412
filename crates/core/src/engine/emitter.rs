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
//! its own final call. While inputs that stop gracefully finish, it asks
//! for everything every few milliseconds already.
//!
//! A held event keeps its input's appends from counting as done (see
//! [`crate::ack::InputHold`]): the holds leave with the event and end
//! with the emitter's chunk it lands in.
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

/// How often held events are released while the pipeline stops.
const STOPPING_EVERY: Duration = Duration::from_millis(20);

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
        for released in held {
            self.ctx
                .append_after(self.filter, &released.tag, released.events, released.holds);
        }
    }

    /// Asks for held events every `every`, until aborted. Once the
    /// pipeline is stopping it asks for everything, every
    /// [`STOPPING_EVERY`]: inputs that stop gracefully append their last
    /// records then, and may wait for them to be delivered.
    pub async fn run(self) {
        let mut t = interval(self.every);
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
        t.tick().await;
        loop {
            tokio::select! {
                _ = t.tick() => self.emit(false),
                () = self.ctx.stopping() => break,
            }
        }
        let mut t = interval(STOPPING_EVERY);
        loop {
            t.tick().await;
            self.emit(true);
        }
    }
}
