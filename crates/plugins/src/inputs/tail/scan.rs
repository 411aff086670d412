//! Finding the files `tail` follows: `path` globs less `exclude_path`,
//! without files last changed before `ignore_older`; and the tag a file's
//! records get (`*` expanded, or `<name>` parts from `tag_regex`).
//!
//! Everything here touches the file system and runs on the blocking pool.

use std::fs::File;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sluice_core::regex_compat::{Captures, CompiledRegex};

use super::file::FileId;

/// Which files to follow.
#[derive(Debug)]
pub(super) struct Patterns {
    include: Vec<String>,
    /// `include` compiled, to tell whether a name that appeared is one
    /// to follow (a pattern that is not a valid glob matches nothing).
    include_globs: Vec<glob::Pattern>,
    exclude: Vec<glob::Pattern>,
    ignore_older: Option<Duration>,
}

/// As `glob::glob` matches: `*` and `?` stop at `/`.
const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// A file a scan found and opened.
#[derive(Debug)]
pub(super) struct Found {
    pub path: PathBuf,
    pub id: FileId,
    pub file: File,
    pub size: u64,
    /// When `path` is a symlink: the directory of the file it leads to,
    /// where that file is rotated.
    pub link_dir: Option<PathBuf>,
}

impl Patterns {
    /// # Errors
    /// An `exclude_path` pattern that is not a valid glob.
    pub fn new(
        include: &str,
        exclude: Option<&str>,
        ignore_older: Option<Duration>,
    ) -> Result<Self, String> {
        let exclude = split(exclude.unwrap_or(""))
            .map(|p| glob::Pattern::new(p).map_err(|e| format!("bad pattern '{p}': {e}")))
            .collect::<Result<_, _>>()?;
        let include: Vec<String> = split(include).map(str::to_owned).collect();
        Ok(Patterns {
            include_globs: include
                .iter()
                .filter_map(|p| glob::Pattern::new(p).ok())
                .collect(),
            include,
            exclude,
            ignore_older,
        })
    }

    /// Whether `path` is a name to follow (ignoring `ignore_older`).
    pub fn matches(&self, path: &Path) -> bool {
        self.include_globs
            .iter()
            .any(|p| p.matches_path_with(path, MATCH))
            && !self.excluded(path)
    }

    /// The directories the patterns name without a wildcard: where new
    /// files to follow appear (empty for the working directory). A
    /// pattern with a wildcard in a directory part gives none: its
    /// directories are known once files are found in them.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self
            .include
            .iter()
            .filter_map(|p| {
                let dir = Path::new(p).parent()?;
                let wild = dir.to_string_lossy().contains(['*', '?', '[']);
                (!wild).then(|| dir.to_owned())
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// Opens every matching regular file not in `known`. A file that
    /// vanishes or cannot be opened between listing and opening is
    /// logged and left for the next scan.
    pub fn scan(&self, known: &dyn Fn(FileId) -> bool) -> Vec<Found> {
        let mut found: Vec<Found> = Vec::new();
        for path in self.matching_paths() {
            match open_new(&path, known, self.ignore_older) {
                Ok(Some(f)) if !found.iter().any(|g| g.id == f.id) => found.push(f),
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "cannot open file")
                }
            }
        }
        found
    }

    fn matching_paths(&self) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        for pattern in &self.include {
            let Ok(entries) = glob::glob(pattern) else {
                tracing::warn!(pattern = %pattern, "not a valid glob; nothing matches it");
                continue;
            };
            paths.extend(entries.filter_map(Result::ok).filter(|p| !self.excluded(p)));
        }
        paths.sort();
        paths.dedup();
        paths
    }

    fn excluded(&self, path: &Path) -> bool {
        self.exclude.iter().any(|p| p.matches_path(path))
    }
}

fn split(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|p| !p.is_empty())
}

/// Opens `path` when it is a regular file not known yet and recent
/// enough.
fn open_new(
    path: &Path,
    known: &dyn Fn(FileId) -> bool,
    ignore_older: Option<Duration>,
) -> std::io::Result<Option<Found>> {
    let meta = std::fs::metadata(path)?;
    let id = FileId::of(&meta);
    if !meta.is_file() || known(id) || too_old(&meta, ignore_older) {
        return Ok(None);
    }
    let file = File::open(path)?;
    // The name may have moved to another file between stat and open.
    let meta = file.metadata()?;
    Ok(Some(Found {
        path: path.to_owned(),
        id: FileId::of(&meta),
        file,
        size: meta.size(),
        link_dir: link_dir(path),
    }))
}

