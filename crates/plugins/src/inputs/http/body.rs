//! Request bodies to events: the pure part of the `http` input, with no
//! socket and no engine, so a fuzz target can call [`decode`] directly.
//!
//! A JSON body (`application/json` or `application/x-ndjson`) may hold
//! one object, an array of objects, or objects one after another with or
//! without newlines between them (NDJSON); each object becomes one event.
//! A form body (`application/x-www-form-urlencoded`) becomes one event
//! whose keys and values are the decoded pairs, all strings. A gzip body
//! (`Content-Encoding: gzip`) is inflated first, never past the size
//! limit, so a small hostile body cannot take memory.
//!
//! JSON is transcoded to MessagePack as it is parsed; no record tree is
//! built. Events are grouped by tag: the request's tag, or the string a
//! record holds under `tag_key`, which must pass [`super::tag::check`].
//! Decoding is all or nothing: one bad record refuses the whole body, so
//! a client that sends it again after fixing it never duplicates the
//! records that were fine.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;

use flate2::read::MultiGzDecoder;
use sluice_core::event::write_header;
use sluice_core::json::{split_object, to_msgpack, to_msgpack_object, JsonError, Split};
use sluice_core::msgpack::{self, Reader, Token};
use sluice_core::{EventTime, Map};

use super::tag::{self, percent_decode, TagError};

/// The key `add_remote_addr` writes the client's address under.
pub const REMOTE_ADDR_KEY: &str = "REMOTE_ADDR";

/// What a body holds, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// JSON objects: one, an array of them, or a stream (NDJSON).
    Json,
    /// `key=value&...` pairs: one record.
    Form,
}

impl BodyFormat {
    /// Reads a `Content-Type` value; parameters such as `charset` are
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`BodyError::NoContentType`] when it is missing,
    /// [`BodyError::ContentType`] when it names another format.
    pub fn from_content_type(value: Option<&[u8]>) -> Result<Self, BodyError> {
        let value = value.ok_or(BodyError::NoContentType)?;
        let media = value.split(|&b| b == b';').next().unwrap_or_default();
        let media = String::from_utf8_lossy(media).trim().to_ascii_lowercase();
        match media.as_str() {
            "application/json" | "application/x-ndjson" => Ok(BodyFormat::Json),
            "application/x-www-form-urlencoded" => Ok(BodyFormat::Form),
            _ => Err(BodyError::ContentType(media)),
        }
    }
}

/// Reads a `Content-Encoding` value: `true` for gzip, `false` for none.
///
/// # Errors
///
/// [`BodyError::Encoding`] for any other coding.
pub fn is_gzip(value: Option<&[u8]>) -> Result<bool, BodyError> {
    let coding = String::from_utf8_lossy(value.unwrap_or_default())
        .trim()
        .to_ascii_lowercase();
    match coding.as_str() {
        "" | "identity" => Ok(false),
        "gzip" | "x-gzip" => Ok(true),
        _ => Err(BodyError::Encoding(coding)),
    }
}

/// How to read one body.
#[derive(Debug, Clone)]
pub struct BodyOptions<'a> {
    pub format: BodyFormat,
    /// The body is gzip (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// The most bytes the body may take once inflated.
    pub max_size: usize,
    /// The tag of records that do not name one under `tag_key`.
    pub tag: &'a str,
    pub tag_key: Option<&'a str>,
    /// The address written under [`REMOTE_ADDR_KEY`], if any.
    pub remote_addr: Option<&'a str>,
    /// The time every event of the body gets.
    pub time: EventTime,
}

/// Events of one tag, in chunk layout, ready to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub tag: String,
    pub data: Vec<u8>,
    pub records: usize,
}

