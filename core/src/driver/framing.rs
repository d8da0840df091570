//! Cutting a stream transport's bytes into SIP messages (RFC 3261 §18.3).
//!
//! Over TCP a message ends where its Content-Length says: the header section ends at the
//! first empty line, and exactly Content-Length body bytes follow. Content-Length is
//! mandatory over streams, so a message without it is a framing error and the runtime
//! closes the connection. A double CRLF between messages is an RFC 5626 §3.5.1 keep-alive
//! ping (the runtime answers with a single CRLF pong); single CRLFs are skipped.
//!
//! INTERIM: this is a small Content-Length scanner. The core parser's framing function
//! replaces it when it lands; the [`StreamReassembler`] interface stays.

use std::fmt;

/// Why a stream can no longer be framed. The connection is beyond repair: close it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FramingError {
    /// The header section grew past the message limit without an empty line.
    HeadersTooLong {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The message has no Content-Length header, which streams require.
    MissingContentLength,
    /// The Content-Length value is not a number, or two values disagree.
    BadContentLength,
    /// Headers plus body exceed the message limit.
    MessageTooLarge {
        /// Headers plus the declared body, in bytes.
        size: usize,
        /// The limit, in bytes.
        limit: usize,
    },
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingError::HeadersTooLong { limit } => {
                write!(f, "no end of headers within {limit} bytes")
            }
            FramingError::MissingContentLength => {
                f.write_str("stream message without Content-Length")
            }
            FramingError::BadContentLength => f.write_str("malformed Content-Length"),
            FramingError::MessageTooLarge { size, limit } => {
                write!(f, "message of {size} bytes exceeds the {limit}-byte limit")
            }
        }
    }
}

impl std::error::Error for FramingError {}

/// One unit cut from a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// A complete SIP message: headers, empty line, body.
    Message(Vec<u8>),
    /// A CRLFCRLF keep-alive ping; answer with a CRLF.
    Ping,
}

/// The receive side of one stream connection: bytes in, whole messages out.
#[derive(Clone, Debug)]
pub struct StreamReassembler {
    buf: Vec<u8>,
    /// How far the search for the end of the headers has already looked.
    scanned: usize,
    max_message_bytes: usize,
}

impl StreamReassembler {
    /// A reassembler refusing messages larger than `max_message_bytes`.
    pub fn new(max_message_bytes: usize) -> StreamReassembler {
        StreamReassembler {
            buf: Vec::new(),
            scanned: 0,
            max_message_bytes,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet cut into a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed, or the error that
    /// makes the stream unusable.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        // Keep-alives and stray line ends between messages.
        loop {
            if self.buf.starts_with(b"\r\n\r\n") {
                self.consume(4);
                return Ok(Some(Frame::Ping));
            }
            if !self.buf.is_empty() && b"\r\n\r\n".starts_with(&self.buf) {
                // "\r", "\r\n" or "\r\n\r": could still become a ping.
                return Ok(None);
            }
            if self.buf.starts_with(b"\r\n") {
                self.consume(2);
                continue;
            }
            break;
        }
        let Some(header_end) = self.find_header_end() else {
            if self.buf.len() > self.max_message_bytes {
                return Err(FramingError::HeadersTooLong {
                    limit: self.max_message_bytes,
                });
            }
            return Ok(None);
        };
        let body_len = content_length(&self.buf[..header_end])?;
        let size = header_end.saturating_add(body_len);
        if size > self.max_message_bytes {
            return Err(FramingError::MessageTooLarge {
                size,
                limit: self.max_message_bytes,
            });
        }
        if self.buf.len() < size {
            return Ok(None);
        }
        let message = self.buf[..size].to_vec();
        self.consume(size);
        Ok(Some(Frame::Message(message)))
    }

    /// The index just past the empty line that ends the headers.
    fn find_header_end(&mut self) -> Option<usize> {
        let from = self.scanned.saturating_sub(3);
        let found = self.buf[from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| from + i + 4);
        if found.is_none() {
            self.scanned = self.buf.len();
        }
        found
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        self.scanned = 0;
    }
}

/// The Content-Length of a header section (`Content-Length` or its compact form `l`).
fn content_length(headers: &[u8]) -> Result<usize, FramingError> {
    let mut found: Option<usize> = None;
    // The first line is the request or status line; header lines follow.
    for line in headers.split(|&b| b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = line[colon + 1..].trim_ascii();
        let text = std::str::from_utf8(value).map_err(|_| FramingError::BadContentLength)?;
        let n = text
            .parse::<usize>()
            .map_err(|_| FramingError::BadContentLength)?;
        if found.is_some_and(|f| f != n) {
            return Err(FramingError::BadContentLength);
        }
        found = Some(n);
    }
    found.ok_or(FramingError::MissingContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] =
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\nContent-Length: 0\r\n\r\n";

    fn invite_with_body(body: &str) -> Vec<u8> {
        format!(
            "INVITE sip:a@b SIP/2.0\r\nl : {}\r\nContent-Type: application/sdp\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn cuts_two_messages_delivered_in_one_read() {
        let mut r = StreamReassembler::new(4096);
        let invite = invite_with_body("v=0\r\n");
        r.push(OPTIONS);
        r.push(&invite);
        assert_eq!(r.next_frame(), Ok(Some(Frame::Message(OPTIONS.to_vec()))));
        assert_eq!(r.next_frame(), Ok(Some(Frame::Message(invite))));
        assert_eq!(r.next_frame(), Ok(None));
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn waits_for_a_body_split_across_reads_byte_by_byte() {
        let mut r = StreamReassembler::new(4096);
        let invite = invite_with_body("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n");
        for (i, b) in invite.iter().enumerate() {
            r.push(&[*b]);
            let frame = r.next_frame().unwrap();
            if i + 1 < invite.len() {
                assert_eq!(frame, None, "complete too early at byte {i}");
            } else {
                assert_eq!(frame, Some(Frame::Message(invite.clone())));
            }
        }
    }

    #[test]
    fn a_double_crlf_is_a_ping_and_single_crlfs_are_skipped() {
        let mut r = StreamReassembler::new(4096);
        r.push(b"\r\n\r\n");
        assert_eq!(r.next_frame(), Ok(Some(Frame::Ping)));
        r.push(b"\r\n");
        r.push(OPTIONS);
        assert_eq!(r.next_frame(), Ok(Some(Frame::Message(OPTIONS.to_vec()))));
    }

    #[test]
    fn a_stream_message_without_content_length_is_an_error() {
        let mut r = StreamReassembler::new(4096);
        r.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(r.next_frame(), Err(FramingError::MissingContentLength));
    }

    #[test]
    fn disagreeing_or_garbled_content_lengths_are_errors() {
        let mut r = StreamReassembler::new(4096);
        r.push(b"BYE sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\n");
        assert_eq!(r.next_frame(), Err(FramingError::BadContentLength));
        let mut r = StreamReassembler::new(4096);
        r.push(b"BYE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n");
        assert_eq!(r.next_frame(), Err(FramingError::BadContentLength));
    }

    #[test]
    fn endless_headers_and_huge_bodies_hit_the_limit() {
        let mut r = StreamReassembler::new(64);
        r.push(&[b'a'; 65]);
        assert_eq!(
            r.next_frame(),
            Err(FramingError::HeadersTooLong { limit: 64 })
        );
        let mut r = StreamReassembler::new(64);
        r.push(b"BYE sip:a@b SIP/2.0\r\nl: 999999\r\n\r\n");
        assert!(matches!(
            r.next_frame(),
            Err(FramingError::MessageTooLarge { limit: 64, .. })
        ));
    }
}
