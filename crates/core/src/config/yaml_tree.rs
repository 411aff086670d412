//! A small YAML document tree whose every node knows its line.
//!
//! `yaml-rust2`'s own tree drops positions, and a configuration error must
//! name the line, so the YAML front end builds this tree from the parser's
//! marked events instead. Scalars stay text exactly as written (`1`, `on`,
//! `1.5`): the property declarations decide what they mean.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, ScanError};

/// One node of a document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Scalar {
        text: String,
        line: usize,
    },
    Seq {
        items: Vec<Node>,
        line: usize,
    },
    Map {
        pairs: Vec<(Node, Node)>,
        line: usize,
    },
}

impl Node {
    /// The 1-based line the node starts on.
    pub(crate) fn line(&self) -> usize {
        match self {
            Node::Scalar { line, .. } | Node::Seq { line, .. } | Node::Map { line, .. } => *line,
        }
    }

    /// An empty scalar: what `key:` with nothing after it holds.
    pub(crate) fn is_empty_scalar(&self) -> bool {
        matches!(self, Node::Scalar { text, .. } if text.is_empty())
    }
}

/// Parses the first document of `text`; `None` when there is none.
///
/// # Errors
/// A syntax error, with the scanner's position; an alias to an unknown
/// anchor.
pub(crate) fn parse(text: &str) -> Result<Option<Node>, ScanError> {
    let mut builder = Builder::default();
    Parser::new_from_str(text).load(&mut builder, false)?;
    match builder.error {
        Some(err) => Err(err),
        None => Ok(builder.root),
    }
}

/// A sequence or map still being filled.
#[derive(Debug)]
enum Open {
    Seq {
        items: Vec<Node>,
        line: usize,
        anchor: usize,
    },
    Map {
        pairs: Vec<(Node, Node)>,
        key: Option<Node>,
        line: usize,
        anchor: usize,
    },
}

/// Turns the parser's events into a [`Node`] tree.
#[derive(Debug, Default)]
struct Builder {
    open: Vec<Open>,
    root: Option<Node>,
    /// Anchored nodes by id, so an alias can be replaced by a copy.
    anchors: HashMap<usize, Node>,
    error: Option<ScanError>,
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let line = mark.line();
        match event {
            Event::Scalar(text, _, anchor, _) => self.finish(Node::Scalar { text, line }, anchor),
            Event::SequenceStart(anchor, _) => self.open.push(Open::Seq {
                items: Vec::new(),
                line,
                anchor,
            }),
            Event::MappingStart(anchor, _) => self.open.push(Open::Map {
                pairs: Vec::new(),
                key: None,
                line,
                anchor,
            }),
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(node) => self.finish(node, 0),
                None => self.fail(mark, "alias to an unknown anchor"),
            },
            _ => {}
        }
    }
}

impl Builder {
    /// Ends the innermost open sequence or map.
    fn close(&mut self) {
        let (node, anchor) = match self.open.pop() {
            Some(Open::Seq {
                items,
                line,
                anchor,
            }) => (Node::Seq { items, line }, anchor),
            Some(Open::Map {
                pairs,
                line,
                anchor,
                ..
            }) => (Node::Map { pairs, line }, anchor),
            // The parser balances starts and ends; nothing to close.
            None => return,
        };
        self.finish(node, anchor);
    }

    /// Places a complete node in its parent (or as the root).
    fn finish(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.open.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq { items, .. }) => items.push(node),
            Some(Open::Map { pairs, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => pairs.push((k, node)),
            },
        }
    }

    fn fail(&mut self, mark: Marker, info: &str) {
        if self.error.is_none() {
            self.error = Some(ScanError::new(mark, info));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(text: &str, line: usize) -> Node {
        Node::Scalar {
            text: text.into(),
            line,
        }
    }

    #[test]
    fn nodes_carry_their_lines() {
        let text = "a: 1\nb:\n  - x\n  - y: 2\n";
        let root = parse(text).unwrap().unwrap();
        let Node::Map { pairs, line } = root else {
            panic!("root is not a map")
        };
        assert_eq!(line, 1);
        assert_eq!(pairs[0], (scalar("a", 1), scalar("1", 1)));
        assert_eq!(pairs[1].0, scalar("b", 2));
        let Node::Seq { items, .. } = &pairs[1].1 else {
            panic!("b is not a sequence")
        };
        assert_eq!(items[0], scalar("x", 3));
        assert_eq!(items[1].line(), 4);
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let root = parse("a: &v hello\nb: *v\n").unwrap().unwrap();
        let Node::Map { pairs, .. } = root else {
            panic!("root is not a map")
        };
        assert_eq!(pairs[1].1, scalar("hello", 1));
    }

    #[test]
    fn empty_text_has_no_document() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n").unwrap(), None);
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.marker().line() >= 2, "line {}", err.marker().line());
    }
}