/// Why a body was refused; nothing of it is appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// No `Content-Type` header.
    #[error("missing content-type header")]
    NoContentType,
    /// A `Content-Type` this input does not read.
    #[error("unsupported content-type '{0}'")]
    ContentType(String),
    /// A `Content-Encoding` other than gzip.
    #[error("unsupported content-encoding '{0}'")]
    Encoding(String),
    /// The body, inflated or not, is larger than `buffer_max_size`.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// `Content-Encoding: gzip` on data that is not gzip.
    #[error("invalid gzip body; {0}")]
    Gzip(String),
    /// Nothing but white space.
    #[error("empty body")]
    Empty,
    /// A record that does not parse.
    #[error("record {index}: {source}")]
    Json { index: usize, source: JsonError },
    /// JSON that is not an object where a record should be.
    #[error("record {0} is not a json object")]
    NotObject(usize),
    /// A record's `tag_key` value is not a tag a client may set.
    #[error("record {index}: tag_key value refused; {source}")]
    Tag { index: usize, source: TagError },
}

impl BodyError {
    /// The HTTP status the client gets.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge(_) => 413,
            BodyError::ContentType(_) | BodyError::Encoding(_) => 415,
            _ => 400,
        }
    }
}

/// Decodes a body into events grouped by tag, in the order the tags first
/// appear.
///
/// # Errors
///
/// Any [`BodyError`]; on error no event of the body is returned.
pub fn decode(body: &[u8], opts: &BodyOptions<'_>) -> Result<Vec<Batch>, BodyError> {
    if body.len() > opts.max_size {
        return Err(BodyError::TooLarge(opts.max_size));
    }
    let body = match opts.gzip {
        true => Cow::Owned(inflate(body, opts.max_size)?),
        false => Cow::Borrowed(body),
    };
    let mut events = Collector::new(opts);
    match opts.format {
        BodyFormat::Json => json_body(&body, &mut events)?,
        BodyFormat::Form => form_body(&body, &mut events)?,
    }
    Ok(events.batches)
}

/// Inflates gzip data (one member or several), refusing more than `cap`
/// bytes of output.
fn inflate(data: &[u8], cap: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(cap));
    let mut decoder = MultiGzDecoder::new(data).take(cap as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Gzip(e.to_string()))?;
    if out.len() > cap {
        return Err(BodyError::TooLarge(cap));
    }
    Ok(out)
}

fn json_body(body: &[u8], events: &mut Collector<'_>) -> Result<(), BodyError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(BodyError::Empty),
        Some(b'[') => json_array(body, events),
        Some(_) => json_stream(body, events),
    }
}

/// `[{...}, {...}]`: transcoded whole, then each element is copied out.
fn json_array(body: &[u8], events: &mut Collector<'_>) -> Result<(), BodyError> {
    let mut packed = Vec::with_capacity(body.len());
    to_msgpack(body, &mut packed).map_err(|source| BodyError::Json { index: 0, source })?;
    let mut reader = Reader::new(&packed);
    let Ok(Token::Array(n)) = reader.token() else {
        unreachable!("a body starting with '[' that parsed is an array");
    };
    for _ in 0..n {
        let index = events.count;
        let element = reader.skip().map_err(|_| BodyError::NotObject(index))?;
        if !matches!(element.first(), Some(0x80..=0x8f | 0xde | 0xdf)) {
            return Err(BodyError::NotObject(index));
        }
        events.begin().extend_from_slice(element);
        events.end()?;
    }
    Ok(())
}

/// One object, or objects one after another (NDJSON).
fn json_stream(body: &[u8], events: &mut Collector<'_>) -> Result<(), BodyError> {
    let mut at = 0;
    while at < body.len() {
        let index = events.count;
        match split_object(&body[at..]) {
            Split::Empty(n) => at += n,
            Split::Object { start, end } => {
                let text = &body[at + start..at + end];
                to_msgpack_object(text, events.begin())
                    .map_err(|source| BodyError::Json { index, source })?;
                events.end()?;
                at += end;
            }
            Split::Junk { .. } => return Err(BodyError::NotObject(index)),
            Split::Partial { .. } => {
                let source = JsonError("object cut short by the end of the body".into());
                return Err(BodyError::Json { index, source });
            }
        }
    }
    Ok(())
}

