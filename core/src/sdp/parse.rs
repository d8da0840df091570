//! Parsing: webrtc-sdp behind a normalisation step (RFC 4566 §5).
//!
//! webrtc-sdp is a WebRTC-minded parser: it refuses `p=`, `u=`, `e=`, `k=` lines (one of
//! them fails the whole body), drops m-lines whose protocol it does not know (`m=image …
//! udptl t38`) — attaching their attributes to the stream before — and drops attributes
//! it does not know. So the wrapper reads the body's lines itself first:
//!
//! 1. bounds (bytes, lines, m-lines), UTF-8, `<letter>=<value>` shape, `v=`/`o=`/`s=` first;
//! 2. splits the body into the session part and one section per m-line;
//! 3. hands webrtc-sdp a normalised text with only the lines it parses well: `v o s c b t`,
//!    direction attributes, and for audio/video streams on an RTP profile their `m c b`
//!    lines and `a=rtpmap`/`rtcp`/direction; a missing `t=` becomes
//!    `t=0 0`; `i u e p k r z` lines are dropped;
//! 4. builds our [`SessionDescription`] from webrtc-sdp's result for what it parsed, and
//!    from its own reading for everything else: every other m-section ("opaque": T.38,
//!    WebRTC profiles, unknown media) with its `c=`, `b=` and attributes, `a=fmtp`
//!    (kept verbatim), `a=ptime`/`a=maxptime` (read leniently: `20.0` is 20), and every
//!    other attribute, verbatim and in order.
//!
//! So the result always has as many media descriptions as the body has m-lines.

use std::net::IpAddr;

use webrtc_sdp::address::{AddressType, ExplicitlyTypedAddress};
use webrtc_sdp::attribute_type::SdpAttribute;
use webrtc_sdp::error::SdpParserError;
use webrtc_sdp::media_type::{SdpFormatList, SdpMedia};
use webrtc_sdp::{SdpBandwidth, SdpConnection, SdpSession};

use super::codec::{Codec, MAX_PAYLOAD_TYPE};
use super::direction::Direction;
use super::error::{RejectKind, SdpError};
use super::types::{
    Address, Attribute, Bandwidth, Connection, MediaDescription, MediaKind, Origin, Proto, Rtcp,
    SessionDescription, Timing,
};

/// Bounds on what the parser accepts, so a hostile body costs bounded time and memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdpLimits {
    /// Largest body in bytes (default 16 KiB; a rich phone offer is under 2 KiB).
    pub max_bytes: usize,
    /// Most non-blank lines (default 512).
    pub max_lines: usize,
    /// Most m-lines (default 16).
    pub max_media: usize,
}

impl Default for SdpLimits {
    fn default() -> Self {
        SdpLimits {
            max_bytes: 16 * 1024,
            max_lines: 512,
            max_media: 16,
        }
    }
}

/// Most formats on one m-line: there are only 128 payload types.
const MAX_FORMATS: usize = 128;

impl SessionDescription {
    /// Parses a body with the default [`SdpLimits`].
    pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
        SessionDescription::parse_with_limits(body, &SdpLimits::default())
    }

    /// Parses a body, refusing anything beyond `limits`.
    pub fn parse_with_limits(
        body: &[u8],
        limits: &SdpLimits,
    ) -> Result<SessionDescription, SdpError> {
        if body.len() > limits.max_bytes {
            return Err(SdpError::TooLarge {
                len: body.len(),
                max: limits.max_bytes,
            });
        }
        let text = std::str::from_utf8(body).map_err(|e| SdpError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        let lines = split_lines(text, limits)?;
        let sections = split_sections(&lines, limits)?;
        let normalised = normalise(&lines, &sections);
        let parsed = webrtc_sdp::parse_sdp(&normalised.text, false)
            .map_err(|e| rejected(&e, &normalised.line_map))?;
        build(&lines, &sections, &parsed)
    }
}

/// One non-blank line of the body: its type letter (lower-cased), its value, its number.
#[derive(Clone, Copy, Debug)]
struct RawLine<'a> {
    kind: u8,
    value: &'a str,
    line: usize,
}

/// An m-section: the index range of its lines (m-line first) and what the m-line says.
#[derive(Debug)]
struct Section<'a> {
    start: usize,
    end: usize,
    m: MLine<'a>,
    /// Whether webrtc-sdp parses this section (audio/video on an RTP profile).
    delegated: bool,
}

