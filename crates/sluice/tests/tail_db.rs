//! The `tail` input's `db` against Fluent Bit's SQLite format, through
//! the real binary: a db made the way Fluent Bit makes it (by Python's
//! `sqlite3`) is resumed from, and is left holding Fluent Bit's table
//! with the new offset; a Fluent Bit offset past its file's end reads the
//! file from its head; a bad `db.sync` stops sluice before it starts.

mod common;

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::Duration;

use common::{read_json_file, spawn, sqlite, temp_dir, wait};

const T: Duration = Duration::from_secs(15);

fn line(n: usize) -> String {
    format!("line {n:05}\n")
}

fn write_lines(path: &Path, range: std::ops::Range<usize>) {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let text: String = range.map(line).collect();
    file.write_all(text.as_bytes()).unwrap();
}

/// Runs sluice over `log` with `db` until every file is read to its end;
/// the records it wrote to `out/app`, and its stderr.
fn run_once(log: &Path, db: &Path, out: &Path, extra: &[&str]) -> common::Output {
    let path = format!("path={}", log.display());
    let db = format!("db={}", db.display());
    let dest = format!("path={}", out.display());
    let mut args = vec!["-i", "tail", "-t", "app", "-p", &path, "-p", &db];
    args.extend(["-p", "read_from_head=on", "-p", "exit_on_eof=on"]);
    args.extend(extra);
    args.extend(["-o", "file", "-m", "*", "-p", &dest, "-p", "format=plain"]);
    args.extend(["-f", "0.2"]);
    wait(spawn(&args), T)
}

fn logs_in(out: &Path) -> Vec<String> {
    read_json_file(&out.join("app"))
        .iter()
        .map(|r| format!("{}\n", r["log"].as_str().unwrap()))
        .collect()
}

#[test]
fn a_fluent_bit_db_is_resumed_from_and_kept_in_fluent_bits_format() {
    let dir = temp_dir("tail-fluent-db");
    let log = dir.join("app.log");
    let db = dir.join("fluent-bit.db");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    write_lines(&log, 0..1000);
    let offset = 400 * line(0).len();
    let inode = std::fs::metadata(&log).unwrap().ino();
    // The table and row Fluent Bit's tail input keeps, in WAL mode as it
    // opens its db.
    sqlite(&db, "PRAGMA journal_mode=WAL");
    sqlite(
        &db,
        "CREATE TABLE in_tail_files (id INTEGER PRIMARY KEY, name TEXT NOT NULL, \
         offset INTEGER, inode INTEGER, created INTEGER, rotated INTEGER DEFAULT 0)",
    );
    sqlite(
        &db,
        &format!(
            "INSERT INTO in_tail_files (name, offset, inode, created, rotated) \
             VALUES ('{}', {offset}, {inode}, 1700000000, 0)",
            log.display()
        ),
    );

    let run = run_once(&log, &db, &out, &[]);
    assert!(run.status.success(), "sluice failed: {}", run.stderr);
    let expected: Vec<String> = (400..1000).map(line).collect();
    assert_eq!(logs_in(&out), expected, "resumed at Fluent Bit's offset");

    let end = 1000 * line(0).len();
    let rows = sqlite(
        &db,
        "SELECT name, offset, inode, rotated FROM in_tail_files",
    );
    assert_eq!(rows, [format!("{}|{end}|{inode}|0", log.display())]);
    let columns = sqlite(&db, "SELECT name FROM pragma_table_info('in_tail_files')");
    for column in ["id", "name", "offset", "inode", "created", "rotated"] {
        assert!(
            columns.iter().any(|c| c == column),
            "{column} in {columns:?}"
        );
    }

    // The row sluice wrote back is resumed from too.
    write_lines(&log, 1000..1100);
    let run = run_once(&log, &db, &out, &[]);
    assert!(run.status.success(), "sluice failed: {}", run.stderr);
    let expected: Vec<String> = (400..1100).map(line).collect();
    assert_eq!(logs_in(&out), expected, "resumed at sluice's own offset");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_db_sync_is_refused_by_key() {
    let dir = temp_dir("tail-db-sync");
    let log = dir.join("app.log");
    let out = dir.join("out");
    write_lines(&log, 0..1);
    let run = run_once(&log, &dir.join("x.db"), &out, &["-p", "db.sync=fast"]);
    assert!(!run.status.success());
    assert!(run.stderr.contains("db.sync"), "{}", run.stderr);
    assert!(!dir.join("x.db").exists(), "nothing started");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_fluent_bit_offset_past_the_end_of_its_file_reads_the_file_from_its_head() {
    let dir = temp_dir("tail-fluent-db-short");
    let log = dir.join("app.log");
    let db = dir.join("fluent-bit.db");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    write_lines(&log, 0..10);
    let inode = std::fs::metadata(&log).unwrap().ino();
    sqlite(
        &db,
        "CREATE TABLE in_tail_files (id INTEGER PRIMARY KEY, name TEXT NOT NULL, \
         offset INTEGER, inode INTEGER, created INTEGER, rotated INTEGER DEFAULT 0)",
    );
    // The file was truncated (or its inode reused) since Fluent Bit's save.
    sqlite(
        &db,
        &format!(
            "INSERT INTO in_tail_files (name, offset, inode, created) \
             VALUES ('{}', 100000, {inode}, 1700000000)",
            log.display()
        ),
    );
    let run = run_once(&log, &db, &out, &[]);
    assert!(run.status.success(), "sluice failed: {}", run.stderr);
    assert_eq!(logs_in(&out), (0..10).map(line).collect::<Vec<_>>());
    assert!(run.stderr.contains("changed since its offset was saved"));
    std::fs::remove_dir_all(&dir).unwrap();
}
