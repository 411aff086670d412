//! Cutting a syslog TCP stream into messages (RFC 6587), as a pure
//! function of the bytes received so far.
//!
//! Two framings share one stream and are told apart per frame: a frame
//! that starts with a digit is octet-counted (`LEN SP MSG`, where `MSG`
//! is exactly `LEN` bytes and may hold newlines); any other frame ends at
//! the next `\n` (non-transparent framing). Line ends (`\n`, `\r`, NUL)
//! between frames are skipped, and trailing line ends are trimmed from
//! each message. A message longer than the limit, or a count that is not
//! a number, breaks the stream: nothing after it can be framed reliably,
//! so the caller closes the connection after keeping what came before.
//!
//! [`split_frames`] takes bytes and returns messages and the bytes they
//! used, so fuzz targets and property tests can drive it directly.

/// Why a stream can be framed no further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A message (by its octet count, or by bytes seen before its
    /// newline) is longer than the limit.
    #[error("message of {len} bytes or more is over the limit of {max} bytes")]
    TooLong { len: usize, max: usize },
    /// An octet count with too many digits to be a length.
    #[error("octet count '{0}' is not a message length")]
    BadCount(String),
}

/// One step of framing: what starts at the front of the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut<'a> {
    /// A whole message, and how many bytes it used with its framing.
    Message(&'a [u8], usize),
    /// The next frame is not complete yet; read more.
    Partial,
    /// The stream cannot be framed any further.
    Broken(FrameError),
}

/// Octet counts longer than this are not lengths (9 digits: just under
/// 1 GB, above any buffer limit).
const MAX_COUNT_DIGITS: usize = 9;

/// Cuts the first message off `buf`, skipping line ends before it. At the
/// end of the stream (`eof`) an unterminated last frame is taken as it
/// is, even an octet-counted one cut short, so no received byte is lost.
pub fn cut(buf: &[u8], max: usize, eof: bool) -> Cut<'_> {
    let skipped = buf
        .iter()
        .position(|b| !matches!(b, b'\n' | b'\r' | 0))
        .unwrap_or(buf.len());
    let rest = &buf[skipped..];
    let cut = match rest.first() {
        None => return Cut::Partial,
        Some(b'0'..=b'9') => octet_counted(rest, max, eof),
        Some(_) => line(rest, max, eof),
    };
    match cut {
        Cut::Message(message, used) => Cut::Message(trim_end(message), skipped + used),
        other => other,
    }
}

/// Every message at the front of `buf`, the bytes they used (the rest is
/// a partial frame to keep for the next read), and the error that
/// stopped framing, if one did.
pub fn split_frames(buf: &[u8], max: usize, eof: bool) -> (Vec<&[u8]>, usize, Option<FrameError>) {
    let mut messages = Vec::new();
    let mut used = 0;
    loop {
        match cut(&buf[used..], max, eof) {
            Cut::Message(message, n) => {
                messages.push(message);
                used += n;
            }
            Cut::Partial => return (messages, used, None),
            Cut::Broken(err) => return (messages, used, Some(err)),
        }
    }
}

fn octet_counted(buf: &[u8], max: usize, eof: bool) -> Cut<'_> {
    let digits = buf.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > MAX_COUNT_DIGITS {
        return Cut::Broken(FrameError::BadCount(
            String::from_utf8_lossy(&buf[..digits]).into_owned(),
        ));
    }
    match buf.get(digits) {
        // A frame such as `123abc`: a line that happens to start with a
        // digit, not a count.
        Some(b) if *b != b' ' => return line(buf, max, eof),
        None if eof => return line(buf, max, eof),
        None => return Cut::Partial,
        Some(_) => {}
    }
    let len: usize = std::str::from_utf8(&buf[..digits])
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(usize::MAX);
    if len > max {
        return Cut::Broken(FrameError::TooLong { len, max });
    }
    let start = digits + 1;
    match buf.get(start..start + len) {
        Some(message) => Cut::Message(message, start + len),
        None if eof => Cut::Message(&buf[start..], buf.len()),
        None => Cut::Partial,
    }
}

fn line(buf: &[u8], max: usize, eof: bool) -> Cut<'_> {
    match memchr::memchr(b'\n', buf) {
        Some(nl) if nl > max => Cut::Broken(FrameError::TooLong { len: nl, max }),
        Some(nl) => Cut::Message(&buf[..nl], nl + 1),
        None if buf.len() > max => Cut::Broken(FrameError::TooLong {
            len: buf.len(),
            max,
        }),
        None if eof => Cut::Message(buf, buf.len()),
        None => Cut::Partial,
    }
}

