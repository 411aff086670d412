//! Filesystem storage (`storage.type filesystem`) through the real binary:
//! the chunks of such an input live as files under `storage.path` until
//! every output they were routed to is done with them, so no record is
//! lost when sluice stops with its receiver unreachable, is killed with
//! SIGKILL while tail and forward count records safe once they are on
//! disk, finds its receiver gone for a minute, meets damaged chunk files
//! at start-up, or runs out of disk. Each test sends numbered records and
//! counts them at a receiver of the `tcp` output's `json_lines`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::storage::{
    chunk_files, duplicates, files_under, fill, flipped, number, numbers_on_disk, read_chunk_file,
    truncated, ChunkFile, Expect, Receiver, Rng, Sluice, Tmpfs,
};
use common::{connect, eventually, free_port, retry_eintr, temp_dir, write_file};
use sluice_core::msgpack::{self, Reader, Token};
use sluice_core::EventTime;

/// How long anything that should happen soon may take on a busy machine.
const T: Duration = Duration::from_secs(30);

/// How long a stop with an unreachable receiver may take: `Grace` and a
/// margin.
const STOP: Duration = Duration::from_secs(20);

/// `[SERVICE]` with storage under `storage`, short retries, and
/// `overrides` (key, value) in place of the defaults here.
fn service(storage: &Path, overrides: &[(&str, &str)]) -> String {
    let path = storage.display().to_string();
    let mut keys = vec![
        ("Flush", "0.5"),
        ("Grace", "2"),
        ("Log_Level", "info"),
        ("scheduler.base", "1"),
        ("scheduler.cap", "2"),
        ("storage.path", path.as_str()),
    ];
    for (key, value) in overrides {
        match keys.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
            Some(entry) => entry.1 = value,
            None => keys.push((key, value)),
        }
    }
    let mut text = String::from("[SERVICE]\n");
    for (key, value) in keys {
        text += &format!("    {key} {value}\n");
    }
    text
}

fn tcp_input(port: u16) -> String {
    format!(
        "
[INPUT]
    Name         tcp
    Listen       127.0.0.1
    Port         {port}
    Format       json
    Tag          numbers
    storage.type filesystem
"
    )
}

fn forward_input(port: u16) -> String {
    format!(
        "
[INPUT]
    Name         forward
    Listen       127.0.0.1
    Port         {port}
    storage.type filesystem
"
    )
}

/// The `tcp` output every test here reads, retrying without end.
fn tcp_output(port: u16, retry_limit: &str) -> String {
    format!(
        "
[OUTPUT]
    Name        tcp
    Match       *
    Host        127.0.0.1
    Port        {port}
    Format      json_lines
    Retry_Limit {retry_limit}
"
    )
}

/// `{"n":…}` lines, padded with `pad` bytes of text.
fn lines(numbers: Range<i64>, pad: usize) -> String {
    let pad = "x".repeat(pad);
    numbers
        .map(|n| format!("{{\"n\":{n},\"pad\":\"{pad}\"}}\n"))
        .collect()
}

/// Sends numbered lines to a `tcp` input and closes the connection.
fn send_lines(port: u16, numbers: Range<i64>, pad: usize) {
    let mut stream = connect(port);
    stream
        .write_all(lines(numbers, pad).as_bytes())
        .expect("send records");
}

/// A summary of what is missing, for assertion messages.
fn missing(receiver: &Receiver, expected: Range<i64>) -> String {
    let missing = receiver.missing(expected);
    let first: Vec<_> = missing.iter().take(10).collect();
    format!("{} missing, first {first:?}", missing.len())
}

/// An exit of sluice's own after SIGTERM. Chunks left undelivered with
/// their files kept are not lost, so the exit status is 0, not the 2 of
/// records lost at exit.
fn stopped_itself(status: std::process::ExitStatus) -> bool {
    status.code() == Some(0)
}

fn assert_no_panic(log: &str) {
    assert!(!log.contains("panicked"), "sluice panicked:\n{log}");
}

