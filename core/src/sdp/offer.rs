//! Offers (RFC 3264 §5): one audio stream on RTP/AVP with the configured codecs; and
//! re-offers (RFC 3264 §8) that keep the previous m-lines and payload type numbers.
//!
//! Every offer carries `a=rtcp-mux` (RFC 5761 §5.1.1), as baresip's and linphone's do:
//! RTP and RTCP on one port when the answer repeats it, and when it does not, RTCP on
//! RTP + 1 as before. That is safe because both ends of it are already in place before
//! the answer: the RTCP socket at RTP + 1 is bound with the RTP one, and RTCP arriving on
//! the RTP port is told from RTP by its packet type (§4) and read.

use super::config::{LocalMedia, MediaConfig};
use super::types::{
    Attribute, Connection, MediaDescription, MediaKind, Origin, Proto, SessionDescription, Timing,
};
use super::Text;

/// Builds an offer: `c=` at session level with our address, one `m=audio` stream on
/// RTP/AVP at our RTP port with the configured codecs in preference order (dynamic
/// payload types from 96), `a=ptime` from the configuration, and `local.direction`.
///
/// The origin is used as given; [`LocalSession`](super::LocalSession) keeps the session
/// id and increments the version across offers (RFC 3264 §8).
pub fn create_offer(
    config: &MediaConfig,
    origin: &Origin,
    local: &LocalMedia,
) -> SessionDescription {
    let mut audio = MediaDescription::new(MediaKind::Audio, local.rtp_port, Proto::RtpAvp);
    audio.codecs = config.offered_codecs();
    audio.direction = local.direction;
    audio.ptime_ms = config.ptime_ms;
    audio.attributes.push(rtcp_mux());
    our_description(origin, config, local, vec![audio])
}

/// `a=rtcp-mux`: RTP and RTCP on one port, if the answerer agrees (RFC 5761 §5.1.1).
fn rtcp_mux() -> Attribute {
    Attribute {
        name: "rtcp-mux".into(),
        value: None,
    }
}

/// A description of ours, offer or answer: our origin and session name, our address in
/// the session-level `c=`, `t=0 0`, and `media`.
pub(super) fn our_description(
    origin: &Origin,
    config: &MediaConfig,
    local: &LocalMedia,
    media: Vec<MediaDescription>,
) -> SessionDescription {
    SessionDescription {
        origin: origin.clone(),
        session_name: Text::new(&config.session_name),
        connection: Some(Connection::ip(local.address)),
        bandwidth: Vec::new(),
        timing: Timing::default(),
        attributes: Vec::new(),
        media,
    }
}

/// Builds a re-offer within a session whose last description (offer or answer) was
/// `previous` (RFC 3264 §8): the same m-lines in the same order (their number never
/// decreases), the audio stream — the first non-rejected `audio` line, else the first
/// `audio` line, else a new line appended — rebuilt from the configuration with the
/// payload type numbers it already had, every other line as it was (rejected lines stay
/// port 0). The origin is `previous`'s; [`LocalSession`](super::LocalSession) versions it.
pub fn create_reoffer(
    config: &MediaConfig,
    previous: &SessionDescription,
    local: &LocalMedia,
) -> SessionDescription {
    let audio_index = previous
        .media
        .iter()
        .position(|m| m.kind == MediaKind::Audio && !m.is_rejected())
        .or_else(|| {
            previous
                .media
                .iter()
                .position(|m| m.kind == MediaKind::Audio)
        });
    let kept: &[_] = audio_index.map_or(&[], |i| &previous.media[i].codecs);
    let mut audio = MediaDescription::new(MediaKind::Audio, local.rtp_port, Proto::RtpAvp);
    audio.codecs = config.offered_codecs_keeping(kept);
    audio.direction = local.direction;
    audio.ptime_ms = config.ptime_ms;
    audio.attributes.push(rtcp_mux());
    let mut media = previous.media.clone();
    match audio_index {
        Some(i) => media[i] = audio,
        None => media.push(audio),
    }
    SessionDescription {
        origin: previous.origin.clone(),
        session_name: Text::new(&config.session_name),
        connection: Some(Connection::ip(local.address)),
        bandwidth: Vec::new(),
        timing: Timing::default(),
        attributes: Vec::new(),
        media,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::{Address, CodecConfig, Direction};
    use std::net::{IpAddr, Ipv4Addr};

    fn origin() -> Origin {
        Origin {
            username: "-".into(),
            session_id: 42,
            session_version: 1,
            address: Address::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
        }
    }

    #[test]
    fn offer_lists_configured_codecs_with_telephone_event_fmtp() {
        let config = MediaConfig {
            codecs: vec![
                CodecConfig::pcmu(),
                CodecConfig::pcma(),
                CodecConfig::g722(),
                CodecConfig::opus(),
                CodecConfig::telephone_event(),
            ],
            ..MediaConfig::default()
        };
        let local = LocalMedia::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4000);
        let offer = create_offer(&config, &origin(), &local);
        let text = offer.to_string();
        assert!(
            text.contains("m=audio 4000 RTP/AVP 0 8 9 96 97\r\n"),
            "{text}"
        );
        assert!(text.contains("a=rtpmap:96 opus/48000/2\r\n"), "{text}");
        assert!(text.contains("a=rtpmap:97 telephone-event/8000\r\na=fmtp:97 0-16\r\n"));
        assert!(text.contains("a=ptime:20\r\n"));
        assert!(text.contains("c=IN IP4 192.0.2.1\r\n"));
        assert_eq!(offer.media[0].direction, Direction::SendRecv);
    }

    #[test]
    fn reoffer_keeps_line_count_and_payload_types_after_answering() {
        // We answered audio (te at 101) with a rejected video line before it.
        let text = "v=0\r\no=- 5 5 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
                    m=video 0 RTP/AVP 96\r\nm=audio 4000 RTP/AVP 0 101\r\n\
                    a=rtpmap:101 telephone-event/8000\r\n";
        let previous = SessionDescription::parse(text.as_bytes()).expect("valid");
        let local = LocalMedia::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4000);
        let reoffer = create_reoffer(&MediaConfig::default(), &previous, &local);
        assert_eq!(reoffer.media.len(), 2);
        assert_eq!(
            reoffer.media[0], previous.media[0],
            "rejected line kept as it was"
        );
        let pts: Vec<u8> = reoffer.media[1]
            .codecs
            .iter()
            .map(|c| c.payload_type)
            .collect();
        assert_eq!(pts, [0, 8, 101], "telephone-event keeps 101, PCMA added");
    }

    #[test]
    fn offer_reparses_to_itself() {
        let local = LocalMedia::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4000);
        let offer = create_offer(&MediaConfig::default(), &origin(), &local);
        let reparsed = SessionDescription::parse(&offer.to_bytes()).expect("own offer parses");
        assert_eq!(reparsed, offer);
    }
}
