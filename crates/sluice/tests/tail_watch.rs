//! How `tail` learns that its files changed, through the real binary.
//!
//! With `inotify_watcher` on (the default), a line written to an idle
//! file, a file created in a watched directory, and a file created under
//! a rotated name a while after the rotation (also behind a symlink, as
//! Kubernetes lays logs out) are all read although the `refresh_interval`
//! scan, the only other thing that would look again, is an hour away. With it off, every file is polled and found files and
//! rotation work as before.

mod common;

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use common::{append, eventually, Run};

/// Generous: these tests prove that lines arrive at all before an
/// hour-long refresh, not how fast.
const T: Duration = Duration::from_secs(30);

/// What the fallback to polling logs.
const POLLING: &str = "polling every file every 250 ms instead";

fn start(path: &Path, props: &[&str]) -> Run {
    let path = format!("path={}", path.display());
    let mut args = vec!["-i", "tail", "-t", "app", "-p", &path];
    args.extend(["-p", "read_from_head=on"]);
    for p in props {
        args.extend(["-p", p]);
    }
    Run::start(&args, None, &[])
}

fn logs(run: &Run) -> Vec<String> {
    run.records("app")
        .iter()
        .map(|r| r["log"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits until exactly `want` came out, in that order.
fn wait_for_logs(run: &Run, want: &[&str]) {
    eventually(T, || logs(run).len() >= want.len());
    assert_eq!(logs(run), want);
}

#[test]
fn with_inotify_an_idle_file_and_a_new_file_are_read_without_waiting_for_the_refresh() {
    let dir = common::temp_dir("tail-inotify");
    let log = dir.join("a.log");
    std::fs::write(&log, "ready\n").unwrap();
    let run = start(&dir.join("*.log"), &["refresh_interval=3600"]);
    wait_for_logs(&run, &["ready"]);

    // Nothing looks at a.log again but an event on it.
    append(&log, "written later\n");
    wait_for_logs(&run, &["ready", "written later"]);
    // No scan finds b.log but one an event in the directory starts.
    std::fs::write(dir.join("b.log"), "in a new file\n").unwrap();
    wait_for_logs(&run, &["ready", "written later", "in a new file"]);
    append(&log, "and again\n");
    wait_for_logs(
        &run,
        &["ready", "written later", "in a new file", "and again"],
    );

    let out = run.stop();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!out.stderr.contains(POLLING), "{}", out.stderr);
    assert!(
        !out.stderr.contains("network file system"),
        "{}",
        out.stderr
    );
}

#[test]
fn with_inotify_a_file_created_under_a_rotated_name_later_is_followed() {
    let dir = common::temp_dir("tail-inotify-rotate");
    let log = dir.join("app.log");
    std::fs::write(&log, "ready\n").unwrap();
    let mut writer = OpenOptions::new().append(true).open(&log).unwrap();
    let run = start(&log, &["refresh_interval=3600", "rotate_wait=1"]);
    wait_for_logs(&run, &["ready"]);

    std::fs::rename(&log, dir.join("app.log.1")).unwrap();
    writer.write_all(b"through the old handle\n").unwrap();
    wait_for_logs(&run, &["ready", "through the old handle"]);
    // The scan the rotation started found no app.log; its creation now
    // is what makes sluice look again.
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&log, "in the new file\n").unwrap();
    wait_for_logs(
        &run,
        &["ready", "through the old handle", "in the new file"],
    );

    let out = run.stop();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("rotated or deleted"), "{}", out.stderr);
    assert!(!out.stderr.contains(POLLING), "{}", out.stderr);
}

#[test]
fn with_inotify_a_file_behind_a_symlink_rotated_in_its_own_directory_is_followed() {
    // Kubernetes' layout: the followed name is a symlink into another
    // directory, where the runtime renames the file and creates a new one.
    let dir = common::temp_dir("tail-inotify-link");
    let (links, pods) = (dir.join("containers"), dir.join("pods"));
    std::fs::create_dir_all(&links).unwrap();
    std::fs::create_dir_all(&pods).unwrap();
    let target = pods.join("0.log");
    std::fs::write(&target, "ready\n").unwrap();
    let mut writer = OpenOptions::new().append(true).open(&target).unwrap();
    std::os::unix::fs::symlink(&target, links.join("app.log")).unwrap();
    let run = start(
        &links.join("*.log"),
        &["refresh_interval=3600", "rotate_wait=1"],
    );
    wait_for_logs(&run, &["ready"]);

    std::fs::rename(&target, pods.join("0.log.1")).unwrap();
    writer.write_all(b"through the old handle\n").unwrap();
    wait_for_logs(&run, &["ready", "through the old handle"]);
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&target, "in the new file\n").unwrap();
    wait_for_logs(
        &run,
        &["ready", "through the old handle", "in the new file"],
    );

    let out = run.stop();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!out.stderr.contains(POLLING), "{}", out.stderr);
}

#[test]
fn with_inotify_watcher_off_files_are_polled_and_rotation_still_works() {
    let dir = common::temp_dir("tail-polling");
    let log = dir.join("a.log");
    std::fs::write(&log, "ready\n").unwrap();
    let mut writer = OpenOptions::new().append(true).open(&log).unwrap();
    let props = ["inotify_watcher=off", "refresh_interval=1", "rotate_wait=1"];
    let run = start(&dir.join("*.log"), &props);
    wait_for_logs(&run, &["ready"]);

    writer.write_all(b"polled\n").unwrap();
    wait_for_logs(&run, &["ready", "polled"]);
    std::fs::write(dir.join("b.log"), "found by a scan\n").unwrap();
    wait_for_logs(&run, &["ready", "polled", "found by a scan"]);
    std::fs::rename(&log, dir.join("a.log.1")).unwrap();
    writer.write_all(b"after the rename\n").unwrap();
    wait_for_logs(
        &run,
        &["ready", "polled", "found by a scan", "after the rename"],
    );
    std::fs::write(&log, "new a\n").unwrap();
    wait_for_logs(
        &run,
        &[
            "ready",
            "polled",
            "found by a scan",
            "after the rename",
            "new a",
        ],
    );

    let out = run.stop();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("rotated or deleted"), "{}", out.stderr);
}
