//! Decoders: `Decode_Field` and `Decode_Field_As`, applied to fields of a
//! parsed record.
//!
//! `Decode_Field DECODER KEY [ACTION]` merges a decoded JSON map into the
//! record next to the field; `Decode_Field_As` replaces the field's value
//! with what was decoded. Decoders are `json`, `escaped` (backslash
//! escapes such as `\n`, `\"`) and `escaped_utf8` (also `\uXXXX`). The
//! rules of one key run in order: after a rule that failed, the next runs
//! only if the rule said `try_next`; after one that worked, only if it
//! said `do_next`.
//!
//! Decoding works on the record's tree, so it costs a decode and an
//! encode of the record; parsers without decoders never pay it.

use crate::json;
use crate::msgpack::{self, DecodeError, Reader};
use crate::value::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    Json,
    Escaped,
    EscapedUtf8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Stop,
    TryNext,
    DoNext,
}

#[derive(Debug, Clone)]
struct Rule {
    decoder: Decoder,
    /// `Decode_Field`: a decoded map is merged into the record.
    merge: bool,
    action: Action,
}

/// The decoder rules of one parser, grouped by key in first-seen order.
#[derive(Debug, Clone, Default)]
pub struct Decoders(Vec<(String, Vec<Rule>)>);

impl Decoders {
    /// Adds one `Decode_Field` (`merge`) or `Decode_Field_As` value.
    ///
    /// # Errors
    /// Not `DECODER KEY [ACTION]`, or an unknown decoder or action.
    pub fn add(&mut self, spec: &str, merge: bool) -> Result<(), String> {
        let words: Vec<&str> = spec.split_whitespace().collect();
        let (decoder, key, action) = match words.as_slice() {
            [d, k] => (*d, *k, None),
            [d, k, a] => (*d, *k, Some(*a)),
            _ => return Err(format!("expects DECODER KEY [ACTION]; got '{spec}'")),
        };
        let decoder = match decoder.to_ascii_lowercase().as_str() {
            "json" => Decoder::Json,
            "escaped" => Decoder::Escaped,
            "escaped_utf8" => Decoder::EscapedUtf8,
            other => {
                return Err(format!(
                    "unknown decoder '{other}' (use json, escaped or escaped_utf8)"
                ))
            }
        };
        let action = match action.map(str::to_ascii_lowercase).as_deref() {
            None => Action::Stop,
            Some("try_next") => Action::TryNext,
            Some("do_next") => Action::DoNext,
            Some(other) => {
                return Err(format!(
                    "unknown action '{other}' (use try_next or do_next)"
                ))
            }
        };
        let rule = Rule {
            decoder,
            merge,
            action,
        };
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, rules)) => rules.push(rule),
            None => self.0.push((key.to_owned(), vec![rule])),
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Applies the rules to the record map encoded at `out[start..]`,
    /// rewriting it there.
    ///
    /// # Errors
    /// The bytes are not a MessagePack map (a bug in the caller).
    pub fn apply(&self, out: &mut Vec<u8>, start: usize) -> Result<(), DecodeError> {
        let mut body = Reader::new(&out[start..]).map()?;
        for (key, rules) in &self.0 {
            apply_rules(&mut body, key, rules);
        }
        out.truncate(start);
        msgpack::write_map(out, &body);
        Ok(())
    }
}

fn apply_rules(body: &mut Map, key: &str, rules: &[Rule]) {
    let Some(mut current) = body.get(key).cloned() else {
        return;
    };
    let mut merged = Map::new();
    for rule in rules {
        let next = match decode(rule.decoder, &current) {
            Some(Value::Map(map)) if rule.merge => {
                merged.entries_mut().extend(map.entries().iter().cloned());
                Some(current.clone())
            }
            other => other,
        };
        let go_on = match next {
            Some(value) => {
                current = value;
                rule.action == Action::DoNext
            }
            None => rule.action == Action::TryNext,
        };
        if !go_on {
            break;
        }
    }
    body.insert(key, current);
    body.entries_mut().extend(merged.entries().iter().cloned());
}

/// Decodes a string value; `None` when the decoder does not apply.
fn decode(decoder: Decoder, value: &Value) -> Option<Value> {
    let text = match value {
        Value::Str(s) => s.as_bytes(),
        Value::Bin(b) => b.as_slice(),
        _ => return None,
    };
    match decoder {
        Decoder::Json => json::parse_object(text).ok().map(Value::Map),
        Decoder::Escaped => Some(Value::Str(unescape(text, false))),
        Decoder::EscapedUtf8 => Some(Value::Str(unescape(text, true))),
    }
}

