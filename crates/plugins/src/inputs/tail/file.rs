//! One followed file: its identity, where reading stands, the partial
//! line read so far, and the offsets waiting for their lines to be
//! delivered.
//!
//! Reads use `pread` on a shared handle from the blocking pool, so a
//! slow disk never holds a reactor thread. The first bytes of the file
//! and the bytes just before the read position are kept (up to
//! [`FINGERPRINT_LEN`] each); when the file's bytes there change, or it
//! shrinks below the position, it was truncated (copytruncate) and
//! reading starts again from 0. Both are needed: log lines often end
//! alike, and a file often starts with the same header.

use std::collections::VecDeque;
use std::fs::{File, Metadata};
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use sluice_core::ack::Checkpoint;

use super::lines::RecordEncoder;

/// How many bytes at the head of a file, and before an offset, identify
/// the offset.
pub(super) const FINGERPRINT_LEN: usize = 64;

/// A file as the kernel knows it: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(meta: &Metadata) -> Self {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Whole lines a read must hold before half of them are encoded on a
/// second thread: below it the hand-over costs more than it saves.
const SPLIT_MIN: usize = 64 * 1024;

/// An offset whose lines are delivered, with the fingerprint of its
/// [`Marks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Commit {
    pub offset: u64,
    pub fingerprint: u64,
}

/// What a look at the file and its name found.
#[derive(Debug)]
pub(super) struct Status {
    pub size: u64,
    /// Links left; 0 once the file is deleted.
    pub links: u64,
    /// The file now under the name it was found by, if any.
    pub named: Option<FileId>,
    /// The marks of the read position, as they are now.
    pub marks: Marks,
}

#[derive(Debug)]
pub(super) struct TailedFile {
    pub id: FileId,
    pub path: PathBuf,
    pub path_text: String,
    pub tag: String,
    file: Arc<File>,
    /// The next byte to read.
    read_offset: u64,
    /// Read but not yet framed: a partial line starting at
    /// `read_offset - pending.len()`.
    pending: Vec<u8>,
    /// The first bytes of the file, up to [`FINGERPRINT_LEN`] and not
    /// past the read position.
    head: Vec<u8>,
    /// Up to [`FINGERPRINT_LEN`] bytes just before the framed offset.
    framed_tail: Vec<u8>,
    /// Inside a long line being skipped.
    skipping: bool,
    /// The last read found nothing new.
    pub at_eof: bool,
    /// When the name moved to another file, or the file was deleted.
    pub rotated_at: Option<Instant>,
    /// Offsets after appends not yet done with, oldest first.
    waiting: VecDeque<(Checkpoint, Commit)>,
    /// The offset whose lines are all done with.
    pub committed: Commit,
}

/// FNV-1a, 64 bits: cheap and enough to tell two short byte runs apart.
pub(super) fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What identifies an offset in a file: its first bytes and the bytes
/// just before the offset, up to [`FINGERPRINT_LEN`] each.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Marks {
    pub head: Vec<u8>,
    pub before: Vec<u8>,
}

impl Marks {
    /// Reads the marks of `offset` in `file`. Blocking.
    ///
    /// # Errors
    /// The file cannot be read, or is shorter than `offset`.
    pub fn read(file: &File, offset: u64) -> std::io::Result<Self> {
        let len = offset.min(FINGERPRINT_LEN as u64) as usize;
        let mut head = vec![0; len];
        file.read_exact_at(&mut head, 0)?;
        let mut before = vec![0; len];
        file.read_exact_at(&mut before, offset - len as u64)?;
        Ok(Marks { head, before })
    }

    pub fn fingerprint(&self) -> u64 {
        fingerprint_parts(&self.head, &self.before)
    }
}