fn trim_end(message: &[u8]) -> &[u8] {
    let end = message
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r' | 0))
        .map_or(0, |i| i + 1);
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(buf: &[u8], eof: bool) -> (Vec<&[u8]>, usize, Option<FrameError>) {
        split_frames(buf, 64, eof)
    }

    #[test]
    fn newline_frames_and_trimmed_ends() {
        let (msgs, used, err) = all(b"<13>one\r\n\n<13>two\0\n<13>thr", false);
        assert_eq!(msgs, [&b"<13>one"[..], b"<13>two"]);
        assert_eq!(used, 19, "the unterminated frame waits");
        assert_eq!(err, None);
    }

    #[test]
    fn octet_counted_frames_keep_embedded_newlines() {
        let (msgs, used, err) = all(b"10 <13>a\nb\nc\n7 <13>xyz5 <13>", false);
        assert_eq!(msgs, [&b"<13>a\nb\nc"[..], b"<13>xyz"]);
        assert_eq!(used, 22);
        assert_eq!(err, None);
    }

    #[test]
    fn framings_mix_within_one_stream() {
        let (msgs, _, err) = all(b"<13>line\n5 <13>x<13>next\n", true);
        assert_eq!(msgs, [&b"<13>line"[..], b"<13>x", b"<13>next"]);
        assert_eq!(err, None);
    }

    #[test]
    fn a_leading_digit_without_a_space_is_a_line() {
        let (msgs, _, _) = all(b"42abc\n", false);
        assert_eq!(msgs, [&b"42abc"[..]]);
    }

    #[test]
    fn a_partial_count_waits_and_is_kept_at_eof() {
        assert_eq!(cut(b"12", 64, false), Cut::Partial);
        assert_eq!(cut(b"12 <13>ab", 64, false), Cut::Partial);
        assert_eq!(cut(b"12 <13>ab", 64, true), Cut::Message(b"<13>ab", 9));
        assert_eq!(cut(b"\r\n\0", 64, true), Cut::Partial);
    }

    #[test]
    fn oversized_frames_break_the_stream_after_the_good_ones() {
        let (msgs, used, err) = all(b"<13>ok\n65 <13>", false);
        assert_eq!((msgs.len(), used), (1, 7));
        assert_eq!(err, Some(FrameError::TooLong { len: 65, max: 64 }));

        let long = [b'a'; 70];
        let (msgs, _, err) = all(&long, false);
        assert!(msgs.is_empty());
        assert_eq!(err, Some(FrameError::TooLong { len: 70, max: 64 }));

        let (_, _, err) = all(b"1234567890 x", false);
        assert_eq!(err, Some(FrameError::BadCount("1234567890".into())));
    }

    #[test]
    fn a_message_of_exactly_the_limit_fits() {
        let mut buf = b"64 ".to_vec();
        buf.extend([b'm'; 64]);
        let (msgs, used, err) = all(&buf, false);
        assert_eq!((msgs.len(), used, err), (1, 67, None));
        let mut line = vec![b'm'; 64];
        line.push(b'\n');
        assert_eq!(all(&line, false).0.len(), 1);
    }

    /// Frames `messages` with either framing, as a sender would.
    fn encode(messages: &[(Vec<u8>, bool)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (m, counted) in messages {
            if *counted {
                out.extend(format!("{} ", m.len()).bytes());
                out.extend(m);
            } else {
                out.extend(m);
                out.push(b'\n');
            }
        }
        out
    }

    /// A message as senders make them: it starts with `<`, and only an
    /// octet-counted one may hold a newline.
    fn message() -> impl Strategy<Value = (Vec<u8>, bool)> {
        (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(
            |(counted, body)| {
                let mut m = b"<13>".to_vec();
                m.extend(body.into_iter().filter(|b| counted || *b != b'\n'));
                while matches!(m.last(), Some(b'\n' | b'\r' | 0)) {
                    m.pop();
                }
                (m, counted)
            },
        )
    }

    proptest! {
        #[test]
        fn framed_messages_come_back_whatever_the_read_sizes(
            messages in proptest::collection::vec(message(), 0..12),
            split in 0usize..400,
        ) {
            let stream = encode(&messages);
            let split = split.min(stream.len());
            // Two reads: frame what the first holds, then the rest.
            let (mut got, used, err) = split_frames(&stream[..split], 64, false);
            prop_assert_eq!(err, None);
            let (rest, _, err) = split_frames(&stream[used..], 64, true);
            prop_assert_eq!(err, None);
            got.extend(rest);
            let want: Vec<&[u8]> = messages.iter().map(|(m, _)| &m[..]).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn framing_never_panics_and_uses_what_it_returns(
            buf in proptest::collection::vec(any::<u8>(), 0..300),
            eof in any::<bool>(),
        ) {
            let (msgs, used, _) = split_frames(&buf, 64, eof);
            prop_assert!(used <= buf.len());
            prop_assert!(msgs.iter().all(|m| m.len() <= 64));
        }
    }
}
