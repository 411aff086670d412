//! The `tail` input through the real binary on real files: where reading
//! starts, globs and exclusions, tags from paths, the extra keys, a
//! parser, long lines, `exit_on_eof`; rotation by rename, copytruncate
//! and symlink swap while a writer appends; and a restart after
//! `kill -9` that resumes from the `db` without losing a line.

mod common;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::{append, eventually, read_json_file, spawn, temp_dir, wait, Run};
use serde_json::Value;

const T: Duration = Duration::from_secs(15);

fn parsers_conf() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conf/parsers.conf");
    path.display().to_string()
}

/// Runs sluice with `tail` (`props` are its `-p` values, `exit_on_eof`
/// on) into a file output in `out`, and waits for it to exit by itself.
fn run_to_eof(props: &[&str], out: &Path, extra: &[&str]) -> common::Output {
    std::fs::create_dir_all(out).unwrap();
    let dest = format!("path={}", out.display());
    let mut args = vec!["-i", "tail", "-t", "app", "-p", "exit_on_eof=on"];
    for p in props {
        args.extend(["-p", p]);
    }
    args.extend(["-o", "file", "-m", "*", "-p", &dest, "-p", "format=plain"]);
    args.extend(["-f", "0.2"]);
    args.extend(extra);
    let out = wait(spawn(&args), T);
    assert!(out.status.success(), "sluice failed: {}", out.stderr);
    out
}

fn logs(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["log"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A line that carries its number, padded to about 100 bytes.
fn numbered(n: usize) -> String {
    format!("line {n:08} {}\n", "x".repeat(80))
}

/// How many times each number came out.
fn counts(records: &[Value]) -> BTreeMap<usize, usize> {
    let mut counts = BTreeMap::new();
    for log in logs(records) {
        if let Some(n) = log.split(' ').nth(1).and_then(|n| n.parse().ok()) {
            *counts.entry(n).or_insert(0) += 1;
        }
    }
    counts
}

fn assert_exactly_once(records: &[Value], total: usize) {
    let counts = counts(records);
    let missing: Vec<_> = (0..total).filter(|n| !counts.contains_key(n)).collect();
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(
        missing.is_empty(),
        "{} missing, first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        twice.is_empty(),
        "{} duplicated, first {:?}",
        twice.len(),
        &twice[..twice.len().min(10)]
    );
    assert_eq!(counts.len(), total);
}

fn start_tail(path: &Path, props: &[&str]) -> Run {
    let path = format!("path={}", path.display());
    let mut args = vec!["-i", "tail", "-t", "app", "-p", &path];
    for p in props {
        args.extend(["-p", p]);
    }
    Run::start(&args, None, &[])
}

/// Gives sluice time to find its files at start.
fn settle() {
    std::thread::sleep(Duration::from_millis(800));
}

#[test]
fn read_from_head_off_starts_at_the_end_and_on_reads_everything() {
    let dir = temp_dir("tail-head");
    let log = dir.join("app.log");
    std::fs::write(&log, "old 1\nold 2\n").unwrap();

    let run = start_tail(&log, &[]);
    settle();
    append(&log, "new 1\n");
    let got = logs(&run.wait_for("app", 1));
    run.stop();
    assert_eq!(got, ["new 1"]);

    let out = dir.join("head");
    run_to_eof(
        &[&format!("path={}", log.display()), "read_from_head=on"],
        &out,
        &[],
    );
    assert_eq!(
        logs(&read_json_file(&out.join("app"))),
        ["old 1", "old 2", "new 1"]
    );
}

#[test]
fn files_appearing_later_are_read_from_their_head() {
    let dir = temp_dir("tail-later");
    let run = start_tail(&dir.join("*.log"), &["refresh_interval=1"]);
    settle();
    std::fs::write(dir.join("late.log"), "first\nsecond\n").unwrap();
    let got = logs(&run.wait_for("app", 2));
    run.stop();
    assert_eq!(got, ["first", "second"]);
}

#[test]
fn globs_exclude_path_tags_and_extra_keys() {
    let dir = temp_dir("tail-glob");
    std::fs::write(dir.join("a.log"), "from a\n").unwrap();
    std::fs::write(dir.join("b.log"), "from b 1\nfrom b 2\n").unwrap();
    std::fs::write(dir.join("c.log.gz"), "compressed\n").unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/d.txt"), "from d\n").unwrap();
    let out = dir.join("out");
    let paths = format!("path={0}/*.log*, {0}/sub/*.txt", dir.display());
    let props = [
        paths.as_str(),
        "exclude_path=*.gz",
        "read_from_head=on",
        "path_key=file",
        "offset_key=offset",
    ];
    let dest = format!("path={}", out.display());
    std::fs::create_dir_all(&out).unwrap();
    let args = [
        "-i",
        "tail",
        "-t",
        "logs.*",
        "-p",
        props[0],
        "-p",
        props[1],
        "-p",
        props[2],
        "-p",
        props[3],
        "-p",
        props[4],
        "-p",
        "exit_on_eof=on",
        "-o",
        "file",
        "-m",
        "*",
        "-p",
        &dest,
        "-p",
        "format=plain",
        "-f",
        "0.2",
    ];
    let done = wait(spawn(&args), T);
    assert!(done.status.success(), "{}", done.stderr);

    let tag_of = |name: &str| {
        let path = dir.join(name).display().to_string();
        format!("logs.{}", path.trim_start_matches('/').replace('/', "."))
    };
    let b = read_json_file(&out.join(tag_of("b.log")));
    assert_eq!(logs(&b), ["from b 1", "from b 2"]);
    assert_eq!(b[0]["file"], dir.join("b.log").display().to_string());
    assert_eq!(b[0]["offset"], 9);
    assert_eq!(b[1]["offset"], 18);
    assert_eq!(
        logs(&read_json_file(&out.join(tag_of("a.log")))),
        ["from a"]
    );
    assert_eq!(
        logs(&read_json_file(&out.join(tag_of("sub/d.txt")))),
        ["from d"]
    );
    let names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "the .gz file is excluded: {names:?}");
}

#[test]
fn parser_json_reads_each_line_and_keeps_unmatched_ones() {
    let dir = temp_dir("tail-json");
    let log = dir.join("app.log");
    std::fs::write(&log, "{\"level\":\"info\",\"n\":1}\nnot json\n\n").unwrap();
    let out = dir.join("out");
    let path = format!("path={}", log.display());
    run_to_eof(
        &[
            &path,
            "read_from_head=on",
            "parser=json",
            "skip_empty_lines=on",
        ],
        &out,
        &["-R", &parsers_conf()],
    );
    let got = read_json_file(&out.join("app"));
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["level"], "info");
    assert_eq!(got[0]["n"], 1);
    assert_eq!(got[1]["log"], "not json");
}

