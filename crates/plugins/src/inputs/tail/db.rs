//! The `db` file: where each followed file's delivered lines end, so a
//! restart goes on from there.
//!
//! An SQLite database with Fluent Bit's tail table, `in_tail_files`
//! (`id`, `name`, `offset`, `inode`, `created`, `rotated`), so a user
//! switching between Fluent Bit and sluice keeps their `db` path and
//! each one reads the other's offsets. sluice adds two columns of its
//! own when they are missing: `sluice_dev`, the file's device, and
//! `sluice_fingerprint`, FNV-1a of the file's first bytes and of the
//! bytes before the offset, up to 64 of each (`file::Marks`).
//!
//! A row sluice wrote resumes only when device and inode match and the
//! bytes before the offset still give the fingerprint; otherwise (inode
//! reused, file truncated) the file is read from its head. A row Fluent
//! Bit wrote has neither: its device is taken from the file at `name`
//! when that file still has the row's inode (else from `name`'s
//! directory, where a rotated file would sit), and it resumes whenever
//! the file is at least as long as the offset, since there are no bytes
//! to check. Once sluice saves it, the row carries both.
//!
//! Every save writes all rows in one transaction, dropping rows of files
//! no longer followed. `db.sync` sets `PRAGMA synchronous` (`normal`),
//! `db.journal_mode` sets `PRAGMA journal_mode` (`WAL`), and `db.locking
//! on` keeps the file locked while sluice runs. Offsets only ever cover
//! lines whose appends the engine reported done with, so a restart after
//! `kill -9` (or a commit the OS had not written yet) may read some lines
//! again but never skips one.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension as _};

use super::file::{Commit, FileId};

/// How the `db` file is opened: `db.sync`, `db.journal_mode`,
/// `db.locking`, checked when the config is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DbSettings {
    pub synchronous: &'static str,
    pub journal_mode: &'static str,
    pub exclusive: bool,
}

impl DbSettings {
    /// `db.sync` as `PRAGMA synchronous` takes it.
    pub fn synchronous_of(value: &str) -> Option<&'static str> {
        ["NORMAL", "FULL", "OFF", "EXTRA"]
            .into_iter()
            .find(|v| v.eq_ignore_ascii_case(value.trim()))
    }

    /// `db.journal_mode` as `PRAGMA journal_mode` takes it.
    pub fn journal_mode_of(value: &str) -> Option<&'static str> {
        ["WAL", "DELETE", "TRUNCATE", "PERSIST", "MEMORY", "OFF"]
            .into_iter()
            .find(|v| v.eq_ignore_ascii_case(value.trim()))
    }
}

impl Default for DbSettings {
    fn default() -> Self {
        DbSettings {
            synchronous: "NORMAL",
            journal_mode: "WAL",
            exclusive: false,
        }
    }
}

/// A saved offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Saved {
    pub commit: Commit,
    pub path: String,
    /// False for a row Fluent Bit wrote: `commit.fingerprint` means
    /// nothing and only the file's length can be checked.
    pub fingerprinted: bool,
}

/// The offsets, as last loaded or saved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct OffsetDb {
    pub entries: HashMap<FileId, Saved>,
}

/// The open `db` file. Every call blocks: run it off the reactor.
#[derive(Debug, Clone)]
pub(super) struct DbFile {
    inner: Arc<Mutex<Open>>,
}

#[derive(Debug)]
struct Open {
    conn: Connection,
    /// The row of each file, so a save updates rows in place.
    rows: HashMap<FileId, i64>,
}

fn err(path: &Path, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("tail db {}: {e}", path.display()))
}

impl DbFile {
    /// Opens (or creates) the db at `path` and reads its offsets.
    ///
    /// # Errors
    /// The file cannot be opened or is not an SQLite database.
    pub fn open(path: &Path, settings: &DbSettings) -> std::io::Result<(DbFile, OffsetDb)> {
        let conn = Connection::open(path).map_err(|e| err(path, e))?;
        prepare(&conn, settings).map_err(|e| err(path, e))?;
        let (rows, db) = read_rows(&conn).map_err(|e| err(path, e))?;
        let inner = Arc::new(Mutex::new(Open { conn, rows }));
        Ok((DbFile { inner }, db))
    }

    /// Writes `db` as the whole content of the table, in one transaction.
    // TODO: keep the rows of files other inputs follow, because two
    // inputs given the same `db` path now drop each other's rows (Fluent
    // Bit too asks for one db per input, but does not lose them).
    ///
    /// # Errors
    /// SQLite failed; the table is left as it was.
    pub fn save(&self, db: &OffsetDb) -> std::io::Result<()> {
        let mut open = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Open { conn, rows } = &mut *open;
        write_rows(conn, rows, db).map_err(std::io::Error::other)
    }
}

/// How long a save waits for another process (`sqlite3` reading the db)
/// to let go of the file before it fails and is tried again.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

