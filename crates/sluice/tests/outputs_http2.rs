//! The shared HTTP client's HTTP/2, through the real binary: the `http`
//! output with TLS against hypercorn (`peers/h2_server.py`, a server
//! independent of sluice that reports the HTTP version of each request),
//! which picks `h2` by ALPN. Records arrive over HTTP/2 on one shared
//! connection with the same headers, gzip and verdicts as over HTTP/1.1;
//! a server that offers only `http/1.1` still gets HTTP/1.1.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::http_out::{records, Pipeline};
use common::{eventually, read_json_file, temp_dir, test_certificates, TestCerts};
use serde_json::Value;

const T: Duration = Duration::from_secs(10);

/// A hypercorn server with TLS and the requests it wrote down.
struct H2Server {
    child: Child,
    port: u16,
    out: PathBuf,
    certs: TestCerts,
}

impl H2Server {
    /// Starts `h2_server.py` with these extra flags.
    fn start(flags: &[&str]) -> Self {
        let dir = temp_dir("h2-server");
        let certs = test_certificates(&dir);
        let port_file = dir.join("port");
        let out = dir.join("requests.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/h2_server.py");
        let child = Command::new(common::venv_python())
            .arg(&script)
            .args([&port_file, &out])
            .arg("--tls")
            .args([&certs.crt, &certs.key])
            .args(flags)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the hypercorn server");
        assert!(
            eventually(T, || std::fs::read_to_string(&port_file)
                .is_ok_and(|p| !p.is_empty())),
            "hypercorn did not start: is it installed in .venv (scripts/test)?"
        );
        let port = std::fs::read_to_string(&port_file)
            .unwrap()
            .parse()
            .unwrap();
        H2Server {
            child,
            port,
            out,
            certs,
        }
    }

    /// The `http` output's section for this server, TLS verified
    /// against the test CA.
    fn output(&self, extra: &str) -> String {
        format!(
            "    Name http\n    Host 127.0.0.1\n    Port {}\n    Format json_lines\n    \
             tls on\n    tls.verify on\n    tls.verify_hostname on\n    tls.ca_file {}\n{extra}",
            self.port,
            self.certs.ca.display()
        )
    }

    fn requests(&self) -> Vec<Value> {
        read_json_file(&self.out)
    }

    fn wait_for(&self, n: usize) -> Vec<Value> {
        eventually(T, || self.requests().len() >= n);
        self.requests()
    }
}

impl Drop for H2Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ids(request: &Value) -> Vec<u64> {
    request["body"]
        .as_str()
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[test]
fn records_arrive_over_http2_on_one_shared_connection() {
    let server = H2Server::start(&[]);
    let sluice = Pipeline::start(&server.output(
        "    Uri /ingest?src=sluice\n    Header X-Team blue\n    Http_User ann\n    \
         Http_Passwd s3cret\n    Compress gzip\n",
    ));
    for i in 0..3 {
        sluice.send(&records(i * 2..i * 2 + 2));
        server.wait_for(i + 1);
    }
    let out = sluice.stop();
    let got = server.requests();
    assert_eq!(got.len(), 3, "{}", out.stderr);

    for (i, req) in got.iter().enumerate() {
        assert_eq!(req["http_version"], "2", "{req}");
        assert_eq!(ids(req), [2 * i as u64, 2 * i as u64 + 1]);
        assert_eq!(
            (&req["method"], &req["path"]),
            (&"POST".into(), &"/ingest".into())
        );
        assert_eq!(req["query"], "src=sluice");
        let headers = &req["headers"];
        // hypercorn reports `:authority` as `host`.
        assert_eq!(headers["host"], format!("127.0.0.1:{}", server.port));
        assert_eq!(headers["content-type"], "application/x-ndjson");
        assert_eq!(headers["content-encoding"], "gzip");
        assert_eq!(headers["x-team"], "blue");
        assert_eq!(headers["authorization"], "Basic YW5uOnMzY3JldA==");
    }
    assert!(
        got.iter()
            .all(|r| r["client_port"] == got[0]["client_port"]),
        "every flush shares one HTTP/2 connection: {got:?}"
    );
}

#[test]
fn a_server_that_offers_only_http1_gets_http1() {
    let server = H2Server::start(&["--http1-only"]);
    let sluice = Pipeline::start(&server.output(""));
    for i in 0..2 {
        sluice.send(&records(i..i + 1));
        server.wait_for(i + 1);
    }
    let out = sluice.stop();
    let got = server.requests();
    assert_eq!(got.len(), 2, "{}", out.stderr);
    assert!(got.iter().all(|r| r["http_version"] == "1.1"), "{got:?}");
    assert_eq!(ids(&got[0]), [0]);
    assert_eq!(ids(&got[1]), [1]);
    assert_eq!(got[0]["client_port"], got[1]["client_port"], "kept alive");
}

#[test]
fn a_503_over_http2_is_retried_and_delivered_once() {
    let server = H2Server::start(&["--statuses", "503"]);
    let sluice = Pipeline::start(&server.output("    Retry_Limit 3\n"));
    sluice.send(&records(0..3));
    server.wait_for(2);
    std::thread::sleep(Duration::from_millis(1500));
    let out = sluice.stop();
    let got = server.requests();
    assert_eq!(
        got.len(),
        2,
        "one refused, one delivered: {got:?}\n{}",
        out.stderr
    );
    assert!(got.iter().all(|r| r["http_version"] == "2"), "{got:?}");
    assert_eq!(ids(&got[0]), [0, 1, 2]);
    assert_eq!(
        got[0]["body"], got[1]["body"],
        "the retry sends the same records"
    );
    assert!(out.stderr.contains("HTTP status 503"), "{}", out.stderr);
}

#[test]
fn a_slow_http2_answer_times_out_and_the_retry_takes_a_new_connection() {
    let server = H2Server::start(&["--delays", "4"]);
    let sluice = Pipeline::start(&server.output("    net.io_timeout 1s\n    Retry_Limit 2\n"));
    sluice.send(&records(0..2));
    let got = server.wait_for(2);
    let out = sluice.stop();
    assert_eq!(got.len(), 2, "{}", out.stderr);
    assert!(got.iter().all(|r| r["http_version"] == "2"), "{got:?}");
    assert_eq!(got[0]["body"], got[1]["body"]);
    assert_ne!(
        got[0]["client_port"], got[1]["client_port"],
        "a connection that timed out is no longer shared"
    );
    assert!(
        out.stderr.contains("no response within 1s"),
        "{}",
        out.stderr
    );
}
