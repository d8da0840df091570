//! Parsing: our own reader of the lines a session description carries (RFC 8866 §5,
//! which obsoletes RFC 4566 with the same grammar for these lines).
//!
//! We used to hand webrtc-sdp a normalised copy of the body and read everything else
//! ourselves. We own the whole parser now because that delegation was the largest single
//! cost of a call in the core: two bodies a call, about 41,000 instructions and 40
//! allocations each inside webrtc-sdp (it lower- and upper-cases every token into a new
//! `String`, parses every address through the `url` crate's WHATWG host parser, and
//! copies each line), 19 % of a whole call's instructions. And it is a WebRTC-minded
//! parser that SIP bodies have to be bent to fit: it refuses `p=`, `u=`, `e=`, `k=`,
//! `r=`, `z=` lines (one of them fails the whole body), drops m-lines whose protocol it
//! does not know (`m=image … udptl t38`, attaching their attributes to the stream
//! before), and drops attributes it does not know. webrtc-sdp stays in the build as a
//! differential oracle only (the tests and the `sdp` fuzz target): for every body it
//! accepts, what we read must agree with what it read.
//!
//! The reading, in one pass over borrowed lines, with no lower-cased copies (tokens are
//! compared ASCII case-insensitively) and addresses other than a plain dotted quad parsed
//! by the standard library. Lines, tokens, trims and numbers are scanned a byte at a time
//! (LF a word at a time) against a byte set; only a non-ASCII byte is decoded, so
//! what `str::split_whitespace`, `str::trim` and `str::parse` accepted is accepted the
//! same (Unicode whitespace included), for about half the instructions a body:
//!
//! 1. bounds (bytes, lines, m-lines), UTF-8, `<letter>=<value>` shape, `v=0`/`o=`/`s=`
//!    first;
//! 2. the body is split into the session part and one section per m-line;
//! 3. the session part: `o`, `s`, `c`, `b`, `t` (a missing `t=` is `0 0`, several: the
//!    last), direction attributes; every other attribute verbatim; `i u e p k r z` are
//!    skipped;
//! 4. each audio/video section on an RTP profile: its `c`, `b`, `a=rtpmap`, `a=rtcp`,
//!    directions, `a=fmtp` (kept verbatim), `a=ptime`/`a=maxptime` (read leniently:
//!    `20.0` is 20), and every other attribute verbatim and in order; every other
//!    section ("opaque": T.38, WebRTC profiles, unknown media) keeps its format tokens,
//!    `c=`, `b=` and attributes.
//!
//! Where the lines webrtc-sdp used to read are concerned, we refuse what it refused and
//! peers rely on being refused, with the same [`SdpError::Rejected`] and line number: a
//! malformed `o`, `c`, `b`, `t`, `a=rtpmap` (with a clock rate), `a=rtcp`, a direction
//! attribute with a value, a non-numeric RTP format (the last such line is named); a
//! second `v`/`o`/`s`, or a second `c=` in one stream (the first such line); an RTP
//! stream without any connection (line 0). We are more lenient where its refusals came
//! from its own machinery rather than the grammar: a host name is taken as written
//! (webrtc-sdp ran it through WHATWG URL host parsing, so `c=IN IP4 127.1` was
//! 127.0.0.1 there and is a name here, which the core never resolves), tokens may be
//! separated by more than one space, and a short description is not refused for being
//! under 51 bytes.
//!
//! So the result always has as many media descriptions as the body has m-lines.

use std::net::IpAddr;

use smallvec::SmallVec;

use crate::sip::{byte_set, find_any, parse_ipv4, ByteSet};

use super::codec::{Codec, MAX_PAYLOAD_TYPE};
use super::direction::Direction;
use super::error::{RejectKind, SdpError};
use super::types::{
    Address, Attribute, Bandwidth, Connection, MediaDescription, MediaKind, Origin, Proto, Rtcp,
    SessionDescription, Timing,
};
use super::Text;

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
        // Filled in place rather than returned: they are a kilobyte on the stack.
        let mut lines = Lines::new();
        split_lines(text, limits, &mut lines)?;
        let mut sections = Sections::new();
        split_sections(&lines, limits, &mut sections)?;
        read(&lines, sections)
    }
}

/// A body's lines, inline up to 32: SIPp's offer has 7, baresip's 24, so a parse
/// keeps them on the stack.
type Lines<'a> = SmallVec<[RawLine<'a>; 32]>;

/// A body's m-sections, inline up to 2 (audio, and video or a second audio).
type Sections<'a> = SmallVec<[Section<'a>; 2]>;

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
    /// Whether this is an audio/video stream on an RTP profile, whose formats are payload
    /// types and whose codecs, rtcp and connection we read.
    rtp: bool,
}

/// The tokens of an m-line.
#[derive(Debug)]
struct MLine<'a> {
    kind: MediaKind,
    port: u16,
    port_count: Option<u16>,
    proto: Proto,
    /// The format tokens, not yet collected: most streams read them as payload types.
    formats: Tokens<'a>,
    /// How many format tokens there are.
    format_count: usize,
}