#[test]
fn long_lines_are_skipped_or_cut() {
    let dir = temp_dir("tail-long");
    let log = dir.join("app.log");
    let long = "y".repeat(2500);
    std::fs::write(&log, format!("short 1\n{long}\nshort 2\n")).unwrap();
    let path = format!("path={}", log.display());

    let skipped = dir.join("skipped");
    let props = [
        path.as_str(),
        "read_from_head=on",
        "buffer_max_size=1k",
        "skip_long_lines=on",
    ];
    let out = run_to_eof(&props, &skipped, &[]);
    assert_eq!(
        logs(&read_json_file(&skipped.join("app"))),
        ["short 1", "short 2"]
    );
    assert!(
        out.stderr
            .contains("lines longer than buffer_max_size skipped"),
        "{}",
        out.stderr
    );

    let cut = dir.join("cut");
    run_to_eof(
        &[&path, "read_from_head=on", "buffer_max_size=1k"],
        &cut,
        &[],
    );
    let got = logs(&read_json_file(&cut.join("app")));
    let lens: Vec<_> = got.iter().map(String::len).collect();
    assert_eq!(
        lens,
        [7, 1024, 1024, 452, 7],
        "nothing of the long line is lost"
    );
}

/// Appends `count` numbered lines from `first` through `file`, a few at
/// a time.
fn write_numbers(file: &mut File, first: usize, count: usize) {
    let mut batch = String::new();
    for n in first..first + count {
        batch.push_str(&numbered(n));
        if batch.len() > 4000 {
            file.write_all(batch.as_bytes()).unwrap();
            batch.clear();
            std::thread::sleep(Duration::from_micros(300));
        }
    }
    file.write_all(batch.as_bytes()).unwrap();
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap()
}

fn wait_for_total(run: &Run, total: usize) -> Vec<Value> {
    eventually(T, || counts(&run.records("app")).len() >= total);
    // A moment more, so a duplicate would show up too.
    std::thread::sleep(Duration::from_millis(500));
    run.records("app")
}

