//! A running sluice gives back the pages it only needed to start (its
//! code and read-only data mapped by start-up work, the heap start-up
//! freed) and keeps delivering records afterwards: what the pipeline runs
//! is mapped back in as it is touched.

mod common;

use std::time::Duration;

use common::{spawn, terminate, wait, BIN};

/// Resident KiB of the sluice binary's own mappings in process `pid`.
fn binary_rss_kib(pid: u32) -> u64 {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).expect("smaps");
    let binary = std::fs::canonicalize(BIN).unwrap();
    let binary = binary.to_str().unwrap();
    let mut ours = false;
    let mut total = 0;
    for line in smaps.lines() {
        let first = line.split_ascii_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            ours = line.ends_with(binary);
        } else if let (true, Some(kb)) = (ours, line.strip_prefix("Rss:")) {
            total += kb
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .unwrap();
        }
    }
    total
}

#[test]
fn start_up_pages_are_given_back_and_records_keep_flowing() {
    let child = spawn(&[
        "-i",
        "dummy",
        "-p",
        "rate=20",
        "-o",
        "stdout",
        "-p",
        "format=json_lines",
        "-m",
        "*",
        "-f",
        "0.2",
    ]);
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(1500));
    let before = binary_rss_kib(pid);
    // Past the 3 s after which start-up pages are given back.
    std::thread::sleep(Duration::from_millis(3500));
    let after = binary_rss_kib(pid);
    std::thread::sleep(Duration::from_millis(1000));
    terminate(&child);
    let out = wait(child, Duration::from_secs(20));
    assert!(out.status.success(), "{}", out.stderr);

    let records = out.json_lines();
    // 20 a second for 6 s: the pipeline ran on after the pages went.
    assert!(records.len() >= 90, "{} records", records.len());
    assert!(
        records.iter().all(|r| r["message"] == "dummy"),
        "{:?}",
        records.first()
    );
    assert!(
        after < before,
        "the binary's resident pages did not shrink: {before} KiB at 1.5 s, {after} KiB at 5 s"
    );
}