/// What is wrong with a body, gathered over the whole read so that the error reported is
/// the one the description has always been refused with: a line's grammar first (the
/// last bad line), then lines out of place (the first), then a stream without any
/// connection, then what building a stream found (the first stream, in m-line order).
#[derive(Default)]
struct Faults {
    syntax: Option<usize>,
    sequence: Option<usize>,
    stream: Option<SdpError>,
}

impl Faults {
    /// Notes a line whose grammar is wrong when `value` is `None`.
    fn check<T>(&mut self, value: Option<T>, line: usize) -> Option<T> {
        if value.is_none() {
            self.syntax = Some(line);
        }
        value
    }

    /// Notes a well-formed line in a place it may not be.
    fn misplaced(&mut self, line: usize) {
        self.sequence.get_or_insert(line);
    }

    /// Notes what building a stream found (the first one counts).
    fn stream(&mut self, error: SdpError) {
        self.stream.get_or_insert(error);
    }

    fn into_result(self, stream_without_connection: bool) -> Result<(), SdpError> {
        if let Some(line) = self.syntax {
            return Err(SdpError::Rejected {
                line,
                kind: RejectKind::Syntax,
            });
        }
        if let Some(line) = self.sequence {
            return Err(SdpError::Rejected {
                line,
                kind: RejectKind::Sequence,
            });
        }
        if stream_without_connection {
            // A whole-description problem: no single line is to blame.
            return Err(SdpError::Rejected {
                line: 0,
                kind: RejectKind::Sequence,
            });
        }
        self.stream.map_or(Ok(()), Err)
    }
}

/// Splits the body at LF (a CR before it dropped), skipping blank lines (whitespace
/// only, as `str::trim` has it), into `lines`.
fn split_lines<'a>(
    text: &'a str,
    limits: &SdpLimits,
    lines: &mut Lines<'a>,
) -> Result<(), SdpError> {
    let mut rest = text;
    let mut line = 0;
    loop {
        line += 1;
        let (raw, next) = match find_any(rest.as_bytes(), [b'\n']) {
            Some(end) => (&rest[..end], Some(&rest[end + 1..])),
            None => (rest, None),
        };
        let raw = match raw.as_bytes() {
            [.., b'\r'] => &raw[..raw.len() - 1],
            _ => raw,
        };
        let bytes = raw.as_bytes();
        let shaped = bytes.len() >= 2 && bytes[1] == b'=' && bytes[0].is_ascii_alphabetic();
        // A shaped line is not blank: its first byte is a letter.
        if shaped || !trim_start(raw).is_empty() {
            if lines.len() == limits.max_lines {
                return Err(SdpError::TooManyLines {
                    max: limits.max_lines,
                });
            }
            if !shaped {
                return Err(SdpError::MalformedLine { line });
            }
            lines.push(RawLine {
                kind: bytes[0].to_ascii_lowercase(),
                value: trim_end(&raw[2..]),
                line,
            });
        }
        match next {
            Some(next) => rest = next,
            None => break,
        }
    }
    let header_ok = |i: usize, kind: u8| lines.get(i).is_some_and(|l: &RawLine<'_>| l.kind == kind);
    for (i, kind) in [b'v', b'o', b's'].into_iter().enumerate() {
        if !header_ok(i, kind) {
            let line = lines.get(i).map_or(0, |l| l.line);
            return Err(SdpError::BadHeader { line });
        }
    }
    if trim(lines[0].value) != "0" {
        return Err(SdpError::BadHeader {
            line: lines[0].line,
        });
    }
    Ok(())
}

fn split_sections<'a>(
    lines: &[RawLine<'a>],
    limits: &SdpLimits,
    sections: &mut Sections<'a>,
) -> Result<(), SdpError> {
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
        let rtp = matches!(m.kind, MediaKind::Audio | MediaKind::Video) && m.proto.is_rtp_profile();
        sections.push(Section {
            start: i,
            end: lines.len(),
            m,
            rtp,
        });
    }
    Ok(())
}

fn parse_m_line(value: &str, line: usize) -> Result<MLine<'_>, SdpError> {
    let bad = || SdpError::BadMediaLine { line };
    let mut tokens = Tokens::new(value);
    let kind = MediaKind::from_token(tokens.next().ok_or_else(bad)?);
    let port_token = tokens.next().ok_or_else(bad)?;
    let (port, port_count) = match cut(port_token, b'/') {
        (port, Some(count)) => (port, Some(number::<u16>(count).ok_or_else(bad)?)),
        (port, None) => (port, None),
    };
    let port = number::<u16>(port).ok_or_else(bad)?;
    let proto = Proto::from_token(tokens.next().ok_or_else(bad)?);
    let formats = tokens.clone();
    let format_count = tokens.count();
    if format_count > MAX_FORMATS || (proto.is_rtp_profile() && format_count == 0) {
        return Err(bad());
    }
    Ok(MLine {
        kind,
        port,
        port_count,
        proto,
        formats,
        format_count,
    })
}

