//! Property declarations and the checked configuration of one instance.
//!
//! A plugin lists its properties as [`Property`] values. The same list
//! validates a section, prints `sluice -i NAME -h`, and holds the
//! defaults, so a default lives in exactly one place.

use std::time::Duration;

use super::{ConfigError, Entry, Origin, Section};

/// The type of a property's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropKind {
    /// `on`/`off`, `true`/`false`, `yes`/`no`.
    Bool,
    Int,
    Double,
    /// Bytes, with an optional `k`, `m` or `g` suffix (powers of 1024).
    Size,
    /// Seconds, or a number with `ms`, `s`, `m`, `h` or `d`.
    Time,
    Str,
    /// Comma- or space-separated words.
    List,
}

impl PropKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PropKind::Bool => "bool",
            PropKind::Int => "int",
            PropKind::Double => "double",
            PropKind::Size => "size",
            PropKind::Time => "time",
            PropKind::Str => "string",
            PropKind::List => "list",
        }
    }

    /// Checks a value's spelling, returning why it is wrong.
    pub fn check(self, value: &str) -> Result<(), String> {
        match self {
            PropKind::Bool => parse_bool(value).map(drop),
            PropKind::Int => value
                .trim()
                .parse::<i64>()
                .map(drop)
                .map_err(|_| format!("'{value}' is not an integer")),
            PropKind::Double => value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(drop)
                .ok_or_else(|| format!("'{value}' is not a number")),
            PropKind::Size => parse_size(value).map(drop),
            PropKind::Time => parse_time(value).map(drop),
            PropKind::Str | PropKind::List => Ok(()),
        }
    }
}

/// One declared property.
#[derive(Debug, Clone, Copy)]
pub struct Property {
    /// Lowercase name.
    pub name: &'static str,
    pub kind: PropKind,
    pub default: Option<&'static str>,
    pub description: &'static str,
    /// May be given more than once (each occurrence is kept).
    pub multiple: bool,
}

impl Property {
    pub const fn new(
        name: &'static str,
        kind: PropKind,
        default: Option<&'static str>,
        description: &'static str,
    ) -> Self {
        Property {
            name,
            kind,
            default,
            description,
            multiple: false,
        }
    }

    /// The same property, allowed to repeat.
    pub const fn repeatable(mut self) -> Self {
        self.multiple = true;
        self
    }
}

/// Joins two property lists into one array, at compile time, so a plugin
/// can take a shared list (the listener's) and add its own:
/// `const ALL: [Property; A.len() + B.len()] = join_props(A, B);`.
pub const fn join_props<const N: usize>(a: &[Property], b: &[Property]) -> [Property; N] {
    assert!(
        a.len() + b.len() == N,
        "join_props: N must be the sum of both lengths"
    );
    assert!(N > 0, "join_props: nothing to join");
    let first = if a.is_empty() { b[0] } else { a[0] };
    let mut out = [first; N];
    let mut i = 0;
    while i < a.len() {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < b.len() {
        out[a.len() + j] = b[j];
        j += 1;
    }
    out
}

/// Parses Fluent Bit's boolean spellings.
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!(
            "'{value}' is not a boolean (use on/off, true/false, yes/no)"
        )),
    }
}

/// Parses a size such as `512`, `32k`, `5M`, `1G` or `2.5MB` into bytes.
pub fn parse_size(value: &str) -> Result<u64, String> {
    let v = value.trim();
    let bad = || format!("'{value}' is not a size (e.g. 512, 32k, 5M, 1G)");
    let digits_end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(digits_end);
    let num: f64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    Ok((num * mult as f64) as u64)
}

