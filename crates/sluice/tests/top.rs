//! `sluice top` in a real terminal (tmux) against a running instance: it
//! shows the instances, their rates and the pause state, and quits on `q`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{eventually, free_port, spawn, temp_dir, terminate, wait, write_file, BIN};

fn tmux(socket: &str, args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(["-L", socket])
        .args(args)
        .output()
        .expect("tmux is installed (scripts/test installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The first number after `name` on its row of the screen.
fn rate_of(screen: &str, name: &str) -> Option<u64> {
    let row = screen.lines().find(|l| l.contains(name))?;
    let after = &row[row.find(name)? + name.len()..];
    after.split_whitespace().next()?.parse().ok()
}

#[test]
fn top_shows_rates_and_pauses_of_a_running_instance() {
    let dir = temp_dir("top");
    let port = free_port();
    let conf = format!(
        "[SERVICE]
    Flush 0.2
    HTTP_Server On
    HTTP_Listen 127.0.0.1
    HTTP_Port {port}

[INPUT]
    Name  dummy
    Alias steady
    Tag   steady
    Rate  50

[INPUT]
    Name  dummy
    Alias stuck
    Tag   stuck
    Rate  50
    Mem_Buf_Limit 1k

[OUTPUT]
    Name  null
    Alias sink
    Match steady

[OUTPUT]
    Name  file
    Match stuck
    Path  {}/missing
    Retry_Limit no_limits
",
        dir.display()
    );
    let conf = write_file(&dir, "top.conf", &conf);
    let sluice = spawn(&["-c", conf.to_str().unwrap()]);

    let socket = format!("sluice-top-{}", std::process::id());
    let command = format!("{BIN} top http://127.0.0.1:{port}");
    tmux(
        &socket,
        &[
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            "120",
            "-y",
            "30",
            &command,
        ],
    );
    let screen = || tmux(&socket, &["capture-pane", "-p", "-t", "top"]);
    let shown = eventually(Duration::from_secs(15), || {
        let s = screen();
        rate_of(&s, "steady").is_some_and(|r| r > 0)
            && rate_of(&s, "sink").is_some_and(|r| r > 0)
            && s.lines()
                .any(|l| l.contains("stuck") && l.contains("PAUSED"))
    });
    let last = screen();
    tmux(&socket, &["send-keys", "-t", "top", "q"]);
    let quit = eventually(Duration::from_secs(5), || {
        tmux(&socket, &["list-sessions"]).is_empty()
    });
    tmux(&socket, &["kill-server"]);
    terminate(&sluice);
    let _ = wait(sluice, Duration::from_secs(20));

    assert!(
        shown,
        "the screen never showed the rates and the pause:\n{last}"
    );
    assert!(
        last.contains("inputs") && last.contains("outputs"),
        "{last}"
    );
    assert!(quit, "q did not quit:\n{last}");
}
