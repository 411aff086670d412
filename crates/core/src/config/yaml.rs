//! The YAML front end, in Fluent Bit's layout.
//!
//! The top level holds `env`, `includes`, `service`, `parsers`,
//! `multiline_parsers` and `pipeline` (`inputs`, `filters`, `outputs`).
//! Each list item becomes one [`Section`] of `key value` entries, exactly
//! what a classic file would give, so everything after this front end
//! ignores which syntax the user chose. `env` is read before anything else
//! so `${VAR}` works anywhere in the file; includes are read where they
//! appear.

use std::path::Path;
use std::sync::Arc;

use super::include::{Format, Loader};
use super::yaml_tree::{self, Node};
use super::{Config, ConfigError, Origin, Section, SectionKind};

/// Reads a YAML configuration file with its includes.
///
/// # Errors
/// The file or an included one cannot be read, the YAML is invalid, a key
/// is unknown or holds the wrong shape, or includes form a loop.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    Loader::default().load_file(path, Format::Yaml, None, &mut config)?;
    Ok(config)
}

/// Parses YAML configuration text named `file`, resolving includes
/// relative to `base_dir`.
///
/// # Errors
/// As [`load`], except that the text itself is never missing.
pub fn parse_str(text: &str, file: &str, base_dir: &Path) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    let mut loader = Loader::default();
    loader.parse_text(text, file, base_dir, Format::Yaml, None, &mut config)?;
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
    let file: Arc<str> = file.into();
    let root = yaml_tree::parse(text).map_err(|err| {
        let origin = Origin::new(file.clone(), err.marker().line());
        ConfigError::at(&origin, format!("invalid yaml; {}", err.info()))
    })?;
    let mut reader = Reader {
        loader,
        config,
        file,
        base_dir,
    };
    match root {
        None => Ok(()),
        Some(node) if node.is_empty_scalar() => Ok(()),
        Some(Node::Map { pairs, .. }) => reader.document(&pairs),
        Some(node) => Err(reader.error(&node, "the top level must be a map")),
    }
}

/// The state of reading one file.
struct Reader<'a> {
    loader: &'a mut Loader,
    config: &'a mut Config,
    file: Arc<str>,
    base_dir: &'a Path,
}