#[test]
fn rename_and_create_rotation_loses_and_repeats_nothing() {
    let dir = temp_dir("tail-rename");
    let log = dir.join("app.log");
    File::create(&log).unwrap();
    let run = start_tail(&log, &["rotate_wait=1", "read_from_head=on"]);
    settle();

    let per_file = 3000;
    let rotations = 5;
    let mut file = open_append(&log);
    for r in 0..rotations {
        write_numbers(&mut file, r * per_file, per_file - 100);
        std::fs::rename(&log, dir.join(format!("app.log.{r}"))).unwrap();
        // The writer goes on through its old handle for a while, as a
        // program does until it is told to reopen its log.
        write_numbers(&mut file, r * per_file + per_file - 100, 100);
        file = open_append(&log);
        std::thread::sleep(Duration::from_millis(400));
    }
    write_numbers(&mut file, rotations * per_file, per_file);
    let total = (rotations + 1) * per_file;

    let got = wait_for_total(&run, total);
    run.stop();
    assert_exactly_once(&got, total);
}

#[test]
fn copytruncate_loses_and_repeats_nothing_when_the_writer_is_caught_up() {
    let dir = temp_dir("tail-copytruncate");
    let log = dir.join("app.log");
    File::create(&log).unwrap();
    let run = start_tail(&log, &["read_from_head=on"]);
    settle();

    let mut file = open_append(&log);
    write_numbers(&mut file, 0, 3000);
    // copytruncate loses what the writer adds between sluice's last read
    // and the truncation (it is only in the copy): the test waits until
    // sluice has everything, as the documented window says.
    eventually(T, || counts(&run.records("app")).len() >= 3000);
    std::fs::copy(&log, dir.join("app.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    // The file grows back past the old offset at once: the bytes before
    // the offset no longer match, which gives the truncation away.
    write_numbers(&mut file, 3000, 4000);

    let got = wait_for_total(&run, 7000);
    let out = run.stop();
    assert_exactly_once(&got, 7000);
    assert!(out.stderr.contains("file truncated"), "{}", out.stderr);
}

#[test]
fn symlink_swap_loses_and_repeats_nothing() {
    let dir = temp_dir("tail-symlink");
    let link = dir.join("current.log");
    let first = dir.join("a.log");
    let mut file = open_append(&first);
    std::os::unix::fs::symlink(&first, &link).unwrap();
    let run = start_tail(&link, &["rotate_wait=1", "read_from_head=on"]);
    settle();

    write_numbers(&mut file, 0, 3000);
    let second = dir.join("b.log");
    let mut next = open_append(&second);
    let tmp = dir.join("current.tmp");
    std::os::unix::fs::symlink(&second, &tmp).unwrap();
    std::fs::rename(&tmp, &link).unwrap();
    write_numbers(&mut file, 3000, 200);
    write_numbers(&mut next, 3200, 3000);

    let got = wait_for_total(&run, 6200);
    run.stop();
    assert_exactly_once(&got, 6200);
}

#[test]
fn restart_after_kill_resumes_from_the_db_without_losing_a_line() {
    let dir = temp_dir("tail-db");
    let log = dir.join("app.log");
    let out = dir.join("out");
    let db = format!("db={}", dir.join("tail.db").display());
    File::create(&log).unwrap();
    let props = ["read_from_head=on", db.as_str()];

    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut file = open_append(&log);
            for chunk in 0..40 {
                write_numbers(&mut file, chunk * 500, 500);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    std::fs::create_dir_all(&out).unwrap();
    let first = start_tail_into(&log, &props, &out);
    std::thread::sleep(Duration::from_millis(1200));
    let mut child = first.child;
    child.kill().unwrap();
    child.wait().unwrap();
    let before_kill = read_json_file(&out.join("app")).len();
    assert!(
        before_kill > 0,
        "the first run delivered lines before the kill"
    );

    let second = start_tail_into(&log, &props, &out);
    writer.join().unwrap();
    let total = 20_000;
    let got = wait_for_total(&second, total);
    second.stop();

    let counts = counts(&got);
    let missing: Vec<_> = (0..total).filter(|n| !counts.contains_key(n)).collect();
    assert!(
        missing.is_empty(),
        "{} lines lost, first {:?}",
        missing.len(),
        missing.first()
    );
    // Lines delivered after the last save before the kill come again:
    // they form one run, right where the second process took over.
    let twice: Vec<usize> = counts
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| *n)
        .collect();
    eprintln!(
        "delivered before kill -9: {before_kill}; read again after it: {}",
        twice.len()
    );
    assert!(twice.len() < before_kill, "the restart resumed from the db");
    assert!(counts.values().all(|c| *c <= 2));
    if let (Some(lo), Some(hi)) = (twice.first(), twice.last()) {
        assert_eq!(
            hi - lo + 1,
            twice.len(),
            "duplicates are one contiguous run"
        );
    }
}

fn start_tail_into(path: &Path, props: &[&str], out: &Path) -> Run {
    let path = format!("path={}", path.display());
    let mut args = vec!["-i", "tail", "-t", "app", "-p", &path];
    for p in props {
        args.extend(["-p", p]);
    }
    Run::start(&args, Some(out), &[])
}

#[test]
fn tag_regex_builds_the_tag_from_the_file_name() {
    let dir = temp_dir("tail-tagregex");
    std::fs::write(dir.join("web-1_shop_nginx.log"), "hello\n").unwrap();
    let out = dir.join("out");
    let path = format!("path={}/*.log", dir.display());
    let regex = r"tag_regex=(?<pod>[a-z0-9-]+)_(?<namespace>[^_]+)_(?<container>.+)\.log$";
    std::fs::create_dir_all(&out).unwrap();
    let dest = format!("path={}", out.display());
    let args = [
        "-i",
        "tail",
        "-t",
        "kube.<namespace>.<pod>.<container>",
        "-p",
        &path,
        "-p",
        "read_from_head=on",
        "-p",
        regex,
        "-p",
        "exit_on_eof=on",
        "-o",
        "file",
        "-m",
        "*",
        "-p",
        &dest,
        "-p",
        "format=plain",
        "-f",
        "0.2",
    ];
    let done = wait(spawn(&args), T);
    assert!(done.status.success(), "{}", done.stderr);
    assert_eq!(
        logs(&read_json_file(&out.join("kube.shop.web-1.nginx"))),
        ["hello"]
    );
}

#[test]
fn ignore_older_leaves_old_files_alone() {
    let dir = temp_dir("tail-older");
    std::fs::write(dir.join("old.log"), "old\n").unwrap();
    std::fs::write(dir.join("new.log"), "new\n").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    File::options()
        .write(true)
        .open(dir.join("old.log"))
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let out = dir.join("out");
    let path = format!("path={}/*.log", dir.display());
    run_to_eof(&[&path, "read_from_head=on", "ignore_older=1h"], &out, &[]);
    assert_eq!(logs(&read_json_file(&out.join("app"))), ["new"]);
}

#[test]
fn a_deleted_file_is_read_to_its_end() {
    let dir = temp_dir("tail-deleted");
    let log = dir.join("app.log");
    let mut file = open_append(&log);
    let run = start_tail(&log, &["rotate_wait=1", "read_from_head=on"]);
    settle();
    write_numbers(&mut file, 0, 2000);
    std::fs::remove_file(&log).unwrap();
    // Still written through the open handle after the name is gone.
    write_numbers(&mut file, 2000, 500);
    let got = wait_for_total(&run, 2500);
    let out = run.stop();
    assert_exactly_once(&got, 2500);
    assert!(out.stderr.contains("rotated or deleted"), "{}", out.stderr);
}

#[test]
fn a_file_rotated_while_sluice_was_down_is_read_to_its_end_on_restart() {
    let dir = temp_dir("tail-down");
    let log = dir.join("app.log");
    let out = dir.join("out");
    let db_path = dir.join("tail.db");
    let db = format!("db={}", db_path.display());
    std::fs::create_dir_all(&out).unwrap();
    write_numbers(&mut open_append(&log), 0, 1000);
    let props = ["read_from_head=on", "rotate_wait=1", db.as_str()];

    let first = start_tail_into(&log, &props, &out);
    first.wait_for("app", 1000);
    let saved = (1000 * numbered(0).len()).to_string();
    assert!(eventually(T, || common::sqlite(
        &db_path,
        "SELECT offset FROM in_tail_files"
    )
    .contains(&saved)));
    let mut child = first.child;
    child.kill().unwrap();
    child.wait().unwrap();

    // While sluice is down, the file gains lines and is rotated away.
    write_numbers(&mut open_append(&log), 1000, 500);
    std::fs::rename(&log, dir.join("app.log.1")).unwrap();
    write_numbers(&mut open_append(&log), 1500, 500);

    let second = start_tail_into(&log, &props, &out);
    let got = wait_for_total(&second, 2000);
    second.stop();
    assert_exactly_once(&got, 2000);
}

#[test]
fn exit_on_eof_takes_a_last_line_without_newline() {
    let dir = temp_dir("tail-eof");
    let log = dir.join("app.log");
    std::fs::write(&log, "one\ntwo").unwrap();
    let out = dir.join("out");
    let path = format!("path={}", log.display());
    run_to_eof(
        &[&path, "read_from_head=on", "offset_key=offset"],
        &out,
        &[],
    );
    let got = read_json_file(&out.join("app"));
    assert_eq!(logs(&got), ["one", "two"]);
    assert_eq!(got[1]["offset"], 7);
}

#[test]
fn rotated_files_the_glob_also_matches_are_not_read_twice() {
    let dir = temp_dir("tail-rename-glob");
    let log = dir.join("app.log");
    File::create(&log).unwrap();
    let glob = dir.join("app.log*");
    let run = start_tail(&glob, &["rotate_wait=1", "refresh_interval=1"]);
    settle();

    let per_file = 2000;
    let mut file = open_append(&log);
    for r in 0..3 {
        write_numbers(&mut file, r * per_file, per_file);
        std::fs::rename(&log, dir.join(format!("app.log.{r}"))).unwrap();
        file = open_append(&log);
        std::thread::sleep(Duration::from_millis(400));
    }
    write_numbers(&mut file, 3 * per_file, per_file);
    // Past rotate_wait and a refresh, so released files are found again.
    std::thread::sleep(Duration::from_millis(2500));

    let got = wait_for_total(&run, 4 * per_file);
    let out = run.stop();
    assert_exactly_once(&got, 4 * per_file);
    let found_again = format!("path={}", dir.join("app.log.0").display());
    assert!(out.stderr.contains(&found_again), "{}", out.stderr);
}

#[test]
fn mem_buf_limit_pauses_reading_and_loses_nothing() {
    let dir = temp_dir("tail-backpressure");
    let log = dir.join("app.log");
    let total = 60_000;
    write_numbers(&mut open_append(&log), 0, total);
    let http_port = common::free_port();
    let conf = common::write_file(
        &dir,
        "bp.conf",
        &format!(
            "[SERVICE]\n    scheduler.base 1\n    scheduler.cap 1\n    HTTP_Server On\n    \
             HTTP_Listen 127.0.0.1\n    HTTP_Port {http_port}\n"
        ),
    );
    let target = dir.join("later");
    let path = format!("path={}", log.display());
    let args = [
        "-c",
        conf.to_str().unwrap(),
        "-i",
        "tail",
        "-t",
        "app",
        "-p",
        &path,
        "-p",
        "read_from_head=on",
        "-p",
        "mem_buf_limit=512k",
    ];
    let run = Run::start(&args, Some(&target), &["-p", "retry_limit=no_limits"]);

    // The destination is missing: the input fills its limit and stops
    // reading the file.
    let read = || {
        let url = format!("http://127.0.0.1:{http_port}/api/v1/metrics");
        let answer = common::curl(&url, &[])?;
        let metrics: Value = serde_json::from_str(&answer.body).ok()?;
        metrics["input"]["tail.0"]["records"].as_u64()
    };
    assert!(eventually(T, || read().is_some_and(|n| n > 0)));
    std::thread::sleep(Duration::from_secs(1));
    let paused_at = read().unwrap_or(0);
    assert!(
        paused_at < total as u64 / 4,
        "read {paused_at} of {total} while paused"
    );

    std::fs::create_dir_all(&target).unwrap();
    let got = wait_for_total(&run, total);
    let out = run.stop();
    assert_exactly_once(&got, total);
    assert!(out.stderr.contains("input paused"), "{}", out.stderr);
}

const JAVA_TRACE: &str = "Exception in thread \"main\" java.lang.IllegalStateException: boom\n\
\tat com.example.App.run(App.java:12)\n\
\tat com.example.App.main(App.java:5)\n\
Caused by: java.io.IOException: disk gone\n\
\tat com.example.Store.write(Store.java:40)\n\
\t... 2 more\n";

#[test]
fn multiline_parser_joins_the_lines_of_each_file() {
    let dir = temp_dir("tail-multiline");
    let a = dir.join("a.log");
    let b = dir.join("b.log");
    std::fs::write(&a, format!("plain before\n{JAVA_TRACE}plain after\n")).unwrap();
    // The other file interleaves nothing into a's trace: streams are files.
    std::fs::write(&b, JAVA_TRACE).unwrap();
    let out = dir.join("out");
    let path = format!("path={}", dir.join("*.log").display());
    run_to_eof(
        &[
            &path,
            "read_from_head=on",
            "multiline.parser=java",
            "path_key=file",
        ],
        &out,
        &[],
    );
    let got = read_json_file(&out.join("app"));
    let of = |name: &str| -> Vec<String> {
        let recs: Vec<Value> = got
            .iter()
            .filter(|r| r["file"].as_str().is_some_and(|f| f.ends_with(name)))
            .cloned()
            .collect();
        logs(&recs)
    };
    let trace = JAVA_TRACE.trim_end_matches('\n');
    assert_eq!(of("a.log"), ["plain before", trace, "plain after"]);
    assert_eq!(of("b.log"), [trace]);
}

#[test]
fn a_held_multiline_record_comes_out_after_its_flush_timeout() {
    let dir = temp_dir("tail-multiline-timeout");
    let conf = dir.join("ml.conf");
    std::fs::write(
        &conf,
        "[MULTILINE_PARSER]\n    name          indented\n    type          regex\n    \
         flush_timeout 400\n    rule \"start_state\" \"/^\\S/\" \"cont\"\n    \
         rule \"cont\" \"/^\\s/\" \"cont\"\n",
    )
    .unwrap();
    let log = dir.join("app.log");
    File::create(&log).unwrap();
    let path = format!("path={}", log.display());
    let args = [
        "-R",
        conf.to_str().unwrap(),
        "-i",
        "tail",
        "-t",
        "app",
        "-p",
        &path,
        "-p",
        "multiline.parser=indented",
    ];
    let run = Run::start(&args, None, &[]);
    settle();
    append(&log, "first\n  more\n  and more\n");
    let got = run.wait_for("app", 1);
    let out = run.stop();
    assert_eq!(logs(&got), ["first\n  more\n  and more"], "{}", out.stderr);
}

#[test]
fn docker_mode_joins_lines_docker_split() {
    let dir = temp_dir("tail-docker-mode");
    let log = dir.join("c.log");
    std::fs::write(
        &log,
        "{\"log\":\"part one \",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:00.000000000Z\"}\n\
         {\"log\":\"part two\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:00.100000000Z\"}\n\
         {\"log\":\"whole\\n\",\"stream\":\"stderr\",\"time\":\"2024-01-01T00:00:01.000000000Z\"}\n",
    )
    .unwrap();
    let out = dir.join("out");
    let path = format!("path={}", log.display());
    run_to_eof(&[&path, "read_from_head=on", "docker_mode=on"], &out, &[]);
    let got = read_json_file(&out.join("app"));
    assert_eq!(logs(&got), ["part one part two\n", "whole\n"]);
    assert_eq!(got[0]["stream"], "stdout");
}

/// Reads of many lines are encoded on two threads (half each): the
/// records must still come out in file order, each with the offset
/// just after its own line, whatever the line lengths.
#[test]
fn large_reads_keep_file_order_and_offsets() {
    let dir = temp_dir("tail-large-reads");
    let log = dir.join("app.log");
    let total = 40_000;
    let mut text = String::new();
    let mut ends = Vec::with_capacity(total);
    for n in 0..total {
        // Lengths from 2 to ~600 bytes, so halves split mid-buffer at
        // every kind of boundary.
        let pad = "y".repeat((n * 7919) % 600);
        text.push_str(&format!("{{\"n\":{n},\"pad\":\"{pad}\"}}\n"));
        ends.push(text.len() as u64);
    }
    std::fs::write(&log, &text).unwrap();
    let out = dir.join("out");
    let path = format!("path={}", log.display());
    run_to_eof(
        &[
            &path,
            "read_from_head=on",
            "offset_key=offset",
            "parser=json",
        ],
        &out,
        &["-R", &parsers_conf()],
    );
    let got = read_json_file(&out.join("app"));
    assert_eq!(got.len(), total);
    for (n, record) in got.iter().enumerate() {
        assert_eq!(record["n"], n as u64, "record {n} out of order");
        assert_eq!(record["offset"], ends[n], "offset of record {n}");
    }
}
