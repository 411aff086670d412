//! `stdin`: one record per line of standard input.
//!
//! Without a parser, a line holding a JSON object becomes that record and
//! any other line becomes `{"log": line}`. Options: `buffer_size` (bytes
//! asked for per read, default 16k; lines of any length are kept whole),
//! `parser` (a `[PARSER]` name: each line is parsed with it and takes its
//! time; a line it does not match is kept as `{"log": line}` and counted,
//! logged at debug per read). At EOF the last line is taken even without
//! a newline and the input ends; when it is the only input, the engine then
//! delivers everything and exits — unlike Fluent Bit, which can lose the
//! records read just before EOF.
//!
//! Standard input is one stream per process, so one thread reads it for
//! the life of the process and hands reads to whichever `stdin` input is
//! running. A hot reload thus passes the stream, with any partial line
//! already read, to the next pipeline's `stdin` without losing a byte.

use std::sync::Arc;

use async_trait::async_trait;
use sluice_core::config::{ConfigError, PluginConfig, PropKind, Property};
use sluice_core::event::write_header;
use sluice_core::parser::{append_event, ParseState, Parser};
use sluice_core::plugin::{BuildInput, Input, InputContext, PluginError, Setup, Spec};
use sluice_core::{msgpack, EventTime, Map};
use std::io::Read as _;
use std::sync::OnceLock;
use tokio::sync::{mpsc, Mutex};

const PROPS: &[Property] = &[
    Property::new(
        "buffer_size",
        PropKind::Size,
        Some("16k"),
        "Bytes asked for per read",
    ),
    Property::new(
        "parser",
        PropKind::Str,
        None,
        "Parser for each line (default: JSON objects, else {\"log\": line})",
    ),
];

pub const SPEC: Spec<BuildInput> = Spec {
    name: "stdin",
    description: "Read records from standard input, one per line",
    properties: PROPS,
    build,
};

struct Stdin {
    read_size: usize,
    parser: Option<Arc<dyn Parser>>,
}

fn build(cfg: &PluginConfig, setup: &Setup) -> Result<Box<dyn Input>, ConfigError> {
    let parser = cfg.entry("parser").map(|e| setup.parser(e)).transpose()?;
    let read_size = cfg
        .size("buffer_size")
        .unwrap_or(16 * 1024)
        .clamp(1024, 64 << 20) as usize;
    Ok(Box::new(Stdin { read_size, parser }))
}

#[async_trait]
impl Input for Stdin {
    async fn run(self: Box<Self>, ctx: InputContext) -> Result<(), PluginError> {
        let mut shared = shared_stdin(self.read_size.max(64 * 1024)).lock().await;
        shared.read_lines(&ctx, LineBatch::new(self.parser)).await
    }
}

/// The process's one reader of standard input, with what was read but
/// not yet framed. Held by the running `stdin` input; the next one (after
/// a reload) takes over exactly where it stopped.
struct SharedStdin {
    reads: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    /// A partial last line, waiting for its newline.
    pending: Vec<u8>,
    ended: bool,
}

static SHARED: OnceLock<Mutex<SharedStdin>> = OnceLock::new();

fn shared_stdin(read_size: usize) -> &'static Mutex<SharedStdin> {
    SHARED.get_or_init(|| {
        // A few reads in flight: when the input pauses, the reader blocks
        // and the writer of the pipe with it.
        let (tx, reads) = mpsc::channel(4);
        let started = std::thread::Builder::new()
            .name("stdin-reader".into())
            .spawn(move || read_stdin(&tx, read_size));
        if let Err(err) = started {
            // The sender is gone with the closure: the input sees the
            // channel closed and stops with an error.
            tracing::error!(error = %err, "cannot start the stdin reader thread");
        }
        Mutex::new(SharedStdin {
            reads,
            pending: Vec::new(),
            ended: false,
        })
    })
}

/// Reads fd 0 until EOF (sent as an empty read) or an error.
fn read_stdin(tx: &mpsc::Sender<std::io::Result<Vec<u8>>>, read_size: usize) {
    let mut stdin = std::io::stdin().lock();
    loop {
        let mut buf = vec![0; read_size];
        let sent = match stdin.read(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                let eof = n == 0;
                tx.blocking_send(Ok(buf)).is_ok() && !eof
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => true,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                false
            }
        };
        if !sent {
            return;
        }
    }
}

impl SharedStdin {
    /// Appends one record per line until EOF. Stopping at an await loses
    /// nothing: the partial line stays in `pending`.
    async fn read_lines(
        &mut self,
        ctx: &InputContext,
        mut batch: LineBatch,
    ) -> Result<(), PluginError> {
        while !self.ended {
            ctx.ready().await;
            let Some(read) = self.reads.recv().await else {
                return Err(PluginError::Other("the stdin reader is gone".into()));
            };
            let data = read?;
            self.ended = data.is_empty();
            self.pending.extend_from_slice(&data);
            let consumed = batch.frame(&self.pending, self.ended);
            self.pending.drain(..consumed);
            batch.flush(ctx);
        }
        Ok(())
    }
}

