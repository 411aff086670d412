//! The one error type of configuration: where, which key, what is wrong.

use std::fmt;

use super::model::Origin;

/// A configuration problem found before anything starts.
///
/// It prints as `file:line: key 'k': message`, leaving out what is not
/// known, so an operator can go straight to the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the offending text is.
    pub origin: Option<Origin>,
    /// The key concerned, as the user wrote it.
    pub key: Option<String>,
    /// What is wrong, lowercase, without a trailing period.
    pub message: String,
}

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError {
            origin: None,
            key: None,
            message: message.into(),
        }
    }

    pub fn at(origin: &Origin, message: impl Into<String>) -> Self {
        ConfigError {
            origin: Some(origin.clone()),
            key: None,
            message: message.into(),
        }
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(origin) = &self.origin {
            write!(f, "{origin}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "key '{key}': ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}
