//! RFC 6587 framing of syslog over TCP, detected per frame:
//!
//! - **octet counting**: `MSG-LEN SP SYSLOG-MSG`, where `MSG-LEN` is decimal digits without a
//!   leading zero; chosen when a frame starts with a digit and the digits end in a space;
//! - **non-transparent**: the message ends at LF (a CR before it is dropped); chosen
//!   otherwise. Empty lines are skipped.

/// Why a stream cannot be framed further (the connection should be closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// A frame is longer than allowed.
    #[error("frame longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// An octet count that is not a valid number.
    #[error("invalid octet count {0:?}")]
    BadCount(String),
}

/// The next complete frame of `buf`: `Ok(Some((message, consumed)))`, or `Ok(None)` when more
/// bytes are needed. `consumed` bytes of `buf` are used up, including skipped empty lines.
pub fn next_frame(buf: &[u8], max_frame: usize) -> Result<Option<(&[u8], usize)>, FramingError> {
    let mut start = 0;
    // Skip empty lines between frames.
    while start < buf.len() && (buf[start] == b'\n' || buf[start] == b'\r') {
        start += 1;
    }
    let rest = &buf[start..];
    if rest.is_empty() {
        return Ok(None);
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > 0 && rest.get(digits) == Some(&b' ') {
        let text = std::str::from_utf8(&rest[..digits]).expect("ascii digits");
        if digits > 10 || rest[0] == b'0' {
            return Err(FramingError::BadCount(text.to_string()));
        }
        let len: usize = text.parse().map_err(|_| FramingError::BadCount(text.to_string()))?;
        if len > max_frame {
            return Err(FramingError::TooLong { max: max_frame });
        }
        let body_start = digits + 1;
        if rest.len() < body_start + len {
            return Ok(None);
        }
        return Ok(Some((&rest[body_start..body_start + len], start + body_start + len)));
    }
    if digits == rest.len() && digits <= 10 {
        return Ok(None); // could still become an octet count
    }
    match rest.iter().position(|&b| b == b'\n') {
        Some(lf) if lf > max_frame => Err(FramingError::TooLong { max: max_frame }),
        Some(lf) => {
            let line = &rest[..lf];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            Ok(Some((line, start + lf + 1)))
        }
        None if rest.len() > max_frame => Err(FramingError::TooLong { max: max_frame }),
        None => Ok(None),
    }
}

/// Everything that could be framed from a buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Framed<'a> {
    /// Complete frames, in order.
    pub frames: Vec<&'a [u8]>,
    /// Bytes used by them.
    pub consumed: usize,
    /// Set when the bytes after `consumed` cannot be framed at all.
    pub error: Option<FramingError>,
}

/// Splits everything complete in `buf` into frames, stopping at the first framing error (the
/// frames before it are still returned).
pub fn frames(buf: &[u8], max_frame: usize) -> Framed<'_> {
    let mut out = Framed {
        frames: Vec::new(),
        consumed: 0,
        error: None,
    };
    loop {
        match next_frame(&buf[out.consumed..], max_frame) {
            Ok(Some((frame, used))) => {
                out.frames.push(frame);
                out.consumed += used;
            }
            Ok(None) => return out,
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn both_framings_mix_in_one_stream() {
        let buf = b"11 <13>1 - - x\n<13>line two\r\n\n6 <1>ab";
        let Framed {
            frames: f,
            consumed: used,
            error,
        } = frames(buf, 1024);
        assert_eq!(error, None);
        assert_eq!(f, vec![&b"<13>1 - - x"[..], &b"<13>line two"[..]]);
        assert_eq!(&buf[used..], b"\n6 <1>ab");
        assert_eq!(next_frame(b"6 <1>ab", 1024).unwrap(), None);
        assert_eq!(next_frame(b"5 <1>abc", 1024).unwrap(), Some((&b"<1>ab"[..], 7)));
    }

    #[test]
    fn partial_input_waits_and_limits_hold() {
        assert_eq!(next_frame(b"123", 1024).unwrap(), None);
        assert_eq!(next_frame(b"<13>no newline yet", 1024).unwrap(), None);
        assert_eq!(next_frame(b"2000 <13>", 1024), Err(FramingError::TooLong { max: 1024 }));
        assert_eq!(
            next_frame(&[b'a'; 2000], 1024),
            Err(FramingError::TooLong { max: 1024 })
        );
        assert_eq!(
            next_frame(b"007 <1>abcd", 1024),
            Err(FramingError::BadCount("007".into()))
        );
        assert_eq!(next_frame(b"12abc\n", 1024).unwrap(), Some((&b"12abc"[..], 6)));
        // Frames before an unframable rest are kept.
        let f = frames(b"<1>a\n99999999999 x", 1024);
        assert_eq!((f.frames, f.consumed), (vec![&b"<1>a"[..]], 5));
        assert_eq!(f.error, Some(FramingError::BadCount("99999999999".into())));
    }

    proptest! {
        #[test]
        fn octet_counted_frames_round_trip(msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..200), 1..20)) {
            let mut buf = Vec::new();
            for m in &msgs {
                buf.extend_from_slice(format!("{} ", m.len()).as_bytes());
                buf.extend_from_slice(m);
            }
            let f = frames(&buf, 1 << 16);
            prop_assert_eq!(f.error, None);
            prop_assert_eq!(f.consumed, buf.len());
            prop_assert_eq!(f.frames, msgs.iter().map(|m| m.as_slice()).collect::<Vec<_>>());
        }

        #[test]
        fn lf_frames_round_trip(msgs in proptest::collection::vec("<[0-9]{1,3}>[a-zA-Z ]{0,80}", 1..20)) {
            let text = msgs.iter().map(|m| format!("{m}\n")).collect::<String>();
            let f = frames(text.as_bytes(), 1 << 16);
            prop_assert_eq!(f.consumed, text.len());
            prop_assert_eq!(f.frames, msgs.iter().map(|m| m.as_bytes()).collect::<Vec<_>>());
        }

        #[test]
        fn never_panics(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = frames(&buf, 64);
        }
    }
}