fn fingerprint_parts(head: &[u8], before: &[u8]) -> u64 {
    let seed = fingerprint(head);
    before.iter().fold(seed, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Keeps the last [`FINGERPRINT_LEN`] bytes of `tail` followed by `more`.
fn extend_tail(tail: &mut Vec<u8>, more: &[u8]) {
    if more.len() >= FINGERPRINT_LEN {
        tail.clear();
        tail.extend_from_slice(&more[more.len() - FINGERPRINT_LEN..]);
        return;
    }
    tail.extend_from_slice(more);
    let excess = tail.len().saturating_sub(FINGERPRINT_LEN);
    tail.drain(..excess);
}

impl TailedFile {
    /// A file to read from `offset`; `before` holds the bytes before it.
    pub fn new(id: FileId, path: PathBuf, tag: String, file: File, start: Commit) -> Self {
        TailedFile {
            id,
            path_text: path.to_string_lossy().into_owned(),
            path,
            tag,
            file: Arc::new(file),
            read_offset: start.offset,
            pending: Vec::new(),
            head: Vec::new(),
            framed_tail: Vec::new(),
            skipping: false,
            at_eof: false,
            rotated_at: None,
            waiting: VecDeque::new(),
            committed: start,
        }
    }

    /// The open file, for a watch on it.
    pub fn handle(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }

    /// Sets the marks of the start offset.
    pub fn set_marks(&mut self, marks: Marks) {
        self.head = marks.head;
        self.framed_tail = marks.before;
    }

    /// Looks at the file and at its name, off the reactor.
    pub async fn status(&self) -> std::io::Result<Status> {
        let file = Arc::clone(&self.file);
        let path = self.path.clone();
        let offset = self.read_offset;
        let looked = tokio::task::spawn_blocking(move || {
            let meta = file.metadata()?;
            let named = std::fs::metadata(&path).ok().map(|m| FileId::of(&m));
            let marks = if meta.size() >= offset {
                Marks::read(&file, offset)?
            } else {
                Marks::default()
            };
            Ok(Status {
                size: meta.size(),
                links: meta.nlink(),
                named,
                marks,
            })
        });
        looked.await.map_err(std::io::Error::other)?
    }

    /// Was the file cut (shorter than the read position, or different
    /// bytes before it)?
    pub fn is_truncated(&self, status: &Status) -> bool {
        if status.size < self.read_offset {
            return true;
        }
        let mut expected = self.framed_tail.clone();
        extend_tail(&mut expected, &self.pending);
        status.marks.before != expected || !status.marks.head.starts_with(&self.head)
    }

    /// Starts again from offset 0 after a truncation.
    pub fn restart(&mut self) -> u64 {
        let was = self.read_offset;
        self.read_offset = 0;
        self.pending.clear();
        self.head.clear();
        self.framed_tail.clear();
        self.skipping = false;
        was
    }

    /// Reads up to `size` more bytes; returns how many came.
    pub async fn read(&mut self, size: usize) -> std::io::Result<usize> {
        let file = Arc::clone(&self.file);
        let mut buf = std::mem::take(&mut self.pending);
        let at = self.read_offset;
        let read = tokio::task::spawn_blocking(move || {
            // `read_to_end` fills the spare capacity without zeroing it
            // first (zeroing every read took an eighth of the time); the
            // file position is this reader's alone.
            use std::io::{Read as _, Seek as _};
            let start = buf.len();
            buf.reserve(size);
            let mut reader = &*file;
            let result = reader
                .seek(std::io::SeekFrom::Start(at))
                .and_then(|_| reader.take(size as u64).read_to_end(&mut buf));
            buf.truncate(start + *result.as_ref().unwrap_or(&0));
            (buf, result)
        });
        let (buf, result) = read.await.map_err(std::io::Error::other)?;
        let n = *result.as_ref().unwrap_or(&0);
        let head_missing = FINGERPRINT_LEN.saturating_sub(self.head.len());
        if self.head.len() as u64 == at && head_missing > 0 {
            let new = &buf[buf.len() - n..];
            self.head.extend_from_slice(&new[..n.min(head_missing)]);
        }
        self.pending = buf;
        let n = result?;
        self.read_offset += n as u64;
        self.at_eof = n == 0;
        if self.at_eof {
            // An idle file keeps only its partial line, not a read buffer.
            self.pending.shrink_to(self.pending.len().max(1024));
        }
        Ok(n)
    }

    /// Encodes the whole lines read so far into `enc` and returns the
    /// offset and fingerprint after them.
    pub fn frame(&mut self, enc: &mut RecordEncoder) -> Commit {
        let base = self.read_offset - self.pending.len() as u64;
        let framed = enc.frame(&self.pending, base, &mut self.skipping, &self.path_text);
        self.commit_framed(base, framed)
    }

    /// Drops the `framed` bytes of lines just encoded from the front of
    /// the read buffer, which began at file offset `base`, and returns the
    /// offset and fingerprint after them.
    fn commit_framed(&mut self, base: u64, framed: usize) -> Commit {
        extend_tail(&mut self.framed_tail, &self.pending[..framed]);
        self.pending.drain(..framed);
        let offset = base + framed as u64;
        let head = &self.head[..self.head.len().min(offset as usize)];
        Commit {
            offset,
            fingerprint: fingerprint_parts(head, &self.framed_tail),
        }
    }

    /// [`Self::frame`] on two threads when enough whole lines were read:
    /// `twin` encodes the second half of them while `enc` encodes the
    /// first. The twin's records stay in it, to be appended right after
    /// `enc`'s, so the file's order is kept.
    pub async fn frame_split(
        &mut self,
        enc: &mut RecordEncoder,
        twin: &mut Option<RecordEncoder>,
    ) -> Commit {
        let whole = memchr::memrchr(b'\n', &self.pending).map_or(0, |nl| nl + 1);
        if whole < SPLIT_MIN || self.skipping {
            return self.frame(enc);
        }
        let Some(mut other) = twin.take() else {
            return self.frame(enc);
        };
        // The byte before `whole` is a newline, so one is found.
        let mid = whole / 2
            + memchr::memchr(b'\n', &self.pending[whole / 2..whole]).map_or(0, |nl| nl + 1);
        let base = self.read_offset - self.pending.len() as u64;
        // Both threads read the same buffer; it comes back after the join.
        let read = Arc::new(std::mem::take(&mut self.pending));
        let shared = Arc::clone(&read);
        let path = self.path_text.clone();
        let job = tokio::task::spawn_blocking(move || {
            let mut skipping = false;
            other.frame(&shared[mid..whole], base + mid as u64, &mut skipping, &path);
            drop(shared);
            other
        });
        let framed = enc.frame(&read[..mid], base, &mut self.skipping, &self.path_text);
        debug_assert_eq!(framed, mid, "the first half ends with a newline");
        let mut other = match job.await {
            Ok(other) => other,
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        };
        enc.absorb_counts(&mut other);
        *twin = Some(other);
        self.pending = Arc::try_unwrap(read).unwrap_or_else(|read| read.to_vec());
        self.commit_framed(base, whole)
    }

    /// Encodes the partial last line as a whole one, for a file that is
    /// done with (rotated away and waited for, or at `exit_on_eof`).
    pub fn frame_rest(&mut self, enc: &mut RecordEncoder) -> Option<Commit> {
        if self.pending.is_empty() {
            return None;
        }
        let rest = std::mem::take(&mut self.pending);
        let mut line = Vec::with_capacity(rest.len() + 1);
        line.extend_from_slice(&rest);
        line.push(b'\n');
        // One before the line's start, so its `offset_key` is the file's
        // end: the newline was never in the file.
        let base = (self.read_offset - rest.len() as u64).saturating_sub(1);
        enc.frame(&line, base, &mut self.skipping, &self.path_text);
        extend_tail(&mut self.framed_tail, &rest);
        let offset = self.read_offset;
        let head = &self.head[..self.head.len().min(offset as usize)];
        Some(Commit {
            offset,
            fingerprint: fingerprint_parts(head, &self.framed_tail),
        })
    }

    /// Remembers that the lines up to `commit` are done once `cp` is.
    pub fn wait_for(&mut self, cp: Checkpoint, commit: Commit) {
        if self.waiting.back().map(|(_, c)| c) != Some(&commit) {
            self.waiting.push_back((cp, commit));
        }
    }

    /// Moves `committed` up to the last offset whose appends are done;
    /// says whether it moved.
    pub fn advance(&mut self, done: Checkpoint) -> bool {
        let mut moved = false;
        while let Some(&(cp, commit)) = self.waiting.front() {
            if cp > done {
                break;
            }
            self.waiting.pop_front();
            moved |= commit != self.committed;
            self.committed = commit;
        }
        moved
    }

    /// Every read line is done with.
    pub fn is_settled(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_bytes() {
        let mut tail = b"abc".to_vec();
        extend_tail(&mut tail, &[b'x'; 70]);
        assert_eq!(tail, vec![b'x'; FINGERPRINT_LEN]);
        extend_tail(&mut tail, b"yz");
        assert_eq!(&tail[FINGERPRINT_LEN - 2..], b"yz");
        assert_eq!(tail.len(), FINGERPRINT_LEN);
    }

    #[test]
    fn fingerprints_differ_for_different_bytes() {
        assert_ne!(fingerprint(b"line 1\n"), fingerprint(b"line 2\n"));
        assert_eq!(fingerprint(b""), fingerprint(&[]));
    }
}
