//! Events: a timestamp, optional metadata and a body, and their chunk form.
//!
//! In a chunk each event is the MessagePack array `[[time, {meta}], {body}]`
//! with the time as the EventTime extension (type 0, u32 seconds and u32
//! nanoseconds, big-endian), exactly as Fluent Bit stores it. The decoder
//! also takes the older `[time, {body}]` form and integer or float times,
//! which is what Forward clients and older chunks carry.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::msgpack::{self, DecodeError, Reader, Token};
use crate::value::Map;

/// The MessagePack extension type Fluent Bit and Fluentd use for times.
pub const EVENT_TIME_EXT: i8 = 0;

/// Seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventTime {
    pub sec: i64,
    pub nsec: u32,
}

impl EventTime {
    pub fn new(sec: i64, nsec: u32) -> Self {
        EventTime { sec, nsec }
    }

    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        EventTime::new(d.as_secs() as i64, d.subsec_nanos())
    }

    pub fn from_f64(t: f64) -> Self {
        let sec = t.floor();
        let nsec = ((t - sec) * 1e9).round().clamp(0.0, 999_999_999.0) as u32;
        EventTime::new(sec as i64, nsec)
    }

    pub fn as_f64(&self) -> f64 {
        self.sec as f64 + self.nsec as f64 / 1e9
    }

    /// Writes the EventTime extension (fixext8, type 0).
    pub fn write(&self, buf: &mut Vec<u8>) {
        let mut data = [0u8; 8];
        data[..4].copy_from_slice(&(self.sec.clamp(0, u32::MAX as i64) as u32).to_be_bytes());
        data[4..].copy_from_slice(&self.nsec.to_be_bytes());
        msgpack::write_ext(buf, EVENT_TIME_EXT, &data);
    }

    /// Reads a time in any of the forms Forward peers send.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.token()? {
            Token::Ext(EVENT_TIME_EXT, d) if d.len() == 8 => {
                let sec = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
                let nsec = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
                Ok(EventTime::new(sec as i64, nsec.min(999_999_999)))
            }
            Token::UInt(u) => Ok(EventTime::new(u.min(i64::MAX as u64) as i64, 0)),
            Token::Int(i) => Ok(EventTime::new(i, 0)),
            Token::Float(f) if f.is_finite() => Ok(EventTime::from_f64(f)),
            _ => Err(DecodeError::Shape("event time is not a time")),
        }
    }
}

/// A decoded event, for filters and outputs that need the tree.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Event {
    pub time: EventTime,
    pub meta: Map,
    pub body: Map,
}

impl Event {
    pub fn new(time: EventTime, body: Map) -> Self {
        Event {
            time,
            meta: Map::new(),
            body,
        }
    }

    /// Appends this event in chunk form.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        write_header(buf, self.time, &self.meta);
        msgpack::write_map(buf, &self.body);
    }
}

/// Writes `[[time, {meta}], ` so the caller can write the body map next;
/// inputs that transcode straight into a chunk use this.
pub fn write_header(buf: &mut Vec<u8>, time: EventTime, meta: &Map) {
    buf.extend_from_slice(&[0x92, 0x92]);
    time.write(buf);
    msgpack::write_map(buf, meta);
}

/// One event as it lies in a chunk: the time read, metadata and body left
/// as MessagePack slices.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RawEvent<'a> {
    pub time: EventTime,
    /// The metadata map's bytes (an empty map when the event has none).
    pub meta: &'a [u8],
    /// The body map's bytes.
    pub body: &'a [u8],
    /// The whole event's bytes.
    pub raw: &'a [u8],
}

const EMPTY_MAP: &[u8] = &[0x80];

impl<'a> RawEvent<'a> {
    /// Decodes metadata and body into trees.
    pub fn decode(&self) -> Result<Event, DecodeError> {
        Ok(Event {
            time: self.time,
            meta: Reader::new(self.meta).map()?,
            body: Reader::new(self.body).map()?,
        })
    }

