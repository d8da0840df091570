//! Answers (RFC 3264 §6, §6.1): one answer m-line per offered m-line, in order.
//!
//! For each offered stream, in order:
//! - the first `audio` stream on `RTP/AVP` with a non-zero port and a codec in common is
//!   accepted: its formats are the offered codecs we also have, in the offerer's order
//!   and with the offerer's payload type numbers (telephone-event included when both
//!   support it at that clock rate), our fmtp, the offerer's `a=ptime` echoed, and the
//!   direction `offer.reversed() ∩ ours` (sendonly → recvonly, recvonly → sendonly,
//!   inactive stays, sendrecv → ours; an offer to `c=0.0.0.0` counts as not receiving);
//! - every other stream (port 0 offered, other media or protocol such as T.38 `m=image
//!   … udptl`, no common codec, or a second audio stream — the media layer runs one) is
//!   rejected: port 0, the offered format list kept so the line stays valid, `a=inactive`.
//!
//! The answer's `c=` is ours, at session level. If no stream is accepted there is no
//! answer: [`AnswerError::NoAcceptableMedia`], which the UAS sends as 488.

use super::codec::Codec;
use super::config::{LocalMedia, MediaConfig};
use super::direction::Direction;
use super::error::AnswerError;
use super::hold::remote_direction;
use super::negotiate::{negotiate, Negotiated};
use super::types::{
    Connection, MediaDescription, MediaKind, Origin, Proto, SessionDescription, Timing,
};

/// An answer and what it negotiated.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Answer {
    /// The answer to send.
    pub description: SessionDescription,
    /// The media parameters for the media layer.
    pub negotiated: Negotiated,
}

/// Answers `offer` with our codecs, address and direction, under `origin` (used as
/// given: [`LocalSession`](super::LocalSession) versions it).
pub fn create_answer(
    offer: &SessionDescription,
    config: &MediaConfig,
    origin: &Origin,
    local: &LocalMedia,
) -> Result<Answer, AnswerError> {
    if offer.media.is_empty() {
        return Err(AnswerError::NoMedia);
    }
    let mut media = Vec::with_capacity(offer.media.len());
    let mut accepted = false;
    for (index, offered) in offer.media.iter().enumerate() {
        let answer = if accepted {
            None
        } else {
            accept_stream(offer, index, config, local)
        };
        accepted |= answer.is_some();
        media.push(answer.unwrap_or_else(|| rejected(offered)));
    }
    if !accepted {
        return Err(AnswerError::NoAcceptableMedia);
    }
    let description = SessionDescription {
        origin: origin.clone(),
        session_name: config.session_name.clone(),
        connection: Some(Connection::ip(local.address)),
        bandwidth: Vec::new(),
        timing: Timing::default(),
        attributes: Vec::new(),
        media,
    };
    // An accepted stream has a codec in common by construction, so this succeeds; the
    // error is still mapped rather than unwrapped.
    let negotiated = negotiate(&description, offer).map_err(|_| AnswerError::NoAcceptableMedia)?;
    Ok(Answer {
        description,
        negotiated,
    })
}

fn accept_stream(
    offer: &SessionDescription,
    index: usize,
    config: &MediaConfig,
    local: &LocalMedia,
) -> Option<MediaDescription> {
    let offered = &offer.media[index];
    if offered.is_rejected() || offered.kind != MediaKind::Audio || offered.proto != Proto::RtpAvp {
        return None;
    }
    let mut codecs: Vec<Codec> = Vec::new();
    for codec in &offered.codecs {
        let Some(ours) = config.codecs.iter().find(|c| c.matches(codec)) else {
            continue;
        };
        if codecs.iter().any(|c| c.payload_type == codec.payload_type) {
            continue;
        }
        codecs.push(Codec {
            payload_type: codec.payload_type,
            name: codec.name.clone(),
            clock_rate: codec.clock_rate,
            channels: codec.channels,
            fmtp: ours.fmtp.clone(),
        });
    }
    if !codecs
        .iter()
        .any(|c| !c.is_telephone_event() && !c.is_comfort_noise())
    {
        return None;
    }
    let offered_direction = remote_direction(offer, index).unwrap_or_default();
    let mut answer = MediaDescription::new(MediaKind::Audio, local.rtp_port, Proto::RtpAvp);
    answer.codecs = codecs;
    answer.direction = offered_direction.reversed().intersect(local.direction);
    answer.ptime_ms = offered.ptime_ms;
    Some(answer)
}

/// A rejected answer line: port 0, same media and protocol, the offered formats.
fn rejected(offered: &MediaDescription) -> MediaDescription {
    let mut answer = MediaDescription::new(offered.kind.clone(), 0, offered.proto.clone());
    answer.formats = if offered.codecs.is_empty() {
        offered.formats.clone()
    } else {
        offered
            .codecs
            .iter()
            .map(|c| c.payload_type.to_string().into_boxed_str())
            .collect()
    };
    answer.direction = Direction::Inactive;
    answer
}
