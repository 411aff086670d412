//! Engine behaviour with scripted plugins: retries on the backoff
//! schedule, Retry_Limit, backpressure from Mem_Buf_Limit, draining.
//!
//! Timing runs on tokio's paused clock, so waits of seconds cost nothing
//! and the observed backoff is exact.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sluice_core::config::{
    Config, ConfigError, Origin, PluginConfig, PropKind, Property, Section, SectionKind,
};
use sluice_core::engine::Engine;
use sluice_core::plugin::{
    BuildInput, BuildOutput, Input, InputContext, Output, Partial, PluginError, Setup, Spec,
    Verdict,
};
use sluice_core::registry::Registry;
use sluice_core::shutdown::Shutdown;
use sluice_core::{Chunk, Event, EventTime, Map};
use tokio::time::Instant;

/// Appends `records` records, `batch` at a time, then ends. With
/// `await_done`, it then waits until its appends are done with and notes
/// how many records the output had delivered by then.
struct Script {
    records: usize,
    batch: usize,
    await_done: bool,
}

const SCRIPT_PROPS: &[Property] = &[
    Property::new("records", PropKind::Int, Some("1"), "records to append"),
    Property::new("batch", PropKind::Int, Some("1"), "records per append"),
    Property::new("await_done", PropKind::Bool, Some("off"), "wait for acks"),
];

fn build_script(cfg: &PluginConfig, _: &Setup) -> Result<Box<dyn Input>, ConfigError> {
    Ok(Box::new(Script {
        records: cfg.int("records").unwrap_or(1) as usize,
        batch: cfg.int("batch").unwrap_or(1) as usize,
        await_done: cfg.bool("await_done"),
    }))
}

/// Delivered record counts seen by `Script` when its appends were done.
static DONE_SEEN: Mutex<Vec<usize>> = Mutex::new(Vec::new());

#[async_trait]
impl Input for Script {
    async fn run(self: Box<Self>, ctx: InputContext) -> Result<(), PluginError> {
        let mut n = 0;
        while n < self.records {
            ctx.ready().await;
            let mut buf = Vec::new();
            let count = self.batch.min(self.records - n);
            for i in n..n + count {
                let mut body = Map::new();
                body.insert("n", (i as i64).into());
                body.insert("pad", "x".repeat(100).into());
                Event::new(EventTime::new(1, 0), body).encode(&mut buf);
            }
            let cp = ctx.append(ctx.tag(), &buf, count);
            n += count;
            if self.await_done {
                ctx.wait_done(cp).await;
                let delivered = FLAKY.with(|f| f.borrow().as_ref().map(|f| f.delivered()));
                DONE_SEEN.lock().unwrap().push(delivered.unwrap_or(0));
            }
            tokio::task::yield_now().await;
        }
        Ok(())
    }
}

