//! The `tail` loop: find files, read what they gained, notice rotation
//! and truncation, and save offsets once their lines are done with.
//!
//! Each pass looks at files: for rotation and truncation, then reads them
//! to their end. With `inotify_watcher` on (see `inotify.rs`) a pass looks
//! only at the files the kernel says changed and at files just found; a
//! name `path` matches appearing in a watched directory makes a scan.
//! Between passes the loop sleeps until an event, or [`POLL_INTERVAL`]
//! while something waits on time (lines not yet delivered, a held
//! multiline record, a rotated file being finished, a file on a network
//! file system), or else until the next `refresh_interval`, when every
//! file is looked at and a scan made whatever the events said. Without
//! inotify (`inotify_watcher off`, or the kernel refuses it) every file is
//! looked at every [`POLL_INTERVAL`].
//!
//! A name now leading to another inode (rename and create, a symlink
//! swap) or a deleted file marks the file rotated; it is still read to
//! its end and let go only once `rotate_wait` has passed, it is at its
//! end and every line read from it is done with. The new file under the
//! name is picked up by a scan right away and read from its head. A file
//! found shorter than the read position, or with other bytes just before
//! it, was truncated and is read again from 0.
//!
//! At a stop the engine waits for this input (see
//! `Input::stops_gracefully`): reading ends, the multiline records still
//! held are appended and, with a `db`, the offsets are saved once what
//! was read is delivered.
//!
//! At start, a file of the `db` that no pattern finds any more but that
//! sits under another name in the same directory (rotated while sluice
//! was down or before it finished reading it) is read from its saved
//! offset to its end, so a restart loses none of its lines.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_core::ack::Checkpoint;
use sluice_core::multiline::MultilineBuffer;
use sluice_core::plugin::{InputContext, PluginError};
use sluice_core::Event;

use super::db::{DbFile, OffsetDb, Saved};
use super::file::{Commit, FileId, Marks, TailedFile};
use super::inotify::{Changes, Watcher};
use super::lines::{RecordEncoder, RecordSettings};
use super::scan::{file_tag, find_moved, Found};
use super::TailOptions;

/// How often files are polled without inotify, and how often the loop
/// wakes with it while something waits on time.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// One `tail` input at work.
pub(super) struct Tailer {
    opts: Arc<TailOptions>,
    ctx: InputContext,
    files: Vec<TailedFile>,
    enc: RecordEncoder,
    /// The open `db` file and the offsets it holds.
    db: Option<(DbFile, OffsetDb)>,
    last_cp: Checkpoint,
    last_scan: Instant,
    scan_now: bool,
    /// Files let go since the last scan, with where they ended: a scan
    /// that finds one again (`path` matches its new name) goes on from
    /// there instead of reading it twice.
    released: HashMap<FileId, Commit>,
    /// Offsets not saved yet because the multiline buffer holds lines
    /// before them that are in no record yet.
    held: HashMap<FileId, Commit>,
    /// Encodes half of each large read on a second thread.
    twin: Option<RecordEncoder>,
    /// inotify, when `inotify_watcher` is on and the kernel gives it;
    /// without it every file is polled.
    watcher: Option<Watcher>,
    /// Files the next pass looks at (with inotify): changed or new.
    dirty: HashSet<FileId>,
    /// Files on network file systems: polled even with inotify.
    polled: HashSet<FileId>,
    /// Followed files found through a symlink, with the directory of the
    /// file it leads to: a name appearing there may be that file's
    /// successor after a rotation.
    link_dirs: HashMap<FileId, PathBuf>,
}

