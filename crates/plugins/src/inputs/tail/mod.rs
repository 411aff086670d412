//! `tail`: follows files as they grow, one record per line.
//!
//! Files are found by `path` (a comma list of glob patterns) less
//! `exclude_path`, again every `refresh_interval` seconds (60), and are
//! known by device and inode, so a file keeps its place under any name.
//! Options and defaults:
//!
//! - `read_from_head` (off): files found at start are read from their
//!   end; files that appear later are always read from their head.
//! - `key` (`log`): the key of an unparsed line. `parser`: a `[PARSER]`
//!   for each line; a line it does not match is kept under `key`, and
//!   counted in the input's errors.
//! - `tag`: a `*` in it becomes the file's path with `/` turned into `.`;
//!   with `tag_regex` matching the path, `<name>` becomes the text its
//!   named group captured.
//! - `path_key`, `offset_key`: add the file's path, or the byte offset
//!   just after the line, to each record.
//! - `buffer_chunk_size` (32k): the size of each read, raised to 1 MiB
//!   (fewer system calls); a file at its end gives its buffer back.
//! - `buffer_max_size` (32k): a line
//!   longer than `buffer_max_size` is skipped, counted and logged with
//!   `skip_long_lines on`; otherwise it is cut into records of
//!   `buffer_max_size` bytes (Fluent Bit stops following the file).
//! - `skip_empty_lines` (off), `exit_on_eof` (off: with it, the input ends
//!   once every file it follows is read to its end, taking a last line
//!   that has no newline), `ignore_older`
//!   (files last changed longer ago are not followed).
//! - `mem_buf_limit` (32M; Fluent Bit's is unlimited): reading pauses
//!   while the input's chunks in memory reach it; the lines wait in the
//!   file, so nothing is lost and memory stays bounded during an outage.
//! - `rotate_wait` (5): a rotated or deleted file is followed this long
//!   after it moved, and in any case until it is read to its end; its
//!   last line is then taken even without a newline.
//! - `db`: an SQLite file, in Fluent Bit's format, where the offsets of
//!   lines already delivered are kept (see `db.rs`); `db.sync` (`normal`;
//!   `full`, `off`, `extra`) and `db.journal_mode` (`WAL`) set SQLite's
//!   `synchronous` and `journal_mode`, and `db.locking` (off) keeps the
//!   file locked against other processes while sluice runs. At a stop
//!   (SIGTERM, or a reload) the input waits, within `Grace`, for what it
//!   read to be delivered and saves the offsets, so the next start
//!   repeats none of it; lines delivered after `Grace` are read again.
//! - `inotify_watcher` (on): the kernel says which files changed and
//!   when a name `path` matches appears in a directory of `path` or of a
//!   followed file (or of the file a followed symlink leads to, where
//!   Kubernetes rotates), so new lines are read at once and an idle tail
//!   does not wake. Every file is still looked at, and a scan made, each
//!   `refresh_interval`, and a file on a network file system (NFS, SMB,
//!   FUSE, 9p, Ceph, AFS: changes made elsewhere raise no event) is
//!   polled. Directories that appear later under a wildcard of `path`
//!   are found by the `refresh_interval` scan. Off, or when the kernel
//!   refuses inotify (a logged warning; `max_user_watches` reached, say),
//!   every file is polled every 250 ms.
//! - `multiline.parser` joins each file's lines into records before they
//!   are appended; offsets are saved only past lines that are in a record.
//!   A record still being joined when sluice stops (SIGTERM, or a reload)
//!   is appended then, with or without a `db`, so a stop loses none.
//! - `docker_mode` joins Docker's JSON log lines that Docker split at
//!   16 KiB, with the built-in `docker` multiline parser (as
//!   `multiline.parser docker` does; when both are set, the list wins).
//!   `docker_mode_flush` is accepted; the parser's `flush_timeout` rules.

mod db;
mod file;
mod inotify;
mod lines;
mod scan;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::parser::Parser;
use sluice_core::plugin::{BuildInput, Input, InputContext, PluginError, Setup, Spec};