/// The tokens of an m-line, read by the wrapper.
#[derive(Debug)]
struct MLine<'a> {
    kind: MediaKind,
    port: u16,
    port_count: Option<u16>,
    proto: Proto,
    formats: Vec<&'a str>,
}

/// Text for webrtc-sdp, and for each of its lines the body's line number.
struct Normalised {
    text: String,
    line_map: Vec<usize>,
}

fn split_lines<'a>(text: &'a str, limits: &SdpLimits) -> Result<Vec<RawLine<'a>>, SdpError> {
    let mut lines = Vec::with_capacity(32);
    for (index, raw) in text.split('\n').enumerate() {
        let line = index + 1;
        let trimmed = raw.strip_suffix('\r').unwrap_or(raw);
        if trimmed.trim().is_empty() {
            continue;
        }
        if lines.len() == limits.max_lines {
            return Err(SdpError::TooManyLines {
                max: limits.max_lines,
            });
        }
        let bytes = trimmed.as_bytes();
        if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_alphabetic() {
            return Err(SdpError::MalformedLine { line });
        }
        lines.push(RawLine {
            kind: bytes[0].to_ascii_lowercase(),
            value: trimmed[2..].trim_end(),
            line,
        });
    }
    let header_ok = |i: usize, kind: u8| lines.get(i).is_some_and(|l: &RawLine<'_>| l.kind == kind);
    for (i, kind) in [b'v', b'o', b's'].into_iter().enumerate() {
        if !header_ok(i, kind) {
            let line = lines.get(i).map_or(0, |l| l.line);
            return Err(SdpError::BadHeader { line });
        }
    }
    if lines[0].value.trim() != "0" {
        return Err(SdpError::BadHeader {
            line: lines[0].line,
        });
    }
    Ok(lines)
}

fn split_sections<'a>(
    lines: &[RawLine<'a>],
    limits: &SdpLimits,
) -> Result<Vec<Section<'a>>, SdpError> {
    let mut sections: Vec<Section<'a>> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.kind != b'm' {
            continue;
        }
        if sections.len() == limits.max_media {
            return Err(SdpError::TooManyMedia {
                max: limits.max_media,
            });
        }
        if let Some(last) = sections.last_mut() {
            last.end = i;
        }
        let m = parse_m_line(line.value, line.line)?;
        let delegated =
            matches!(m.kind, MediaKind::Audio | MediaKind::Video) && m.proto.is_rtp_profile();
        sections.push(Section {
            start: i,
            end: lines.len(),
            m,
            delegated,
        });
    }
    Ok(sections)
}

fn parse_m_line(value: &str, line: usize) -> Result<MLine<'_>, SdpError> {
    let bad = SdpError::BadMediaLine { line };
    let mut tokens = value.split_ascii_whitespace();
    let kind = MediaKind::from_token(tokens.next().ok_or(bad.clone())?);
    let port_token = tokens.next().ok_or(bad.clone())?;
    let (port, port_count) = match port_token.split_once('/') {
        Some((port, count)) => (port, Some(count.parse::<u16>().map_err(|_| bad.clone())?)),
        None => (port_token, None),
    };
    let port = port.parse::<u16>().map_err(|_| bad.clone())?;
    let proto = Proto::from_token(tokens.next().ok_or(bad.clone())?);
    let formats: Vec<&str> = tokens.collect();
    if formats.len() > MAX_FORMATS || (proto.is_rtp_profile() && formats.is_empty()) {
        return Err(bad);
    }
    Ok(MLine {
        kind,
        port,
        port_count,
        proto,
        formats,
    })
}

/// The attributes whose typed form webrtc-sdp gives us (besides the m/c/b lines). An
/// `a=rtpmap` without a clock rate (`a=rtpmap:31 LPC`, RFC 4475 §3.1.1.1) is valid SDP
/// grammar that webrtc-sdp refuses: it is kept verbatim instead, and the payload type is
/// read as static or unmapped.
fn forwarded_attribute(name: &str, value: Option<&str>) -> bool {
    if name.eq_ignore_ascii_case("rtpmap") {
        return value.is_some_and(|v| v.contains('/'));
    }
    Direction::from_attribute(name).is_some() || name.eq_ignore_ascii_case("rtcp")
}

