//! The `db` file: where each followed file's delivered lines end, so a
//! restart goes on from there.
//!
//! A text file, one line per file after a header line:
//!
//! ```text
//! sluice-tail-db 1
//! <device> <inode> <offset> <fingerprint, 16 hex digits> <path>
//! ```
//!
//! The fingerprint is FNV-1a of the file's first bytes and of the bytes
//! before the offset, up to 64 of each (`file::Marks`). At
//! start a file resumes at its offset only when its device and inode
//! match and the bytes before the offset still give the fingerprint;
//! otherwise (inode reused, file truncated) it is read from its head.
//! The whole file is written to `<db>.tmp`, fsynced, renamed over `<db>`
//! and the directory fsynced, so a crash leaves the old or the new
//! version, never a mix. Offsets only ever cover lines whose appends the
//! engine reported done with, so a restart after `kill -9` may read some
//! lines again but never skips one.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::file::{Commit, FileId};

const HEADER: &str = "sluice-tail-db 1";

/// A saved offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Saved {
    pub commit: Commit,
    pub path: String,
}

/// The offsets, as last loaded or saved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct OffsetDb {
    pub entries: HashMap<FileId, Saved>,
}

impl OffsetDb {
    /// Reads `path`; a missing file is an empty db. Lines that do not
    /// read are logged and left out.
    ///
    /// # Errors
    /// The file exists but cannot be read, or is not a sluice tail db.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e),
        };
        // TODO: read (and keep writing) Fluent Bit's SQLite db, because a
        // user switching binaries keeps their `db` path; until then such a
        // file is refused by name instead of being overwritten.
        if bytes.starts_with(b"SQLite format 3\0") {
            return Err(std::io::Error::other(format!(
                "{} is a Fluent Bit (SQLite) tail db, which sluice cannot read yet; \
                 point db at a new file",
                path.display()
            )));
        }
        let text = String::from_utf8(bytes).map_err(|_| {
            std::io::Error::other(format!("{} is not a sluice tail db", path.display()))
        })?;
        let mut lines = text.lines();
        if lines.next().is_some_and(|h| h != HEADER) {
            return Err(std::io::Error::other(format!(
                "{} is not a sluice tail db (first line is not '{HEADER}')",
                path.display()
            )));
        }
        let mut db = OffsetDb::default();
        for (n, line) in lines.enumerate() {
            match parse_line(line) {
                Some((id, saved)) => {
                    db.entries.insert(id, saved);
                }
                None => tracing::warn!(db = %path.display(), line = n + 2, "unreadable db line"),
            }
        }
        Ok(db)
    }

    /// Writes the db crash-safely (see the module docs). Blocking.
    ///
    /// # Errors
    /// Writing, syncing or renaming failed; the old file is left as it was.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut text = format!("{HEADER}\n");
        for (id, saved) in &self.entries {
            let c = saved.commit;
            let name = saved.path.replace('\n', "?");
            text += &format!(
                "{} {} {} {:016x} {name}\n",
                id.dev, id.ino, c.offset, c.fingerprint
            );
        }
        let tmp = tmp_path(path);
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        std::fs::File::open(dir.unwrap_or(Path::new(".")))?.sync_all()
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

fn parse_line(line: &str) -> Option<(FileId, Saved)> {
    let mut words = line.splitn(5, ' ');
    let dev = words.next()?.parse().ok()?;
    let ino = words.next()?.parse().ok()?;
    let offset = words.next()?.parse().ok()?;
    let fingerprint = u64::from_str_radix(words.next()?, 16).ok()?;
    let path = words.next().unwrap_or("").to_owned();
    let commit = Commit {
        offset,
        fingerprint,
    };
    Some((FileId { dev, ino }, Saved { commit, path }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_offsets_load_back() {
        let dir = std::env::temp_dir().join(format!("sluice-tail-db-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("offsets.db");
        let mut db = OffsetDb::default();
        let saved = Saved {
            commit: Commit {
                offset: 1234,
                fingerprint: 0xdead_beef,
            },
            path: "/var/log/with space.log".into(),
        };
        db.entries.insert(FileId { dev: 8, ino: 99 }, saved.clone());
        db.save(&path).unwrap();
        let back = OffsetDb::load(&path).unwrap();
        assert_eq!(back.entries.get(&FileId { dev: 8, ino: 99 }), Some(&saved));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_db_is_empty_and_a_foreign_one_is_an_error() {
        assert!(OffsetDb::load(Path::new("/nonexistent/x.db"))
            .unwrap()
            .entries
            .is_empty());
        let path = std::env::temp_dir().join(format!("sluice-tail-bad-{}", std::process::id()));
        std::fs::write(&path, "SQLite format 3\0").unwrap();
        assert!(OffsetDb::load(&path).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
