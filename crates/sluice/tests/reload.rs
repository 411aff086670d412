//! Hot reload through the real binary: SIGHUP and `POST /api/v2/reload`
//! replace the pipeline under a live numbered stream without losing or
//! repeating a record, the new routes take effect, and an invalid
//! configuration is rejected while the running pipeline goes on.

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{curl, eventually, free_port, parse_json_lines, spawn, temp_dir, wait, write_file};

const RECORDS: usize = 3000;

fn config(port: u16, dir: &Path, file: &str, generation: &str) -> String {
    format!(
        "[SERVICE]
    Flush       0.2
    Hot_Reload  On
    HTTP_Server On
    HTTP_Listen 127.0.0.1
    HTTP_Port   {port}

[INPUT]
    Name  stdin
    Tag   app

[FILTER]
    Name  record_modifier
    Match app
    Record gen {generation}

[OUTPUT]
    Name   file
    Match  app
    Path   {}
    File   {file}
    Format plain
",
        dir.display()
    )
}

fn records(path: &Path) -> Vec<serde_json::Value> {
    parse_json_lines(&std::fs::read_to_string(path).unwrap_or_default())
}

#[test]
fn reload_replaces_the_pipeline_without_losing_records() {
    let dir = temp_dir("reload");
    let port = free_port();
    let conf = write_file(&dir, "sluice.conf", &config(port, &dir, "a.log", "1"));
    let mut child = spawn(&["-c", conf.to_str().unwrap()]);
    let base = format!("http://127.0.0.1:{port}");
    assert!(eventually(Duration::from_secs(10), || curl(&base, &[]).is_some()));

    // A steady numbered stream, one whole line per write.
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for n in 0..RECORDS {
            stdin
                .write_all(format!("{{\"n\":{n}}}\n").as_bytes())
                .unwrap();
            std::thread::sleep(Duration::from_micros(800));
        }
        stdin
    });

    // Generation 2 by SIGHUP.
    let a = dir.join("a.log");
    assert!(eventually(Duration::from_secs(10), || !records(&a).is_empty()));
    write_file(&dir, "sluice.conf", &config(port, &dir, "b.log", "2"));
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    let b = dir.join("b.log");
    let in_b = |gen: &str| records(&b).iter().filter(|r| r["gen"] == gen).count();
    assert!(eventually(Duration::from_secs(10), || in_b("2") > 0));

    // An invalid configuration is refused; generation 2 runs on.
    write_file(
        &dir,
        "sluice.conf",
        "[INPUT]\n    Name stdin\n    Bogus_Key 1\n",
    );
    let refused = curl(&format!("{base}/api/v2/reload"), &["-X", "POST"]).unwrap();
    assert_eq!(
        refused.status, 200,
        "the request is taken: {}",
        refused.body
    );
    let before = in_b("2");
    assert!(eventually(Duration::from_secs(10), || in_b("2") > before + 50));

    // Generation 3 by the API.
    write_file(&dir, "sluice.conf", &config(port, &dir, "b.log", "3"));
    let taken = curl(&format!("{base}/api/v2/reload"), &["-X", "PUT"]).unwrap();
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert!(eventually(Duration::from_secs(10), || in_b("3") > 0));
    let count = curl(&format!("{base}/api/v2/reload"), &[]).unwrap();
    let count: serde_json::Value = serde_json::from_str(&count.body).unwrap();
    assert_eq!(
        count["hot_reload_count"], 2,
        "the invalid one does not count"
    );

    // EOF ends the last pipeline; everything is delivered before exit.
    drop(writer.join().unwrap());
    let out = wait(child, Duration::from_secs(30));
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("reload rejected"), "{}", out.stderr);

    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    for r in records(&a).iter().chain(records(&b).iter()) {
        *seen.entry(r["n"].as_u64().unwrap()).or_default() += 1;
    }
    let missing: Vec<u64> = (0..RECORDS as u64)
        .filter(|n| !seen.contains_key(n))
        .collect();
    let repeated: Vec<u64> = seen
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| *n)
        .collect();
    assert!(missing.is_empty(), "lost across reloads: {missing:?}");
    assert!(repeated.is_empty(), "repeated: {repeated:?}");
    assert!(records(&a).iter().all(|r| r["gen"] == "1"));
}
