//! A hand-written matcher for the shipped `syslog-rfc5424` regex, the
//! `syslog` input's default parser.
//!
//! Matching that regex took over a third of the CPU of a TCP syslog
//! pipeline (S1/S2 in bench/). This matcher finds the same groups in one
//! forward pass, but only where its answer is certain to be the regex's:
//! on ASCII text without a newline. Anything else (a UTF-8 message, a
//! multi-line message, where Unicode classes and line anchors come in)
//! goes to the regex as before. The test at the bottom checks the two
//! against each other on generated lines.

/// The shipped pattern, as `conf/parsers.conf` writes it. A parser with
/// any other pattern never uses this matcher.
pub(crate) const PATTERN: &str = r"^\<(?<pri>\d{1,3})\>1 (?<time>\S+) (?<host>\S+) (?<ident>\S+) (?<pid>\S+) (?<msgid>\S+) (?<extradata>-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (?<message>[\s\S]*))?$";

/// The pattern's named groups, in the order they open.
pub(crate) const GROUPS: [&str; 8] = [
    "pri",
    "time",
    "host",
    "ident",
    "pid",
    "msgid",
    "extradata",
    "message",
];

/// Where each of [`GROUPS`] matched; `None` for a group that took no part.
pub(crate) type Spans = [Option<(usize, usize)>; 8];

/// What the matcher found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Match(Spans),
    NoMatch,
    /// Not ASCII, or holds a newline: ask the regex.
    Undecided,
}

/// Matches `text` as the shipped `syslog-rfc5424` regex would.
pub(crate) fn find(text: &[u8]) -> Outcome {
    if !text.is_ascii() || memchr::memchr(b'\n', text).is_some() {
        return Outcome::Undecided;
    }
    match spans(text) {
        Some(spans) => Outcome::Match(spans),
        None => Outcome::NoMatch,
    }
}

/// `\s` on ASCII: the White_Space characters below 0x80.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn spans(text: &[u8]) -> Option<Spans> {
    let mut spans: Spans = [None; 8];
    // `^\<(?<pri>\d{1,3})\>1 `
    let digits = text
        .get(1..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if text[0] != b'<' || !(1..=3).contains(&digits) || text.get(1 + digits) != Some(&b'>') {
        return None;
    }
    spans[0] = Some((1, 1 + digits));
    let mut at = 2 + digits;
    if text.get(at..at + 2) != Some(b"1 ") {
        return None;
    }
    at += 2;
    // Five `(\S+) `: a run of non-space bytes, then exactly a space.
    for span in &mut spans[1..6] {
        let run = text[at..].iter().take_while(|b| !is_space(**b)).count();
        if run == 0 || text.get(at + run) != Some(&b' ') {
            return None;
        }
        *span = Some((at, at + run));
        at += run + 1;
    }
    // `-` or one or more `[...]`, where `\` escapes the next character.
    let start = at;
    if text.get(at) == Some(&b'-') {
        at += 1;
    } else {
        while text.get(at) == Some(&b'[') {
            at = bracket_end(text, at)?;
        }
        if at == start {
            return None;
        }
    }
    spans[6] = Some((start, at));
    // `(?: (?<message>[\s\S]*))?$`: the end, or a space and the rest.
    match text.get(at) {
        None => {}
        Some(b' ') => spans[7] = Some((at + 1, text.len())),
        Some(_) => return None,
    }
    Some(spans)
}

