//! The classic Fluent Bit `.conf` front end.

use std::path::Path;

use super::{Config, ConfigError};

/// Reads a classic configuration file with its includes.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let _ = path;
    unimplemented!("classic::load")
}
