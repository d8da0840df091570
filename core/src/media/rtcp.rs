//! Minimal RTCP, RFC 3550 §6: sender and receiver reports (§6.4), SDES CNAME (§6.5) and
//! BYE (§6.6), read from and written to compound packets.
//!
//! [`RtcpCompound::parse`] checks a whole compound packet the way RFC 3550 A.2 suggests
//! (version 2, a report first, lengths that add up, padding only on the last packet) and
//! then iterates its packets as borrowed views; types it does not model come out as
//! [`RtcpPacket::Other`]. The `write_*` functions append one packet each to a caller's
//! buffer, so a compound is built by calling them in order (report, SDES, then BYE).
//!
//! Timestamps in the NTP format are the caller's: the core has no wall clock, and RFC 3550
//! §4 allows a clock that is only relative, as long as one sender keeps to the same one.
//!
//! The timing rules live here too: [`report_interval`] is the deterministic part of RFC
//! 3550 §6.3.1 (A.7's `rtcp_interval`) and [`round_trip`] the §6.4.1 delay arithmetic;
//! [`RtpSession`](super::RtpSession) applies them.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Packet type of a sender report.
pub const PT_SR: u8 = 200;
/// Packet type of a receiver report.
pub const PT_RR: u8 = 201;
/// Packet type of source description items.
pub const PT_SDES: u8 = 202;
/// Packet type of a goodbye.
pub const PT_BYE: u8 = 203;
/// The most report blocks (or BYE sources) one packet holds: the count field is 5 bits.
pub const MAX_COUNT: usize = 31;
/// Octets of one reception report block.
pub const REPORT_BLOCK_LEN: usize = 24;

/// Why a datagram is not a valid RTCP compound packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpError {
    /// Fewer than 4 octets left where a packet header should be.
    Truncated {
        /// Offset of the packet in the compound.
        at: usize,
    },
    /// A version other than 2.
    BadVersion {
        /// Offset of the packet.
        at: usize,
        /// The version found.
        version: u8,
    },
    /// The first packet is not an SR or RR (RFC 3550 §6.1).
    NotAReportFirst {
        /// Its packet type.
        packet_type: u8,
    },
    /// A length field runs past the end of the datagram.
    LengthOverrun {
        /// Offset of the packet.
        at: usize,
        /// Octets it claims.
        len: usize,
    },
    /// The P bit on a packet that is not the last, or an impossible padding count.
    BadPadding {
        /// Offset of the packet.
        at: usize,
    },
    /// A report's body is too short for its count of blocks.
    BadCount {
        /// Offset of the packet.
        at: usize,
    },
}

impl fmt::Display for RtcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RtcpError::Truncated { at } => write!(f, "RTCP packet at {at} is truncated"),
            RtcpError::BadVersion { at, version } => {
                write!(f, "RTCP packet at {at} has version {version}")
            }
            RtcpError::NotAReportFirst { packet_type } => {
                write!(f, "compound RTCP starts with type {packet_type}, not SR/RR")
            }
            RtcpError::LengthOverrun { at, len } => {
                write!(f, "RTCP packet at {at} claims {len} octets past the end")
            }
            RtcpError::BadPadding { at } => write!(f, "bad padding on RTCP packet at {at}"),
            RtcpError::BadCount { at } => {
                write!(f, "RTCP packet at {at} is shorter than its count")
            }
        }
    }
}

impl std::error::Error for RtcpError {}

/// Why an RTCP packet could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpWriteError {
    /// More than 31 report blocks or BYE sources.
    TooMany {
        /// How many were given.
        count: usize,
    },
    /// A CNAME or BYE reason longer than 255 octets.
    TextTooLong {
        /// Its length.
        len: usize,
    },
}

impl fmt::Display for RtcpWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RtcpWriteError::TooMany { count } => write!(f, "{count} items, at most 31"),
            RtcpWriteError::TextTooLong { len } => write!(f, "text of {len} octets, at most 255"),
        }
    }
}

impl std::error::Error for RtcpWriteError {}

