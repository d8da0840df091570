//! Cutting a stream transport's bytes into SIP messages (RFC 3261 §18.3).
//!
//! Over TCP a message ends where its Content-Length says: the header section ends at the
//! first empty line, and exactly Content-Length body bytes follow. Content-Length is
//! mandatory over streams, so a message without it is a framing error and the runtime
//! closes the connection. Line ends between messages carry no message; each CRLFCRLF
//! among them is an RFC 5626 §3.5.1 keep-alive ping, which the runtime answers with a
//! single CRLF pong.
//!
//! The rules are [`frame_stream`](crate::sip::frame_stream)'s (one implementation, the one
//! the `sip_stream` fuzz target checks); the reassembler adds the buffer and remembers how
//! far it has scanned, so a message that arrives a byte at a time costs linear time.

use crate::sip::framing::{check_unterminated_head, find_header_end, line_end_run, message_len};
use crate::sip::{ParseError, ParseLimits};

/// One unit cut from a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// A complete SIP message: headers, empty line, body.
    Message(Vec<u8>),
    /// A CRLFCRLF keep-alive ping; answer with a CRLF.
    Ping,
}

/// The keep-alive ping (RFC 5626 §3.5.1).
const PING: &[u8; 4] = b"\r\n\r\n";

/// The receive side of one stream connection: bytes in, whole messages out.
#[derive(Clone, Debug)]
pub struct StreamReassembler {
    buf: Vec<u8>,
    /// How far the search for the end of the current header section has looked.
    scanned: usize,
    /// The current message's length, once its header section is complete.
    message_len: Option<usize>,
    /// How many bytes of [`PING`] the line ends consumed at this message boundary have
    /// matched so far (a ping may be split across reads).
    ping_matched: usize,
    limits: ParseLimits,
}

impl StreamReassembler {
    /// A reassembler refusing messages larger than `max_message_bytes`.
    pub fn new(max_message_bytes: usize) -> StreamReassembler {
        StreamReassembler {
            buf: Vec::new(),
            scanned: 0,
            message_len: None,
            ping_matched: 0,
            limits: ParseLimits {
                max_message_bytes,
                ..ParseLimits::default()
            },
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
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ParseError> {
        if self.scanned == 0 && self.message_len.is_none() {
            if let Some(ping) = self.skip_line_ends() {
                return Ok(Some(ping));
            }
            if self.buf.is_empty() {
                return Ok(None);
            }
        }
        let len = match self.message_len {
            Some(len) => len,
            None => {
                let Some(head) = find_header_end(&self.buf, self.scanned) else {
                    self.scanned = self.buf.len();
                    check_unterminated_head(self.buf.len(), &self.limits)?;
                    return Ok(None);
                };
                let len = message_len(&self.buf[..head], &self.limits)?;
                self.message_len = Some(len);
                len
            }
        };
        if self.buf.len() < len {
            return Ok(None);
        }
        let message = self.buf.drain(..len).collect();
        self.scanned = 0;
        self.message_len = None;
        self.ping_matched = 0;
        Ok(Some(Frame::Message(message)))
    }

    /// Consumes the line ends at the front of the buffer, stopping just after one that
    /// completes a ping.
    fn skip_line_ends(&mut self) -> Option<Frame> {
        let run = line_end_run(&self.buf);
        for (i, &b) in self.buf[..run].iter().enumerate() {
            self.ping_matched = if b == PING[self.ping_matched] {
                self.ping_matched + 1
            } else {
                usize::from(b == b'\r')
            };
            if self.ping_matched == PING.len() {
                self.ping_matched = 0;
                self.buf.drain(..=i);
                return Some(Frame::Ping);
            }
        }
        self.buf.drain(..run);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{HeaderName, ParseErrorKind};

    fn kind(r: Result<Option<Frame>, ParseError>) -> ParseErrorKind {
        r.expect_err("a framing error").kind
    }

    #[test]
    fn a_ping_split_across_reads_is_one_ping_and_runs_of_line_ends_are_skipped() {
        let mut r = StreamReassembler::new(4096);
        r.push(b"\r\n\r");
        assert_eq!(r.next_frame(), Ok(None));
        r.push(b"\n\r\n\r\n\r\n\n");
        assert_eq!(r.next_frame(), Ok(Some(Frame::Ping)));
        assert_eq!(r.next_frame(), Ok(Some(Frame::Ping)));
        assert_eq!(r.next_frame(), Ok(None));
        assert_eq!(r.buffered(), 0);
        r.push(OPTIONS);
        assert_eq!(r.next_frame(), Ok(Some(Frame::Message(OPTIONS.to_vec()))));
    }

    #[test]
    fn bare_lf_line_ends_frame_too() {
        let mut r = StreamReassembler::new(4096);
        let m = b"OPTIONS sip:a@b SIP/2.0\nContent-Length: 2\n\nhi";
        for b in m {
            r.push(&[*b]);
        }
        assert_eq!(r.next_frame(), Ok(Some(Frame::Message(m.to_vec()))));
    }

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
        assert_eq!(kind(r.next_frame()), ParseErrorKind::MissingContentLength);
    }

    #[test]
    fn disagreeing_or_garbled_content_lengths_are_errors() {
        let mut r = StreamReassembler::new(4096);
        r.push(b"BYE sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\n");
        assert_eq!(
            kind(r.next_frame()),
            ParseErrorKind::DuplicateHeader(HeaderName::ContentLength)
        );
        let mut r = StreamReassembler::new(4096);
        r.push(b"BYE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n");
        assert!(matches!(
            kind(r.next_frame()),
            ParseErrorKind::InvalidHeader {
                header: HeaderName::ContentLength,
                ..
            }
        ));
    }

    #[test]
    fn endless_headers_and_huge_bodies_hit_the_limit() {
        let mut r = StreamReassembler::new(64);
        r.push(&[b'a'; 65]);
        assert_eq!(
            kind(r.next_frame()),
            ParseErrorKind::MessageTooLarge { limit: 64 }
        );
        let mut r = StreamReassembler::new(64);
        r.push(b"BYE sip:a@b SIP/2.0\r\nl: 999999\r\n\r\n");
        assert_eq!(
            kind(r.next_frame()),
            ParseErrorKind::MessageTooLarge { limit: 64 }
        );
    }
}