impl Tailer {
    /// # Errors
    /// The `db` file exists but cannot be read.
    pub async fn new(opts: Arc<TailOptions>, ctx: InputContext) -> Result<Self, PluginError> {
        let db = match opts.db.clone() {
            Some((path, settings)) => Some(
                tokio::task::spawn_blocking(move || DbFile::open(&path, &settings))
                    .await
                    .map_err(std::io::Error::other)??,
            ),
            None => None,
        };
        let enc = RecordEncoder::new(RecordSettings {
            key: opts.key.clone(),
            path_key: opts.path_key.clone(),
            offset_key: opts.offset_key.clone(),
            parser: opts.parser.clone(),
            max_line: opts.max_line,
            skip_long_lines: opts.skip_long_lines,
            skip_empty_lines: opts.skip_empty_lines,
            multiline: opts.multiline.clone().map(MultilineBuffer::new),
        });
        let twin = enc.twin();
        Ok(Tailer {
            opts,
            ctx,
            files: Vec::new(),
            enc,
            db,
            last_cp: Checkpoint(0),
            last_scan: Instant::now(),
            scan_now: false,
            released: HashMap::new(),
            held: HashMap::new(),
            twin,
            watcher: None,
            dirty: HashSet::new(),
            polled: HashSet::new(),
            link_dirs: HashMap::new(),
        })
    }

    /// Follows the files until the engine stops the input, or, with
    /// `exit_on_eof`, until every file is read to its end.
    pub async fn run(mut self) -> Result<(), PluginError> {
        if self.opts.inotify_watcher {
            self.start_watcher().await;
        }
        self.discover(true).await;
        let mut all = true;
        loop {
            self.look(all).await;
            self.release_due_multiline();
            if self.ctx.is_stopping() {
                return self.stop().await;
            }
            self.settle().await;
            if self.opts.exit_on_eof && self.files.iter().all(|f| f.at_eof) {
                return self.finish().await;
            }
            if self.scan_now || self.last_scan.elapsed() >= self.opts.refresh_interval {
                self.discover(false).await;
            }
            all = self.wait().await;
            if self.ctx.is_stopping() {
                return self.stop().await;
            }
        }
    }

    /// Looks at every file, or (`all` off) at those events named.
    async fn look(&mut self, all: bool) {
        let dirty = std::mem::take(&mut self.dirty);
        for i in 0..self.files.len() {
            if self.ctx.is_stopping() {
                return;
            }
            if all || dirty.contains(&self.files[i].id) {
                self.poll_file(i).await;
            }
        }
    }

    /// Sleeps until there is something to look at; says whether to look
    /// at every file.
    async fn wait(&mut self) -> bool {
        if !self.dirty.is_empty() {
            return false;
        }
        let ticking = !self.polled.is_empty() || self.waits_on_time();
        let ctx = self.ctx.clone();
        let Some(watcher) = self.watcher.as_mut() else {
            tokio::select! {
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                () = ctx.stopping() => {}
            }
            return true;
        };
        let refresh = self
            .opts
            .refresh_interval
            .saturating_sub(self.last_scan.elapsed());
        let timeout = if ticking {
            POLL_INTERVAL.min(refresh)
        } else {
            refresh
        };
        let changes = tokio::select! {
            changes = watcher.changes() => Some(changes),
            () = tokio::time::sleep(timeout) => None,
            () = ctx.stopping() => return false,
        };
        match changes {
            Some(Ok(changes)) => self.note(changes),
            Some(Err(err)) => {
                self.fall_back("cannot read inotify events", &err);
                true
            }
            None => {
                self.dirty.extend(self.polled.iter().copied());
                self.last_scan.elapsed() >= self.opts.refresh_interval
            }
        }
    }

    /// Whether something waits on time rather than on a file: lines read
    /// but not yet done with, a held multiline record, a rotated file.
    fn waits_on_time(&self) -> bool {
        self.enc.holds_any()
            || self
                .files
                .iter()
                .any(|f| f.rotated_at.is_some() || !f.is_settled())
    }

    /// Turns what the kernel reported into files to look at and scans to
    /// make; says whether to look at every file.
    fn note(&mut self, changes: Changes) -> bool {
        if changes.everything {
            self.scan_now = true;
            return true;
        }
        self.dirty.extend(changes.files);
        for name in &changes.names {
            for f in self.files.iter().filter(|f| f.path == *name) {
                self.dirty.insert(f.id);
            }
            let in_link_dir = name
                .parent()
                .is_some_and(|d| self.link_dirs.values().any(|l| l == d));
            if in_link_dir || self.opts.patterns.matches(name) {
                self.scan_now = true;
            }
        }
        false
    }

