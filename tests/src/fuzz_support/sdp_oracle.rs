//! webrtc-sdp as a differential oracle for our SDP parser.
//!
//! The core once handed webrtc-sdp a normalised copy of each body (the lines it parses
//! well) and read everything else itself; it now reads every line itself. This module
//! keeps that normalisation, and for every body whose normalised copy webrtc-sdp accepts,
//! checks that our parse agrees on what webrtc-sdp read: origin, session name,
//! connection, bandwidth, timing, and for each audio/video stream on an RTP profile its
//! kind, port, protocol, payload types, rtpmap codecs, rtcp, connection, bandwidth and
//! direction. Where webrtc-sdp refuses a body we may accept it (see `core/src/sdp/parse.rs`
//! for where we are deliberately more lenient), so refusals are not compared.
//!
//! Known, deliberate differences the comparison allows for: webrtc-sdp reads host names
//! through WHATWG URL host parsing (lower-cased, IDNA-mapped, percent-decoded, and
//! `127.1`, `0x7f.0.0.1` or `[::1]` read as IP addresses); we keep a host name as written.

use std::net::IpAddr;

use session_core::sdp::{
    Address, Bandwidth, Codec, Connection, Direction, MediaDescription, MediaKind, Proto, SdpError,
    SessionDescription,
};
use webrtc_sdp::address::{AddressType, ExplicitlyTypedAddress};
use webrtc_sdp::attribute_type::SdpAttribute;
use webrtc_sdp::media_type::{SdpFormatList, SdpMedia};
use webrtc_sdp::{SdpBandwidth, SdpConnection, SdpSession};

/// Compares our parse of `data` with webrtc-sdp's parse of its normalised form; panics
/// on a disagreement.
pub fn agree_with_webrtc_sdp(data: &[u8], ours: &Result<SessionDescription, SdpError>) {
    // Refused before the old code ever handed webrtc-sdp anything.
    if let Err(
        SdpError::TooLarge { .. }
        | SdpError::TooManyLines { .. }
        | SdpError::TooManyMedia { .. }
        | SdpError::NotUtf8 { .. }
        | SdpError::MalformedLine { .. }
        | SdpError::BadHeader { .. }
        | SdpError::BadMediaLine { .. },
    ) = ours
    {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (normalised, rtp_streams) = normalise(text);
    let Ok(theirs) = webrtc_sdp::parse_sdp(&normalised, false) else {
        return;
    };
    if theirs.media.len() != rtp_streams {
        // webrtc-sdp dropped an m-line it calls unsupported (a protocol token it does
        // not know once it splits at every whitespace character, `\r` included): the
        // old code refused such a body (its two readings disagreed on the m-line
        // count), and we refuse it too or read the line as the grammar says.
        return;
    }
    let ours = match ours {
        Ok(ours) => ours,
        // Checked only after webrtc-sdp had accepted, in the old code as in ours.
        Err(SdpError::BadPayloadType { .. } | SdpError::BadConnection { .. }) => return,
        Err(e) => panic!("webrtc-sdp accepts what we refuse ({e:?}):\n{normalised}"),
    };
    compare(ours, &theirs, &normalised);
}

/// One non-blank line as the core splits them: type letter (lower-cased) and value.
fn lines(text: &str) -> impl Iterator<Item = (u8, &str)> {
    text.split('\n').filter_map(|raw| {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() || line.len() < 2 {
            return None;
        }
        Some((
            line.as_bytes()[0].to_ascii_lowercase(),
            line[2..].trim_end(),
        ))
    })
}

fn is_direction(value: &str) -> bool {
    let name = value.split_once(':').map_or(value, |(name, _)| name);
    Direction::from_attribute(name).is_some()
}

/// Whether an m-line is an audio/video stream on an RTP profile, tokenised as the core
/// does.
fn is_rtp_stream(m_value: &str) -> bool {
    let mut tokens = m_value.split_whitespace();
    let kind = tokens.next().map(MediaKind::from_token);
    let _port = tokens.next();
    let proto = tokens.next().map(Proto::from_token);
    matches!(kind, Some(MediaKind::Audio | MediaKind::Video))
        && proto.is_some_and(|p| p.is_rtp_profile())
}

/// The text the core used to hand webrtc-sdp: `v o s c b t` and direction attributes of
/// the session, a `t=0 0` when there was none, and for audio/video streams on an RTP
/// profile their `m c b` lines, `a=rtpmap` with a clock rate, `a=rtcp` and directions;
/// and how many such streams there are.
fn normalise(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len() + 8);
    let mut push = |kind: u8, value: &str| {
        out.push(char::from(kind));
        out.push('=');
        out.push_str(value);
        out.push_str("\r\n");
    };
    let mut in_session = true;
    let mut rtp_stream = false;
    let mut has_timing = false;
    let mut session_done = false;
    let mut rtp_streams = 0;
    for (kind, value) in lines(text) {
        if kind == b'm' {
            if in_session && !has_timing {
                push(b't', "0 0");
            }
            in_session = false;
            session_done = true;
            rtp_stream = is_rtp_stream(value);
            rtp_streams += usize::from(rtp_stream);
        }
        let forward = if in_session {
            match kind {
                b'v' | b'o' | b's' | b'c' | b'b' => true,
                b't' => {
                    has_timing = true;
                    true
                }
                b'a' => is_direction(value),
                _ => false,
            }
        } else {
            rtp_stream
                && match kind {
                    b'm' | b'c' | b'b' => true,
                    b'a' => {
                        let (name, attr) = value
                            .split_once(':')
                            .map_or((value, None), |(n, v)| (n, Some(v)));
                        if name.eq_ignore_ascii_case("rtpmap") {
                            attr.is_some_and(|v| v.contains('/'))
                        } else {
                            name.eq_ignore_ascii_case("rtcp") || is_direction(value)
                        }
                    }
                    _ => false,
                }
        };
        if forward {
            push(kind, value);
        }
    }
    if !session_done && !has_timing {
        push(b't', "0 0");
    }
    (out, rtp_streams)
}