/// Parses a duration: plain seconds (`5`, `0.5`) or with a unit
/// (`250ms`, `5s`, `1m`, `2h`, `1d`).
pub fn parse_time(value: &str) -> Result<Duration, String> {
    let v = value.trim();
    let bad = || format!("'{value}' is not a duration (e.g. 5, 0.5, 250ms, 1m)");
    let digits_end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(digits_end);
    let num: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "s" => num,
        "ms" => num / 1000.0,
        "m" => num * 60.0,
        "h" => num * 3600.0,
        "d" => num * 86400.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

/// A section checked against a plugin's declaration.
///
/// Getters return the configured value or the declared default. They are
/// infallible for declared keys because construction already checked
/// every value; asking for an undeclared key is a programming error and
/// answers as if the key were unset.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// The plugin's name (`tail`, `stdout`).
    pub plugin: String,
    /// The instance name (`tail.0`), or the `alias` when set.
    pub instance: String,
    /// Where the section starts.
    pub origin: Origin,
    entries: Vec<(String, Entry)>,
    props: Vec<Property>,
}

impl PluginConfig {
    /// Checks `section` against `decls` (later lists override earlier ones
    /// on the same name, so a plugin can change a common default).
    ///
    /// # Errors
    /// An unknown key, a repeated key that may not repeat, or a value of
    /// the wrong type, each naming its line.
    pub fn new(
        section: &Section,
        plugin: &str,
        instance: String,
        decls: &[&[Property]],
    ) -> Result<Self, ConfigError> {
        let mut props: Vec<Property> = Vec::new();
        for p in decls.iter().flat_map(|d| d.iter()) {
            props.retain(|q| q.name != p.name);
            props.push(*p);
        }
        let mut cfg = PluginConfig {
            plugin: plugin.to_owned(),
            instance,
            origin: section.origin.clone(),
            entries: Vec::new(),
            props,
        };
        let kind = section.kind.as_str();
        for e in &section.entries {
            cfg.add(e, || format!("unknown property for {kind} '{plugin}'"))?;
        }
        if let Some(alias) = cfg.entry("alias") {
            cfg.instance = alias.value.clone();
        }
        Ok(cfg)
    }

    /// This configuration with `extra` written after the section's own
    /// entries, each checked against the same declarations: how a node of
    /// an `upstream` file lays its own settings over its output's. Errors
    /// point at the extra entry's own file and line.
    ///
    /// # Errors
    /// A key the plugin does not declare, or a value of the wrong type.
    pub fn with_entries(&self, extra: &[Entry]) -> Result<PluginConfig, ConfigError> {
        let mut cfg = self.clone();
        for e in extra {
            cfg.add(e, || format!("unknown property for '{}'", self.plugin))?;
        }
        Ok(cfg)
    }

    /// Checks one entry and keeps it; a key that may not repeat replaces
    /// what was set before.
    fn add(&mut self, e: &Entry, unknown: impl FnOnce() -> String) -> Result<(), ConfigError> {
        let key = e.key.to_ascii_lowercase();
        let prop = self
            .prop(&key)
            .ok_or_else(|| ConfigError::at(&e.origin, unknown()).with_key(&e.key))?;
        prop.kind
            .check(&e.value)
            .map_err(|m| ConfigError::at(&e.origin, m).with_key(&e.key))?;
        if !prop.multiple {
            self.entries.retain(|(k, _)| *k != key);
        }
        self.entries.push((key, e.clone()));
        Ok(())
    }

    fn prop(&self, key: &str) -> Option<&Property> {
        self.props.iter().find(|p| p.name == key)
    }