/// Encodes lines into events, reusing one buffer.
#[derive(Default)]
pub(crate) struct LineBatch {
    buf: Vec<u8>,
    records: usize,
    errors: usize,
    parser: Option<Arc<dyn Parser>>,
    state: ParseState,
    unmatched: usize,
    time_errors: usize,
}

impl LineBatch {
    pub(crate) fn new(parser: Option<Arc<dyn Parser>>) -> Self {
        LineBatch {
            parser,
            ..LineBatch::default()
        }
    }

    /// Encodes every whole line of `data` (and, at EOF, the rest) and
    /// returns how many bytes were used.
    fn frame(&mut self, data: &[u8], eof: bool) -> usize {
        let time = EventTime::now();
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', data) {
            self.line(&data[start..nl], time);
            start = nl + 1;
        }
        if eof && start < data.len() {
            self.line(&data[start..], time);
            start = data.len();
        }
        start
    }

    fn line(&mut self, line: &[u8], time: EventTime) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return;
        }
        self.records += 1;
        if let Some(parser) = &self.parser {
            match append_event(&**parser, &mut self.state, line, time, &mut self.buf) {
                Ok(parsed) => self.time_errors += usize::from(parsed.time_error),
                Err(_) => {
                    self.unmatched += 1;
                    write_header(&mut self.buf, time, &Map::new());
                    write_log(&mut self.buf, line);
                }
            }
            return;
        }
        let mark = self.buf.len();
        write_header(&mut self.buf, time, &Map::new());
        let body_at = self.buf.len();
        let looks_json = line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if !(looks_json && super::json_object(line, &mut self.buf).is_ok()) {
            self.buf.truncate(body_at);
            if looks_json {
                self.errors += 1;
            }
            write_log(&mut self.buf, line);
        }
        debug_assert!(self.buf.len() > mark);
    }

    fn flush(&mut self, ctx: &InputContext) {
        if self.errors > 0 {
            tracing::debug!(
                lines = self.errors,
                "lines looked like JSON but did not parse; kept as log"
            );
            self.errors = 0;
        }
        if self.unmatched + self.time_errors > 0 {
            tracing::debug!(
                input = %ctx.name(),
                unmatched = self.unmatched,
                time_errors = self.time_errors,
                "lines kept as log, or with their time unread"
            );
            self.unmatched = 0;
            self.time_errors = 0;
        }
        if self.records > 0 {
            ctx.append(ctx.tag(), &self.buf, self.records);
        }
        self.buf.clear();
        self.records = 0;
    }
}

/// The body `{"log": line}`.
fn write_log(buf: &mut Vec<u8>, line: &[u8]) {
    buf.push(0x81);
    msgpack::write_str(buf, "log");
    msgpack::write_str_bytes(buf, line);
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::event::Events;
    use sluice_core::Value;

    fn bodies(batch: &LineBatch) -> Vec<Map> {
        Events::new(&batch.buf)
            .map(|e| e.unwrap().decode().unwrap().body)
            .collect()
    }

    #[test]
    fn json_lines_and_plain_lines() {
        let mut b = LineBatch::default();
        let used = b.frame(b"{\"a\":1}\nplain text\r\n\n{broken\npartial", false);
        assert_eq!(used, 29, "the unterminated tail waits for more");
        let got = bodies(&b);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].get("a"), Some(&Value::UInt(1)));
        assert_eq!(got[1].get("log"), Some(&Value::Str("plain text".into())));
        assert_eq!(got[2].get("log"), Some(&Value::Str("{broken".into())));
    }

    #[test]
    fn last_line_without_newline_is_kept_at_eof() {
        let mut b = LineBatch::default();
        assert_eq!(b.frame(b"one\ntwo", true), 7);
        assert_eq!(bodies(&b).len(), 2);
    }

    #[test]
    fn a_parser_reads_each_line_and_unmatched_lines_stay_whole() {
        let parser = crate::parsers::testing::build(&[
            ("Format", "regex"),
            ("Regex", r"^(?<time>\d+) (?<msg>.+)$"),
            ("Time_Format", "%s"),
        ])
        .unwrap();
        let mut b = LineBatch::new(Some(parser));
        b.frame(b"1700000000 hello\nnot parsed\n", false);
        let events: Vec<_> = Events::new(&b.buf)
            .map(|e| e.unwrap().decode().unwrap())
            .collect();
        assert_eq!(events[0].time, EventTime::new(1_700_000_000, 0));
        assert_eq!(events[0].body.get("msg"), Some(&Value::Str("hello".into())));
        assert!(events[0].body.get("time").is_none());
        assert_eq!(
            events[1].body.get("log"),
            Some(&Value::Str("not parsed".into()))
        );
        assert_eq!((b.records, b.unmatched), (2, 1));
    }
}