/// The attribute names the parser reads rather than keeps verbatim, recognised once per
/// line (case-insensitively).
#[derive(Clone, Copy)]
enum AttributeName {
    Rtpmap,
    Fmtp,
    Rtcp,
    Ptime,
    MaxPtime,
    Direction(Direction),
    Other,
}

impl AttributeName {
    fn of(name: &str) -> AttributeName {
        // Every name we read is lower-case letters and fits 8 bytes: packed into a word
        // with the case bit of every byte set, a name is matched by its length and one
        // compare. Setting that bit leaves a letter's lower case, and turns no other byte
        // into a lower-case letter.
        let bytes = name.as_bytes();
        if bytes.len() > 8 {
            return AttributeName::Other;
        }
        match (bytes.len(), fold(bytes)) {
            (6, RTPMAP) => AttributeName::Rtpmap,
            (4, FMTP) => AttributeName::Fmtp,
            (4, RTCP) => AttributeName::Rtcp,
            (5, PTIME) => AttributeName::Ptime,
            (8, MAXPTIME) => AttributeName::MaxPtime,
            (8, SENDRECV) => AttributeName::Direction(Direction::SendRecv),
            (8, SENDONLY) => AttributeName::Direction(Direction::SendOnly),
            (8, RECVONLY) => AttributeName::Direction(Direction::RecvOnly),
            (8, INACTIVE) => AttributeName::Direction(Direction::Inactive),
            _ => AttributeName::Other,
        }
    }
}

/// Up to 8 bytes as a little-endian word, with the ASCII case bit (0x20) of all 8 set.
const fn fold(bytes: &[u8]) -> u64 {
    let mut word = 0x2020_2020_2020_2020;
    let mut i = 0;
    while i < bytes.len() {
        word |= (bytes[i] as u64) << (8 * i);
        i += 1;
    }
    word
}

const RTPMAP: u64 = fold(b"rtpmap");
const FMTP: u64 = fold(b"fmtp");
const RTCP: u64 = fold(b"rtcp");
const PTIME: u64 = fold(b"ptime");
const MAXPTIME: u64 = fold(b"maxptime");
const SENDRECV: u64 = fold(b"sendrecv");
const SENDONLY: u64 = fold(b"sendonly");
const RECVONLY: u64 = fold(b"recvonly");
const INACTIVE: u64 = fold(b"inactive");

