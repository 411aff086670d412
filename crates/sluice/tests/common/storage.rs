//! Helpers for the filesystem storage tests: sluice run from a config
//! file with its log in a file; a receiver of the `tcp` output's
//! `json_lines` that can go down and come back; a small reader of chunk
//! files (`docs/storage-format.md`) to see what is on disk, and what that
//! format says a damaged copy of a file comes to; a tmpfs to fill; and a
//! seeded random number generator.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sluice_core::event::Events;
use sluice_core::Value;

use super::{eventually, retry_eintr, terminate, BIN};

/// sluice started on a config file. Its stdout and stderr go to a log
/// file (appended to by every start), so a long run never blocks on a
/// full pipe and a panic lands beside the log lines. Dropped while
/// running, it is killed.
pub struct Sluice {
    child: Option<Child>,
    log: PathBuf,
}

impl Sluice {
    pub fn start(conf: &Path, log: &Path) -> Self {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the log file");
        let child = Command::new(BIN)
            .arg("-c")
            .arg(conf)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone the log file"))
            .stderr(out)
            .spawn()
            .expect("start sluice");
        Sluice {
            child: Some(child),
            log: log.to_path_buf(),
        }
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("sluice was started")
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child().try_wait(), Ok(None))
    }

    /// Kills the process with SIGKILL and waits for it to be gone.
    pub fn kill(mut self) {
        let mut child = self.child.take().expect("sluice was started");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Sends SIGTERM and waits for the exit; panics, with the log, when
    /// it takes longer than `timeout`.
    pub fn stop(mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("sluice was started");
        terminate(&child);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("wait for sluice") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "sluice did not exit within {timeout:?} of SIGTERM; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything every start on this log file wrote so far.
    pub fn log(&self) -> String {
        read_log(&self.log)
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn read_log(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

/// What a receiver has read, over all of its connections.
#[derive(Debug, Default)]
struct Got {
    records: Vec<serde_json::Value>,
    /// Whole lines that are not JSON objects.
    bad: Vec<String>,
}

/// The threads of a listening receiver.
struct Listening {
    stop: Arc<AtomicBool>,
    accept: JoinHandle<()>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// A TCP server on 127.0.0.1 that reads JSON lines from any number of
/// connections. Only whole lines count: a line cut by a closed connection
/// was not received.
pub struct Receiver {
    port: u16,
    got: Arc<Mutex<Got>>,
    up: Option<Listening>,
}

impl Receiver {
    /// Listens on a fresh port.
    pub fn start() -> Self {
        Self::start_on(super::free_port())
    }

    /// Listens on `port`.
    pub fn start_on(port: u16) -> Self {
        let mut receiver = Receiver {
            port,
            got: Arc::default(),
            up: None,
        };
        receiver.up();
        receiver
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Listens again on the same port, keeping what was read so far.
    pub fn up(&mut self) {
        assert!(self.up.is_none(), "the receiver is up already");
        let listener = bind(self.port);
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (stop, got) = (Arc::clone(&stop), Arc::clone(&self.got));
            let connections = Arc::clone(&connections);
            std::thread::spawn(move || accept_loop(&listener, &stop, &got, &connections))
        };
        self.up = Some(Listening {
            stop,
            accept,
            connections,
        });
    }

    /// Stops listening, reads each connection until it has been quiet a
    /// moment, and closes it: later writes by the sender fail.
    ///
    /// The `tcp` output has no acknowledgement, so a write the sender
    /// makes in the instant between the last read and the close is lost
    /// with the connection; the quiet moment keeps that window to a chunk
    /// write landing within microseconds of the close.
    pub fn down(&mut self) {
        let Some(up) = self.up.take() else {
            return;
        };
        up.stop.store(true, Ordering::SeqCst);
        let _ = up.accept.join();
        let threads = std::mem::take(&mut *up.connections.lock().unwrap());
        for t in threads {
            let _ = t.join();
        }
    }

    pub fn records(&self) -> Vec<serde_json::Value> {
        self.got.lock().unwrap().records.clone()
    }

    /// Lines that were not JSON objects.
    pub fn bad_lines(&self) -> Vec<String> {
        self.got.lock().unwrap().bad.clone()
    }

    /// The `n` of every record received, in arrival order, duplicates
    /// included.
    pub fn numbers(&self) -> Vec<i64> {
        let got = self.got.lock().unwrap();
        got.records.iter().filter_map(number).collect()
    }

    /// The numbers of `expected` not received yet.
    pub fn missing(&self, expected: impl IntoIterator<Item = i64>) -> Vec<i64> {
        let have: std::collections::HashSet<i64> = self.numbers().into_iter().collect();
        expected.into_iter().filter(|n| !have.contains(n)).collect()
    }

    /// Waits until every number of `expected` has been received.
    pub fn wait_for(&self, expected: std::ops::Range<i64>, timeout: Duration) -> bool {
        eventually(timeout, || self.missing(expected.clone()).is_empty())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}

/// Binds `port`, retrying a moment in case an earlier socket on it is
/// still being torn down.
fn bind(port: u16) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => return l,
            Err(e) if Instant::now() >= deadline => panic!("cannot listen on {port}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    stop: &Arc<AtomicBool>,
    got: &Arc<Mutex<Got>>,
    connections: &Mutex<Vec<JoinHandle<()>>>,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (stop, got) = (Arc::clone(stop), Arc::clone(got));
                let t = std::thread::spawn(move || read_connection(stream, &stop, &got));
                connections.lock().unwrap().push(t);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => {}
        }
    }
}

fn read_connection(mut stream: TcpStream, stop: &AtomicBool, got: &Mutex<Got>) {
    const QUIET: Duration = Duration::from_millis(300);
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut quiet_since: Option<Instant> = None;
    loop {
        match retry_eintr(|| stream.read(&mut buf)) {
            Ok(0) => break,
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                take_lines(&mut pending, got);
                quiet_since = None;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if stop.load(Ordering::SeqCst)
                    && quiet_since.get_or_insert_with(Instant::now).elapsed() >= QUIET
                {
                    break;
                }
            }
            Err(_) => break,
        }
    }
}

/// Moves the whole lines at the front of `pending` into `got`.
fn take_lines(pending: &mut Vec<u8>, got: &Mutex<Got>) {
    let Some(last) = pending.iter().rposition(|&b| b == b'\n') else {
        return;
    };
    let lines: Vec<u8> = pending.drain(..=last).collect();
    let mut got = got.lock().unwrap();
    for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(v) if v.is_object() => got.records.push(v),
            _ => got.bad.push(String::from_utf8_lossy(line).into_owned()),
        }
    }
}

/// A record's `n`: its own field, or the field of the JSON text in its
/// `log` (a tail line that was not parsed).
pub fn number(record: &serde_json::Value) -> Option<i64> {
    if let Some(n) = record["n"].as_i64() {
        return Some(n);
    }
    let text = record["log"].as_str()?;
    serde_json::from_str::<serde_json::Value>(text).ok()?["n"].as_i64()
}

/// How many numbers arrived more than once.
pub fn duplicates(numbers: &[i64]) -> usize {
    let distinct: std::collections::HashSet<_> = numbers.iter().collect();
    numbers.len() - distinct.len()
}

/// One frame of a chunk file: where it is and the numbers it holds.
#[derive(Debug, Clone)]
pub struct Frame {
    pub start: usize,
    pub end: usize,
    pub numbers: Vec<i64>,
}

/// A chunk file as these tests read it: no checksum is checked, and the
/// read stops at the first frame that is not all there (one being
/// written, or torn).
#[derive(Debug, Clone)]
pub struct ChunkFile {
    pub len: usize,
    pub flags: u8,
    pub tag: String,
    pub input: String,
    pub routes: Vec<String>,
    /// Where the route state bytes start; the frames start after them.
    pub states_at: usize,
    pub frames: Vec<Frame>,
}

impl ChunkFile {
    pub fn frames_at(&self) -> usize {
        self.states_at + self.routes.len()
    }

    pub fn numbers(&self) -> impl Iterator<Item = i64> + '_ {
        self.frames.iter().flat_map(|f| f.numbers.iter().copied())
    }
}

