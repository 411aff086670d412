//! Reading back the chunk files an earlier run left: the start-up half of
//! filesystem storage.
//!
//! Every file under `storage.path/<input>/` is read; what can be trusted
//! is handed to the engine, which routes it to the outputs it still owes.
//! Start-up never fails on a file: a torn last frame (a crash mid-append)
//! is cut off, a file whose header cannot be trusted is moved aside, and
//! a file damaged after some good frames has those frames saved to a new
//! file before it is moved aside. Everything here blocks on the disk; the
//! engine calls it from blocking threads.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use super::chunk_file::{self, ChunkHeader, ChunkWriter};
use super::store::{Store, CHUNK_SUFFIX, QUARANTINE_DIR};

/// A chunk read back from disk, ready to deliver.
#[derive(Debug)]
pub struct Recovered {
    /// The file that now holds it (a new one when the old was damaged);
    /// none when saving a damaged file's good frames failed.
    pub path: Option<PathBuf>,
    pub header: ChunkHeader,
    /// Whole events in chunk layout.
    pub events: Vec<u8>,
}

/// The chunk files under `root`, oldest first (names start with the
/// writing run's start time and a counter). The quarantine folder is
/// left out.
pub fn chunk_files(root: &Path) -> Vec<PathBuf> {
    let Ok(dirs) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for dir in dirs.flatten() {
        if dir.file_name() == QUARANTINE_DIR || !dir.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == CHUNK_SUFFIX)
                && entry.file_type().is_ok_and(|t| t.is_file())
            {
                files.push(path);
            }
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    files
}

/// Reads one file. `None` when nothing in it is left to deliver: it was
/// empty (deleted), unreadable or untrustworthy (moved aside).
pub fn recover(store: &Store, path: &Path) -> Option<Recovered> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "cannot read a stored chunk; left in place");
            return None;
        }
    };
    let read = match chunk_file::read_chunk(&bytes) {
        Ok(read) => read,
        Err(err) => {
            quarantine(store, path, &err.to_string());
            return None;
        }
    };
    let mut header = read.header;
    if read.events.is_empty() {
        if let Some(damage) = &read.damage {
            quarantine(store, path, &damage.to_string());
        } else {
            remove(path);
        }
        return None;
    }
    if let Some(damage) = &read.damage {
        // Save the good frames first, so a crash between the two steps
        // leaves a duplicate rather than a loss.
        header.sealed = true;
        let saved = save_copy(store, &header, &read.events);
        quarantine(store, path, &damage.to_string());
        return match saved {
            Ok(new_path) => Some(Recovered {
                path: Some(new_path),
                header,
                events: read.events,
            }),
            Err(err) => {
                tracing::error!(
                    path = %path.display(),
                    error = %err,
                    "cannot save the good part of a damaged chunk; delivering it from memory"
                );
                Some(Recovered {
                    path: None,
                    header,
                    events: read.events,
                })
            }
        };
    }
    if read.valid_len < bytes.len() {
        tracing::info!(
            path = %path.display(),
            cut = bytes.len() - read.valid_len,
            "stored chunk ends in a torn write; cut back to its last whole frame"
        );
        let cut = OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(read.valid_len as u64));
        if let Err(err) = cut {
            tracing::warn!(path = %path.display(), error = %err, "cannot cut a torn chunk file");
        }
    }
    Some(Recovered {
        path: Some(path.to_path_buf()),
        header,
        events: read.events,
    })
}

/// Writes `events` to a new sealed file with `header`.
fn save_copy(store: &Store, header: &ChunkHeader, events: &[u8]) -> std::io::Result<PathBuf> {
    let (_, path) = store.new_path(&header.input);
    let mut writer = ChunkWriter::create(&path, header, store.settings().sync)?;
    writer.append(events)?;
    writer.seal()?;
    Ok(path)
}

/// Moves a damaged file aside (or deletes it, with
/// `storage.delete_irrecoverable_chunks`), counted and logged.
fn quarantine(store: &Store, path: &Path, reason: &str) {
    store.metrics().quarantined.inc();
    if store.settings().delete_irrecoverable {
        tracing::warn!(path = %path.display(), reason, "stored chunk is damaged; deleted");
        remove(path);
        return;
    }
    let dir = store.settings().root.join(QUARANTINE_DIR);
    let input = path
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target = dir.join(format!("{input}-{name}"));
    let moved = std::fs::create_dir_all(&dir).and_then(|()| std::fs::rename(path, &target));
    match moved {
        Ok(()) => tracing::warn!(
            path = %path.display(),
            moved_to = %target.display(),
            reason,
            "stored chunk is damaged; moved aside"
        ),
        Err(err) => {
            tracing::error!(path = %path.display(), reason, error = %err, "stored chunk is damaged and cannot be moved aside; deleted");
            remove(path);
        }
    }
}

fn remove(path: &Path) {
    if let Err(err) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), error = %err, "cannot delete a stored chunk");
    }
}