    /// Reads the event at the reader's position.
    ///
    /// A well-formed event is read in one pass, the body's skip finding
    /// its end. Otherwise the whole value is skipped first, so the walk
    /// can go on after it, and the shape's error is returned.
    pub fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let rest = r.remaining();
        let mut probe = Reader::new(rest);
        if let Ok(event) = Self::read_shape(&mut probe, rest) {
            let len = probe.position();
            r.advance(len);
            return Ok(RawEvent {
                raw: &rest[..len],
                ..event
            });
        }
        let whole = r.skip()?;
        Self::read_shape(&mut Reader::new(whole), whole)
    }

    /// Reads `[[time, meta], body]` (or `[time, body]`); `raw` is set to
    /// `whole`, which the caller corrects when it reads from a longer
    /// stream.
    fn read_shape(r: &mut Reader<'a>, whole: &'a [u8]) -> Result<Self, DecodeError> {
        let (time, meta) = Self::read_header(r)?;
        let body = r.skip()?;
        if !matches!(Reader::new(body).token()?, Token::Map(_)) {
            return Err(DecodeError::Shape("event body is not a map"));
        }
        Ok(RawEvent {
            time,
            meta,
            body,
            raw: whole,
        })
    }

    /// Reads an event up to its body: the time and the metadata map.
    fn read_header(r: &mut Reader<'a>) -> Result<(EventTime, &'a [u8]), DecodeError> {
        if r.token()? != Token::Array(2) {
            return Err(DecodeError::Shape("event is not a two-element array"));
        }
        let (time, meta) = match r.clone().token()? {
            Token::Array(2) => {
                r.token()?;
                let time = EventTime::read(r)?;
                let meta = r.skip()?;
                if !matches!(Reader::new(meta).token()?, Token::Map(_)) {
                    return Err(DecodeError::Shape("event metadata is not a map"));
                }
                (time, meta)
            }
            _ => (EventTime::read(r)?, EMPTY_MAP),
        };
        Ok((time, meta))
    }
}

/// Iterates over the events in chunk bytes.
///
/// A malformed event yields an error and the walk goes on with the next
/// one when the bad event's extent is known; bytes that are not MessagePack
/// at all end the walk after the error.
#[derive(Debug, Clone)]
pub struct Events<'a> {
    reader: Reader<'a>,
    done: bool,
}

impl<'a> Events<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Events {
            reader: Reader::new(bytes),
            done: false,
        }
    }

    /// The chunk bytes not walked yet, in chunk layout: what an output
    /// hands back in a [`Partial`](crate::plugin::Partial) when it stopped
    /// before the event [`Iterator::next`] would yield now. Empty once the
    /// walk has ended, also when it ended at bytes that cannot be framed.
    pub fn rest(&self) -> &'a [u8] {
        if self.done {
            &[]
        } else {
            self.reader.remaining()
        }
    }
}

/// What [`Events::next_read_in_place`] hands its reader: the event's time
/// and metadata, and a reader at the start of its body.
#[derive(Debug)]
pub struct BodyAt<'a, 'r> {
    pub time: EventTime,
    pub meta: &'a [u8],
    pub body: &'r mut Reader<'a>,
}

impl<'a> Events<'a> {
    /// The next event, read in one pass with the body: `read` gets a
    /// reader at the start of the body and must consume exactly the body
    /// (a map). Where [`Iterator::next`] first skips the body to find
    /// where the event ends, a writer that walks the body anyway (JSON
    /// rendering) saves that skip. When `read` fails, the event is read
    /// again the careful way, so the walk goes on after it as `next` does,
    /// and `read`'s error is returned.
    pub fn next_read_in_place(
        &mut self,
        read: impl FnOnce(BodyAt<'a, '_>) -> Result<(), DecodeError>,
    ) -> Option<Result<(), DecodeError>> {
        if self.done || self.reader.is_empty() {
            return None;
        }
        let rest = self.reader.remaining();
        let mut body = Reader::new(rest);
        let Ok((time, meta)) = RawEvent::read_header(&mut body) else {
            return self.next().map(|e| e.map(|_| ()));
        };
        match read(BodyAt {
            time,
            meta,
            body: &mut body,
        }) {
            Ok(()) => {
                self.reader.advance(body.position());
                Some(Ok(()))
            }
            Err(err) => Some(self.next()?.and(Err(err))),
        }
    }
}

