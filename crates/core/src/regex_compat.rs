//! Regular expressions written in Fluent Bit's dialect (Onigmo with Ruby
//! syntax), compiled for Rust.
//!
//! Parsers, grep, and multiline rules take patterns users copied from
//! Fluent Bit configurations. [`compile`] first rewrites what Onigmo reads
//! differently from the `regex` crate, then compiles with `regex` (linear
//! time, no backtracking) and falls back to `fancy-regex` only for what
//! `regex` cannot do: look-around, back-references, atomic groups.
//!
//! The rewrites, all outside and inside character classes:
//! - `/.../` delimiters are dropped; trailing `i`, `m`, `x` become flags;
//! - `^` and `$` match at line boundaries, as they always do in Ruby;
//! - Ruby's `(?m)` (dot matches newline) becomes Rust's `(?s)`;
//! - `\<` and `\>` are literal angle brackets (word boundaries in Rust);
//! - `\d`, `\w`, `\s` are ASCII-only, `\h`/`\H` are hex digits;
//! - `\Z` matches at the end or before a final newline, `\e` is ESC;
//! - a `{` that does not open a repetition is a literal, as in Onigmo.
//!
//! Matching reuses the caller's [`Captures`], so a hot loop allocates
//! nothing per line once it has seen each regex.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a pattern could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid regular expression '{pattern}'; {reason}")]
pub struct RegexError {
    pub pattern: String,
    pub reason: String,
}

/// A compiled pattern and the names of its capture groups.
#[derive(Debug, Clone)]
pub struct CompiledRegex {
    engine: Engine,
    pattern: String,
    /// Named groups as (group index, name), in the order they open.
    names: Vec<(usize, String)>,
    groups: usize,
    /// Tells [`Captures`] which regex its cached locations belong to
    /// (`2 * id` and `2 * id + 1` for the two linear forms).
    id: u64,
}

#[derive(Debug, Clone)]
enum Engine {
    Linear(Linear),
    Backtrack(Box<fancy_regex::Regex>),
}

/// The `regex` crate's form of a pattern. `^` and `$` only differ from
/// Ruby's line anchors on text holding a newline, so the single-line
/// form (which the crate can anchor, and often match in one pass) serves
/// every line without one.
#[derive(Debug, Clone)]
struct Linear {
    single: regex::bytes::Regex,
    /// The `(?m)` form, when the pattern has an anchor at all.
    lines: Option<regex::bytes::Regex>,
}

impl Linear {
    fn new(single: &str, lines: &str) -> Result<Self, regex::Error> {
        let has_anchor = single.contains('^') || single.contains('$');
        Ok(Linear {
            single: regex::bytes::Regex::new(single)?,
            lines: has_anchor
                .then(|| regex::bytes::Regex::new(lines))
                .transpose()?,
        })
    }

    /// The form for `text`, and which of the two it is (0 or 1).
    fn pick(&self, text: &[u8]) -> (&regex::bytes::Regex, u64) {
        match &self.lines {
            Some(lines) if memchr::memchr(b'\n', text).is_some() => (lines, 1),
            _ => (&self.single, 0),
        }
    }
}

/// Compiles an Onigmo-style pattern (see the module docs for what is
/// translated).
///
/// # Errors
/// The pattern is invalid for both engines; the message is the one that
/// explains the problem best (the `regex` crate's, unless the pattern
/// needs the backtracking engine).
pub fn compile(pattern: &str) -> Result<CompiledRegex, RegexError> {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let (single, translated) = translate_both(pattern);
    let fail = |reason: String| RegexError {
        pattern: pattern.to_owned(),
        reason,
    };
    let engine = match Linear::new(&single, &translated) {
        Ok(re) => Engine::Linear(re),
        Err(linear_err) => match fancy_regex::Regex::new(&translated) {
            Ok(re) => Engine::Backtrack(Box::new(re)),
            Err(fancy_err) => {
                let linear = short_reason(&linear_err.to_string());
                let needs_backtrack = linear.contains("not supported");
                return Err(fail(if needs_backtrack {
                    short_reason(&fancy_err.to_string())
                } else {
                    linear
                }));
            }
        },
    };
    let (names, groups) = group_names(&engine);
    Ok(CompiledRegex {
        engine,
        pattern: pattern.to_owned(),
        names,
        groups,
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
    })
}

/// The one line of an engine's error that says what is wrong.
fn short_reason(message: &str) -> String {
    message
        .lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or(message.lines().next().unwrap_or(message))
        .trim()
        .to_owned()
}

