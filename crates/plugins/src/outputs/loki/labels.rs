//! Stream labels: the fixed ones of `labels`, and those read from each
//! record through record accessors (`labels` entries `$key` or
//! `name=$key`, and `label_keys`).
//!
//! A label read from a record is named by the last key of its path
//! (`$kubernetes['labels']['app']` is `app`), with every character Loki
//! does not allow in a label name replaced by `_`. A record without the
//! key simply lacks that label.

use sluice_core::record_accessor::{RecordAccessor, Segment};
use sluice_core::Map;

/// One label of a stream.
#[derive(Debug, Clone)]
enum Label {
    Fixed { name: String, value: String },
    FromRecord { name: String, path: RecordAccessor },
}

/// The labels every stream gets, in configuration order.
#[derive(Debug, Clone, Default)]
pub(crate) struct LabelSet {
    labels: Vec<Label>,
}

impl LabelSet {
    /// Reads `labels` and `label_keys` entries (comma-separated).
    ///
    /// # Errors
    /// An entry that is neither `name=value` nor a record accessor, or an
    /// accessor that does not parse; the message says which.
    pub fn parse(labels: &str, label_keys: &str) -> Result<Self, String> {
        let mut set = LabelSet::default();
        for entry in split(labels) {
            set.labels.push(label(entry)?);
        }
        for entry in split(label_keys) {
            if !entry.starts_with('$') {
                return Err(format!(
                    "label key '{entry}' must be a record accessor ($key)"
                ));
            }
            set.labels.push(label(entry)?);
        }
        Ok(set)
    }

    /// The labels of one record, sorted by name (one stream per set).
    pub fn of(&self, record: &Map) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::with_capacity(self.labels.len());
        for label in &self.labels {
            let (name, value) = match label {
                Label::Fixed { name, value } => (name.clone(), value.clone()),
                Label::FromRecord { name, path } => {
                    match path.get(record).and_then(|v| v.to_text()) {
                        Some(value) => (name.clone(), value),
                        None => continue,
                    }
                }
            };
            // A later label of the same name wins, as in a map.
            out.retain(|(n, _)| *n != name);
            out.push((name, value));
        }
        out.sort();
        out
    }
}

fn split(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|e| !e.is_empty())
}

fn label(entry: &str) -> Result<Label, String> {
    if entry.starts_with('$') {
        let path = RecordAccessor::parse(entry)?;
        return Ok(Label::FromRecord {
            name: label_name(last_key(&path)),
            path,
        });
    }
    let (name, value) = entry
        .split_once('=')
        .ok_or_else(|| format!("label '{entry}' is not name=value or $key"))?;
    let (name, value) = (label_name(name.trim()), value.trim());
    if value.starts_with('$') {
        let path = RecordAccessor::parse(value)?;
        return Ok(Label::FromRecord { name, path });
    }
    Ok(Label::Fixed {
        name,
        value: value.to_owned(),
    })
}

fn last_key(path: &RecordAccessor) -> &str {
    path.path()
        .iter()
        .rev()
        .find_map(|s| match s {
            Segment::Key(k) => Some(k.as_str()),
            Segment::Index(_) => None,
        })
        .unwrap_or(path.first_key())
}

/// Loki label names are `[a-zA-Z_][a-zA-Z0-9_]*`.
fn label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::Value;

    #[test]
    fn fixed_and_record_labels_are_sorted_by_name() {
        let set =
            LabelSet::parse("job=fluent-bit, $sub['stream'], lvl=$level", "$app.name").unwrap();
        let mut sub = Map::new();
        sub.push("stream", Value::Str("stdout".into()));
        let mut record = Map::new();
        record.push("sub", Value::Map(sub));
        record.push("level", Value::Int(3));
        assert_eq!(
            set.of(&record),
            [
                ("job".into(), "fluent-bit".into()),
                ("lvl".into(), "3".into()),
                ("stream".into(), "stdout".into()),
            ]
        );
    }

    #[test]
    fn bad_entries_are_refused() {
        assert!(LabelSet::parse("job", "").is_err());
        assert!(LabelSet::parse("", "plain").is_err());
        assert!(LabelSet::parse("$a[", "").is_err());
    }
}
