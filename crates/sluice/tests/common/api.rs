//! A running sluice with its HTTP API on a fresh 127.0.0.1 port, for
//! tests that talk to the API.

use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use serde_json::Value;

use super::{curl, eventually, free_port, spawn, temp_dir, terminate, wait, write_file};

/// A sluice whose config is `[SERVICE]` with the API on, then `body`
/// (where `DIR` stands for the test's scratch directory).
pub struct Api {
    child: Option<Child>,
    pub base: String,
    pub dir: PathBuf,
}

impl Api {
    pub fn start(body: &str) -> Api {
        let port = free_port();
        let dir = temp_dir("api");
        let text = format!(
            "[SERVICE]\n    Flush 0.2\n    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    HTTP_Port {port}\n{}",
            body.replace("DIR", dir.to_str().unwrap())
        );
        let conf = write_file(&dir, "api.conf", &text);
        let child = spawn(&["-c", conf.to_str().unwrap()]);
        let base = format!("http://127.0.0.1:{port}");
        let up = eventually(Duration::from_secs(10), || curl(&base, &[]).is_some());
        assert!(up, "the API never answered");
        Api {
            child: Some(child),
            base,
            dir,
        }
    }

    /// `host:port` of the API.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    pub fn get(&self, path: &str) -> super::HttpAnswer {
        curl(&format!("{}{path}", self.base), &[]).expect("API answers")
    }

    pub fn json(&self, path: &str) -> Value {
        let a = self.get(path);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", a.body))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn stop(mut self) -> super::Output {
        let child = self.child.take().unwrap();
        terminate(&child);
        wait(child, Duration::from_secs(20))
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        // A failed assertion must not leave the process behind.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
