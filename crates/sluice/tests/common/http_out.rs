//! A sluice that reads JSON lines on a TCP input and sends them through
//! one HTTP-based output: the harness of the HTTP output tests.

use std::io::Write;
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use super::{connect, free_port, temp_dir, terminate, wait, write_file, Output};

/// A running sluice: `tcp` input (format json, tag `app.web`) → the output.
pub struct Pipeline {
    child: Child,
    input_port: u16,
    _dir: PathBuf,
}

impl Pipeline {
    /// Starts sluice with `output` as the body of its `[OUTPUT]` section
    /// (`Name` and `Match *` are added). Retries wait one second.
    pub fn start(output: &str) -> Self {
        Self::start_with_env(output, &[])
    }

    /// The same, with these environment variables set for sluice.
    pub fn start_with_env(output: &str, env: &[(&str, &str)]) -> Self {
        let dir = temp_dir("http-out");
        let input_port = free_port();
        let conf = format!(
            "[SERVICE]\n    Flush 0.2\n    Grace 3\n    Log_Level debug\n    \
             scheduler.base 1\n    scheduler.cap 1\n\n\
             [INPUT]\n    Name tcp\n    Listen 127.0.0.1\n    Port {input_port}\n    \
             Format json\n    Tag app.web\n\n\
             [OUTPUT]\n    Match *\n{output}\n"
        );
        let path = write_file(&dir, "sluice.conf", &conf);
        let child = std::process::Command::new(super::BIN)
            .args(["-c", path.to_str().expect("utf-8 path")])
            // A proxy in the test machine's environment must not reroute
            // requests meant for the receivers on 127.0.0.1.
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start sluice");
        Pipeline {
            child,
            input_port,
            _dir: dir,
        }
    }

    /// Sends records as JSON lines in one write.
    pub fn send(&self, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        let mut stream = connect(self.input_port);
        stream.write_all(text.as_bytes()).expect("send records");
    }

    /// Stops sluice (SIGTERM) and returns what it printed.
    pub fn stop(self) -> Output {
        terminate(&self.child);
        wait(self.child, Duration::from_secs(15))
    }
}

/// `{"id":N,"msg":"record N"}` for each N in `ids`.
pub fn records(ids: std::ops::Range<usize>) -> Vec<String> {
    ids.map(|i| format!(r#"{{"id":{i},"msg":"record {i}"}}"#))
        .collect()
}
