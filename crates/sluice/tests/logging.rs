//! The process log through the real binary: `Log_File`, `Log_Level`
//! (`off` too) in `[SERVICE]` and per plugin instance, lines that name
//! their instance, and `Log_Suppress_Interval` holding back repeats.
//!
//! Failures come from a `file` output whose directory does not exist:
//! every flush fails with the same reason.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{eventually, run, spawn, temp_dir, terminate, wait, write_file};

const T: Duration = Duration::from_secs(30);

fn log_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Lines of `log` written inside the instance span of `name`.
fn lines_of<'a>(log: &'a str, name: &str) -> Vec<&'a str> {
    let span = format!("output{{name={name}}}:");
    log.lines().filter(|l| l.contains(&span)).collect()
}

/// Starts sluice on `conf` (with `DIR` replaced by a fresh directory),
/// waits until `ready` holds for its log file, stops it, and returns the
/// log.
fn run_until(conf: &str, ready: impl Fn(&str) -> bool) -> String {
    let dir = temp_dir("logging");
    let text = conf.replace("DIR", dir.to_str().unwrap());
    let conf = write_file(&dir, "sluice.conf", &text);
    let log = dir.join("sluice.log");
    let child = spawn(&["-c", conf.to_str().unwrap()]);
    let done = eventually(Duration::from_secs(15), || ready(&log_text(&log)));
    terminate(&child);
    let out = wait(child, T);
    let log = log_text(&log);
    assert!(done, "never ready; log:\n{log}\nstderr:\n{}", out.stderr);
    assert!(
        out.stderr.is_empty(),
        "Log_File takes every line: {}",
        out.stderr
    );
    log
}

#[test]
fn an_instance_log_level_hides_its_lines_and_not_the_others() {
    let log = run_until(
        "
[SERVICE]
    Flush          0.2
    Log_File       DIR/sluice.log
    scheduler.base 1
    scheduler.cap  1

[INPUT]
    Name dummy
    Rate 10

[OUTPUT]
    Name        file
    Alias       quiet
    Match       *
    Path        DIR/missing
    Retry_Limit no_limits
    Log_Level   error

[OUTPUT]
    Name        file
    Alias       loud
    Match       *
    Path        DIR/missing
    Retry_Limit no_limits

[OUTPUT]
    Name      null
    Alias     chatty
    Match     *
    log_level debug
",
        |log| lines_of(log, "loud").len() >= 5 && lines_of(log, "chatty").len() >= 5,
    );
    let loud = lines_of(&log, "loud");
    assert!(
        loud.iter()
            .all(|l| l.contains("WARN") && l.contains("retry scheduled")),
        "{log}"
    );
    assert!(
        lines_of(&log, "quiet").is_empty(),
        "the quiet output's warnings are below its level:\n{log}"
    );
    // An instance may be more verbose than the process, alone.
    let chatty = lines_of(&log, "chatty");
    assert!(chatty.iter().any(|l| l.contains("DEBUG")), "{log}");
    let other_debug = log
        .lines()
        .filter(|l| l.contains("DEBUG") && !l.contains("name=chatty"));
    assert_eq!(other_debug.count(), 0, "{log}");
    assert!(
        log.contains("pipeline started"),
        "service level info: {log}"
    );
}

/// `(lines written, repeats reported as suppressed)` for one instance's
/// dropped-chunk error.
fn dropped_lines(log: &str, name: &str) -> (usize, u64) {
    let mut written = 0;
    let mut suppressed = 0;
    for line in lines_of(log, name) {
        if let Some(rest) = line.split("suppressed=").nth(1) {
            let n = rest.split_whitespace().next().unwrap();
            suppressed += n.parse::<u64>().unwrap();
        } else if line.contains("retries exhausted") {
            written += 1;
        }
    }
    (written, suppressed)
}

#[test]
fn repeated_lines_are_suppressed_within_the_interval_and_counted() {
    // One record per flush, so every failure logs the same line.
    let log = run_until(
        "
[SERVICE]
    Flush    0.1
    Log_File DIR/sluice.log

[INPUT]
    Name dummy
    Rate 5

[OUTPUT]
    Name                  file
    Alias                 hushed
    Match                 *
    Path                  DIR/missing
    Retry_Limit           no_retries
    Log_Suppress_Interval 1

[OUTPUT]
    Name        file
    Alias       plain
    Match       *
    Path        DIR/missing
    Retry_Limit no_retries
",
        |log| dropped_lines(log, "hushed").1 >= 8,
    );
    let (written, suppressed) = dropped_lines(&log, "hushed");
    let reports = lines_of(&log, "hushed")
        .iter()
        .filter(|l| l.contains("repeats of a log line were suppressed"))
        .count();
    assert!(reports >= 2, "{log}");
    // One line per interval, plus the first and the one at exit.
    assert!(written <= reports + 2, "{written} written:\n{log}");
    assert!(suppressed as usize > written, "{log}");
    // Without an interval every failure is written.
    let (plain, plain_suppressed) = dropped_lines(&log, "plain");
    assert_eq!(plain_suppressed, 0, "{log}");
    assert!(
        plain > 2 * written,
        "plain {plain}, hushed {written}:\n{log}"
    );
}

