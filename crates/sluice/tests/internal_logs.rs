//! The `fluentbit_logs` input through the real binary: the process's own
//! log lines come out of an output as `{level, message}` records, only
//! those the log level lets through, each naming its instance.

mod common;

use std::time::Duration;

use common::{eventually, read_json_file, spawn, temp_dir, terminate, wait, write_file};

#[test]
fn own_log_lines_become_records() {
    let dir = temp_dir("internal-logs");
    let conf = format!(
        "
[SERVICE]
    Flush          0.2
    Log_Level      warn
    Grace          1
    scheduler.base 1
    scheduler.cap  1

[INPUT]
    Name fluentbit_logs
    Tag  internal

[INPUT]
    Name dummy
    Tag  app
    Rate 5

[OUTPUT]
    Name        file
    Alias       failing
    Match       app
    Path        {dir}/missing
    Retry_Limit no_limits

[OUTPUT]
    Name   file
    Match  internal
    Path   {dir}
    File   internal.log
    Format plain
",
        dir = dir.display()
    );
    let conf = write_file(&dir, "sluice.conf", &conf);
    let child = spawn(&["-c", conf.to_str().unwrap()]);
    let out_path = dir.join("internal.log");
    let arrived = eventually(Duration::from_secs(15), || {
        read_json_file(&out_path).len() >= 3
    });
    terminate(&child);
    let out = wait(child, Duration::from_secs(20));
    let records = read_json_file(&out_path);
    assert!(arrived, "records: {records:?}\nstderr: {}", out.stderr);

    for r in &records {
        let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["level", "message"], "{r}");
        assert_ne!(r["level"], "info", "below Log_Level: {r}");
    }
    let retry = records
        .iter()
        .find(|r| r["level"] == "warn")
        .unwrap_or_else(|| panic!("no warning among {records:?}"));
    let message = retry["message"].as_str().unwrap();
    assert!(
        message.starts_with("[output:failing] flush failed, retry scheduled"),
        "{message}"
    );
    assert!(message.contains("No such file"), "{message}");
    // The same lines still reach the process log.
    assert!(out.stderr.contains("retry scheduled"), "{}", out.stderr);
}
