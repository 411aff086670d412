//! Unit tests of the SQLite `db`: rows written by sluice, rows written
//! by Fluent Bit, and files that are not a db.

use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;

use super::*;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-tail-db-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn saved(offset: u64, path: &str) -> Saved {
    Saved {
        commit: Commit {
            offset,
            fingerprint: 0xdead_beef_0000_0001,
        },
        path: path.into(),
        fingerprinted: true,
    }
}

#[test]
fn saved_offsets_load_back_and_dropped_files_lose_their_row() {
    let dir = temp("back");
    let path = dir.join("offsets.db");
    let (file, _) = DbFile::open(&path, &DbSettings::default()).unwrap();
    let mut db = OffsetDb::default();
    db.entries
        .insert(FileId { dev: 8, ino: 99 }, saved(1234, "/var/log/a b.log"));
    db.entries
        .insert(FileId { dev: 8, ino: 7 }, saved(5, "/var/log/c.log"));
    file.save(&db).unwrap();
    db.entries.remove(&FileId { dev: 8, ino: 7 });
    db.entries
        .insert(FileId { dev: 8, ino: 99 }, saved(2000, "/var/log/a b.log"));
    file.save(&db).unwrap();
    drop(file);
    let (_, back) = DbFile::open(&path, &DbSettings::default()).unwrap();
    assert_eq!(back, db);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_fluent_bit_row_takes_the_device_of_the_file_at_its_name() {
    let dir = temp("fluent");
    let log = dir.join("app.log");
    std::fs::write(&log, "one\ntwo\n").unwrap();
    let meta = std::fs::metadata(&log).unwrap();
    let path = dir.join("fluent-bit.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE in_tail_files (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
         offset INTEGER, inode INTEGER, created INTEGER, rotated INTEGER DEFAULT 0);",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO in_tail_files (name, offset, inode, created) VALUES (?1, 4, ?2, 0)",
        params![log.to_str().unwrap(), meta.ino() as i64],
    )
    .unwrap();
    drop(conn);
    let (_, db) = DbFile::open(&path, &DbSettings::default()).unwrap();
    let id = FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    };
    let row = db
        .entries
        .get(&id)
        .expect("the row is keyed by device and inode");
    assert_eq!(row.commit.offset, 4);
    assert!(!row.fingerprinted);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_that_is_not_a_db_is_an_error() {
    let dir = temp("bad");
    let path = dir.join("text.db");
    std::fs::write(&path, "sluice-tail-db 1\n8 99 1234 00000000deadbeef /x\n").unwrap();
    let err = DbFile::open(&path, &DbSettings::default()).unwrap_err();
    assert!(err.to_string().contains("text.db"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn db_settings_read_fluent_bit_values() {
    assert_eq!(DbSettings::synchronous_of("Full"), Some("FULL"));
    assert_eq!(DbSettings::synchronous_of("fast"), None);
    assert_eq!(DbSettings::journal_mode_of("wal"), Some("WAL"));
    assert_eq!(DbSettings::journal_mode_of("delete"), Some("DELETE"));
    assert_eq!(DbSettings::journal_mode_of("x"), None);
}
