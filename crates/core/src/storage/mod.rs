//! Filesystem storage (`storage.type filesystem`): chunks kept on disk
//! until every output they were routed to is done with them.
//!
//! [`chunk_file`] is the file format: frames written as events are
//! appended, routes marked done in place, and a file read back after a
//! crash, torn last frame and damage included (`docs/storage-format.md`
//! describes the bytes). [`store`] is the writer thread the engine hands
//! every file operation to, so no input waits on the disk. [`recover`]
//! reads an earlier run's files at start-up: torn tails are cut, damaged
//! files are moved aside after their good frames are saved, and what is
//! left is handed back to the engine to deliver.

pub mod chunk_file;
pub mod recover;
pub mod store;

pub use store::{Down, StorageMetrics, Store, StoreSettings, StoredChunk};
