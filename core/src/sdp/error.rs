//! Typed errors of SDP parsing and offer/answer. Line numbers are 1-based lines of the
//! body as received (blank lines counted), 0 when no single line is to blame.

use std::fmt;

/// Why a session description could not be parsed. A UAS answers an INVITE whose body
/// fails here with 400 (or 488 when it is merely unusable).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is larger than [`SdpLimits::max_bytes`](super::SdpLimits).
    TooLarge {
        /// The body's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body has more lines than the limit.
    TooManyLines {
        /// The limit.
        max: usize,
    },
    /// The body has more m-lines than the limit.
    TooManyMedia {
        /// The limit.
        max: usize,
    },
    /// The body is not UTF-8 (RFC 4566 §5 allows other charsets only in `i=`/`s=` with
    /// `a=charset`, which SIP devices do not use).
    NotUtf8 {
        /// The byte offset of the first invalid sequence.
        offset: usize,
    },
    /// A line is not `<letter>=<value>`.
    MalformedLine {
        /// The offending line.
        line: usize,
    },
    /// The body does not start with `v=0`, `o=`, `s=`.
    BadHeader {
        /// The offending line.
        line: usize,
    },
    /// An m-line is malformed (too few tokens, bad port).
    BadMediaLine {
        /// The offending line.
        line: usize,
    },
    /// A `c=` line of a stream not on an RTP profile (T.38, WebRTC, unknown) is malformed.
    BadConnection {
        /// The offending line.
        line: usize,
    },
    /// An RTP m-line lists a format that is not a payload type 0–127.
    BadPayloadType {
        /// The offending line.
        line: usize,
    },
    /// A line the parser reads into typed fields (`o c b t`, an RTP stream's `a=rtpmap`,
    /// `a=rtcp`, directions) is malformed or out of place, or an RTP stream has no
    /// connection at all (line 0). The lines and kinds are those webrtc-sdp, the parser
    /// we used before our own, reported for the same bodies.
    Rejected {
        /// The line to blame (the last malformed one; else the first out of place).
        line: usize,
        /// How the line is wrong.
        kind: RejectKind,
    },
}

/// How a line refused with [`SdpError::Rejected`] is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectKind {
    /// A line's syntax or value is invalid.
    Syntax,
    /// Lines are in the wrong order or combination (e.g. a stream without `c=`).
    Sequence,
}

impl fmt::Display for SdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SdpError::TooLarge { len, max } => {
                write!(f, "SDP body of {len} bytes exceeds the {max}-byte limit")
            }
            SdpError::TooManyLines { max } => write!(f, "SDP body has more than {max} lines"),
            SdpError::TooManyMedia { max } => write!(f, "SDP body has more than {max} m-lines"),
            SdpError::NotUtf8 { offset } => write!(f, "SDP body is not UTF-8 at byte {offset}"),
            SdpError::MalformedLine { line } => write!(f, "line {line}: not <type>=<value>"),
            SdpError::BadHeader { line } => {
                write!(f, "line {line}: SDP must start with v=0, o=, s=")
            }
            SdpError::BadMediaLine { line } => write!(f, "line {line}: malformed m-line"),
            SdpError::BadConnection { line } => write!(f, "line {line}: malformed c= line"),
            SdpError::BadPayloadType { line } => {
                write!(f, "line {line}: RTP format is not a payload type 0-127")
            }
            SdpError::Rejected { line, kind } => {
                write!(f, "line {line}: refused by the SDP parser ({kind:?})")
            }
        }
    }
}

impl std::error::Error for SdpError {}

/// Why no answer can be made to an offer. [`AnswerError::NoAcceptableMedia`] is the
/// UAS's 488 Not Acceptable Here (RFC 3261 §13.3.1.4).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnswerError {
    /// Every offered stream had to be rejected: unsupported media or protocol, port 0, or
    /// no codec in common.
    NoAcceptableMedia,
    /// The offer has no m-lines at all (RFC 3264 §5 allows it, but we cannot make a call
    /// of it).
    NoMedia,
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerError::NoAcceptableMedia => f.write_str("no acceptable media stream in offer"),
            AnswerError::NoMedia => f.write_str("offer has no media streams"),
        }
    }
}

impl std::error::Error for AnswerError {}

/// Why an answer to our offer cannot be used (RFC 3264 §6, §7).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NegotiateError {
    /// The answer does not have exactly as many m-lines as the offer (RFC 3264 §6).
    MediaCountMismatch {
        /// m-lines in the offer.
        offered: usize,
        /// m-lines in the answer.
        answered: usize,
    },
    /// No audio stream was accepted with a codec we offered.
    NoCommonCodec,
    /// There is no offer of ours to read an answer to.
    NoLocalOffer,
}

impl fmt::Display for NegotiateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiateError::MediaCountMismatch { offered, answered } => {
                write!(f, "answer has {answered} m-lines for an offer of {offered}")
            }
            NegotiateError::NoCommonCodec => f.write_str("no audio stream with a common codec"),
            NegotiateError::NoLocalOffer => f.write_str("no local offer to negotiate against"),
        }
    }
}

impl std::error::Error for NegotiateError {}
