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
mod include;
mod model;
mod parsers_file;
pub mod props;
mod vars;
pub mod yaml;
mod yaml_tree;

pub use error::ConfigError;
pub use model::{Config, Entry, Origin, Section, SectionKind};
pub use parsers_file::load_parsers_file;
pub use props::{PluginConfig, PropKind, Property};

use std::path::Path;

/// Reads a configuration file, choosing the front end by its extension
/// (`.yaml`/`.yml` are YAML, anything else is classic), then the parsers
/// files its SERVICE section names.
///
/// # Errors
/// Any error of the front end: a missing file, bad syntax, an include
/// loop; or a parsers file that cannot be read.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let mut config = match include::Format::of(path) {
        include::Format::Yaml => yaml::load(path)?,
        include::Format::Classic => classic::load(path)?,
    };
    let base_dir = path.parent().unwrap_or(Path::new(""));
    parsers_file::load_service_parsers(base_dir, &mut config)?;
    Ok(config)
}