/// Undoes backslash escapes; with `unicode`, `\uXXXX` (and surrogate
/// pairs) too. Unknown escapes are kept as written.
pub fn unescape(text: &[u8], unicode: bool) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if b != b'\\' || i + 1 == text.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let e = text[i + 1];
        let simple = match e {
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'v' => Some(0x0b),
            b'a' => Some(0x07),
            b'"' | b'\\' | b'/' | b'\'' => Some(e),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
        } else if let Some((c, used)) = unicode.then(|| unicode_escape(&text[i..])).flatten() {
            let mut utf8 = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            i += used;
        } else {
            out.extend_from_slice(&text[i..i + 2]);
            i += 2;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads `\uXXXX` (or a surrogate pair of two) at the start of `text`.
fn unicode_escape(text: &[u8]) -> Option<(char, usize)> {
    let hex = |at: usize| -> Option<u32> {
        let digits = std::str::from_utf8(text.get(at..at + 4)?).ok()?;
        u32::from_str_radix(digits, 16).ok()
    };
    if text.get(1) != Some(&b'u') {
        return None;
    }
    let high = hex(2)?;
    if (0xd800..0xdc00).contains(&high) && text.get(6..8) == Some(b"\\u") {
        let low = hex(8)?;
        let c = 0x10000 + ((high - 0xd800) << 10) + (low.checked_sub(0xdc00)?);
        return char::from_u32(c).map(|c| (c, 12));
    }
    char::from_u32(high).map(|c| (c, 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(decoders: &Decoders, body: Map) -> Map {
        let mut out = vec![0xff];
        msgpack::write_map(&mut out, &body);
        decoders.apply(&mut out, 1).unwrap();
        assert_eq!(out[0], 0xff);
        Reader::new(&out[1..]).map().unwrap()
    }

    fn log(text: &str) -> Map {
        let mut m = Map::new();
        m.insert("log", Value::from(text));
        m.insert("stream", Value::from("stdout"));
        m
    }

    #[test]
    fn decode_field_as_json_replaces_the_value() {
        let mut d = Decoders::default();
        d.add("json log", false).unwrap();
        let got = run(&d, log(r#"{"status":"up"}"#));
        let inner = got.get("log").and_then(Value::as_map).unwrap();
        assert_eq!(inner.get("status"), Some(&Value::from("up")));
    }

    #[test]
    fn decode_field_json_merges_next_to_the_field() {
        let mut d = Decoders::default();
        d.add("json log", true).unwrap();
        let got = run(&d, log(r#"{"status":"up"}"#));
        let keys: Vec<_> = got.keys().collect();
        assert_eq!(keys, ["log", "stream", "status"]);
        // Not JSON: left alone.
        assert_eq!(
            run(&d, log("plain")).get("log"),
            Some(&Value::from("plain"))
        );
    }

    #[test]
    fn try_next_and_do_next_chain_rules() {
        let mut d = Decoders::default();
        d.add("json log try_next", false).unwrap();
        d.add("escaped log", false).unwrap();
        let got = run(&d, log(r"a\tb"));
        assert_eq!(got.get("log"), Some(&Value::from("a\tb")));

        let mut d = Decoders::default();
        d.add("escaped_utf8 log do_next", false).unwrap();
        d.add("json log", false).unwrap();
        let got = run(&d, log(r#"{\"smile\":\"\u263a\"}"#));
        let inner = got.get("log").and_then(Value::as_map).unwrap();
        assert_eq!(inner.get("smile"), Some(&Value::from("\u{263a}")));
    }

    #[test]
    fn bad_rules_are_refused() {
        let mut d = Decoders::default();
        assert!(d
            .add("xml log", false)
            .unwrap_err()
            .contains("unknown decoder"));
        assert!(d.add("json", false).is_err());
        assert!(d
            .add("json log maybe", false)
            .unwrap_err()
            .contains("unknown action"));
    }

    #[test]
    fn unescape_handles_pairs_and_unknown_escapes() {
        assert_eq!(unescape(br#"\ud83d\ude00 \q"#, true), "\u{1f600} \\q");
        assert_eq!(unescape(br#"\u263a"#, false), r"\u263a");
        assert_eq!(unescape(br"end\", false), "end\\");
    }
}