impl<'a> Iterator for Events<'a> {
    type Item = Result<RawEvent<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.reader.is_empty() {
            return None;
        }
        let start = self.reader.position();
        let item = RawEvent::read(&mut self.reader);
        if item.is_err() && self.reader.position() == start {
            // The event's own extent could not be read: nothing after it
            // can be framed either.
            self.done = true;
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn body(pairs: &[(&str, Value)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn event_round_trips_in_fluent_bit_layout() {
        let mut e = Event::new(
            EventTime::new(1_700_000_000, 123_456_789),
            body(&[("a", crate::Value::UInt(1))]),
        );
        e.meta.insert("m", "x".into());
        let mut buf = Vec::new();
        e.encode(&mut buf);
        assert_eq!(&buf[..4], &[0x92, 0x92, 0xd7, 0x00]);
        let raw: Vec<_> = Events::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(raw.len(), 1);
        assert_eq!(raw[0].decode().unwrap(), e);
    }

    #[test]
    fn legacy_forms_and_number_times_decode() {
        let mut buf = Vec::new();
        // [1700000000, {"k": "v"}]
        buf.push(0x92);
        msgpack::write_uint(&mut buf, 1_700_000_000);
        msgpack::write_map(&mut buf, &body(&[("k", "v".into())]));
        // [[1.5, {}], {}]
        buf.extend_from_slice(&[0x92, 0x92]);
        msgpack::write_f64(&mut buf, 1.5);
        buf.extend_from_slice(&[0x80, 0x80]);
        let events: Vec<_> = Events::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(events[0].time, EventTime::new(1_700_000_000, 0));
        assert_eq!(events[1].time, EventTime::new(1, 500_000_000));
    }

    #[test]
    fn body_that_is_not_a_map_is_an_error_and_the_walk_goes_on() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&[0x92, 0x01, 0x02]); // [1, 2]
        Event::new(EventTime::new(5, 0), Map::new()).encode(&mut buf);
        let items: Vec<_> = Events::new(&buf).collect();
        assert!(items[0].is_err());
        assert_eq!(items[1].as_ref().unwrap().time.sec, 5);
    }

    #[test]
    fn a_body_read_in_place_moves_the_walk_past_it_even_when_reading_fails() {
        let mut buf = Vec::new();
        for n in 0..3u64 {
            let body = [("n".to_string(), Value::UInt(n))].into_iter().collect();
            Event::new(EventTime::new(n as i64, 0), body).encode(&mut buf);
        }
        buf.extend_from_slice(&[0x92, 0x01, 0x02]); // [1, 2]: no body map
        let mut events = Events::new(&buf);
        let mut seen = Vec::new();
        while let Some(item) = events.next_read_in_place(|at| {
            let body = at.body.value()?;
            if at.time.sec == 1 {
                // A writer that fails after reading the whole body.
                return Err(DecodeError::Shape("refused"));
            }
            seen.push((at.time.sec, body));
            Ok(())
        }) {
            seen.push((-1, Value::Bool(item.is_ok())));
        }
        let oks: Vec<_> = seen
            .iter()
            .filter(|(t, _)| *t >= 0)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(oks, [0, 2]);
        let results: Vec<_> = seen
            .iter()
            .filter(|(t, _)| *t < 0)
            .map(|(_, v)| v.clone())
            .collect();
        let ok = Value::Bool(true);
        let err = Value::Bool(false);
        assert_eq!(results, [ok.clone(), err.clone(), ok, err]);
    }

    #[test]
    fn garbage_ends_the_walk_without_panic() {
        let items: Vec<_> = Events::new(&[0xdd, 0xff, 0xff, 0xff, 0xff]).collect();
        assert_eq!(items.len(), 1);
        assert!(items[0].is_err());
    }
}