    /// The entry as written, when the user set the key.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, e)| e)
    }

    /// Was the key set explicitly?
    pub fn is_set(&self, key: &str) -> bool {
        self.entry(key).is_some()
    }

    /// The value, or the default.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.entry(key) {
            Some(e) => Some(e.value.as_str()),
            None => self.prop(key).and_then(|p| p.default),
        }
    }

    /// Every value of a repeatable key, in order.
    pub fn all(&self, key: &str) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, e)| e)
            .collect()
    }

    /// Every entry the user wrote, in order, with its lowercase key; for
    /// plugins whose rules of different keys apply in the order written
    /// (`modify`).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), e))
    }

    pub fn bool(&self, key: &str) -> bool {
        self.str(key)
            .and_then(|v| parse_bool(v).ok())
            .unwrap_or(false)
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        self.str(key).and_then(|v| v.trim().parse().ok())
    }

    pub fn double(&self, key: &str) -> Option<f64> {
        self.str(key).and_then(|v| v.trim().parse().ok())
    }

    pub fn size(&self, key: &str) -> Option<u64> {
        self.str(key).and_then(|v| parse_size(v).ok())
    }

    pub fn time(&self, key: &str) -> Option<Duration> {
        self.str(key).and_then(|v| parse_time(v).ok())
    }

    /// A list value split on commas and white space.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.str(key)
            .map(|v| {
                v.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An error about `key`, pointing at its line (or at the section when
    /// the key was not written).
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let origin = self.entry(key).map(|e| &e.origin).unwrap_or(&self.origin);
        let key = self
            .entry(key)
            .map(|e| e.key.clone())
            .unwrap_or_else(|| key.to_owned());
        ConfigError::at(origin, message).with_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SectionKind;

    const PROPS: &[Property] = &[
        Property::new("name", PropKind::Str, None, "plugin"),
        Property::new("rate", PropKind::Int, Some("1"), "records per second"),
        Property::new("flag", PropKind::Bool, Some("off"), "a flag"),
        Property::new("set", PropKind::Str, None, "a pair").repeatable(),
    ];

    fn section(pairs: &[(&str, &str)]) -> Section {
        let mut s = Section::new(SectionKind::Input, Origin::new("t.conf", 1));
        for (i, (k, v)) in pairs.iter().enumerate() {
            s.push(*k, *v, Origin::new("t.conf", i + 2));
        }
        s
    }

    #[test]
    fn defaults_and_values() {
        let s = section(&[
            ("Name", "x"),
            ("FLAG", "yes"),
            ("Set", "a 1"),
            ("set", "b 2"),
        ]);
        let c = PluginConfig::new(&s, "x", "x.0".into(), &[PROPS]).unwrap();
        assert_eq!(c.int("rate"), Some(1));
        assert!(c.bool("flag"));
        assert_eq!(c.all("set").len(), 2);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let s = section(&[("Name", "x"), ("Bogus", "1")]);
        let err = PluginConfig::new(&s, "x", "x.0".into(), &[PROPS]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.conf:3: key 'Bogus': unknown property for input 'x'"
        );
    }

    #[test]
    fn bad_value_is_an_error() {
        let s = section(&[("rate", "fast")]);
        let err = PluginConfig::new(&s, "x", "x.0".into(), &[PROPS]).unwrap_err();
        assert!(
            err.to_string().contains("'fast' is not an integer"),
            "{err}"
        );
    }

    #[test]
    fn extra_entries_override_and_errors_name_their_own_line() {
        let s = section(&[("rate", "2"), ("set", "a 1")]);
        let c = PluginConfig::new(&s, "x", "x.0".into(), &[PROPS]).unwrap();
        let extra = |k: &str, v: &str| Entry {
            key: k.into(),
            value: v.into(),
            origin: Origin::new("u.conf", 9),
        };
        let o = c
            .with_entries(&[extra("Rate", "5"), extra("set", "b 2")])
            .unwrap();
        assert_eq!((o.int("rate"), c.int("rate")), (Some(5), Some(2)));
        assert_eq!(o.all("set").len(), 2);
        assert_eq!(
            o.error("rate", "bad").to_string(),
            "u.conf:9: key 'Rate': bad"
        );
        let err = c.with_entries(&[extra("rate", "x")]).unwrap_err();
        assert!(
            err.to_string().starts_with("u.conf:9: key 'rate': "),
            "{err}"
        );
    }

    #[test]
    fn sizes_and_times() {
        assert_eq!(parse_size("32k"), Ok(32 * 1024));
        assert_eq!(parse_size("5M"), Ok(5 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("5X").is_err());
        assert_eq!(parse_time("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_time("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_time("250ms"), Ok(Duration::from_millis(250)));
    }
}
