//! Delivering the chunks an earlier run left on disk (filesystem storage).
//!
//! At start-up the engine reads every chunk file back (on blocking
//! threads, through [`crate::storage::recover`]) and queues each on the
//! outputs it still owes, by instance name. Chunks are loaded one after
//! another while the backlog's memory (`storage.backlog.mem_limit`) has
//! room, so a backlog larger than memory is delivered as outputs drain it.
//! A route to an output that is no longer configured is logged and left
//! out; the file goes once the routes that remain are done.

use std::sync::Arc;

use crate::chunk::Chunk;
use crate::event::Events;
use crate::memory::Account;
use crate::shutdown::Shutdown;
use crate::storage::chunk_file::RouteState;
use crate::storage::recover::{self, Recovered};
use crate::storage::Store;

use super::pipeline::Pipeline;

/// The name the backlog's memory account reports under.
pub(crate) const BACKLOG_ACCOUNT: &str = "storage_backlog";

/// Reads the backlog and queues it; returns once every file is loaded or
/// a stop is asked for (what is not loaded stays on disk).
pub(crate) async fn replay(
    store: Arc<Store>,
    pipeline: Arc<Pipeline>,
    account: Arc<Account>,
    shutdown: Shutdown,
) {
    let root = store.settings().root.clone();
    let files = tokio::task::spawn_blocking(move || recover::chunk_files(&root))
        .await
        .unwrap_or_default();
    if files.is_empty() {
        return;
    }
    tracing::info!(
        files = files.len(),
        "delivering chunks stored by an earlier run"
    );
    let mut chunks = 0usize;
    let mut records = 0usize;
    for path in files {
        tokio::select! {
            _ = account.ready() => {}
            _ = shutdown.wait() => break,
        }
        let loader = Arc::clone(&store);
        let loaded = tokio::task::spawn_blocking(move || recover::recover(&loader, &path))
            .await
            .ok()
            .flatten();
        let Some(loaded) = loaded else {
            continue;
        };
        if let Some(n) = queue(&store, &pipeline, &account, loaded) {
            chunks += 1;
            records += n;
        }
    }
    tracing::info!(chunks, records, "stored chunks queued for delivery");
}

/// Queues one recovered chunk on the outputs it owes; returns its record
/// count, or `None` when it owed nothing that is still configured.
fn queue(
    store: &Arc<Store>,
    pipeline: &Pipeline,
    account: &Arc<Account>,
    loaded: Recovered,
) -> Option<usize> {
    let Recovered {
        path,
        header,
        events,
    } = loaded;
    let mut targets = Vec::new();
    for (name, state) in &header.routes {
        if *state == RouteState::Done {
            continue;
        }
        match pipeline.output_index(name) {
            Some(i) => targets.push(i),
            None => tracing::warn!(
                output = %name,
                tag = %header.tag,
                "stored chunk is owed to an output that is not configured now; skipped for it"
            ),
        }
    }
    let stored = path.map(|p| store.adopt(p, &header, targets.len()).into_sealed());
    if targets.is_empty() {
        return None;
    }
    // A frame's checksum held, so its events are whole; count them the
    // way outputs will walk them.
    let records = Events::new(&events).take_while(Result::is_ok).count();
    store.metrics().replayed.inc();
    account.add(events.len());
    let lease = account.lease(events.len());
    let chunk = Chunk::leased(
        Arc::from(header.tag.as_str()),
        Arc::from(header.input.as_str()),
        events,
        records,
        lease,
        None,
        stored,
    );
    pipeline.dispatch_to(Arc::new(chunk), &targets);
    Some(records)
}
