//! The chunk file: one chunk of `storage.type filesystem` on disk, its
//! header (tag, input, the routes it still owes) and its events in
//! checksummed frames, written as they are appended and read back at
//! start-up. `docs/storage-format.md` is the byte-level description.
//!
//! Every append is one frame (`len`, CRC32C, MessagePack events), so a
//! crash mid-append leaves at most one torn frame at the end, which the
//! reader drops. A route's state is one byte at a fixed offset, written in
//! place when the route ends; the header's checksum leaves those bytes
//! out so the update needs no rewrite. Reading never panics on hostile
//! bytes: what cannot be trusted is reported, and what came before it is
//! kept.
//!
//! All calls here block on the file system; the engine makes them from
//! blocking threads.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The first bytes of every chunk file.
pub const MAGIC: &[u8; 4] = b"SLC\x01";

/// The format version this build writes and reads.
pub const VERSION: u8 = 1;

/// Frames larger than this are not believed (a chunk seals at 2 MiB).
const MAX_FRAME: usize = 64 << 20;

const FLAG_SEALED: u8 = 1;

/// What a route still owes, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteState {
    Pending = 0,
    Done = 1,
}

/// What kind of events a chunk holds. Only logs flow through sluice so
/// far; the byte is in the format so metrics and traces can join without
/// a new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventType {
    #[default]
    Logs = 0,
}

/// The header of a chunk file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkHeader {
    pub tag: String,
    pub input: String,
    pub event_type: EventType,
    /// Output instance names the chunk was routed to, with their state.
    pub routes: Vec<(String, RouteState)>,
    pub sealed: bool,
}

/// How often appends reach the disk (`storage.sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Written to the kernel on every append; the kernel writes it back.
    Normal,
    /// Synced on every append and when sealed.
    Full,
}

/// Why a chunk file cannot be read, or can be read only in part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkFileError {
    #[error("not a chunk file (bad magic)")]
    Magic,
    #[error("chunk file version {0} is not known to this build")]
    Version(u8),
    #[error("chunk file header is cut short")]
    ShortHeader,
    #[error("chunk file header checksum does not match")]
    HeaderChecksum,
    #[error("chunk file header is malformed; {0}")]
    Header(&'static str),
    #[error("frame at byte {0} fails its checksum")]
    FrameChecksum(usize),
    #[error("frame at byte {0} claims {1} bytes")]
    FrameLength(usize, usize),
}

/// What reading a chunk file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadChunk {
    pub header: ChunkHeader,
    /// The events of every whole, valid frame, back to back.
    pub events: Vec<u8>,
    pub frames: usize,
    /// Where the trusted bytes end; the file is longer when its last
    /// frame was torn by a crash or when damage stopped the read.
    pub valid_len: usize,
    /// Damage other than a torn last frame: the file should be moved
    /// aside once its good frames are taken.
    pub damage: Option<ChunkFileError>,
}

/// Encodes `header`; returns the bytes and, for each route, the offset of
/// its state byte.
fn encode_header(header: &ChunkHeader) -> (Vec<u8>, Vec<usize>) {
    let mut fixed = Vec::new();
    fixed.extend_from_slice(MAGIC);
    fixed.push(VERSION);
    fixed.push(if header.sealed { FLAG_SEALED } else { 0 });
    let mut body = Vec::new();
    put_str(&mut body, &header.tag);
    put_str(&mut body, &header.input);
    body.push(header.event_type as u8);
    body.extend_from_slice(&(header.routes.len() as u16).to_be_bytes());
    let mut names = Vec::new();
    for (name, _) in &header.routes {
        put_str(&mut names, name);
    }
    body.extend_from_slice(&names);
    // Checksum of the immutable part; the flags byte and the route
    // states change in place and are left out.
    let crc = crc32c::crc32c(&body);
    let mut out = fixed;
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&body);
    let states_at = out.len();
    let offsets = (0..header.routes.len()).map(|i| states_at + i).collect();
    out.extend(header.routes.iter().map(|(_, s)| *s as u8));
    (out, offsets)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Appends one frame holding `events` to `out`.