/// The sender information of an SR (RFC 3550 §6.4.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderInfo {
    /// NTP-format time of the report (seconds in the high 32 bits).
    pub ntp_timestamp: u64,
    /// The RTP timestamp matching `ntp_timestamp`.
    pub rtp_timestamp: u32,
    /// Packets sent so far.
    pub packet_count: u32,
    /// Payload octets sent so far.
    pub octet_count: u32,
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source reported on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed on the wire; clamped when written).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_sequence: u32,
    /// Interarrival jitter, timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR from that source (0: none).
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// One packet of a compound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpPacket<'a> {
    /// A sender report.
    SenderReport {
        /// The sender.
        ssrc: u32,
        /// What it sent.
        info: SenderInfo,
        /// What it received.
        reports: ReportBlocks<'a>,
    },
    /// A receiver report.
    ReceiverReport {
        /// The reporter.
        ssrc: u32,
        /// What it received.
        reports: ReportBlocks<'a>,
    },
    /// A goodbye.
    Bye {
        /// The sources leaving.
        sources: SsrcList<'a>,
        /// The reason, if given.
        reason: Option<&'a [u8]>,
    },
    /// Any other type (SDES, APP, feedback …), body unparsed.
    Other {
        /// The packet type.
        packet_type: u8,
        /// The five-bit count field.
        count: u8,
        /// The body after the 4-octet header, padding removed.
        body: &'a [u8],
    },
}

/// Report blocks borrowed from a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportBlocks<'a>(&'a [u8]);

impl<'a> ReportBlocks<'a> {
    /// How many blocks.
    pub fn len(&self) -> usize {
        self.0.len() / REPORT_BLOCK_LEN
    }

    /// True with no blocks.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The blocks, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = ReportBlock> + 'a {
        self.0.chunks_exact(REPORT_BLOCK_LEN).map(|b| {
            let lost = u32::from_be_bytes([0, b[5], b[6], b[7]]);
            // Sign-extend the 24-bit field.
            let cumulative_lost = ((lost << 8) as i32) >> 8;
            ReportBlock {
                ssrc: be32(&b[0..]),
                fraction_lost: b[4],
                cumulative_lost,
                highest_sequence: be32(&b[8..]),
                jitter: be32(&b[12..]),
                last_sr: be32(&b[16..]),
                delay_since_last_sr: be32(&b[20..]),
            }
        })
    }
}

/// SSRCs borrowed from a BYE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SsrcList<'a>(&'a [u8]);

impl<'a> SsrcList<'a> {
    /// The sources, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        self.0.chunks_exact(4).map(be32)
    }
}

/// A validated compound RTCP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtcpCompound<'a> {
    data: &'a [u8],
}

impl<'a> RtcpCompound<'a> {
    /// Checks every packet's header and length (RFC 3550 A.2).
    pub fn parse(data: &'a [u8]) -> Result<Self, RtcpError> {
        let mut at = 0;
        while at < data.len() {
            let (header, len) = packet_header(data, at)?;
            if at == 0 && header.packet_type != PT_SR && header.packet_type != PT_RR {
                return Err(RtcpError::NotAReportFirst {
                    packet_type: header.packet_type,
                });
            }
            let end = at + len;
            if header.padding {
                let pad = usize::from(data[end - 1]);
                if end != data.len() || pad == 0 || pad > len - 4 {
                    return Err(RtcpError::BadPadding { at });
                }
            }
            let body = body_len(data, at, len, header.padding);
            let needed = match header.packet_type {
                PT_SR => 24 + REPORT_BLOCK_LEN * usize::from(header.count),
                PT_RR => 4 + REPORT_BLOCK_LEN * usize::from(header.count),
                PT_BYE => 4 * usize::from(header.count),
                _ => 0,
            };
            if body < needed {
                return Err(RtcpError::BadCount { at });
            }
            at = end;
        }
        if data.is_empty() {
            return Err(RtcpError::Truncated { at: 0 });
        }
        Ok(RtcpCompound { data })
    }

