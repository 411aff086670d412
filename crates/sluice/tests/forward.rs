//! The `forward` input through the real binary: a real Fluent client
//! library (Python fluent-logger), and hand-built frames for every mode,
//! acks, the secure-forward handshake, malformed and oversized frames,
//! TLS and Unix sockets. Records are read back from `file` outputs, one
//! file per tag.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{connect, eventually, free_port, read_json_file, spawn, temp_dir, terminate, wait};
use sluice_core::msgpack::{self, Reader, Token};
use sluice_core::EventTime;

const T: Duration = Duration::from_secs(10);

/// A running sluice with a forward input and a file output per tag.
struct Sluice {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Sluice {
    fn start(props: &[&str], out_dir: Option<&Path>) -> Self {
        Self::start_with(props, out_dir, &[])
    }

    fn start_with(props: &[&str], out_dir: Option<&Path>, extra: &[&str]) -> Self {
        let dir = temp_dir("forward");
        let port = free_port();
        let out = out_dir.map_or(dir.clone(), Path::to_path_buf);
        let port_prop = format!("port={port}");
        let path_prop = format!("path={}", out.display());
        let mut args = vec!["-i", "forward", "-p", "listen=127.0.0.1", "-p", &port_prop];
        for p in props {
            args.extend(["-p", p]);
        }
        args.extend([
            "-o",
            "file",
            "-m",
            "*",
            "-p",
            &path_prop,
            "-p",
            "format=plain",
        ]);
        args.extend(["-f", "0.2"]);
        args.extend(extra);
        Sluice {
            child: spawn(&args),
            dir: out,
            port,
        }
    }

    fn records(&self, tag: &str) -> Vec<serde_json::Value> {
        read_json_file(&self.dir.join(tag))
    }

    /// Waits until the file of `tag` holds `n` records and returns them.
    fn wait_for(&self, tag: &str, n: usize) -> Vec<serde_json::Value> {
        eventually(T, || self.records(tag).len() >= n);
        self.records(tag)
    }

