//! Parsers every configuration has without loading a parsers file: the
//! `syslog` input's defaults. They are read from the shipped
//! `conf/parsers.conf`, so each has one definition; a configuration that
//! defines the same name (for example with `-R conf/parsers.conf`) uses
//! its own.

use std::path::Path;

use sluice_core::config::{classic, Section};

const SHIPPED: &str = include_str!("../../../../conf/parsers.conf");

/// The names taken from the shipped file.
pub const BUILTIN: &[&str] = &["syslog-rfc5424", "syslog-rfc3164", "syslog-rfc3164-local"];

/// The built-in `[PARSER]` sections, for the registry.
pub fn sections() -> Vec<Section> {
    let config = classic::parse_str(SHIPPED, "conf/parsers.conf (built in)", Path::new("."))
        // The file is part of the source tree; tests/parsers_conf.rs and
        // the test below load it.
        .expect("the shipped conf/parsers.conf parses");
    config
        .parsers
        .into_iter()
        .filter(|s| s.name().is_some_and(|n| BUILTIN.contains(&n.trim())))
        .collect()
}

#[cfg(test)]
mod tests {
    use sluice_core::parser::Parsers;

    #[test]
    fn the_syslog_parsers_exist_without_a_parsers_file() {
        assert_eq!(super::sections().len(), super::BUILTIN.len());
        let parsers = Parsers::build(&[], &crate::registry()).unwrap();
        for name in super::BUILTIN {
            assert!(parsers.get(name).is_some(), "{name}");
        }
    }
}
