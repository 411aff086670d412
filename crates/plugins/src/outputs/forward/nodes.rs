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
//!     tls   on
//!     shared_key  secret-of-node-1
//! ```
//!
//! Each `[NODE]` needs `host`; `port` defaults to 24224. A node may set
//! its own TLS (`tls`, `tls.verify`, `tls.verify_hostname`, `tls.debug`,
//! `tls.ca_file`, `tls.ca_path`, `tls.crt_file`, `tls.key_file`,
//! `tls.key_passwd`, `tls.vhost`), handshake (`shared_key`,
//! `empty_shared_key`, `self_hostname`, `username`, `password`), framing
//! (`compress`, `time_as_integer`, `send_options`,
//! `retain_metadata_in_forward_mode`) and ack (`require_ack_response`,
//! `ack_timeout`) keys: each overrides the output's setting for that node
//! only, and what a node leaves out it takes from the output. Any other key is refused,
//! naming file and line, rather than silently not applied.

use std::path::Path;

use sluice_core::config::{Entry, Origin};
use sluice_core::net::upstream::Target;

/// The keys a node may set for itself, besides `name`, `host` and `port`.
const NODE_KEYS: &[&str] = &[
    "tls",
    "tls.verify",
    "tls.verify_hostname",
    "tls.debug",
    "tls.ca_file",
    "tls.ca_path",
    "tls.crt_file",
    "tls.key_file",
    "tls.key_passwd",
    "tls.vhost",
    "shared_key",
    "empty_shared_key",
    "self_hostname",
    "username",
    "password",
    "compress",
    "time_as_integer",
    "send_options",
    "retain_metadata_in_forward_mode",
    "require_ack_response",
    "ack_timeout",
];

/// Why an upstream file cannot be used; the text names file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub(crate) struct NodesError {
    file: String,
    line: usize,
    message: String,
}

/// One `[NODE]`: where it is, and the settings it lays over the
/// output's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// The node's `name`, for log lines.
    pub name: Option<String>,
    pub target: Target,
    /// The node's own keys, each with its file and line.
    pub settings: Vec<Entry>,
}

/// A node while its section is read.
struct Partial {
    line: usize,
    name: Option<String>,
    host: Option<String>,
    port: Option<String>,
    settings: Vec<Entry>,
}

/// Reads the nodes of an upstream file.
///
/// # Errors
///
/// The file cannot be read, a line is not `key value` inside a section, a
/// section or key is unknown, a node has no host or a bad port, or there
/// is no node at all.
pub(crate) fn read(path: &Path) -> Result<Vec<Node>, NodesError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| NodesError {
        file: file.clone(),
        line: 0,
        message: format!("cannot read the upstream file; {e}"),
    })?;
    parse(&file, &text)
}

fn parse(file: &str, text: &str) -> Result<Vec<Node>, NodesError> {
    let error = |line: usize, message: String| NodesError {
        file: file.to_owned(),
        line,
        message,
    };
    let mut nodes: Vec<Partial> = Vec::new();
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
                    nodes.push(Partial::new(n));
                    true
                }
                other => return Err(error(n, format!("unknown section [{other}]"))),
            };
            continue;
        }
        let (key, value) = line
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k, v.trim().to_owned()))
            .ok_or_else(|| error(n, "expected 'key value'".into()))?;
        let lower = key.to_ascii_lowercase();
        match (in_node, lower.as_str(), nodes.last_mut()) {
            (false, "name", _) => {}
            (true, "name", Some(node)) => node.name = Some(value),
            (true, "host", Some(node)) => node.host = Some(value),
            (true, "port", Some(node)) => node.port = Some(value),
            (true, k, Some(node)) if NODE_KEYS.contains(&k) => node.settings.push(Entry {
                key: key.to_owned(),
                value,
                origin: Origin::new(file, n),
            }),
            (true, other, _) => {
                return Err(error(
                    n,
                    format!(
                        "unknown node key '{other}'; a node takes name, host, port and {}",
                        NODE_KEYS.join(", ")
                    ),
                ))
            }
            (false, other, _) => return Err(error(n, format!("unknown key '{other}'"))),
        }
    }
    if nodes.is_empty() {
        return Err(error(0, "no [NODE] section".into()));
    }
    nodes.into_iter().map(|p| p.finish(&error)).collect()
}

impl Partial {
    fn new(line: usize) -> Self {
        Partial {
            line,
            name: None,
            host: None,
            port: None,
            settings: Vec::new(),
        }
    }

    fn finish(self, error: &impl Fn(usize, String) -> NodesError) -> Result<Node, NodesError> {
        let host = self
            .host
            .ok_or_else(|| error(self.line, "node has no host".into()))?;
        let port = match self.port {
            None => 24224,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| error(self.line, format!("'{p}' is not a port")))?,
        };
        Ok(Node {
            name: self.name,
            target: Target::Net { host, port },
            settings: self.settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(nodes: &[Node]) -> Vec<String> {
        nodes.iter().map(|n| n.target.to_string()).collect()
    }

    #[test]
    fn nodes_are_read_in_order_with_their_own_settings() {
        let text = "# comment\n[UPSTREAM]\n    name  fb\n[NODE]\n    name a\n    host h1\n\
                    [NODE]\n    host h2\n    port 9000\n    TLS on\n    shared_key k2\n";
        let nodes = parse("u.conf", text).unwrap();
        assert_eq!(targets(&nodes), ["h1:24224", "h2:9000"]);
        assert_eq!(nodes[0].name.as_deref(), Some("a"));
        assert!(nodes[0].settings.is_empty());
        let keys: Vec<(&str, &str, String)> = nodes[1]
            .settings
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.origin.to_string()))
            .collect();
        assert_eq!(
            keys,
            [
                ("TLS", "on", "u.conf:10".to_owned()),
                ("shared_key", "k2", "u.conf:11".to_owned())
            ]
        );
    }

    #[test]
    fn mistakes_name_the_line() {
        let err = parse("u.conf", "[NODE]\n  host h\n  workers 4\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("u.conf:3: unknown node key 'workers'; a node takes name"),
            "{err}"
        );
        let err = parse("u.conf", "[NODE]\n  port 1\n").unwrap_err();
        assert_eq!(err.to_string(), "u.conf:1: node has no host");
        assert!(parse("u.conf", "[UPSTREAM]\n name x\n").is_err());
    }
}
