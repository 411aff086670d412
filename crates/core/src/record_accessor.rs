//! Record accessor: paths such as `$key` and `$a['b'][0]` into a record.
//!
//! Filters and outputs name a value inside a record the way Fluent Bit's
//! configurations do: `$log` is the top-level key `log`,
//! `$kubernetes['labels']['app']` walks nested maps, `$list[0]` indexes an
//! array, and sub-keys may be quoted with `'` or `"` so they can hold dots,
//! slashes and dashes (`$k['app.kubernetes.io/name']`). A pattern without
//! the `$` (`log`) is taken whole as one top-level key, which is how older
//! plugin keys are written.
//!
//! A pattern is parsed once, when the plugin is built; walking a record
//! allocates nothing.

use std::fmt;

use crate::value::{Map, Value};

/// One step below the top-level key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// `['name']`: a key of a map.
    Key(String),
    /// `[3]`: an element of an array.
    Index(usize),
}

/// A parsed path into a record body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordAccessor {
    /// The pattern as written, for messages.
    pattern: String,
    /// The top-level key.
    key: String,
    /// The steps below it; empty for a top-level key.
    path: Vec<Segment>,
}

impl RecordAccessor {
    /// Parses `$key`, `$key['sub'][0]["other"]`, or a plain `key`.
    ///
    /// # Errors
    /// An empty pattern or key, an unclosed bracket or quote, an index that
    /// is not a number, or text after the last bracket; the message says
    /// which.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        if pattern.is_empty() {
            return Err("empty record accessor".into());
        }
        let Some(rest) = pattern.strip_prefix('$') else {
            return Ok(RecordAccessor {
                pattern: pattern.to_owned(),
                key: pattern.to_owned(),
                path: Vec::new(),
            });
        };
        let key_end = rest.find(is_key_end).unwrap_or(rest.len());
        let (key, mut rest) = rest.split_at(key_end);
        if key.is_empty() {
            return Err(format!("record accessor '{pattern}' has no key after '$'"));
        }
        let mut path = Vec::new();
        while !rest.is_empty() {
            let (segment, after) =
                parse_segment(rest).map_err(|why| format!("record accessor '{pattern}': {why}"))?;
            path.push(segment);
            rest = after;
        }
        Ok(RecordAccessor {
            pattern: pattern.to_owned(),
            key: key.to_owned(),
            path,
        })
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The top-level key the path starts at.
    pub fn first_key(&self) -> &str {
        &self.key
    }

    /// The steps below the top-level key.
    pub fn path(&self) -> &[Segment] {
        &self.path
    }

    /// True when the pattern names a top-level key only.
    pub fn is_top_level(&self) -> bool {
        self.path.is_empty()
    }

    /// The value at the path, if every step exists.
    pub fn get<'a>(&self, body: &'a Map) -> Option<&'a Value> {
        let mut value = body.get(&self.key)?;
        for segment in &self.path {
            value = step(value, segment)?;
        }
        Some(value)
    }

    pub fn get_mut<'a>(&self, body: &'a mut Map) -> Option<&'a mut Value> {
        walk_mut(body, &self.key, &self.path)
    }

    /// Sets the value at the path, creating maps for missing map keys on
    /// the way. Returns false, leaving the record as it was, when a step
    /// meets a value that is not a container of the right kind or an index
    /// past the end of an array.
    pub fn set(&self, body: &mut Map, value: Value) -> bool {
        if self.path.is_empty() {
            body.insert(self.key.as_str(), value);
            return true;
        }
        if !body.contains_key(&self.key) {
            if !all_keys(&self.path) {
                return false;
            }
            body.insert(self.key.as_str(), Value::Map(Map::new()));
        }
        match body.get_mut(&self.key) {
            Some(node) => set_in(node, &self.path, value),
            None => false,
        }
    }

    /// Removes and returns the value at the path.
    pub fn remove(&self, body: &mut Map) -> Option<Value> {
        let Some((last, parents)) = self.path.split_last() else {
            return body.remove(&self.key);
        };
        match (walk_mut(body, &self.key, parents)?, last) {
            (Value::Map(m), Segment::Key(k)) => m.remove(k),
            (Value::Array(a), Segment::Index(i)) if *i < a.len() => Some(a.remove(*i)),
            _ => None,
        }
    }
}

impl fmt::Display for RecordAccessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

