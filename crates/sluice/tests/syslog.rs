//! The `syslog` input through the real binary, fed by real senders:
//! util-linux `logger` over UDP, TCP (newline and octet-counted framing)
//! and Unix datagram and stream sockets, a private `rsyslogd` forwarding
//! with both TCP framings, `openssl s_client` over TLS, and raw sockets
//! for the keys, multi-line frames, oversized frames and unparsed lines.

mod common;

use std::io::Write;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{
    connect, eventually, free_port, free_udp_port, read_json_file, spawn, temp_dir, terminate,
    wait, write_file,
};
use serde_json::Value;

const T: Duration = Duration::from_secs(10);

/// A running sluice whose records land in one file per tag.
struct Run {
    child: Child,
    dir: PathBuf,
}

impl Run {
    /// Starts sluice with `inputs`, flags separated by white space.
    fn start(inputs: &str) -> Self {
        Run::start_into(inputs, temp_dir("syslog"))
    }

    /// Starts sluice writing into `dir`, which may not exist yet (the
    /// file output then fails and retries).
    fn start_into(inputs: &str, dir: PathBuf) -> Self {
        let path = format!("path={}", dir.display());
        let mut args: Vec<&str> = inputs.split_whitespace().collect();
        args.extend(["-o", "file", "-m", "*", "-p", &path, "-p", "format=plain"]);
        args.extend(["-f", "0.2"]);
        Run {
            child: spawn(&args),
            dir,
        }
    }

    fn records(&self, tag: &str) -> Vec<Value> {
        read_json_file(&self.dir.join(tag))
    }

    /// Waits until `tag` has a record whose `key` holds `text`.
    fn wait_for(&self, tag: &str, key: &str, text: &str) -> Vec<Value> {
        eventually(T, || has(&self.records(tag), key, text));
        self.records(tag)
    }

    fn stop(self) -> common::Output {
        terminate(&self.child);
        wait(self.child, Duration::from_secs(20))
    }
}

fn has(records: &[Value], key: &str, text: &str) -> bool {
    find(records, key, text).is_some()
}

fn find<'a>(records: &'a [Value], key: &str, text: &str) -> Option<&'a Value> {
    records
        .iter()
        .find(|r| r[key].as_str().is_some_and(|v| v.contains(text)))
}