/// `a=1&b=two+words`: one record of strings.
fn form_body(body: &[u8], events: &mut Collector<'_>) -> Result<(), BodyError> {
    let pairs: Vec<&[u8]> = body
        .split(|&b| b == b'&')
        .map(<[u8]>::trim_ascii)
        .filter(|p| !p.is_empty())
        .collect();
    if pairs.is_empty() {
        return Err(BodyError::Empty);
    }
    let out = events.begin();
    msgpack::write_map_len(out, pairs.len());
    for pair in pairs {
        let (key, value) = match memchr::memchr(b'=', pair) {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &b""[..]),
        };
        // A stray '%' is kept as it is rather than losing the pair.
        let key = percent_decode(key, true).unwrap_or_else(|| key.to_vec());
        let value = percent_decode(value, true).unwrap_or_else(|| value.to_vec());
        msgpack::write_str_bytes(out, &key);
        msgpack::write_str_bytes(out, &value);
    }
    events.end()
}

/// Builds events one at a time and files them under their tag.
struct Collector<'a> {
    opts: &'a BodyOptions<'a>,
    /// The event being built: header, then body from `body_at`.
    event: Vec<u8>,
    body_at: usize,
    count: usize,
    batches: Vec<Batch>,
    by_tag: HashMap<String, usize>,
}

impl<'a> Collector<'a> {
    fn new(opts: &'a BodyOptions<'a>) -> Self {
        Collector {
            opts,
            event: Vec::with_capacity(256),
            body_at: 0,
            count: 0,
            batches: Vec::new(),
            by_tag: HashMap::new(),
        }
    }

    /// Starts an event; the caller writes its body (a map) after it.
    fn begin(&mut self) -> &mut Vec<u8> {
        self.event.clear();
        write_header(&mut self.event, self.opts.time, &Map::new());
        self.body_at = self.event.len();
        &mut self.event
    }

    /// Finishes the event written since [`Collector::begin`].
    fn end(&mut self) -> Result<(), BodyError> {
        let index = self.count;
        let body = &self.event[self.body_at..];
        let tag = match self.opts.tag_key.and_then(|key| string_field(body, key)) {
            Some(value) => {
                let value = std::str::from_utf8(value).map_err(|_| BodyError::Tag {
                    index,
                    source: TagError::NotUtf8,
                })?;
                tag::check(value).map_err(|source| BodyError::Tag { index, source })?;
                value
            }
            None => self.opts.tag,
        };
        let slot = slot_for(&mut self.batches, &mut self.by_tag, tag);
        if let Some(addr) = self.opts.remote_addr {
            // The body was just written whole, so its header is a map.
            if msgpack::grow_map(&mut self.event, self.body_at).is_ok() {
                msgpack::write_str(&mut self.event, REMOTE_ADDR_KEY);
                msgpack::write_str(&mut self.event, addr);
            }
        }
        let batch = &mut self.batches[slot];
        batch.data.extend_from_slice(&self.event);
        batch.records += 1;
        self.count += 1;
        Ok(())
    }
}

/// The batch of `tag`, opened when it is the tag's first event.
fn slot_for(batches: &mut Vec<Batch>, by_tag: &mut HashMap<String, usize>, tag: &str) -> usize {
    if let Some(&slot) = by_tag.get(tag) {
        return slot;
    }
    let slot = batches.len();
    by_tag.insert(tag.to_owned(), slot);
    batches.push(Batch {
        tag: tag.to_owned(),
        data: Vec::new(),
        records: 0,
    });
    slot
}

/// The first string stored under `key` in the MessagePack map `record`.
fn string_field<'r>(record: &'r [u8], key: &str) -> Option<&'r [u8]> {
    let mut reader = Reader::new(record);
    let Ok(Token::Map(n)) = reader.token() else {
        return None;
    };
    for _ in 0..n {
        let is_key = matches!(reader.token().ok()?, Token::Str(k) if k == key.as_bytes());
        if is_key {
            if let Ok(Token::Str(value)) = reader.clone().token() {
                return Some(value);
            }
        }
        reader.skip().ok()?;
    }
    None
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
