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

use std::net::IpAddr;

use super::codec::Codec;
use super::config::{LocalMedia, MediaConfig};
use super::direction::Direction;
use super::error::AnswerError;
use super::hold::remote_direction;
use super::negotiate::{negotiate, Negotiated};
use super::offer::our_description;
use super::types::{
    Address, Attribute, Connection, MediaDescription, MediaKind, Origin, Proto, SessionDescription,
};
use super::Text;

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
    let description = our_description(origin, config, local, media);
    // An accepted stream has a codec in common by construction, so this succeeds; the
    // error is still mapped rather than unwrapped.
    let negotiated = negotiate(&description, offer).map_err(|_| AnswerError::NoAcceptableMedia)?;
    Ok(Answer {
        description,
        negotiated,
    })
}

/// An answer that refuses every stream of `offer` (RFC 3264 §6: each line with port 0),
/// under `origin`, with our address in `c=`. For an offer we cannot accept that still
/// needs an answer, because the message carrying it must carry one: the ACK to a 2xx
/// (RFC 3261 §13.2.2.4: "the UAC core MUST generate a valid answer in the ACK and then
/// send a BYE immediately") or the PRACK to a reliable provisional response (RFC 3262
/// §5). Nothing is negotiated by it.
pub fn create_rejection(
    offer: &SessionDescription,
    config: &MediaConfig,
    origin: &Origin,
    local: &LocalMedia,
) -> SessionDescription {
    our_description(
        origin,
        config,
        local,
        offer.media.iter().map(rejected).collect(),
    )
}