/// Where a `$key` name stops: at a bracket, or at a character that cannot
/// be part of an unquoted key.
fn is_key_end(c: char) -> bool {
    matches!(c, '[' | ']' | '\'' | '"' | '$') || c.is_whitespace()
}

/// Parses one `['key']`, `["key"]` or `[3]` at the start of `text`.
fn parse_segment(text: &str) -> Result<(Segment, &str), String> {
    let Some(inner) = text.strip_prefix('[') else {
        return Err(format!("expected '[' at '{text}'"));
    };
    if let Some(quote) = inner.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let body = &inner[1..];
        let end = body
            .find(quote)
            .ok_or_else(|| format!("unclosed quote in '{text}'"))?;
        let after = body[end + 1..]
            .strip_prefix(']')
            .ok_or_else(|| format!("expected ']' after the quoted key in '{text}'"))?;
        return Ok((Segment::Key(body[..end].to_owned()), after));
    }
    let end = inner
        .find(']')
        .ok_or_else(|| format!("unclosed '[' in '{text}'"))?;
    let digits = &inner[..end];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'[{digits}]' is neither a quoted key nor an array index"
        ));
    }
    let index = digits
        .parse()
        .map_err(|_| format!("array index '{digits}' is too large"))?;
    Ok((Segment::Index(index), &inner[end + 1..]))
}

fn step<'a>(value: &'a Value, segment: &Segment) -> Option<&'a Value> {
    match (value, segment) {
        (Value::Map(m), Segment::Key(k)) => m.get(k),
        (Value::Array(a), Segment::Index(i)) => a.get(*i),
        _ => None,
    }
}

fn step_mut<'a>(value: &'a mut Value, segment: &Segment) -> Option<&'a mut Value> {
    match (value, segment) {
        (Value::Map(m), Segment::Key(k)) => m.get_mut(k),
        (Value::Array(a), Segment::Index(i)) => a.get_mut(*i),
        _ => None,
    }
}

fn walk_mut<'a>(body: &'a mut Map, key: &str, path: &[Segment]) -> Option<&'a mut Value> {
    let mut value = body.get_mut(key)?;
    for segment in path {
        value = step_mut(value, segment)?;
    }
    Some(value)
}

/// Whether a path can be built from nothing: a new map has no elements,
/// so only keys can follow it.
fn all_keys(path: &[Segment]) -> bool {
    path.iter().all(|s| matches!(s, Segment::Key(_)))
}

