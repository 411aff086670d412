//! The engine's own hot pieces: routing a tag to its outputs, and an
//! input appending encoded records into its open chunks (sealing them at
//! 2 MiB and handing them to an output that only counts them).
//!
//! `cargo bench -p sluice-core --bench engine`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use divan::counter::ItemsCount;
use divan::Bencher;
use sluice_core::config::{Config, ConfigError, Origin, PluginConfig, Section, SectionKind};
use sluice_core::engine::Engine;
use sluice_core::plugin::{
    BuildInput, BuildOutput, Input, InputContext, Output, PluginError, Setup, Spec, Verdict,
};
use sluice_core::registry::Registry;
use sluice_core::router::{Matcher, Router};
use sluice_core::shutdown::Shutdown;
use sluice_core::{Chunk, Event, EventTime, Map};

fn main() {
    divan::main();
}

/// Sixteen outputs' `Match` patterns, as a config with many destinations
/// has them; a tag matches two of them.
fn router() -> Router {
    let patterns = (0..16)
        .map(|i| Matcher::Pattern(format!("app.svc{i}.*")))
        .chain([Matcher::Pattern("*.audit".into())]);
    Router::new(patterns.collect())
}

/// A tag seen before: the cached answer.
#[divan::bench]
fn route_known_tag(bencher: Bencher) {
    let router = router();
    router.route("app.svc7.web");
    bencher.bench_local(|| router.route(divan::black_box("app.svc7.web")));
}

/// A tag not seen before: every pattern is tried (the cost the cache
/// saves on later chunks of the tag).
#[divan::bench]
fn match_new_tag(bencher: Bencher) {
    let matchers: Vec<Matcher> = (0..16)
        .map(|i| Matcher::Pattern(format!("app.svc{i}.*")))
        .collect();
    bencher.bench_local(|| {
        matchers
            .iter()
            .filter(|m| m.matches(divan::black_box("app.svc7.web")))
            .count()
    });
}

/// Records appended per engine run, in batches of `BATCH`.
const RECORDS: usize = 200_000;
const BATCH: usize = 500;

/// Appends `RECORDS` copies of one encoded record, `BATCH` at a time.
struct Appender {
    batch: Arc<Vec<u8>>,
}

#[async_trait]
impl Input for Appender {
    async fn run(self: Box<Self>, ctx: InputContext) -> Result<(), PluginError> {
        for _ in 0..RECORDS / BATCH {
            ctx.ready().await;
            ctx.append(ctx.tag(), &self.batch, BATCH);
        }
        Ok(())
    }
}

/// Counts what it is given.
struct Counter(AtomicUsize);

#[async_trait]
impl Output for Counter {
    async fn flush(&self, chunk: &Chunk) -> Verdict {
        self.0.fetch_add(chunk.records(), Ordering::Relaxed);
        Verdict::Ok
    }
}

fn build_appender(_: &PluginConfig, _: &Setup) -> Result<Box<dyn Input>, ConfigError> {
    let mut body = Map::new();
    body.insert("msg", "request handled in 12 ms".into());
    body.insert("path", "/api/v1/users".into());
    body.insert("status", 200i64.into());
    let mut batch = Vec::new();
    for _ in 0..BATCH {
        Event::new(EventTime::new(1_700_000_000, 0), body.clone()).encode(&mut batch);
    }
    Ok(Box::new(Appender {
        batch: Arc::new(batch),
    }))
}

fn build_counter(_: &PluginConfig, _: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    Ok(Arc::new(Counter(AtomicUsize::new(0))))
}

fn section(kind: SectionKind, pairs: &[(&str, &str)]) -> Section {
    let mut s = Section::new(kind, Origin::new("bench", 1));
    for (k, v) in pairs {
        s.push(*k, *v, Origin::new("bench", 1));
    }
    s
}

#[divan::bench(sample_count = 20)]
fn append_into_chunks(bencher: Bencher) {
    let registry = Registry {
        inputs: vec![Spec::<BuildInput> {
            name: "appender",
            description: "",
            properties: &[],
            build: build_appender,
        }],
        outputs: vec![Spec::<BuildOutput> {
            name: "counter",
            description: "",
            properties: &[],
            build: build_counter,
        }],
        ..Registry::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    bencher.counter(ItemsCount::new(RECORDS)).bench_local(|| {
        let mut config = Config::default();
        config.add(section(SectionKind::Service, &[("flush", "0.05")]));
        config.add(section(
            SectionKind::Input,
            &[("name", "appender"), ("tag", "bench")],
        ));
        config.add(section(
            SectionKind::Output,
            &[("name", "counter"), ("match", "*")],
        ));
        let engine = Engine::build(config, &registry, Shutdown::new()).expect("engine builds");
        let report = runtime.block_on(engine.run());
        assert_eq!(report.undelivered_bytes, 0);
    });
}
