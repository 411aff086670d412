//! The classic Fluent Bit `.conf` front end.
//!
//! A file is a list of `[SECTION]` headers, each followed by indented
//! `key value` lines, plus `@INCLUDE` and `@SET` directives. Indentation is
//! checked strictly (one indent per file, tabs and spaces never mixed)
//! because a misplaced line is otherwise silently read into the wrong
//! section. Includes are read where they appear, so their sections keep
//! their place in the order of inputs, filters and outputs.

use std::path::Path;
use std::sync::Arc;

use super::include::{Format, Loader};
use super::{Config, ConfigError, Origin, Section, SectionKind};

/// Reads a classic configuration file with its includes.
///
/// # Errors
/// The file or an included one cannot be read, a line is malformed or
/// badly indented, a section is unknown, or includes form a loop.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    Loader::default().load_file(path, Format::Classic, None, &mut config)?;
    Ok(config)
}

/// Parses classic configuration text named `file`, resolving includes
/// relative to `base_dir`.
///
/// # Errors
/// As [`load`], except that the text itself is never missing.
pub fn parse_str(text: &str, file: &str, base_dir: &Path) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    let mut loader = Loader::default();
    loader.parse_text(text, file, base_dir, Format::Classic, None, &mut config)?;
    Ok(config)
}

/// Reads one file's text into `config`, as part of `loader`'s load.
pub(crate) fn parse_into(
    loader: &mut Loader,
    text: &str,
    file: &str,
    base_dir: &Path,
    config: &mut Config,
) -> Result<(), ConfigError> {
    let mut reader = Reader {
        loader,
        config,
        file: file.into(),
        base_dir,
        indent: None,
        section: None,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, line) in text.lines().enumerate() {
        reader.line(index + 1, line.trim_end_matches('\r'))?;
    }
    reader.close_section();
    Ok(())
}

/// The state of reading one file.
struct Reader<'a> {
    loader: &'a mut Loader,
    config: &'a mut Config,
    file: Arc<str>,
    base_dir: &'a Path,
    /// The indent of the file's first entry; every other must match it.
    indent: Option<&'a str>,
    /// The section whose entries are being read.
    section: Option<Section>,
}

impl<'a> Reader<'a> {
    fn line(&mut self, number: usize, line: &'a str) -> Result<(), ConfigError> {
        let origin = Origin::new(self.file.clone(), number);
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') {
            return Ok(());
        }
        let indent = &line[..line.len() - content.len()];
        let content = content.trim_end();

        if content.starts_with('@') {
            return self.directive(content, &origin);
        }
        if content.starts_with('[') {
            if !indent.is_empty() {
                return Err(ConfigError::at(
                    &origin,
                    "section header must not be indented",
                ));
            }
            return self.header(content, &origin);
        }
        self.entry(indent, content, &origin)
    }

    /// `[NAME]`: closes the open section and starts a new one.
    fn header(&mut self, content: &str, origin: &Origin) -> Result<(), ConfigError> {
        let name = content
            .strip_prefix('[')
            .and_then(|c| c.strip_suffix(']'))
            .map(str::trim)
            .ok_or_else(|| {
                ConfigError::at(origin, format!("invalid section header '{content}'"))
            })?;
        let kind = section_kind(name).map_err(|message| ConfigError::at(origin, message))?;
        self.close_section();
        self.section = Some(Section::new(kind, origin.clone()));
        Ok(())
    }

    /// An indented `key value` line of the open section.
    fn entry(
        &mut self,
        indent: &'a str,
        content: &str,
        origin: &Origin,
    ) -> Result<(), ConfigError> {
        let Some(section) = self.section.as_mut() else {
            return Err(ConfigError::at(
                origin,
                "entry outside of a section; add a [SECTION] header above it",
            ));
        };
        if indent.is_empty() {
            return Err(ConfigError::at(
                origin,
                "entry must be indented under its section",
            ));
        }
        check_indent(&mut self.indent, indent, origin)?;

        let (key, value) = content.split_once([' ', '\t']).unwrap_or((content, ""));
        let value = value.trim();
        if value.is_empty() {
            return Err(ConfigError::at(origin, "missing value").with_key(key));
        }
        let vars = &self.loader.vars;
        let key = vars.substitute(key, origin);
        let value = vars.substitute(value, origin);
        section.push(key, value, origin.clone());
        Ok(())
    }

    /// `@INCLUDE pattern` or `@SET KEY=VALUE`.
    fn directive(&mut self, content: &str, origin: &Origin) -> Result<(), ConfigError> {
        let (name, rest) = content.split_once([' ', '\t']).unwrap_or((content, ""));
        let rest = self.loader.vars.substitute(rest.trim(), origin);
        if name.eq_ignore_ascii_case("@include") {
            if rest.is_empty() {
                return Err(ConfigError::at(origin, "missing file to include").with_key(name));
            }
            // An include ends the open section: its sections come next.
            self.close_section();
            self.loader
                .include(&rest, self.base_dir, origin, name, self.config)
        } else if name.eq_ignore_ascii_case("@set") {
            let (var, value) = rest
                .split_once('=')
                .ok_or_else(|| ConfigError::at(origin, "expected KEY=VALUE").with_key(name))?;
            self.loader.vars.set(var.trim(), value.trim().to_string());
            Ok(())
        } else {
            Err(ConfigError::at(
                origin,
                format!("unknown directive '{name}'"),
            ))
        }
    }

    fn close_section(&mut self) {
        if let Some(section) = self.section.take() {
            self.config.add(section);
        }
    }
}

