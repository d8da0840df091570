//! SIP messages: our own zero-copy parser and builder (RFC 3261 §7, §8, §12, §18, §20, §25).
//!
//! - [`Message`] borrows its datagram: the start line is parsed, headers are indexed once,
//!   and typed views ([`Via`], [`NameAddr`], [`CSeq`], [`Contact`], [`MediaType`] …) are
//!   parsed from their spans. Unknown methods, URI schemes and transports are kept in
//!   `Other` variants so that a UAS can answer 501, 416 or 400 rather than fail to parse.
//! - [`frame_stream`] frames messages on a TCP byte stream by Content-Length.
//! - [`Message::write_normalized`] writes a parsed message back out; [`RequestBuilder`],
//!   [`ResponseBuilder`], [`write_ack_for_non_2xx`] and [`write_cancel`] build messages
//!   into a caller's buffer.
//! - Limits ([`ParseLimits`]) bound every parse; errors ([`ParseError`]) say what and where.

mod builder;
mod error;
pub(crate) mod framing;
mod header;
mod message;
mod method;
mod name_addr;
mod reason;
mod response_template;
#[cfg(feature = "rsip")]
mod rsip_conv;
mod serialize;
mod text;
mod transport;
mod uri;
mod views;

pub use builder::{
    write_ack_for_non_2xx, write_cancel, write_reissued, write_salvaged_response, RequestBuilder,
    ResponseBuilder,
};
pub use error::{ParseError, ParseErrorKind, ParseLimits, UriError, ValueError};
pub use framing::{frame_stream, StreamFrame};
pub use header::HeaderName;
pub use message::{Header, HeaderValues, Message, RequestLine, Salvaged, StartLine, StatusLine};
pub use method::Method;
pub use name_addr::{Contact, NameAddr, OwnedNameAddr};
pub use reason::default_reason;
pub(crate) use response_template::ResponseTemplate;
#[cfg(feature = "rsip")]
pub use rsip_conv::write_rsip;
pub(crate) use serialize::{write_ip, write_u64, Ipv4Text};
pub(crate) use text::{byte_set, find_any, ByteSet};
pub use transport::Transport;
pub(crate) use uri::parse_ipv4;
pub use uri::{Host, OwnedUri, Param, ParamIter, Params, Scheme, Uri};
pub use views::{
    parse_call_id, parse_content_length, parse_expires, parse_max_forwards, CSeq, MediaType, RPort,
    TransportToken, Via, BRANCH_MAGIC_COOKIE,
};