    async fn start_watcher(&mut self) {
        match Watcher::new() {
            Ok(watcher) => self.watcher = Some(watcher),
            Err(err) => return self.fall_back("cannot use inotify", &err),
        }
        tracing::debug!(input = %self.ctx.name(), "files are watched with inotify");
        self.watch_dirs().await;
    }

    /// Watches the directories of `path` and of the followed files.
    // TODO: watch the deepest existing directory above a wildcard of
    // `path` too, because a directory created under it later (a new pod's
    // in `/var/log/pods/*/*.log`) is found only by the `refresh_interval`
    // scan; it needs watches that follow the glob down as directories
    // appear.
    async fn watch_dirs(&mut self) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let mut wanted: HashSet<PathBuf> = self.opts.patterns.dirs().into_iter().collect();
        wanted.extend(self.files.iter().map(|f| parent(&f.path)));
        wanted.extend(self.link_dirs.values().cloned());
        match watcher.watch_dirs(wanted).await {
            // Names may have appeared before the watch: look for them.
            Ok(new) => self.scan_now |= new,
            Err(err) => self.fall_back("cannot watch a directory", &err),
        }
    }

    /// Watches the files from `first` on, just found.
    async fn watch_files(&mut self, first: usize) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let new = self.files[first..]
            .iter()
            .map(|f| (f.id, f.handle(), f.path.clone()))
            .collect();
        match watcher.watch_files(new).await {
            Ok(remote) => {
                for id in remote {
                    if let Some(f) = self.files.iter().find(|f| f.id == id) {
                        tracing::info!(
                            input = %self.ctx.name(), path = %f.path.display(),
                            "file is on a network file system; polling it"
                        );
                    }
                    self.polled.insert(id);
                }
            }
            Err(err) => self.fall_back("cannot watch a file", &err),
        }
    }

    /// Drops inotify for good: every file is polled from now on.
    // TODO: try inotify again at a later scan, because once the kernel
    // refused a watch (`max_user_watches` reached) this input polls until
    // sluice restarts, even after watches are freed or the limit raised.
    fn fall_back(&mut self, what: &str, err: &std::io::Error) {
        tracing::warn!(
            input = %self.ctx.name(), error = %err,
            "{what}; polling every file every 250 ms instead"
        );
        self.watcher = None;
        self.polled.clear();
    }

    /// Picks up files not followed yet. At start they begin at their end
    /// (`read_from_head` off) or head; later, at their head. A saved
    /// offset whose fingerprint still matches wins over both.
    async fn discover(&mut self, at_start: bool) {
        self.scan_now = false;
        self.last_scan = Instant::now();
        let known: HashSet<FileId> = self.files.iter().map(|f| f.id).collect();
        let opts = Arc::clone(&self.opts);
        let db = self.db.as_ref().map(|(_, offsets)| offsets.clone());
        let released = std::mem::take(&mut self.released);
        let scan = tokio::task::spawn_blocking(move || {
            let found = opts.patterns.scan(&|id| known.contains(&id));
            let from_head = opts.read_from_head || !at_start;
            let mut placed: Vec<_> = found
                .into_iter()
                .map(|f| {
                    let saved = released.get(&f.id).map(|c| (*c, true)).or_else(|| {
                        let saved = db.as_ref()?.entries.get(&f.id)?;
                        Some((saved.commit, saved.fingerprinted))
                    });
                    let start = start_of(&f, from_head, saved);
                    (f, start, false)
                })
                .collect();
            if let (true, Some(db)) = (at_start, &db) {
                placed.extend(moved_files(db, &placed));
            }
            placed
        });
        let found = match scan.await {
            Ok(found) => found,
            Err(err) => {
                tracing::error!(input = %self.ctx.name(), error = %err, "file scan failed");
                return;
            }
        };
        let first = self.files.len();
        for (f, (start, marks), moved) in found {
            tracing::info!(
                input = %self.ctx.name(), path = %f.path.display(), offset = start.offset,
                moved, "following file"
            );
            let tag = file_tag(self.ctx.tag(), self.opts.tag_regex.as_ref(), &f.path);
            let link_dir = f.link_dir;
            let mut file = TailedFile::new(f.id, f.path, tag, f.file, start);
            file.set_marks(marks);
            // A moved file is only read to its end and let go.
            file.rotated_at = moved.then(Instant::now);
            if let Some(dir) = link_dir {
                self.link_dirs.insert(file.id, dir);
            }
            self.dirty.insert(file.id);
            self.files.push(file);
        }
        if self.files.len() > first {
            self.watch_files(first).await;
        }
        self.watch_dirs().await;
    }

    /// Looks at one file for rotation and truncation, then reads it to
    /// its end.
    async fn poll_file(&mut self, i: usize) {
        let file = &mut self.files[i];
        let status = match file.status().await {
            Ok(status) => status,
            Err(err) => {
                tracing::warn!(path = %file.path.display(), error = %err, "cannot look at file");
                return;
            }
        };
        if file.is_truncated(&status) {
            let was = file.restart();
            tracing::warn!(
                path = %file.path.display(), offset = was,
                "file truncated; reading it again from the start"
            );
        }
        if file.rotated_at.is_none() && (status.links == 0 || status.named != Some(file.id)) {
            tracing::info!(
                path = %file.path.display(),
                "file rotated or deleted; reading it to its end"
            );
            file.rotated_at = Some(Instant::now());
            self.scan_now = true;
        }
        self.read_to_end(i).await;
    }

    async fn read_to_end(&mut self, i: usize) {
        loop {
            // A stop ends a wait for room (the engine waits for this
            // input to release what it holds, not to read more).
            tokio::select! {
                biased;
                () = self.ctx.ready() => {}
                () = self.ctx.stopping() => return,
            }
            let file = &mut self.files[i];
            match file.read(self.opts.read_size).await {
                Ok(0) => return,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(path = %file.path.display(), error = %err, "cannot read file");
                    return;
                }
            }
            let commit = file.frame_split(&mut self.enc, &mut self.twin).await;
            self.append(i, commit);
        }
    }

    /// Appends the encoded batch of file `i`, whose lines end at `commit`.
    fn append(&mut self, i: usize, commit: Commit) {
        let file = &mut self.files[i];
        let enc = &mut self.enc;
        if enc.skipped_long > 0 {
            self.ctx.metrics().errors.add(enc.skipped_long as u64);
            tracing::warn!(
                input = %self.ctx.name(), path = %file.path.display(), lines = enc.skipped_long,
                "lines longer than buffer_max_size skipped"
            );
        }
        if enc.cut_long > 0 {
            tracing::warn!(
                input = %self.ctx.name(), path = %file.path.display(), lines = enc.cut_long,
                "lines longer than buffer_max_size cut into several records"
            );
        }
        if enc.unmatched > 0 {
            self.ctx.metrics().errors.add(enc.unmatched as u64);
            tracing::debug!(
                input = %self.ctx.name(), path = %file.path.display(), lines = enc.unmatched,
                "lines the parser did not match kept whole"
            );
        }
        if enc.records > 0 {
            self.last_cp = self.ctx.append(&file.tag, &enc.buf, enc.records);
        }
        // The second half of a split read comes right after the first.
        if let Some(twin) = self.twin.as_mut().filter(|t| t.records > 0) {
            self.last_cp = self.ctx.append(&file.tag, &twin.buf, twin.records);
            twin.clear();
        }
        if enc.holds(&file.path_text) {
            self.held.insert(file.id, commit);
        } else {
            self.held.remove(&file.id);
            file.wait_for(self.last_cp, commit);
        }
        enc.clear();
    }

    /// Appends the multiline records of file `i` that the buffer let go;
    /// their file's offset may then move past their lines.
    fn append_released(&mut self, i: usize, events: &mut Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let path = self.files[i].path_text.clone();
        self.enc.encode_released(events, &path);
        let commit = self.held.get(&self.files[i].id).copied();
        match commit {
            Some(commit) => self.append(i, commit),
            None => {
                self.last_cp = self
                    .ctx
                    .append(&self.files[i].tag, &self.enc.buf, self.enc.records);
                self.enc.clear();
            }
        }
    }

    /// Multiline records that waited past their flush timeout.
    fn release_due_multiline(&mut self) {
        let mut due = Vec::new();
        self.enc.take_due(Instant::now(), &mut due);
        for (path, event) in due {
            let Some(i) = self.files.iter().position(|f| f.path_text == path) else {
                continue;
            };
            self.append_released(i, &mut vec![event]);
        }
    }

    /// Every multiline record held for the files `done_with` says are
    /// finished.
    fn release_held_multiline(&mut self, done_with: impl Fn(&TailedFile) -> bool) {
        for i in 0..self.files.len() {
            if !done_with(&self.files[i]) || !self.enc.holds(&self.files[i].path_text) {
                continue;
            }
            let mut events = Vec::new();
            let path = self.files[i].path_text.clone();
            self.enc.take_held(&path, &mut events);
            self.append_released(i, &mut events);
        }
    }

    /// Moves offsets up to what is done with, lets go of rotated files
    /// that are finished, and saves the db when it changed.
    async fn settle(&mut self) {
        let rotate_wait = self.opts.rotate_wait;
        let waited =
            |f: &TailedFile| f.at_eof && f.rotated_at.is_some_and(|t| t.elapsed() >= rotate_wait);
        self.frame_partial_lines(waited);
        self.release_held_multiline(waited);
        let done = self.ctx.done();
        for file in &mut self.files {
            file.advance(done);
        }
        let released = &mut self.released;
        let mut watcher = self.watcher.as_mut();
        let polled = &mut self.polled;
        let link_dirs = &mut self.link_dirs;
        self.files.retain(|f| {
            let finished = waited(f) && f.is_settled();
            if finished {
                tracing::info!(path = %f.path.display(), "rotated file read to its end; released");
                released.insert(f.id, f.committed);
                if let Some(w) = watcher.as_mut() {
                    w.unwatch_file(f.id);
                }
                polled.remove(&f.id);
                link_dirs.remove(&f.id);
            }
            !finished
        });
        self.save_db().await;
    }

    /// Takes the last line of each file `done_with` says no one writes
    /// to any more, even without its newline.
    fn frame_partial_lines(&mut self, done_with: impl Fn(&TailedFile) -> bool) {
        for i in 0..self.files.len() {
            if !done_with(&self.files[i]) {
                continue;
            }
            if let Some(commit) = self.files[i].frame_rest(&mut self.enc) {
                self.append(i, commit);
            }
        }
    }

    async fn save_db(&mut self) {
        let Some((file, db)) = &mut self.db else {
            return;
        };
        let mut next = OffsetDb::default();
        for f in &self.files {
            let saved = Saved {
                commit: f.committed,
                path: f.path_text.clone(),
                fingerprinted: true,
            };
            next.entries.insert(f.id, saved);
        }
        if next.entries == db.entries {
            return;
        }
        let (file, to_save) = (file.clone(), next.clone());
        let saved = tokio::task::spawn_blocking(move || file.save(&to_save)).await;
        match saved.map_err(std::io::Error::other).and_then(|r| r) {
            Ok(()) => *db = next,
            // The next settle tries again, since `db` still differs.
            Err(err) => {
                tracing::warn!(input = %self.ctx.name(), error = %err, "cannot save the tail db");
            }
        }
    }

    /// `exit_on_eof`: with a db, waits until every line read is done with
    /// and saves the offsets before the input ends.
    async fn finish(mut self) -> Result<(), PluginError> {
        self.frame_partial_lines(|_| true);
        self.release_held_multiline(|_| true);
        if self.db.is_some() {
            self.ctx.wait_done(self.last_cp).await;
            self.settle().await;
        }
        tracing::info!(input = %self.ctx.name(), "every file read to its end; input done");
        Ok(())
    }

    /// At a stop: appends the multiline records still held (and the last
    /// line of each rotated file that is done with), so a stop loses none
    /// of them. With a db it then waits until every line read is done
    /// with and saves the offsets, so the next start repeats none; when
    /// `Grace` ends first, the engine aborts the wait and the lines after
    /// the last save are read again at the next start.
    async fn stop(mut self) -> Result<(), PluginError> {
        let rotate_wait = self.opts.rotate_wait;
        self.frame_partial_lines(|f| {
            f.at_eof && f.rotated_at.is_some_and(|t| t.elapsed() >= rotate_wait)
        });
        let held = self.enc.holds_any();
        self.release_held_multiline(|_| true);
        if self.db.is_some() {
            self.ctx.wait_done(self.last_cp).await;
            let done = self.ctx.done();
            for file in &mut self.files {
                file.advance(done);
            }
            self.save_db().await;
        }
        tracing::info!(
            input = %self.ctx.name(), released_multiline = held,
            "stopped; everything read was appended"
        );
        Ok(())
    }
}