/// Records every flush; answers from a script, then Ok.
#[derive(Default)]
struct Flaky {
    answers: Mutex<Vec<Verdict>>,
    flushes: Mutex<Vec<(Instant, usize)>>,
    delivered: AtomicUsize,
    /// When set, a flush waits for a permit first (a slow destination).
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

impl Flaky {
    fn delivered(&self) -> usize {
        self.delivered.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Output for Flaky {
    async fn flush(&self, chunk: &Chunk) -> Verdict {
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("gate never closes").forget();
        }
        self.flushes
            .lock()
            .unwrap()
            .push((Instant::now(), chunk.records()));
        let answer = self.answers.lock().unwrap().pop().unwrap_or(Verdict::Ok);
        if answer == Verdict::Ok {
            self.delivered.fetch_add(chunk.records(), Ordering::SeqCst);
        }
        answer
    }
}

thread_local! {
    static FLAKY: std::cell::RefCell<Option<Arc<Flaky>>> = const { std::cell::RefCell::new(None) };
}

fn build_flaky(_: &PluginConfig, _: &Setup) -> Result<Arc<dyn Output>, ConfigError> {
    Ok(FLAKY
        .with(|f| f.borrow().clone())
        .expect("test installs its output first"))
}

fn registry() -> Registry {
    Registry {
        inputs: vec![Spec::<BuildInput> {
            name: "script",
            description: "",
            properties: SCRIPT_PROPS,
            build: build_script,
        }],
        filters: vec![],
        outputs: vec![Spec::<BuildOutput> {
            name: "flaky",
            description: "",
            properties: &[],
            build: build_flaky,
        }],
        ..Registry::default()
    }
}

fn section(kind: SectionKind, pairs: &[(&str, &str)]) -> Section {
    let mut s = Section::new(kind, Origin::new("test", 1));
    for (k, v) in pairs {
        s.push(*k, *v, Origin::new("test", 1));
    }
    s
}

fn config(service: &[(&str, &str)], input: &[(&str, &str)], output: &[(&str, &str)]) -> Config {
    let mut c = Config::default();
    c.add(section(SectionKind::Service, service));
    c.add(section(SectionKind::Input, input));
    c.add(section(SectionKind::Output, output));
    c
}

fn install(flaky: Flaky) -> Arc<Flaky> {
    let flaky = Arc::new(flaky);
    FLAKY.with(|f| *f.borrow_mut() = Some(Arc::clone(&flaky)));
    flaky
}

fn retry(reason: &str) -> Verdict {
    Verdict::Retry(reason.into())
}

#[tokio::test(start_paused = true)]
async fn retry_twice_then_ok_delivers_exactly_once_after_backoff() {
    let flaky = install(Flaky {
        answers: Mutex::new(vec![retry("b"), retry("a")]),
        ..Default::default()
    });
    let cfg = config(
        &[
            ("scheduler.base", "2"),
            ("scheduler.cap", "100"),
            ("flush", "1"),
        ],
        &[("name", "script"), ("records", "10"), ("batch", "10")],
        &[("name", "flaky"), ("retry_limit", "5")],
    );
    let engine = Engine::build(cfg, &registry(), Shutdown::new()).unwrap();
    let metrics = engine.metrics().outputs[0].1.clone();
    let report = engine.run().await;

    assert_eq!(report.undelivered_bytes, 0);
    assert_eq!(flaky.delivered.load(Ordering::SeqCst), 10);
    let flushes = flaky.flushes.lock().unwrap().clone();
    assert_eq!(flushes.len(), 3, "one attempt and two retries");
    // First retry waits base (2 s); the second between 2 and 4 s.
    let first_wait = flushes[1].0 - flushes[0].0;
    let second_wait = flushes[2].0 - flushes[1].0;
    assert_eq!(first_wait.as_secs(), 2, "{first_wait:?}");
    assert!((2..=4).contains(&second_wait.as_secs()), "{second_wait:?}");
    assert_eq!(metrics.retries.get(), 2);
    assert_eq!(metrics.retried_records.get(), 10);
    assert_eq!(metrics.proc_records.get(), 10);
    assert_eq!(metrics.dropped_records.get(), 0);
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_drop_and_count() {
    let answers = (0..10).map(|_| retry("down")).collect();
    let flaky = install(Flaky {
        answers: Mutex::new(answers),
        ..Default::default()
    });
    let cfg = config(
        &[("scheduler.base", "1"), ("scheduler.cap", "1")],
        &[("name", "script"), ("records", "7"), ("batch", "7")],
        &[("name", "flaky"), ("retry_limit", "2")],
    );
    let engine = Engine::build(cfg, &registry(), Shutdown::new()).unwrap();
    let metrics = engine.metrics().outputs[0].1.clone();
    let report = engine.run().await;

    assert_eq!(report.undelivered_bytes, 0, "a dropped chunk is released");
    assert_eq!(
        flaky.flushes.lock().unwrap().len(),
        3,
        "first attempt + retry_limit 2"
    );
    assert_eq!(flaky.delivered.load(Ordering::SeqCst), 0);
    assert_eq!(metrics.retries.get(), 2);
    assert_eq!(metrics.retries_failed.get(), 1);
    assert_eq!(metrics.dropped_records.get(), 7);
}

#[tokio::test(start_paused = true)]
async fn no_retries_and_error_verdicts_drop_at_once() {
    let flaky = install(Flaky {
        answers: Mutex::new(vec![Verdict::Error("bad request".into())]),
        ..Default::default()
    });
    let cfg = config(
        &[],
        &[("name", "script"), ("records", "3"), ("batch", "3")],
        &[("name", "flaky"), ("retry_limit", "no_retries")],
    );
    let engine = Engine::build(cfg, &registry(), Shutdown::new()).unwrap();
    let metrics = engine.metrics().outputs[0].1.clone();
    engine.run().await;
    assert_eq!(metrics.errors.get(), 1);
    assert_eq!(metrics.dropped_records.get(), 3);
    assert_eq!(flaky.flushes.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_partial_verdict_retries_only_the_handed_back_records() {
    let mut retry = Vec::new();
    for i in 0..3 {
        let mut body = Map::new();
        body.insert("n", (i as i64).into());
        Event::new(EventTime::new(1, 0), body).encode(&mut retry);
    }
    let flaky = install(Flaky {
        answers: Mutex::new(vec![Verdict::Partial(Partial {
            retry,
            retry_records: 3,
            dropped: 2,
            reason: "some items failed".into(),
        })]),
        ..Default::default()
    });
    let cfg = config(
        &[("scheduler.base", "1"), ("scheduler.cap", "1")],
        &[("name", "script"), ("records", "10"), ("batch", "10")],
        &[("name", "flaky"), ("retry_limit", "3")],
    );
    let engine = Engine::build(cfg, &registry(), Shutdown::new()).unwrap();
    let metrics = engine.metrics().outputs[0].1.clone();
    let report = engine.run().await;

    assert_eq!(
        report.undelivered_bytes, 0,
        "the original chunk is released"
    );
    let flushes: Vec<usize> = flaky.flushes.lock().unwrap().iter().map(|f| f.1).collect();
    assert_eq!(
        flushes,
        [10, 3],
        "the retry carries only the handed-back records"
    );
    assert_eq!(metrics.proc_records.get(), 5 + 3);
    assert_eq!(metrics.dropped_records.get(), 2);
    assert_eq!(metrics.retries.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn mem_buf_limit_pauses_the_input_until_chunks_drain() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let flaky = install(Flaky {
        gate: Some(Arc::clone(&gate)),
        ..Default::default()
    });
    // ~130 bytes a record, 100 per append: ~13 KiB a batch; limit 32 KiB.
    let cfg = config(
        &[("flush", "0.1")],
        &[
            ("name", "script"),
            ("records", "5000"),
            ("batch", "100"),
            ("mem_buf_limit", "32k"),
        ],
        &[("name", "flaky")],
    );
    let engine = Engine::build(cfg, &registry(), Shutdown::new()).unwrap();
    let input = engine.metrics().inputs[0].1.clone();
    let run = tokio::spawn(engine.run());

    // With the destination stuck, the input stops at the limit.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let appended = input.bytes.get();
    assert!(appended >= 32 * 1024, "reached the limit: {appended}");
    assert!(
        appended < 32 * 1024 + 14 * 1024,
        "stopped within one batch of it: {appended}"
    );
    assert!(input.records.get() < 5000);

    // Let the destination drain: the input resumes and finishes.
    gate.add_permits(1_000_000);
    let report = run.await.unwrap();
    assert_eq!(report.undelivered_bytes, 0);
    assert_eq!(flaky.delivered.load(Ordering::SeqCst), 5000);
}

#[tokio::test(start_paused = true)]
async fn stop_request_gives_up_after_grace() {
    let flaky = install(Flaky {
        answers: Mutex::new((0..100).map(|_| retry("down")).collect()),
        ..Default::default()
    });
    let cfg = config(
        &[("grace", "3"), ("scheduler.base", "10")],
        &[("name", "script"), ("records", "4"), ("batch", "4")],
        &[("name", "flaky"), ("retry_limit", "no_limits")],
    );
    let shutdown = Shutdown::new();
    let engine = Engine::build(cfg, &registry(), shutdown.clone()).unwrap();
    let started = Instant::now();
    let run = tokio::spawn(engine.run());
    tokio::time::sleep(Duration::from_secs(2)).await;
    shutdown.trigger();
    let report = run.await.unwrap();
    assert!(report.undelivered_bytes > 0);
    let took = started.elapsed();
    assert!(took <= Duration::from_secs(6), "{took:?}");
    assert_eq!(flaky.delivered.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn appends_are_done_only_after_their_chunk_is_delivered() {
    let flaky = install(Flaky {
        answers: Mutex::new(vec![retry("down")]),
        ..Default::default()
    });
    let cfg = config(
        &[
            ("flush", "1"),
            ("scheduler.base", "3"),
            ("scheduler.cap", "3"),
        ],
        &[
            ("name", "script"),
            ("records", "6"),
            ("batch", "2"),
            ("await_done", "on"),
        ],
        &[("name", "flaky"), ("retry_limit", "3")],
    );
    let engine = Engine::build(cfg, &registry(), Shutdown::new()).unwrap();
    let started = Instant::now();
    let report = engine.run().await;

    assert_eq!(report.undelivered_bytes, 0);
    assert_eq!(flaky.delivered(), 6);
    // Each batch waits for its own chunk: the first one through a retry.
    assert_eq!(*DONE_SEEN.lock().unwrap(), vec![2, 4, 6]);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "waited the retry"
    );
}