#[test]
fn the_service_interval_applies_to_every_instance() {
    let first = std::cell::OnceCell::new();
    let log = run_until(
        "
[SERVICE]
    Flush                 0.1
    Log_File              DIR/sluice.log
    Log_Suppress_Interval 30

[INPUT]
    Name dummy
    Rate 5

[OUTPUT]
    Name        file
    Alias       failing
    Match       *
    Path        DIR/missing
    Retry_Limit no_retries
",
        // Let failures go on for a while after the first one.
        |log| {
            if !log.contains("retries exhausted") {
                return false;
            }
            first.get_or_init(Instant::now).elapsed() > Duration::from_millis(1500)
        },
    );
    let (written, suppressed) = dropped_lines(&log, "failing");
    assert_eq!((written, suppressed), (1, 0), "{log}");
    // The repeats held back are reported at exit, naming their instance.
    let at_exit = log
        .lines()
        .find(|l| l.contains("suppressed") && l.contains("instance=\"failing\""))
        .unwrap_or_else(|| panic!("no report at exit:\n{log}"));
    let held: u64 = at_exit
        .split("suppressed=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(held >= 3, "{at_exit}");
}

fn reloadable(level: &str) -> String {
    format!(
        "
[SERVICE]
    Flush          0.2
    Hot_Reload     On
    Log_File       DIR/sluice.log
    scheduler.base 1
    scheduler.cap  1

[INPUT]
    Name dummy
    Rate 10

[OUTPUT]
    Name        file
    Alias       quiet
    Match       *
    Path        DIR/missing
    Retry_Limit no_limits
    Log_Level   {level}

[OUTPUT]
    Name        file
    Alias       loud
    Match       *
    Path        DIR/missing
    Retry_Limit no_limits
"
    )
}

#[test]
fn a_hot_reload_applies_new_instance_levels() {
    let dir = temp_dir("loglevel-reload");
    let write_conf = |level: &str| {
        let text = reloadable(level).replace("DIR", dir.to_str().unwrap());
        write_file(&dir, "sluice.conf", &text)
    };
    let conf = write_conf("error");
    let log = dir.join("sluice.log");
    let child = spawn(&["-c", conf.to_str().unwrap()]);
    let loud = eventually(T, || lines_of(&log_text(&log), "loud").len() >= 5);
    assert!(loud, "{}", log_text(&log));
    assert!(lines_of(&log_text(&log), "quiet").is_empty());

    // Debug lines were disabled everywhere until now.
    write_conf("debug");
    std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    let debug = eventually(T, || {
        let text = log_text(&log);
        let quiet = lines_of(&text, "quiet");
        quiet.iter().any(|l| l.contains("DEBUG")) && quiet.iter().any(|l| l.contains("WARN"))
    });
    terminate(&child);
    let out = wait(child, T);
    let text = log_text(&log);
    assert!(debug, "the reloaded level never applied:\n{text}");
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let loud_debug = lines_of(&text, "loud")
        .into_iter()
        .filter(|l| l.contains("DEBUG"))
        .count();
    assert_eq!(loud_debug, 0, "{text}");
}

const STDIN_TO_MISSING_DIR: &str = "
[SERVICE]
    Flush     0.1
    Log_Level LEVEL
    Log_File  DIR/sluice.log

[INPUT]
    Name stdin

[OUTPUT]
    Name        file
    Match       *
    Path        DIR/missing
    Retry_Limit no_retries
";

/// Runs two records through a failing output with `level` and `flags`;
/// the output and the texts of `sluice.log` and `flag.log`.
fn run_stdin(level: &str, flags: &[&str]) -> (common::Output, String, String) {
    let dir = temp_dir("logfile");
    let text = STDIN_TO_MISSING_DIR
        .replace("LEVEL", level)
        .replace("DIR", dir.to_str().unwrap());
    let conf = write_file(&dir, "sluice.conf", &text);
    let flag_log = dir.join("flag.log");
    let flags: Vec<&str> = flags
        .iter()
        .map(|f| {
            if *f == "FLAGLOG" {
                flag_log.to_str().unwrap()
            } else {
                f
            }
        })
        .collect();
    let mut args = vec!["-c", conf.to_str().unwrap()];
    args.extend(flags);
    let out = run(&args, b"{\"a\":1}\n{\"a\":2}\n", T);
    let log = log_text(&dir.join("sluice.log"));
    (out, log, log_text(&flag_log))
}

#[test]
fn log_file_takes_the_log_and_level_off_silences_it() {
    let (out, log, _) = run_stdin("info", &[]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    assert!(
        log.contains("ERROR") && log.contains("chunk dropped"),
        "{log}"
    );
    assert!(!log.contains('\u{1b}'), "no colours in a file: {log}");

    let (out, log, _) = run_stdin("off", &[]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    assert!(log.is_empty(), "Log_Level off writes nothing: {log}");

    // The command line wins over [SERVICE]: -l moves the log, -q stops it.
    let (out, log, flag_log) = run_stdin("info", &["-l", "FLAGLOG"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(log.is_empty(), "{log}");
    assert!(flag_log.contains("chunk dropped"), "{flag_log}");
    let (out, log, flag_log) = run_stdin("info", &["-q"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.is_empty() && log.is_empty() && flag_log.is_empty());
}

#[test]
fn an_unknown_instance_log_level_names_file_line_and_key() {
    let dir = temp_dir("badlevel");
    let conf = write_file(
        &dir,
        "bad.conf",
        "[INPUT]\n    Name dummy\n\n[OUTPUT]\n    Name null\n    Match *\n    Log_Level loud\n",
    );
    let out = run(&["-c", conf.to_str().unwrap(), "--dry-run"], b"", T);
    assert!(!out.status.success());
    assert!(out.stderr.contains("bad.conf"), "{}", out.stderr);
    assert!(out.stderr.contains(":7"), "{}", out.stderr);
    assert!(out.stderr.contains("Log_Level"), "{}", out.stderr);
    assert!(out.stderr.contains("loud"), "{}", out.stderr);
}