/// The directory of `path`, empty for the working directory.
fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Files of the db that no scan found but that still exist under another
/// name in the same directory, with lines left to read: rotated while
/// sluice was down, or before it had read them to their end.
fn moved_files(
    db: &OffsetDb,
    placed: &[(Found, (Commit, Marks), bool)],
) -> Vec<(Found, (Commit, Marks), bool)> {
    let mut moved = Vec::new();
    for (id, saved) in &db.entries {
        if placed.iter().any(|(f, _, _)| f.id == *id) {
            continue;
        }
        let Some(found) = find_moved(std::path::Path::new(&saved.path), *id) else {
            continue;
        };
        match still_matches(&found, saved.commit, saved.fingerprinted) {
            Some(marks) if saved.commit.offset < found.size => {
                moved.push((found, at(marks, saved.commit.offset), true));
            }
            Some(_) => {}
            None => tracing::warn!(
                path = %saved.path, "moved file changed since its offset was saved; left alone"
            ),
        }
    }
    moved
}

/// Where a new file starts, with the marks of that offset. `saved` is
/// a saved offset and whether its fingerprint can be checked.
fn start_of(found: &Found, from_head: bool, saved: Option<(Commit, bool)>) -> (Commit, Marks) {
    if let Some((saved, fingerprinted)) = saved {
        if let Some(marks) = still_matches(found, saved, fingerprinted) {
            return at(marks, saved.offset);
        }
        tracing::warn!(
            path = %found.path.display(), saved_offset = saved.offset,
            "file changed since its offset was saved; reading it from the head"
        );
        return at(Marks::default(), 0);
    }
    let offset = if from_head { 0 } else { found.size };
    // Unreadable marks make the first poll see a truncation and start
    // from 0: lines read twice rather than lost.
    at(Marks::read(&found.file, offset).unwrap_or_default(), offset)
}

fn at(marks: Marks, offset: u64) -> (Commit, Marks) {
    let commit = Commit {
        offset,
        fingerprint: marks.fingerprint(),
    };
    (commit, marks)
}

/// The marks of a saved offset, when they still give its fingerprint
/// (a Fluent Bit row has none: only the file's length is checked).
fn still_matches(found: &Found, saved: Commit, fingerprinted: bool) -> Option<Marks> {
    if saved.offset > found.size {
        return None;
    }
    let marks = Marks::read(&found.file, saved.offset).ok()?;
    (!fingerprinted || marks.fingerprint() == saved.fingerprint).then_some(marks)
}
