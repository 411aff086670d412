//! Parsers files: `Parsers_File` in SERVICE and the `-R` flag.
//!
//! A parsers file holds `[PARSER]` and `[MULTILINE_PARSER]` sections (or
//! YAML `parsers:` / `multiline_parsers:`). They are read after the main
//! file, so their parsers come after the ones defined inline, and a
//! relative path is taken from the main file's directory, as in Fluent Bit.

use std::path::Path;

use super::include::Format;
use super::{classic, yaml, Config, ConfigError, Entry};

/// Reads the parsers in the file at `path` into `config`.
///
/// Sections other than parsers are ignored with a warning, as Fluent Bit
/// does.
///
/// # Errors
/// The file cannot be read or is invalid.
pub fn load_parsers_file(path: &Path, config: &mut Config) -> Result<(), ConfigError> {
    if let Err(err) = std::fs::metadata(path) {
        let message = format!("cannot read parsers file: {}: {err}", path.display());
        return Err(ConfigError::new(message));
    }
    let parsed = match Format::of(path) {
        Format::Yaml => yaml::load(path)?,
        Format::Classic => classic::load(path)?,
    };

    let ignored = parsed.inputs.len() + parsed.filters.len() + parsed.outputs.len();
    if ignored > 0 || !parsed.service.entries.is_empty() {
        tracing::warn!(
            file = %path.display(),
            "parsers file holds sections other than parsers; they are ignored"
        );
    }
    config.parsers.extend(parsed.parsers);
    config.multiline_parsers.extend(parsed.multiline_parsers);
    Ok(())
}

/// Loads every `Parsers_File` of `config`'s SERVICE section, relative to
/// `base_dir`.
///
/// # Errors
/// A parsers file cannot be read or is invalid; a missing one is reported
/// at the SERVICE line that names it.
pub(crate) fn load_service_parsers(
    base_dir: &Path,
    config: &mut Config,
) -> Result<(), ConfigError> {
    let entries: Vec<Entry> = config.service.get_all("parsers_file").cloned().collect();
    for entry in entries {
        let path = base_dir.join(&entry.value);
        load_parsers_file(&path, config).map_err(|err| match err.origin {
            Some(_) => err,
            None => ConfigError {
                origin: Some(entry.origin.clone()),
                key: Some(entry.key.clone()),
                ..err
            },
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::include::{test_dir, write};
    use crate::config::{load_file, load_parsers_file, Config, Origin};

    const PARSERS: &str = "\
[PARSER]
    Name   json
    Format json

[MULTILINE_PARSER]
    name  ml
    type  regex
    rule  \"start_state\" \"/^a/\" \"cont\"
";

    #[test]
    fn service_parsers_files_are_appended() {
        let dir = test_dir("parsers-service");
        write(&dir, "conf/parsers.conf", PARSERS);
        write(
            &dir,
            "conf/more.yaml",
            "parsers:\n  - name: yaml_one\n    format: regex\n",
        );
        let main = write(
            &dir,
            "main.conf",
            "[SERVICE]\n    Parsers_File conf/parsers.conf\n    parsers_file conf/more.yaml\n\
             [PARSER]\n    Name inline\n    Format logfmt\n",
        );
        let config = load_file(&main).unwrap();
        let names: Vec<_> = config.parsers.iter().map(|s| s.name().unwrap()).collect();
        assert_eq!(names, ["inline", "json", "yaml_one"]);
        assert_eq!(config.multiline_parsers[0].name(), Some("ml"));
        let shown = dir.join("conf/parsers.conf").display().to_string();
        assert_eq!(config.parsers[1].origin, Origin::new(shown, 1));
    }

    #[test]
    fn yaml_service_parsers_file_is_read() {
        let dir = test_dir("parsers-yaml");
        write(&dir, "parsers.conf", PARSERS);
        let main = write(&dir, "main.yml", "service:\n  parsers_file: parsers.conf\n");
        let config = load_file(&main).unwrap();
        assert_eq!(config.parsers[0].name(), Some("json"));
    }

    #[test]
    fn a_missing_parsers_file_names_the_service_line() {
        let dir = test_dir("parsers-missing");
        let main = write(
            &dir,
            "main.conf",
            "[SERVICE]\n    Flush 1\n    Parsers_File nope.conf\n",
        );
        let err = load_file(&main).unwrap_err();
        assert_eq!(err.origin, Some(Origin::new(main.display().to_string(), 3)));
        assert_eq!(err.key.as_deref(), Some("Parsers_File"));
        assert!(
            err.message.starts_with("cannot read parsers file: "),
            "{err}"
        );
    }

    #[test]
    fn the_flag_form_reads_parsers_into_an_existing_config() {
        let dir = test_dir("parsers-flag");
        let path = write(&dir, "p.conf", PARSERS);
        let mut config = Config::default();
        load_parsers_file(&path, &mut config).unwrap();
        assert_eq!(config.parsers.len(), 1);
        assert_eq!(config.multiline_parsers.len(), 1);
        let err = load_parsers_file(&dir.join("none.conf"), &mut config).unwrap_err();
        assert_eq!(err.origin, None);
    }
}