fn be_u16(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at + 2)?;
    Some(usize::from(u16::from_be_bytes([b[0], b[1]])))
}

fn be_u32(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// A length-prefixed string at `*at` of `body`, moving `*at` past it.
fn string(body: &[u8], at: &mut usize) -> Option<String> {
    let len = be_u16(body, *at)?;
    let text = body.get(*at + 2..*at + 2 + len)?;
    *at += 2 + len;
    Some(String::from_utf8_lossy(text).into_owned())
}

/// Reads a chunk file's header and whole frames; `None` when the header
/// is not there.
pub fn read_chunk_file(bytes: &[u8]) -> Option<ChunkFile> {
    if bytes.get(..5)? != b"SLC\x01\x01" {
        return None;
    }
    let body_len = be_u32(bytes, 6)?;
    let body = bytes.get(14..14 + body_len)?;
    let mut at = 0;
    let tag = string(body, &mut at)?;
    let input = string(body, &mut at)?;
    // The event type byte: 0, logs.
    at += 1;
    let count = be_u16(body, at)?;
    at += 2;
    let routes = (0..count)
        .map(|_| string(body, &mut at))
        .collect::<Option<Vec<_>>>()?;
    let mut file = ChunkFile {
        len: bytes.len(),
        flags: bytes[5],
        tag,
        input,
        routes,
        states_at: 14 + body_len,
        frames: Vec::new(),
    };
    let mut at = file.frames_at();
    while let Some(len) = be_u32(bytes, at) {
        let Some(payload) = bytes.get(at + 8..at + 8 + len) else {
            break;
        };
        let numbers = Events::new(payload)
            .filter_map(|e| e.ok()?.decode().ok())
            .filter_map(|e| match e.body.get("n") {
                Some(Value::UInt(n)) => i64::try_from(*n).ok(),
                Some(Value::Int(n)) => Some(*n),
                _ => None,
            })
            .collect();
        file.frames.push(Frame {
            start: at,
            end: at + 8 + len,
            numbers,
        });
        at += 8 + len;
    }
    Some(file)
}

/// What the format says a damaged copy of a file comes to: how many of
/// its frames are delivered and whether it is moved to the quarantine
/// (`None`: the format does not say).
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    pub frames: Option<usize>,
    pub quarantined: Option<bool>,
}

