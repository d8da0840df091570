//! The outcome of an offer/answer exchange for the media layer (RFC 3264 §6.1, §7).
//!
//! One function serves both roles: [`negotiate`] takes our description and the peer's,
//! whichever of them was the offer. As offerer (including a late offer: our offer in the
//! 2xx, the answer in the ACK) it reads the answer; as answerer, [`create_answer`]
//! calls it with the answer it built and the offer.
//!
//! [`create_answer`]: super::create_answer

use std::net::SocketAddr;

use super::codec::Codec;
use super::direction::Direction;
use super::error::NegotiateError;
use super::hold::remote_direction;
use super::types::{MediaKind, SessionDescription};

/// Packet time when neither side says (RFC 3551 §4.5: 20 ms for G.711).
pub const DEFAULT_PTIME_MS: u32 = 20;

/// What the media layer needs to run the call's audio stream.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Negotiated {
    /// Which m-line (0-based) carries the audio.
    pub media_index: usize,
    /// The audio codec, as the peer described it: its payload type is the one we send
    /// with. It is the first codec in the peer's list that we have too (the offerer's
    /// order when we answer, the answerer's preference when we offered).
    pub codec: Codec,
    /// The payload type we receive that codec with (ours; equal to `codec.payload_type`
    /// unless the answerer renumbered).
    pub local_payload_type: u8,
    /// The peer's telephone-event payload type, which we send RFC 4733 DTMF with, if
    /// both sides support it.
    pub telephone_event_pt: Option<u8>,
    /// Our telephone-event payload type, which we receive DTMF with.
    pub local_telephone_event_pt: Option<u8>,
    /// Where to send RTP: the peer's connection address and port. `None` when we must
    /// not send (old-style hold `0.0.0.0`) or cannot (a host name the core does not
    /// resolve).
    pub remote_rtp: Option<SocketAddr>,
    /// Where to send RTCP: the peer's `a=rtcp` (RFC 3605), else its RTP port + 1 (RFC
    /// 3550 §11); `None` when `remote_rtp` is, or when `a=rtcp` names a host by name.
    pub remote_rtcp: Option<SocketAddr>,
    /// RTP and RTCP share the RTP port (RFC 5761): both descriptions carry
    /// `a=rtcp-mux`. `remote_rtcp` is then the peer's RTP address, and our RTCP leaves
    /// from our RTP port.
    pub rtcp_mux: bool,
    /// Our direction on the stream: whether we send and whether we receive.
    pub direction: Direction,
    /// The packet time to send with: the peer's `a=ptime`, else ours, else 20 ms.
    pub ptime_ms: u32,
}

/// Pairs our description with the peer's m-line by m-line and picks the first audio
/// stream both sides kept (non-zero ports) with a codec in common.
pub fn negotiate(
    local: &SessionDescription,
    remote: &SessionDescription,
) -> Result<Negotiated, NegotiateError> {
    if local.media.len() != remote.media.len() {
        return Err(NegotiateError::MediaCountMismatch {
            offered: local.media.len(),
            answered: remote.media.len(),
        });
    }
    for (index, (ours, theirs)) in local.media.iter().zip(&remote.media).enumerate() {
        if ours.is_rejected()
            || theirs.is_rejected()
            || ours.kind != MediaKind::Audio
            || theirs.kind != MediaKind::Audio
        {
            continue;
        }
        let Some((codec, local_codec)) = theirs
            .codecs
            .iter()
            .filter(|c| is_audio_codec(c))
            .find_map(|t| {
                let ours = ours
                    .codecs
                    .iter()
                    .find(|o| is_audio_codec(o) && o.same_encoding(t))?;
                Some((t, ours))
            })
        else {
            continue;
        };
        let events = telephone_event(&ours.codecs, &theirs.codecs, codec.clock_rate);
        let their_direction = remote_direction(remote, index).unwrap_or_default();
        let rtcp_mux =
            ours.attribute("rtcp-mux").is_some() && theirs.attribute("rtcp-mux").is_some();
        return Ok(Negotiated {
            media_index: index,
            codec: codec.clone(),
            local_payload_type: local_codec.payload_type,
            telephone_event_pt: events.map(|(theirs, _)| theirs),
            local_telephone_event_pt: events.map(|(_, ours)| ours),
            remote_rtp: remote.rtp_destination(index),
            remote_rtcp: if rtcp_mux {
                remote.rtp_destination(index)
            } else {
                remote.rtcp_destination(index)
            },
            rtcp_mux,
            direction: ours.direction.intersect(their_direction.reversed()),
            ptime_ms: theirs
                .ptime_ms
                .or(ours.ptime_ms)
                .filter(|ms| *ms > 0)
                .unwrap_or(DEFAULT_PTIME_MS),
        });
    }
    Err(NegotiateError::NoCommonCodec)
}

fn is_audio_codec(codec: &Codec) -> bool {
    !codec.is_telephone_event() && !codec.is_comfort_noise() && !codec.name.is_empty()
}

/// The (peer, our) telephone-event payload types both sides list, preferring the clock
/// rate of the audio codec (RFC 4733 §2.1), else the first the peer lists.
fn telephone_event(ours: &[Codec], theirs: &[Codec], clock_rate: u32) -> Option<(u8, u8)> {
    let common = |t: &&Codec| {
        t.is_telephone_event()
            && ours
                .iter()
                .any(|o| o.is_telephone_event() && o.same_encoding(t))
    };
    let theirs = theirs
        .iter()
        .filter(common)
        .find(|t| t.clock_rate == clock_rate)
        .or_else(|| theirs.iter().find(common))?;
    let ours = ours
        .iter()
        .find(|o| o.is_telephone_event() && o.same_encoding(theirs))?;
    Some((theirs.payload_type, ours.payload_type))
}
