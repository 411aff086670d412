//! Scenario folders: a configuration, an input and the exact output it
//! must give, run through the real binary by one helper.
//!
//! Each folder under `tests/scenarios/` holds:
//!
//! - `args` (one command-line argument per line) or `sluice.conf` /
//!   `sluice.yaml` (run as `-c FILE`); `${SCENARIO_DIR}` in a config, and
//!   `@DIR@` in `args`, name the scratch directory the run gets as its
//!   working directory;
//! - `input`, fed to standard input (empty when missing);
//! - `expected`, the exact standard output, and `expected.NAME` for each
//!   file the run must leave in its scratch directory as `NAME` (`%2F` in
//!   `NAME` stands for `/`).
//!
//! Times in outputs change from run to run, so both sides are compared
//! with times masked as `<time>`, unless the folder holds a file named
//! `unmasked` (for inputs that set their own times). `SLUICE_BLESS=1 cargo test --test
//! scenarios` writes the current outputs as the expected ones; review
//! them before committing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use regex::Regex;

const TIMEOUT: Duration = Duration::from_secs(30);

fn scenarios_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

/// Replaces every rendering of a time the outputs use with `<time>`.
fn mask_times(text: &str) -> String {
    static PATTERNS: &[&str] = &[
        // iso8601 and java_sql_timestamp
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?Z?",
        // double (with or without fraction), epoch and epoch_ms
        r"\b1\d{9}(\.\d+)?\b",
        r"\b1\d{12}\b",
    ];
    let mut out = text.to_owned();
    for p in PATTERNS {
        let re = Regex::new(p).expect("valid mask pattern");
        out = re.replace_all(&out, "<time>").into_owned();
    }
    out
}

/// How a scenario starts sluice.
fn arguments(case: &Path, scratch: &Path) -> Vec<String> {
    let args = case.join("args");
    if args.exists() {
        let text = std::fs::read_to_string(&args).expect("read args");
        let dir = scratch.to_str().expect("utf-8 temp path");
        return text
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.replace("@DIR@", dir))
            .collect();
    }
    for name in ["sluice.conf", "sluice.yaml"] {
        let conf = case.join(name);
        if conf.exists() {
            return vec!["-c".into(), conf.to_string_lossy().into_owned()];
        }
    }
    panic!("{}: no args, sluice.conf or sluice.yaml", case.display());
}

/// Runs one scenario; returns a description of each mismatch.
fn run_case(case: &Path) -> Vec<String> {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let scratch = common::temp_dir(&format!("scenario-{name}"));
    let input = std::fs::read(case.join("input")).unwrap_or_default();
    let child = Command::new(common::BIN)
        .args(arguments(case, &scratch))
        .current_dir(&scratch)
        .env("SCENARIO_DIR", &scratch)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sluice");
    let out = common::feed_and_wait(child, &input, TIMEOUT);
    if !out.status.success() {
        return vec![format!(
            "{name}: exit {}; stderr:\n{}",
            out.status, out.stderr
        )];
    }

    let mut outputs = vec![("expected".to_owned(), out.stdout.clone())];
    for entry in std::fs::read_dir(case).expect("read scenario") {
        let file = entry.expect("dir entry").file_name();
        let file = file.to_string_lossy();
        if let Some(produced) = file.strip_prefix("expected.") {
            let produced = produced.replace("%2F", "/");
            let text = std::fs::read_to_string(scratch.join(produced)).unwrap_or_default();
            outputs.push((file.into_owned(), text));
        }
    }
    let bless = std::env::var_os("SLUICE_BLESS").is_some();
    let mask = if case.join("unmasked").exists() {
        |text: &str| text.to_owned()
    } else {
        mask_times
    };
    let mut failures = Vec::new();
    for (file, got) in outputs {
        let path = case.join(&file);
        if bless {
            std::fs::write(&path, &got).expect("bless");
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if mask(&want) != mask(&got) {
            failures.push(format!(
                "{name}/{file} differs\n--- expected\n{want}\n--- got\n{got}\n--- stderr\n{}",
                out.stderr
            ));
        }
    }
    failures
}

#[test]
fn every_scenario_gives_its_expected_output() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(scenarios_root())
        .expect("tests/scenarios exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    let failures: Vec<String> = cases.iter().flat_map(|c| run_case(c)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn masking_hides_only_times() {
    let line = r#"[0] a: [[1733299200.123456789, {}], {"n"=>42, "d"=>"2024-12-04T08:00:00.5Z"}]"#;
    assert_eq!(
        mask_times(line),
        r#"[0] a: [[<time>, {}], {"n"=>42, "d"=>"<time>"}]"#
    );
}