fn tail_of(log: &str) -> &str {
    let from = log.len().saturating_sub(6000);
    let from = (from..log.len())
        .find(|&i| log.is_char_boundary(i))
        .unwrap_or(0);
    &log[from..]
}

#[test]
fn backlog_on_disk_survives_a_stop_and_is_delivered_at_the_next_start() {
    const N: i64 = 2000;
    let dir = temp_dir("storage-backlog");
    let storage = dir.join("storage");
    let (input, output) = (free_port(), free_port());
    let conf = service(&storage, &[]) + &tcp_input(input) + &tcp_output(output, "False");
    let conf = write_file(&dir, "sluice.conf", &conf);
    let log = dir.join("sluice.log");

    // Nothing listens on the output's port: every chunk waits on disk.
    let first = Sluice::start(&conf, &log);
    send_lines(input, 0..N, 0);
    let on_disk = eventually(T, || {
        numbers_on_disk(&storage) == (0..N).collect::<Vec<_>>()
    });
    assert!(
        on_disk,
        "{} of {N} records in chunk files; log:\n{}",
        numbers_on_disk(&storage).len(),
        first.log()
    );
    let asked = Instant::now();
    let status = first.stop(STOP);
    println!("stopped {:?} after SIGTERM ({status})", asked.elapsed());
    assert!(
        stopped_itself(status),
        "{status}; log:\n{}",
        common::storage::read_log(&log)
    );
    assert!(
        !chunk_files(&storage).is_empty(),
        "the backlog left no file"
    );
    assert_eq!(
        numbers_on_disk(&storage),
        (0..N).collect::<Vec<_>>(),
        "the backlog on disk after the stop"
    );

    let receiver = Receiver::start_on(output);
    let second = Sluice::start(&conf, &log);
    let delivered = receiver.wait_for(0..N, T);
    assert!(
        delivered,
        "{}; log:\n{}",
        missing(&receiver, 0..N),
        second.log()
    );
    let cleaned = eventually(T, || chunk_files(&storage).is_empty());
    assert!(
        cleaned,
        "delivered chunk files remain: {:?}",
        chunk_files(&storage)
    );
    let status = second.stop(STOP);
    let log = common::storage::read_log(&log);
    assert!(status.success(), "{status}; log:\n{log}");
    assert!(files_under(&storage.join("quarantine")).is_empty());
    assert_no_panic(&log);
    println!("duplicates: {}", duplicates(&receiver.numbers()));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Appends `{"n":i}` lines for `0..total` to `path`, in `batches` writes
/// spread over `over`.
fn write_steadily(path: PathBuf, total: i64, batches: i64, over: Duration) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open the tailed file");
        let per = total / batches;
        let pause = over / batches as u32;
        for b in 0..batches {
            let text: String = (b * per..(b + 1) * per)
                .map(|n| format!("{{\"n\":{n}}}\n"))
                .collect();
            file.write_all(text.as_bytes()).expect("append lines");
            std::thread::sleep(pause);
        }
    })
}

