//! A strict HTTP/1.1 receiver for the HTTP output tests: it reads each
//! request byte by byte as the protocol says (request line, headers, a
//! `Content-Length` body, keep-alive), records it, and answers what the
//! test's responder says. Anything off-protocol is recorded as a
//! violation, which every test asserts is empty.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The body as sent (still gzipped when it was).
    pub body: Vec<u8>,
    /// Which connection it came on, numbered from 0 in accept order.
    pub connection: usize,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body, gunzipped when `Content-Encoding: gzip` says so.
    pub fn decoded(&self) -> Vec<u8> {
        if self.header("content-encoding") != Some("gzip") {
            return self.body.clone();
        }
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&self.body[..])
            .read_to_end(&mut out)
            .expect("a valid gzip body");
        out
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.decoded()).expect("a UTF-8 body")
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Answer {
    pub fn status(status: u16, body: &str) -> Self {
        Answer {
            status,
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }
}

type Responder = dyn Fn(&Received, usize) -> Answer + Send + Sync;

#[derive(Default)]
struct State {
    received: Vec<Received>,
    violations: Vec<String>,
}

/// A receiver on 127.0.0.1 with an OS-chosen port.
pub struct HttpSink {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl HttpSink {
    /// Answers each request (and its number, from 0) as `responder` says.
    pub fn start(responder: impl Fn(&Received, usize) -> Answer + Send + Sync + 'static) -> Self {
        Self::start_with(None, responder)
    }

    /// The same over TLS with this certificate chain and key (PEM files).
    pub fn start_tls(
        crt: &std::path::Path,
        key: &std::path::Path,
        responder: impl Fn(&Received, usize) -> Answer + Send + Sync + 'static,
    ) -> Self {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(crt)
            .expect("certificate file")
            .collect::<Result<Vec<_>, _>>()
            .expect("certificates");
        let key = PrivateKeyDer::from_pem_file(key).expect("key file");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("tls versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("certificate and key");
        Self::start_with(Some(Arc::new(config)), responder)
    }

    fn start_with(
        tls: Option<Arc<rustls::ServerConfig>>,
        responder: impl Fn(&Received, usize) -> Answer + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let responder: Arc<Responder> = Arc::new(responder);
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for (connection, stream) in listener.incoming().flatten().enumerate() {
                let state = Arc::clone(&shared);
                let responder = Arc::clone(&responder);
                let tls = tls.clone();
                std::thread::spawn(move || match tls {
                    None => serve(stream, connection, &state, &*responder),
                    Some(config) => {
                        let session = rustls::ServerConnection::new(config).expect("tls session");
                        let stream = rustls::StreamOwned::new(session, stream);
                        serve(stream, connection, &state, &*responder)
                    }
                });
            }
        });
        HttpSink { port, state }
    }

    /// Answers 200 `{}` to everything.
    pub fn ok() -> Self {
        Self::start(|_, _| Answer::status(200, "{}"))
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    /// Waits until `n` requests arrived (or `timeout`), then returns all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        super::eventually(timeout, || self.received().len() >= n);
        self.received()
    }
}

fn serve<S: Read + Write>(
    stream: S,
    connection: usize,
    state: &Mutex<State>,
    responder: &Responder,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let request = match read_request(&mut reader, connection) {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(violation) => {
                state.lock().unwrap().violations.push(violation);
                return;
            }
        };
        let n = {
            let mut state = state.lock().unwrap();
            state.received.push(request.clone());
            state.received.len() - 1
        };
        let answer = responder(&request, n);
        std::thread::sleep(answer.delay);
        let head = format!(
            "HTTP/1.1 {} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            answer.status,
            answer.body.len()
        );
        let writer = reader.get_mut();
        let sent = writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(answer.body.as_bytes()))
            .and_then(|()| writer.flush());
        if sent.is_err() {
            return;
        }
    }
}

/// Reads one request; `Ok(None)` when the client closed between requests.
fn read_request(
    reader: &mut BufReader<impl Read>,
    connection: usize,
) -> Result<Option<Received>, String> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => return Ok(None),
        Ok(_) => {}
        // A TLS client that closes without close_notify, or a reset.
        Err(_) if line.is_empty() => return Ok(None),
        Err(e) => return Err(e.to_string()),
    }
    let line = line
        .strip_suffix("\r\n")
        .ok_or_else(|| format!("request line not ended by CRLF: {line:?}"))?;
    let parts: Vec<&str> = line.split(' ').collect();
    if parts.len() != 3 || parts[2] != "HTTP/1.1" {
        return Err(format!("bad request line {line:?}"));
    }
    let headers = read_headers(reader)?;
    let mut received = Received {
        method: parts[0].to_owned(),
        path: parts[1].to_owned(),
        headers,
        body: Vec::new(),
        connection,
    };
    if received.header("host").is_none() {
        return Err("no Host header".into());
    }
    if received.header("transfer-encoding").is_some() {
        return Err("chunked body; sluice always knows the length".into());
    }
    let length: usize = received
        .header("content-length")
        .ok_or("no Content-Length")?
        .parse()
        .map_err(|_| "bad Content-Length".to_owned())?;
    received.body = vec![0; length];
    reader
        .read_exact(&mut received.body)
        .map_err(|e| format!("body shorter than Content-Length; {e}"))?;
    Ok(Some(received))
}

fn read_headers(reader: &mut BufReader<impl Read>) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let line = line
            .strip_suffix("\r\n")
            .ok_or_else(|| format!("header not ended by CRLF: {line:?}"))?;
        if line.is_empty() {
            return Ok(headers);
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header {line:?}"))?;
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
}
