//! Configuration: one model, filled by the classic `.conf` reader, the
//! YAML reader and the command line.
//!
//! The front ends only produce [`Config`], a list of sections of
//! `key value` entries that remember the file and line they came from.
//! Plugins declare their properties ([`props`]); checking a section
//! against a declaration turns it into a [`PluginConfig`] with typed
//! values, or into an error that names the file, the line and the key.

pub mod classic;
mod error;
mod model;
pub mod props;
pub mod yaml;

pub use error::ConfigError;
pub use model::{Config, Entry, Origin, Section, SectionKind};
pub use props::{PluginConfig, PropKind, Property};

use std::path::Path;

/// Reads a configuration file, choosing the front end by its extension
/// (`.yaml`/`.yml` are YAML, anything else is classic).
///
/// # Errors
/// Any error of the front end: a missing file, bad syntax, an include loop.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let is_yaml = matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("yaml" | "yml")
    );
    if is_yaml {
        yaml::load(path)
    } else {
        classic::load(path)
    }
}