fn prepare(conn: &Connection, settings: &DbSettings) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", settings.synchronous)?;
    if settings.exclusive {
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    }
    // journal_mode answers with the mode it took; the answer is not needed.
    let _: String =
        conn.pragma_update_and_check(None, "journal_mode", settings.journal_mode, |r| r.get(0))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS in_tail_files (
             id INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             offset INTEGER,
             inode INTEGER,
             created INTEGER,
             rotated INTEGER DEFAULT 0
         );",
    )?;
    for column in ["sluice_dev", "sluice_fingerprint"] {
        if !has_column(conn, column)? {
            conn.execute_batch(&format!(
                "ALTER TABLE in_tail_files ADD COLUMN {column} INTEGER;"
            ))?;
        }
    }
    Ok(())
}

fn has_column(conn: &Connection, column: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM pragma_table_info('in_tail_files') WHERE name = ?1",
        [column],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
}

/// One row of `in_tail_files` as stored.
struct Row {
    id: i64,
    name: String,
    offset: i64,
    inode: i64,
    dev: Option<i64>,
    fingerprint: Option<i64>,
}

fn read_rows(conn: &Connection) -> rusqlite::Result<(HashMap<FileId, i64>, OffsetDb)> {
    let mut stmt = conn.prepare(
        "SELECT id, name, offset, inode, sluice_dev, sluice_fingerprint
         FROM in_tail_files ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Row {
            id: r.get(0)?,
            name: r.get(1)?,
            offset: r.get::<_, Option<i64>>(2)?.unwrap_or(0),
            inode: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
            dev: r.get(4)?,
            fingerprint: r.get(5)?,
        })
    })?;
    let mut ids = HashMap::new();
    let mut db = OffsetDb::default();
    for row in rows {
        let row = row?;
        let ino = row.inode as u64;
        let Some(dev) = row
            .dev
            .map(|d| d as u64)
            .or_else(|| device_of(&row.name, ino))
        else {
            tracing::info!(path = %row.name, "db row of a file that is gone; dropped");
            continue;
        };
        let id = FileId { dev, ino };
        let saved = Saved {
            commit: Commit {
                offset: row.offset.max(0) as u64,
                fingerprint: row.fingerprint.unwrap_or(0) as u64,
            },
            path: row.name,
            fingerprinted: row.fingerprint.is_some(),
        };
        // Later rows (higher ids) win over older ones of the same file.
        ids.insert(id, row.id);
        db.entries.insert(id, saved);
    }
    Ok((ids, db))
}

/// The device of a Fluent Bit row: that of the file at `name` when it
/// still has inode `ino`, else that of `name`'s directory, where a file
/// rotated under another name would be.
fn device_of(name: &str, ino: u64) -> Option<u64> {
    let path = Path::new(name);
    match std::fs::metadata(path) {
        Ok(meta) if meta.ino() == ino => Some(meta.dev()),
        _ => std::fs::metadata(path.parent()?).ok().map(|m| m.dev()),
    }
}

fn write_rows(
    conn: &mut Connection,
    rows: &mut HashMap<FileId, i64>,
    db: &OffsetDb,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let mut next = HashMap::with_capacity(db.entries.len());
    for (id, saved) in &db.entries {
        let offset = saved.commit.offset as i64;
        let fingerprint = saved
            .fingerprinted
            .then_some(saved.commit.fingerprint as i64);
        let (ino, dev) = (id.ino as i64, id.dev as i64);
        let updated = match rows.get(id) {
            Some(row) => tx.execute(
                "UPDATE in_tail_files SET name = ?1, offset = ?2, inode = ?3,
                     sluice_dev = ?4, sluice_fingerprint = ?5 WHERE id = ?6",
                params![saved.path, offset, ino, dev, fingerprint, row],
            )?,
            None => 0,
        };
        let row = if updated == 1 {
            rows[id]
        } else {
            tx.execute(
                "INSERT INTO in_tail_files
                     (name, offset, inode, created, rotated, sluice_dev, sluice_fingerprint)
                 VALUES (?1, ?2, ?3, CAST(strftime('%s', 'now') AS INTEGER), 0, ?4, ?5)",
                params![saved.path, offset, ino, dev, fingerprint],
            )?;
            tx.last_insert_rowid()
        };
        next.insert(*id, row);
    }
    let kept: HashSet<i64> = next.values().copied().collect();
    let stale: Vec<i64> = {
        let mut stmt = tx.prepare("SELECT id FROM in_tail_files")?;
        let ids = stmt.query_map([], |r| r.get::<_, i64>(0))?;
        ids.filter(|id| id.as_ref().map_or(true, |id| !kept.contains(id)))
            .collect::<rusqlite::Result<_>>()?
    };
    for id in stale {
        tx.execute("DELETE FROM in_tail_files WHERE id = ?1", [id])?;
    }
    tx.commit()?;
    *rows = next;
    Ok(())
}

#[cfg(test)]
mod tests;
