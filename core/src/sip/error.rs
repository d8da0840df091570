//! Parse errors and parse limits.
//!
//! A [`ParseError`] says what is wrong ([`ParseErrorKind`]) and where (byte offset and
//! 1-based line). It also says whether the message was still a request complete enough to
//! be answered (RFC 3261 §8.2: a UAS answers a malformed request with 400, or 505 for an
//! unknown version, when it can build a response); see [`ParseError::answerable`].

use std::fmt;

use super::header::HeaderName;

/// Size limits applied while parsing; a message beyond them is rejected, never buffered.
/// List values (Via, Route, Contact …) are walked lazily without allocating, so their
/// number is bounded by these limits; a layer that stores them (a dialog's route set)
/// bounds what it keeps.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseLimits {
    /// Largest message (start line, headers and body) accepted, in bytes.
    pub max_message_bytes: usize,
    /// Most header lines (after unfolding) accepted in one message.
    pub max_headers: usize,
    /// Longest header (name, colon, value and its folded continuations), in bytes.
    pub max_header_line_bytes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_message_bytes: 64 * 1024,
            max_headers: 128,
            max_header_line_bytes: 8 * 1024,
        }
    }
}

/// Why a message could not be parsed, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// Byte offset into the input where the problem was found.
    pub offset: usize,
    /// 1-based line number of that offset (0 when the problem is not tied to a line).
    pub line: u32,
    /// Whether the message is a request that [`super::Message::parse_lenient`] still accepts,
    /// so that a UAS can answer it (400, or 505 for [`ParseErrorKind::UnsupportedVersion`])
    /// instead of dropping it.
    pub answerable: bool,
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, offset: usize, line: u32) -> Self {
        ParseError {
            kind,
            offset,
            line,
            answerable: false,
        }
    }

    /// Whether a UAS can still build a response to the offending request (see the field).
    #[must_use]
    pub fn answerable(&self) -> bool {
        self.answerable
    }

    /// The status code RFC 3261 §8.2 says a UAS answers this error with, if it can answer.
    #[must_use]
    pub fn response_status(&self) -> Option<u16> {
        if !self.answerable {
            return None;
        }
        Some(match self.kind {
            ParseErrorKind::UnsupportedVersion => 505,
            _ => 400,
        })
    }
}

/// What went wrong while parsing a SIP message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input holds no message (empty, or only CRLFs).
    Empty,
    /// The message is larger than [`ParseLimits::max_message_bytes`].
    MessageTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// More header lines than [`ParseLimits::max_headers`].
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// A header longer than [`ParseLimits::max_header_line_bytes`].
    HeaderTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// No empty line ends the header section.
    UnterminatedHeaders,
    /// The start line or a header is not valid UTF-8.
    NotUtf8,
    /// The request line is not `Method SP Request-URI SP SIP-Version`.
    BadRequestLine,
    /// The status line is not `SIP-Version SP Status-Code SP Reason-Phrase`.
    BadStatusLine,
    /// The status code is not three digits (RFC 3261 §7.2).
    BadStatusCode,
    /// The version is well formed but not SIP/2.0 (answer 505).
    UnsupportedVersion,
    /// The Request-URI does not parse.
    BadRequestUri(UriError),
    /// A header line without a colon.
    HeaderWithoutColon,
    /// A header name that is not a token.
    BadHeaderName,
    /// A folded continuation line before any header.
    ContinuationWithoutHeader,
    /// A header the parser checks has a malformed value.
    InvalidHeader {
        /// Which header.
        header: HeaderName<'static>,
        /// What is wrong with it.
        problem: ValueError,
    },
    /// A header every request and response carries is missing (RFC 3261 §8.1.1).
    MissingHeader(HeaderName<'static>),
    /// A single-valued header appears more than once.
    DuplicateHeader(HeaderName<'static>),
    /// The CSeq method differs from the request method (RFC 3261 §8.2.2.3 … 400).
    CSeqMethodMismatch,
    /// Content-Length says more bytes than the datagram holds.
    ContentLengthTooLarge {
        /// Declared body length.
        declared: usize,
        /// Bytes present after the header section.
        available: usize,
    },
    /// On a stream, a message must carry Content-Length (RFC 3261 §18.3).
    MissingContentLength,
}

/// What is wrong inside a header value or URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueError {
    /// The value is empty.
    Empty,
    /// A quoted string is not terminated.
    UnterminatedQuote,
    /// A `<` without its `>`, or LWS inside the brackets.
    BadAngleBrackets,
    /// A display name that is neither a quoted string nor tokens.
    BadDisplayName,
    /// A URI that does not parse.
    Uri(UriError),
    /// A parameter that is empty (`;;`) or not `name[=value]`.
    BadParam,
    /// A number that is not decimal or too large for its field.
    BadNumber,
    /// A value that should be a token is not one.
    BadToken,
    /// The Via sent-protocol is not `name/version/transport`.
    BadSentProtocol,
    /// The Via sent-by host or port does not parse.
    BadSentBy,
    /// An empty element in a comma-separated list.
    EmptyListElement,
    /// Characters left over after the value.
    TrailingGarbage,
}