fn group_names(engine: &Engine) -> (Vec<(usize, String)>, usize) {
    let names: Vec<Option<String>> = match engine {
        Engine::Linear(re) => re
            .single
            .capture_names()
            .map(|n| n.map(str::to_owned))
            .collect(),
        Engine::Backtrack(re) => re.capture_names().map(|n| n.map(str::to_owned)).collect(),
    };
    let groups = names.len();
    let named = names
        .into_iter()
        .enumerate()
        .filter_map(|(i, n)| n.map(|n| (i, n)))
        .collect();
    (named, groups)
}

impl CompiledRegex {
    /// The pattern as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Named groups as (group index, name), in the order they open.
    pub fn names(&self) -> &[(usize, String)] {
        &self.names
    }

    /// Does the pattern need the backtracking engine?
    pub fn is_backtracking(&self) -> bool {
        matches!(self.engine, Engine::Backtrack(_))
    }

    /// Does the pattern match anywhere in `text`?
    ///
    /// The backtracking engine reads text only as UTF-8 and gives up on a
    /// pathological input after its backtrack limit; both count as no
    /// match.
    pub fn is_match(&self, text: &[u8]) -> bool {
        match &self.engine {
            Engine::Linear(re) => re.pick(text).0.is_match(text),
            Engine::Backtrack(re) => std::str::from_utf8(text)
                .ok()
                .is_some_and(|s| re.is_match(s).unwrap_or(false)),
        }
    }

    /// Matches `text`, leaving the group spans in `caps`; false when the
    /// pattern does not match (see [`is_match`](Self::is_match) for what
    /// the backtracking engine counts as no match).
    pub fn captures(&self, text: &[u8], caps: &mut Captures) -> bool {
        match &self.engine {
            Engine::Linear(re) => {
                let (re, form) = re.pick(text);
                let slot = caps.slot_for(self.id * 2 + form, re);
                caps.active = Some(slot);
                re.captures_read(&mut caps.cache[slot].1, text).is_some()
            }
            Engine::Backtrack(re) => {
                caps.active = None;
                caps.spans.clear();
                // TODO: match invalid UTF-8 with the backtracking engine,
                // because fancy-regex only reads `str`; such lines count
                // as not matching for now.
                let Ok(text) = std::str::from_utf8(text) else {
                    return false;
                };
                let Ok(Some(found)) = re.captures(text) else {
                    return false;
                };
                let spans = (0..self.groups).map(|i| found.get(i).map(|m| (m.start(), m.end())));
                caps.spans.extend(spans);
                true
            }
        }
    }
}

/// Reusable match results: where each group of the last match lies.
///
/// Keeps the `regex` crate's location buffers for the few regexes it has
/// been used with, so matching allocates only the first time it meets
/// one.
#[derive(Debug, Default)]
pub struct Captures {
    cache: Vec<(u64, regex::bytes::CaptureLocations)>,
    active: Option<usize>,
    spans: Vec<Option<(usize, usize)>>,
}

/// More distinct regexes than this on one `Captures` reuse the oldest
/// slot.
const CACHED_REGEXES: usize = 8;

impl Captures {
    fn slot_for(&mut self, id: u64, re: &regex::bytes::Regex) -> usize {
        if let Some(i) = self.cache.iter().position(|(c, _)| *c == id) {
            return i;
        }
        if self.cache.len() == CACHED_REGEXES {
            self.cache.remove(0);
        }
        self.cache.push((id, re.capture_locations()));
        self.cache.len() - 1
    }

    /// The byte range of group `i` in the last match, if it took part.
    pub fn get(&self, i: usize) -> Option<(usize, usize)> {
        match self.active {
            Some(slot) => self.cache[slot].1.get(i),
            None => self.spans.get(i).copied().flatten(),
        }
    }
}

/// Rewrites Onigmo/Ruby syntax into what the Rust engines read the same
/// way.
pub fn translate(pattern: &str) -> String {
    translate_both(pattern).1
}

/// The translation without and with Ruby's line anchors (`(?m)`).
fn translate_both(pattern: &str) -> (String, String) {
    let lines = translate_with(pattern, "(?m");
    let single = translate_with(pattern, "(?");
    (single.replacen("(?)", "", 1), lines)
}

