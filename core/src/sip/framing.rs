//! Framing SIP messages on a byte stream (RFC 3261 §18.3; keep-alives per RFC 5626 §3.5.1).
//!
//! On UDP one datagram is one message ([`super::Message::parse`] handles that). On TCP/TLS
//! the receiver finds message boundaries from the Content-Length header, which is therefore
//! mandatory there. [`frame_stream`] looks at the bytes buffered so far and says how many
//! form the next message; it never copies and keeps no state. The runtimes' per-connection
//! [`StreamReassembler`](crate::driver::StreamReassembler) is built on the same functions,
//! so the framing rules live here once.

use super::error::{ParseError, ParseErrorKind, ParseLimits, ValueError};
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
/// than [`ParseLimits::max_message_bytes`], a header section with no Content-Length, a
/// Content-Length that is not a number, or two Content-Length values that disagree.
///
/// This looks at the whole buffer on every call; a connection that receives a message in
/// many reads should use [`StreamReassembler`](crate::driver::StreamReassembler), which
/// runs the same rules but remembers how far it has looked.
pub fn frame_stream(buf: &[u8], limits: &ParseLimits) -> Result<StreamFrame, ParseError> {
    let crlf = line_end_run(buf);
    if crlf > 0 {
        return Ok(StreamFrame::KeepAlive { len: crlf });
    }
    let Some(head) = find_header_end(buf, 0) else {
        check_unterminated_head(buf.len(), limits)?;
        return Ok(StreamFrame::NeedMore);
    };
    let len = message_len(&buf[..head], limits)?;
    if buf.len() < len {
        return Ok(StreamFrame::NeedMore);
    }
    Ok(StreamFrame::Complete { len })
}

/// How many CR and LF bytes open `buf`: line ends between messages, which carry no
/// message (RFC 3261 §7.5 lets a receiver skip them; RFC 5626 pings are made of them).
pub(crate) fn line_end_run(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count()
}

/// The index just past the empty line that ends the header section at the front of
/// `buf`, searching from `from` (an earlier search's end, so that a message arriving in
/// many reads is scanned once). A line is empty when nothing but an optional CR stands
/// before its LF, so bare-LF line ends (RFC 3261 §7 asks receivers to accept them) work.
pub(crate) fn find_header_end(buf: &[u8], from: usize) -> Option<usize> {
    // Resume two bytes back: the LF that opens an empty line may already have been seen.
    let from = from.saturating_sub(2);
    let mut at = from;
    while let Some(i) = buf[at..].iter().position(|&b| b == b'\n') {
        let nl = at + i;
        match buf.get(nl + 1..) {
            Some([b'\n', ..]) => return Some(nl + 2),
            Some([b'\r', b'\n', ..]) => return Some(nl + 3),
            _ => at = nl + 1,
        }
    }
    None
}

/// The error for a header section not yet ended after `buffered` bytes, if that is
/// already more than a message may hold.
pub(crate) fn check_unterminated_head(
    buffered: usize,
    limits: &ParseLimits,
) -> Result<(), ParseError> {
    if buffered > limits.max_message_bytes {
        return Err(too_large(limits));
    }
    Ok(())
}

/// The length of the message whose complete header section is `head` (up to and
/// including its empty line): the header section plus Content-Length body bytes.
/// Content-Length (or its compact form `l`) is mandatory on streams (RFC 3261 §18.3);
/// continuation lines are skipped; two values that disagree make the stream ambiguous,
/// so they are an error rather than a guess.
pub(crate) fn message_len(head: &[u8], limits: &ParseLimits) -> Result<usize, ParseError> {
    if head.len() > limits.max_message_bytes {
        return Err(too_large(limits));
    }
    let mut content_length: Option<usize> = None;
    let mut pos = 0;
    for (index, raw) in head.split_inclusive(|&b| b == b'\n').enumerate() {
        let line = index as u32 + 1;
        let text = raw.strip_suffix(b"\n").unwrap_or(raw);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let folded = matches!(text.first(), Some(b' ' | b'\t'));
        if index > 0 && !folded {
            if let Some(n) = content_length_of(text) {
                let n = n.map_err(|problem| {
                    ParseError::new(
                        ParseErrorKind::InvalidHeader {
                            header: HeaderName::ContentLength,
                            problem,
                        },
                        pos,
                        line,
                    )
                })?;
                if content_length.is_some_and(|seen| seen != n) {
                    return Err(ParseError::new(
                        ParseErrorKind::DuplicateHeader(HeaderName::ContentLength),
                        pos,
                        line,
                    ));
                }
                content_length = Some(n);
            }
        }
        pos += raw.len();
    }
    let lines = head.iter().filter(|&&b| b == b'\n').count() as u32;
    let body_len = content_length
        .ok_or_else(|| ParseError::new(ParseErrorKind::MissingContentLength, head.len(), lines))?;
    head.len()
        .checked_add(body_len)
        .filter(|&len| len <= limits.max_message_bytes)
        .ok_or_else(|| too_large(limits))
}

/// The Content-Length a header line carries, if it is one.
fn content_length_of(text: &[u8]) -> Option<Result<usize, ValueError>> {
    let colon = text.iter().position(|&b| b == b':')?;
    let name = std::str::from_utf8(&text[..colon]).ok()?;
    if HeaderName::parse(name.trim_end_matches([' ', '\t'])) != HeaderName::ContentLength {
        return None;
    }
    let value = std::str::from_utf8(&text[colon + 1..]).map_err(|_| ValueError::BadNumber);
    Some(value.and_then(parse_content_length))
}

fn too_large(limits: &ParseLimits) -> ParseError {
    ParseError::new(
        ParseErrorKind::MessageTooLarge {
            limit: limits.max_message_bytes,
        },
        limits.max_message_bytes,
        0,
    )
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
