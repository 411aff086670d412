//! The `upstream` file of the forward output: the nodes it balances
//! chunks over, in Fluent Bit's layout.
//!
//! ```text
//! [UPSTREAM]
//!     name  forward-balancing
//! [NODE]
//!     name  node-1
//!     host  10.0.0.1
//!     port  24224
//! ```
//!
//! Each `[NODE]` needs `host`; `port` defaults to 24224. Other node keys
//! are refused rather than ignored, since a node's own `tls` or
//! `shared_key` would otherwise silently not apply: every node takes the
//! output's `net.*`, `tls.*` and handshake settings.

use std::path::Path;

use sluice_core::net::upstream::Target;

/// Why an upstream file cannot be used; the text names file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub(crate) struct NodesError {
    file: String,
    line: usize,
    message: String,
}

/// Reads the nodes of an upstream file.
///
/// # Errors
///
/// The file cannot be read, a line is not `key value` inside a section, a
/// section or key is unknown, a node has no host or a bad port, or there
/// is no node at all.
pub(crate) fn read(path: &Path) -> Result<Vec<Target>, NodesError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| NodesError {
        file: file.clone(),
        line: 0,
        message: format!("cannot read the upstream file; {e}"),
    })?;
    parse(&file, &text)
}

fn parse(file: &str, text: &str) -> Result<Vec<Target>, NodesError> {
    let error = |line: usize, message: String| NodesError {
        file: file.to_owned(),
        line,
        message,
    };
    let mut nodes: Vec<(usize, Option<String>, Option<String>)> = Vec::new();
    let mut in_node = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_node = match name.trim().to_ascii_uppercase().as_str() {
                "UPSTREAM" => false,
                "NODE" => {
                    nodes.push((n, None, None));
                    true
                }
                other => return Err(error(n, format!("unknown section [{other}]"))),
            };
            continue;
        }
        let (key, value) = line
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
            .ok_or_else(|| error(n, "expected 'key value'".into()))?;
        match (in_node, key.as_str(), nodes.last_mut()) {
            (_, "name", _) => {}
            (true, "host", Some(node)) => node.1 = Some(value),
            (true, "port", Some(node)) => node.2 = Some(value),
            (true, other, _) => {
                return Err(error(
                    n,
                    format!("node key '{other}' is not supported; set it on the output"),
                ))
            }
            (false, other, _) => return Err(error(n, format!("unknown key '{other}'"))),
        }
    }
    if nodes.is_empty() {
        return Err(error(0, "no [NODE] section".into()));
    }
    nodes
        .into_iter()
        .map(|(line, host, port)| {
            let host = host.ok_or_else(|| error(line, "node has no host".into()))?;
            let port = match port {
                None => 24224,
                Some(p) => p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| error(line, format!("'{p}' is not a port")))?,
            };
            Ok(Target::Net { host, port })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_read_in_order() {
        let text = "# comment\n[UPSTREAM]\n    name  fb\n[NODE]\n    name a\n    host h1\n\
                    [NODE]\n    host h2\n    port 9000\n";
        assert_eq!(
            parse("u.conf", text).unwrap(),
            vec![
                Target::Net {
                    host: "h1".into(),
                    port: 24224
                },
                Target::Net {
                    host: "h2".into(),
                    port: 9000
                },
            ]
        );
    }

    #[test]
    fn mistakes_name_the_line() {
        let err = parse("u.conf", "[NODE]\n  host h\n  tls on\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "u.conf:3: node key 'tls' is not supported; set it on the output"
        );
        let err = parse("u.conf", "[NODE]\n  port 1\n").unwrap_err();
        assert_eq!(err.to_string(), "u.conf:1: node has no host");
        assert!(parse("u.conf", "[UPSTREAM]\n name x\n").is_err());
    }
}