const PROPS: &[Property] = &[
    // The file is the buffer: a paused tail loses nothing, so memory is
    // bounded by default where Fluent Bit's is not.
    Property::new(
        "mem_buf_limit",
        PropKind::Size,
        Some("32M"),
        "Pause reading when the input's chunks in memory reach this size (0: no limit)",
    ),
    Property::new(
        "path",
        PropKind::Str,
        None,
        "Files to follow: comma list of globs",
    ),
    Property::new(
        "exclude_path",
        PropKind::Str,
        None,
        "Globs of files not to follow",
    ),
    Property::new(
        "refresh_interval",
        PropKind::Time,
        Some("60"),
        "How often to look for new files",
    ),
    Property::new(
        "read_from_head",
        PropKind::Bool,
        Some("off"),
        "Read files found at start from their head instead of their end",
    ),
    Property::new("key", PropKind::Str, Some("log"), "Key of an unparsed line"),
    Property::new(
        "path_key",
        PropKind::Str,
        None,
        "Add the file path under this key",
    ),
    Property::new(
        "offset_key",
        PropKind::Str,
        None,
        "Add the offset after the line under this key",
    ),
    Property::new(
        "buffer_chunk_size",
        PropKind::Size,
        Some("32k"),
        "Bytes per read (at least 256k are read)",
    ),
    Property::new(
        "buffer_max_size",
        PropKind::Size,
        Some("32k"),
        "Longest line kept whole",
    ),
    Property::new(
        "skip_long_lines",
        PropKind::Bool,
        Some("off"),
        "Skip lines longer than buffer_max_size (default: cut them)",
    ),
    Property::new(
        "skip_empty_lines",
        PropKind::Bool,
        Some("off"),
        "Make no record of empty lines",
    ),
    Property::new(
        "exit_on_eof",
        PropKind::Bool,
        Some("off"),
        "End the input once every file is read to its end",
    ),
    Property::new(
        "ignore_older",
        PropKind::Time,
        None,
        "Do not follow files last changed longer ago",
    ),
    Property::new("parser", PropKind::Str, None, "Parser for each line"),
    Property::new(
        "rotate_wait",
        PropKind::Time,
        Some("5"),
        "Follow a rotated file this long (and to its end)",
    ),
    Property::new(
        "db",
        PropKind::Str,
        None,
        "SQLite file keeping the offsets (Fluent Bit's table)",
    ),
    Property::new(
        "db.sync",
        PropKind::Str,
        Some("normal"),
        "SQLite synchronous mode of the db: normal, full, off or extra",
    ),
    Property::new(
        "db.locking",
        PropKind::Bool,
        Some("false"),
        "Lock the db file for as long as sluice runs",
    ),
    Property::new(
        "db.journal_mode",
        PropKind::Str,
        Some("WAL"),
        "SQLite journal mode of the db",
    ),
    Property::new(
        "inotify_watcher",
        PropKind::Bool,
        Some("on"),
        "Wake on inotify events instead of polling files every 250 ms",
    ),
    Property::new(
        "docker_mode",
        PropKind::Bool,
        Some("off"),
        "Join Docker JSON log lines that Docker split (the docker multiline parser)",
    ),
    Property::new(
        "docker_mode_flush",
        PropKind::Time,
        Some("4"),
        "Accepted; the docker multiline parser's flush_timeout applies",
    ),
    Property::new(
        "multiline.parser",
        PropKind::List,
        None,
        "Multiline parsers that join the lines of each file into records",
    ),
    Property::new(
        "tag_regex",
        PropKind::Str,
        None,
        "Regex on the path whose named groups fill <name> in tag",
    ),
];

pub const SPEC: Spec<BuildInput> = Spec {
    name: "tail",
    description: "Follow files as they grow, one record per line",
    properties: PROPS,
    build,
};

/// The `tail` settings, checked.
#[derive(Debug)]
pub(crate) struct TailOptions {
    patterns: scan::Patterns,
    refresh_interval: Duration,
    read_from_head: bool,
    key: String,
    path_key: Option<String>,
    offset_key: Option<String>,
    read_size: usize,
    max_line: usize,
    skip_long_lines: bool,
    skip_empty_lines: bool,
    exit_on_eof: bool,
    parser: Option<Arc<dyn Parser>>,
    tag_regex: Option<sluice_core::regex_compat::CompiledRegex>,
    rotate_wait: Duration,
    db: Option<(PathBuf, db::DbSettings)>,
    multiline: Option<Vec<Arc<sluice_core::multiline::MultilineParser>>>,
    inotify_watcher: bool,
}

/// Reads are at least this large, whatever `buffer_chunk_size` says:
/// fewer system calls and hand-offs to the blocking pool.
const MIN_READ: usize = 1024 * 1024;