fn normalise(lines: &[RawLine<'_>], sections: &[Section<'_>]) -> Normalised {
    let mut out = Normalised {
        text: String::with_capacity(lines.iter().map(|l| l.value.len() + 4).sum::<usize>() + 8),
        line_map: Vec::with_capacity(lines.len() + 1),
    };
    let session_end = sections.first().map_or(lines.len(), |s| s.start);
    let mut has_timing = false;
    for line in &lines[..session_end] {
        let forward = match line.kind {
            b'v' | b'o' | b's' | b'c' | b'b' => true,
            b't' => {
                has_timing = true;
                true
            }
            b'a' => Direction::from_attribute(split_attribute(line.value).0).is_some(),
            _ => false,
        };
        if forward {
            push_line(&mut out, line.kind, line.value, line.line);
        }
    }
    if !has_timing {
        push_line(&mut out, b't', "0 0", 0);
    }
    for section in sections.iter().filter(|s| s.delegated) {
        for line in &lines[section.start..section.end] {
            let forward = match line.kind {
                b'm' | b'c' | b'b' => true,
                b'a' => {
                    let (name, value) = split_attribute(line.value);
                    forwarded_attribute(name, value)
                }
                _ => false,
            };
            if forward {
                push_line(&mut out, line.kind, line.value, line.line);
            }
        }
    }
    out
}

fn push_line(out: &mut Normalised, kind: u8, value: &str, line: usize) {
    out.text.push(char::from(kind));
    out.text.push('=');
    out.text.push_str(value);
    out.text.push_str("\r\n");
    out.line_map.push(line);
}

fn rejected(error: &SdpParserError, line_map: &[usize]) -> SdpError {
    let (index, kind) = match error {
        SdpParserError::Line { line_number, .. } => (*line_number, RejectKind::Syntax),
        SdpParserError::Unsupported { line_number, .. } => (*line_number, RejectKind::Unsupported),
        SdpParserError::Sequence { line_number, .. } => (*line_number, RejectKind::Sequence),
    };
    // webrtc-sdp reports whole-description sequence problems (a stream without `c=`) at
    // line 0: that blames no line, not our first one.
    let line = match (kind, index) {
        (RejectKind::Sequence, 0) => 0,
        _ => line_map.get(index).copied().unwrap_or(0),
    };
    SdpError::Rejected { line, kind }
}