/// Sets `value` at `path` below `node`. A missing map key is created as
/// an empty map only when the rest of the path is keys, so a path that
/// cannot be completed leaves nothing half-built behind.
fn set_in(node: &mut Value, path: &[Segment], value: Value) -> bool {
    let Some((segment, rest)) = path.split_first() else {
        *node = value;
        return true;
    };
    match (node, segment) {
        (Value::Map(m), Segment::Key(k)) => {
            if rest.is_empty() {
                m.insert(k.as_str(), value);
                return true;
            }
            if !m.contains_key(k) {
                if !all_keys(rest) {
                    return false;
                }
                m.insert(k.as_str(), Value::Map(Map::new()));
            }
            match m.get_mut(k) {
                Some(child) => set_in(child, rest, value),
                None => false,
            }
        }
        (Value::Array(a), Segment::Index(i)) => match a.get_mut(*i) {
            Some(child) => set_in(child, rest, value),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Map {
        let mut labels = Map::new();
        labels.insert("app.kubernetes.io/name", "web".into());
        labels.insert("tier", "front".into());
        let mut k8s = Map::new();
        k8s.insert("labels", Value::Map(labels));
        k8s.insert("ports", Value::Array(vec![Value::Int(80), Value::Int(443)]));
        let mut body = Map::new();
        body.insert("log", "hello".into());
        body.insert("kubernetes", Value::Map(k8s));
        body
    }

    fn ra(pattern: &str) -> RecordAccessor {
        RecordAccessor::parse(pattern).unwrap()
    }

    #[test]
    fn parses_keys_quotes_and_indexes() {
        let a = ra(r#"$kubernetes['labels']["app.kubernetes.io/name"]"#);
        assert_eq!(a.first_key(), "kubernetes");
        assert_eq!(
            a.path(),
            [
                Segment::Key("labels".into()),
                Segment::Key("app.kubernetes.io/name".into())
            ]
        );
        assert_eq!(ra("$a[12]").path(), [Segment::Index(12)]);
        assert_eq!(ra("$my-key.x").first_key(), "my-key.x");
        assert!(ra("$log").is_top_level());
    }

    #[test]
    fn plain_key_is_taken_whole() {
        let a = ra("Mem.total");
        assert_eq!(a.first_key(), "Mem.total");
        assert!(a.is_top_level());
        let b = ra("a['b']");
        assert_eq!(b.first_key(), "a['b']");
    }

    #[test]
    fn malformed_patterns_are_errors() {
        for bad in [
            "", "$", "$['a']", "$a[", "$a['b'", "$a['b", "$a[x]", "$a[-1]", "$a[]", "$a['b']x",
            "$a['b'] ", "$a b",
        ] {
            assert!(RecordAccessor::parse(bad).is_err(), "{bad:?} parsed");
        }
        let err = RecordAccessor::parse("$a['b").unwrap_err();
        assert!(err.contains("unclosed quote"), "{err}");
    }

    #[test]
    fn get_walks_maps_and_arrays() {
        let body = record();
        assert_eq!(ra("$log").get(&body), Some(&Value::from("hello")));
        assert_eq!(ra("log").get(&body), Some(&Value::from("hello")));
        assert_eq!(
            ra("$kubernetes['labels']['app.kubernetes.io/name']").get(&body),
            Some(&Value::from("web"))
        );
        assert_eq!(
            ra("$kubernetes['ports'][1]").get(&body),
            Some(&Value::Int(443))
        );
        assert_eq!(ra("$kubernetes['ports'][2]").get(&body), None);
        assert_eq!(ra("$log['x']").get(&body), None);
        assert_eq!(ra("$kubernetes[0]").get(&body), None);
        assert_eq!(ra("$missing").get(&body), None);
    }

    #[test]
    fn get_mut_changes_in_place() {
        let mut body = record();
        *ra("$kubernetes['ports'][0]").get_mut(&mut body).unwrap() = Value::Int(8080);
        assert_eq!(
            ra("$kubernetes['ports'][0]").get(&body),
            Some(&Value::Int(8080))
        );
    }

    #[test]
    fn set_replaces_and_creates_intermediate_maps() {
        let mut body = record();
        assert!(ra("$log").set(&mut body, "bye".into()));
        assert_eq!(body.keys().collect::<Vec<_>>(), ["log", "kubernetes"]);
        assert!(ra("$new['a']['b']").set(&mut body, Value::Int(1)));
        assert_eq!(ra("$new['a']['b']").get(&body), Some(&Value::Int(1)));
        assert!(ra("$kubernetes['labels']['tier']").set(&mut body, "back".into()));
        assert_eq!(
            ra("$kubernetes['labels']['tier']").get(&body),
            Some(&Value::from("back"))
        );
        assert!(ra("$kubernetes['ports'][1]").set(&mut body, Value::Int(8443)));
        assert_eq!(
            ra("$kubernetes['ports'][1]").get(&body),
            Some(&Value::Int(8443))
        );
    }

    #[test]
    fn set_that_cannot_complete_changes_nothing() {
        let mut body = record();
        let before = body.clone();
        assert!(!ra("$log['x']").set(&mut body, Value::Null));
        assert!(!ra("$kubernetes['ports'][5]").set(&mut body, Value::Null));
        assert!(!ra("$fresh[0]").set(&mut body, Value::Null));
        assert!(!ra("$fresh['a'][0]").set(&mut body, Value::Null));
        assert_eq!(body, before);
    }

    #[test]
    fn remove_takes_out_keys_and_elements() {
        let mut body = record();
        assert_eq!(
            ra("$kubernetes['labels']['tier']").remove(&mut body),
            Some(Value::from("front"))
        );
        assert_eq!(ra("$kubernetes['labels']['tier']").get(&body), None);
        assert_eq!(
            ra("$kubernetes['ports'][0]").remove(&mut body),
            Some(Value::Int(80))
        );
        assert_eq!(
            ra("$kubernetes['ports'][0]").get(&body),
            Some(&Value::Int(443))
        );
        assert_eq!(ra("$log").remove(&mut body), Some(Value::from("hello")));
        assert_eq!(ra("$log").remove(&mut body), None);
        assert_eq!(ra("$kubernetes['nope']['x']").remove(&mut body), None);
    }
}
