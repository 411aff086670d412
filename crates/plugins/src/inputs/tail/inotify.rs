//! inotify wake-ups for `tail` (`inotify_watcher on`; Linux).
//!
//! The kernel reports which followed file changed (written, truncated,
//! renamed, linked or unlinked) and which names appeared, moved or went
//! in the directories `path` names and those the followed files live in.
//! The tail loop then looks at just those files, and scans for new ones
//! only when a name `path` matches appeared, instead of looking at every
//! file every 250 ms.
//!
//! A followed file is watched through `/proc/self/fd`, so the watch is on
//! the very file sluice has open even when its name already leads to
//! another (through its name when `/proc` is missing). A file on a
//! network file system gets no watch: changes other machines make raise
//! no event there, so the loop polls it. Watches are added on the
//! blocking pool, since resolving a path may wait on a slow mount.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::io::Errno;
use tokio::io::unix::AsyncFd;

use super::file::FileId;

/// What a followed file's watch reports: writes and truncation, link
/// count changes (a delete), and its own rename or removal.
const FILE_EVENTS: WatchFlags = WatchFlags::MODIFY
    .union(WatchFlags::ATTRIB)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::DELETE_SELF);

/// What a directory's watch reports: names created, moved in or out,
/// deleted, and the directory's own rename or removal.
const DIR_EVENTS: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::DELETE)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::ONLYDIR);

/// `statfs` types of file systems written by other machines, where a
/// change raises no inotify event on this one: NFS, SMB (three magics),
/// FUSE, 9p, Ceph and AFS.
const REMOTE_FS: &[u32] = &[
    0x6969,
    0x517b,
    0xff53_4d42,
    0xfe53_4d42,
    0x6573_5546,
    0x0102_1997,
    0x00c3_6400,
    0x6b41_4653,
];

/// What a watch is on.
#[derive(Debug)]
enum Target {
    File(FileId),
    /// A directory, under each name it was watched by: one directory may
    /// be reached as `logs` and as `./logs`.
    Dir(Vec<PathBuf>),
}

/// How a followed file is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileWatch {
    /// By this watch.
    Watched(i32),
    /// Not at all: it is on a network file system, to be polled.
    Remote,
}

/// What changed since the last look.
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// Followed files that changed.
    pub files: HashSet<FileId>,
    /// Names that appeared, moved or went in a watched directory.
    pub names: Vec<PathBuf>,
    /// Events were lost (the kernel's queue overflowed) or a watched
    /// directory moved or went: every file should be looked at, and a
    /// scan made.
    pub everything: bool,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.files.is_empty() && self.names.is_empty() && !self.everything
    }
}

/// The inotify instance of one `tail` input, and what each watch is on.
pub(super) struct Watcher {
    fd: AsyncFd<Arc<OwnedFd>>,
    targets: HashMap<i32, Target>,
    files: HashMap<FileId, i32>,
    dirs: HashMap<PathBuf, i32>,
}

impl Watcher {
    /// # Errors
    /// The kernel gives no inotify instance (`max_user_instances`
    /// reached, or inotify not built in).
    pub fn new() -> io::Result<Self> {
        let fd = Arc::new(inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?);
        // SAFETY: the descriptor is an `OwnedFd` behind an `Arc` that the
        // `AsyncFd` holds, so it stays open, and the same, for as long as
        // the `AsyncFd` lives (clones lent to the blocking pool only add
        // watches).
        #[allow(unsafe_code)]
        let fd = unsafe { AsyncFd::register(fd) }?;
        Ok(Watcher {
            fd,
            targets: HashMap::new(),
            files: HashMap::new(),
            dirs: HashMap::new(),
        })
    }

    /// Watches newly followed files; says which of them are to be polled
    /// instead.
    ///
    /// # Errors
    /// The kernel refused a watch (`max_user_watches` reached).
    pub async fn watch_files(
        &mut self,
        files: Vec<(FileId, Arc<File>, PathBuf)>,
    ) -> io::Result<Vec<FileId>> {
        let fd = Arc::clone(self.fd.get_ref());
        let added = tokio::task::spawn_blocking(move || {
            files
                .into_iter()
                .map(|(id, file, path)| (id, watch_file(&fd, &file, &path)))
                .collect::<Vec<_>>()
        })
        .await
        .map_err(io::Error::other)?;
        let mut remote = Vec::new();
        for (id, watch) in added {
            match watch? {
                FileWatch::Watched(wd) => {
                    self.targets.insert(wd, Target::File(id));
                    self.files.insert(id, wd);
                }
                FileWatch::Remote => remote.push(id),
            }
        }
        Ok(remote)
    }

