//! JSON text to MessagePack in one pass, without building a tree.
//!
//! The reader (`reader.rs`) writes each scalar as it reads it. A
//! container's element count is only known at its end, so
//! its header is first written in the one-byte form (fixarray/fixmap) and
//! widened in place when the count turns out to be 16 or more, which
//! shifts the contents up once. Output therefore uses the smallest headers,
//! as `msgpack::write_array_len`/`write_map_len` would, and most records
//! (fewer than 16 keys, small nested objects) are never moved at all.

use super::reader::transcode;
use super::JsonError;
use crate::msgpack::Reader;
use crate::value::Map;

/// Transcodes one JSON value into MessagePack appended to `out`.
///
/// Integers become MessagePack ints (`u64` when non-negative), other
/// numbers `f64`, strings are copied without a per-string allocation, and
/// object keys keep their order and repeats.
///
/// # Errors
///
/// Invalid JSON, nesting deeper than serde_json's limit (128), or
/// anything but whitespace after the value; the message is serde_json's
/// and names the line and column. On error `out` is left as it was.
pub fn to_msgpack(json: &[u8], out: &mut Vec<u8>) -> Result<(), JsonError> {
    let mark = out.len();
    let result = transcode(json, out);
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

/// Like [`to_msgpack`], for a value that must be an object: the form a
/// record body takes, so inputs write it straight into a chunk.
///
/// # Errors
///
/// Those of [`to_msgpack`], and "expected an object" when the text holds
/// another kind of value. On error `out` is left as it was.
pub fn to_msgpack_object(json: &[u8], out: &mut Vec<u8>) -> Result<(), JsonError> {
    // Looking at the first byte refuses a non-object before parsing it;
    // empty input falls through so serde_json reports where it ended.
    let first = json
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    match first {
        Some(b'{') | None => to_msgpack(json, out),
        Some(_) => Err(JsonError("expected an object".into())),
    }
}

/// Parses JSON text that must be an object into a map, keeping key order
/// and repeated keys.
///
/// # Errors
///
/// Those of [`to_msgpack_object`].
pub fn parse_object(json: &[u8]) -> Result<Map, JsonError> {
    let mut buf = Vec::with_capacity(json.len());
    to_msgpack_object(json, &mut buf)?;
    Reader::new(&buf)
        .map()
        .map_err(|e| JsonError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::{write_msgpack, write_value};
    use super::*;
    use crate::msgpack::{self, Reader};
    use crate::value::Value;
    use proptest::prelude::*;

    fn transcoded(json: &str) -> Vec<u8> {
        let mut out = Vec::new();
        to_msgpack(json.as_bytes(), &mut out).unwrap();
        out
    }

    fn decoded(json: &str) -> Value {
        let bytes = transcoded(json);
        let mut r = Reader::new(&bytes);
        let v = r.value().unwrap();
        assert!(r.is_empty(), "one value, nothing after it");
        v
    }

    #[test]
    fn scalars_take_their_messagepack_forms() {
        assert_eq!(transcoded("null"), [0xc0]);
        assert_eq!(transcoded(" true "), [0xc3]);
        assert_eq!(transcoded("5"), [0x05]);
        assert_eq!(transcoded("-1"), [0xff]);
        assert_eq!(transcoded("300"), [0xcd, 0x01, 0x2c]);
        assert_eq!(decoded("18446744073709551615"), Value::UInt(u64::MAX));
        assert_eq!(decoded("-9223372036854775808"), Value::Int(i64::MIN));
        assert_eq!(decoded("1.5"), Value::Float(1.5));
        let err = to_msgpack(b"1e400", &mut Vec::new()).unwrap_err();
        assert!(err.0.contains("out of range"), "{err}");
        assert_eq!(transcoded(r#""hi""#), [0xa2, b'h', b'i']);
        assert_eq!(
            decoded(r#""a\nb\u00e9\ud83d\ude00""#),
            Value::from("a\nb\u{e9}\u{1f600}")
        );
    }

    #[test]
    fn objects_keep_order_and_repeated_keys() {
        let m = parse_object(br#"{"b":1,"a":[true,null],"b":{"c":"d"}}"#).unwrap();
        let keys: Vec<_> = m.keys().collect();
        assert_eq!(keys, ["b", "a", "b"]);
        assert_eq!(
            m.get("a"),
            Some(&Value::Array(vec![Value::Bool(true), Value::Null]))
        );
    }

    #[test]
    fn headers_are_the_smallest_form() {
        for n in [0usize, 1, 15, 16, 17, 65_535, 65_536, 70_000] {
            let items = vec!["0"; n].join(",");
            let mut want = Vec::new();
            msgpack::write_array_len(&mut want, n);
            want.resize(want.len() + n, 0);
            assert_eq!(transcoded(&format!("[{items}]")), want, "array of {n}");

            let pairs: Vec<_> = (0..n).map(|i| format!("\"{}\":{}", i % 10, 1)).collect();
            let mut want = Vec::new();
            msgpack::write_map_len(&mut want, n);
            for i in 0..n {
                msgpack::write_str(&mut want, &(i % 10).to_string());
                msgpack::write_uint(&mut want, 1);
            }
            assert_eq!(
                transcoded(&format!("{{{}}}", pairs.join(","))),
                want,
                "map of {n}"
            );
        }
    }

    #[test]
    fn nested_wide_containers_are_patched_in_place() {
        let inner = format!("[{}]", vec!["7"; 20].join(","));
        let json = format!(r#"{{"x":{inner},"y":[{inner},{inner}],"z":"end"}}"#);
        let want: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut back = Vec::new();
        write_value(&mut back, &decoded(&json));
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&back).unwrap(),
            want
        );
    }

    #[test]
    fn errors_name_the_place_and_leave_out_untouched() {
        let mut out = b"keep".to_vec();
        let err = to_msgpack(b"{\"a\":1,\n\"b\":}", &mut out).unwrap_err();
        assert!(err.0.contains("line 2"), "{err}");
        assert_eq!(out, b"keep");

        let err = to_msgpack(br#"{"a":1} x"#, &mut out).unwrap_err();
        assert!(err.0.contains("trailing characters"), "{err}");
        assert_eq!(out, b"keep");

        assert!(to_msgpack(b"", &mut out).is_err());
        assert!(to_msgpack(b"[1,2", &mut out).is_err());
        assert!(to_msgpack(br#""\ud800""#, &mut out).is_err());
        assert_eq!(out, b"keep");
    }

    #[test]
    fn object_only_entry_refuses_other_values() {
        let mut out = b"keep".to_vec();
        for text in ["[1]", "  \"s\"", "3", "null"] {
            let err = to_msgpack_object(text.as_bytes(), &mut out).unwrap_err();
            assert_eq!(err.to_string(), "invalid json: expected an object");
        }
        assert!(to_msgpack_object(b"   ", &mut out).is_err());
        assert!(to_msgpack_object(br#"{"a":}"#, &mut out).is_err());
        assert_eq!(out, b"keep");
        to_msgpack_object(b" {\"a\":1} \n", &mut out).unwrap();
        assert_eq!(out, b"keep\x81\xa1a\x01");
        assert!(parse_object(b"[]").is_err());
    }

    #[test]
    fn nesting_past_the_limit_is_an_error() {
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(to_msgpack(ok.as_bytes(), &mut Vec::new()).is_ok());
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = to_msgpack(deep.as_bytes(), &mut Vec::new()).unwrap_err();
        assert!(err.0.contains("recursion limit"), "{err}");
    }

    /// Any finite float: the writer prints the shortest text that reads
    /// back as the same float, and the reader parses floats exactly.
    fn exact_float() -> impl Strategy<Value = f64> {
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
    }

    /// Values JSON can carry without loss.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| if i >= 0 {
                Value::UInt(i as u64)
            } else {
                Value::Int(i)
            }),
            any::<u64>().prop_map(Value::UInt),
            exact_float().prop_map(Value::Float),
            any::<String>().prop_map(Value::Str),
        ];
        leaf.prop_recursive(5, 64, 10, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..20).prop_map(Value::Array),
                proptest::collection::vec((any::<String>(), inner), 0..20)
                    .prop_map(|pairs| Value::Map(pairs.into_iter().collect())),
            ]
        })
    }

    /// Anything a chunk can hold, including what JSON prints lossily.
    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<u64>().prop_map(Value::UInt),
            any::<f64>().prop_map(Value::Float),
            any::<String>().prop_map(Value::Str),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bin),
            (any::<i8>(), proptest::collection::vec(any::<u8>(), 0..20))
                .prop_map(|(k, d)| Value::Ext(k, d)),
            (0u32..u32::MAX, 0u32..u32::MAX).prop_map(|(s, n)| {
                let mut d = s.to_be_bytes().to_vec();
                d.extend_from_slice(&n.to_be_bytes());
                Value::Ext(0, d)
            }),
        ];
        leaf.prop_recursive(5, 64, 10, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..20).prop_map(Value::Array),
                proptest::collection::vec((any::<String>(), inner), 0..20)
                    .prop_map(|pairs| Value::Map(pairs.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn json_round_trips_through_messagepack(v in json_value()) {
            let mut json = Vec::new();
            write_value(&mut json, &v);
            let mut bytes = Vec::new();
            to_msgpack(&json, &mut bytes).unwrap();
            let mut r = Reader::new(&bytes);
            prop_assert_eq!(r.value().unwrap(), v);
            prop_assert!(r.is_empty());
        }

        #[test]
        fn streaming_writer_matches_the_tree_writer(v in any_value()) {
            let mut bytes = Vec::new();
            msgpack::write_value(&mut bytes, &v);
            let mut streamed = Vec::new();
            write_msgpack(&mut streamed, &mut Reader::new(&bytes)).unwrap();
            let mut tree = Vec::new();
            write_value(&mut tree, &Reader::new(&bytes).value().unwrap());
            prop_assert_eq!(&streamed, &tree);
            // Whatever went in, what comes out is JSON.
            serde_json::from_slice::<serde_json::Value>(&streamed).unwrap();
        }

        #[test]
        fn streaming_writer_agrees_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..200)
        ) {
            let mut streamed = Vec::new();
            let result = write_msgpack(&mut streamed, &mut Reader::new(&bytes));
            match Reader::new(&bytes).value() {
                Ok(v) => {
                    prop_assert!(result.is_ok());
                    let mut tree = Vec::new();
                    write_value(&mut tree, &v);
                    prop_assert_eq!(streamed, tree);
                }
                Err(_) => prop_assert!(result.is_err() && streamed.is_empty()),
            }
        }

        #[test]
        fn transcoding_arbitrary_bytes_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..200)
        ) {
            let mut out = Vec::new();
            let ok = to_msgpack(&bytes, &mut out).is_ok();
            prop_assert_eq!(ok, serde_json::from_slice::<serde_json::Value>(&bytes).is_ok());
            if ok {
                prop_assert!(Reader::new(&out).skip().is_ok());
            } else {
                prop_assert!(out.is_empty());
            }
        }

        #[test]
        fn transcoding_json_like_text_agrees_with_serde_json(
            text in r#"[\[\]{}",:0-9a-z.\\ -]{0,60}"#
        ) {
            let mut out = Vec::new();
            let ok = to_msgpack(text.as_bytes(), &mut out).is_ok();
            let reference = serde_json::from_str::<serde_json::Value>(&text);
            prop_assert_eq!(ok, reference.is_ok());
        }
    }
}