    fn stop(self) -> common::Output {
        terminate(&self.child);
        wait(self.child, Duration::from_secs(20))
    }
}

fn record(buf: &mut Vec<u8>, pairs: &[(&str, &str)]) {
    msgpack::write_map_len(buf, pairs.len());
    for (k, v) in pairs {
        msgpack::write_str(buf, k);
        msgpack::write_str(buf, v);
    }
}

fn message(tag: &str, n: &str) -> Vec<u8> {
    let mut f = Vec::new();
    msgpack::write_array_len(&mut f, 3);
    msgpack::write_str(&mut f, tag);
    EventTime::new(1_700_000_000, 42).write(&mut f);
    record(&mut f, &[("n", n)]);
    f
}

/// `[time, record]` entries back to back, times in varied forms.
fn entries(from: usize, to: usize) -> Vec<u8> {
    let mut e = Vec::new();
    for i in from..to {
        msgpack::write_array_len(&mut e, 2);
        match i % 3 {
            0 => EventTime::new(1_700_000_000 + i as i64, 7).write(&mut e),
            1 => msgpack::write_uint(&mut e, 1_700_000_000 + i as u64),
            _ => {
                msgpack::write_array_len(&mut e, 2);
                msgpack::write_f64(&mut e, 1_700_000_000.5);
                record(&mut e, &[("m", "meta")]);
            }
        }
        record(&mut e, &[("n", &i.to_string())]);
    }
    e
}

/// `[tag, payload, {options}]` with the payload as bin or str.
fn packed(tag: &str, payload: &[u8], as_str: bool, options: &[(&str, &str)]) -> Vec<u8> {
    let mut f = Vec::new();
    msgpack::write_array_len(&mut f, if options.is_empty() { 2 } else { 3 });
    msgpack::write_str(&mut f, tag);
    if as_str {
        msgpack::write_str_bytes(&mut f, payload);
    } else {
        msgpack::write_bin(&mut f, payload);
    }
    if !options.is_empty() {
        record(&mut f, options);
    }
    f
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn ns(records: &[serde_json::Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["n"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn range(from: usize, to: usize) -> Vec<String> {
    (from..to).map(|i| i.to_string()).collect()
}

/// Reads one MessagePack value from the stream (an ack or a PONG).
fn read_value(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 512];
    loop {
        if let Ok(v) = Reader::new(&buf).skip() {
            return Some(v.to_vec());
        }
        match stream.read(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&byte[..n]),
        }
    }
}

fn python_script(script: &str) {
    let status = Command::new(common::venv_python())
        .arg("-c")
        .arg(script)
        .status()
        .expect("run python");
    assert!(status.success(), "python client failed");
}

/// Runs the npm fluent-logger peer (`tests/peers`, installed by
/// `scripts/test`); true when every record was acked.
fn node_client(port: u16, mode: &str, count: usize, shared_key: Option<&str>) -> bool {
    let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers");
    assert!(
        peers.join("node_modules/fluent-logger").exists(),
        "run scripts/test once, or `npm install` in {}",
        peers.display()
    );
    let count = count.to_string();
    let mut args = vec!["forward_client.js", &port.to_string(), mode, &count]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    args.extend(shared_key.map(str::to_owned));
    Command::new("node")
        .args(&args)
        .current_dir(&peers)
        .status()
        .expect("run node")
        .success()
}

#[test]
fn node_fluent_logger_in_every_event_mode_with_acks() {
    let s = Sluice::start(&[], None);
    connect(s.port);
    for mode in ["Message", "PackedForward", "CompressedPackedForward"] {
        assert!(node_client(s.port, mode, 200, None), "{mode} was not acked");
    }
    let tags = [
        "node.Message",
        "node.PackedForward",
        "node.CompressedPackedForward",
    ];
    let got: Vec<_> = tags.iter().map(|t| s.wait_for(t, 200)).collect();
    let out = s.stop();
    for (tag, records) in tags.iter().zip(&got) {
        let ns: Vec<i64> = records.iter().map(|r| r["n"].as_i64().unwrap()).collect();
        assert_eq!(ns, (0..200).collect::<Vec<_>>(), "{tag}: {}", out.stderr);
    }

    let s = Sluice::start(&["shared_key=node-secret", "self_hostname=sluice"], None);
    connect(s.port);
    assert!(node_client(
        s.port,
        "PackedForward",
        20,
        Some("node-secret")
    ));
    assert!(!node_client(s.port, "PackedForward", 1, Some("wrong")));
    let got = s.wait_for("node.PackedForward", 20);
    let out = s.stop();
    assert_eq!(got.len(), 20, "{}", out.stderr);
}

#[test]
fn fluent_logger_message_mode_keeps_records_and_tags() {
    let s = Sluice::start(&["tag_prefix=in."], None);
    connect(s.port);
    python_script(&format!(
        r#"
from fluent import sender
a = sender.FluentSender('app', host='127.0.0.1', port={port}, nanosecond_precision=True)
for i in range(5):
    assert a.emit('web', {{'n': str(i), 'msg': 'hello'}}), a.last_error
a.close()
b = sender.FluentSender('sys', host='127.0.0.1', port={port})
assert b.emit_with_time('db', 1700000000, {{'n': 'int-time'}}), b.last_error
b.close()
"#,
        port = s.port
    ));
    let web = s.wait_for("in.app.web", 5);
    let db = s.wait_for("in.sys.db", 1);
    let out = s.stop();
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(ns(&web), range(0, 5), "{}", out.stderr);
    assert!(web.iter().all(|r| r["msg"] == "hello"));
    assert_eq!(ns(&db), ["int-time"]);
}

#[test]
fn fluent_logger_over_a_unix_socket() {
    let sock_dir = temp_dir("forward-unix");
    let sock = sock_dir.join("fwd.sock");
    let unix = format!("unix_path={}", sock.display());
    let s = Sluice::start(&[&unix, "unix_perm=0600"], None);
    assert!(eventually(T, || sock.exists()), "socket never appeared");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    python_script(&format!(
        r#"
from fluent import sender
a = sender.FluentSender('unix', host='unix://{path}', nanosecond_precision=True)
for i in range(3):
    assert a.emit('t', {{'n': str(i)}}), a.last_error
a.close()
"#,
        path = sock.display()
    ));
    let got = s.wait_for("unix.t", 3);
    let out = s.stop();
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(ns(&got), range(0, 3));
    assert!(!sock.exists(), "socket file removed at exit");
}

#[test]
fn forward_and_packed_modes_in_every_form() {
    let s = Sluice::start(&[], None);
    let mut c = connect(s.port);
    // Forward mode: [tag, [entries...]]
    let mut f = Vec::new();
    msgpack::write_array_len(&mut f, 2);
    msgpack::write_str(&mut f, "fwd");
    msgpack::write_array_len(&mut f, 3);
    f.extend(entries(0, 3));
    c.write_all(&f).unwrap();
    // PackedForward as bin and as str, then compressed in two members.
    c.write_all(&packed("bin", &entries(0, 4), false, &[]))
        .unwrap();
    c.write_all(&packed("str", &entries(0, 4), true, &[]))
        .unwrap();
    let mut two = gzip(&entries(0, 5));
    two.extend(gzip(&entries(5, 9)));
    c.write_all(&packed("gz", &two, false, &[("compressed", "gzip")]))
        .unwrap();
    // Message mode split across writes.
    let m = message("msg", "split");
    c.write_all(&m[..5]).unwrap();
    c.flush().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    c.write_all(&m[5..]).unwrap();
    drop(c);

    let fwd = s.wait_for("fwd", 3);
    let bin = s.wait_for("bin", 4);
    let str_ = s.wait_for("str", 4);
    let gz = s.wait_for("gz", 9);
    let msg = s.wait_for("msg", 1);
    let out = s.stop();
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(ns(&fwd), range(0, 3), "{}", out.stderr);
    assert_eq!(ns(&bin), range(0, 4));
    assert_eq!(ns(&str_), range(0, 4));
    assert_eq!(ns(&gz), range(0, 9), "both gzip members");
    assert_eq!(ns(&msg), ["split"]);
}

#[test]
fn chunk_option_is_acked_only_after_delivery() {
    let root = temp_dir("forward-ack");
    let target = root.join("later");
    let conf = common::write_file(
        &root,
        "sched.conf",
        "[SERVICE]\n    scheduler.base 1\n    scheduler.cap 1\n",
    );
    let conf = conf.to_str().unwrap().to_owned();
    let s = Sluice::start_with(
        &[],
        Some(&target),
        &["-c", &conf, "-p", "retry_limit=no_limits"],
    );
    let mut c = connect(s.port);
    let frame = packed(
        "acked",
        &entries(0, 3),
        false,
        &[("chunk", "Y2h1bmsx"), ("size", "3")],
    );
    c.write_all(&frame).unwrap();

    // The destination is missing: no delivery, so no ack.
    c.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut probe = [0u8; 1];
    // A signal meant for another test's child may interrupt the read.
    let early = loop {
        match c.read(&mut probe) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    if !matches!(&early, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut)
    {
        let out = s.stop();
        panic!("ack sent before delivery: {early:?} {}", out.stderr);
    }

    std::fs::create_dir_all(&target).unwrap();
    c.set_read_timeout(Some(T)).unwrap();
    let ack = read_value(&mut c).expect("an ack after delivery");
    let delivered = s.records("acked");
    let out = s.stop();
    let mut r = Reader::new(&ack);
    assert_eq!(r.token().unwrap(), Token::Map(1));
    assert_eq!(r.token().unwrap(), Token::Str(b"ack"));
    assert_eq!(r.token().unwrap(), Token::Str(b"Y2h1bmsx"));
    assert_eq!(
        ns(&delivered),
        range(0, 3),
        "delivered before the ack: {}",
        out.stderr
    );
}

fn ping(helo: &[u8], key: &str, user: &str, password: &str) -> Vec<u8> {
    // ["HELO", {"nonce": n, "auth": salt, "keepalive": true}]
    let mut r = Reader::new(helo);
    assert_eq!(r.token().unwrap(), Token::Array(2));
    assert_eq!(r.token().unwrap(), Token::Str(b"HELO"));
    let Token::Map(n) = r.token().unwrap() else {
        panic!("HELO options are not a map");
    };
    let (mut nonce, mut salt) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let key = r.token().unwrap();
        let value = r.token().unwrap();
        match (key, value) {
            (Token::Str(b"nonce"), Token::Bin(v) | Token::Str(v)) => nonce = v.to_vec(),
            (Token::Str(b"auth"), Token::Bin(v) | Token::Str(v)) => salt = v.to_vec(),
            _ => {}
        }
    }
    assert_eq!(nonce.len(), 16);
    let hex = |parts: &[&[u8]]| {
        let joined: Vec<u8> = parts.concat();
        let d = sha512(&joined);
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let digest = hex(&[b"cs", b"client-host", &nonce, key.as_bytes()]);
    let pw = hex(&[&salt, user.as_bytes(), password.as_bytes()]);
    let mut f = Vec::new();
    msgpack::write_array_len(&mut f, 6);
    for s in ["PING", "client-host", "cs", &digest, user, &pw] {
        msgpack::write_str(&mut f, s);
    }
    f
}

/// SHA-512 through `openssl dgst`, so the test does not share the
/// implementation it checks.
fn sha512(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha512", "-binary"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.stdout.len(), 64);
    out.stdout
}

fn pong_ok(pong: &[u8]) -> bool {
    let mut r = Reader::new(pong);
    assert_eq!(r.token().unwrap(), Token::Array(5));
    assert_eq!(r.token().unwrap(), Token::Str(b"PONG"));
    r.token().unwrap() == Token::Bool(true)
}

#[test]
fn shared_key_handshake_admits_the_right_key_only() {
    let s = Sluice::start(
        &[
            "shared_key=s3cret",
            "self_hostname=sluice-test",
            "security.users=alice pw1",
        ],
        None,
    );

    let mut good = connect(s.port);
    let helo = read_value(&mut good).expect("HELO");
    good.write_all(&ping(&helo, "s3cret", "alice", "pw1"))
        .unwrap();
    let pong = read_value(&mut good).expect("PONG");
    assert!(pong_ok(&pong));
    good.write_all(&message("auth.ok", "1")).unwrap();

    let mut bad = connect(s.port);
    let helo = read_value(&mut bad).expect("HELO");
    bad.write_all(&ping(&helo, "guess", "alice", "pw1"))
        .unwrap();
    let pong = read_value(&mut bad).expect("PONG");
    assert!(!pong_ok(&pong));
    let _ = bad.write_all(&message("auth.bad", "1"));
    assert!(read_value(&mut bad).is_none(), "closed after a failed PONG");

    let mut wrong_user = connect(s.port);
    let helo = read_value(&mut wrong_user).expect("HELO");
    wrong_user
        .write_all(&ping(&helo, "s3cret", "alice", "nope"))
        .unwrap();
    assert!(!pong_ok(&read_value(&mut wrong_user).expect("PONG")));

    let ok = s.wait_for("auth.ok", 1);
    drop(good);
    let dir = s.dir.clone();
    let out = s.stop();
    assert_eq!(ns(&ok), ["1"]);
    assert!(
        !dir.join("auth.bad").exists(),
        "a refused peer's events got in"
    );
    assert!(out.stderr.contains("shared_key mismatch"), "{}", out.stderr);
    assert!(
        out.stderr.contains("username/password mismatch"),
        "{}",
        out.stderr
    );
}

#[test]
fn malformed_packed_forward_is_rejected_and_earlier_frames_are_kept() {
    let s = Sluice::start(&[], None);
    let mut c = connect(s.port);
    c.write_all(&[0x90]).unwrap(); // a TCP heartbeat, not an error
    c.write_all(&message("keep", "before")).unwrap();
    let mut garbage = entries(0, 2);
    garbage.extend_from_slice(&[0xc1, 0xc1, 0xc1]);
    c.write_all(&packed("keep", &garbage, false, &[])).unwrap();
    c.write_all(&message("keep", "after")).unwrap();
    drop(c);
    let got = s.wait_for("keep", 2);
    let out = s.stop();
    assert_eq!(ns(&got), ["before", "after"], "{}", out.stderr);
    let rejected = out.stderr.matches("forward frame rejected").count();
    assert_eq!(rejected, 1, "only the bad frame: {}", out.stderr);
}

#[test]
fn frame_over_buffer_max_size_disconnects_and_keeps_what_came_before() {
    let s = Sluice::start(&["buffer_chunk_size=16k", "buffer_max_size=64k"], None);
    let mut c = connect(s.port);
    c.write_all(&message("big", "first")).unwrap();
    c.write_all(&packed("big", &entries(0, 2), false, &[]))
        .unwrap();
    let huge = "x".repeat(200 * 1024);
    let mut f = Vec::new();
    msgpack::write_array_len(&mut f, 3);
    msgpack::write_str(&mut f, "big");
    msgpack::write_uint(&mut f, 1);
    record(&mut f, &[("n", &huge)]);
    let _ = c.write_all(&f);
    assert!(read_value(&mut c).is_none(), "connection closed");
    let got = s.wait_for("big", 3);
    let out = s.stop();
    assert_eq!(ns(&got), ["first", "0", "1"], "{}", out.stderr);
    assert!(
        out.stderr.contains("frame larger than the buffer limit"),
        "{}",
        out.stderr
    );
}

/// A CA and a certificate for localhost/127.0.0.1 signed by it, usable by
/// a server and a client.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let certs = common::test_certificates(dir);
    (certs.ca, certs.crt, certs.key)
}

/// Sends `data` through `openssl s_client` and closes.
fn send_tls(port: u16, data: &[u8], client_cert: Option<(&Path, &Path)>) -> bool {
    let (crt, key);
    let mut extra = vec!["-tls1_2"];
    if let Some((c, k)) = client_cert {
        crt = c.display().to_string();
        key = k.display().to_string();
        extra.extend(["-cert", &crt, "-key", &key]);
    }
    s_client(port, data, &extra)
}

/// Runs `openssl s_client` with `extra` flags, writes `data` and closes;
/// true when the handshake and the write succeeded.
fn s_client(port: u16, data: &[u8], extra: &[&str]) -> bool {
    connect(port);
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &addr, "-quiet", "-no_ign_eof"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(data);
    drop(stdin);
    child.wait().map(|s| s.success()).unwrap_or(false)
}

#[test]
fn tls_listener_with_and_without_client_certificates() {
    let dir = temp_dir("forward-tls");
    let (ca, crt, key) = certificates(&dir);
    let crt_p = format!("tls.crt_file={}", crt.display());
    let key_p = format!("tls.key_file={}", key.display());
    let s = Sluice::start(&["tls=on", &crt_p, &key_p], None);
    send_tls(s.port, &message("tls.plain", "1"), None);
    let got = s.wait_for("tls.plain", 1);
    let out = s.stop();
    assert_eq!(ns(&got), ["1"], "{}", out.stderr);

    let ca_p = format!("tls.ca_file={}", ca.display());
    let s = Sluice::start(
        &["tls=on", &crt_p, &key_p, &ca_p, "tls.verify_client_cert=on"],
        None,
    );
    send_tls(s.port, &message("tls.anon", "no-cert"), None);
    send_tls(s.port, &message("tls.mutual", "1"), Some((&crt, &key)));
    let got = s.wait_for("tls.mutual", 1);
    let anon = s.records("tls.anon");
    let out = s.stop();
    assert_eq!(ns(&got), ["1"], "{}", out.stderr);
    assert!(anon.is_empty(), "a client without a certificate got in");
    assert!(
        out.stderr.contains("tls handshake failed"),
        "{}",
        out.stderr
    );
}

#[test]
fn tls_matrix_with_openssl_s_client() {
    let dir = temp_dir("forward-tls-matrix");
    let (ca, crt, key) = certificates(&dir);
    let other = temp_dir("forward-tls-other-ca");
    let (other_ca, _, _) = certificates(&other);
    let crt_p = format!("tls.crt_file={}", crt.display());
    let key_p = format!("tls.key_file={}", key.display());
    let s = Sluice::start(&["tls=on", &crt_p, &key_p], None);
    let verify = |ca: &Path| {
        vec![
            "-CAfile".to_owned(),
            ca.display().to_string(),
            "-verify_return_error".to_owned(),
            "-servername".to_owned(),
            "localhost".to_owned(),
        ]
    };

    // The right CA verifies sluice's certificate.
    let args = verify(&ca);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(s_client(s.port, &message("tls.ok", "1"), &args));
    // A client trusting another CA refuses sluice and sends nothing.
    let args = verify(&other_ca);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(!s_client(s.port, &message("tls.wrong_ca", "1"), &args));
    // TLS 1.1 is refused by sluice (the client is allowed to offer it).
    let old = ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"];
    assert!(!s_client(s.port, &message("tls.old", "1"), &old));
    // TLS 1.3 works as well as 1.2.
    assert!(s_client(s.port, &message("tls.v13", "1"), &["-tls1_3"]));

    let ok = s.wait_for("tls.ok", 1);
    let v13 = s.wait_for("tls.v13", 1);
    let refused = [s.records("tls.wrong_ca"), s.records("tls.old")];
    let out = s.stop();
    assert_eq!(ns(&ok), ["1"], "{}", out.stderr);
    assert_eq!(ns(&v13), ["1"], "{}", out.stderr);
    assert!(refused.iter().all(Vec::is_empty), "{refused:?}");
    assert!(
        out.stderr.contains("tls handshake failed"),
        "{}",
        out.stderr
    );
}