fn compare(ours: &SessionDescription, theirs: &SdpSession, text: &str) {
    let origin = &theirs.origin;
    assert_eq!(&*ours.origin.username, origin.username, "o= user\n{text}");
    assert_eq!(ours.origin.session_id, origin.session_id, "o= id\n{text}");
    assert_eq!(
        ours.origin.session_version, origin.session_version,
        "o= version\n{text}"
    );
    assert!(
        same_address(&ours.origin.address, &origin.unicast_addr),
        "o= address {:?} / {:?}\n{text}",
        ours.origin.address,
        origin.unicast_addr
    );
    let name = match theirs.get_session_text().trim() {
        "" => "-",
        name => name,
    };
    assert_eq!(&*ours.session_name, name, "s=\n{text}");
    same_connection(ours.connection.as_ref(), theirs.connection.as_ref(), text);
    same_bandwidth(&ours.bandwidth, &theirs.bandwidth, text);
    let timing = theirs.timing.as_ref().map_or((0, 0), |t| (t.start, t.stop));
    assert_eq!((ours.timing.start, ours.timing.stop), timing, "t=\n{text}");
    let session_direction = theirs.attribute.iter().find_map(direction_of);
    let ours_rtp: Vec<&MediaDescription> = ours
        .media
        .iter()
        .filter(|m| {
            matches!(m.kind, MediaKind::Audio | MediaKind::Video) && m.proto.is_rtp_profile()
        })
        .collect();
    assert_eq!(ours_rtp.len(), theirs.media.len(), "RTP streams\n{text}");
    for (ours, theirs) in ours_rtp.into_iter().zip(&theirs.media) {
        same_media(ours, theirs, session_direction, text);
    }
}