    /// The packets, in order.
    pub fn packets(&self) -> impl Iterator<Item = RtcpPacket<'a>> + 'a {
        let data = self.data;
        let mut at = 0;
        std::iter::from_fn(move || {
            if at >= data.len() {
                return None;
            }
            // Validated in `parse`.
            let (header, len) = packet_header(data, at).ok()?;
            let body = &data[at + 4..at + 4 + body_len(data, at, len, header.padding)];
            at += len;
            let count = usize::from(header.count);
            Some(match header.packet_type {
                PT_SR => RtcpPacket::SenderReport {
                    ssrc: be32(body),
                    info: SenderInfo {
                        ntp_timestamp: (u64::from(be32(&body[4..])) << 32)
                            | u64::from(be32(&body[8..])),
                        rtp_timestamp: be32(&body[12..]),
                        packet_count: be32(&body[16..]),
                        octet_count: be32(&body[20..]),
                    },
                    reports: ReportBlocks(&body[24..24 + REPORT_BLOCK_LEN * count]),
                },
                PT_RR => RtcpPacket::ReceiverReport {
                    ssrc: be32(body),
                    reports: ReportBlocks(&body[4..4 + REPORT_BLOCK_LEN * count]),
                },
                PT_BYE => {
                    let rest = &body[4 * count..];
                    let reason = rest
                        .first()
                        .map(|&n| usize::from(n))
                        .filter(|&n| n > 0 && rest.len() > n)
                        .map(|n| &rest[1..1 + n]);
                    RtcpPacket::Bye {
                        sources: SsrcList(&body[..4 * count]),
                        reason,
                    }
                }
                packet_type => RtcpPacket::Other {
                    packet_type,
                    count: header.count,
                    body,
                },
            })
        })
    }
}

/// Appends a sender report.
pub fn write_sender_report(
    out: &mut Vec<u8>,
    ssrc: u32,
    info: &SenderInfo,
    reports: &[ReportBlock],
) -> Result<(), RtcpWriteError> {
    check_count(reports.len())?;
    let words = 6 + 6 * reports.len();
    push_header(out, reports.len(), PT_SR, words);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&info.ntp_timestamp.to_be_bytes());
    out.extend_from_slice(&info.rtp_timestamp.to_be_bytes());
    out.extend_from_slice(&info.packet_count.to_be_bytes());
    out.extend_from_slice(&info.octet_count.to_be_bytes());
    push_blocks(out, reports);
    Ok(())
}

/// Appends a receiver report.
pub fn write_receiver_report(
    out: &mut Vec<u8>,
    ssrc: u32,
    reports: &[ReportBlock],
) -> Result<(), RtcpWriteError> {
    check_count(reports.len())?;
    push_header(out, reports.len(), PT_RR, 1 + 6 * reports.len());
    out.extend_from_slice(&ssrc.to_be_bytes());
    push_blocks(out, reports);
    Ok(())
}

/// Appends an SDES packet with one chunk holding the CNAME item (RFC 3550 §6.5.1).
pub fn write_sdes_cname(out: &mut Vec<u8>, ssrc: u32, cname: &[u8]) -> Result<(), RtcpWriteError> {
    if cname.len() > 255 {
        return Err(RtcpWriteError::TextTooLong { len: cname.len() });
    }
    // SSRC, type, length, text, then a null item and padding to a word.
    let items = 2 + cname.len() + 1;
    let chunk_words = 1 + items.div_ceil(4);
    push_header(out, 1, PT_SDES, chunk_words);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.push(1); // CNAME
    out.push(cname.len() as u8);
    out.extend_from_slice(cname);
    let zeros = (chunk_words - 1) * 4 - (2 + cname.len());
    out.extend(std::iter::repeat_n(0u8, zeros));
    Ok(())
}

/// Appends a BYE for `sources`, with an optional reason.
pub fn write_bye(
    out: &mut Vec<u8>,
    sources: &[u32],
    reason: Option<&[u8]>,
) -> Result<(), RtcpWriteError> {
    check_count(sources.len())?;
    let reason_len = reason.map_or(0, <[u8]>::len);
    if reason_len > 255 {
        return Err(RtcpWriteError::TextTooLong { len: reason_len });
    }
    let reason_words = if reason.is_some() {
        (1 + reason_len).div_ceil(4)
    } else {
        0
    };
    push_header(out, sources.len(), PT_BYE, sources.len() + reason_words);
    for s in sources {
        out.extend_from_slice(&s.to_be_bytes());
    }
    if let Some(text) = reason {
        out.push(reason_len as u8);
        out.extend_from_slice(text);
        out.extend(std::iter::repeat_n(0u8, reason_words * 4 - 1 - reason_len));
    }
    Ok(())
}

/// The middle 32 bits of an NTP timestamp, as LSR fields carry them.
pub fn ntp_middle(ntp_timestamp: u64) -> u32 {
    (ntp_timestamp >> 16) as u32
}