#[test]
fn tail_survives_repeated_sigkill() {
    const N: i64 = 30_000;
    const KILLS: usize = 4;
    let dir = temp_dir("storage-tail-kill");
    let storage = dir.join("storage");
    let tailed = dir.join("app.log");
    std::fs::File::create(&tailed).unwrap();
    let receiver = Receiver::start();
    let input = format!(
        "
[INPUT]
    Name             tail
    Path             {}
    DB               {}
    Read_from_Head   on
    Refresh_Interval 1
    Tag              app
    storage.type     filesystem
",
        tailed.display(),
        dir.join("tail.db").display()
    );
    // A short Flush keeps little in flight, so few duplicates per kill.
    let service = service(&storage, &[("Flush", "0.25")]);
    let conf = service + &input + &tcp_output(receiver.port(), "no_limits");
    let conf = write_file(&dir, "sluice.conf", &conf);
    let log = dir.join("sluice.log");

    let mut sluice = Sluice::start(&conf, &log);
    let writer = write_steadily(tailed, N, 200, Duration::from_secs(8));
    let mut rng = Rng::new(0x7a11_5eed);
    for _ in 0..KILLS {
        // A random moment of the stream, not a condition to wait for.
        std::thread::sleep(Duration::from_millis(600 + rng.below(1200)));
        sluice.kill();
        sluice = Sluice::start(&conf, &log);
    }
    writer.join().expect("writer thread");

    let all = receiver.wait_for(0..N, Duration::from_secs(60));
    let got = receiver.numbers();
    let extra = duplicates(&got);
    println!(
        "{KILLS} kills: {} records received, {extra} duplicates",
        got.len()
    );
    assert!(
        all,
        "{}; log:\n{}",
        missing(&receiver, 0..N),
        tail_of(&sluice.log())
    );
    assert!(
        extra < N as usize / 2,
        "{extra} duplicates: more than what was in flight at {KILLS} kills"
    );
    let status = sluice.stop(STOP);
    assert!(status.success(), "{status}");
    assert_no_panic(&common::storage::read_log(&log));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Forward-mode frame `[tag, [[time, {"n": n}]...], options]`, with a
/// `chunk` option (asking for an ack) when `chunk` is given.
fn forward_frame(tag: &str, numbers: Range<i64>, chunk: Option<&str>) -> Vec<u8> {
    let mut f = Vec::new();
    msgpack::write_array_len(&mut f, if chunk.is_some() { 3 } else { 2 });
    msgpack::write_str(&mut f, tag);
    let count = (numbers.end - numbers.start) as usize;
    msgpack::write_array_len(&mut f, count);
    for n in numbers {
        msgpack::write_array_len(&mut f, 2);
        EventTime::new(1_700_000_000 + n, 0).write(&mut f);
        msgpack::write_map_len(&mut f, 1);
        msgpack::write_str(&mut f, "n");
        msgpack::write_uint(&mut f, n as u64);
    }
    if let Some(id) = chunk {
        msgpack::write_map_len(&mut f, 2);
        msgpack::write_str(&mut f, "chunk");
        msgpack::write_str(&mut f, id);
        msgpack::write_str(&mut f, "size");
        msgpack::write_uint(&mut f, count as u64);
    }
    f
}

/// The chunk id of the next `{"ack": id}` on `stream`; `None` when the
/// connection ends, times out, or sends something else.
fn read_ack(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut bytes = [0u8; 256];
    while Reader::new(&buf).skip().is_err() {
        match retry_eintr(|| stream.read(&mut bytes)) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&bytes[..n]),
        }
    }
    let mut r = Reader::new(&buf);
    let (Ok(Token::Map(1)), Ok(Token::Str(b"ack")), Ok(Token::Str(id))) =
        (r.token(), r.token(), r.token())
    else {
        return None;
    };
    Some(id.to_vec())
}