    /// Stops watching a file let go of.
    pub fn unwatch_file(&mut self, id: FileId) {
        if let Some(wd) = self.files.remove(&id) {
            self.targets.remove(&wd);
            // Already gone when the kernel dropped the watch itself.
            let _ = inotify::remove_watch(self.fd.get_ref(), wd);
        }
    }

    /// Watches exactly the directories `wanted` (an empty path is the
    /// working directory). A directory that does not exist is tried again
    /// on the next call. Says whether one was not watched before: names
    /// may have appeared in it before its watch did, so a scan should
    /// look.
    ///
    /// # Errors
    /// The kernel refused a watch (`max_user_watches` reached).
    pub async fn watch_dirs(&mut self, wanted: HashSet<PathBuf>) -> io::Result<bool> {
        let unwanted: Vec<PathBuf> = self
            .dirs
            .keys()
            .filter(|d| !wanted.contains(*d))
            .cloned()
            .collect();
        for dir in unwanted {
            self.unwatch_dir(&dir);
        }
        let new: Vec<PathBuf> = wanted
            .into_iter()
            .filter(|d| !self.dirs.contains_key(d))
            .collect();
        if new.is_empty() {
            return Ok(false);
        }
        let fd = Arc::clone(self.fd.get_ref());
        let added = tokio::task::spawn_blocking(move || {
            new.into_iter()
                .map(|dir| {
                    let watched = watch_dir(&fd, &dir);
                    (dir, watched)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(io::Error::other)?;
        let mut any = false;
        for (dir, watched) in added {
            match watched {
                Ok(wd) => {
                    any = true;
                    self.dirs.insert(dir.clone(), wd);
                    match self.targets.entry(wd).or_insert(Target::Dir(Vec::new())) {
                        Target::Dir(names) => names.push(dir),
                        Target::File(_) => {}
                    }
                }
                Err(Errno::NOENT | Errno::NOTDIR | Errno::ACCESS) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(any)
    }

    fn unwatch_dir(&mut self, dir: &Path) {
        let Some(wd) = self.dirs.remove(dir) else {
            return;
        };
        if let Some(Target::Dir(names)) = self.targets.get_mut(&wd) {
            names.retain(|n| n != dir);
            if names.is_empty() {
                self.targets.remove(&wd);
                let _ = inotify::remove_watch(self.fd.get_ref(), wd);
            }
        }
    }

    /// Waits for events and says what changed. Cancel-safe: events are
    /// read only once the instance is readable, without waiting again.
    ///
    /// # Errors
    /// Reading the inotify instance failed.
    pub async fn changes(&mut self) -> io::Result<Changes> {
        loop {
            let mut guard = self.fd.readable().await?;
            let mut changes = Changes::default();
            let mut read = ReadState {
                targets: &mut self.targets,
                files: &mut self.files,
                dirs: &mut self.dirs,
                changes: &mut changes,
            };
            match guard.try_io(|fd| read_events(fd.get_ref(), &mut read)) {
                Ok(result) => result?,
                // Everything was read: the instance is not readable now.
                Err(_would_block) => {}
            }
            if !changes.is_empty() {
                return Ok(changes);
            }
        }
    }
}

/// The watcher's maps and the changes being gathered, while events are
/// read.
struct ReadState<'a> {
    targets: &'a mut HashMap<i32, Target>,
    files: &'a mut HashMap<FileId, i32>,
    dirs: &'a mut HashMap<PathBuf, i32>,
    changes: &'a mut Changes,
}

impl ReadState<'_> {
    fn note(&mut self, wd: i32, flags: ReadFlags, name: Option<&[u8]>) {
        if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
            self.changes.everything = true;
            return;
        }
        // The kernel dropped the watch (its file or directory is gone).
        let dropped = flags.contains(ReadFlags::IGNORED);
        match self.targets.get(&wd) {
            Some(Target::File(id)) => {
                self.changes.files.insert(*id);
                if dropped {
                    self.files.remove(id);
                }
            }
            Some(Target::Dir(dirs)) => {
                if let Some(name) = name {
                    let name = OsStr::from_bytes(name);
                    self.changes.names.extend(dirs.iter().map(|d| d.join(name)));
                } else {
                    // The directory itself moved or went: its files' names
                    // lead elsewhere now.
                    self.changes.everything = true;
                }
                if dropped {
                    for dir in dirs {
                        self.dirs.remove(dir);
                    }
                }
            }
            // A watch let go of just before.
            None => {}
        }
        if dropped {
            self.targets.remove(&wd);
        }
    }
}

/// Reads every pending event into `read`; ends with `WouldBlock`.
fn read_events(fd: &OwnedFd, read: &mut ReadState<'_>) -> io::Result<()> {
    let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
    let mut reader = inotify::Reader::new(fd, &mut buf);
    loop {
        match reader.next() {
            Ok(event) => {
                let name = event.file_name().map(|n| n.to_bytes());
                read.note(event.wd(), event.events(), name);
            }
            Err(Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
}

/// Watches a followed file, unless it is on a network file system.
/// Blocking.
fn watch_file(fd: &OwnedFd, file: &File, path: &Path) -> io::Result<FileWatch> {
    if is_remote(file) {
        return Ok(FileWatch::Remote);
    }
    let own = format!("/proc/self/fd/{}", file.as_raw_fd());
    let watched = match inotify::add_watch(fd, own.as_str(), FILE_EVENTS) {
        Err(Errno::NOENT) => inotify::add_watch(fd, path, FILE_EVENTS),
        other => other,
    };
    Ok(FileWatch::Watched(watched?))
}

/// Blocking.
fn watch_dir(fd: &OwnedFd, dir: &Path) -> Result<i32, Errno> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    inotify::add_watch(fd, dir, DIR_EVENTS)
}

fn is_remote(file: &File) -> bool {
    rustix::fs::fstatfs(file).is_ok_and(|st| {
        // The type's width differs between targets; only 32 bits are
        // ever set.
        #[allow(clippy::unnecessary_cast)]
        let kind = st.f_type as u64 as u32;
        REMOTE_FS.contains(&kind)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::os::unix::fs::MetadataExt as _;
    use std::time::Duration;

    fn id_of(path: &Path) -> FileId {
        let meta = std::fs::metadata(path).unwrap();
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    async fn next(w: &mut Watcher) -> Changes {
        tokio::time::timeout(Duration::from_secs(10), w.changes())
            .await
            .expect("an event within 10 s")
            .unwrap()
    }

    #[tokio::test]
    async fn a_write_names_its_file_and_a_new_name_its_path() {
        let dir = std::env::temp_dir().join(format!("sluice-inotify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("a.log");
        std::fs::write(&log, "one\n").unwrap();
        let mut w = Watcher::new().unwrap();

        let file = Arc::new(File::open(&log).unwrap());
        let remote = w
            .watch_files(vec![(id_of(&log), file, log.clone())])
            .await
            .unwrap();
        assert!(remote.is_empty(), "a local file is watched");
        let wanted = HashSet::from([dir.clone(), dir.join("missing")]);
        assert!(w.watch_dirs(wanted.clone()).await.unwrap());
        assert!(!w.watch_dirs(wanted).await.unwrap(), "nothing new");

        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"two\n").unwrap();
        assert!(next(&mut w).await.files.contains(&id_of(&log)));

        std::fs::write(dir.join("b.log"), "x\n").unwrap();
        let changes = next(&mut w).await;
        assert!(changes.names.contains(&dir.join("b.log")), "{changes:?}");

        w.unwatch_file(id_of(&log));
        f.write_all(b"three\n").unwrap();
        std::fs::remove_file(dir.join("b.log")).unwrap();
        let changes = next(&mut w).await;
        assert!(changes.files.is_empty(), "no watch on a.log: {changes:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