fn translate_with(pattern: &str, opener: &str) -> String {
    let (body, flags) = strip_delimiters(pattern);
    let mut out = String::with_capacity(body.len() + 16);
    out.push_str(opener);
    for f in flags.chars() {
        match f {
            'i' => out.push('i'),
            'm' => out.push('s'),
            'x' => out.push('x'),
            _ => {}
        }
    }
    out.push(')');
    Translator::default().run(body, &mut out);
    out
}

/// `/body/flags` → (body, flags); anything else is the body as it is.
fn strip_delimiters(pattern: &str) -> (&str, &str) {
    let Some(rest) = pattern.strip_prefix('/') else {
        return (pattern, "");
    };
    match rest.rfind('/') {
        Some(end) if rest[end + 1..].chars().all(|c| "imx".contains(c)) => {
            (&rest[..end], &rest[end + 1..])
        }
        _ => (pattern, ""),
    }
}

#[derive(Default)]
struct Translator {
    /// Depth of nested character classes (0: outside any).
    class: usize,
}

impl Translator {
    fn run(&mut self, body: &str, out: &mut String) {
        let mut chars = body.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, e)) => self.escape(e, out),
                    None => out.push_str("\\\\"),
                },
                '[' => {
                    out.push('[');
                    if self.class > 0 && body[at + 1..].starts_with(':') {
                        // A POSIX class such as [:alpha:] inside a class.
                        let end = body[at..].find(":]").map(|e| at + e + 2);
                        if let Some(end) = end {
                            out.push_str(&body[at + 1..end]);
                            while chars.peek().is_some_and(|(i, _)| *i < end) {
                                chars.next();
                            }
                            continue;
                        }
                    }
                    self.class += 1;
                    // A `]` (after an optional `^`) right at the start is
                    // a literal in both dialects.
                    if chars.peek().is_some_and(|(_, c)| *c == '^') {
                        chars.next();
                        out.push('^');
                    }
                    if chars.peek().is_some_and(|(_, c)| *c == ']') {
                        chars.next();
                        out.push_str("\\]");
                    }
                }
                ']' if self.class > 0 => {
                    self.class -= 1;
                    out.push(']');
                }
                '(' if self.class == 0 && body[at + 1..].starts_with('?') => {
                    let used = group_open(&body[at + 1..], out);
                    while chars.peek().is_some_and(|(i, _)| *i < at + 1 + used) {
                        chars.next();
                    }
                }
                '{' if self.class == 0 && !is_repetition(&body[at..]) => out.push_str("\\{"),
                _ => out.push(c),
            }
        }
    }

    fn escape(&self, e: char, out: &mut String) {
        let inside = self.class > 0;
        let class = |name: &str| {
            if inside {
                format!("[:{name}:]")
            } else {
                format!("[[:{name}:]]")
            }
        };
        match e {
            '<' | '>' | '/' => out.push(e),
            'd' => out.push_str(&class("digit")),
            'D' => out.push_str(&class("^digit")),
            'w' => out.push_str(&class("word")),
            'W' => out.push_str(&class("^word")),
            's' => out.push_str(&class("space")),
            'S' => out.push_str(&class("^space")),
            'h' => out.push_str(&class("xdigit")),
            'H' => out.push_str(&class("^xdigit")),
            'e' => out.push_str("\\x1B"),
            'Z' if !inside => out.push_str("(?:\\n?\\z)"),
            _ => {
                out.push('\\');
                out.push(e);
            }
        }
    }
}

/// Translates the group opener at `rest` (which starts at the `?` after
/// `(`), writing `(` and what replaces it; returns how many bytes of
/// `rest` it used.
fn group_open(rest: &str, out: &mut String) -> usize {
    out.push('(');
    // `(?'name'...)` is Onigmo's other spelling of a named group.
    if let Some(quoted) = rest.strip_prefix("?'") {
        if let Some(end) = quoted.find('\'') {
            out.push_str("?P<");
            out.push_str(&quoted[..end]);
            out.push('>');
            return end + 3;
        }
    }
    // A flag group: `(?imx-imx)` or `(?imx-imx:`.
    let flags_end = rest[1..]
        .find(|c: char| !(c.is_ascii_alphabetic() || c == '-'))
        .map(|i| i + 1);
    if let Some(end) = flags_end {
        let next = rest[end..].chars().next();
        if end > 1 && matches!(next, Some(')' | ':')) {
            out.push('?');
            for f in rest[1..end].chars() {
                out.push(if f == 'm' { 's' } else { f });
            }
            return end;
        }
    }
    out.push('?');
    1
}