/// The section a header names, or why it cannot be used.
fn section_kind(name: &str) -> Result<SectionKind, String> {
    let kind = match name.to_ascii_lowercase().as_str() {
        "service" => SectionKind::Service,
        "input" => SectionKind::Input,
        "filter" => SectionKind::Filter,
        "output" => SectionKind::Output,
        "parser" => SectionKind::Parser,
        "multiline_parser" => SectionKind::MultilineParser,
        // TODO: support these sections, because Fluent Bit configs for
        // clustered outputs and custom plugins use them.
        "upstream" | "node" | "plugins" | "custom" => {
            return Err(format!("section '{name}' is not supported"))
        }
        _ => return Err(format!("unknown section '{name}'")),
    };
    Ok(kind)
}

/// Checks an entry's indent against the file's first one.
fn check_indent<'a>(
    expected: &mut Option<&'a str>,
    indent: &'a str,
    origin: &Origin,
) -> Result<(), ConfigError> {
    if indent.contains(' ') && indent.contains('\t') {
        return Err(ConfigError::at(
            origin,
            "inconsistent indentation; tabs and spaces are mixed",
        ));
    }
    match expected {
        None => {
            *expected = Some(indent);
            Ok(())
        }
        Some(first) if *first == indent => Ok(()),
        Some(first) => Err(ConfigError::at(
            origin,
            format!(
                "inconsistent indentation; expected {}",
                describe_indent(first)
            ),
        )),
    }
}