fn expect(frames: Option<usize>, quarantined: Option<bool>) -> Expect {
    Expect {
        frames,
        quarantined,
    }
}

/// A copy cut to its first `cut` bytes: the whole frames before the cut;
/// a cut inside the header leaves nothing to trust.
pub fn truncated(file: &ChunkFile, cut: usize) -> Expect {
    if cut < file.frames_at() {
        return expect(Some(0), Some(true));
    }
    let whole = file.frames.iter().take_while(|f| f.end <= cut).count();
    expect(Some(whole), Some(false))
}

/// A copy with bit `bit` of byte `at` flipped.
pub fn flipped(file: &ChunkFile, at: usize, bit: u32) -> Expect {
    let all = file.frames.len();
    if at < 5 {
        return expect(Some(0), Some(true)); // magic, version
    }
    if at == 5 {
        // The sealed flag: an unsealed file is what a crash leaves, and
        // is replayed. Other flag bits are not defined.
        return if bit == 0 {
            expect(Some(all), Some(false))
        } else {
            expect(None, None)
        };
    }
    if at < file.states_at {
        return expect(Some(0), Some(true)); // header length, checksum, body
    }
    if at < file.frames_at() {
        // Pending becomes done: nothing owed. Other states are not defined.
        return if bit == 0 {
            expect(Some(0), Some(false))
        } else {
            expect(None, None)
        };
    }
    let (i, frame) = file
        .frames
        .iter()
        .enumerate()
        .find(|(_, f)| f.start <= at && at < f.end)
        .expect("every byte after the header is in a frame");
    if at >= frame.start + 4 {
        // Checksum or payload: torn when nothing follows, damage otherwise.
        return expect(Some(i), Some(frame.end != file.len));
    }
    let len = frame.end - frame.start - 8;
    let claimed = len ^ (1 << (8 * (3 - (at - frame.start)) + bit as usize));
    let claimed_end = frame.start + 8 + claimed;
    if claimed > 64 << 20 {
        expect(Some(i), Some(true))
    } else if claimed_end > file.len {
        // Reads as a frame cut short: torn, or damage.
        expect(Some(i), None)
    } else {
        expect(Some(i), Some(claimed_end != file.len))
    }
}

/// The chunk files under `root/<input>/`, sorted (the quarantine folder
/// left out).
pub fn chunk_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in std::fs::read_dir(root).into_iter().flatten().flatten() {
        if dir.file_name() == "quarantine" || !dir.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.path().extension().is_some_and(|e| e == "chunk") {
                files.push(f.path());
            }
        }
    }
    files.sort();
    files
}

/// Every number in the chunk files under `root`, sorted.
pub fn numbers_on_disk(root: &Path) -> Vec<i64> {
    let mut all: Vec<i64> = chunk_files(root)
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|b| read_chunk_file(&b))
        .flat_map(|f| f.numbers().collect::<Vec<_>>())
        .collect();
    all.sort_unstable();
    all
}

/// Every file under `dir`, at any depth.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A tmpfs mounted for one test, unmounted when dropped.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` on `dir`; `None` (with a note) when this
    /// process may not mount.
    pub fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_path_buf())),
            Ok(o) => {
                let why = String::from_utf8_lossy(&o.stderr).into_owned();
                println!("NOTE: disk-full test skipped, cannot mount a tmpfs: {why}");
                None
            }
            Err(e) => {
                println!("NOTE: disk-full test skipped, cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy: detach it now, gone once the last file closes.
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// Fills the file system of `dir` with one file; returns its path.
pub fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 4096];
    while file.write_all(&block).is_ok() {}
    path
}

/// SplitMix64: a small, seeded generator, so a failing case can be run
/// again exactly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