/// The end of the `[...]` group opening at `at`, just past its `]`.
fn bracket_end(text: &[u8], mut at: usize) -> Option<usize> {
    at += 1;
    loop {
        match *text.get(at)? {
            b']' => return Some(at + 1),
            b'\\' => {
                // `\\.`: any character but a newline, and there is none.
                text.get(at + 1)?;
                at += 2;
            }
            _ => at += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::regex_compat::{compile, Captures};

    /// The regex's answer, in the matcher's terms.
    fn by_regex(text: &[u8]) -> Option<Spans> {
        static REGEX: std::sync::OnceLock<sluice_core::regex_compat::CompiledRegex> =
            std::sync::OnceLock::new();
        let regex = REGEX.get_or_init(|| compile(PATTERN).unwrap());
        let names: Vec<&str> = regex.names().iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, GROUPS);
        let mut caps = Captures::default();
        if !regex.captures(text, &mut caps) {
            return None;
        }
        let mut spans: Spans = [None; 8];
        for (i, (group, _)) in regex.names().iter().enumerate() {
            spans[i] = caps.get(*group);
        }
        Some(spans)
    }

    /// Checks the matcher against the regex; answers what it decided.
    fn check(text: &[u8]) -> Outcome {
        let want = by_regex(text);
        let got = find(text);
        match &got {
            Outcome::Match(spans) => assert_eq!(Some(*spans), want, "{:?}", bstr(text)),
            Outcome::NoMatch => assert_eq!(None, want, "{:?}", bstr(text)),
            Outcome::Undecided => {}
        }
        got
    }

    fn bstr(text: &[u8]) -> String {
        String::from_utf8_lossy(text).into_owned()
    }

    #[test]
    fn typical_lines_match_as_the_regex_does() {
        for line in [
            "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed",
            "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time",
            r#"<165>1 2003-10-11T22:14:15.003Z host app - ID47 [exampleSDID@32473 iut="3" eventSource="Application"][x@1 a="\]"] msg"#,
            "<13>1 - - - - - -",
            "<13>1 - - - - - - ",
            "<13>1 - - - - - -x",
            "<13>1 - - - - - [a][b",
            "<13>1 - - - - - [a]x",
            "<13>1 - - - - - [a\\",
            "<1234>1 - - - - - - m",
            "<13>2 - - - - - - m",
            "<13>1  - - - - - m",
            "<13>1 a\tb - - - - - m",
            "",
            "<",
        ] {
            check(line.as_bytes());
        }
        assert_eq!(find("<13>1 é - - - - - m".as_bytes()), Outcome::Undecided);
        assert_eq!(find(b"<13>1 - - - - - - a\nb"), Outcome::Undecided);
    }

    #[test]
    fn generated_lines_match_as_the_regex_does() {
        // Pieces that come close to the pattern and to its edges.
        const PIECES: &[&str] = &[
            "<",
            ">",
            "1",
            "13",
            "1234",
            " ",
            "  ",
            "-",
            "[",
            "]",
            "\\",
            "\\]",
            "a",
            "x=\"1\"",
            "\t",
            "\x0b",
            "\x1f",
            "2003-10-11T22:14:15Z",
            "<13>1 ",
            "[id a=\"b\"]",
            "\r",
        ];
        let mut rng = fastrand::Rng::with_seed(5424);
        let (mut matched, mut refused) = (0, 0);
        for _ in 0..50_000 {
            let mut line = String::from(["<13>1 ", "<7>1 ", "<191>1 ", ""][rng.usize(..4)]);
            if rng.u8(..8) > 0 {
                for _ in 0..5 {
                    line.push_str(["h", "-", "app", "42", "ID9"][rng.usize(..5)]);
                    line.push(' ');
                }
            }
            if rng.u8(..4) > 0 {
                line.push_str(["-", "[a]", "[id a=\"b\"][x@1]", "[a\\]b]", "[]"][rng.usize(..5)]);
            }
            if rng.bool() {
                line.push(' ');
            }
            for _ in 0..rng.usize(..4) {
                line.push_str(PIECES[rng.usize(..PIECES.len())]);
            }
            // A near miss: one piece dropped in anywhere.
            if rng.u8(..4) == 0 {
                let at = rng.usize(..=line.len());
                line.insert_str(at, PIECES[rng.usize(..PIECES.len())]);
            }
            match check(line.as_bytes()) {
                Outcome::Match(_) => matched += 1,
                Outcome::NoMatch => refused += 1,
                Outcome::Undecided => {}
            }
        }
        // Both answers come up often enough to mean something.
        assert!(matched > 5_000 && refused > 5_000, "{matched} {refused}");
    }
}
