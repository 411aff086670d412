//! The `http` input's HTTP/2 through the real binary, driven by curl:
//! prior knowledge (h2c) on plain TCP, `h2` by ALPN over TLS with several
//! requests multiplexed on one connection, HTTP/1.1 beside both, and
//! `http2 off` serving HTTP/1.1 only.

mod common;

use std::process::Command;

use common::{connect, free_port, temp_dir, test_certificates, Run, TestCerts};
use serde_json::json;

/// What curl saw of one transfer.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    /// `2`, `1.1`, or `0` when no answer came.
    version: String,
    /// New connections curl opened for this transfer (0: reused).
    connects: u32,
}

/// Runs curl with `args` and returns each transfer's status, version
/// and connection count.
fn curl(args: &[&str]) -> Vec<Seen> {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-m", "10"])
        .args(["-H", "Content-Type: application/json"])
        .args(["-w", "%{http_code} %{http_version} %{num_connects}\n"])
        .args(args)
        .output()
        .expect("curl is installed (scripts/test installs it)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            Seen {
                status: fields[0].parse().unwrap(),
                version: fields[1].to_owned(),
                connects: fields[2].parse().unwrap(),
            }
        })
        .collect()
}

fn seen(status: u16, version: &str, connects: u32) -> Seen {
    Seen {
        status,
        version: version.to_owned(),
        connects,
    }
}

/// sluice with an `http` input on a free port (`props` as `key=value`),
/// listening once this returns.
fn start(props: &[&str]) -> (Run, u16) {
    let port = free_port();
    let port_p = format!("port={port}");
    let mut args = vec!["-i", "http", "-p", "listen=127.0.0.1", "-p", &port_p];
    for p in props {
        args.extend(["-p", p]);
    }
    let run = Run::start(&args, None, &[]);
    drop(connect(port));
    (run, port)
}

fn tls_props(certs: &TestCerts) -> [String; 3] {
    [
        "tls=on".into(),
        format!("tls.crt_file={}", certs.crt.display()),
        format!("tls.key_file={}", certs.key.display()),
    ]
}

#[test]
fn plain_tcp_serves_h2c_with_prior_knowledge_beside_http1() {
    let (run, port) = start(&[]);
    let url = format!("http://127.0.0.1:{port}/plain");
    let h2c = curl(&["--http2-prior-knowledge", "-d", r#"{"via":"h2c"}"#, &url]);
    let http1 = curl(&["--http1.1", "-d", r#"{"via":"http1"}"#, &url]);
    let got = run.wait_for("plain", 2);
    let out = run.stop();
    assert_eq!(h2c, [seen(201, "2", 1)], "{}", out.stderr);
    assert_eq!(http1, [seen(201, "1.1", 1)]);
    assert_eq!(got, [json!({"via": "h2c"}), json!({"via": "http1"})]);
}

#[test]
fn tls_offers_h2_by_alpn_and_multiplexes_requests() {
    let dir = temp_dir("http-h2-tls");
    let certs = test_certificates(&dir);
    let props = tls_props(&certs);
    let (run, port) = start(&props.each_ref().map(String::as_str));
    let url = format!("https://localhost:{port}/");
    let ca = certs.ca.display().to_string();
    // Three transfers at once (-Z) on one connection.
    let urls = ["a", "b", "a"].map(|tag| format!("{url}{tag}"));
    let mut args = vec!["--cacert", &ca, "--http2", "-Z", "-d", r#"{"n":1}"#];
    args.extend(urls.each_ref().map(String::as_str));
    let h2 = curl(&args);
    let http1 = curl(&["--cacert", &ca, "--http1.1", "-d", r#"{"n":2}"#, &urls[1]]);
    let a = run.wait_for("a", 2);
    let b = run.wait_for("b", 2);
    let out = run.stop();

    assert_eq!(h2.len(), 3, "{}", out.stderr);
    assert!(
        h2.iter().all(|s| s.status == 201 && s.version == "2"),
        "{h2:?}"
    );
    assert_eq!(
        h2.iter().map(|s| s.connects).sum::<u32>(),
        1,
        "one connection carries all three: {h2:?}"
    );
    assert_eq!(http1, [seen(201, "1.1", 1)]);
    assert_eq!(a, [json!({"n": 1}), json!({"n": 1})]);
    assert_eq!(b, [json!({"n": 1}), json!({"n": 2})]);
}

#[test]
fn http2_off_serves_only_http1() {
    let dir = temp_dir("http-h2-off");
    let certs = test_certificates(&dir);
    let (plain, plain_port) = start(&["http2=off"]);
    let props = tls_props(&certs);
    let mut tls_props: Vec<&str> = props.each_ref().map(String::as_str).to_vec();
    tls_props.push("http2=off");
    let (tls, tls_port) = start(&tls_props);

    let plain_url = format!("http://127.0.0.1:{plain_port}/off");
    let h2c = curl(&["--http2-prior-knowledge", "-d", r#"{"n":1}"#, &plain_url]);
    let http1 = curl(&["-d", r#"{"n":2}"#, &plain_url]);
    let ca = certs.ca.display().to_string();
    let tls_url = format!("https://localhost:{tls_port}/off");
    let alpn = curl(&["--cacert", &ca, "--http2", "-d", r#"{"n":3}"#, &tls_url]);

    let plain_got = plain.wait_for("off", 1);
    let tls_got = tls.wait_for("off", 1);
    let plain_out = plain.stop();
    tls.stop();
    assert_eq!(h2c[0].status, 0, "no HTTP/2 preface is understood: {h2c:?}");
    assert_eq!(http1, [seen(201, "1.1", 1)], "{}", plain_out.stderr);
    assert_eq!(alpn, [seen(201, "1.1", 1)], "h2 is not offered by ALPN");
    assert_eq!(plain_got, [json!({"n": 2})]);
    assert_eq!(tls_got, [json!({"n": 3})]);
}