/// Does `text` (starting with `{`) open a repetition such as `{2}`,
/// `{2,}`, `{,3}` or `{2,3}`?
fn is_repetition(text: &str) -> bool {
    let Some(end) = text.find('}') else {
        return false;
    };
    let inner = &text[1..end];
    let (min, max) = inner.split_once(',').unwrap_or((inner, "0"));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    !inner.is_empty() && inner != "," && digits(min) && digits(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(re: &CompiledRegex, text: &str) -> Option<Vec<(String, String)>> {
        let mut caps = Captures::default();
        if !re.captures(text.as_bytes(), &mut caps) {
            return None;
        }
        let found = re
            .names()
            .iter()
            .filter_map(|(i, n)| {
                caps.get(*i)
                    .map(|(s, e)| (n.clone(), text[s..e].to_owned()))
            })
            .collect();
        Some(found)
    }

    #[test]
    fn angle_brackets_are_literals_not_word_boundaries() {
        let re = compile(r"^\<(?<pri>[0-9]+)\>(?<rest>.*)$").unwrap();
        let got = groups(&re, "<34>hello").unwrap();
        assert_eq!(got[0], ("pri".into(), "34".into()));
        assert_eq!(got[1], ("rest".into(), "hello".into()));
        assert!(!re.is_backtracking());
    }

    #[test]
    fn ruby_classes_and_hex_digits() {
        let re = compile(r"^(?<id>\h+) [\d\h]+ \w+\s(?<n>\S+)$").unwrap();
        let got = groups(&re, "beef 12ab word x9").unwrap();
        assert_eq!(got[0].1, "beef");
        assert_eq!(got[1].1, "x9");
        // ASCII only, as in Ruby.
        assert!(!compile(r"^\d$").unwrap().is_match("٣".as_bytes()));
        assert!(compile(r"^\H$").unwrap().is_match(b"g"));
    }

    #[test]
    fn ruby_multiline_flag_is_dot_all() {
        let re = compile(r"(?m)^a.b$").unwrap();
        assert!(re.is_match(b"a\nb"));
        let re = compile(r"/start.+end/m").unwrap();
        assert!(re.is_match(b"start\n\nend"));
        assert!(compile("/ABC/i").unwrap().is_match(b"xabcx"));
        // Line anchors, as in Ruby.
        let two = compile("^(?<w>two)$").unwrap();
        assert!(two.is_match(b"one\ntwo\nthree") && two.is_match(b"two"));
        let mut caps = Captures::default();
        assert!(two.captures(b"one\ntwo", &mut caps));
        assert_eq!(caps.get(1), Some((4, 7)));
        assert!(!two.is_match(b"twos"));
    }

    #[test]
    fn look_around_and_back_references_use_the_backtracking_engine() {
        let re = compile(r"^(?<word>\w+) \k<word>$").unwrap();
        assert!(re.is_backtracking());
        assert!(re.is_match(b"hey hey") && !re.is_match(b"hey you"));
        let re = compile(r"(?<=user=)(?<user>\w+)").unwrap();
        assert_eq!(groups(&re, "id=1 user=bob").unwrap()[0].1, "bob");
    }

    #[test]
    fn literal_braces_and_escaped_slashes() {
        assert!(compile(r"^{json}$").unwrap().is_match(b"{json}"));
        assert!(compile(r"^a{2}$").unwrap().is_match(b"aa"));
        assert!(compile(r"^\/var\/log$").unwrap().is_match(b"/var/log"));
        assert!(compile(r"^[]a]+$").unwrap().is_match(b"]a]"));
        assert!(compile(r"^[[:alpha:]\d]+$").unwrap().is_match(b"ab12"));
        assert!(compile(r"^(?'n'x)$").unwrap().names()[0].1 == "n");
    }

    #[test]
    fn invalid_patterns_are_explained() {
        let err = compile("^(?<open>abc").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("invalid regular expression '^(?<open>abc'; "));
        assert!(!err.reason.contains('\n'), "{err}");
    }

    #[test]
    fn captures_are_reused_across_regexes() {
        let a = compile("(?<a>a+)").unwrap();
        let b = compile("(?<b>b+)").unwrap();
        let mut caps = Captures::default();
        for _ in 0..3 {
            assert!(a.captures(b"xaa", &mut caps));
            assert_eq!(caps.get(1), Some((1, 3)));
            assert!(b.captures(b"bbb", &mut caps));
            assert_eq!(caps.get(1), Some((0, 3)));
        }
        assert_eq!(caps.cache.len(), 2);
        assert!(!a.captures(b"zzz", &mut caps));
    }
}
