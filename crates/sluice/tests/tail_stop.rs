//! Records held back, through the real binary: a multiline record `tail`
//! is still joining when sluice is stopped with SIGTERM comes out before
//! it exits (with a `db`, a restart does not read it again); a record
//! the `multiline` filter holds when sluice is killed with SIGKILL is
//! read again from the `db` offset at restart, which did not pass it.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{eventually, read_json_file, temp_dir, Run};

const T: Duration = Duration::from_secs(20);

/// A multiline parser whose records wait ten minutes for more lines:
/// nothing but the stop can release one in these tests.
const SLOW_PARSER: &str =
    "[MULTILINE_PARSER]\n    name          slow\n    type          regex\n    \
     flush_timeout 600000\n    rule \"start_state\" \"/^\\S/\" \"cont\"\n    \
     rule \"cont\" \"/^\\s/\" \"cont\"\n";

const TRACE: &str = "boom: the job failed\n  at step one\n  at step two\n";

/// `dir/parsers.conf` with [`SLOW_PARSER`], and `dir/app.log` holding
/// `text`.
fn setup(name: &str, text: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(name);
    std::fs::write(dir.join("parsers.conf"), SLOW_PARSER).unwrap();
    std::fs::write(dir.join("app.log"), text).unwrap();
    (dir.clone(), dir.join("app.log"))
}

/// sluice tailing `dir/app.log` from its head with the slow parser,
/// into a file output in `dir/out`.
fn start(dir: &Path, extra: &[&str]) -> Run {
    let mut props = vec!["multiline.parser=slow"];
    props.extend(extra);
    start_with(dir, &props, &[])
}

/// sluice tailing `dir/app.log` from its head with `props`, then `more`
/// flags (filters), into a file output in `dir/out`.
fn start_with(dir: &Path, props: &[&str], more: &[&str]) -> Run {
    let conf = dir.join("parsers.conf");
    let path = format!("path={}", dir.join("app.log").display());
    let mut args = vec!["-R", conf.to_str().unwrap(), "-i", "tail", "-t", "app"];
    args.extend(["-p", &path, "-p", "read_from_head=on"]);
    for p in props {
        args.extend(["-p", p]);
    }
    args.extend(more);
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    Run::start(&args, Some(&out), &[])
}

fn logs(dir: &Path) -> Vec<String> {
    read_json_file(&dir.join("out/app"))
        .iter()
        .map(|r| r["log"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn wait_for(dir: &Path, n: usize) {
    eventually(T, || logs(dir).len() >= n);
}

#[test]
fn a_multiline_record_held_at_sigterm_comes_out_before_exit() {
    let (dir, _) = setup("tail-stop-held", &format!("plain before\n{TRACE}"));
    let run = start(&dir, &[]);
    // The trace was read with the line before it, which came out when the
    // trace began: the trace is held now, for ten minutes.
    wait_for(&dir, 1);
    assert_eq!(logs(&dir), ["plain before"]);

    let out = run.stop();
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(
        logs(&dir),
        ["plain before", TRACE.trim_end_matches('\n')],
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("all chunks delivered"),
        "{}",
        out.stderr
    );
}

#[test]
fn with_a_db_the_record_released_at_sigterm_is_not_read_again_at_restart() {
    let (dir, log) = setup("tail-stop-held-db", &format!("plain before\n{TRACE}"));
    let db = format!("db={}", dir.join("tail.db").display());
    let run = start(&dir, &[&db]);
    wait_for(&dir, 1);
    let out = run.stop();
    assert!(out.status.success(), "{}", out.stderr);
    wait_for(&dir, 2);

    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"after restart\nnext\n"))
        .unwrap();
    let run = start(&dir, &[&db]);
    wait_for(&dir, 3);
    let out = run.stop();
    assert!(out.status.success(), "{}", out.stderr);
    let trace = TRACE.trim_end_matches('\n');
    assert_eq!(
        logs(&dir),
        ["plain before", trace, "after restart", "next"],
        "{}",
        out.stderr
    );
}

#[test]
fn a_record_the_multiline_filter_holds_at_sigkill_is_read_again_from_the_db() {
    let (dir, _) = setup("tail-filter-kill", &format!("plain before\n{TRACE}"));
    let db = format!("db={}", dir.join("tail.db").display());
    let filter = [
        "-F",
        "multiline",
        "-m",
        "*",
        "-p",
        "multiline.parser=slow",
        "-p",
        "flush_ms=600000",
    ];
    let run = start_with(&dir, &[&db], &filter);
    // The line before the trace came out when the trace began: the filter
    // holds the trace now, for ten minutes.
    wait_for(&dir, 1);
    // Time for the db to be saved past the trace, were it counted as done.
    std::thread::sleep(Duration::from_millis(1500));
    let mut child = run.child;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(logs(&dir), ["plain before"]);

    let run = start_with(&dir, &[&db], &filter);
    // Read again from the saved offset: the line before comes out again
    // (its batch was held with the trace), and the stop releases the
    // trace.
    wait_for(&dir, 2);
    let out = run.stop();
    assert!(out.status.success(), "{}", out.stderr);
    let got = logs(&dir);
    let trace = TRACE.trim_end_matches('\n');
    assert_eq!(
        got.last().map(String::as_str),
        Some(trace),
        "{}",
        out.stderr
    );
    assert_eq!(got.iter().filter(|l| *l == trace).count(), 1);
    assert!(got[..got.len() - 1].iter().all(|l| l == "plain before"));
}