/// RFC 3550 §6.2: the smallest interval between two reports of one participant.
pub const MIN_REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// The fraction of the session bandwidth RTCP may take (RFC 3550 §6.2).
pub const RTCP_BANDWIDTH_FRACTION_PERCENT: u32 = 5;

/// Octets of IPv4 and UDP headers, counted in every RTCP packet size (RFC 3550 §6.2).
pub const UDP_IPV4_OVERHEAD: u32 = 28;

/// What the report interval of RFC 3550 §6.3.1 depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntervalInputs {
    /// Participants in the session, ourselves included (two on a call).
    pub members: u32,
    /// Those of them that sent RTP since the previous report.
    pub senders: u32,
    /// The RTCP bandwidth: the session bandwidth times [`RTCP_BANDWIDTH_FRACTION_PERCENT`].
    pub rtcp_octets_per_s: u32,
    /// Whether we sent RTP since our previous report.
    pub we_sent: bool,
    /// The running average size of the RTCP packets sent and received, headers included.
    pub avg_rtcp_octets: u32,
    /// True before our first report: the minimum is halved (§6.2).
    pub initial: bool,
}

/// The report interval before randomisation: A.7's `rtcp_interval` up to the random
/// factor. Senders share a quarter of the RTCP bandwidth when they are at most a quarter
/// of the members, the receivers the rest; the result is never below the §6.2 minimum
/// (halved for the first report). The e−3/2 compensation A.7 applies is left out: it
/// offsets timer reconsideration (§6.3.3), which a two-party call with a fixed membership
/// never needs.
pub fn report_interval(inputs: &IntervalInputs) -> Duration {
    let min = if inputs.initial {
        MIN_REPORT_INTERVAL / 2
    } else {
        MIN_REPORT_INTERVAL
    };
    let members = u64::from(inputs.members.max(1));
    let senders = u64::from(inputs.senders.min(inputs.members));
    let bandwidth = u64::from(inputs.rtcp_octets_per_s.max(1));
    // (share of the bandwidth, participants sharing it), in octets per second.
    let (share, n) = if senders > 0 && senders * 4 <= members {
        if inputs.we_sent {
            (bandwidth / 4, senders)
        } else {
            (bandwidth - bandwidth / 4, members - senders)
        }
    } else {
        (bandwidth, members)
    };
    let micros = n * u64::from(inputs.avg_rtcp_octets) * 1_000_000 / share.max(1);
    Duration::from_micros(micros).max(min)
}

/// `interval` scaled by a factor uniform in [0.5, 1.5] (RFC 3550 §6.3.1), `draw` being a
/// uniform value in `0..=1_000_000` from the caller's seeded generator.
pub fn randomise_interval(interval: Duration, draw: u64) -> Duration {
    let micros = interval.as_micros() as u64;
    Duration::from_micros(micros / 2 + micros * draw.min(1_000_000) / 1_000_000)
}

/// The round-trip time a reception report shows (RFC 3550 §6.4.1): its arrival time
/// `arrival` (the middle 32 bits of our NTP clock) minus the LSR and DLSR it carries, all
/// in 1/65536 s. `None` when the peer has had no SR of ours (LSR 0), or the figures do
/// not add up (a negative delay: a report for an SR from before a clock restart).
///
/// A result below zero by at most [`ROUND_TRIP_SLACK_UNITS`] is a round trip of zero:
/// peers measure DLSR on a millisecond clock (baresip's libre does), which on a
/// sub-millisecond path such as loopback can overshoot the whole round trip.
pub fn round_trip(arrival: u32, last_sr: u32, delay_since_last_sr: u32) -> Option<Duration> {
    if last_sr == 0 {
        return None;
    }
    let units = arrival
        .wrapping_sub(last_sr)
        .wrapping_sub(delay_since_last_sr);
    if units > i32::MAX as u32 {
        let short_by = units.wrapping_neg();
        return (short_by <= ROUND_TRIP_SLACK_UNITS).then_some(Duration::ZERO);
    }
    Some(Duration::from_micros(u64::from(units) * 1_000_000 / 65_536))
}

/// How far below zero (in 1/65536 s: 5 ms) a round trip is still taken as zero rather
/// than refused; see [`round_trip`].
pub const ROUND_TRIP_SLACK_UNITS: u32 = 328;

