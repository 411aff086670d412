//! Finding where one JSON object ends in a stream of them, for inputs
//! that receive concatenated objects with or without separators (`tcp`,
//! `udp`).
//!
//! The scan only tracks strings and nesting, so it costs one pass over
//! the bytes and no allocation; the object it finds is then transcoded by
//! [`super::to_msgpack_object`], which does the real validation. Nesting
//! is counted, not recursed, so hostile depth costs nothing here.

/// What the front of a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Only white space (or nothing): all of it may be dropped.
    Empty(usize),
    /// A whole object at `start..end`; the caller consumes up to `end`.
    Object { start: usize, end: usize },
    /// An object begins at `start` but does not end in the buffer yet.
    Partial { start: usize },
    /// Bytes up to `end` cannot start an object (the next `{`, or the end
    /// of the buffer): they are skipped as one rejected run.
    Junk { end: usize },
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Looks at the front of `data`.
pub fn split_object(data: &[u8]) -> Split {
    let Some(start) = data.iter().position(|&b| !is_space(b)) else {
        return Split::Empty(data.len());
    };
    if data[start] != b'{' {
        let end = memchr::memchr(b'{', &data[start..]).map_or(data.len(), |i| start + i);
        return Split::Junk { end };
    }
    match object_end(&data[start..]) {
        Some(len) => Split::Object {
            start,
            end: start + len,
        },
        None => Split::Partial { start },
    }
}

/// The length of the object or array at the front of `data`, when it
/// ends inside `data`.
fn object_end(data: &[u8]) -> Option<usize> {
    let mut depth: usize = 0;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in data.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_with_and_without_separators() {
        let data = br#"{"a":1}{"b":"}"} {"c":[1,{"d":2}]}"#;
        assert_eq!(split_object(data), Split::Object { start: 0, end: 7 });
        let rest = &data[7..];
        assert_eq!(split_object(rest), Split::Object { start: 0, end: 9 });
        let rest = &rest[9..];
        assert_eq!(
            split_object(rest),
            Split::Object {
                start: 1,
                end: rest.len()
            }
        );
    }

    #[test]
    fn escaped_quotes_and_braces_inside_strings() {
        let data = br#"{"k":"a\"}b\\"} tail"#;
        assert_eq!(split_object(data), Split::Object { start: 0, end: 15 });
    }

    #[test]
    fn partial_empty_and_junk() {
        assert_eq!(split_object(b"  \n"), Split::Empty(3));
        assert_eq!(split_object(b"\n{\"a\":"), Split::Partial { start: 1 });
        assert_eq!(split_object(b"oops {\"a\":1}"), Split::Junk { end: 5 });
        assert_eq!(split_object(b"oops"), Split::Junk { end: 4 });
    }
}