pub fn encode_frame(out: &mut Vec<u8>, events: &[u8]) {
    out.extend_from_slice(&(events.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(events).to_be_bytes());
    out.extend_from_slice(events);
}

/// A chunk file being written.
#[derive(Debug)]
pub struct ChunkWriter {
    file: File,
    path: PathBuf,
    sync: SyncMode,
    flags_at: u64,
    route_offsets: Vec<usize>,
    frame: Vec<u8>,
}

impl ChunkWriter {
    /// Creates the file at `path` (which must not exist) with `header`.
    ///
    /// # Errors
    ///
    /// The file cannot be created or written (a full disk among them).
    pub fn create(path: &Path, header: &ChunkHeader, sync: SyncMode) -> io::Result<Self> {
        let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
        let (bytes, route_offsets) = encode_header(header);
        file.write_all(&bytes)?;
        if sync == SyncMode::Full {
            file.sync_data()?;
        }
        Ok(ChunkWriter {
            file,
            path: path.to_path_buf(),
            sync,
            flags_at: MAGIC.len() as u64 + 1,
            route_offsets,
            frame: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a frame already encoded with [`encode_frame`].
    ///
    /// # Errors
    ///
    /// As for [`ChunkWriter::append`].
    pub fn append_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        self.file.write_all(frame)?;
        if self.sync == SyncMode::Full {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Appends whole events as one frame.
    ///
    /// # Errors
    ///
    /// The write (or, with `storage.sync full`, the sync) failed; the file
    /// then ends in a torn frame that a reader drops.
    pub fn append(&mut self, events: &[u8]) -> io::Result<()> {
        self.frame.clear();
        encode_frame(&mut self.frame, events);
        // The cursor is at the end: the header and every earlier frame
        // were written through it, and in-place updates do not move it.
        self.file.write_all(&self.frame)?;
        if self.sync == SyncMode::Full {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Marks the chunk sealed. With `storage.sync full` the file is
    /// synced too, so every append before is on disk when this returns;
    /// with `normal` it is with the kernel, which survives the process
    /// crashing but not the machine losing power.
    ///
    /// # Errors
    ///
    /// The write or the sync failed.
    pub fn seal(&mut self) -> io::Result<()> {
        self.write_at(self.flags_at, FLAG_SEALED)?;
        if self.sync == SyncMode::Full {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Records that route `index` (in the header's order) has ended.
    ///
    /// # Errors
    ///
    /// The write failed; the route then counts as pending after a crash,
    /// which redelivers to it rather than losing anything.
    pub fn route_done(&mut self, index: usize) -> io::Result<()> {
        let Some(&at) = self.route_offsets.get(index) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no such route"));
        };
        self.write_at(at as u64, RouteState::Done as u8)
    }

    fn write_at(&mut self, at: u64, byte: u8) -> io::Result<()> {
        // Positioned, so the cursor stays at the end for the next frame.
        self.file.write_all_at(&[byte], at)
    }
}

/// The offset of each route's state byte in a file with `header`.
pub fn route_offsets(header: &ChunkHeader) -> Vec<usize> {
    encode_header(header).1
}

/// Marks a route done in the file at `path`, closed since it was
/// sealed; `offset` is from [`route_offsets`].
///
/// # Errors
///
/// The file cannot be opened or written.
pub fn mark_route_done(path: &Path, offset: usize) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.write_all_at(&[RouteState::Done as u8], offset as u64)
}

/// Reads a chunk file's bytes. A torn last frame is left out quietly;
/// any other damage stops the read at the last good frame and is
/// reported in [`ReadChunk::damage`].
///
/// # Errors
///
/// The header cannot be trusted: nothing in the file can be.
pub fn read_chunk(bytes: &[u8]) -> Result<ReadChunk, ChunkFileError> {
    let (header, mut at) = read_header(bytes)?;
    let mut events = Vec::new();
    let mut frames = 0;
    let mut damage = None;
    while at < bytes.len() {
        let Some(head) = bytes.get(at..at + 8) else {
            break; // torn frame header
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if len > MAX_FRAME {
            damage = Some(ChunkFileError::FrameLength(at, len));
            break;
        }
        let Some(payload) = bytes.get(at + 8..at + 8 + len) else {
            break; // torn frame body
        };
        if crc32c::crc32c(payload) != crc {
            // A bad last frame is a torn write; one followed by more bytes
            // is damage.
            if at + 8 + len < bytes.len() {
                damage = Some(ChunkFileError::FrameChecksum(at));
            }
            break;
        }
        events.extend_from_slice(payload);
        frames += 1;
        at += 8 + len;
    }
    Ok(ReadChunk {
        header,
        events,
        frames,
        valid_len: at,
        damage,
    })
}

fn read_header(bytes: &[u8]) -> Result<(ChunkHeader, usize), ChunkFileError> {
    if bytes.len() < MAGIC.len() + 2 + 8 {
        return Err(match bytes.get(..MAGIC.len()) {
            Some(m) if m != MAGIC => ChunkFileError::Magic,
            _ => ChunkFileError::ShortHeader,
        });
    }
    if &bytes[..4] != MAGIC {
        return Err(ChunkFileError::Magic);
    }
    if bytes[4] != VERSION {
        return Err(ChunkFileError::Version(bytes[4]));
    }
    let sealed = bytes[5] & FLAG_SEALED != 0;
    let body_len = u32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]) as usize;
    let crc = u32::from_be_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]);
    let body = bytes
        .get(14..14usize.saturating_add(body_len))
        .ok_or(ChunkFileError::ShortHeader)?;
    if crc32c::crc32c(body) != crc {
        return Err(ChunkFileError::HeaderChecksum);
    }
    let mut r = HeaderReader { body, at: 0 };
    let tag = r.string()?;
    let input = r.string()?;
    let event_type = match r.u8()? {
        0 => EventType::Logs,
        _ => return Err(ChunkFileError::Header("unknown event type")),
    };
    let count = usize::from(r.u16()?);
    let names = (0..count)
        .map(|_| r.string())
        .collect::<Result<Vec<_>, _>>()?;
    if r.at != body.len() {
        return Err(ChunkFileError::Header("bytes after the route names"));
    }
    let states_at = 14 + body_len;
    let states = bytes
        .get(states_at..states_at + count)
        .ok_or(ChunkFileError::ShortHeader)?;
    let routes = names
        .into_iter()
        .zip(states)
        .map(|(name, &s)| match s {
            0 => Ok((name, RouteState::Pending)),
            1 => Ok((name, RouteState::Done)),
            _ => Err(ChunkFileError::Header("unknown route state")),
        })
        .collect::<Result<_, _>>()?;
    let header = ChunkHeader {
        tag,
        input,
        event_type,
        routes,
        sealed,
    };
    Ok((header, states_at + count))
}

struct HeaderReader<'a> {
    body: &'a [u8],
    at: usize,
}

impl HeaderReader<'_> {
    fn u8(&mut self) -> Result<u8, ChunkFileError> {
        let b = *self
            .body
            .get(self.at)
            .ok_or(ChunkFileError::Header("cut short"))?;
        self.at += 1;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16, ChunkFileError> {
        let b = self
            .body
            .get(self.at..self.at + 2)
            .ok_or(ChunkFileError::Header("cut short"))?;
        self.at += 2;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn string(&mut self) -> Result<String, ChunkFileError> {
        let len = usize::from(self.u16()?);
        let b = self
            .body
            .get(self.at..self.at + len)
            .ok_or(ChunkFileError::Header("cut short"))?;
        self.at += len;
        String::from_utf8(b.to_vec()).map_err(|_| ChunkFileError::Header("name is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> ChunkHeader {
        ChunkHeader {
            tag: "app.web".into(),
            input: "tail.0".into(),
            event_type: EventType::Logs,
            routes: vec![
                ("es.0".into(), RouteState::Pending),
                ("forward.1".into(), RouteState::Pending),
            ],
            sealed: false,
        }
    }

    fn written(dir: &str, frames: &[&[u8]]) -> (PathBuf, ChunkWriter) {
        let dir = std::env::temp_dir().join(format!("sluice-chunk-{}-{dir}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("1.chunk");
        let mut w = ChunkWriter::create(&path, &header(), SyncMode::Normal).unwrap();
        for f in frames {
            w.append(f).unwrap();
        }
        (path, w)
    }

    #[test]
    fn frames_routes_and_seal_read_back() {
        let (path, mut w) = written("roundtrip", &[b"\x01\x02", b"", b"\x03"]);
        w.route_done(1).unwrap();
        w.seal().unwrap();
        assert!(w.route_done(2).is_err());
        let read = read_chunk(&std::fs::read(&path).unwrap()).unwrap();
        let mut want = header();
        want.routes[1].1 = RouteState::Done;
        want.sealed = true;
        assert_eq!(read.header, want);
        assert_eq!(read.events, b"\x01\x02\x03");
        assert_eq!(read.frames, 3);
        assert_eq!(read.damage, None);
    }

    #[test]
    fn a_torn_last_frame_is_dropped_quietly() {
        let (path, _w) = written("torn", &[b"first", b"second"]);
        let bytes = std::fs::read(&path).unwrap();
        for cut in 1..14 {
            let read = read_chunk(&bytes[..bytes.len() - cut]).unwrap();
            assert_eq!(read.events, b"first", "cut {cut}");
            assert_eq!(read.damage, None);
            assert!(read.valid_len <= bytes.len() - cut);
        }
    }

    #[test]
    fn damage_keeps_the_frames_before_it() {
        let (path, _w) = written("flip", &[b"good", b"flipped", b"after"]);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - (8 + 5) - 3;
        bytes[at] ^= 0x40;
        let read = read_chunk(&bytes).unwrap();
        assert_eq!(read.events, b"good");
        assert!(matches!(
            read.damage,
            Some(ChunkFileError::FrameChecksum(_))
        ));
    }

    #[test]
    fn a_bad_header_is_an_error() {
        let (path, _w) = written("header", &[b"x"]);
        let bytes = std::fs::read(&path).unwrap();
        let mut flipped = bytes.clone();
        flipped[16] ^= 1;
        assert_eq!(read_chunk(&flipped), Err(ChunkFileError::HeaderChecksum));
        assert_eq!(read_chunk(b"nope, not a chunk"), Err(ChunkFileError::Magic));
        assert_eq!(read_chunk(&bytes[..10]), Err(ChunkFileError::ShortHeader));
        let mut version = bytes;
        version[4] = 9;
        assert_eq!(read_chunk(&version), Err(ChunkFileError::Version(9)));
    }

    #[test]
    fn every_prefix_and_every_bit_flip_reads_without_panic() {
        let (path, _w) = written("exhaustive", &[b"\x92\x92\xd7\x00", b"abc"]);
        let bytes = std::fs::read(&path).unwrap();
        for end in 0..=bytes.len() {
            let _ = read_chunk(&bytes[..end]);
        }
        for at in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[at] ^= 1 << bit;
                if let Ok(read) = read_chunk(&b) {
                    assert!(read.valid_len <= b.len());
                }
            }
        }
    }
}