fn build(
    lines: &[RawLine<'_>],
    sections: &[Section<'_>],
    parsed: &SdpSession,
) -> Result<SessionDescription, SdpError> {
    let delegated = sections.iter().filter(|s| s.delegated).count();
    if parsed.media.len() != delegated {
        return Err(SdpError::MediaCountMismatch {
            expected: delegated,
            got: parsed.media.len(),
        });
    }
    let session_end = sections.first().map_or(lines.len(), |s| s.start);
    let attributes = lines[..session_end]
        .iter()
        .filter(|l| l.kind == b'a')
        .filter(|l| Direction::from_attribute(split_attribute(l.value).0).is_none())
        .map(|l| verbatim_attribute(l.value))
        .collect();
    let session_direction = parsed.attribute.iter().find_map(direction_of);
    let origin = &parsed.origin;
    let mut description = SessionDescription {
        origin: Origin {
            username: origin.username.as_str().into(),
            session_id: origin.session_id,
            session_version: origin.session_version,
            address: address(&origin.unicast_addr),
        },
        session_name: session_name(parsed.get_session_text()),
        connection: parsed.connection.as_ref().map(connection),
        bandwidth: parsed.bandwidth.iter().map(bandwidth).collect(),
        timing: parsed
            .timing
            .as_ref()
            .map_or(Timing::default(), |t| Timing {
                start: t.start,
                stop: t.stop,
            }),
        attributes,
        media: Vec::with_capacity(sections.len()),
    };
    let mut parsed_media = parsed.media.iter();
    for section in sections {
        let section_lines = &lines[section.start..section.end];
        let media = if section.delegated {
            // The count was checked above: one parsed section per delegated one.
            let Some(parsed) = parsed_media.next() else {
                return Err(SdpError::MediaCountMismatch {
                    expected: delegated,
                    got: parsed.media.len(),
                });
            };
            delegated_media(section, section_lines, parsed, session_direction)?
        } else {
            opaque_media(section, section_lines, session_direction)?
        };
        description.media.push(media);
    }
    Ok(description)
}

fn delegated_media(
    section: &Section<'_>,
    lines: &[RawLine<'_>],
    parsed: &SdpMedia,
    session_direction: Option<Direction>,
) -> Result<MediaDescription, SdpError> {
    let m_line = lines[0].line;
    let port =
        u16::try_from(parsed.get_port()).map_err(|_| SdpError::BadMediaLine { line: m_line })?;
    let mut media = MediaDescription::new(section.m.kind.clone(), port, section.m.proto.clone());
    media.port_count = section.m.port_count;
    media.connection = parsed.get_connection().as_ref().map(connection);
    media.bandwidth = parsed.get_bandwidth().iter().map(bandwidth).collect();
    let attributes = parsed.get_attributes();
    media.direction = attributes
        .iter()
        .find_map(direction_of)
        .or(session_direction)
        .unwrap_or_default();
    if let Some(rtcp) = attributes.iter().find_map(|a| match a {
        SdpAttribute::Rtcp(rtcp) => Some(rtcp),
        _ => None,
    }) {
        media.rtcp = Some(Rtcp {
            port: rtcp.port,
            address: rtcp.unicast_addr.as_ref().map(address),
        });
    }
    let SdpFormatList::Integers(formats) = parsed.get_formats() else {
        return Err(SdpError::BadMediaLine { line: m_line });
    };
    let mut payload_types = Vec::with_capacity(formats.len());
    for &format in formats {
        let payload_type = u8::try_from(format)
            .ok()
            .filter(|pt| *pt <= MAX_PAYLOAD_TYPE)
            .ok_or(SdpError::BadPayloadType { line: m_line })?;
        payload_types.push(payload_type);
    }
    // Our own pass over the section's attributes: fmtp (verbatim, one per listed payload
    // type), ptime/maxptime (leniently), and everything webrtc-sdp did not see, in order.
    let mut fmtps: Vec<(u8, &str)> = Vec::new();
    for line in lines.iter().filter(|l| l.kind == b'a') {
        let (name, value) = split_attribute(line.value);
        if forwarded_attribute(name, value) {
            continue;
        }
        if let Some((pt, params)) = fmtp(name, value) {
            if payload_types.contains(&pt) && !fmtps.iter().any(|(p, _)| *p == pt) {
                fmtps.push((pt, params));
                continue;
            }
        }
        if !read_packet_time(&mut media, name, value) {
            media.attributes.push(verbatim_attribute(line.value));
        }
    }
    media.codecs.reserve(payload_types.len());
    for payload_type in payload_types {
        let mut codec = attributes
            .iter()
            .find_map(|a| match a {
                SdpAttribute::Rtpmap(map) if map.payload_type == payload_type => Some(Codec::new(
                    payload_type,
                    &map.codec_name,
                    map.frequency,
                    map.channels.map_or(1, saturate_u16),
                )),
                _ => None,
            })
            .or_else(|| Codec::from_static(payload_type))
            .unwrap_or_else(|| Codec::unmapped(payload_type));
        codec.fmtp = fmtps
            .iter()
            .find(|(pt, _)| *pt == payload_type)
            .map(|(_, params)| Box::<str>::from(*params));
        media.codecs.push(codec);
    }
    Ok(media)
}

fn opaque_media(
    section: &Section<'_>,
    lines: &[RawLine<'_>],
    session_direction: Option<Direction>,
) -> Result<MediaDescription, SdpError> {
    let m = &section.m;
    let mut media = MediaDescription::new(m.kind.clone(), m.port, m.proto.clone());
    media.port_count = m.port_count;
    media.formats = m.formats.iter().map(|f| Box::<str>::from(*f)).collect();
    let mut direction = None;
    for line in &lines[1..] {
        match line.kind {
            b'c' if media.connection.is_none() => {
                media.connection = Some(parse_connection(line.value, line.line)?);
            }
            b'b' => {
                if let Some(b) = parse_bandwidth(line.value) {
                    media.bandwidth.push(b);
                }
            }
            b'a' => {
                let (name, value) = split_attribute(line.value);
                match Direction::from_attribute(name) {
                    Some(d) if direction.is_none() => direction = Some(d),
                    Some(_) => {}
                    None if read_packet_time(&mut media, name, value) => {}
                    None => media.attributes.push(verbatim_attribute(line.value)),
                }
            }
            _ => {}
        }
    }
    media.direction = direction.or(session_direction).unwrap_or_default();
    Ok(media)
}

/// `c=IN IP4 192.0.2.1[/ttl[/count]]`, for sections webrtc-sdp does not see.
fn parse_connection(value: &str, line: usize) -> Result<Connection, SdpError> {
    let bad = SdpError::BadConnection { line };
    let mut tokens = value.split_ascii_whitespace();
    let (Some(net), Some(addr_type), Some(addr), None) =
        (tokens.next(), tokens.next(), tokens.next(), tokens.next())
    else {
        return Err(bad);
    };
    if !net.eq_ignore_ascii_case("IN") {
        return Err(bad);
    }
    let ipv6 = if addr_type.eq_ignore_ascii_case("IP6") {
        true
    } else if addr_type.eq_ignore_ascii_case("IP4") {
        false
    } else {
        return Err(bad);
    };
    let mut parts = addr.split('/');
    let host = parts.next().unwrap_or_default();
    let ttl = parts
        .next()
        .map(str::parse::<u8>)
        .transpose()
        .map_err(|_| bad.clone())?;
    let count = parts
        .next()
        .map(str::parse::<u32>)
        .transpose()
        .map_err(|_| bad.clone())?;
    let address = match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_ipv6() == ipv6 => Address::Ip(ip),
        Ok(_) => return Err(bad),
        Err(_) if !host.is_empty() => Address::Fqdn {
            ipv6,
            host: host.into(),
        },
        Err(_) => return Err(bad),
    };
    Ok(Connection {
        address,
        ttl,
        count,
    })
}

/// `b=AS:64`; a malformed one in a section webrtc-sdp does not see is dropped.
fn parse_bandwidth(value: &str) -> Option<Bandwidth> {
    let (modifier, value) = value.split_once(':')?;
    Some(Bandwidth {
        modifier: modifier.trim().into(),
        value: value.trim().parse().ok()?,
    })
}

/// `a=fmtp:<pt> <params>` split into payload type and verbatim parameters; `None` for
/// any other attribute or a malformed fmtp (which is then kept verbatim).
fn fmtp<'a>(name: &str, value: Option<&'a str>) -> Option<(u8, &'a str)> {
    if !name.eq_ignore_ascii_case("fmtp") {
        return None;
    }
    let (pt, params) = value?
        .trim_start()
        .split_once(|c: char| c.is_ascii_whitespace())?;
    Some((pt.parse().ok()?, params.trim()))
}

/// Reads `a=ptime`/`a=maxptime` into the stream, leniently (`20`, `20.0`): webrtc-sdp
/// would refuse the whole body for a decimal. Returns whether the attribute was one of
/// them and readable (the first of each wins; a later one is dropped).
fn read_packet_time(media: &mut MediaDescription, name: &str, value: Option<&str>) -> bool {
    let slot = if name.eq_ignore_ascii_case("ptime") {
        &mut media.ptime_ms
    } else if name.eq_ignore_ascii_case("maxptime") {
        &mut media.maxptime_ms
    } else {
        return false;
    };
    let Some(value) = value.map(str::trim) else {
        return false;
    };
    let whole = value.split_once('.').map_or(value, |(whole, _)| whole);
    let Ok(ms) = whole.parse::<u32>() else {
        return false;
    };
    slot.get_or_insert(ms);
    true
}

fn split_attribute(value: &str) -> (&str, Option<&str>) {
    match value.split_once(':') {
        Some((name, value)) => (name, Some(value)),
        None => (value, None),
    }
}

fn verbatim_attribute(value: &str) -> Attribute {
    let (name, value) = split_attribute(value);
    Attribute {
        name: name.into(),
        value: value.map(Into::into),
    }
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

fn address(address: &ExplicitlyTypedAddress) -> Address {
    match address {
        ExplicitlyTypedAddress::Ip(ip) => Address::Ip(*ip),
        ExplicitlyTypedAddress::Fqdn {
            address_type,
            domain,
        } => Address::Fqdn {
            ipv6: *address_type == AddressType::IpV6,
            host: domain.as_str().into(),
        },
    }
}

fn connection(c: &SdpConnection) -> Connection {
    Connection {
        address: address(&c.address),
        ttl: c.ttl,
        count: c.amount,
    }
}

fn bandwidth(b: &SdpBandwidth) -> Bandwidth {
    let (modifier, value) = match b {
        SdpBandwidth::As(v) => ("AS", *v),
        SdpBandwidth::Ct(v) => ("CT", *v),
        SdpBandwidth::Tias(v) => ("TIAS", *v),
        SdpBandwidth::Unknown(m, v) => (m.as_str(), *v),
    };
    Bandwidth {
        modifier: modifier.into(),
        value,
    }
}

/// An empty `s=` (which webrtc-sdp reports as a space) becomes `-`, as we write it.
fn session_name(text: &str) -> Box<str> {
    match text.trim() {
        "" => "-".into(),
        name => name.into(),
    }
}

fn saturate_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn parse(text: &str) -> Result<SessionDescription, SdpError> {
        SessionDescription::parse(text.replace('\n', "\r\n").as_bytes())
    }

    const BASIC: &str = "v=0
o=alice 2890844526 2890844527 IN IP4 192.0.2.10
s=-
c=IN IP4 192.0.2.10
t=0 0
m=audio 49170 RTP/AVP 0 8 97 101
a=rtpmap:97 opus/48000/2
a=fmtp:97 useinbandfec=1; stereo=0
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=rtcp:49171
a=label:1
a=rtcp-fb:* nack
a=sendonly
";

    #[test]
    fn parses_origin_connection_and_codecs() {
        let sdp = parse(BASIC).expect("valid");
        assert_eq!(&*sdp.origin.username, "alice");
        assert_eq!(sdp.origin.session_id, 2890844526);
        assert_eq!(sdp.origin.session_version, 2890844527);
        assert_eq!(
            sdp.connection,
            Some(Connection::ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))))
        );
        let audio = &sdp.media[0];
        assert_eq!(audio.kind, MediaKind::Audio);
        assert_eq!(audio.port, 49170);
        let names: Vec<(u8, &str, u32, u16)> = audio
            .codecs
            .iter()
            .map(|c| (c.payload_type, &*c.name, c.clock_rate, c.channels))
            .collect();
        assert_eq!(
            names,
            [
                (0, "PCMU", 8000, 1),
                (8, "PCMA", 8000, 1),
                (97, "opus", 48000, 2),
                (101, "telephone-event", 8000, 1)
            ]
        );
        assert_eq!(
            audio.codecs[2].fmtp.as_deref(),
            Some("useinbandfec=1; stereo=0")
        );
        assert_eq!(audio.codecs[3].fmtp.as_deref(), Some("0-16"));
        assert_eq!(audio.ptime_ms, Some(20));
        assert_eq!(audio.rtcp.as_ref().map(|r| r.port), Some(49171));
        assert_eq!(
            sdp.rtcp_destination(0),
            Some("192.0.2.10:49171".parse().unwrap()),
            "RTCP goes where a=rtcp says (RFC 3605)"
        );
        let mut moved = sdp.clone();
        if let Some(rtcp) = moved.media[0].rtcp.as_mut() {
            rtcp.port = 50000;
        }
        assert_eq!(moved.rtcp_destination(0).map(|a| a.port()), Some(50000));
        moved.media[0].rtcp = None;
        assert_eq!(
            moved.rtcp_destination(0),
            Some("192.0.2.10:49171".parse().unwrap()),
            "else to the RTP port + 1 (RFC 3550 §11)"
        );
        assert_eq!(audio.direction, Direction::SendOnly);
        let kept: Vec<&str> = audio.attributes.iter().map(|a| &*a.name).collect();
        assert_eq!(
            kept,
            ["label", "rtcp-fb"],
            "unknown attributes kept in order"
        );
        assert_eq!(
            audio.attribute("rtcp-fb").and_then(|a| a.value.as_deref()),
            Some("* nack")
        );
    }

    #[test]
    fn strips_lines_webrtc_sdp_refuses() {
        let text = "v=0
o=- 1 1 IN IP4 10.0.0.1
s=Polycom
i=A call
u=http://example.com/
e=admin@example.com
p=+1 555 0100
c=IN IP4 10.0.0.1
t=0 0
r=7d 1h 0 25h
k=clear:secret
m=audio 16384 RTP/AVP 0
i=voice
k=prompt
";
        let raw = text.replace('\n', "\r\n");
        assert!(
            webrtc_sdp::parse_sdp(&raw, false).is_err(),
            "webrtc-sdp alone refuses"
        );
        let sdp = parse(text).expect("refused lines are stripped");
        assert_eq!(sdp.media.len(), 1);
        assert_eq!(&*sdp.session_name, "Polycom");
    }

    #[test]
    fn keeps_t38_image_line_webrtc_sdp_would_drop() {
        let text = "v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=audio 0 RTP/AVP 0
m=image 40000 udptl t38
c=IN IP4 10.0.0.2
a=T38FaxVersion:0
a=T38FaxRateManagement:transferredTCF
a=T38FaxUdpEC:t38UDPRedundancy
";
        let raw = text.replace('\n', "\r\n");
        let alone = webrtc_sdp::parse_sdp(&raw, false).expect("webrtc-sdp parses it");
        assert_eq!(
            alone.media.len(),
            1,
            "webrtc-sdp alone drops the image line"
        );
        let sdp = parse(text).expect("valid");
        assert_eq!(sdp.media.len(), 2);
        let image = &sdp.media[1];
        assert_eq!(image.kind, MediaKind::Image);
        assert_eq!(image.proto, Proto::Udptl);
        assert_eq!(image.port, 40000);
        assert_eq!(image.formats, [Box::<str>::from("t38")]);
        assert_eq!(
            image.connection,
            Some(Connection::ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))))
        );
        assert_eq!(image.attributes.len(), 3);
        assert!(
            sdp.media[0].attributes.is_empty(),
            "T.38 attributes stay with their m-line"
        );
    }

    #[test]
    fn keeps_sections_on_profiles_webrtc_sdp_does_not_know_in_order() {
        let text = "v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=message 9 TCP/MSRP *
a=accept-types:text/plain
m=audio 4000 RTP/AVP 0
m=video 0 UDP/TLS/RTP/SAVPF 96
";
        let sdp = parse(text).expect("valid");
        let kinds: Vec<&str> = sdp.media.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(kinds, ["message", "audio", "video"]);
        assert_eq!(sdp.media[2].formats, [Box::<str>::from("96")]);
        assert_eq!(sdp.media[1].codecs.len(), 1);
    }

    #[test]
    fn static_types_without_rtpmap_and_unmapped_dynamic_ones() {
        let text = "v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=audio 4000 RTP/AVP 9 18 98
";
        let sdp = parse(text).expect("valid");
        let codecs = &sdp.media[0].codecs;
        assert!(codecs[0].is_encoding("G722", 8000, 1));
        assert!(codecs[1].is_encoding("G729", 8000, 1));
        assert_eq!(codecs[2], Codec::unmapped(98));
    }

    #[test]
    fn missing_timing_line_is_tolerated() {
        let text = "v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
m=audio 4000 RTP/AVP 0
";
        assert_eq!(parse(text).expect("t= inserted").timing, Timing::default());
    }

    #[test]
    fn session_level_direction_applies_to_streams_without_one() {
        let text = "v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
a=recvonly
m=audio 4000 RTP/AVP 0
m=audio 4002 RTP/AVP 0
a=inactive
";
        let sdp = parse(text).expect("valid");
        assert_eq!(sdp.media[0].direction, Direction::RecvOnly);
        assert_eq!(sdp.media[1].direction, Direction::Inactive);
        assert!(sdp.attributes.is_empty());
    }

    #[test]
    fn ipv6_addresses() {
        let text = "v=0
o=- 1 2 IN IP6 2001:db8::1
s=-
c=IN IP6 2001:db8::2
t=0 0
m=audio 4000 RTP/AVP 0
";
        let sdp = parse(text).expect("valid");
        let ip: Ipv6Addr = "2001:db8::2".parse().expect("literal");
        assert_eq!(sdp.rtp_destination(0), Some((IpAddr::V6(ip), 4000).into()));
        assert_eq!(sdp.origin.address.address_type(), "IP6");
    }

    #[test]
    fn lf_only_bodies_parse_like_crlf() {
        let crlf = parse(BASIC).expect("valid");
        let lf = SessionDescription::parse(BASIC.as_bytes()).expect("valid");
        assert_eq!(crlf, lf);
    }

    #[test]
    fn refuses_bodies_over_the_limits() {
        let limits = SdpLimits {
            max_bytes: 100,
            ..SdpLimits::default()
        };
        assert_eq!(
            SessionDescription::parse_with_limits(BASIC.as_bytes(), &limits),
            Err(SdpError::TooLarge {
                len: BASIC.len(),
                max: 100
            })
        );
        let limits = SdpLimits {
            max_media: 1,
            ..SdpLimits::default()
        };
        let two = format!("{BASIC}m=audio 4002 RTP/AVP 0\n");
        assert_eq!(
            SessionDescription::parse_with_limits(two.as_bytes(), &limits),
            Err(SdpError::TooManyMedia { max: 1 })
        );
        let limits = SdpLimits {
            max_lines: 5,
            ..SdpLimits::default()
        };
        assert_eq!(
            SessionDescription::parse_with_limits(BASIC.as_bytes(), &limits),
            Err(SdpError::TooManyLines { max: 5 })
        );
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            SessionDescription::parse(b"v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\n\xff"),
            Err(SdpError::NotUtf8 { offset: 29 })
        );
        assert_eq!(
            parse("v=0\no=- 1 2 IN IP4 1.2.3.4\nnonsense\n"),
            Err(SdpError::MalformedLine { line: 3 })
        );
        assert_eq!(
            parse("o=- 1 2 IN IP4 1.2.3.4\nv=0\ns=-\n"),
            Err(SdpError::BadHeader { line: 1 })
        );
        let bad_port = BASIC.replace("m=audio 49170", "m=audio 70000");
        assert_eq!(parse(&bad_port), Err(SdpError::BadMediaLine { line: 6 }));
        let bad_pt = BASIC.replace("RTP/AVP 0 8 97 101", "RTP/AVP 0 8 200");
        assert_eq!(parse(&bad_pt), Err(SdpError::BadPayloadType { line: 6 }));
        // A blank line and a stripped p= line before it: the number is still the body's.
        let bad_rtpmap = BASIC
            .replace("s=-\n", "s=-\n\np=+1 555\n")
            .replace("a=rtpmap:97 opus/48000/2", "a=rtpmap:97 opus/fast");
        assert_eq!(
            parse(&bad_rtpmap),
            Err(SdpError::Rejected {
                line: 9,
                kind: RejectKind::Syntax
            })
        );
    }

    #[test]
    fn rtpmap_without_a_clock_rate_is_kept_verbatim() {
        // RFC 4475's esc01 and longreq carry `a=rtpmap:31 LPC`.
        let body = "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.3\r\ns=-\r\n\
                    c=IN IP4 192.0.2.3\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\n\
                    m=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n";
        let sdp = SessionDescription::parse(body.as_bytes()).expect("valid SDP grammar");
        assert_eq!(sdp.media.len(), 2);
        let text = sdp.to_string();
        assert!(text.contains("a=rtpmap:31 LPC"), "{text}");
    }

    #[test]
    fn stream_without_any_connection_is_refused() {
        let text = "v=0
o=- 1 2 IN IP4 10.0.0.1
s=-
t=0 0
m=audio 4000 RTP/AVP 0
";
        assert_eq!(
            parse(text),
            Err(SdpError::Rejected {
                line: 0,
                kind: RejectKind::Sequence
            })
        );
    }

    #[test]
    fn decimal_ptime_is_read_and_stray_fmtp_kept_verbatim() {
        let text = BASIC
            .replace("a=ptime:20", "a=ptime:20.0\na=maxptime:40")
            .replace("a=label:1", "a=fmtp:99 mode=30");
        let sdp = parse(&text).expect("decimal ptime tolerated");
        let audio = &sdp.media[0];
        assert_eq!(audio.ptime_ms, Some(20));
        assert_eq!(audio.maxptime_ms, Some(40));
        let stray = audio
            .attribute("fmtp")
            .expect("fmtp for unlisted type kept");
        assert_eq!(stray.value.as_deref(), Some("99 mode=30"));
    }

    #[test]
    fn writer_output_reparses_to_the_same_description() {
        let sdp = parse(BASIC).expect("valid");
        let again = SessionDescription::parse(&sdp.to_bytes()).expect("own output parses");
        assert_eq!(again, sdp);
    }
}