/// Reads the split body into a description in one pass. Faults are gathered rather than
/// returned at the first, so that the error names the line a strict reader blames
/// ([`Faults`]); only what the description keeps is allocated.
fn read(lines: &[RawLine<'_>], sections: Sections<'_>) -> Result<SessionDescription, SdpError> {
    let mut faults = Faults::default();
    let session_end = sections.first().map_or(lines.len(), |s| s.start);
    let origin_line = lines[1];
    let origin = faults.check(parse_origin(origin_line.value), origin_line.line);
    let mut connection = None;
    let mut bandwidth = Vec::new();
    let mut timing = Timing::default();
    let mut attributes = Vec::new();
    let mut session_direction = None;
    for line in lines.get(3..session_end).unwrap_or_default() {
        match line.kind {
            b'v' | b'o' | b's' => {
                // A second one is out of place, once its own grammar is right.
                let well_formed = match line.kind {
                    b'v' => parse_version(line.value).is_some(),
                    b'o' => parse_origin(line.value).is_some(),
                    _ => true,
                };
                if well_formed {
                    faults.misplaced(line.line);
                } else {
                    faults.syntax = Some(line.line);
                }
            }
            b'c' => {
                if let Some(c) = faults.check(parse_connection(line.value), line.line) {
                    connection = Some(c);
                }
            }
            b'b' => {
                if let Some(b) = faults.check(parse_bandwidth(line.value), line.line) {
                    bandwidth.push(b);
                }
            }
            b't' => {
                if let Some(t) = faults.check(parse_timing(line.value), line.line) {
                    timing = t;
                }
            }
            b'a' => {
                let (name, value) = split_attribute(line.value);
                match AttributeName::of(name) {
                    AttributeName::Direction(direction) => {
                        if faults
                            .check(value.is_none().then_some(()), line.line)
                            .is_some()
                        {
                            session_direction.get_or_insert(direction);
                        }
                    }
                    _ => attributes.push(verbatim_attribute(name, value)),
                }
            }
            _ => {}
        }
    }
    let mut media = Vec::with_capacity(sections.len());
    let mut stream_without_connection = false;
    for section in sections {
        let section_lines = &lines[section.start..section.end];
        let stream = if section.rtp {
            let stream = rtp_media(section.m, section_lines, session_direction, &mut faults);
            stream_without_connection |= stream.connection.is_none();
            stream
        } else {
            opaque_media(section.m, section_lines, session_direction, &mut faults)
        };
        media.push(stream);
    }
    faults.into_result(stream_without_connection && connection.is_none())?;
    // A bad `o=` is a syntax fault, returned above; this only keeps the read panic-free.
    let origin = origin.ok_or(SdpError::Rejected {
        line: origin_line.line,
        kind: RejectKind::Syntax,
    })?;
    Ok(SessionDescription {
        origin,
        session_name: session_name(lines[2].value),
        connection,
        bandwidth,
        timing,
        attributes,
        media,
    })
}

/// An audio or video stream on an RTP profile.
fn rtp_media(
    m: MLine<'_>,
    lines: &[RawLine<'_>],
    session_direction: Option<Direction>,
    faults: &mut Faults,
) -> MediaDescription {
    let m_line = lines[0].line;
    let mut media = MediaDescription::new(m.kind, m.port, m.proto);
    media.port_count = m.port_count;
    media.codecs.reserve(m.format_count);
    // Payload types listed, as bits: 128 of them fit one u128.
    let mut listed: u128 = 0;
    for token in m.formats {
        let Some(format) = faults.check(number::<u32>(token), m_line) else {
            continue;
        };
        match u8::try_from(format)
            .ok()
            .filter(|pt| *pt <= MAX_PAYLOAD_TYPE)
        {
            Some(payload_type) => {
                listed |= 1 << payload_type;
                media.codecs.push(Codec::unmapped(payload_type));
            }
            None => faults.stream(SdpError::BadPayloadType { line: m_line }),
        }
    }
    let mut mapped: u128 = 0;
    let mut with_fmtp: u128 = 0;
    let mut direction = None;
    for line in &lines[1..] {
        match line.kind {
            b'c' => {
                let parsed = faults.check(parse_connection(line.value), line.line);
                match (parsed, &media.connection) {
                    (Some(_), Some(_)) => faults.misplaced(line.line),
                    (Some(c), None) => media.connection = Some(c),
                    (None, _) => {}
                }
            }
            b'b' => {
                if let Some(b) = faults.check(parse_bandwidth(line.value), line.line) {
                    media.bandwidth.push(b);
                }
            }
            b'a' => {
                let (name, value) = split_attribute(line.value);
                let read = match AttributeName::of(name) {
                    // Without a clock rate (`a=rtpmap:31 LPC`, RFC 4475 §3.1.1.1) it is
                    // valid grammar but no rtpmap we can use: it is kept verbatim, and
                    // the payload type read as static or unmapped.
                    AttributeName::Rtpmap => match value {
                        Some(value) if value.contains('/') => {
                            read_rtpmap(&mut media, value, line.line, faults, &mut mapped);
                            true
                        }
                        _ => false,
                    },
                    AttributeName::Rtcp => {
                        let rtcp = parse_rtcp(value.unwrap_or_default());
                        if let Some(rtcp) = faults.check(rtcp, line.line) {
                            media.rtcp.get_or_insert(rtcp);
                        }
                        true
                    }
                    AttributeName::Direction(d) => {
                        // A direction takes no value (RFC 8866 §6.7).
                        if faults
                            .check(value.is_none().then_some(()), line.line)
                            .is_some()
                        {
                            direction.get_or_insert(d);
                        }
                        true
                    }
                    AttributeName::Fmtp => read_fmtp(&mut media, value, listed, &mut with_fmtp),
                    AttributeName::Ptime => read_packet_time(&mut media.ptime_ms, value),
                    AttributeName::MaxPtime => read_packet_time(&mut media.maxptime_ms, value),
                    AttributeName::Other => false,
                };
                if !read {
                    media.attributes.push(verbatim_attribute(name, value));
                }
            }
            _ => {}
        }
    }
    for codec in media
        .codecs
        .iter_mut()
        .filter(|c| mapped & (1 << c.payload_type) == 0)
    {
        if let Some(known) = Codec::from_static(codec.payload_type) {
            let fmtp = codec.fmtp.take();
            *codec = known;
            codec.fmtp = fmtp;
        }
    }
    media.direction = direction.or(session_direction).unwrap_or_default();
    media
}

/// Reads an `a=rtpmap` with a clock rate into the codecs of its payload type, noting a
/// malformed one. `mapped` holds the payload types already mapped: the first rtpmap of
/// each counts.
fn read_rtpmap(
    media: &mut MediaDescription,
    value: &str,
    line: usize,
    faults: &mut Faults,
    mapped: &mut u128,
) {
    let Some((pt, encoding, clock_rate, channels)) = faults.check(parse_rtpmap(value), line) else {
        return;
    };
    if !media.codecs.iter().any(|c| c.payload_type == pt) || *mapped & (1 << pt) != 0 {
        return;
    }
    *mapped |= 1 << pt;
    for codec in media.codecs.iter_mut().filter(|c| c.payload_type == pt) {
        codec.name = encoding.into();
        codec.clock_rate = clock_rate;
        codec.channels = channels;
    }
}

/// Reads an `a=fmtp` into the codecs of its payload type when that type is listed and
/// has no fmtp yet (`with_fmtp`); returns whether it did (else it is kept verbatim).
fn read_fmtp(
    media: &mut MediaDescription,
    value: Option<&str>,
    listed: u128,
    with_fmtp: &mut u128,
) -> bool {
    let Some((pt, params)) = fmtp(value) else {
        return false;
    };
    if pt > MAX_PAYLOAD_TYPE || listed & (1 << pt) == 0 || *with_fmtp & (1 << pt) != 0 {
        return false;
    }
    *with_fmtp |= 1 << pt;
    for codec in media.codecs.iter_mut().filter(|c| c.payload_type == pt) {
        codec.fmtp = Some(params.into());
    }
    true
}

fn opaque_media(
    m: MLine<'_>,
    lines: &[RawLine<'_>],
    session_direction: Option<Direction>,
    faults: &mut Faults,
) -> MediaDescription {
    let mut media = MediaDescription::new(m.kind, m.port, m.proto);
    media.port_count = m.port_count;
    media.formats = m.formats.map(Text::from).collect();
    let mut direction = None;
    for line in &lines[1..] {
        match line.kind {
            b'c' if media.connection.is_none() => match parse_connection(line.value) {
                Some(c) => media.connection = Some(c),
                None => {
                    faults.stream(SdpError::BadConnection { line: line.line });
                    break;
                }
            },
            b'b' => {
                if let Some(b) = parse_lenient_bandwidth(line.value) {
                    media.bandwidth.push(b);
                }
            }
            b'a' => {
                let (name, value) = split_attribute(line.value);
                let read = match AttributeName::of(name) {
                    AttributeName::Direction(d) => {
                        direction.get_or_insert(d);
                        true
                    }
                    AttributeName::Ptime => read_packet_time(&mut media.ptime_ms, value),
                    AttributeName::MaxPtime => read_packet_time(&mut media.maxptime_ms, value),
                    _ => false,
                };
                if !read {
                    media.attributes.push(verbatim_attribute(name, value));
                }
            }
            _ => {}
        }
    }
    media.direction = direction.or(session_direction).unwrap_or_default();
    media
}

/// `v=0` (its value is checked at the top; a second one is out of place).
fn parse_version(value: &str) -> Option<()> {
    (number::<u64>(trim(value))? == 0).then_some(())
}

/// `o=<username> <sess-id> <sess-version> IN <addrtype> <unicast-address>`.
fn parse_origin(value: &str) -> Option<Origin> {
    let mut tokens = Tokens::new(value);
    let username = tokens.next()?;
    let session_id = number::<u64>(tokens.next()?)?;
    let session_version = number::<u64>(tokens.next()?)?;
    if !tokens.next()?.eq_ignore_ascii_case("IN") {
        return None;
    }
    let ipv6 = address_type(tokens.next()?)?;
    let address = parse_address(tokens.next()?, ipv6)?;
    Some(Origin {
        username: username.into(),
        session_id,
        session_version,
        address,
    })
}

/// `IP4` or `IP6`, any case: whether it is IPv6.
fn address_type(token: &str) -> Option<bool> {
    if token.eq_ignore_ascii_case("IP4") {
        Some(false)
    } else if token.eq_ignore_ascii_case("IP6") {
        Some(true)
    } else {
        None
    }
}

/// An address of the declared type: an IP literal of that family, or any other token as
/// a host name, as written. A literal of the other family is refused.
fn parse_address(token: &str, ipv6: bool) -> Option<Address> {
    let ip = match parse_ipv4(token) {
        Some(ip) => Some(IpAddr::V4(ip)),
        None => token.parse::<IpAddr>().ok(),
    };
    match ip {
        Some(ip) => (ip.is_ipv6() == ipv6).then_some(Address::Ip(ip)),
        None if token.is_empty() => None,
        None => Some(Address::Fqdn {
            ipv6,
            host: token.into(),
        }),
    }
}

/// `c=IN <addrtype> <address>[/<ttl>[/<count>]]` (RFC 8866 §5.7).
fn parse_connection(value: &str) -> Option<Connection> {
    let mut tokens = Tokens::new(value);
    let (Some(net), Some(addr_type), Some(addr), None) =
        (tokens.next(), tokens.next(), tokens.next(), tokens.next())
    else {
        return None;
    };
    if !net.eq_ignore_ascii_case("IN") {
        return None;
    }
    let ipv6 = address_type(addr_type)?;
    // Anything after a third `/` is ignored.
    let (host, ttl, count) = match cut(addr, b'/') {
        (host, None) => (host, None, None),
        (host, Some(rest)) => match cut(rest, b'/') {
            (ttl, None) => (host, Some(ttl), None),
            (ttl, Some(rest)) => (host, Some(ttl), Some(cut(rest, b'/').0)),
        },
    };
    let ttl = match ttl {
        Some(ttl) => Some(number::<u8>(ttl)?),
        None => None,
    };
    let count = match count {
        Some(count) => Some(number::<u32>(count)?),
        None => None,
    };
    Some(Connection {
        address: parse_address(host, ipv6)?,
        ttl,
        count,
    })
}

/// `b=<bwtype>:<bandwidth>` (RFC 8866 §5.8): the three modifiers we know are written in
/// their canonical case, any other as written.
fn parse_bandwidth(value: &str) -> Option<Bandwidth> {
    let (modifier, Some(value)) = cut(trim(value), b':') else {
        return None;
    };
    if value.contains(':') {
        return None;
    }
    let value = number::<u32>(value)?;
    let modifier = ["AS", "CT", "TIAS"]
        .into_iter()
        .find(|known| modifier.eq_ignore_ascii_case(known))
        .unwrap_or(modifier);
    Some(Bandwidth {
        modifier: modifier.into(),
        value,
    })
}

/// `b=AS:64` in an opaque stream, read leniently: a malformed one is dropped.
fn parse_lenient_bandwidth(value: &str) -> Option<Bandwidth> {
    let (modifier, Some(value)) = cut(value, b':') else {
        return None;
    };
    Some(Bandwidth {
        modifier: trim(modifier).into(),
        value: number(trim(value))?,
    })
}

/// `t=<start-time> <stop-time>` (RFC 8866 §5.9).
fn parse_timing(value: &str) -> Option<Timing> {
    let mut tokens = Tokens::new(value);
    let (Some(start), Some(stop), None) = (tokens.next(), tokens.next(), tokens.next()) else {
        return None;
    };
    Some(Timing {
        start: number(start)?,
        stop: number(stop)?,
    })
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]` (RFC 8866 §6.6):
/// payload type, name, clock rate, channels (1 when not written).
fn parse_rtpmap(value: &str) -> Option<(u8, &str, u32, u16)> {
    let mut tokens = Tokens::new(value);
    let payload_type = number::<u8>(tokens.next()?).filter(|pt| *pt <= MAX_PAYLOAD_TYPE)?;
    // Anything after a third `/` is ignored, and so is anything after the encoding.
    let (name, Some(rest)) = cut(tokens.next()?, b'/') else {
        return None;
    };
    let (clock_rate, channels) = cut(rest, b'/');
    let clock_rate = number::<u32>(clock_rate)?;
    let channels = match channels {
        Some(channels) => saturate_u16(number::<u32>(cut(channels, b'/').0)?),
        None => 1,
    };
    Some((payload_type, name, clock_rate, channels))
}

/// `a=rtcp:<port>[ IN <addrtype> <address>]` (RFC 3605 §2.1).
fn parse_rtcp(value: &str) -> Option<Rtcp> {
    let mut tokens = Tokens::new(value);
    let port = number::<u16>(tokens.next()?)?;
    let address = match tokens.next() {
        None => None,
        Some(net) => {
            if !net.eq_ignore_ascii_case("IN") {
                return None;
            }
            let ipv6 = address_type(tokens.next()?)?;
            Some(parse_address(tokens.next()?, ipv6)?)
        }
    };
    Some(Rtcp { port, address })
}

/// The value of `a=fmtp:<pt> <params>` split into payload type and verbatim parameters;
/// `None` for a malformed one (which is then kept verbatim).
fn fmtp(value: Option<&str>) -> Option<(u8, &str)> {
    let value = trim_start(value?);
    let space = value.bytes().position(|b| b.is_ascii_whitespace())?;
    Some((number(&value[..space])?, trim(&value[space + 1..])))
}

/// Reads `a=ptime`/`a=maxptime` into `slot`, leniently (`20`, `20.0`): a strict reading
/// would refuse the whole body for a decimal that phones do send. Returns whether the
/// value was readable (the first of each wins; a later one is dropped).
fn read_packet_time(slot: &mut Option<u32>, value: Option<&str>) -> bool {
    let Some(value) = value.map(trim) else {
        return false;
    };
    let Some(ms) = number::<u32>(cut(value, b'.').0) else {
        return false;
    };
    slot.get_or_insert(ms);
    true
}

fn split_attribute(value: &str) -> (&str, Option<&str>) {
    cut(value, b':')
}

fn verbatim_attribute(name: &str, value: Option<&str>) -> Attribute {
    Attribute {
        name: name.into(),
        value: value.map(Into::into),
    }
}

/// An empty `s=` becomes `-`, as we write it.
fn session_name(text: &str) -> Text {
    match trim(text) {
        "" => "-".into(),
        name => name.into(),
    }
}

fn saturate_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

/// `s` split at the first `byte` (an ASCII one), which is dropped: the part before and,
/// if there was one, the part after.
fn cut(s: &str, byte: u8) -> (&str, Option<&str>) {
    match s.bytes().position(|b| b == byte) {
        Some(at) => (&s[..at], Some(&s[at + 1..])),
        None => (s, None),
    }
}

/// A decimal number as `str::parse` reads an unsigned integer (an optional `+`, then at
/// least one digit, refused on overflow), without its generic machinery.
fn number<T: TryFrom<u64>>(s: &str) -> Option<T> {
    let digits = match s.as_bytes() {
        [b'+', digits @ ..] => digits,
        digits => digits,
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    T::try_from(value).ok()
}

/// ASCII whitespace to `char::is_whitespace`: tab, LF, VT, FF, CR, space
/// (`u8::is_ascii_whitespace` leaves out VT). A non-ASCII byte is part of a character
/// only decoding can class, which only a slow path does.
const SPACE: ByteSet = byte_set!(|b| matches!(b, 0x09..=0x0d | b' '));

/// A byte of a token: ASCII and no whitespace.
const TOKEN: ByteSet = byte_set!(|b| b.is_ascii() && !matches!(b, 0x09..=0x0d | b' '));

/// How many bytes at the start of `bytes` are ASCII whitespace.
fn spaces(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| !SPACE.contains(b))
        .unwrap_or(bytes.len())
}

/// `str::trim_start`, deciding ASCII bytes without decoding them.
fn trim_start(s: &str) -> &str {
    let start = spaces(s.as_bytes());
    let rest = &s[start..];
    if rest.as_bytes().first().is_some_and(|&b| !b.is_ascii()) {
        return rest.trim_start();
    }
    rest
}

/// `str::trim_end`, deciding ASCII bytes without decoding them.
fn trim_end(s: &str) -> &str {
    let bytes = s.as_bytes();
    // The last byte that is not an ASCII space ends a character.
    let end = bytes
        .iter()
        .rposition(|&b| !SPACE.contains(b))
        .map_or(0, |last| last + 1);
    let kept = &s[..end];
    if end > 0 && !bytes[end - 1].is_ascii() {
        return kept.trim_end();
    }
    kept
}

/// `str::trim`, deciding ASCII bytes without decoding them.
fn trim(s: &str) -> &str {
    trim_start(trim_end(s))
}

/// `str::split_whitespace`, deciding ASCII bytes without decoding them: SDP separates
/// tokens by one space (RFC 8866 §5), but tabs, several spaces and any other Unicode
/// whitespace have always been accepted as well.
#[derive(Clone, Debug)]
struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Tokens<'a> {
    fn new(s: &'a str) -> Tokens<'a> {
        Tokens { rest: s }
    }

    /// The next token when a non-ASCII character is in the way, by decoding.
    #[cold]
    fn next_decoded(&mut self) -> Option<&'a str> {
        let s = self.rest.trim_start();
        let (token, rest) = s.split_at(s.find(char::is_whitespace).unwrap_or(s.len()));
        self.rest = rest;
        (!token.is_empty()).then_some(token)
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    // Inlined at every call: most tokens are a few bytes, and the call cost as much.
    #[inline(always)]
    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.rest.as_bytes();
        let mut start = 0;
        while start < bytes.len() && SPACE.contains(bytes[start]) {
            start += 1;
        }
        let mut end = start;
        while end < bytes.len() && TOKEN.contains(bytes[end]) {
            end += 1;
        }
        // Stopped neither by ASCII whitespace nor by the end: a non-ASCII byte.
        if end < bytes.len() && !bytes[end].is_ascii() {
            return self.next_decoded();
        }
        let (skipped, rest) = self.rest.split_at(end);
        self.rest = rest;
        (start < end).then(|| &skipped[start..])
    }
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
        assert_eq!(image.formats, [Text::from("t38")]);
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
        assert_eq!(sdp.media[2].formats, [Text::from("96")]);
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
    fn refusals_name_the_line_a_strict_reading_blames() {
        let syntax = |line| {
            Err(SdpError::Rejected {
                line,
                kind: RejectKind::Syntax,
            })
        };
        let sequence = |line| {
            Err(SdpError::Rejected {
                line,
                kind: RejectKind::Sequence,
            })
        };
        // Two malformed lines: the last one is named.
        let two_bad = BASIC
            .replace("c=IN IP4 192.0.2.10", "c=IN IP4")
            .replace("a=rtcp:49171", "a=rtcp:port");
        assert_eq!(parse(&two_bad), syntax(12));
        assert_eq!(parse(&BASIC.replace("t=0 0", "t=0")), syntax(5));
        assert_eq!(
            parse(&BASIC.replace("a=sendonly", "a=sendonly:x")),
            syntax(15)
        );
        assert_eq!(
            parse(&BASIC.replace("RTP/AVP 0 8", "RTP/AVP 0 x8")),
            syntax(6)
        );
        assert_eq!(
            parse(&BASIC.replace("o=alice 2890844526", "o=alice x")),
            syntax(2)
        );
        let v6_literal = BASIC.replace("c=IN IP4 192.0.2.10", "c=IN IP4 2001:db8::1");
        assert_eq!(parse(&v6_literal), syntax(4));
        // Well-formed lines out of place: the first one is named.
        let second_origin = BASIC.replace("t=0 0", "t=0 0\no=- 1 1 IN IP4 192.0.2.1");
        assert_eq!(parse(&second_origin), sequence(6));
        let two_connections = BASIC.replace("a=ptime:20", "c=IN IP4 192.0.2.1\nc=IN IP4 192.0.2.2");
        assert_eq!(parse(&two_connections), sequence(12));
        // A grammar fault outranks a sequence fault before it.
        let both = second_origin.replace("a=rtcp:49171", "a=rtcp:");
        assert_eq!(parse(&both), syntax(13));
    }

    #[test]
    fn host_names_are_kept_as_written_and_bandwidth_modifiers_canonical() {
        let text = BASIC
            .replace("c=IN IP4 192.0.2.10", "c=in ip4 Media.Example.COM\nb=as:64")
            .replace("a=rtcp:49171", "a=rtcp:49171 IN IP4 127.1");
        let sdp = parse(&text).expect("valid");
        assert_eq!(
            sdp.connection.map(|c| c.address),
            Some(Address::Fqdn {
                ipv6: false,
                host: "Media.Example.COM".into()
            })
        );
        assert_eq!(&*sdp.bandwidth[0].modifier, "AS");
        assert_eq!(
            sdp.media[0].rtcp.as_ref().and_then(|r| r.address.clone()),
            Some(Address::Fqdn {
                ipv6: false,
                host: "127.1".into()
            }),
            "a name to us, though a URL parser reads 127.0.0.1"
        );
    }

    /// Strings of the characters the byte-level helpers decide differently from a plain
    /// reading if they get it wrong: every ASCII whitespace (VT included), Unicode
    /// whitespace, other non-ASCII, digits, signs and separators.
    fn tricky_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let chars = vec![
            ' ', '\t', '\n', '\x0b', '\x0c', '\r', '\u{85}', '\u{a0}', '\u{2028}', '\u{3000}', 'é',
            '€', 'a', 'P', '0', '1', '9', '+', '-', '.', '/', ':', '=',
        ];
        proptest::collection::vec(proptest::sample::select(chars), 0..28)
            .prop_map(|chars| chars.into_iter().collect())
    }

    proptest::proptest! {
        #[test]
        fn byte_helpers_agree_with_the_standard_library(text in tricky_text()) {
            let tokens: Vec<&str> = Tokens::new(&text).collect();
            let expected: Vec<&str> = text.split_whitespace().collect();
            proptest::prop_assert_eq!(tokens, expected);
            proptest::prop_assert_eq!(trim(&text), text.trim());
            proptest::prop_assert_eq!(trim_start(&text), text.trim_start());
            proptest::prop_assert_eq!(trim_end(&text), text.trim_end());
            proptest::prop_assert_eq!(find_any(text.as_bytes(), [b'\n']), text.find('\n'));
            proptest::prop_assert_eq!(number::<u8>(&text), text.parse::<u8>().ok());
            proptest::prop_assert_eq!(number::<u16>(&text), text.parse::<u16>().ok());
            proptest::prop_assert_eq!(number::<u64>(&text), text.parse::<u64>().ok());
            if let Some(ip) = parse_ipv4(&text) {
                proptest::prop_assert_eq!(Some(ip), text.parse::<Ipv4Addr>().ok());
            }
        }
    }

    #[test]
    fn attribute_names_are_recognised_in_any_case_and_only_whole() {
        let directions = [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ];
        for direction in directions {
            for name in [
                direction.as_str().to_owned(),
                direction.as_str().to_ascii_uppercase(),
            ] {
                assert!(matches!(
                    AttributeName::of(&name),
                    AttributeName::Direction(d) if d == direction
                ));
            }
        }
        for (name, expected) in [
            ("RtpMap", "rtpmap"),
            ("FMTP", "fmtp"),
            ("rtcp", "rtcp"),
            ("pTime", "ptime"),
            ("MAXptime", "maxptime"),
        ] {
            let read = match AttributeName::of(name) {
                AttributeName::Rtpmap => "rtpmap",
                AttributeName::Fmtp => "fmtp",
                AttributeName::Rtcp => "rtcp",
                AttributeName::Ptime => "ptime",
                AttributeName::MaxPtime => "maxptime",
                _ => "other",
            };
            assert_eq!(read, expected, "{name}");
        }
        // Bytes that differ from a letter only in the case bit, a prefix, a longer name.
        for name in [
            "rtp\x0dap",
            "rtpma",
            "rtpmapx",
            "sendrecv2",
            "\x00tcp",
            "@tcp",
            "",
        ] {
            assert!(
                matches!(AttributeName::of(name), AttributeName::Other),
                "{name:?}"
            );
        }
    }

    #[test]
    fn writer_output_reparses_to_the_same_description() {
        let sdp = parse(BASIC).expect("valid");
        let again = SessionDescription::parse(&sdp.to_bytes()).expect("own output parses");
        assert_eq!(again, sdp);
    }
}
