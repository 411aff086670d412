//! What a hot reload does with the old pipeline's undelivered chunks:
//! its outputs keep retrying them after the new pipeline has taken over,
//! until delivered, or until `Hot_Reload.Timeout` cuts the drain off; and
//! the reload endpoint's answers while a reload runs.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{
    curl, eventually, free_port, parse_json_lines, spawn, temp_dir, terminate, wait, write_file,
};

/// Generation 1 writes to `DIR/missing` (absent, so it retries every
/// second); later generations write to `DIR/ok`.
fn config(port: u16, dir: &Path, timeout: &str, target: &str, generation: &str) -> String {
    format!(
        "[SERVICE]
    Flush              0.2
    Hot_Reload         On
    Hot_Reload.Timeout {timeout}
    HTTP_Server        On
    HTTP_Listen        127.0.0.1
    HTTP_Port          {port}
    Log_File           {dir}/sluice.log
    scheduler.base     1
    scheduler.cap      1

[INPUT]
    Name  dummy
    Rate  20
    Dummy {{\"gen\":\"{generation}\"}}

[OUTPUT]
    Name        file
    Match       *
    Path        {dir}/{target}
    File        out.log
    Format      plain
    Retry_Limit no_limits
",
        dir = dir.display()
    )
}

fn generation_count(path: &Path, generation: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    parse_json_lines(&text)
        .iter()
        .filter(|r| r["gen"] == generation)
        .count()
}

/// Starts generation 1 against the missing directory, waits until it has
/// failed a few flushes, and reloads into generation 2.
fn reload_away_from_a_failing_output(
    timeout: &str,
) -> (std::process::Child, std::path::PathBuf, String) {
    let dir = temp_dir("reload-drain");
    let port = free_port();
    let conf = write_file(
        &dir,
        "sluice.conf",
        &config(port, &dir, timeout, "missing", "1"),
    );
    let child = spawn(&["-c", conf.to_str().unwrap()]);
    let base = format!("http://127.0.0.1:{port}");
    let failing = eventually(Duration::from_secs(10), || {
        curl(&format!("{base}/api/v1/metrics"), &[])
            .and_then(|a| serde_json::from_str::<serde_json::Value>(&a.body).ok())
            .and_then(|m| m["output"]["file.0"]["retries"].as_u64())
            .is_some_and(|n| n >= 3)
    });
    assert!(failing, "generation 1 never retried");
    write_file(&dir, "sluice.conf", &config(port, &dir, timeout, "ok", "2"));
    let taken = curl(&format!("{base}/api/v2/reload"), &["-X", "POST"]).unwrap();
    assert_eq!(taken.status, 200, "{}", taken.body);
    std::fs::create_dir_all(dir.join("ok")).unwrap();
    (child, dir, base)
}

#[test]
fn a_replaced_pipeline_goes_on_retrying_until_it_delivers() {
    let (child, dir, _) = reload_away_from_a_failing_output("0");
    let new = dir.join("ok/out.log");
    assert!(eventually(Duration::from_secs(10), || generation_count(
        &new, "2"
    ) > 0));
    // The old outputs deliver once their destination comes back.
    std::thread::sleep(Duration::from_secs(2));
    std::fs::create_dir_all(dir.join("missing")).unwrap();
    let old = dir.join("missing/out.log");
    let delivered = eventually(Duration::from_secs(10), || generation_count(&old, "1") > 0);
    terminate(&child);
    let out = wait(child, Duration::from_secs(20));
    let log = std::fs::read_to_string(dir.join("sluice.log")).unwrap_or_default();
    assert!(delivered, "generation 1's queue was dropped:\n{log}");
    assert!(out.status.success(), "{log}");
    assert!(!log.contains("not delivered"), "{log}");
}

#[test]
fn hot_reload_timeout_cuts_the_old_drain_off() {
    let (child, dir, _) = reload_away_from_a_failing_output("2");
    let log_path = dir.join("sluice.log");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let cut = eventually(Duration::from_secs(10), || log().contains("not delivered"));
    assert!(
        cut,
        "the old pipeline's drain went on past the timeout:\n{}",
        log()
    );
    // Once cut off, the old queue is gone: its destination coming back
    // brings nothing of generation 1, while generation 2 flows.
    std::fs::create_dir_all(dir.join("missing")).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let new = dir.join("ok/out.log");
    assert!(generation_count(&new, "2") > 0);
    assert_eq!(generation_count(&dir.join("missing/out.log"), "1"), 0);
    terminate(&child);
    let out = wait(child, Duration::from_secs(20));
    // What the old pipeline could not deliver is reported at exit.
    assert_eq!(out.status.code(), Some(2), "{}", log());
}

/// POSTs a reload on an already open connection; the answer's status.
fn post_reload(mut s: TcpStream) -> u16 {
    s.write_all(b"POST /api/v2/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

#[test]
fn a_reload_request_during_a_reload_is_refused_and_not_counted() {
    let dir = temp_dir("reload-busy");
    let port = free_port();
    let conf = write_file(&dir, "sluice.conf", &config(port, &dir, "0", "ok", "1"));
    std::fs::create_dir_all(dir.join("ok")).unwrap();
    let child = spawn(&["-c", conf.to_str().unwrap()]);
    let base = format!("http://127.0.0.1:{port}");
    assert!(eventually(Duration::from_secs(10), || curl(&base, &[]).is_some()));

    let mut accepted = 0;
    let mut refused = 0;
    for _ in 0..5 {
        // Many requests at the same instant: one starts a reload, those
        // that arrive while it runs are refused.
        let clients = 16;
        let barrier = Arc::new(Barrier::new(clients));
        let threads: Vec<_> = (0..clients)
            .map(|_| {
                let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    post_reload(s)
                })
            })
            .collect();
        for t in threads {
            match t.join().unwrap() {
                200 => accepted += 1,
                400 => refused += 1,
                other => panic!("unexpected status {other}"),
            }
        }
        if refused > 0 {
            break;
        }
    }
    assert!(
        accepted >= 1 && refused >= 1,
        "{accepted} accepted, {refused} refused"
    );
    let counted = eventually(Duration::from_secs(10), || {
        curl(&format!("{base}/api/v2/reload"), &[])
            .and_then(|a| serde_json::from_str::<serde_json::Value>(&a.body).ok())
            .is_some_and(|v| v["hot_reload_count"] == accepted)
    });
    assert!(
        counted,
        "each accepted request is one reload, refused ones none"
    );
    terminate(&child);
    let out = wait(child, Duration::from_secs(20));
    assert!(out.status.success(), "{}", out.stderr);
}