/// Polls `check` every millisecond until it holds or `timeout` passes.
fn promptly(timeout: Duration, check: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !check() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// A client that sends batches of records, each waiting for its ack, and
/// sends a batch again on a new connection when its ack does not come.
struct AckingClient {
    port: u16,
    per: i64,
    connection: Option<TcpStream>,
    acked: Arc<AtomicUsize>,
    resent: usize,
}

impl AckingClient {
    /// Sends batch `b` until it is acked; false when `deadline` passed.
    fn send(&mut self, b: i64, deadline: Instant) -> bool {
        let id = format!("batch-{b:05}");
        let frame = forward_frame("acked", b * self.per..(b + 1) * self.per, Some(&id));
        let mut sent = false;
        while Instant::now() < deadline {
            let Some(mut stream) = self.connection.take().or_else(|| self.connect()) else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            if std::mem::replace(&mut sent, true) {
                self.resent += 1;
            }
            let ok = stream.write_all(&frame).is_ok()
                && read_ack(&mut stream).is_some_and(|got| got == id.as_bytes());
            if ok {
                self.connection = Some(stream);
                self.acked.fetch_add(1, Ordering::SeqCst);
                return true;
            }
        }
        false
    }

    fn connect(&self) -> Option<TcpStream> {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        Some(stream)
    }
}

#[test]
fn forward_acked_records_survive_sigkill() {
    const BATCHES: i64 = 150;
    const PER: i64 = 100;
    let dir = temp_dir("storage-forward-kill");
    let storage = dir.join("storage");
    let receiver = Receiver::start();
    let port = free_port();
    let conf =
        service(&storage, &[]) + &forward_input(port) + &tcp_output(receiver.port(), "no_limits");
    let conf = write_file(&dir, "sluice.conf", &conf);
    let log = dir.join("sluice.log");

    let acked = Arc::new(AtomicUsize::new(0));
    let mut client = AckingClient {
        port,
        per: PER,
        connection: None,
        acked: Arc::clone(&acked),
        resent: 0,
    };
    let mut sluice = Sluice::start(&conf, &log);
    let sender = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut done = Vec::new();
        for b in 0..BATCHES {
            if !client.send(b, deadline) {
                break;
            }
            done.push(b);
            // Paced, so that the kills land mid-stream.
            std::thread::sleep(Duration::from_millis(15));
        }
        (done, client.resent)
    });
    for at in [30, 70, 110] {
        // Killed within a millisecond or so of an ack: the batch just
        // acked has to be on disk already.
        let reached = promptly(Duration::from_secs(60), || {
            acked.load(Ordering::SeqCst) >= at
        });
        assert!(reached, "{at} batches never acked; log:\n{}", sluice.log());
        sluice.kill();
        sluice = Sluice::start(&conf, &log);
    }
    let (done, resent) = sender.join().expect("client thread");
    println!("{} batches acked, {resent} sent again", done.len());
    assert_eq!(done.len() as i64, BATCHES, "batches never acked");

    let all = receiver.wait_for(0..BATCHES * PER, T);
    let got = receiver.numbers();
    println!(
        "{} records received, {} duplicates",
        got.len(),
        duplicates(&got)
    );
    assert!(
        all,
        "acked records lost: {}; log:\n{}",
        missing(&receiver, 0..BATCHES * PER),
        tail_of(&sluice.log())
    );
    let status = sluice.stop(STOP);
    assert!(status.success(), "{status}");
    assert_no_panic(&common::storage::read_log(&log));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends `{"n":…}` lines to a `tcp` input at a steady pace until stopped.
struct Sender {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    thread: JoinHandle<()>,
}

