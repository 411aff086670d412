//! The push body in Loki's protobuf form, for `compress snappy`: the
//! `PushRequest` message of Loki's `push.proto`, written by hand (four
//! small messages do not need a code generator), then compressed as one
//! Snappy block.
//!
//! ```text
//! PushRequest   { repeated Stream streams = 1; }
//! Stream        { string labels = 1; repeated Entry entries = 2; }
//! Entry         { Timestamp timestamp = 1; string line = 2;
//!                 repeated LabelPair structuredMetadata = 3; }
//! Timestamp     { int64 seconds = 1; int32 nanos = 2; }
//! LabelPair     { string name = 1; string value = 2; }
//! ```
//!
//! A stream's labels travel as one string in Prometheus' selector form,
//! `{job="sluice", app="web"}`.

use super::push::Entries;

/// Wire type of varint fields.
const VARINT: u8 = 0;
/// Wire type of strings and nested messages.
const LENGTH: u8 = 2;

/// Appends the `PushRequest` of `streams`, uncompressed.
pub(crate) fn write_push(out: &mut Vec<u8>, streams: &[(Vec<(String, String)>, Entries)]) {
    let mut stream = Vec::new();
    let mut entry = Vec::new();
    let mut inner = Vec::new();
    for (labels, entries) in streams {
        stream.clear();
        string_field(&mut stream, 1, selector(labels).as_bytes());
        for (time, line, metadata) in entries {
            entry.clear();
            inner.clear();
            varint_field(&mut inner, 1, time.sec.max(0) as u64);
            varint_field(&mut inner, 2, u64::from(time.nsec));
            message_field(&mut entry, 1, &inner);
            string_field(&mut entry, 2, line.as_bytes());
            for (name, value) in metadata {
                inner.clear();
                string_field(&mut inner, 1, name.as_bytes());
                string_field(&mut inner, 2, value.as_bytes());
                message_field(&mut entry, 3, &inner);
            }
            message_field(&mut stream, 2, &entry);
        }
        message_field(out, 1, &stream);
    }
}

/// Compresses a body as one Snappy block, as Loki reads protobuf pushes;
/// off the reactor when it is large.
pub(crate) async fn snappy(body: Vec<u8>) -> Vec<u8> {
    sluice_core::net::http_client::compress_with(body, snappy_now).await
}

fn snappy_now(body: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(body)
        .expect("a push body is far below Snappy's 4 GiB block limit")
}

/// `{name="value", ...}`, values escaped as Prometheus reads them.
fn selector(labels: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, u64::from(field << 3 | u32::from(wire)));
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A varint field; zero is the default and is left out, as protobuf
/// encoders do.
fn varint_field(out: &mut Vec<u8>, field: u32, n: u64) {
    if n != 0 {
        key(out, field, VARINT);
        varint(out, n);
    }
}

fn string_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    message_field(out, field, bytes);
}

fn message_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(out, field, LENGTH);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::EventTime;

    #[test]
    fn a_push_request_is_written_field_by_field() {
        let labels = vec![("job".to_owned(), "a\"b".to_owned())];
        let entries = vec![(
            EventTime::new(1, 2),
            "hi".to_owned(),
            vec![("k".to_owned(), "v".to_owned())],
        )];
        let mut out = Vec::new();
        write_push(&mut out, &[(labels, entries)]);
        let selector = b"{job=\"a\\\"b\"}";
        let mut entry = vec![0x0a, 4, 0x08, 1, 0x10, 2, 0x12, 2, b'h', b'i'];
        entry.extend_from_slice(&[0x1a, 6, 0x0a, 1, b'k', 0x12, 1, b'v']);
        let mut stream = vec![0x0a, selector.len() as u8];
        stream.extend_from_slice(selector);
        stream.extend_from_slice(&[0x12, entry.len() as u8]);
        stream.extend_from_slice(&entry);
        let mut want = vec![0x0a, stream.len() as u8];
        want.extend_from_slice(&stream);
        assert_eq!(out, want);

        let packed = snappy_now(&out);
        assert_eq!(
            snap::raw::Decoder::new().decompress_vec(&packed).unwrap(),
            out
        );
    }

    #[test]
    fn varints_take_seven_bits_a_byte() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
    }
}