/// The RTCP address of the RTP address `rtp`: the next port up (RFC 3550 §11), where
/// a runtime binds our RTCP socket. `None` for port 65535.
pub fn rtcp_address(rtp: SocketAddr) -> Option<SocketAddr> {
    Some(SocketAddr::new(rtp.ip(), rtp.port().checked_add(1)?))
}

#[derive(Clone, Copy, Debug)]
struct Header {
    padding: bool,
    count: u8,
    packet_type: u8,
}

/// Reads the header at `at`; returns it and the packet's length in octets.
fn packet_header(data: &[u8], at: usize) -> Result<(Header, usize), RtcpError> {
    if data.len() < at + 4 {
        return Err(RtcpError::Truncated { at });
    }
    let version = data[at] >> 6;
    if version != 2 {
        return Err(RtcpError::BadVersion { at, version });
    }
    let len = 4 * (usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]])) + 1);
    if data.len() < at + len {
        return Err(RtcpError::LengthOverrun { at, len });
    }
    Ok((
        Header {
            padding: data[at] & 0x20 != 0,
            count: data[at] & 0x1F,
            packet_type: data[at + 1],
        },
        len,
    ))
}

/// Body length (after the header, without padding) of a checked packet.
fn body_len(data: &[u8], at: usize, len: usize, padding: bool) -> usize {
    let pad = if padding {
        usize::from(data[at + len - 1])
    } else {
        0
    };
    (len - 4).saturating_sub(pad)
}

fn check_count(count: usize) -> Result<(), RtcpWriteError> {
    if count > MAX_COUNT {
        return Err(RtcpWriteError::TooMany { count });
    }
    Ok(())
}

fn push_header(out: &mut Vec<u8>, count: usize, packet_type: u8, body_words: usize) {
    // `count` ≤ 31 and `body_words` small: both checked by the callers.
    out.push(0x80 | count as u8);
    out.push(packet_type);
    out.extend_from_slice(&(body_words as u16).to_be_bytes());
}