fn same_media(
    ours: &MediaDescription,
    theirs: &SdpMedia,
    session_direction: Option<Direction>,
    text: &str,
) {
    assert_eq!(
        ours.kind.as_str(),
        theirs.get_type().to_string(),
        "m= kind\n{text}"
    );
    assert_eq!(u32::from(ours.port), theirs.get_port(), "m= port\n{text}");
    assert_eq!(
        ours.port_count.map_or(0, u32::from),
        theirs.get_port_count(),
        "m= port count\n{text}"
    );
    assert!(
        ours.proto
            .as_str()
            .eq_ignore_ascii_case(&theirs.get_proto().to_string()),
        "m= proto\n{text}"
    );
    let SdpFormatList::Integers(formats) = theirs.get_formats() else {
        panic!("webrtc-sdp read an RTP stream's formats as strings\n{text}");
    };
    let ours_formats: Vec<u32> = ours
        .codecs
        .iter()
        .map(|c| u32::from(c.payload_type))
        .collect();
    assert_eq!(&ours_formats, formats, "m= formats\n{text}");
    let attributes = theirs.get_attributes();
    for codec in &ours.codecs {
        let rtpmap = attributes.iter().find_map(|a| match a {
            SdpAttribute::Rtpmap(map) if map.payload_type == codec.payload_type => Some(map),
            _ => None,
        });
        let expected = match rtpmap {
            Some(map) => Codec::new(
                codec.payload_type,
                &map.codec_name,
                map.frequency,
                map.channels
                    .map_or(1, |c| u16::try_from(c).unwrap_or(u16::MAX)),
            ),
            None => Codec::from_static(codec.payload_type)
                .unwrap_or_else(|| Codec::unmapped(codec.payload_type)),
        };
        assert_eq!(
            (&*codec.name, codec.clock_rate, codec.channels),
            (&*expected.name, expected.clock_rate, expected.channels),
            "a=rtpmap for {}\n{text}",
            codec.payload_type
        );
    }
    let rtcp = attributes.iter().find_map(|a| match a {
        SdpAttribute::Rtcp(rtcp) => Some(rtcp),
        _ => None,
    });
    match (&ours.rtcp, rtcp) {
        (None, None) => {}
        (Some(ours), Some(theirs)) => {
            assert_eq!(ours.port, theirs.port, "a=rtcp port\n{text}");
            match (&ours.address, &theirs.unicast_addr) {
                (None, None) => {}
                (Some(a), Some(b)) => assert!(same_address(a, b), "a=rtcp address\n{text}"),
                _ => panic!("a=rtcp address\n{text}"),
            }
        }
        _ => panic!("a=rtcp\n{text}"),
    }
    let direction = attributes
        .iter()
        .find_map(direction_of)
        .or(session_direction)
        .unwrap_or_default();
    assert_eq!(ours.direction, direction, "direction\n{text}");
    same_connection(
        ours.connection.as_ref(),
        theirs.get_connection().as_ref(),
        text,
    );
    same_bandwidth(&ours.bandwidth, theirs.get_bandwidth(), text);
}

fn direction_of(attribute: &SdpAttribute) -> Option<Direction> {
    match attribute {
        SdpAttribute::Sendrecv => Some(Direction::SendRecv),
        SdpAttribute::Sendonly => Some(Direction::SendOnly),
        SdpAttribute::Recvonly => Some(Direction::RecvOnly),
        SdpAttribute::Inactive => Some(Direction::Inactive),
        _ => None,
    }
}

fn same_connection(ours: Option<&Connection>, theirs: Option<&SdpConnection>, text: &str) {
    match (ours, theirs) {
        (None, None) => {}
        (Some(ours), Some(theirs)) => {
            assert!(
                same_address(&ours.address, &theirs.address),
                "c= address {:?} / {:?}\n{text}",
                ours.address,
                theirs.address
            );
            assert_eq!(ours.ttl, theirs.ttl, "c= ttl\n{text}");
            assert_eq!(ours.count, theirs.amount, "c= count\n{text}");
        }
        _ => panic!("c= {ours:?} / {theirs:?}\n{text}"),
    }
}

fn same_bandwidth(ours: &[Bandwidth], theirs: &[SdpBandwidth], text: &str) {
    assert_eq!(ours.len(), theirs.len(), "b= lines\n{text}");
    for (ours, theirs) in ours.iter().zip(theirs) {
        let (modifier, value) = match theirs {
            SdpBandwidth::As(v) => ("AS", *v),
            SdpBandwidth::Ct(v) => ("CT", *v),
            SdpBandwidth::Tias(v) => ("TIAS", *v),
            SdpBandwidth::Unknown(m, v) => (m.as_str(), *v),
        };
        assert_eq!(
            (&*ours.modifier, ours.value),
            (modifier, value),
            "b=\n{text}"
        );
    }
}

/// Whether two addresses agree, allowing for webrtc-sdp's URL reading of host names.
fn same_address(ours: &Address, theirs: &ExplicitlyTypedAddress) -> bool {
    match (ours, theirs) {
        (Address::Ip(a), ExplicitlyTypedAddress::Ip(b)) => a == b,
        (
            Address::Fqdn { ipv6, host },
            ExplicitlyTypedAddress::Fqdn {
                address_type,
                domain,
            },
        ) => {
            *ipv6 == (*address_type == AddressType::IpV6)
                && (host.eq_ignore_ascii_case(domain) || !plain_host_name(host))
        }
        // `127.1`, `0x7f.0.0.1`, `[::1]`: IP addresses to a URL parser, names to us.
        (Address::Fqdn { host, .. }, ExplicitlyTypedAddress::Ip(_)) => {
            host.parse::<IpAddr>().is_err()
        }
        (Address::Ip(_), ExplicitlyTypedAddress::Fqdn { .. }) => false,
    }
}

/// A host name in RFC 8866's FQDN grammar (letters, digits, `-`, `.`), which a URL
/// parser only lower-cases.
fn plain_host_name(host: &str) -> bool {
    host.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}