/// "4 spaces", "1 tab".
fn describe_indent(indent: &str) -> String {
    let n = indent.len();
    let unit = if indent.starts_with('\t') {
        "tab"
    } else {
        "space"
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::include::{test_dir, write};

    fn parse(text: &str) -> Result<Config, ConfigError> {
        parse_str(text, "test.conf", Path::new("."))
    }

    fn pairs(section: &Section) -> Vec<(&str, &str, usize)> {
        let e = section.entries.iter();
        e.map(|e| (e.key.as_str(), e.value.as_str(), e.origin.line))
            .collect()
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn sections_hold_their_entries_with_lines() {
        let text = "\
[SERVICE]
    Flush     1
    Log_Level info

[INPUT]
    Name  dummy
    Tag   app.log

[OUTPUT]
    Name  stdout
    Match *
";
        let config = parse(text).unwrap();
        assert_eq!(
            pairs(&config.service),
            [("Flush", "1", 2), ("Log_Level", "info", 3)]
        );
        assert_eq!(config.inputs.len(), 1);
        assert_eq!(config.inputs[0].origin, Origin::new("test.conf", 5));
        assert_eq!(
            pairs(&config.inputs[0]),
            [("Name", "dummy", 6), ("Tag", "app.log", 7)]
        );
        assert_eq!(
            pairs(&config.outputs[0]),
            [("Name", "stdout", 10), ("Match", "*", 11)]
        );
    }

    #[test]
    fn comments_and_blank_lines_are_ignored_but_inline_hashes_kept() {
        let text = "# top\n[INPUT]\n    # indented comment\n\n    Name dummy\n\t\n    Dummy {\"a\":\"#1\"} # tail\n";
        let config = parse(text).unwrap();
        assert_eq!(
            pairs(&config.inputs[0]),
            [("Name", "dummy", 5), ("Dummy", "{\"a\":\"#1\"} # tail", 7)]
        );
    }

    #[test]
    fn repeated_keys_are_all_kept_in_order() {
        let text = "[FILTER]\n  Name modify\n  Add a 1\n  add b 2\n  ADD c 3\n";
        let config = parse(text).unwrap();
        let adds: Vec<&str> = config.filters[0]
            .get_all("add")
            .map(|e| e.value.as_str())
            .collect();
        assert_eq!(adds, ["a 1", "b 2", "c 3"]);
    }

    #[test]
    fn section_names_ignore_case() {
        let text = "[input]\n  Name a\n[Filter]\n  Name b\n[oUtPuT]\n  Name c\n\
                    [parser]\n  Name d\n[Multiline_Parser]\n  Name e\n  rule \"start_state\" \"/x/\" \"cont\"\n[service]\n  Flush 2\n";
        let config = parse(text).unwrap();
        assert_eq!(config.inputs[0].name(), Some("a"));
        assert_eq!(config.filters[0].name(), Some("b"));
        assert_eq!(config.outputs[0].name(), Some("c"));
        assert_eq!(config.parsers[0].name(), Some("d"));
        let ml = &config.multiline_parsers[0];
        assert_eq!(ml.kind, SectionKind::MultilineParser);
        assert_eq!(
            ml.get("rule").unwrap().value,
            "\"start_state\" \"/x/\" \"cont\""
        );
        assert_eq!(config.service.get("flush").unwrap().value, "2");
    }

    #[test]
    fn multiline_rules_keep_the_raw_rest_of_the_line() {
        let text = "[MULTILINE_PARSER]\n    name  ml\n    rule      \"start_state\"   \"/([a-zA-Z]+ \\d+ \\d+\\:\\d+\\:\\d+)(.*)/\"   \"cont\"\n";
        let config = parse(text).unwrap();
        let rule = config.multiline_parsers[0].get("rule").unwrap();
        assert_eq!(
            rule.value,
            "\"start_state\"   \"/([a-zA-Z]+ \\d+ \\d+\\:\\d+\\:\\d+)(.*)/\"   \"cont\""
        );
        assert_eq!(rule.origin.line, 3);
    }

    #[test]
    fn mixed_tabs_and_spaces_name_the_line() {
        let text = "[INPUT]\n    Name dummy\n \tTag x\n";
        assert_eq!(
            error(text),
            "test.conf:3: inconsistent indentation; tabs and spaces are mixed"
        );
    }

    #[test]
    fn a_changed_indent_width_names_the_line() {
        let text = "[INPUT]\n    Name dummy\n\n[OUTPUT]\n    Name stdout\n  Match *\n";
        assert_eq!(
            error(text),
            "test.conf:6: inconsistent indentation; expected 4 spaces"
        );
        let text = "[INPUT]\n\tName dummy\n    Tag x\n";
        assert_eq!(
            error(text),
            "test.conf:3: inconsistent indentation; expected 1 tab"
        );
    }

    #[test]
    fn unindented_entries_are_errors() {
        assert_eq!(
            error("[INPUT]\n    Name dummy\nTag x\n"),
            "test.conf:3: entry must be indented under its section"
        );
        assert_eq!(
            error("\n    Name dummy\n"),
            "test.conf:2: entry outside of a section; add a [SECTION] header above it"
        );
        assert_eq!(
            error("[INPUT]\n    Name\n"),
            "test.conf:2: key 'Name': missing value"
        );
    }

    #[test]
    fn unknown_and_unsupported_sections_are_errors() {
        assert_eq!(
            error("[INPUT]\n  Name a\n[INPUTS]\n  Name b\n"),
            "test.conf:3: unknown section 'INPUTS'"
        );
        assert_eq!(
            error("[UPSTREAM]\n  name x\n"),
            "test.conf:1: section 'UPSTREAM' is not supported"
        );
        assert_eq!(
            error("[INPUT\n"),
            "test.conf:1: invalid section header '[INPUT'"
        );
    }

    #[test]
    fn set_variables_and_environment_are_substituted() {
        std::env::set_var("SLUICE_CLASSIC_TEST_TAG", "from.env");
        let text = "\
@SET input=dummy
@SET  rate = 5
[INPUT]
    Name ${input}
    Tag  ${SLUICE_CLASSIC_TEST_TAG}
    Rate ${rate}
    ${input}_key ${SLUICE_CLASSIC_TEST_UNSET:-fallback}
    Empty [${SLUICE_CLASSIC_TEST_UNSET}]
";
        let config = parse(text).unwrap();
        assert_eq!(
            pairs(&config.inputs[0]),
            [
                ("Name", "dummy", 4),
                ("Tag", "from.env", 5),
                ("Rate", "5", 6),
                ("dummy_key", "fallback", 7),
                ("Empty", "[]", 8),
            ]
        );
    }

    #[test]
    fn bad_directives_are_errors() {
        assert_eq!(
            error("@SET novalue\n"),
            "test.conf:1: key '@SET': expected KEY=VALUE"
        );
        assert_eq!(error("@FOO bar\n"), "test.conf:1: unknown directive '@FOO'");
    }

    #[test]
    fn includes_are_merged_in_place_with_globs_sorted() {
        let dir = test_dir("classic-include");
        write(&dir, "inputs/b.conf", "[INPUT]\n  Name b\n");
        write(&dir, "inputs/a.conf", "[INPUT]\n\tName a\n");
        write(&dir, "inputs/skip.txt", "[INPUT]\n  Name skip\n");
        write(
            &dir,
            "out.conf",
            "@SET where=included\n[OUTPUT]\n  Name stdout\n",
        );
        let main = write(
            &dir,
            "main.conf",
            "[INPUT]\n    Name first\n@INCLUDE inputs/*.conf\n[INPUT]\n    Name last\n\
             @INCLUDE out.conf\n[FILTER]\n    Name ${where}\n",
        );
        let config = load(&main).unwrap();
        let names: Vec<_> = config.inputs.iter().map(|s| s.name().unwrap()).collect();
        assert_eq!(names, ["first", "a", "b", "last"]);
        let origin = &config.inputs[1].entries[0].origin;
        assert_eq!(
            *origin,
            Origin::new(dir.join("inputs/a.conf").display().to_string(), 2)
        );
        assert_eq!(config.outputs[0].name(), Some("stdout"));
        assert_eq!(config.filters[0].name(), Some("included"));
    }

    #[test]
    fn include_loops_are_errors() {
        let dir = test_dir("classic-loop");
        let a = write(&dir, "a.conf", "[INPUT]\n  Name a\n@INCLUDE b.conf\n");
        write(&dir, "b.conf", "\n@INCLUDE a.conf\n");
        let err = load(&a).unwrap_err();
        let a_shown = a.display().to_string();
        let b_shown = dir.join("b.conf").display().to_string();
        assert_eq!(err.origin, Some(Origin::new(b_shown.as_str(), 2)));
        assert_eq!(
            err.message,
            format!("include loop: {a_shown} -> {b_shown} -> {a_shown}")
        );
    }

    #[test]
    fn missing_files_are_errors() {
        let dir = test_dir("classic-missing");
        let main = write(&dir, "main.conf", "[INPUT]\n  Name a\n@INCLUDE nope.conf\n");
        let err = load(&main).unwrap_err();
        assert_eq!(err.origin, Some(Origin::new(main.display().to_string(), 3)));
        assert_eq!(err.key.as_deref(), Some("@INCLUDE"));
        assert!(
            err.message.starts_with("cannot read included file: "),
            "{err}"
        );

        // A glob that matches nothing is not an error.
        let main = write(&dir, "glob.conf", "@INCLUDE none/*.conf\n");
        assert_eq!(load(&main).unwrap(), Config::default());

        let missing = dir.join("absent.conf");
        let err = load(&missing).unwrap_err().to_string();
        let prefix = format!("cannot read config file: {}: ", missing.display());
        assert!(err.starts_with(&prefix), "{err}");
    }
}