fn push_blocks(out: &mut Vec<u8>, reports: &[ReportBlock]) {
    for r in reports {
        out.extend_from_slice(&r.ssrc.to_be_bytes());
        let lost = r.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32 & 0x00FF_FFFF;
        out.push(r.fraction_lost);
        out.extend_from_slice(&lost.to_be_bytes()[1..]);
        out.extend_from_slice(&r.highest_sequence.to_be_bytes());
        out.extend_from_slice(&r.jitter.to_be_bytes());
        out.extend_from_slice(&r.last_sr.to_be_bytes());
        out.extend_from_slice(&r.delay_since_last_sr.to_be_bytes());
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block(ssrc: u32, lost: i32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: 25,
            cumulative_lost: lost,
            highest_sequence: 65536 + 7,
            jitter: 42,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65536,
        }
    }

    #[test]
    fn a_compound_of_sr_sdes_and_bye_round_trips() {
        let mut out = Vec::new();
        let info = SenderInfo {
            ntp_timestamp: 0x0000_0001_8000_0000,
            rtp_timestamp: 8000,
            packet_count: 50,
            octet_count: 8000,
        };
        write_sender_report(
            &mut out,
            0xAAAA,
            &info,
            &[block(0xBBBB, -3), block(0xCCCC, 1000)],
        )
        .unwrap();
        assert_eq!(out.len(), 28 + 48);
        assert_eq!(&out[..4], &[0x82, 200, 0, 18]);
        write_sdes_cname(&mut out, 0xAAAA, b"alice@example.com").unwrap();
        write_bye(&mut out, &[0xAAAA], Some(b"hangup")).unwrap();
        assert_eq!(out.len() % 4, 0);

        let c = RtcpCompound::parse(&out).unwrap();
        let packets: Vec<_> = c.packets().collect();
        assert_eq!(packets.len(), 3);
        let RtcpPacket::SenderReport {
            ssrc,
            info: got,
            reports,
        } = packets[0]
        else {
            panic!("{:?}", packets[0]);
        };
        assert_eq!(ssrc, 0xAAAA);
        assert_eq!(got, info);
        let blocks: Vec<_> = reports.iter().collect();
        assert_eq!(blocks, vec![block(0xBBBB, -3), block(0xCCCC, 1000)]);
        let RtcpPacket::Other {
            packet_type: PT_SDES,
            count: 1,
            body,
        } = packets[1]
        else {
            panic!("{:?}", packets[1]);
        };
        assert_eq!(&body[4..6], &[1, 17]);
        assert_eq!(&body[6..23], b"alice@example.com");
        assert_eq!(body[23], 0, "item list ends with a null octet");
        let RtcpPacket::Bye { sources, reason } = packets[2] else {
            panic!("{:?}", packets[2]);
        };
        assert_eq!(sources.iter().collect::<Vec<_>>(), vec![0xAAAA]);
        assert_eq!(reason, Some(&b"hangup"[..]));
        assert_eq!(ntp_middle(info.ntp_timestamp), 0x0001_8000);
    }

    #[test]
    fn an_empty_receiver_report_is_eight_octets() {
        let mut out = Vec::new();
        write_receiver_report(&mut out, 7, &[]).unwrap();
        assert_eq!(out, vec![0x80, 201, 0, 1, 0, 0, 0, 7]);
        let c = RtcpCompound::parse(&out).unwrap();
        assert!(matches!(
            c.packets().next(),
            Some(RtcpPacket::ReceiverReport { ssrc: 7, reports }) if reports.is_empty()
        ));
    }

    #[test]
    fn cumulative_loss_is_clamped_to_24_bits() {
        let mut out = Vec::new();
        write_receiver_report(&mut out, 1, &[block(2, i32::MIN), block(3, i32::MAX)]).unwrap();
        let c = RtcpCompound::parse(&out).unwrap();
        let Some(RtcpPacket::ReceiverReport { reports, .. }) = c.packets().next() else {
            panic!()
        };
        let lost: Vec<i32> = reports.iter().map(|b| b.cumulative_lost).collect();
        assert_eq!(lost, vec![-0x80_0000, 0x7F_FFFF]);
    }

    #[test]
    fn invalid_compounds_are_refused_with_where_and_why() {
        assert_eq!(
            RtcpCompound::parse(&[]),
            Err(RtcpError::Truncated { at: 0 })
        );
        assert_eq!(
            RtcpCompound::parse(&[0x40, 201, 0, 0]),
            Err(RtcpError::BadVersion { at: 0, version: 1 })
        );
        let mut bye_first = Vec::new();
        write_bye(&mut bye_first, &[1], None).unwrap();
        assert_eq!(
            RtcpCompound::parse(&bye_first),
            Err(RtcpError::NotAReportFirst { packet_type: 203 })
        );
        assert_eq!(
            RtcpCompound::parse(&[0x80, 201, 0, 9, 0, 0, 0, 1]),
            Err(RtcpError::LengthOverrun { at: 0, len: 40 })
        );
        // RR claiming one block with no room for it.
        assert_eq!(
            RtcpCompound::parse(&[0x81, 201, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::BadCount { at: 0 })
        );
        // Padding on a packet that is not the last.
        let mut padded = vec![0xA0, 201, 0, 1, 0, 0, 0, 4];
        write_receiver_report(&mut padded, 2, &[]).unwrap();
        assert_eq!(
            RtcpCompound::parse(&padded),
            Err(RtcpError::BadPadding { at: 0 })
        );
    }

    #[test]
    fn writers_refuse_what_does_not_fit() {
        let mut out = Vec::new();
        assert_eq!(
            write_receiver_report(&mut out, 1, &[ReportBlock::default(); 32]),
            Err(RtcpWriteError::TooMany { count: 32 })
        );
        assert_eq!(
            write_sdes_cname(&mut out, 1, &[b'a'; 256]),
            Err(RtcpWriteError::TextTooLong { len: 256 })
        );
        assert!(out.is_empty());
    }

    #[test]
    fn round_trip_follows_the_worked_example_of_rfc3550_6_4_1() {
        // A = 46864.500 s, LSR = 46853.125 s, DLSR = 5.250 s: 6.125 s of delay.
        let rtt = round_trip(0xB710_8000, 0xB705_2000, 0x0005_4000).unwrap();
        assert_eq!(rtt, Duration::from_micros(6_125_000));
        // Across the wrap of the 32-bit field.
        let rtt = round_trip(0x0000_1000, 0xFFFF_F000, 0x0000_1000).unwrap();
        assert_eq!(rtt, Duration::from_micros(1_000_000 / 16));
        assert_eq!(round_trip(0x0001_0000, 0, 0), None, "no SR of ours yet");
        assert_eq!(
            round_trip(0x0001_0000, 0x0000_FF00, 0x0000_0140),
            Some(Duration::ZERO),
            "a DLSR rounded up by a millisecond clock overshoots a loopback round trip"
        );
        assert_eq!(
            round_trip(0x0001_0000, 0x0001_0000, 0x0000_8000),
            None,
            "a delay longer than the round trip cannot be"
        );
    }

    #[test]
    fn a_two_party_audio_call_reports_at_the_minimum_interval() {
        // G.711 at 20 ms: 80 kbit/s with headers, 5 % of it for RTCP.
        let mut inputs = IntervalInputs {
            members: 2,
            senders: 2,
            rtcp_octets_per_s: 500,
            we_sent: true,
            avg_rtcp_octets: 100,
            initial: true,
        };
        assert_eq!(report_interval(&inputs), Duration::from_millis(2_500));
        inputs.initial = false;
        assert_eq!(report_interval(&inputs), MIN_REPORT_INTERVAL);
        // A large conference on a thin link: n · size / bandwidth exceeds the minimum.
        let big = IntervalInputs {
            members: 400,
            senders: 4,
            rtcp_octets_per_s: 500,
            we_sent: false,
            avg_rtcp_octets: 100,
            initial: false,
        };
        // 396 receivers share 3/4 of 500 octets/s (375): 396 · 100 / 375 = 105.6 s.
        assert_eq!(report_interval(&big), Duration::from_micros(105_600_000));
        let sender = IntervalInputs {
            we_sent: true,
            ..big
        };
        // 4 senders share 125 octets/s: 4 · 100 / 125 = 3.2 s, so the minimum.
        assert_eq!(report_interval(&sender), MIN_REPORT_INTERVAL);
    }

    #[test]
    fn the_random_factor_spans_half_to_one_and_a_half() {
        let t = MIN_REPORT_INTERVAL;
        assert_eq!(randomise_interval(t, 0), Duration::from_millis(2_500));
        assert_eq!(randomise_interval(t, 500_000), t);
        assert_eq!(
            randomise_interval(t, 1_000_000),
            Duration::from_millis(7_500)
        );
        assert_eq!(
            randomise_interval(t, u64::MAX),
            Duration::from_millis(7_500)
        );
    }

    #[test]
    fn rtcp_goes_one_port_above_rtp() {
        let rtp: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        assert_eq!(rtcp_address(rtp), Some("192.0.2.1:40001".parse().unwrap()));
        assert_eq!(rtcp_address("192.0.2.1:65535".parse().unwrap()), None);
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            if let Ok(c) = RtcpCompound::parse(&data) {
                for p in c.packets() {
                    if let RtcpPacket::SenderReport { reports, .. } | RtcpPacket::ReceiverReport { reports, .. } = p {
                        prop_assert!(reports.iter().count() <= MAX_COUNT);
                    }
                }
            }
        }

        #[test]
        fn written_reports_read_back(
            ssrc in any::<u32>(),
            blocks in proptest::collection::vec((any::<u32>(), any::<u8>(), -0x80_0000i32..0x80_0000, any::<u32>(), any::<u32>()), 0..=31),
            cname in proptest::collection::vec(any::<u8>(), 0..=255),
        ) {
            let blocks: Vec<ReportBlock> = blocks
                .into_iter()
                .map(|(ssrc, fraction_lost, cumulative_lost, highest_sequence, jitter)| ReportBlock {
                    ssrc, fraction_lost, cumulative_lost, highest_sequence, jitter, last_sr: jitter ^ 1, delay_since_last_sr: 3,
                })
                .collect();
            let mut out = Vec::new();
            write_receiver_report(&mut out, ssrc, &blocks).unwrap();
            write_sdes_cname(&mut out, ssrc, &cname).unwrap();
            let c = RtcpCompound::parse(&out).unwrap();
            let mut packets = c.packets();
            let Some(RtcpPacket::ReceiverReport { ssrc: got, reports }) = packets.next() else {
                panic!("no RR");
            };
            prop_assert_eq!(got, ssrc);
            prop_assert_eq!(reports.iter().collect::<Vec<_>>(), blocks);
            let is_sdes = matches!(packets.next(), Some(RtcpPacket::Other { packet_type: PT_SDES, .. }));
            prop_assert!(is_sdes);
            prop_assert!(packets.next().is_none());
        }
    }
}
