//! The command line and configuration front ends, through the real binary:
//! flags, `-h`, `--dry-run`, and errors that name file, line and key.

mod common;

use std::time::Duration;

use common::{encrypted_key, run, temp_dir, test_certificates, write_file};

const T: Duration = Duration::from_secs(30);

#[test]
fn stdin_lines_come_out_as_json_lines() {
    let out = run(
        &[
            "-i",
            "stdin",
            "-t",
            "app",
            "-o",
            "stdout",
            "-p",
            "format=json_lines",
            "-p",
            "json_date_key=false",
        ],
        b"{\"a\":1,\"b\":\"x\"}\nplain text\n{\"last\":true}",
        T,
    );
    assert!(out.status.success(), "{}", out.stderr);
    let records = out.json_lines();
    assert_eq!(records.len(), 3, "stdout: {}", out.stdout);
    assert_eq!(records[0], serde_json::json!({"a": 1, "b": "x"}));
    assert_eq!(records[1], serde_json::json!({"log": "plain text"}));
    assert_eq!(
        records[2],
        serde_json::json!({"last": true}),
        "the line before EOF is not lost"
    );
}

#[test]
fn dummy_with_exit_output_stops_by_itself() {
    let out = run(
        &[
            "-i",
            "dummy",
            "-p",
            "dummy={\"k\":\"v\"}",
            "-p",
            "rate=20",
            "-f",
            "0.2",
            "-o",
            "stdout",
            "-m",
            "*",
            "-p",
            "format=json_lines",
            "-o",
            "exit",
            "-m",
            "*",
            "-p",
            "flush_count=2",
        ],
        b"",
        T,
    );
    assert!(out.status.success(), "{}", out.stderr);
    let records = out.json_lines();
    assert!(records.len() >= 2, "stdout: {}", out.stdout);
    assert!(records.iter().all(|r| r["k"] == "v" && r["date"].is_f64()));
}

#[test]
fn dry_run_accepts_a_good_config() {
    let dir = temp_dir("dry-ok");
    let conf = write_file(
        &dir,
        "ok.conf",
        "[SERVICE]\n    Flush 1\n\n[INPUT]\n    Name dummy\n    Tag a\n\n[OUTPUT]\n    Name stdout\n    Match a\n",
    );
    let out = run(&["-c", conf.to_str().unwrap(), "--dry-run"], b"", T);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.contains("configuration test is successful"));
}

fn dry_run_error(name: &str, text: &str) -> String {
    let dir = temp_dir("dry-bad");
    let conf = write_file(&dir, name, text);
    let out = run(&["-c", conf.to_str().unwrap(), "-D"], b"", T);
    assert!(!out.status.success(), "should fail: {text}");
    assert!(out.stdout.is_empty(), "nothing ran: {}", out.stdout);
    out.stderr
}

#[test]
fn dry_run_names_file_line_and_key() {
    let err = dry_run_error(
        "k.conf",
        "[INPUT]\n    Name dummy\n    Ratee 5\n[OUTPUT]\n    Name null\n    Match *\n",
    );
    assert!(
        err.contains("k.conf:3: key 'Ratee': unknown property"),
        "{err}"
    );

    let err = dry_run_error(
        "p.conf",
        "[INPUT]\n    Name nosuch\n[OUTPUT]\n    Name null\n",
    );
    assert!(
        err.contains("p.conf:2: key 'name': unknown input plugin 'nosuch'"),
        "{err}"
    );

    let err = dry_run_error(
        "st.conf",
        "[SERVICE]\n    storage.path /proc/sluice-cannot-be-here\n[INPUT]\n    Name dummy\n",
    );
    assert!(
        err.contains("st.conf:2: key 'storage.path': storage.path '/proc/sluice-cannot-be-here' cannot be used"),
        "{err}"
    );

    let err = dry_run_error(
        "db.conf",
        "[INPUT]\n    Name tail\n    Path /tmp/a.log\n    DB /tmp/t.db\n\
         [INPUT]\n    Name tail\n    Path /tmp/b.log\n    DB /tmp/t.db\n",
    );
    assert!(
        err.contains("db.conf:4: key 'DB': '/tmp/t.db' is also the db of the tail input at")
            && err.contains("db.conf:5"),
        "{err}"
    );

    let err = dry_run_error("v.conf", "[INPUT]\n    Name dummy\n    Rate fast\n");
    assert!(
        err.contains("v.conf:3: key 'Rate': 'fast' is not an integer"),
        "{err}"
    );

    let err = dry_run_error(
        "y.yaml",
        "pipeline:\n  inputs:\n    - name: dummy\n      bogus: 1\n",
    );
    assert!(
        err.contains("y.yaml:4: key 'bogus': unknown property"),
        "{err}"
    );
}

