//! Tags a client chooses: from the request path (`POST /app.log` gives
//! `app.log`) or from a record's `tag_key`, and the check every such tag
//! passes before it reaches the router.
//!
//! A tag ends up in places that trust it: the `file` output names files
//! after it, and outputs write it into headers and protocols. So a tag a
//! client wrote is refused unless it is non-empty UTF-8 of at most
//! [`MAX_TAG_LEN`] bytes with no `/`, `\`, `..`, white space, NUL or other
//! control character. The path is percent-decoded first, so `%2F` is a
//! `/` and refused like one.

/// The longest tag a client may set.
pub const MAX_TAG_LEN: usize = 256;

/// Why a client's tag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// The tag is empty (`tag_key` holding an empty string).
    #[error("empty tag")]
    Empty,
    /// Longer than [`MAX_TAG_LEN`].
    #[error("tag longer than {MAX_TAG_LEN} bytes")]
    TooLong,
    /// A `%` not followed by two hex digits.
    #[error("bad percent escape in the path")]
    BadEscape,
    /// Not UTF-8 once decoded.
    #[error("tag is not utf-8")]
    NotUtf8,
    /// Holds a byte or sequence a tag may not hold.
    #[error("tag holds {0}, which a tag may not")]
    Forbidden(&'static str),
}

/// The tag a request path names: `None` for `/` (the input's own tag),
/// otherwise the decoded, checked path without its leading `/`.
///
/// # Errors
///
/// A bad percent escape, or a tag [`check`] refuses.
pub fn from_path(path: &str) -> Result<Option<String>, TagError> {
    let raw = path.strip_prefix('/').unwrap_or(path);
    if raw.is_empty() {
        return Ok(None);
    }
    let decoded = percent_decode(raw.as_bytes(), false).ok_or(TagError::BadEscape)?;
    let tag = String::from_utf8(decoded).map_err(|_| TagError::NotUtf8)?;
    check(&tag)?;
    Ok(Some(tag))
}

/// Checks a tag a client wrote.
///
/// # Errors
///
/// The tag is empty, too long, or holds `/`, `\`, `..`, white space or a
/// control character.
pub fn check(tag: &str) -> Result<(), TagError> {
    if tag.is_empty() {
        return Err(TagError::Empty);
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(TagError::TooLong);
    }
    if tag.contains("..") {
        return Err(TagError::Forbidden("'..'"));
    }
    match tag.chars().find(|&c| forbidden(c)) {
        Some('/') => Err(TagError::Forbidden("'/'")),
        Some('\\') => Err(TagError::Forbidden("'\\'")),
        Some(c) if c.is_whitespace() => Err(TagError::Forbidden("white space")),
        Some(_) => Err(TagError::Forbidden("a control character")),
        None => Ok(()),
    }
}

fn forbidden(c: char) -> bool {
    matches!(c, '/' | '\\') || c.is_whitespace() || c.is_control()
}

/// Decodes `%XX` escapes (and, for form bodies, `+` as a space); `None`
/// when a `%` is not followed by two hex digits.
pub fn percent_decode(text: &[u8], plus_is_space: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut at = 0;
    while at < text.len() {
        match text[at] {
            b'%' => {
                let hi = hex(*text.get(at + 1)?)?;
                let lo = hex(*text.get(at + 2)?)?;
                out.push(hi << 4 | lo);
                at += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                at += 1;
            }
            b => {
                out.push(b);
                at += 1;
            }
        }
    }
    Some(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_path_means_the_input_tag() {
        assert_eq!(from_path("/"), Ok(None));
        assert_eq!(from_path(""), Ok(None));
    }

    #[test]
    fn path_becomes_the_tag() {
        assert_eq!(from_path("/app.log"), Ok(Some("app.log".into())));
        assert_eq!(from_path("/a%2Db"), Ok(Some("a-b".into())));
        assert_eq!(from_path("/caf%C3%A9"), Ok(Some("café".into())));
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for path in [
            "/a/b", "/..", "/a..b", "/%2e%2e", "/a%2Fb", "/a%5Cb", "/a%00b", "/a%0Ab", "/a%20b",
            "/%ff", "/a%2", "/a%zz",
        ] {
            assert!(from_path(path).is_err(), "{path} was accepted");
        }
        assert_eq!(
            from_path(&format!("/{}", "a".repeat(300))),
            Err(TagError::TooLong)
        );
    }

    #[test]
    fn form_decoding_reads_plus_as_space() {
        assert_eq!(percent_decode(b"a+b%21", true).unwrap(), b"a b!");
        assert_eq!(percent_decode(b"a+b", false).unwrap(), b"a+b");
    }
}