impl Sender {
    fn start(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let (flag, count) = (Arc::clone(&stop), Arc::clone(&sent));
        let thread = std::thread::spawn(move || {
            let mut stream = connect(port);
            while !flag.load(Ordering::SeqCst) {
                let from = count.load(Ordering::SeqCst) as i64;
                let text = lines(from..from + 10, 20);
                stream.write_all(text.as_bytes()).expect("send records");
                count.fetch_add(10, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Sender { stop, sent, thread }
    }

    fn sent(&self) -> i64 {
        self.sent.load(Ordering::SeqCst) as i64
    }

    /// Stops sending; how many records were sent.
    fn stop(self) -> i64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("sender thread");
        self.sent.load(Ordering::SeqCst) as i64
    }
}

#[test]
fn receiver_down_for_a_minute_mid_stream() {
    const OUTAGE: Duration = Duration::from_secs(60);
    let dir = temp_dir("storage-outage");
    let storage = dir.join("storage");
    let mut receiver = Receiver::start();
    let input = free_port();
    let service = service(&storage, &[("Flush", "1"), ("scheduler.cap", "5")]);
    let conf = service + &tcp_input(input) + &tcp_output(receiver.port(), "no_limits");
    let conf = write_file(&dir, "sluice.conf", &conf);
    let log = dir.join("sluice.log");

    let sluice = Sluice::start(&conf, &log);
    let sender = Sender::start(input);
    let flowing = eventually(T, || receiver.numbers().len() >= 300);
    assert!(flowing, "records never flowed; log:\n{}", sluice.log());

    receiver.down();
    let down = Instant::now();
    let backlog = eventually(T, || !chunk_files(&storage).is_empty());
    assert!(backlog, "no chunk file while the receiver is down");
    // The outage itself: a minute of retries against a closed port.
    std::thread::sleep(OUTAGE.saturating_sub(down.elapsed()));
    let sent_while_down = sender.sent();
    receiver.up();
    let after = eventually(T, || {
        receiver.numbers().iter().any(|&n| n > sent_while_down)
    });
    assert!(after, "nothing new after the receiver came back");
    let sent = sender.stop();

    let all = receiver.wait_for(0..sent, T);
    let got = receiver.numbers();
    println!(
        "{sent} sent, {} received, {} duplicates",
        got.len(),
        duplicates(&got)
    );
    assert!(
        all,
        "{}; log:\n{}",
        missing(&receiver, 0..sent),
        tail_of(&sluice.log())
    );
    let cleaned = eventually(T, || chunk_files(&storage).is_empty());
    assert!(cleaned, "delivered chunk files remain");
    let status = sluice.stop(STOP);
    assert!(status.success(), "{status}");
    assert_no_panic(&common::storage::read_log(&log));
    let _ = std::fs::remove_dir_all(&dir);
}

/// One damaged copy: its name, the original it came from, what was done
/// and what should come of it.
struct Case {
    name: String,
    original: ChunkFile,
    damage: String,
    expect: Expect,
}

/// Damaged copies of `originals`, one each: even ones cut at a random
/// offset, odd ones with a random bit flipped. Written to `dir`.
fn damage(originals: Vec<(PathBuf, ChunkFile)>, dir: &Path, rng: &mut Rng) -> Vec<Case> {
    std::fs::create_dir_all(dir).unwrap();
    let mut cases = Vec::new();
    for (i, (path, file)) in originals.into_iter().enumerate() {
        let mut bytes = std::fs::read(&path).unwrap();
        let (damage, expect) = if i % 2 == 0 {
            let cut = 1 + rng.below(bytes.len() as u64 - 1) as usize;
            bytes.truncate(cut);
            (format!("cut at {cut}"), truncated(&file, cut))
        } else {
            let at = rng.below(bytes.len() as u64) as usize;
            let bit = rng.below(8) as u32;
            bytes[at] ^= 1 << bit;
            (
                format!("bit {bit} of byte {at} flipped"),
                flipped(&file, at, bit),
            )
        };
        let name = format!("case-{i:04}");
        std::fs::write(dir.join(format!("{name}.chunk")), &bytes).unwrap();
        cases.push(Case {
            name,
            original: file,
            damage,
            expect,
        });
    }
    cases
}

/// Makes real chunk files: `tags` tags, `rounds` frames of four records
/// each, sent to a forward input whose output is unreachable, then a stop.
fn make_originals(dir: &Path, tags: i64, rounds: i64) -> Vec<(PathBuf, ChunkFile)> {
    let storage = dir.join("originals");
    let port = free_port();
    let service = service(&storage, &[("Flush", "5"), ("Grace", "1")]);
    let conf = service + &forward_input(port) + &tcp_output(free_port(), "no_limits");
    let conf = write_file(dir, "originals.conf", &conf);
    let sluice = Sluice::start(&conf, &dir.join("originals.log"));
    let mut stream = connect(port);
    let mut n = 0;
    for _ in 0..rounds {
        for t in 0..tags {
            let frame = forward_frame(&format!("t{t:03}"), n..n + 4, None);
            stream.write_all(&frame).unwrap();
            n += 4;
        }
    }
    drop(stream);
    let written = eventually(T, || numbers_on_disk(&storage).len() == n as usize);
    assert!(written, "originals not on disk; log:\n{}", sluice.log());
    let status = sluice.stop(STOP);
    assert!(stopped_itself(status), "{status}");
    assert_eq!(numbers_on_disk(&storage), (0..n).collect::<Vec<_>>());
    chunk_files(&storage)
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            let file = read_chunk_file(&bytes).expect("an original chunk file");
            let whole = file.frames.last().is_some_and(|f| f.end == bytes.len());
            assert!(whole, "{} is not whole frames", path.display());
            (path, file)
        })
        .collect()
}

/// Checks what came of one case; a description of what went wrong.
fn check_case(case: &Case, got: &[i64], quarantined: bool) -> Option<String> {
    let frames = &case.original.frames;
    let prefix = frames
        .iter()
        .take_while(|f| f.numbers.iter().all(|n| got.contains(n)))
        .count();
    let expected: Vec<i64> = frames[..prefix]
        .iter()
        .flat_map(|f| f.numbers.iter().copied())
        .collect();
    let mut got_sorted = got.to_vec();
    got_sorted.sort_unstable();
    got_sorted.dedup();
    let problem = if got_sorted != expected {
        Some("records delivered are not whole frames from the start")
    } else if case.expect.frames.is_some_and(|f| f != prefix) {
        Some("wrong number of frames delivered")
    } else if case.expect.quarantined.is_some_and(|q| q != quarantined) {
        Some("wrong quarantine")
    } else {
        None
    };
    problem.map(|p| {
        format!(
            "{} ({}): {p}; {prefix} of {} frames delivered, quarantined {quarantined}, \
             expected {:?}",
            case.name,
            case.damage,
            frames.len(),
            case.expect
        )
    })
}

#[test]
fn damaged_chunk_files_are_quarantined_and_good_records_delivered() {
    const TAGS: i64 = 240;
    let dir = temp_dir("storage-damage");
    let originals = make_originals(&dir, TAGS, 5);
    assert!(originals.len() >= 200, "only {} files", originals.len());
    let input_dir = originals[0]
        .0
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_owned();

    let storage = dir.join("storage");
    let cases = damage(
        originals,
        &storage.join(&input_dir),
        &mut Rng::new(0xda3a6e),
    );
    let mut receiver = Receiver::start();
    let conf = service(&storage, &[])
        + &forward_input(free_port())
        + &tcp_output(receiver.port(), "no_limits");
    let conf = write_file(&dir, "sluice.conf", &conf);
    let log = dir.join("sluice.log");
    let mut sluice = Sluice::start(&conf, &log);

    // Wait for every file to be taken and every record the format
    // promises; records it does not promise are checked after the stop.
    let promised: Vec<i64> = cases
        .iter()
        .filter_map(|c| Some(&c.original.frames[..c.expect.frames?]))
        .flat_map(|frames| frames.iter().flat_map(|f| f.numbers.iter().copied()))
        .collect();
    let settled = eventually(T, || {
        chunk_files(&storage).is_empty() && receiver.missing(promised.iter().copied()).is_empty()
    });
    let running = sluice.is_running();
    let status = sluice.stop(STOP);
    receiver.down();
    let log = common::storage::read_log(&log);
    assert_no_panic(&log);
    assert!(running, "sluice did not keep running; log:\n{log}");
    assert!(status.success(), "{status}; log:\n{log}");
    assert!(
        settled,
        "files left {:?}, promised records missing {}; log:\n{}",
        chunk_files(&storage),
        receiver.missing(promised.iter().copied()).len(),
        tail_of(&log)
    );
    assert!(
        receiver.bad_lines().is_empty(),
        "{:?}",
        receiver.bad_lines()
    );

    let owner: std::collections::HashMap<i64, usize> = cases
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.original.numbers().map(move |n| (n, i)))
        .collect();
    let mut per_case = vec![Vec::new(); cases.len()];
    let mut garbage = Vec::new();
    for record in receiver.records() {
        match number(&record).and_then(|n| Some((n, *owner.get(&n)?))) {
            Some((n, i)) => per_case[i].push(n),
            None => garbage.push(record),
        }
    }
    assert!(garbage.is_empty(), "records no file held: {garbage:?}");