#[test]
fn a_key_password_that_does_not_open_the_key_stops_the_start() {
    let dir = temp_dir("dry-key");
    let certs = test_certificates(&dir);
    let key = encrypted_key(&dir, &certs.key, "enc.key", "right");
    let section = |name: &str, extra: &str| {
        format!(
            "    Name {name}\n    tls on\n    tls.crt_file {}\n    tls.key_file {}\n{extra}",
            certs.crt.display(),
            key.display()
        )
    };
    let input = |extra: &str| format!("[INPUT]\n{}", section("forward", extra));
    let output = |extra: &str| format!("[OUTPUT]\n    Match *\n{}", section("forward", extra));
    let null_out = "[OUTPUT]\n    Name null\n    Match *\n";
    let dummy_in = "[INPUT]\n    Name dummy\n";

    let err = dry_run_error(
        "in.conf",
        &format!("{}{null_out}", input("    tls.key_passwd wrong\n")),
    );
    assert!(
        err.contains("in.conf:6: key 'tls.key_passwd': does not open the key in")
            && err.contains("enc.key"),
        "{err}"
    );
    let err = dry_run_error(
        "out.conf",
        &format!("{dummy_in}{}", output("    tls.key_passwd wrong\n")),
    );
    assert!(
        err.contains("out.conf:9: key 'tls.key_passwd': does not open the key in"),
        "{err}"
    );
    let err = dry_run_error("none.conf", &format!("{}{null_out}", input("")));
    assert!(
        err.contains("none.conf:5: key 'tls.key_file'") && err.contains("set tls.key_passwd"),
        "{err}"
    );

    let conf = write_file(
        &dir,
        "ok.conf",
        &format!("{}{null_out}", input("    tls.key_passwd right\n")),
    );
    let out = run(&["-c", conf.to_str().unwrap(), "--dry-run"], b"", T);
    assert!(out.status.success(), "{}", out.stderr);
}

#[test]
fn missing_config_file_is_an_error() {
    let out = run(&["-c", "/nonexistent/sluice.conf"], b"", T);
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("/nonexistent/sluice.conf"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_flag_value_names_the_flag() {
    let out = run(&["-i", "dummy", "-p", "rate=x", "-o", "null"], b"", T);
    assert!(!out.status.success());
    assert!(out.stderr.contains("command line (-p)"), "{}", out.stderr);
    assert!(
        out.stderr.contains("'x' is not an integer"),
        "{}",
        out.stderr
    );
}

#[test]
fn plugin_help_lists_properties_with_defaults() {
    let out = run(&["-i", "dummy", "-h"], b"", T);
    assert!(out.status.success());
    assert!(out.stdout.contains("rate"), "{}", out.stdout);
    assert!(out.stdout.contains("mem_buf_limit"), "{}", out.stdout);
    let out = run(&["-h"], b"", T);
    assert!(out.stdout.contains("--dry-run") && out.stdout.contains("stdin"));
    let out = run(&["-V"], b"", T);
    assert!(out.stdout.starts_with("sluice v"));
}
