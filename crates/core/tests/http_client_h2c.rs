//! The HTTP client's `http2` key on plain TCP, against hypercorn
//! (`crates/sluice/tests/peers/h2_server.py`, which reports the HTTP
//! version of each request): `force` speaks HTTP/2 with prior knowledge
//! (h2c), `on` stays on HTTP/1.1. No output of sluice takes the key yet
//! (Fluent Bit's http, es, loki and splunk outputs have none), so this is
//! tested on the client itself rather than through the binary; the TLS
//! side is tested end to end in `crates/sluice/tests/outputs_http2.rs`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use sluice_core::config::props::join_props;
use sluice_core::config::{Origin, PluginConfig, PropKind, Property, Section, SectionKind};
use sluice_core::net::http_client::{HttpClient, HttpRequest, HTTP2_PROP, HTTP_OUTPUT_NET_PROPS};

const OWN: &[Property] = &[
    Property::new("host", PropKind::Str, Some("127.0.0.1"), "Server address"),
    Property::new("port", PropKind::Int, Some("80"), "Server port"),
    HTTP2_PROP,
];
const PROPS: [Property; OWN.len() + HTTP_OUTPUT_NET_PROPS.len()] =
    join_props(OWN, &HTTP_OUTPUT_NET_PROPS);

/// hypercorn on plain TCP, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Server {
    fn start() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = root.join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/test once",
            python.display()
        );
        let dir = std::env::temp_dir().join(format!("sluice-h2c-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (port_file, out) = (dir.join("port"), dir.join("requests.jsonl"));
        let child = Command::new(python)
            .arg(root.join("crates/sluice/tests/peers/h2_server.py"))
            .args([&port_file, &out])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the hypercorn server");
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            let text = std::fs::read_to_string(&port_file).unwrap_or_default();
            if let Ok(port) = text.parse() {
                break port;
            }
            assert!(Instant::now() < deadline, "hypercorn did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        Server { child, port, out }
    }

    /// The HTTP versions of the requests it got, in order.
    fn versions(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["http_version"].as_str().unwrap().to_owned()
            })
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(port: u16, http2: Option<&str>) -> HttpClient {
    let mut section = Section::new(SectionKind::Output, Origin::new("t.conf", 1));
    section.push("port", port.to_string(), Origin::new("t.conf", 2));
    if let Some(value) = http2 {
        section.push("http2", value, Origin::new("t.conf", 3));
    }
    let cfg = PluginConfig::new(&section, "t", "t.0".into(), &[&PROPS]).unwrap();
    HttpClient::from_config(&cfg).unwrap()
}

async fn post(client: &HttpClient) -> u16 {
    let request = HttpRequest {
        method: Method::POST,
        path: "/in".into(),
        headers: Vec::new(),
        body: Bytes::from_static(b"{\"id\":1}\n"),
    };
    client.send(&request).await.unwrap().status.as_u16()
}

#[tokio::test]
async fn force_speaks_h2c_and_on_stays_on_http1_over_plain_tcp() {
    let server = Server::start();
    let forced = client(server.port, Some("force"));
    assert_eq!(post(&forced).await, 200);
    assert_eq!(post(&forced).await, 200);
    assert_eq!(post(&client(server.port, None)).await, 200);
    assert_eq!(server.versions(), ["2", "2", "1.1"]);
}
