//! Helpers for end-to-end tests: run the real `sluice` binary with flags
//! or a config file, feed it, stop it, and read what came out.

#![allow(dead_code)]

pub mod api;
pub mod http_out;
pub mod http_sink;
pub mod storage;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// A fresh, empty directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sluice-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path
}

/// Appends `text` to the file at `path`, creating it when missing, as a
/// program writing its log does.
pub fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .expect("open test file for appending");
    f.write_all(text.as_bytes()).expect("append to test file");
}

/// What a finished run left behind.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// stdout lines parsed as JSON (lines that are not JSON are skipped).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        parse_json_lines(&self.stdout)
    }
}

pub fn parse_json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Runs sluice with `args`, writes `stdin` to it and closes it, and waits
/// for it to exit (killing it after `timeout`).
pub fn run(args: &[&str], stdin: &[u8], timeout: Duration) -> Output {
    feed_and_wait(spawn(args), stdin, timeout)
}

/// Writes `stdin` to a started child and closes it, then waits for it to
/// exit (killing it after `timeout`).
pub fn feed_and_wait(mut child: Child, stdin: &[u8], timeout: Duration) -> Output {
    let mut input = child.stdin.take().expect("stdin piped");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = wait(child, timeout);
    let _ = writer.join();
    out
}

/// Starts sluice with piped stdin, stdout and stderr.
pub fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sluice")
}

/// Waits for the child, killing it after `timeout`; collects its output.
pub fn wait(mut child: Child, timeout: Duration) -> Output {
    let mut stdout = child.stdout.take().expect("stdout piped");
    let mut stderr = child.stderr.take().expect("stderr piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let status = child.wait().expect("wait after kill");
            let stderr = err_reader.join().unwrap_or_default();
            panic!("sluice did not exit within {timeout:?} ({status}); stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// Sends SIGTERM to the child.
pub fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
}

/// Polls `check` until it is true or `timeout` passes.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// Resident memory of a process in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A port on 127.0.0.1 that was free a moment ago (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("bind udp 127.0.0.1:0")
}

/// Connects to 127.0.0.1:`port`, retrying while the listener starts.
pub fn connect(port: u16) -> std::net::TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => {
                s.set_read_timeout(Some(Duration::from_secs(10))).ok();
                return s;
            }
            Err(e) if Instant::now() >= deadline => panic!("cannot connect to port {port}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Reads JSON lines from a file (missing file: none).
pub fn read_json_file(path: &Path) -> Vec<serde_json::Value> {
    parse_json_lines(&std::fs::read_to_string(path).unwrap_or_default())
}

/// The Python of the test virtualenv (`.venv` at the repository root,
/// made by `scripts/test`), with fluent-logger, msgpack and hypercorn
/// installed.
pub fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/test once, or \
         `python3 -m venv .venv && .venv/bin/pip install fluent-logger==0.11.1 msgpack==1.2.4 \
         hypercorn==0.18.0` \
         at the repository root",
        python.display()
    );
    python
}

/// Runs `sql` on the SQLite file `db` with Python's standard `sqlite3`
/// module: one string per row, its columns joined by `|`.
pub fn sqlite(db: &Path, sql: &str) -> Vec<String> {
    let script = "import sqlite3, sys\n\
                  conn = sqlite3.connect(sys.argv[1])\n\
                  for row in conn.execute(sys.argv[2]):\n    \
                  print('|'.join(str(c) for c in row))\n\
                  conn.commit()\n";
    let out = std::process::Command::new(venv_python())
        .args(["-c", script])
        .arg(db)
        .arg(sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sqlite3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// An HTTP answer fetched with curl.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: String,
}

/// Fetches `url` with curl (`extra` are more curl flags); `None` when
/// curl could not connect.
pub fn curl(url: &str, extra: &[&str]) -> Option<HttpAnswer> {
    let out = Command::new("curl")
        .args(["-s", "-m", "5", "-o", "-", "-w", "\n%{http_code}"])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl is installed (scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n')?;
    let status: u16 = code.trim().parse().ok()?;
    (status != 0).then(|| HttpAnswer {
        status,
        body: body.to_owned(),
    })
}

/// sluice running with some inputs and a `file` output per tag, in
/// `plain` format (a JSON line per record), flushed every 0.2 s.
pub struct Run {
    pub child: Child,
    pub dir: PathBuf,
}

impl Run {
    /// Starts sluice with `inputs` (flags) and a file output per tag in a
    /// fresh directory (or `out`).
    pub fn start(inputs: &[&str], out: Option<&Path>, extra: &[&str]) -> Self {
        let dir = out.map_or_else(|| temp_dir("net"), Path::to_path_buf);
        let path = format!("path={}", dir.display());
        let mut args: Vec<&str> = inputs.to_vec();
        args.extend(["-o", "file", "-m", "*", "-p", &path, "-p", "format=plain"]);
        args.extend(["-f", "0.2"]);
        args.extend(extra);
        Run {
            child: spawn(&args),
            dir,
        }
    }

    pub fn records(&self, tag: &str) -> Vec<serde_json::Value> {
        read_json_file(&self.dir.join(tag))
    }

    pub fn wait_for(&self, tag: &str, n: usize) -> Vec<serde_json::Value> {
        eventually(Duration::from_secs(10), || self.records(tag).len() >= n);
        self.records(tag)
    }

    pub fn stop(self) -> Output {
        terminate(&self.child);
        wait(self.child, Duration::from_secs(20))
    }
}

/// Files of a test certificate authority and a certificate it signed for
/// `localhost` and `127.0.0.1`, usable by a server and a client.
#[derive(Debug)]
pub struct TestCerts {
    pub ca: PathBuf,
    pub crt: PathBuf,
    pub key: PathBuf,
}

/// Makes a CA and a leaf certificate in `dir` with `openssl`.
pub fn test_certificates(dir: &Path) -> TestCerts {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed (scripts/test installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "1", "-subj", "/CN=sluice-test-ca"];
    ca.extend(key);
    ca.extend(["-keyout", "ca.key", "-out", "ca.crt"]);
    run(&ca);
    let mut csr = vec!["req", "-subj", "/CN=localhost"];
    csr.extend(key);
    csr.extend(["-keyout", "leaf.key", "-out", "leaf.csr"]);
    run(&csr);
    write_file(
        dir,
        "leaf.ext",
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n\
         extendedKeyUsage=serverAuth,clientAuth\n",
    );
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.crt",
    ]);
    TestCerts {
        ca: dir.join("ca.crt"),
        crt: dir.join("leaf.crt"),
        key: dir.join("leaf.key"),
    }
}

/// Writes `key` again as `name` in `dir`, encrypted with `password` as
/// encrypted PKCS#8 (PBES2, AES-256-CBC): what `tls.key_passwd` opens.
pub fn encrypted_key(dir: &Path, key: &Path, name: &str, password: &str) -> PathBuf {
    let out_path = dir.join(name);
    let out = Command::new("openssl")
        .args(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in"])
        .arg(key)
        .arg("-out")
        .arg(&out_path)
        .args(["-passout", &format!("pass:{password}")])
        .output()
        .expect("openssl is installed (scripts/test installs it)");
    assert!(
        out.status.success(),
        "openssl pkcs8: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&out_path).expect("the encrypted key");
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{text}"
    );
    out_path
}

/// Runs a socket call again while a signal interrupts it (EINTR), as
/// `read_exact` and `read_to_end` do themselves.
pub fn retry_eintr<T>(mut call: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
