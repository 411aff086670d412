//! How a multiline parser decides, line by line, where a record starts,
//! goes on and ends.
//!
//! A [`Kind`] answers two questions about the content of one line: may it
//! begin a record ([`Kind::start`]), and does it continue the record a
//! stream holds ([`Kind::next`])? The `regex` kind is a small state
//! machine of `rule "state" "/regex/" "next_state"` lines; `endswith`,
//! `equal` and `partial` look at the end of the line, the whole line, or
//! a flag field.

use crate::config::{ConfigError, Entry, Origin};
use crate::regex_compat::{self, CompiledRegex};
use crate::value::{Map, Value};

/// The state every regex parser starts in.
pub const START_STATE: &str = "start_state";

/// One `rule` line: in state `from`, a line matching `regex` moves the
/// record to state `to`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub from: String,
    pub regex: CompiledRegex,
    pub to: String,
}

/// What a line does when no record is pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Opens a record that later lines may continue, in this state.
    Open(usize),
    /// Is a whole record by itself (a line that already ends it).
    Whole,
    /// Does not concern this parser.
    No,
}

/// What a line does to the pending record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Joins it; the record stays open, in this state.
    Join(usize),
    /// Joins it and ends it.
    JoinEnd,
    /// Does not belong to it: the record is complete without this line.
    No,
}

/// The ways a multiline parser can tell lines apart.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Rules grouped by state; state 0 is `start_state`.
    Regex {
        states: Vec<String>,
        rules: Vec<Vec<(CompiledRegex, usize)>>,
    },
    /// A line not ending with `suffix` (or ending with it, when
    /// negated) is continued by the next one.
    EndsWith { suffix: String, negate: bool },
    /// Lines join until one equal to `line` (or, negated, different
    /// from it), which ends the record.
    Equal { line: String, negate: bool },
    /// A record whose field `key` equals `value` is continued by the
    /// next one; the field is removed from the joined record.
    Partial { key: String, value: String },
}

impl Kind {
    /// The text put between joined lines: a newline for line-based kinds,
    /// nothing for kinds that glue pieces of one line back together.
    pub fn separator(&self) -> &'static str {
        match self {
            Kind::Regex { .. } | Kind::Equal { .. } => "\n",
            Kind::EndsWith { .. } | Kind::Partial { .. } => "",
        }
    }

    /// Whether `content` (of record `body`) opens a record.
    pub fn start(&self, content: &str, body: &Map) -> Start {
        match self {
            Kind::Regex { rules, .. } => match first_match(&rules[0], content) {
                Some(to) => Start::Open(to),
                None => Start::No,
            },
            Kind::EndsWith { .. } | Kind::Equal { .. } | Kind::Partial { .. } => {
                match self.next(0, content, body) {
                    Next::Join(s) => Start::Open(s),
                    _ => Start::Whole,
                }
            }
        }
    }

    /// Whether `content` continues a record in `state`.
    pub fn next(&self, state: usize, content: &str, body: &Map) -> Next {
        let ends = match self {
            Kind::Regex { rules, .. } => {
                return match first_match(&rules[state], content) {
                    Some(to) => Next::Join(to),
                    None => Next::No,
                };
            }
            Kind::EndsWith { suffix, negate } => content.ends_with(suffix.as_str()) != *negate,
            Kind::Equal { line, negate } => (content == line) != *negate,
            Kind::Partial { key, value } => {
                body.get(key).and_then(Value::as_str) != Some(value.as_str())
            }
        };
        if ends {
            Next::JoinEnd
        } else {
            Next::Join(0)
        }
    }
}

fn first_match(rules: &[(CompiledRegex, usize)], content: &str) -> Option<usize> {
    rules
        .iter()
        .find(|(re, _)| re.is_match(content.as_bytes()))
        .map(|(_, to)| *to)
}

/// Builds the regex kind from `rule` entries.
///
/// # Errors
/// A rule that is not three quoted parts, a regex that does not compile,
/// no rule for `start_state`, or a next state no rule starts from; each
/// names the rule's line.
pub fn regex_kind(entries: &[&Entry], section: &Origin) -> Result<Kind, ConfigError> {
    let rules = entries
        .iter()
        .map(|e| parse_rule(e))
        .collect::<Result<Vec<_>, _>>()?;
    let mut states = vec![START_STATE.to_owned()];
    for rule in &rules {
        if !states.contains(&rule.from) {
            states.push(rule.from.clone());
        }
    }
    if !rules.iter().any(|r| r.from == START_STATE) {
        let (origin, key) = entries
            .first()
            .map_or((section, "rule"), |e| (&e.origin, e.key.as_str()));
        let message = "a regex multiline parser needs a rule for 'start_state'";
        return Err(ConfigError::at(origin, message).with_key(key));
    }
    let mut by_state = vec![Vec::new(); states.len()];
    for (rule, entry) in rules.into_iter().zip(entries) {
        let to = states.iter().position(|s| *s == rule.to).ok_or_else(|| {
            let message = format!("unknown state '{}': no rule starts from it", rule.to);
            ConfigError::at(&entry.origin, message).with_key(&entry.key)
        })?;
        let from = states.iter().position(|s| *s == rule.from).unwrap_or(0);
        by_state[from].push((rule.regex, to));
    }
    Ok(Kind::Regex {
        states,
        rules: by_state,
    })
}

