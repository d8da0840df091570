//! Offers (RFC 3264 §5): one audio stream on RTP/AVP with the configured codecs.

use super::config::{LocalMedia, MediaConfig};
use super::types::{
    Connection, MediaDescription, MediaKind, Origin, Proto, SessionDescription, Timing,
};

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
    SessionDescription {
        origin: origin.clone(),
        session_name: config.session_name.clone(),
        connection: Some(Connection::ip(local.address)),
        bandwidth: Vec::new(),
        timing: Timing::default(),
        attributes: Vec::new(),
        media: vec![audio],
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
    fn offer_reparses_to_itself() {
        let local = LocalMedia::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4000);
        let offer = create_offer(&MediaConfig::default(), &origin(), &local);
        let reparsed = SessionDescription::parse(&offer.to_bytes()).expect("own offer parses");
        assert_eq!(reparsed, offer);
    }
}
