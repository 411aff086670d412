//! Filesystem storage (`storage.type filesystem`): chunks kept on disk
//! until every output they were routed to is done with them.
//!
//! So far this holds the chunk file format ([`chunk_file`]): writing
//! frames as events are appended, marking routes done in place, and
//! reading a file back after a crash, torn last frame and damage
//! included. `docs/storage-format.md` describes the bytes.
//!
//! TODO: the engine does not use it yet, because writing chunks through
//! to disk, replaying the backlog at start-up, `storage.max_chunks_up`
//! and the acks that wait for a durable write are the rest of the
//! filesystem storage work; until then `storage.type filesystem` runs in
//! memory with a warning.

pub mod chunk_file;