/// Whether our RTP socket, bound in `ours`'s address family, can reach the stream's
/// connection address. An IPv6 `c=` offered to an IPv4 socket (or the reverse) cannot
/// be served: the stream is refused (port 0, RFC 3264 §6) rather than accepted and then
/// left silent. The hold address (`0.0.0.0`, `::`) asks for no media either way, and a
/// host name is left to the rest of the negotiation.
fn same_family(connection: Option<&Connection>, ours: IpAddr) -> bool {
    match connection.map(|c| &c.address) {
        Some(Address::Ip(ip)) => ip.is_unspecified() || ip.is_ipv4() == ours.is_ipv4(),
        Some(Address::Fqdn { ipv6, .. }) => *ipv6 == ours.is_ipv6(),
        None => true,
    }
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
    if !same_family(offer.connection_for(index), local.address) {
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
            fmtp: ours.fmtp.as_deref().map(Text::new),
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
    // RFC 5761 §5.1.1: an offer of RTP and RTCP on one port is accepted by repeating
    // the attribute.
    if offered.attribute("rtcp-mux").is_some() {
        answer.attributes.push(Attribute {
            name: "rtcp-mux".into(),
            value: None,
        });
    }
    Some(answer)
}

/// A rejected answer line: port 0, same media and protocol, the offered formats (for
/// RTP the offered codecs without fmtp, so the line re-parses to the same value).
fn rejected(offered: &MediaDescription) -> MediaDescription {
    let mut answer = MediaDescription::new(offered.kind.clone(), 0, offered.proto.clone());
    answer.formats = offered.formats.clone();
    answer.codecs = offered
        .codecs
        .iter()
        .map(|c| Codec {
            fmtp: None,
            ..c.clone()
        })
        .collect();
    answer.direction = Direction::Inactive;
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::{Address, CodecConfig, NegotiateError};
    use std::net::{IpAddr, Ipv4Addr};

    const OUR_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99));

    fn parse(text: &str) -> SessionDescription {
        SessionDescription::parse(text.replace('\n', "\r\n").as_bytes()).expect("fixture parses")
    }

    fn offer_with(m_lines: &str) -> SessionDescription {
        parse(&format!(
            "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n{m_lines}"
        ))
    }

    fn origin() -> Origin {
        Origin {
            username: "-".into(),
            session_id: 9,
            session_version: 1,
            address: Address::Ip(OUR_IP),
        }
    }

    fn answer(offer: &SessionDescription, config: &MediaConfig) -> Result<Answer, AnswerError> {
        create_answer(offer, config, &origin(), &LocalMedia::new(OUR_IP, 30000))
    }

    fn config(codecs: Vec<CodecConfig>) -> MediaConfig {
        MediaConfig {
            codecs,
            ..MediaConfig::default()
        }
    }

    fn pts(media: &MediaDescription) -> Vec<u8> {
        media.codecs.iter().map(|c| c.payload_type).collect()
    }

    #[test]
    fn a_rejection_refuses_every_offered_line_and_re_parses() {
        let offer =
            offer_with("m=audio 4000 RTP/AVP 18\na=rtpmap:18 G729/8000\nm=image 4002 udptl t38\n");
        let ours = config(vec![CodecConfig::pcmu()]);
        assert!(answer(&offer, &ours).is_err(), "nothing acceptable");
        let local = LocalMedia::new(OUR_IP, 30000);
        let rejection = create_rejection(&offer, &ours, &origin(), &local);
        assert_eq!(rejection.media.len(), 2, "one answer line per offered line");
        assert!(rejection.media.iter().all(MediaDescription::is_rejected));
        let again = SessionDescription::parse(&rejection.to_bytes()).expect("re-parses");
        assert_eq!(again.media.len(), 2);
        assert!(again.media.iter().all(|m| m.port == 0));
    }

    #[test]
    fn intersection_in_offerers_order_with_offerers_payload_types() {
        let offer = offer_with("m=audio 4000 RTP/AVP 8 111 0 9\na=rtpmap:111 opus/48000/2\n");
        let ours = config(vec![
            CodecConfig::pcmu(),
            CodecConfig::opus(),
            CodecConfig::pcma(),
        ]);
        let answer = answer(&offer, &ours).expect("acceptable");
        let audio = &answer.description.media[0];
        assert_eq!(
            pts(audio),
            [8, 111, 0],
            "offerer's order and numbers, G722 dropped"
        );
        assert_eq!(audio.port, 30000);
        assert_eq!(answer.negotiated.codec.payload_type, 8);
        assert!(answer.negotiated.codec.is_encoding("PCMA", 8000, 1));
        assert_eq!(
            answer.negotiated.remote_rtp,
            Some("10.0.0.1:4000".parse().expect("addr"))
        );
        assert_eq!(
            answer.description.connection,
            Some(Connection::ip(OUR_IP)),
            "answer's own c= at session level"
        );
    }

    #[test]
    fn telephone_event_answered_only_when_both_support_it() {
        let offer = offer_with(
            "m=audio 4000 RTP/AVP 0 100\na=rtpmap:100 telephone-event/8000\na=fmtp:100 0-15\n",
        );
        let with = answer(&offer, &MediaConfig::default()).expect("acceptable");
        assert_eq!(pts(&with.description.media[0]), [0, 100]);
        assert_eq!(
            with.description.media[0].codecs[1].fmtp.as_deref(),
            Some("0-16")
        );
        assert_eq!(with.negotiated.telephone_event_pt, Some(100));
        assert_eq!(with.negotiated.local_telephone_event_pt, Some(100));
        let without = answer(&offer, &config(vec![CodecConfig::pcmu()])).expect("acceptable");
        assert_eq!(pts(&without.description.media[0]), [0]);
        assert_eq!(without.negotiated.telephone_event_pt, None);
    }

    #[test]
    fn telephone_event_alone_is_not_a_common_codec() {
        let offer = offer_with("m=audio 4000 RTP/AVP 18 101\na=rtpmap:101 telephone-event/8000\n");
        assert_eq!(
            answer(&offer, &MediaConfig::default()),
            Err(AnswerError::NoAcceptableMedia)
        );
    }

    #[test]
    fn directions_reverse_per_rfc3264_6_1() {
        let cases = [
            ("sendrecv", Direction::SendRecv),
            ("sendonly", Direction::RecvOnly),
            ("recvonly", Direction::SendOnly),
            ("inactive", Direction::Inactive),
        ];
        for (offered, expected) in cases {
            let offer = offer_with(&format!("m=audio 4000 RTP/AVP 0\na={offered}\n"));
            let answer = answer(&offer, &MediaConfig::default()).expect("acceptable");
            assert_eq!(answer.description.media[0].direction, expected, "{offered}");
            assert_eq!(answer.negotiated.direction, expected, "{offered}");
        }
    }

    #[test]
    fn sendrecv_offer_gets_our_direction() {
        let offer = offer_with("m=audio 4000 RTP/AVP 0\n");
        let mut local = LocalMedia::new(OUR_IP, 30000);
        local.direction = Direction::RecvOnly;
        let answer = create_answer(&offer, &MediaConfig::default(), &origin(), &local).expect("ok");
        assert_eq!(answer.description.media[0].direction, Direction::RecvOnly);
    }

    #[test]
    fn unacceptable_streams_are_rejected_with_port_zero_keeping_line_count() {
        let offer = offer_with(
            "m=video 5000 RTP/AVP 96\na=rtpmap:96 H264/90000\n\
             m=audio 0 RTP/AVP 0\n\
             m=audio 4000 RTP/SAVP 0\n\
             m=image 6000 udptl t38\n\
             m=audio 4000 RTP/AVP 18\n\
             m=audio 4002 RTP/AVP 0\n\
             m=audio 4004 RTP/AVP 0\n",
        );
        let answer = answer(&offer, &MediaConfig::default()).expect("one stream acceptable");
        let media = &answer.description.media;
        assert_eq!(media.len(), offer.media.len());
        let ports: Vec<u16> = media.iter().map(|m| m.port).collect();
        assert_eq!(
            ports,
            [0, 0, 0, 0, 0, 30000, 0],
            "only the first usable audio stream"
        );
        assert_eq!(pts(&media[0]), [96]);
        assert_eq!(media[0].codecs[0].fmtp, None);
        assert_eq!(media[3].formats, [Text::from("t38")]);
        assert_eq!(media[3].kind, MediaKind::Image);
        assert_eq!(media[2].proto, Proto::RtpSavp);
        assert_eq!(answer.negotiated.media_index, 5);
        // and the answer with its rejected lines re-parses
        let text = answer.description.to_bytes();
        let reparsed = SessionDescription::parse(&text).expect("answer re-parses");
        assert_eq!(reparsed.media.len(), 7);
    }

    #[test]
    fn no_acceptable_stream_is_an_error_for_488() {
        let offer = offer_with("m=audio 0 RTP/AVP 0\nm=image 6000 udptl t38\n");
        assert_eq!(
            answer(&offer, &MediaConfig::default()),
            Err(AnswerError::NoAcceptableMedia)
        );
        let g729_only = offer_with("m=audio 4000 RTP/AVP 18\n");
        assert_eq!(
            answer(&g729_only, &MediaConfig::default()),
            Err(AnswerError::NoAcceptableMedia)
        );
    }

    #[test]
    fn ptime_echoed_only_when_offered() {
        let with = offer_with("m=audio 4000 RTP/AVP 0\na=ptime:30\n");
        let answer_with = answer(&with, &MediaConfig::default()).expect("ok");
        assert_eq!(answer_with.description.media[0].ptime_ms, Some(30));
        assert_eq!(answer_with.negotiated.ptime_ms, 30);
        let without = offer_with("m=audio 4000 RTP/AVP 0\n");
        let answer_without = answer(&without, &MediaConfig::default()).expect("ok");
        assert_eq!(answer_without.description.media[0].ptime_ms, None);
        assert_eq!(answer_without.negotiated.ptime_ms, 20);
    }

    #[test]
    fn media_level_connection_of_the_offer_is_where_we_send() {
        let offer = parse(
            "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\nc=IN IP4 10.9.9.9\n",
        );
        let answer = answer(&offer, &MediaConfig::default()).expect("ok");
        assert_eq!(
            answer.negotiated.remote_rtp,
            Some("10.9.9.9:4000".parse().expect("addr"))
        );
    }

    #[test]
    fn old_style_hold_offer_is_answered_recvonly_and_we_send_nothing() {
        let offer = parse(
            "v=0\no=- 1 2 IN IP4 10.0.0.1\ns=-\nc=IN IP4 0.0.0.0\nt=0 0\nm=audio 4000 RTP/AVP 0\n",
        );
        let answer = answer(&offer, &MediaConfig::default()).expect("ok");
        assert_eq!(answer.description.media[0].direction, Direction::RecvOnly);
        assert_eq!(answer.negotiated.remote_rtp, None);
    }

    #[test]
    fn a_stream_in_the_other_address_family_is_refused() {
        let v6 = parse(
            "v=0\no=- 1 1 IN IP6 fd00::2\ns=-\nc=IN IP6 fd00::2\nt=0 0\nm=audio 4000 RTP/AVP 0\n",
        );
        assert_eq!(
            answer(&v6, &MediaConfig::default()),
            Err(AnswerError::NoAcceptableMedia),
            "our socket is IPv4: nothing could be sent to fd00::2"
        );
        let both = parse(
            "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\n\
             m=audio 4000 RTP/AVP 0\nc=IN IP6 fd00::2\n\
             m=audio 4002 RTP/AVP 0\nc=IN IP4 10.0.0.1\n",
        );
        let answer = answer(&both, &MediaConfig::default()).expect("the IPv4 stream");
        assert!(answer.description.media[0].is_rejected());
        assert_eq!(
            answer.negotiated.remote_rtp,
            Some("10.0.0.1:4002".parse().expect("addr"))
        );
    }

    #[test]
    fn offer_without_media_is_refused() {
        let offer = parse("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n");
        assert_eq!(
            answer(&offer, &MediaConfig::default()),
            Err(AnswerError::NoMedia)
        );
    }

    #[test]
    fn offerer_reads_answer_with_renumbered_payload_types() {
        // Late offer: our offer goes in the 2xx, the answer comes back in the ACK.
        let ours = MediaConfig::default();
        let offer = crate::sdp::create_offer(&ours, &origin(), &LocalMedia::new(OUR_IP, 30000));
        assert_eq!(pts(&offer.media[0]), [0, 8, 96]);
        let remote = offer_with(
            "m=audio 4000 RTP/AVP 8 101\na=rtpmap:101 telephone-event/8000\na=recvonly\na=ptime:40\n",
        );
        let negotiated = crate::sdp::negotiate(&offer, &remote).expect("common codec");
        assert_eq!(negotiated.codec.payload_type, 8);
        assert_eq!(negotiated.local_payload_type, 8);
        assert_eq!(negotiated.telephone_event_pt, Some(101));
        assert_eq!(negotiated.local_telephone_event_pt, Some(96));
        assert_eq!(
            negotiated.direction,
            Direction::SendOnly,
            "they only receive"
        );
        assert_eq!(negotiated.ptime_ms, 40);
    }

    #[test]
    fn offerer_refuses_answer_with_wrong_line_count_or_no_codec() {
        let ours = MediaConfig::default();
        let offer = crate::sdp::create_offer(&ours, &origin(), &LocalMedia::new(OUR_IP, 30000));
        let two = offer_with("m=audio 4000 RTP/AVP 0\nm=video 0 RTP/AVP 96\n");
        assert_eq!(
            crate::sdp::negotiate(&offer, &two),
            Err(NegotiateError::MediaCountMismatch {
                offered: 1,
                answered: 2
            })
        );
        let rejected = offer_with("m=audio 0 RTP/AVP 0\n");
        assert_eq!(
            crate::sdp::negotiate(&offer, &rejected),
            Err(NegotiateError::NoCommonCodec)
        );
    }
}