fn build(cfg: &PluginConfig, setup: &Setup) -> Result<Box<dyn Input>, ConfigError> {
    let Some(path) = cfg.str("path").filter(|p| !p.trim().is_empty()) else {
        return Err(cfg.error("path", "tail needs a path"));
    };
    let patterns = scan::Patterns::new(path, cfg.str("exclude_path"), cfg.time("ignore_older"))
        .map_err(|m| cfg.error("exclude_path", m))?;
    let parser = cfg.entry("parser").map(|e| setup.parser(e)).transpose()?;
    let chunk = cfg.size("buffer_chunk_size").unwrap_or(32 * 1024) as usize;
    let max_line = cfg.size("buffer_max_size").unwrap_or(32 * 1024) as usize;
    if max_line == 0 {
        return Err(cfg.error("buffer_max_size", "must be more than 0"));
    }
    let mut multiline = cfg
        .entry("multiline.parser")
        .map(|e| setup.multiline_parsers(e))
        .transpose()?;
    if cfg.bool("docker_mode") && multiline.is_none() {
        // Docker's JSON lines, joined where Docker split a long line: what
        // the built-in `docker` multiline parser does.
        let docker = setup
            .multiline
            .get("docker")
            .ok_or_else(|| cfg.error("docker_mode", "the docker multiline parser is missing"))?;
        multiline = Some(vec![docker]);
    }
    let tag_regex = cfg
        .str("tag_regex")
        .map(sluice_core::regex_compat::compile)
        .transpose()
        .map_err(|e| cfg.error("tag_regex", e.to_string()))?;
    let opts = TailOptions {
        patterns,
        refresh_interval: cfg
            .time("refresh_interval")
            .unwrap_or(Duration::from_secs(60)),
        read_from_head: cfg.bool("read_from_head"),
        key: cfg.str("key").unwrap_or("log").to_owned(),
        path_key: cfg.str("path_key").map(str::to_owned),
        offset_key: cfg.str("offset_key").map(str::to_owned),
        read_size: chunk.max(MIN_READ),
        max_line,
        skip_long_lines: cfg.bool("skip_long_lines"),
        skip_empty_lines: cfg.bool("skip_empty_lines"),
        exit_on_eof: cfg.bool("exit_on_eof"),
        parser,
        tag_regex,
        rotate_wait: cfg.time("rotate_wait").unwrap_or(Duration::from_secs(5)),
        db: cfg
            .str("db")
            .map(|path| Ok::<_, ConfigError>((PathBuf::from(path), db_settings(cfg)?)))
            .transpose()?,
        multiline,
        inotify_watcher: cfg.bool("inotify_watcher"),
    };
    if let Some((path, _)) = &opts.db {
        check_db_not_shared(cfg, setup, path)?;
    }
    Ok(Box::new(Tail(Arc::new(opts))))
}

/// Two tail inputs on one `db` would each save offsets for the other's
/// files and overwrite them: refused before anything starts, naming the
/// other section.
fn check_db_not_shared(cfg: &PluginConfig, setup: &Setup, path: &Path) -> Result<(), ConfigError> {
    let earlier = setup.config.inputs.iter().find(|section| {
        section.origin != cfg.origin
            && section
                .name()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case("tail"))
            && section
                .get("db")
                .is_some_and(|db| Path::new(db.value.trim()) == path)
    });
    match earlier {
        Some(other) => Err(cfg.error(
            "db",
            format!(
                "'{}' is also the db of the tail input at {}; each tail needs its own",
                path.display(),
                other.origin
            ),
        )),
        None => Ok(()),
    }
}

/// `db.sync`, `db.journal_mode` and `db.locking`, checked.
fn db_settings(cfg: &PluginConfig) -> Result<db::DbSettings, ConfigError> {
    let sync = cfg.str("db.sync").unwrap_or("normal");
    let synchronous = db::DbSettings::synchronous_of(sync)
        .ok_or_else(|| cfg.error("db.sync", "must be normal, full, off or extra"))?;
    let journal = cfg.str("db.journal_mode").unwrap_or("WAL");
    let journal_mode = db::DbSettings::journal_mode_of(journal).ok_or_else(|| {
        cfg.error(
            "db.journal_mode",
            "must be WAL, DELETE, TRUNCATE, PERSIST, MEMORY or OFF",
        )
    })?;
    Ok(db::DbSettings {
        synchronous,
        journal_mode,
        exclusive: cfg.bool("db.locking"),
    })
}

struct Tail(Arc<TailOptions>);

#[async_trait]
impl Input for Tail {
    async fn run(self: Box<Self>, ctx: InputContext) -> Result<(), PluginError> {
        watch::Tailer::new(self.0, ctx).await?.run().await
    }

    /// A multiline record still being joined is appended at a stop, and
    /// with a db the offsets of what was delivered meanwhile are saved.
    fn stops_gracefully(&self) -> bool {
        self.0.multiline.is_some() || self.0.db.is_some()
    }

    /// An offset waiting for a record a filter holds only delays its
    /// save; the lines stay in the file.
    fn waits_for_held_records(&self) -> bool {
        true
    }
}
