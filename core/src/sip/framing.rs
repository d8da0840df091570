//! Framing SIP messages on a byte stream (RFC 3261 §18.3; keep-alives per RFC 5626 §3.5.1).
//!
//! On UDP one datagram is one message ([`super::Message::parse`] handles that). On TCP/TLS
//! the receiver finds message boundaries from the Content-Length header, which is therefore
//! mandatory there. [`frame_stream`] looks at the bytes buffered so far and says how many
//! form the next message; it never copies and keeps no state, so a driver calls it again
//! after each read.

use super::error::{ParseError, ParseErrorKind, ParseLimits};
use super::header::HeaderName;
use super::views::parse_content_length;

/// What the front of a stream buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum StreamFrame {
    /// Not a whole message yet: read more and call again.
    NeedMore,
    /// The buffer starts with `len` bytes of CR/LF: keep-alive pings (RFC 5626 CRLFCRLF)
    /// or padding between messages. Consume them; a ping may be answered with one CRLF.
    KeepAlive {
        /// Bytes to consume.
        len: usize,
    },
    /// The first `len` bytes are one complete message: parse `&buf[..len]`, then consume.
    Complete {
        /// Bytes to consume.
        len: usize,
    },
}

/// Frames the next message at the front of a stream buffer.
///
/// Errors (the stream cannot be resynchronised; close the connection): a message larger
/// than [`ParseLimits::max_message_bytes`], a header section with no Content-Length, or a
/// Content-Length that is not a number.
pub fn frame_stream(buf: &[u8], limits: &ParseLimits) -> Result<StreamFrame, ParseError> {
    let crlf = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    if crlf > 0 {
        return Ok(StreamFrame::KeepAlive { len: crlf });
    }
    let too_large = || {
        ParseError::new(
            ParseErrorKind::MessageTooLarge {
                limit: limits.max_message_bytes,
            },
            limits.max_message_bytes,
            0,
        )
    };
    let mut pos = 0;
    let mut line: u32 = 1;
    let mut content_length: Option<usize> = None;
    let body_start = loop {
        let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
            if buf.len() > limits.max_message_bytes {
                return Err(too_large());
            }
            return Ok(StreamFrame::NeedMore);
        };
        let text = &buf[pos..pos + nl];
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() {
            break pos + nl + 1;
        }
        if line > 1 && content_length.is_none() && !matches!(text[0], b' ' | b'\t') {
            if let Some(colon) = text.iter().position(|&b| b == b':') {
                let name = std::str::from_utf8(&text[..colon]).unwrap_or("");
                if HeaderName::parse(name.trim_end_matches([' ', '\t']))
                    == HeaderName::ContentLength
                {
                    let value = std::str::from_utf8(&text[colon + 1..]).unwrap_or("");
                    let n = parse_content_length(value).map_err(|problem| {
                        ParseError::new(
                            ParseErrorKind::InvalidHeader {
                                header: HeaderName::ContentLength,
                                problem,
                            },
                            pos,
                            line,
                        )
                    })?;
                    content_length = Some(n);
                }
            }
        }
        pos += nl + 1;
        line += 1;
        if pos > limits.max_message_bytes {
            return Err(too_large());
        }
    };
    let body_len = content_length
        .ok_or_else(|| ParseError::new(ParseErrorKind::MissingContentLength, body_start, line))?;
    let len = body_start
        .checked_add(body_len)
        .filter(|&l| l <= limits.max_message_bytes)
        .ok_or_else(too_large)?;
    if buf.len() < len {
        return Ok(StreamFrame::NeedMore);
    }
    Ok(StreamFrame::Complete { len })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::Message;
    use proptest::prelude::*;

    const A: &[u8] = b"OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nl: 5\r\n\r\nhello";
    const B: &[u8] = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    /// Feeds `stream` in the given chunk sizes and returns each framed message's bytes
    /// and the number of keep-alive bytes seen.
    fn run(stream: &[u8], chunks: &[usize]) -> (Vec<Vec<u8>>, usize) {
        let limits = ParseLimits::default();
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut keepalive = 0;
        let mut fed = 0;
        let mut sizes = chunks.iter().cycle();
        loop {
            match frame_stream(&buf, &limits).unwrap() {
                StreamFrame::Complete { len } => {
                    out.push(buf[..len].to_vec());
                    buf.drain(..len);
                }
                StreamFrame::KeepAlive { len } => {
                    keepalive += len;
                    buf.drain(..len);
                }
                StreamFrame::NeedMore => {
                    if fed == stream.len() {
                        return (out, keepalive);
                    }
                    let n = (*sizes.next().unwrap()).clamp(1, stream.len() - fed);
                    buf.extend_from_slice(&stream[fed..fed + n]);
                    fed += n;
                }
            }
        }
    }

    #[test]
    fn two_messages_and_keepalives_in_one_buffer() {
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(A);
        stream.extend_from_slice(B);
        let (msgs, ka) = run(&stream, &[stream.len()]);
        assert_eq!(msgs, [A.to_vec(), B.to_vec()]);
        assert_eq!(ka, 4);
        assert_eq!(Message::parse(&msgs[0]).unwrap().body(), b"hello");
    }

    #[test]
    fn stream_without_content_length_is_an_error() {
        let m = b"OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\n\r\n";
        let e = frame_stream(m, &ParseLimits::default()).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::MissingContentLength);
    }

    #[test]
    fn oversized_stream_message_is_refused_before_buffering_it() {
        let limits = ParseLimits {
            max_message_bytes: 100,
            ..ParseLimits::default()
        };
        let e = frame_stream(A, &limits).unwrap_err();
        assert!(matches!(e.kind, ParseErrorKind::MessageTooLarge { .. }));
        let big = vec![b'a'; 200];
        assert!(frame_stream(&big, &limits).is_err());
    }

    proptest! {
        #[test]
        fn any_chunking_frames_the_same_messages(
            chunks in proptest::collection::vec(1usize..64, 1..16),
            pings in 0usize..3,
        ) {
            let mut stream = Vec::new();
            for _ in 0..pings { stream.extend_from_slice(b"\r\n\r\n"); }
            stream.extend_from_slice(A);
            stream.extend_from_slice(B);
            stream.extend_from_slice(A);
            let (msgs, ka) = run(&stream, &chunks);
            prop_assert_eq!(msgs, vec![A.to_vec(), B.to_vec(), A.to_vec()]);
            prop_assert_eq!(ka, pings * 4);
        }
    }
}
