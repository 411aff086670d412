//! Reading configuration files and the files they include.
//!
//! Both front ends load through one [`Loader`]: it reads a file, hands the
//! text to the front end its extension names, resolves `@INCLUDE` /
//! `includes:` patterns (globs sorted by path) relative to the including
//! file, and keeps the chain of open files so an include loop is an error
//! instead of a stack overflow. The variables set by `@SET` or `env:` live
//! here too, so they are shared by a file and everything it includes.

use std::path::{Path, PathBuf};

use super::vars::Vars;
use super::{classic, yaml, Config, ConfigError, Origin};

/// The syntax a configuration file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Classic,
    Yaml,
}

impl Format {
    /// YAML for `.yaml` and `.yml`, classic for anything else.
    pub(crate) fn of(path: &Path) -> Format {
        let ext = path.extension().and_then(|e| e.to_str());
        match ext.map(str::to_ascii_lowercase).as_deref() {
            Some("yaml" | "yml") => Format::Yaml,
            _ => Format::Classic,
        }
    }
}

/// The state of one configuration load: its variables and open files.
#[derive(Debug, Default)]
pub(crate) struct Loader {
    pub(crate) vars: Vars,
    /// The files being read, outermost first: (canonical path, as shown).
    chain: Vec<(PathBuf, String)>,
}

impl Loader {
    /// Reads the file at `path` in `format` into `config`.
    ///
    /// `at` is the include line that named the file, `None` for the top
    /// file; it decides how a read failure is reported.
    pub(crate) fn load_file(
        &mut self,
        path: &Path,
        format: Format,
        at: Option<(&Origin, &str)>,
        config: &mut Config,
    ) -> Result<(), ConfigError> {
        let text = read(path, at)?;
        let shown = path.display().to_string();
        let base_dir = path.parent().unwrap_or(Path::new(""));
        self.parse_text(&text, &shown, base_dir, format, at.map(|a| a.0), config)
    }

    /// Parses `text` as the file `file` whose includes are relative to
    /// `base_dir`.
    pub(crate) fn parse_text(
        &mut self,
        text: &str,
        file: &str,
        base_dir: &Path,
        format: Format,
        at: Option<&Origin>,
        config: &mut Config,
    ) -> Result<(), ConfigError> {
        self.enter(file, base_dir, at)?;
        let result = match format {
            Format::Classic => classic::parse_into(self, text, file, base_dir, config),
            Format::Yaml => yaml::parse_into(self, text, file, base_dir, config),
        };
        self.chain.pop();
        result
    }

    /// Loads every file `pattern` names, in sorted order, as written at
    /// `origin` under `key`.
    ///
    /// A pattern without `*` or `?` must name an existing file; a glob may
    /// match nothing.
    pub(crate) fn include(
        &mut self,
        pattern: &str,
        base_dir: &Path,
        origin: &Origin,
        key: &str,
        config: &mut Config,
    ) -> Result<(), ConfigError> {
        for path in resolve(pattern, base_dir, origin, key)? {
            let format = Format::of(&path);
            self.load_file(&path, format, Some((origin, key)), config)?;
        }
        Ok(())
    }

    /// Records that `file` is being read, refusing it if it already is.
    fn enter(
        &mut self,
        file: &str,
        base_dir: &Path,
        at: Option<&Origin>,
    ) -> Result<(), ConfigError> {
        let name = Path::new(file).file_name().map(Path::new);
        let full = base_dir.join(name.unwrap_or(Path::new(file)));
        let canonical = full.canonicalize().unwrap_or(full);

        if self.chain.iter().any(|(p, _)| *p == canonical) {
            let mut names: Vec<&str> = self.chain.iter().map(|(_, s)| s.as_str()).collect();
            names.push(file);
            let message = format!("include loop: {}", names.join(" -> "));
            return Err(match at {
                Some(origin) => ConfigError::at(origin, message),
                None => ConfigError::new(message),
            });
        }
        self.chain.push((canonical, file.to_string()));
        Ok(())
    }
}

/// Reads a whole file, naming the include line when there is one.
fn read(path: &Path, at: Option<(&Origin, &str)>) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|err| match at {
        Some((origin, key)) => ConfigError::at(
            origin,
            format!("cannot read included file: {}: {err}", path.display()),
        )
        .with_key(key),
        None => ConfigError::new(format!(
            "cannot read config file: {}: {err}",
            path.display()
        )),
    })
}

/// The files an include pattern names, relative to `base_dir`, sorted.
fn resolve(
    pattern: &str,
    base_dir: &Path,
    origin: &Origin,
    key: &str,
) -> Result<Vec<PathBuf>, ConfigError> {
    if !pattern.contains(['*', '?']) {
        return Ok(vec![base_dir.join(pattern)]);
    }

    // The directory part is literal text: escape it so a `[` in a parent
    // directory's name is not read as a character class.
    let full = if Path::new(pattern).is_absolute() {
        pattern.to_string()
    } else {
        let dir = glob::Pattern::escape(&base_dir.to_string_lossy());
        Path::new(&dir).join(pattern).to_string_lossy().into_owned()
    };
    let matches = glob::glob(&full).map_err(|err| {
        ConfigError::at(
            origin,
            format!("invalid include pattern '{pattern}'; {err}"),
        )
        .with_key(key)
    })?;

    let mut paths: Vec<PathBuf> = matches
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    if paths.is_empty() {
        tracing::warn!(file = %origin.file, line = origin.line, pattern, "include pattern matches no file");
    }
    Ok(paths)
}

/// A fresh, empty directory for tests that need real files.
#[cfg(test)]
pub(crate) fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-config-{name}-{}", std::process::id()));
    // A leftover from an earlier run with the same pid may exist.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    dir
}

/// Writes `text` to `dir/name`, creating parent directories.
#[cfg(test)]
pub(crate) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("temp dir is writable");
    }
    std::fs::write(&path, text).expect("temp file is writable");
    path
}