/// The directory of the file `path` leads to, when `path` is a symlink.
fn link_dir(path: &Path) -> Option<PathBuf> {
    let link = std::fs::symlink_metadata(path).ok()?;
    if !link.file_type().is_symlink() {
        return None;
    }
    Some(std::fs::canonicalize(path).ok()?.parent()?.to_owned())
}

/// Looks in the directory of `path` for the file `id`, moved there
/// under another name (a rotation while sluice was down, or not yet read
/// to its end when it stopped). Blocking.
pub(super) fn find_moved(path: &Path, id: FileId) -> Option<Found> {
    let dir = path.parent()?;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if !meta.is_file() || FileId::of(&meta) != id {
            continue;
        }
        let file = File::open(entry.path()).ok()?;
        let meta = file.metadata().ok()?;
        return (FileId::of(&meta) == id).then(|| Found {
            path: path.to_owned(),
            id,
            file,
            size: meta.size(),
            link_dir: None,
        });
    }
    None
}

fn too_old(meta: &std::fs::Metadata, ignore_older: Option<Duration>) -> bool {
    let (Some(limit), Ok(modified)) = (ignore_older, meta.modified()) else {
        return false;
    };
    SystemTime::now()
        .duration_since(modified)
        .is_ok_and(|age| age > limit)
}

/// The tag of a file's records. With `tag_regex` matching the path, each
/// `<name>` in `tag` becomes what the group of that name captured;
/// otherwise each `*` becomes the path with `/` turned into `.` (without
/// a leading dot), as Fluent Bit does.
pub(super) fn file_tag(tag: &str, tag_regex: Option<&CompiledRegex>, path: &Path) -> String {
    if let Some(re) = tag_regex {
        let text = path.to_string_lossy();
        let mut caps = Captures::default();
        if re.captures(text.as_bytes(), &mut caps) {
            let mut tag = tag.to_owned();
            for (i, name) in re.names() {
                let part = caps.get(*i).map_or("", |(a, b)| &text[a..b]);
                tag = tag.replace(&format!("<{name}>"), part);
            }
            return tag;
        }
        tracing::debug!(path = %text, "tag_regex does not match the path; tag from the path");
    }
    star_tag(tag, path)
}

fn star_tag(tag: &str, path: &Path) -> String {
    if !tag.contains('*') {
        return tag.to_owned();
    }
    let text = path.to_string_lossy();
    let dotted = text.trim_start_matches('/').replace('/', ".");
    tag.replace('*', &dotted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_in_the_tag_becomes_the_dotted_path() {
        let path = Path::new("/var/log/containers/app.log");
        assert_eq!(
            file_tag("kube.*", None, path),
            "kube.var.log.containers.app.log"
        );
        assert_eq!(file_tag("plain", None, path), "plain");
    }

    #[test]
    fn tag_regex_fills_named_parts() {
        let re = sluice_core::regex_compat::compile(
            r"(?<pod>[a-z0-9-]+)_(?<namespace>[^_]+)_(?<container>.+)\.log$",
        )
        .unwrap();
        let path = Path::new("/var/log/containers/web-1_shop_nginx.log");
        let tag = file_tag("kube.<namespace>.<pod>.<container>", Some(&re), path);
        assert_eq!(tag, "kube.shop.web-1.nginx");
        let other = Path::new("/var/log/other.txt");
        assert_eq!(file_tag("k.*", Some(&re), other), "k.var.log.other.txt");
    }

    #[test]
    fn names_match_like_the_glob_and_dirs_are_the_literal_ones() {
        let p = Patterns::new("/x/*.log, /y/*/app.log, rel.log", Some("/x/skip*"), None).unwrap();
        assert!(p.matches(Path::new("/x/a.log")));
        assert!(!p.matches(Path::new("/x/sub/a.log")), "* stops at /");
        assert!(!p.matches(Path::new("/x/skip.log")), "excluded");
        assert!(p.matches(Path::new("/y/pod/app.log")));
        assert_eq!(p.dirs(), [PathBuf::from(""), PathBuf::from("/x")]);
    }

    #[test]
    fn exclude_patterns_match_the_whole_path() {
        let p = Patterns::new("/x/*", Some("*.gz, /x/skip*"), None).unwrap();
        assert!(p.excluded(Path::new("/x/a.log.gz")));
        assert!(p.excluded(Path::new("/x/skip.log")));
        assert!(!p.excluded(Path::new("/x/a.log")));
    }
}