    let moved: Vec<String> = files_under(&storage.join("quarantine"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let is_moved = |case: &Case| moved.iter().any(|m| m.contains(&format!("{}.", case.name)));
    let problems: Vec<String> = cases
        .iter()
        .zip(&per_case)
        .filter_map(|(case, got)| check_case(case, got, is_moved(case)))
        .collect();
    let quarantined = cases.iter().filter(|c| is_moved(c)).count();
    let open = cases
        .iter()
        .filter(|c| c.expect.frames.is_none() || c.expect.quarantined.is_none())
        .count();
    println!(
        "{} cases ({open} with an outcome the format leaves open): {quarantined} quarantined, \
         {} records delivered, {} duplicates",
        cases.len(),
        receiver.numbers().len(),
        duplicates(&receiver.numbers())
    );
    assert!(
        problems.is_empty(),
        "{} of {} cases wrong:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
    assert!(quarantined > 0, "no case was quarantined");
    let warned = log
        .lines()
        .any(|l| l.contains("WARN") && cases.iter().any(|c| is_moved(c) && l.contains(&c.name)));
    assert!(
        warned,
        "no warning names a quarantined file; log:\n{}",
        tail_of(&log)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn disk_full_is_logged_and_nothing_is_lost() {
    const HALF: i64 = 3000;
    let dir = temp_dir("storage-disk-full");
    let storage = dir.join("storage");
    let Some(tmpfs) = Tmpfs::mount(&storage, "1m") else {
        return;
    };
    let filler = fill(&storage);
    let mut receiver = Receiver::start();
    let input = free_port();
    let conf =
        service(&storage, &[]) + &tcp_input(input) + &tcp_output(receiver.port(), "no_limits");
    let conf = write_file(&dir, "sluice.conf", &conf);
    let log = dir.join("sluice.log");
    let mut sluice = Sluice::start(&conf, &log);

    // No byte of a chunk file fits. What the input has read goes on from
    // memory; the input may stop reading (README: a full disk pauses
    // filesystem inputs), so the records are sent from a thread.
    let sender = std::thread::spawn(move || send_lines(input, 0..HALF, 100));
    let error = |log: &str| {
        log.lines()
            .any(|l| l.contains("ERROR") && l.contains("No space left on device"))
    };
    let logged = eventually(T, || error(&sluice.log()));
    assert!(
        logged,
        "no error about the full disk; log:\n{}",
        sluice.log()
    );
    let flowing = eventually(T, || !receiver.numbers().is_empty());
    assert!(flowing, "nothing delivered while the disk is full");
    assert!(sluice.is_running(), "sluice ended; log:\n{}", sluice.log());
    println!(
        "{} of {HALF} records delivered while the disk is full",
        receiver.numbers().len()
    );

    // Space comes back: everything sent while it was full arrives.
    std::fs::remove_file(filler).unwrap();
    let delivered = receiver.wait_for(0..HALF, T);
    assert!(
        delivered,
        "{}; log:\n{}",
        missing(&receiver, 0..HALF),
        tail_of(&sluice.log())
    );
    sender.join().expect("sender thread");

    // With the receiver down, the backlog is on disk again.
    receiver.down();
    send_lines(input, HALF..2 * HALF, 100);
    let written = eventually(T, || numbers_on_disk(&storage).iter().any(|&n| n >= HALF));
    assert!(
        written,
        "no chunk file once space came back; log:\n{}",
        sluice.log()
    );
    receiver.up();
    let delivered = receiver.wait_for(0..2 * HALF, T);
    assert!(
        delivered,
        "{}; log:\n{}",
        missing(&receiver, 0..2 * HALF),
        tail_of(&sluice.log())
    );
    let cleaned = eventually(T, || chunk_files(&storage).is_empty());
    assert!(cleaned, "delivered chunk files remain");
    let status = sluice.stop(STOP);
    assert!(status.success(), "{status}");
    assert_no_panic(&common::storage::read_log(&log));
    drop(tmpfs);
    let _ = std::fs::remove_dir_all(&dir);
}
