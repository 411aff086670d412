//! The configuration model every front end produces.

use std::fmt;
use std::sync::Arc;

/// Where a piece of configuration was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// A file path, or `command line`.
    pub file: Arc<str>,
    /// 1-based line; 0 when there is no line (flags, defaults).
    pub line: usize,
}

impl Origin {
    pub fn new(file: impl Into<Arc<str>>, line: usize) -> Self {
        Origin {
            file: file.into(),
            line,
        }
    }

    /// The origin of something given as a command-line flag.
    pub fn flag(flag: &str) -> Self {
        Origin {
            file: format!("command line ({flag})").into(),
            line: 0,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// One `key value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as written (case is kept for messages; lookups ignore it).
    pub key: String,
    /// The value after `${VAR}` substitution.
    pub value: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    Service,
    Input,
    Filter,
    Output,
    Parser,
    MultilineParser,
}

impl SectionKind {
    /// The name as written in a classic file's brackets.
    pub fn as_str(self) -> &'static str {
        match self {
            SectionKind::Service => "service",
            SectionKind::Input => "input",
            SectionKind::Filter => "filter",
            SectionKind::Output => "output",
            SectionKind::Parser => "parser",
            SectionKind::MultilineParser => "multiline_parser",
        }
    }
}

/// A section: `[INPUT]` and its entries, or one item of a YAML list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub kind: SectionKind,
    /// Where the section starts.
    pub origin: Origin,
    pub entries: Vec<Entry>,
}

impl Section {
    pub fn new(kind: SectionKind, origin: Origin) -> Self {
        Section {
            kind,
            origin,
            entries: Vec::new(),
        }
    }

    /// Appends an entry.
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>, origin: Origin) {
        self.entries.push(Entry {
            key: key.into(),
            value: value.into(),
            origin,
        });
    }

    /// The last entry with this key, ignoring case.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key.eq_ignore_ascii_case(key))
    }

    /// Every entry with this key, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.key.eq_ignore_ascii_case(key))
    }

    /// The plugin name (`Name`), if given.
    pub fn name(&self) -> Option<&str> {
        self.get("name").map(|e| e.value.as_str())
    }
}

/// A whole configuration, whatever front end it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub service: Section,
    pub inputs: Vec<Section>,
    pub filters: Vec<Section>,
    pub outputs: Vec<Section>,
    pub parsers: Vec<Section>,
    pub multiline_parsers: Vec<Section>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            service: Section::new(SectionKind::Service, Origin::new("defaults", 0)),
            inputs: Vec::new(),
            filters: Vec::new(),
            outputs: Vec::new(),
            parsers: Vec::new(),
            multiline_parsers: Vec::new(),
        }
    }
}

impl Config {
    /// Adds a section to the list its kind belongs to; SERVICE entries
    /// are merged, later ones winning.
    pub fn add(&mut self, section: Section) {
        match section.kind {
            SectionKind::Service => self.service.entries.extend(section.entries),
            SectionKind::Input => self.inputs.push(section),
            SectionKind::Filter => self.filters.push(section),
            SectionKind::Output => self.outputs.push(section),
            SectionKind::Parser => self.parsers.push(section),
            SectionKind::MultilineParser => self.multiline_parsers.push(section),
        }
    }

    /// Appends everything of `other` (an included file) to this one.
    pub fn merge(&mut self, other: Config) {
        self.service.entries.extend(other.service.entries);
        self.inputs.extend(other.inputs);
        self.filters.extend(other.filters);
        self.outputs.extend(other.outputs);
        self.parsers.extend(other.parsers);
        self.multiline_parsers.extend(other.multiline_parsers);
    }
}
