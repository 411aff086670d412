//! The built pipeline that input contexts share: the filter chain, the
//! output queues and the routes between them.

use std::sync::Arc;

use crate::chunk::Chunk;
use crate::event::Event;
use crate::metrics::FilterMetrics;
use crate::plugin::{Filter, Holds, Released};
use crate::router::{Matcher, Router};

use super::output::OutputHandle;

/// One configured filter.
pub(crate) struct FilterInstance {
    pub name: Arc<str>,
    pub filter: Box<dyn Filter>,
    pub metrics: Arc<FilterMetrics>,
    /// Entered while the filter runs, so its log lines name it.
    pub span: tracing::Span,
}

pub(crate) struct Pipeline {
    filters: Vec<FilterInstance>,
    /// Which filters keep events back (have an emitter), by position.
    holding: Vec<bool>,
    filter_routes: Router,
    outputs: Vec<OutputHandle>,
    output_routes: Router,
}

impl Pipeline {
    pub fn new(
        filters: Vec<(FilterInstance, Matcher)>,
        outputs: Vec<(OutputHandle, Matcher)>,
    ) -> Self {
        let (filters, fm): (Vec<_>, Vec<_>) = filters.into_iter().unzip();
        let (outputs, om): (Vec<_>, Vec<_>) = outputs.into_iter().unzip();
        let holding = filters
            .iter()
            .map(|f| f.filter.emitter().is_some())
            .collect();
        Pipeline {
            filters,
            holding,
            filter_routes: Router::new(fm),
            outputs,
            output_routes: Router::new(om),
        }
    }

    /// Indices of the filters that apply to `tag`, in configuration order.
    pub fn filters_for(&self, tag: &str) -> Arc<[usize]> {
        if self.filters.is_empty() {
            return Arc::from([]);
        }
        self.filter_routes.route(tag)
    }

    /// Whether one of the chosen filters keeps events back: a batch
    /// through them needs an [`InputHold`](crate::ack::InputHold).
    pub fn holds_back(&self, chosen: &[usize]) -> bool {
        chosen.iter().any(|&i| self.holding[i])
    }

    /// Runs the chosen filters over `events`, counting what each drops or
    /// adds. Filters that keep events back get `holds` (see
    /// [`Filter::filter_holding`]).
    pub fn apply_filters(
        &self,
        chosen: &[usize],
        tag: &str,
        events: &mut Vec<Event>,
        holds: &mut Holds,
    ) {
        for &i in chosen {
            if events.is_empty() {
                return;
            }
            let f = &self.filters[i];
            let before = events.len();
            if self.holding[i] {
                f.span
                    .in_scope(|| f.filter.filter_holding(tag, events, holds));
            } else {
                f.span.in_scope(|| f.filter.filter(tag, events));
            }
            let after = events.len();
            f.metrics.records.add(before as u64);
            if after < before {
                f.metrics.dropped.add((before - after) as u64);
                tracing::trace!(filter = %f.name, dropped = before - after, "records dropped");
            } else {
                f.metrics.added.add((after - before) as u64);
            }
        }
    }

    /// The filters that hold events back, with how to emit them, by
    /// their position in the chain.
    pub fn emitters(&self) -> Vec<(usize, crate::plugin::EmitterSpec)> {
        self.filters
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.filter.emitter().map(|spec| (i, spec)))
            .collect()
    }

    /// What filter `index` releases now (everything when `all`); counted
    /// as added by it, since its batches counted them as dropped.
    pub fn take_held(&self, index: usize, now: std::time::Instant, all: bool) -> Vec<Released> {
        let f = &self.filters[index];
        let held = f.filter.take_held(now, all);
        let n: usize = held.iter().map(|r| r.events.len()).sum();
        f.metrics.added.add(n as u64);
        held
    }

    /// The instance names of the outputs `tag` routes to: the routes a
    /// chunk file owes.
    pub fn route_names(&self, tag: &str) -> Arc<[Arc<str>]> {
        let routes = self.output_routes.route(tag);
        routes
            .iter()
            .map(|&i| Arc::clone(self.outputs[i].name()))
            .collect()
    }

    /// The position of the output named `name`.
    pub fn output_index(&self, name: &str) -> Option<usize> {
        self.outputs.iter().position(|o| &**o.name() == name)
    }

    /// Queues a chunk read back from disk on the outputs it still owes.
    pub fn dispatch_to(&self, chunk: Arc<Chunk>, outputs: &[usize]) {
        for &i in outputs {
            self.outputs[i].enqueue(Arc::clone(&chunk));
        }
    }

    /// Queues a sealed chunk on every output its tag routes to. A chunk
    /// no output wants is released at once.
    pub fn dispatch(&self, chunk: Arc<Chunk>) {
        let routes = self.output_routes.route(chunk.tag());
        if routes.is_empty() {
            tracing::debug!(
                tag = chunk.tag(),
                records = chunk.records(),
                "no route for chunk"
            );
            return;
        }
        for &i in routes.iter() {
            self.outputs[i].enqueue(Arc::clone(&chunk));
        }
    }
}