/// Runs util-linux `logger` with `flags` (separated by white space) and
/// `message`, and checks it succeeded.
fn logger(flags: &str, message: &str) {
    let args: Vec<&str> = flags.split_whitespace().collect();
    let out = Command::new("logger")
        .args(&args)
        .arg(message)
        .output()
        .expect("logger (util-linux) is installed; scripts/test installs it");
    assert!(
        out.status.success(),
        "logger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends `logger` messages over UDP until one arrives, so the test knows
/// the socket is bound; returns the records then.
fn udp_ready(run: &Run, port: u16, tag: &str, format: &str) {
    let flags = format!("-n 127.0.0.1 -P {port} -d {format} -t probe");
    let ready = eventually(T, || {
        logger(&flags, "ready");
        std::thread::sleep(Duration::from_millis(100));
        has(&run.records(tag), "ident", "probe")
    });
    assert!(ready, "the udp input never answered");
}

fn wait_for_path(path: &Path) {
    assert!(
        eventually(T, || path.exists()),
        "{} never appeared",
        path.display()
    );
}

#[test]
fn logger_over_udp_in_rfc5424_and_rfc3164() {
    let (a, b) = (free_udp_port(), free_udp_port());
    let run = Run::start(&format!(
        "-i syslog -p mode=udp -p listen=127.0.0.1 -p port={a} -t new \
         -i syslog -p mode=udp -p listen=127.0.0.1 -p port={b} -t old \
            -p parser=syslog-rfc3164"
    ));
    udp_ready(&run, a, "new", "--rfc5424");
    udp_ready(&run, b, "old", "--rfc3164");
    logger(
        &format!("-n 127.0.0.1 -P {a} -d --rfc5424 -t app5424 -p local0.err -i"),
        "hello five four two four",
    );
    logger(
        &format!("-n 127.0.0.1 -P {b} -d --rfc3164 -t app3164"),
        "hello three one six four",
    );

    let new = run.wait_for("new", "ident", "app5424");
    let old = run.wait_for("old", "ident", "app3164");
    let out = run.stop();
    let rec = find(&new, "ident", "app5424").unwrap_or_else(|| panic!("{}", out.stderr));
    assert_eq!(rec["message"], "hello five four two four");
    assert_eq!(rec["pri"], "131", "local0.err is 16*8+3");
    assert!(rec["pid"].is_u64(), "logger -i sends its pid: {rec}");
    assert!(rec["time"].as_str().unwrap().contains('T'), "{rec}");
    let rec = find(&old, "ident", "app3164").unwrap_or_else(|| panic!("{}", out.stderr));
    assert_eq!(rec["message"], "hello three one six four");
    assert_eq!(rec["pri"], "13");
    assert!(rec["host"].is_string(), "{rec}");
}

#[test]
fn logger_over_tcp_with_newline_and_octet_counted_frames() {
    let (a, b) = (free_port(), free_port());
    let run = Run::start(&format!(
        "-i syslog -p mode=tcp -p listen=127.0.0.1 -p port={a} -t new \
         -i syslog -p mode=tcp -p listen=127.0.0.1 -p port={b} -t old \
            -p parser=syslog-rfc3164"
    ));
    connect(a);
    connect(b);
    let tcp5424 = format!("-n 127.0.0.1 -P {a} -T --rfc5424");
    logger(&format!("{tcp5424} -t lines"), "newline framed");
    logger(
        &format!("{tcp5424} --octet-count -t counted"),
        "octet counted",
    );
    let tcp3164 = format!("-n 127.0.0.1 -P {b} -T --rfc3164");
    logger(&format!("{tcp3164} -t bsd"), "bsd newline framed");
    logger(
        &format!("{tcp3164} --octet-count -t bsdcount"),
        "bsd counted",
    );

    run.wait_for("new", "ident", "counted");
    let new = run.wait_for("new", "ident", "lines");
    run.wait_for("old", "ident", "bsdcount");
    let old = run.wait_for("old", "ident", "bsd");
    let out = run.stop();
    let message = |records: &[Value], ident: &str| {
        let rec =
            find(records, "ident", ident).unwrap_or_else(|| panic!("{ident}: {}", out.stderr));
        assert!(rec.get("log").is_none(), "parsed: {rec}");
        rec["message"].as_str().unwrap().to_owned()
    };
    assert_eq!(message(&new, "lines"), "newline framed");
    assert_eq!(message(&new, "counted"), "octet counted");
    assert_eq!(message(&old, "bsd"), "bsd newline framed");
    assert_eq!(message(&old, "bsdcount"), "bsd counted");
    assert!(!out.stderr.contains("do not match"), "{}", out.stderr);
}

#[test]
fn logger_to_unix_datagram_and_stream_sockets() {
    let dir = temp_dir("syslog-unix");
    let (dgram, stream) = (dir.join("dgram.sock"), dir.join("stream.sock"));
    let (d, s) = (dgram.display(), stream.display());
    let run = Run::start(&format!(
        "-i syslog -p path={d} -p unix_perm=0600 -t dgram \
         -i syslog -p mode=unix_tcp -p path={s} -t stream"
    ));
    wait_for_path(&dgram);
    wait_for_path(&stream);
    logger(
        &format!("-u {d} -d --socket-errors=on -t viadgram"),
        "local datagram",
    );
    let to_stream = format!("-u {s} -T --socket-errors=on -t viastream");
    logger(&to_stream, "local stream one");
    logger(&format!("{to_stream} --octet-count"), "local stream two");

    let dgram_recs = run.wait_for("dgram", "ident", "viadgram");
    run.wait_for("stream", "message", "local stream two");
    let stream_recs = run.wait_for("stream", "message", "local stream one");
    let mode = std::fs::metadata(&dgram).map(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o777
    });
    let out = run.stop();
    let rec = find(&dgram_recs, "ident", "viadgram").unwrap_or_else(|| panic!("{}", out.stderr));
    assert_eq!(
        rec["message"], "local datagram",
        "syslog-rfc3164-local by default"
    );
    assert!(rec.get("host").is_none(), "{rec}");
    assert_eq!(mode.ok(), Some(0o600));
    assert!(
        has(&stream_recs, "message", "local stream one"),
        "{}",
        out.stderr
    );
    assert!(
        !dgram.exists() && !stream.exists(),
        "socket files are removed at exit"
    );
}

/// A private rsyslogd: reads UDP on `listen`, forwards the messages of
/// program `sluicetest` to `traditional` (newline framing, RFC 3164) and
/// `counted` (octet counting, RFC 5424). It loads no other module, so it
/// never touches /dev/log or the system's logs.
fn start_rsyslogd(dir: &Path, listen: u16, traditional: u16, counted: u16) -> Child {
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let conf = format!(
        r#"global(workDirectory="{work}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{listen}")
if $programname == "sluicetest" then {{
    action(type="omfwd" target="127.0.0.1" port="{traditional}" protocol="tcp"
           TCP_Framing="traditional")
    action(type="omfwd" target="127.0.0.1" port="{counted}" protocol="tcp"
           TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
}}
"#,
        work = work.display()
    );
    let conf = write_file(dir, "rsyslog.conf", &conf);
    let pid = dir.join("rsyslogd.pid");
    // Debian installs it in /usr/sbin, which a user's PATH may lack.
    let sbin = Path::new("/usr/sbin/rsyslogd");
    let bin = if sbin.exists() {
        sbin
    } else {
        Path::new("rsyslogd")
    };
    Command::new(bin)
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(&pid)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rsyslogd is installed; scripts/test installs it")
}

#[test]
fn rsyslog_forwards_over_tcp_with_both_framings() {
    let (a, b, r) = (free_port(), free_port(), free_udp_port());
    let run = Run::start(&format!(
        "-i syslog -p mode=tcp -p listen=127.0.0.1 -p port={a} -t bsd \
            -p parser=syslog-rfc3164 \
         -i syslog -p mode=tcp -p listen=127.0.0.1 -p port={b} -t ietf"
    ));
    connect(a);
    connect(b);
    let dir = temp_dir("rsyslog");
    let mut rsyslogd = start_rsyslogd(&dir, r, a, b);
    let to_rsyslog = format!("-n 127.0.0.1 -P {r} -d --rfc3164 -t sluicetest");
    let send = |text: &str| logger(&to_rsyslog, text);
    // rsyslogd starts in its own time: probe until a message comes out.
    let ready = eventually(T, || {
        send("probe");
        std::thread::sleep(Duration::from_millis(200));
        has(&run.records("ietf"), "message", "probe")
    });
    for n in 1..=3 {
        send(&format!("forwarded message {n}"));
    }
    let bsd = run.wait_for("bsd", "message", "forwarded message 3");
    let ietf = run.wait_for("ietf", "message", "forwarded message 3");
    let _ = rsyslogd.kill();
    let rsyslog_out = rsyslogd.wait_with_output().expect("rsyslogd output");
    let out = run.stop();
    let why = format!(
        "sluice:\n{}\nrsyslogd:\n{}",
        out.stderr,
        String::from_utf8_lossy(&rsyslog_out.stderr)
    );
    assert!(ready, "{why}");
    for n in 1..=3 {
        let text = format!("forwarded message {n}");
        let rec = find(&bsd, "message", &text).unwrap_or_else(|| panic!("{text}: {why}"));
        assert_eq!(rec["ident"], "sluicetest", "{rec}");
        assert_eq!(rec["message"], text.as_str());
        let rec = find(&ietf, "message", &text).unwrap_or_else(|| panic!("{text}: {why}"));
        assert_eq!(rec["ident"], "sluicetest", "{rec}");
        // rsyslog keeps the space after the BSD tag's colon in MSG; the
        // template's closing newline is inside the count, and trimmed.
        assert_eq!(rec["message"].as_str().map(str::trim_start), Some(&*text));
    }
    assert!(!out.stderr.contains("do not match"), "{why}");
}

#[test]
fn source_address_raw_message_and_unparsed_messages() {
    let (u, t) = (free_udp_port(), free_port());
    let keys = "-p source_address_key=src -p raw_message_key=raw";
    let run = Run::start(&format!(
        "-i syslog -p mode=udp -p listen=127.0.0.1 -p port={u} -t u {keys} \
         -i syslog -p mode=tcp -p listen=127.0.0.1 -p port={t} -t t {keys}"
    ));
    udp_ready(&run, u, "u", "--rfc5424");

    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let line = "<14>1 2026-01-02T03:04:05.678Z web app 77 ID1 - udp body\n";
    sock.send_to(line.as_bytes(), ("127.0.0.1", u)).unwrap();
    sock.send_to(b"not syslog at all", ("127.0.0.1", u))
        .unwrap();
    let mut c = connect(t);
    let local = c.local_addr().unwrap();
    c.write_all(b"<14>1 - web app - - - tcp body\r\nplain tcp junk\n")
        .unwrap();
    drop(c);

    let udp = run.wait_for("u", "log", "not syslog");
    let tcp = run.wait_for("t", "log", "plain tcp junk");
    let out = run.stop();
    let rec = find(&udp, "message", "udp body").unwrap_or_else(|| panic!("{}", out.stderr));
    let from = format!("udp://{}", sock.local_addr().unwrap());
    assert_eq!(rec["src"], from.as_str());
    assert_eq!(
        rec["raw"],
        line.trim_end(),
        "the datagram's newline is trimmed"
    );
    assert_eq!(rec["pid"], 77);
    let junk = find(&udp, "log", "not syslog").unwrap();
    assert_eq!(junk["log"], "not syslog at all", "kept whole");
    assert_eq!(junk["src"], from.as_str());

    let from = format!("tcp://{local}");
    let rec = find(&tcp, "message", "tcp body").unwrap_or_else(|| panic!("{}", out.stderr));
    assert_eq!(rec["src"], from.as_str());
    assert_eq!(rec["raw"], "<14>1 - web app - - - tcp body", "\\r trimmed");
    assert_eq!(find(&tcp, "log", "junk").unwrap()["raw"], "plain tcp junk");
    let warnings = out
        .stderr
        .lines()
        .filter(|l| l.contains("do not match the parser"));
    assert_eq!(warnings.count(), 2, "{}", out.stderr);
}

#[test]
fn multi_line_octet_frames_and_an_oversized_frame() {
    let port = free_port();
    let run = Run::start(&format!(
        "-i syslog -p mode=tcp -p listen=127.0.0.1 -p port={port} -t s \
            -p buffer_chunk_size=64 -p buffer_max_size=256"
    ));
    let multi = "<13>1 - host app - - - first line\nsecond line\nthird";
    let mut c = connect(port);
    writeln!(c, "{} {multi}<13>1 - host app - - - after it", multi.len()).unwrap();
    // Over the 256-byte limit: the connection is closed, and what came
    // before stays.
    let big = format!("<13>1 - host app - - - {}", "x".repeat(300));
    write!(c, "{} {big}", big.len()).unwrap();
    let _ = c.flush();
    run.wait_for("s", "message", "after it");
    let mut again = connect(port);
    again
        .write_all(b"<13>1 - host app - - - new connection\n")
        .unwrap();
    drop(again);
    let got = run.wait_for("s", "message", "new connection");
    let out = run.stop();
    let messages: Vec<&str> = got.iter().filter_map(|r| r["message"].as_str()).collect();
    assert_eq!(
        messages,
        [
            "first line\nsecond line\nthird",
            "after it",
            "new connection"
        ],
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("connection closed") && out.stderr.contains("over the limit of 256"),
        "{}",
        out.stderr
    );
}

/// A self-signed certificate for 127.0.0.1.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args([
            "-nodes", "-keyout", "key.pem", "-out", "crt.pem", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir.join("crt.pem"), dir.join("key.pem"))
}