/// Reads `"state" "/regex/" "next_state"`.
fn parse_rule(entry: &Entry) -> Result<Rule, ConfigError> {
    let error = |m: String| ConfigError::at(&entry.origin, m).with_key(&entry.key);
    let parts = quoted_parts(&entry.value).map_err(error)?;
    let [from, regex, to] = <[String; 3]>::try_from(parts).map_err(|p| {
        error(format!(
            "a rule is three quoted parts: \"state\" \"/regex/\" \"next_state\"; found {}",
            p.len()
        ))
    })?;
    let regex = regex_compat::compile(&regex).map_err(|e| error(e.to_string()))?;
    Ok(Rule { from, regex, to })
}

/// Splits `"a" "b" "c"` into its parts. Inside quotes `\"` stands for a
/// quote; every other backslash is kept, since regexes need them.
fn quoted_parts(text: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.next() {
            None => return Ok(parts),
            Some('"') => {}
            Some(c) => return Err(format!("expected a double quote, found '{c}'")),
        }
        let mut part = String::new();
        loop {
            match chars.next() {
                None => return Err(format!("unclosed double quote in '{text}'")),
                Some('"') => break,
                Some('\\') if chars.peek() == Some(&'"') => {
                    chars.next();
                    part.push('"');
                }
                Some(c) => part.push(c),
            }
        }
        parts.push(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: &str, line: usize) -> Entry {
        Entry {
            key: "rule".into(),
            value: value.into(),
            origin: Origin::new("ml.conf", line),
        }
    }

    fn kind(rules: &[&str]) -> Result<Kind, ConfigError> {
        let entries: Vec<Entry> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| entry(r, i + 2))
            .collect();
        regex_kind(
            &entries.iter().collect::<Vec<_>>(),
            &Origin::new("ml.conf", 1),
        )
    }

    #[test]
    fn quoted_parts_keep_regex_backslashes() {
        let parts = quoted_parts(r#" "start_state"  "/^\s+at \"x\"/"  "cont" "#).unwrap();
        assert_eq!(parts, ["start_state", r#"/^\s+at "x"/"#, "cont"]);
        assert!(quoted_parts(r#""a" "b"#).is_err());
        assert!(quoted_parts(r#"a "b""#).is_err());
    }

    #[test]
    fn rules_move_between_states() {
        let k = kind(&[
            r#""start_state" "/^[A-Z][a-z]{2} \d+/" "cont""#,
            r#""cont" "/^\s+at /" "cont""#,
        ])
        .unwrap();
        let body = Map::new();
        assert_eq!(k.start("Dec 14 boom", &body), Start::Open(1));
        assert_eq!(k.start("    at x", &body), Start::No);
        assert_eq!(k.next(1, "    at x", &body), Next::Join(1));
        assert_eq!(k.next(1, "Dec 15 next", &body), Next::No);
    }

    #[test]
    fn rule_errors_name_the_line() {
        let bad = kind(&[r#""start_state" "/(unclosed/" "cont""#]).unwrap_err();
        assert!(
            bad.to_string()
                .starts_with("ml.conf:2: key 'rule': invalid regular"),
            "{bad}"
        );
        let unknown = kind(&[
            r#""start_state" "/a/" "cont""#,
            r#""cont" "/b/" "elsewhere""#,
        ])
        .unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "ml.conf:3: key 'rule': unknown state 'elsewhere': no rule starts from it"
        );
        let no_start = kind(&[r#""cont" "/b/" "cont""#]).unwrap_err();
        assert!(no_start.to_string().contains("'start_state'"), "{no_start}");
        let two = kind(&[r#""start_state" "/b/""#]).unwrap_err();
        assert!(two.to_string().contains("found 2"), "{two}");
    }

    #[test]
    fn endswith_equal_and_partial() {
        let body = Map::new();
        let ends = Kind::EndsWith {
            suffix: "\n".into(),
            negate: false,
        };
        assert_eq!(ends.start("piece", &body), Start::Open(0));
        assert_eq!(ends.start("whole\n", &body), Start::Whole);
        assert_eq!(ends.next(0, "end\n", &body), Next::JoinEnd);
        let equal = Kind::Equal {
            line: "--".into(),
            negate: false,
        };
        assert_eq!(equal.next(0, "text", &body), Next::Join(0));
        assert_eq!(equal.next(0, "--", &body), Next::JoinEnd);
        let partial = Kind::Partial {
            key: "_p".into(),
            value: "P".into(),
        };
        let mut p = Map::new();
        p.push("_p", Value::from("P"));
        assert_eq!(partial.start("a", &p), Start::Open(0));
        assert_eq!(partial.next(0, "b", &Map::new()), Next::JoinEnd);
    }
}
