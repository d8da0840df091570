//! Our own session description types (RFC 4566 §5), independent of the parser behind
//! them: what offer/answer, hold and the media layer need, plus every other attribute
//! kept verbatim so that nothing a peer sent is silently lost.

use std::net::{IpAddr, SocketAddr};

use super::codec::Codec;
use super::direction::Direction;
use super::Text;

/// A whole session description: the session-level lines and the media descriptions in
/// m-line order (which is what RFC 3264 pairs offers and answers by).
///
/// The lines nothing here uses (`i=`, `u=`, `e=`, `p=`, `k=`, `r=`, `z=`) are not kept;
/// session-level direction attributes are resolved into each [`MediaDescription`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionDescription {
    /// The `o=` line: who made the description and its version (RFC 3264 §8).
    pub origin: Origin,
    /// The `s=` line; `-` when there is nothing to say.
    pub session_name: Text,
    /// The session-level `c=` line, used by every stream without its own.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines.
    pub bandwidth: Vec<Bandwidth>,
    /// The `t=` line; `0 0` (unbounded) when a peer omitted it.
    pub timing: Timing,
    /// Session-level attributes other than directions, verbatim (`a=tool:…`).
    pub attributes: Vec<Attribute>,
    /// The media descriptions, in m-line order.
    pub media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// The connection a stream uses: its own `c=`, else the session's.
    pub fn connection_for(&self, media_index: usize) -> Option<&Connection> {
        let media = self.media.get(media_index)?;
        media.connection.as_ref().or(self.connection.as_ref())
    }

    /// Where RTP for a stream goes: its connection address and port. `None` when the
    /// stream is rejected (port 0), has no connection, names a host by domain name (the
    /// core resolves nothing), or uses the old hold address `0.0.0.0` (RFC 3264 §8.4).
    pub fn rtp_destination(&self, media_index: usize) -> Option<SocketAddr> {
        let media = self.media.get(media_index)?;
        if media.port == 0 {
            return None;
        }
        let connection = self.connection_for(media_index)?;
        match connection.address {
            Address::Ip(ip) if !ip.is_unspecified() => Some(SocketAddr::new(ip, media.port)),
            _ => None,
        }
    }

    /// Where RTCP for a stream goes: the `a=rtcp` port (and address) when the stream has
    /// one (RFC 3605 §2.1), else the RTP port + 1 (RFC 3550 §11). `None` whenever RTP has
    /// no destination, or the attribute names a host the core cannot use.
    pub fn rtcp_destination(&self, media_index: usize) -> Option<SocketAddr> {
        let rtp = self.rtp_destination(media_index)?;
        let Some(rtcp) = self.media.get(media_index)?.rtcp.as_ref() else {
            return Some(SocketAddr::new(rtp.ip(), rtp.port().checked_add(1)?));
        };
        let ip = match &rtcp.address {
            None => rtp.ip(),
            Some(Address::Ip(ip)) if !ip.is_unspecified() => *ip,
            Some(_) => return None,
        };
        (rtcp.port != 0).then(|| SocketAddr::new(ip, rtcp.port))
    }
}

/// The `o=` line (RFC 4566 §5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The user name; `-` when there is none.
    pub username: Text,
    /// The session id, fixed for the life of the session.
    pub session_id: u64,
    /// The version, incremented with each changed description (RFC 3264 §8).
    pub session_version: u64,
    /// The address of the machine that made the description.
    pub address: Address,
}

/// A `c=` line (RFC 4566 §5.7): network type `IN` is implied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The connection address.
    pub address: Address,
    /// The multicast TTL (`/127`), if written.
    pub ttl: Option<u8>,
    /// The number of multicast addresses (`/127/3`), if written.
    pub count: Option<u32>,
}

impl Connection {
    /// A unicast connection to an IP address.
    pub fn ip(ip: IpAddr) -> Connection {
        Connection {
            address: Address::Ip(ip),
            ttl: None,
            count: None,
        }
    }

    /// Whether this is the RFC 2543 hold address `0.0.0.0` (or `::`): "send nothing to
    /// me" (RFC 3264 §8.4).
    pub fn is_unspecified(&self) -> bool {
        matches!(self.address, Address::Ip(ip) if ip.is_unspecified())
    }
}

/// An address in an `o=` or `c=` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// An IPv4 (`IP4`) or IPv6 (`IP6`) literal.
    Ip(IpAddr),
    /// A host name, with the address type it was declared with.
    Fqdn {
        /// Whether the line said `IP6`.
        ipv6: bool,
        /// The host name, as written.
        host: Text,
    },
}

impl Address {
    /// The address type token: `IP4` or `IP6`.
    pub fn address_type(&self) -> &'static str {
        let ipv6 = match self {
            Address::Ip(ip) => ip.is_ipv6(),
            Address::Fqdn { ipv6, .. } => *ipv6,
        };
        if ipv6 {
            "IP6"
        } else {
            "IP4"
        }
    }
}

/// The `t=` line (RFC 4566 §5.9), NTP seconds; `0 0` is an unbounded session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Timing {
    /// Start time, 0 for "now".
    pub start: u64,
    /// Stop time, 0 for "unbounded".
    pub stop: u64,
}

/// A `b=` line (RFC 4566 §5.8, RFC 3890 for `TIAS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bandwidth {
    /// The modifier: `AS`, `CT`, `TIAS` or any other token, as written.
    pub modifier: Text,
    /// The value: kbit/s for `AS`/`CT`, bit/s for `TIAS`.
    pub value: u32,
}

/// An attribute we do not interpret, kept verbatim: `a=name` or `a=name:value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// The name, before the colon.
    pub name: Text,
    /// The value after the colon, if there was one.
    pub value: Option<Text>,
}

