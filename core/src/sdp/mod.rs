//! SDP offer/answer (RFC 3264) on our own parser, writer and types.
//!
//! - [`SessionDescription`] and friends ([`types`](self)) are ours, and so is the parser
//!   behind [`SessionDescription::parse`] (see `parse.rs` for why: webrtc-sdp, which it
//!   replaced, cost a fifth of a call and refused or dropped lines SIP bodies carry; it
//!   is now the parser's differential oracle in tests and fuzzing). The writer
//!   ([`SessionDescription::write_to`]) is our own.
//! - [`create_offer`] / [`create_answer`] build offers and answers (RFC 3264 §5, §6);
//!   [`negotiate`] turns an exchange into the [`Negotiated`] parameters the media layer
//!   needs, whichever side offered (so a late offer — INVITE without SDP, offer in our
//!   2xx, answer in the ACK — is the same call as an early one).
//! - [`hold_offer`], [`is_hold`], [`remote_direction`]: hold and resume (RFC 3264 §8.4,
//!   RFC 6337), including the old `c=0.0.0.0` style.
//! - [`LocalSession`] keeps one call's side of it: origin and version (RFC 3264 §8),
//!   last description sent, hold state.
//!
//! Decisions a reader would not guess:
//! - One audio stream per call: an answer accepts the first usable `audio` m-line on
//!   `RTP/AVP` and rejects every other line with port 0 (video, T.38, SRTP, AVPF, a second
//!   audio stream). Accepted codecs are the whole intersection, in the offerer's order.
//! - Directions are resolved at parse time (session-level attribute, default sendrecv),
//!   and the writer always writes one. `c=0.0.0.0` is read as "do not send to me" by
//!   [`remote_direction`] / [`Negotiated::remote_rtp`], not rewritten.
//! - The session version increments only when the description changes (an identical
//!   refresh keeps it, RFC 3264 §8); re-offers keep the m-lines and payload types.
//! - A dynamic payload type without rtpmap is kept as an unnamed codec that matches
//!   nothing; a codec's fmtp is kept verbatim, never interpreted.
//! - A parse borrows the body's lines and allocates only what the description keeps;
//!   `benches/sdp.rs` measures it against webrtc-sdp alone.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use session_core::sdp::{LocalMedia, LocalSession, MediaConfig, SessionDescription};
//!
//! let config = MediaConfig::default();
//! let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
//! let mut alice = LocalSession::new(&config, 1, ip);
//! let mut bob = LocalSession::new(&config, 2, ip);
//!
//! let offer = alice.offer(&config, &LocalMedia::new(ip, 4000)).to_bytes();
//! let offer = SessionDescription::parse(&offer)?;
//! let answer = bob.answer(&config, &LocalMedia::new(ip, 5000), &offer)?;
//! let answer_body = answer.description.to_bytes();
//!
//! let negotiated = alice.negotiate(&SessionDescription::parse(&answer_body)?)?;
//! assert_eq!(&*negotiated.codec.name, "PCMU");
//! assert_eq!(negotiated.remote_rtp, Some("192.0.2.1:5000".parse()?));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod answer;
mod codec;
mod config;
mod direction;
mod error;
mod hold;
mod negotiate;
mod offer;
mod parse;
mod session;
mod types;
mod write;

pub use answer::{create_answer, create_rejection, Answer};
pub use codec::{Codec, FIRST_DYNAMIC_PAYLOAD_TYPE, MAX_PAYLOAD_TYPE, TELEPHONE_EVENT};
pub use config::{CodecConfig, LocalMedia, MediaConfig};
pub use direction::Direction;
pub use error::{AnswerError, NegotiateError, RejectKind, SdpError};
pub use hold::{hold_offer, is_hold, remote_direction};
pub use negotiate::{negotiate, Negotiated, DEFAULT_PTIME_MS};
pub use offer::{create_offer, create_reoffer};
pub use parse::SdpLimits;
pub use session::LocalSession;
/// The text a session description keeps (codec names, `fmtp` parameters, attribute names
/// and values, `o=` user, `s=`): nearly every one is a token of a few bytes (`PCMU`,
/// `telephone-event`, `0-16`, `rtcp-mux`), kept inline up to 23 bytes, so that parsing a
/// body, building an offer or an answer and cloning a codec out of the configuration
/// allocate nothing for it (a `Box<str>` each was most of what a call allocated for SDP).
pub use smol_str::SmolStr as Text;
pub use types::{
    Address, Attribute, Bandwidth, Connection, MediaDescription, MediaKind, Origin, Proto, Rtcp,
    SessionDescription, Timing,
};