/// What is wrong with a URI (RFC 3261 §19.1, §25.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriError {
    /// No `scheme:` prefix.
    NoScheme,
    /// The host is missing or malformed.
    BadHost,
    /// The port is not a number below 65536.
    BadPort,
    /// The URI contains whitespace or characters it may not hold.
    BadCharacter,
    /// Header components (`?name=value`) where RFC 3261 §19.1.1 forbids them.
    HeadersNotAllowed,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}", self.line, self.kind)
        } else {
            write!(f, "byte {}: {}", self.offset, self.kind)
        }
    }
}

impl std::error::Error for ParseError {}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::Empty => f.write_str("no message"),
            ParseErrorKind::MessageTooLarge { limit } => {
                write!(f, "message larger than {limit} bytes")
            }
            ParseErrorKind::TooManyHeaders { limit } => write!(f, "more than {limit} headers"),
            ParseErrorKind::HeaderTooLong { limit } => {
                write!(f, "header longer than {limit} bytes")
            }
            ParseErrorKind::UnterminatedHeaders => {
                f.write_str("header section not ended by an empty line")
            }
            ParseErrorKind::NotUtf8 => f.write_str("not valid UTF-8"),
            ParseErrorKind::BadRequestLine => {
                f.write_str("request line is not `Method SP Request-URI SP SIP-Version`")
            }
            ParseErrorKind::BadStatusLine => {
                f.write_str("status line is not `SIP-Version SP Status-Code SP Reason-Phrase`")
            }
            ParseErrorKind::BadStatusCode => f.write_str("status code is not three digits"),
            ParseErrorKind::UnsupportedVersion => f.write_str("SIP version is not SIP/2.0"),
            ParseErrorKind::BadRequestUri(e) => write!(f, "Request-URI: {e}"),
            ParseErrorKind::HeaderWithoutColon => f.write_str("header has no colon"),
            ParseErrorKind::BadHeaderName => f.write_str("header name is not a token"),
            ParseErrorKind::ContinuationWithoutHeader => {
                f.write_str("folded continuation line before any header")
            }
            ParseErrorKind::InvalidHeader { header, problem } => {
                write!(f, "{}: {problem}", header.as_str())
            }
            ParseErrorKind::MissingHeader(h) => write!(f, "missing {} header", h.as_str()),
            ParseErrorKind::DuplicateHeader(h) => {
                write!(f, "{} header appears more than once", h.as_str())
            }
            ParseErrorKind::CSeqMethodMismatch => {
                f.write_str("CSeq method differs from the request method")
            }
            ParseErrorKind::ContentLengthTooLarge {
                declared,
                available,
            } => write!(
                f,
                "Content-Length {declared} but only {available} body bytes present"
            ),
            ParseErrorKind::MissingContentLength => {
                f.write_str("Content-Length is required on a stream transport")
            }
        }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ValueError::Empty => "empty value",
            ValueError::UnterminatedQuote => "unterminated quoted string",
            ValueError::BadAngleBrackets => "malformed <...> around the URI",
            ValueError::BadDisplayName => "display name is neither quoted nor tokens",
            ValueError::Uri(e) => return write!(f, "URI: {e}"),
            ValueError::BadParam => "malformed parameter",
            ValueError::BadNumber => "not a number in range",
            ValueError::BadToken => "not a token",
            ValueError::BadSentProtocol => "sent-protocol is not name/version/transport",
            ValueError::BadSentBy => "malformed sent-by host or port",
            ValueError::EmptyListElement => "empty element in a comma-separated list",
            ValueError::TrailingGarbage => "unexpected characters after the value",
        };
        f.write_str(s)
    }
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UriError::NoScheme => "no scheme",
            UriError::BadHost => "malformed host",
            UriError::BadPort => "malformed port",
            UriError::BadCharacter => "whitespace or a forbidden character",
            UriError::HeadersNotAllowed => "header components are not allowed here",
        })
    }
}

impl From<UriError> for ValueError {
    fn from(e: UriError) -> Self {
        ValueError::Uri(e)
    }
}