/// One m-line and the lines under it (RFC 4566 §5.14).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaDescription {
    /// The media type.
    pub kind: MediaKind,
    /// The transport port; 0 means the stream is rejected or disabled (RFC 3264 §5.1).
    pub port: u16,
    /// The `/count` after the port, if written.
    pub port_count: Option<u16>,
    /// The transport protocol.
    pub proto: Proto,
    /// For RTP streams parsed or built here: one entry per payload type, in m-line order
    /// (which is the writer's preference order), with rtpmap and fmtp resolved.
    pub codecs: Vec<Codec>,
    /// The m-line's format tokens, verbatim, for streams without `codecs` (`t38`,
    /// `webrtc-datachannel`, or any stream the parser does not interpret). The writer
    /// writes `codecs` when there are any, else these.
    pub formats: Vec<Text>,
    /// The stream's own `c=` line, if any.
    pub connection: Option<Connection>,
    /// The stream's `b=` lines.
    pub bandwidth: Vec<Bandwidth>,
    /// The stream's direction, session-level attribute and default already applied.
    pub direction: Direction,
    /// `a=ptime`: the packet duration the writer wants to receive, in ms.
    pub ptime_ms: Option<u32>,
    /// `a=maxptime`, in ms.
    pub maxptime_ms: Option<u32>,
    /// `a=rtcp` (RFC 3605): the RTCP port when it is not RTP port + 1.
    pub rtcp: Option<Rtcp>,
    /// All other attributes, verbatim and in order (`a=rtcp-fb`, `a=ssrc`, `a=T38…`).
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// A stream with no formats, attributes or connection of its own.
    pub fn new(kind: MediaKind, port: u16, proto: Proto) -> MediaDescription {
        MediaDescription {
            kind,
            port,
            port_count: None,
            proto,
            codecs: Vec::new(),
            formats: Vec::new(),
            connection: None,
            bandwidth: Vec::new(),
            direction: Direction::SendRecv,
            ptime_ms: None,
            maxptime_ms: None,
            rtcp: None,
            attributes: Vec::new(),
        }
    }

    /// Whether the stream is rejected or disabled: port 0 (RFC 3264 §5.1, §6).
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }

    /// The first verbatim attribute called `name` (case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// `a=rtcp` (RFC 3605).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rtcp {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, when it differs from the stream's connection.
    pub address: Option<Address>,
}

/// The media type of an m-line (RFC 4566 §5.14, RFC 3362 for `image`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaKind {
    /// `audio`.
    Audio,
    /// `video`.
    Video,
    /// `image`: T.38 fax (RFC 3362).
    Image,
    /// `application`.
    Application,
    /// `text`: real-time text (RFC 4103).
    Text,
    /// Any other token, as written.
    Other(Text),
}

impl MediaKind {
    /// Recognises a media token, case-insensitively.
    pub fn from_token(token: &str) -> MediaKind {
        // A static, not a table built per call: building and dropping every candidate
        // cost more than the comparisons.
        static KNOWN: [MediaKind; 5] = [
            MediaKind::Audio,
            MediaKind::Video,
            MediaKind::Image,
            MediaKind::Application,
            MediaKind::Text,
        ];
        let known = KNOWN
            .iter()
            .find(|k| token.eq_ignore_ascii_case(k.as_str()));
        known
            .cloned()
            .unwrap_or_else(|| MediaKind::Other(token.into()))
    }

    /// The token as written in an m-line.
    pub fn as_str(&self) -> &str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Image => "image",
            MediaKind::Application => "application",
            MediaKind::Text => "text",
            MediaKind::Other(s) => s,
        }
    }
}

/// The transport protocol of an m-line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Proto {
    /// `RTP/AVP` (RFC 3551): plain RTP, what SIP phones use.
    RtpAvp,
    /// `RTP/AVPF` (RFC 4585): RTP with feedback.
    RtpAvpf,
    /// `RTP/SAVP` (RFC 3711): SRTP.
    RtpSavp,
    /// `RTP/SAVPF` (RFC 5124): SRTP with feedback.
    RtpSavpf,
    /// `udptl`: T.38 fax over UDPTL (RFC 3362).
    Udptl,
    /// Any other token, as written (`UDP/TLS/RTP/SAVPF`, `TCP/MSRP` …).
    Other(Text),
}

impl Proto {
    /// Recognises a protocol token, case-insensitively.
    pub fn from_token(token: &str) -> Proto {
        // A static, as in `MediaKind::from_token`.
        static KNOWN: [Proto; 5] = [
            Proto::RtpAvp,
            Proto::RtpAvpf,
            Proto::RtpSavp,
            Proto::RtpSavpf,
            Proto::Udptl,
        ];
        let known = KNOWN
            .iter()
            .find(|p| token.eq_ignore_ascii_case(p.as_str()));
        known.cloned().unwrap_or_else(|| Proto::Other(token.into()))
    }

    /// The token as written in an m-line.
    pub fn as_str(&self) -> &str {
        match self {
            Proto::RtpAvp => "RTP/AVP",
            Proto::RtpAvpf => "RTP/AVPF",
            Proto::RtpSavp => "RTP/SAVP",
            Proto::RtpSavpf => "RTP/SAVPF",
            Proto::Udptl => "udptl",
            Proto::Other(s) => s,
        }
    }

    /// Whether this is one of the four RTP profiles whose formats are payload types and
    /// whose `a=rtpmap` lines the parser reads into `codecs`.
    pub fn is_rtp_profile(&self) -> bool {
        matches!(
            self,
            Proto::RtpAvp | Proto::RtpAvpf | Proto::RtpSavp | Proto::RtpSavpf
        )
    }
}