impl Reader<'_> {
    /// The top-level map: `env` first, then the rest in order.
    fn document(&mut self, pairs: &[(Node, Node)]) -> Result<(), ConfigError> {
        for (key, value) in pairs {
            if self.key_text(key)?.eq_ignore_ascii_case("env") {
                self.env(value)?;
            }
        }
        for (key, value) in pairs {
            let name = self.key_text(key)?;
            match name.to_ascii_lowercase().as_str() {
                "env" => {}
                "includes" => self.includes(value)?,
                "service" => self.service(value)?,
                "parsers" => self.sections(value, SectionKind::Parser)?,
                "multiline_parsers" => self.sections(value, SectionKind::MultilineParser)?,
                "pipeline" => self.pipeline(value)?,
                // TODO: support these keys, because Fluent Bit configs for
                // custom plugins and upstream groups use them.
                "customs" | "plugins" | "upstream_servers" | "parsers_multiline" => {
                    return Err(self.error(key, format!("'{name}' is not supported")));
                }
                _ => return Err(self.error(key, format!("unknown top-level key '{name}'"))),
            }
        }
        Ok(())
    }

    /// `env:` — variables for `${VAR}`, each able to use earlier ones.
    fn env(&mut self, value: &Node) -> Result<(), ConfigError> {
        for (key, value) in self.map_pairs(value, "env")? {
            let name = self.key_text(key)?;
            let Node::Scalar { text, .. } = value else {
                return Err(self
                    .error(value, "env values must be scalars")
                    .with_key(name));
            };
            let text = self.loader.vars.substitute(text, &self.origin(value));
            self.loader.vars.set(name, text);
        }
        Ok(())
    }

    /// `includes:` — one path or glob, or a list of them.
    fn includes(&mut self, value: &Node) -> Result<(), ConfigError> {
        for item in self.scalar_items(value, "includes")? {
            let origin = self.origin(item);
            let Node::Scalar { text, .. } = item else {
                return Err(self
                    .error(item, "include must be a path")
                    .with_key("includes"));
            };
            let pattern = self.loader.vars.substitute(text, &origin);
            let base_dir = self.base_dir;
            self.loader
                .include(&pattern, base_dir, &origin, "includes", self.config)?;
        }
        Ok(())
    }

    /// `service:` — one map of settings.
    fn service(&mut self, value: &Node) -> Result<(), ConfigError> {
        let mut section = Section::new(SectionKind::Service, self.origin(value));
        for (key, value) in self.map_pairs(value, "service")? {
            self.entry(&mut section, key, value)?;
        }
        self.config.add(section);
        Ok(())
    }

    /// `pipeline:` — the `inputs`, `filters` and `outputs` lists.
    fn pipeline(&mut self, value: &Node) -> Result<(), ConfigError> {
        for (key, value) in self.map_pairs(value, "pipeline")? {
            let name = self.key_text(key)?;
            let kind = match name.to_ascii_lowercase().as_str() {
                "inputs" => SectionKind::Input,
                "filters" => SectionKind::Filter,
                "outputs" => SectionKind::Output,
                _ => return Err(self.error(key, format!("unknown pipeline key '{name}'"))),
            };
            self.sections(value, kind)?;
        }
        Ok(())
    }

    /// A list of maps, each one section of `kind`.
    fn sections(&mut self, value: &Node, kind: SectionKind) -> Result<(), ConfigError> {
        let items = match value {
            Node::Seq { items, .. } => items.as_slice(),
            node if node.is_empty_scalar() => &[],
            node => return Err(self.error(node, "expected a list of maps")),
        };
        for item in items {
            let Node::Map { pairs, .. } = item else {
                return Err(self.error(item, "expected a map of settings"));
            };
            let mut section = Section::new(kind, self.origin(item));
            for (key, value) in pairs {
                self.plugin_entry(&mut section, key, value)?;
            }
            self.config.add(section);
        }
        Ok(())
    }

    /// One key of a plugin or parser, with the keys that need care.
    fn plugin_entry(
        &mut self,
        section: &mut Section,
        key: &Node,
        value: &Node,
    ) -> Result<(), ConfigError> {
        let name = self.key_text(key)?;
        if name.eq_ignore_ascii_case("processors") {
            // TODO: support processors, because Fluent Bit's YAML lets
            // inputs and outputs carry their own filter chains.
            return Err(self
                .error(key, "processors are not supported yet")
                .with_key(name));
        }
        if name.eq_ignore_ascii_case("rules") && section.kind == SectionKind::MultilineParser {
            return self.rules(section, value);
        }
        self.entry(section, key, value)
    }

    /// `key: scalar` is one entry; `key: [a, b]` repeats the key per item.
    fn entry(
        &mut self,
        section: &mut Section,
        key: &Node,
        value: &Node,
    ) -> Result<(), ConfigError> {
        let key_origin = self.origin(key);
        let name = self
            .loader
            .vars
            .substitute(self.key_text(key)?, &key_origin);
        match value {
            Node::Scalar { text, .. } => {
                let text = self.loader.vars.substitute(text, &key_origin);
                section.push(name, text, key_origin);
            }
            Node::Seq { items, .. } => {
                for item in items {
                    let Node::Scalar { text, .. } = item else {
                        return Err(self
                            .error(item, "list items must be scalars")
                            .with_key(name));
                    };
                    let origin = self.origin(item);
                    let text = self.loader.vars.substitute(text, &origin);
                    section.push(name.clone(), text, origin);
                }
            }
            Node::Map { .. } => {
                return Err(self.error(key, "a map is not allowed here").with_key(name));
            }
        }
        Ok(())
    }

    /// `rules:` of a multiline parser: each becomes a `rule` entry in the
    /// classic shape `"state" "regex" "next_state"`.
    fn rules(&mut self, section: &mut Section, value: &Node) -> Result<(), ConfigError> {
        let Node::Seq { items, .. } = value else {
            return Err(self
                .error(value, "rules must be a list of maps")
                .with_key("rules"));
        };
        for item in items {
            let origin = self.origin(item);
            let pairs = self.map_pairs(item, "rules")?;
            let mut parts = Vec::with_capacity(3);
            for field in ["state", "regex", "next_state"] {
                let text = self.rule_field(pairs, field, &origin)?;
                let text = self.loader.vars.substitute(text, &origin);
                // TODO: escape quotes inside the parts, because the classic
                // rule syntax has no escape the rule parser would undo.
                parts.push(format!("\"{text}\""));
            }
            section.push("rule", parts.join(" "), origin);
        }
        Ok(())
    }

    /// The scalar text of `field` in one rule.
    fn rule_field<'n>(
        &self,
        pairs: &'n [(Node, Node)],
        field: &str,
        origin: &Origin,
    ) -> Result<&'n str, ConfigError> {
        let found = pairs.iter().find(
            |(k, _)| matches!(k, Node::Scalar { text, .. } if text.eq_ignore_ascii_case(field)),
        );
        match found {
            Some((_, Node::Scalar { text, .. })) => Ok(text),
            Some((_, node)) => Err(self.error(node, format!("rule '{field}' must be a scalar"))),
            None => {
                Err(ConfigError::at(origin, format!("rule is missing '{field}'")).with_key("rules"))
            }
        }
    }

    /// The pairs of a map; an empty value counts as an empty map.
    fn map_pairs<'n>(&self, node: &'n Node, what: &str) -> Result<&'n [(Node, Node)], ConfigError> {
        match node {
            Node::Map { pairs, .. } => Ok(pairs),
            node if node.is_empty_scalar() => Ok(&[]),
            node => Err(self.error(node, "expected a map").with_key(what)),
        }
    }

    /// One scalar or a list of them, as a list.
    fn scalar_items<'n>(&self, node: &'n Node, what: &str) -> Result<Vec<&'n Node>, ConfigError> {
        match node {
            Node::Seq { items, .. } => Ok(items.iter().collect()),
            Node::Scalar { .. } => Ok(vec![node]),
            Node::Map { .. } => Err(self
                .error(node, "expected a path or a list of paths")
                .with_key(what)),
        }
    }

    /// A map key's text; keys must be scalars.
    fn key_text<'n>(&self, key: &'n Node) -> Result<&'n str, ConfigError> {
        match key {
            Node::Scalar { text, .. } => Ok(text),
            node => Err(self.error(node, "keys must be scalars")),
        }
    }

    fn origin(&self, node: &Node) -> Origin {
        Origin::new(self.file.clone(), node.line())
    }

    fn error(&self, node: &Node, message: impl Into<String>) -> ConfigError {
        ConfigError::at(&self.origin(node), message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::classic;
    use crate::config::include::{test_dir, write};

    fn parse(text: &str) -> Result<Config, ConfigError> {
        parse_str(text, "test.yaml", Path::new("."))
    }

    fn pairs(section: &Section) -> Vec<(&str, &str, usize)> {
        let e = section.entries.iter();
        e.map(|e| (e.key.as_str(), e.value.as_str(), e.origin.line))
            .collect()
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    const PIPELINE: &str = "\
service:
  flush: 1
  log_level: info
pipeline:
  inputs:
    - name: dummy
      tag: app
      rate: 5
  filters:
    - name: grep
      match: '*'
      regex: log aa
  outputs:
    - name: stdout
      match: '*'
";

    #[test]
    fn the_pipeline_becomes_sections_with_lines() {
        let config = parse(PIPELINE).unwrap();
        assert_eq!(
            pairs(&config.service),
            [("flush", "1", 2), ("log_level", "info", 3)]
        );
        assert_eq!(config.inputs[0].origin, Origin::new("test.yaml", 6));
        assert_eq!(
            pairs(&config.inputs[0]),
            [("name", "dummy", 6), ("tag", "app", 7), ("rate", "5", 8)]
        );
        assert_eq!(
            pairs(&config.filters[0]),
            [
                ("name", "grep", 10),
                ("match", "*", 11),
                ("regex", "log aa", 12)
            ]
        );
        assert_eq!(
            pairs(&config.outputs[0]),
            [("name", "stdout", 14), ("match", "*", 15)]
        );
    }

    #[test]
    fn classic_and_yaml_give_the_same_sections() {
        let classic_text = "\
[SERVICE]
    Flush     1
    Log_Level info
[INPUT]
    Name dummy
    Tag  app
    Rate 5
[FILTER]
    Name  grep
    Match *
    Regex log aa
[OUTPUT]
    Name  stdout
    Match *
";
        let from_classic = classic::parse_str(classic_text, "x.conf", Path::new(".")).unwrap();
        let from_yaml = parse(PIPELINE).unwrap();

        let shape = |s: &Section| -> Vec<(String, String)> {
            let e = s.entries.iter();
            e.map(|e| (e.key.to_ascii_lowercase(), e.value.clone()))
                .collect()
        };
        let all = |c: &Config| -> Vec<(SectionKind, Vec<(String, String)>)> {
            let lists = [&c.inputs, &c.filters, &c.outputs, &c.parsers];
            let sections = std::iter::once(&c.service).chain(lists.into_iter().flatten());
            sections.map(|s| (s.kind, shape(s))).collect()
        };
        assert_eq!(all(&from_classic), all(&from_yaml));
        assert_eq!(from_yaml.inputs.len(), 1);
    }

    #[test]
    fn scalars_are_kept_as_written_and_lists_repeat_the_key() {
        let text = "\
pipeline:
  filters:
    - name: modify
      match: '*'
      add:
        - a 1
        - b 2
      condition: [Key_exists, x]
      enabled: true
      ratio: 1.50
";
        let config = parse(text).unwrap();
        assert_eq!(
            pairs(&config.filters[0]),
            [
                ("name", "modify", 3),
                ("match", "*", 4),
                ("add", "a 1", 6),
                ("add", "b 2", 7),
                ("condition", "Key_exists", 8),
                ("condition", "x", 8),
                ("enabled", "true", 9),
                ("ratio", "1.50", 10),
            ]
        );
    }

    #[test]
    fn env_sets_variables_for_the_whole_file() {
        std::env::set_var("SLUICE_YAML_TEST_ENV", "from-env");
        let text = "\
service:
  flush: ${FLUSH}
env:
  FLUSH: 2
  TAG: app.${FLUSH}
pipeline:
  inputs:
    - name: dummy
      tag: ${TAG}
      ${TAG}: ${SLUICE_YAML_TEST_ENV}
      other: ${SLUICE_YAML_TEST_UNSET:-def}
";
        let config = parse(text).unwrap();
        assert_eq!(config.service.get("flush").unwrap().value, "2");
        assert_eq!(
            pairs(&config.inputs[0]),
            [
                ("name", "dummy", 8),
                ("tag", "app.2", 9),
                ("app.2", "from-env", 10),
                ("other", "def", 11),
            ]
        );
    }

    #[test]
    fn parsers_and_multiline_rules() {
        let text = r#"
parsers:
  - name: json
    format: json
multiline_parsers:
  - name: multiline-regex-test
    type: regex
    flush_timeout: 1000
    rules:
      - state: start_state
        regex: '/([a-zA-Z]+ \d+ \d+\:\d+\:\d+)(.*)/'
        next_state: cont
      - state: cont
        regex: '/^\s+at.*/'
        next_state: cont
"#;
        let config = parse(text).unwrap();
        assert_eq!(config.parsers[0].kind, SectionKind::Parser);
        assert_eq!(
            pairs(&config.parsers[0]),
            [("name", "json", 3), ("format", "json", 4)]
        );
        let ml = &config.multiline_parsers[0];
        let rules: Vec<_> = ml
            .get_all("rule")
            .map(|e| (e.value.as_str(), e.origin.line))
            .collect();
        assert_eq!(
            rules,
            [
                (
                    r#""start_state" "/([a-zA-Z]+ \d+ \d+\:\d+\:\d+)(.*)/" "cont""#,
                    10
                ),
                (r#""cont" "/^\s+at.*/" "cont""#, 13),
            ]
        );
        assert_eq!(ml.get("flush_timeout").unwrap().value, "1000");
    }

    #[test]
    fn shape_errors_name_the_line_and_key() {
        let text = "pipeline:\n  inputs:\n    - name: dummy\n      nested:\n        a: 1\n";
        assert_eq!(
            error(text),
            "test.yaml:4: key 'nested': a map is not allowed here"
        );
        let text =
            "pipeline:\n  outputs:\n    - name: stdout\n      processors:\n        logs: []\n";
        assert_eq!(
            error(text),
            "test.yaml:4: key 'processors': processors are not supported yet"
        );
        let text =
            "multiline_parsers:\n  - name: m\n    rules:\n      - state: a\n        regex: b\n";
        assert_eq!(
            error(text),
            "test.yaml:4: key 'rules': rule is missing 'next_state'"
        );
        assert_eq!(
            error("service:\n  flush: 1\npipelines:\n  inputs: []\n"),
            "test.yaml:3: unknown top-level key 'pipelines'"
        );
        assert_eq!(
            error("pipeline:\n  input:\n    - name: x\n"),
            "test.yaml:2: unknown pipeline key 'input'"
        );
        assert_eq!(
            error("- a\n- b\n"),
            "test.yaml:1: the top level must be a map"
        );
    }

    #[test]
    fn syntax_errors_name_the_scanner_line() {
        let err = parse("service:\n  flush: 1\n  bad: [1, 2\npipeline: {}\n").unwrap_err();
        let origin = err.origin.clone().unwrap();
        assert_eq!(&*origin.file, "test.yaml");
        // The scanner notices the unclosed `[` at the next `:`.
        assert_eq!(origin.line, 4, "{err}");
        assert!(err.message.starts_with("invalid yaml; "), "{err}");
    }

    #[test]
    fn empty_documents_give_an_empty_config() {
        assert_eq!(parse("").unwrap(), Config::default());
        assert_eq!(parse("pipeline:\n  inputs:\n").unwrap(), Config::default());
    }

    #[test]
    fn includes_are_merged_in_place() {
        let dir = test_dir("yaml-include");
        write(&dir, "inc/b.yaml", "pipeline:\n  inputs:\n    - name: b\n");
        write(
            &dir,
            "inc/a.yml",
            "env:\n  X: from-a\npipeline:\n  inputs:\n    - name: a\n",
        );
        write(&dir, "legacy.conf", "[OUTPUT]\n    Name stdout\n");
        let main = write(
            &dir,
            "main.yaml",
            "pipeline:\n  inputs:\n    - name: first\nincludes:\n  - inc/*\n  - legacy.conf\n\
             pipeline:\n  filters:\n    - name: ${X}\n",
        );
        let config = load(&main).unwrap();
        let names: Vec<_> = config.inputs.iter().map(|s| s.name().unwrap()).collect();
        assert_eq!(names, ["first", "a", "b"]);
        let shown = dir.join("inc/b.yaml").display().to_string();
        assert_eq!(config.inputs[2].origin, Origin::new(shown, 3));
        assert_eq!(config.outputs[0].name(), Some("stdout"));
        assert_eq!(config.filters[0].name(), Some("from-a"));
    }

    #[test]
    fn include_loops_and_missing_includes_are_errors() {
        let dir = test_dir("yaml-loop");
        let a = write(&dir, "a.yaml", "includes: b.yaml\n");
        write(
            &dir,
            "b.yaml",
            "service:\n  flush: 1\nincludes:\n  - a.yaml\n",
        );
        let err = load(&a).unwrap_err();
        let a_shown = a.display().to_string();
        let b_shown = dir.join("b.yaml").display().to_string();
        assert_eq!(err.origin, Some(Origin::new(b_shown.as_str(), 4)));
        assert_eq!(
            err.message,
            format!("include loop: {a_shown} -> {b_shown} -> {a_shown}")
        );

        let main = write(&dir, "main.yaml", "\nincludes:\n  - missing.yaml\n");
        let err = load(&main).unwrap_err();
        assert_eq!(err.origin, Some(Origin::new(main.display().to_string(), 3)));
        assert_eq!(err.key.as_deref(), Some("includes"));
    }
}