#[test]
fn tls_on_tcp_mode_with_openssl_s_client() {
    let dir = temp_dir("syslog-tls");
    let (crt, key) = certificate(&dir);
    let port = free_port();
    let run = Run::start(&format!(
        "-i syslog -p mode=tcp -p listen=127.0.0.1 -p port={port} -t tls \
            -p tls=on -p tls.crt_file={} -p tls.key_file={}",
        crt.display(),
        key.display()
    ));
    connect(port);
    let addr = format!("127.0.0.1:{port}");
    let mut client = Command::new("openssl")
        .args(["s_client", "-connect", &addr, "-quiet", "-no_ign_eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    let frame = "<13>1 - host app - - - over tls";
    let mut stdin = client.stdin.take().unwrap();
    writeln!(
        stdin,
        "{} {frame}<13>1 - host app - - - second",
        frame.len()
    )
    .unwrap();
    drop(stdin);
    let _ = client.wait();
    let got = run.wait_for("tls", "message", "second");
    let out = run.stop();
    assert!(has(&got, "message", "over tls"), "{}", out.stderr);
}

#[test]
fn bad_settings_are_named_before_anything_starts() {
    let check = |args: &[&str], want: &str| {
        let mut all = vec!["-i", "syslog"];
        all.extend(args);
        all.extend(["-o", "null", "--dry-run"]);
        let out = common::run(&all, b"", T);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(out.stderr.contains(want), "{args:?}: {}", out.stderr);
    };
    check(&["-p", "mode=unix_udp"], "path");
    check(&["-p", "mode=smoke"], "'smoke' is not unix_udp");
    check(
        &["-p", "mode=udp", "-p", "parser=nope"],
        "unknown parser 'nope'",
    );
    check(&["-p", "mode=udp", "-p", "tls=on"], "tls");
    check(
        &["-p", "mode=tcp", "-p", "format=lines"],
        "'lines' is not newline",
    );
}

#[test]
fn a_datagram_over_buffer_chunk_size_is_kept_cut_short() {
    let port = free_udp_port();
    let run = Run::start(&format!(
        "-i syslog -p mode=udp -p listen=127.0.0.1 -p port={port} -t u \
            -p buffer_chunk_size=100"
    ));
    udp_ready(&run, port, "u", "--rfc5424");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let head = "<13>1 - host app - - - ";
    let datagram = format!("{head}{}", "y".repeat(150));
    sock.send_to(datagram.as_bytes(), ("127.0.0.1", port))
        .unwrap();
    let got = run.wait_for("u", "message", "yyy");
    let out = run.stop();
    let rec = find(&got, "message", "yyy").unwrap_or_else(|| panic!("{}", out.stderr));
    assert_eq!(rec["message"].as_str().unwrap().len(), 100 - head.len());
    assert!(
        out.stderr
            .contains("datagram longer than buffer_chunk_size"),
        "{}",
        out.stderr
    );
}

#[test]
fn datagrams_are_dropped_and_counted_while_the_input_is_paused() {
    let root = temp_dir("syslog-paused");
    let target = root.join("later");
    let conf = write_file(
        &root,
        "bp.conf",
        "[SERVICE]\n    scheduler.base 1\n    scheduler.cap 1\n",
    );
    let port = free_udp_port();
    let run = Run::start_into(
        &format!(
            "-c {} -i syslog -p mode=udp -p listen=127.0.0.1 -p port={port} -t up \
                -p mem_buf_limit=1k",
            conf.display()
        ),
        target.clone(),
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let send = |text: &str| {
        let datagram = format!("<13>1 - host app - - - {text}");
        let _ = sock.send_to(datagram.as_bytes(), ("127.0.0.1", port));
    };
    // The first datagram fills the limit; the destination is missing, so
    // the input stays paused and the next ones are dropped.
    std::thread::sleep(Duration::from_millis(500));
    send(&format!("first {}", "x".repeat(2000)));
    std::thread::sleep(Duration::from_millis(500));
    for n in 1..=5 {
        send(&format!("while paused {n}"));
    }
    std::fs::create_dir_all(&target).unwrap();
    let resumed = eventually(T, || {
        send("after resume");
        std::thread::sleep(Duration::from_millis(100));
        has(&run.records("up"), "message", "after resume")
    });
    let got = run.records("up");
    let out = run.stop();
    assert!(resumed, "{}", out.stderr);
    assert!(has(&got, "message", "first"), "{}", out.stderr);
    assert!(!has(&got, "message", "while paused"), "{}", out.stderr);
    let dropped: u64 = out
        .stderr
        .lines()
        .filter(|l| l.contains("datagrams dropped while the input was paused"))
        .filter_map(|l| l.rsplit("datagrams=").next()?.trim().parse::<u64>().ok())
        .sum();
    assert!(dropped >= 5, "{}", out.stderr);
}
