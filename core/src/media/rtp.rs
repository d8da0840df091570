//! The RTP fixed header, RFC 3550 §5.1 (with the header extension of §5.3.1 and padding).
//!
//! [`RtpPacket`] is a borrowed, zero-copy reader: it checks the layout once and then hands
//! out fields and slices of the datagram. [`RtpHeader`] writes a header (and a payload and
//! padding) into a buffer the caller lends. Header extensions are carried as opaque words:
//! the reader skips them (exposing the profile and the bytes), the writer copies them.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! |                           timestamp                           |
//! |           synchronization source (SSRC) identifier            |
//! |            contributing source (CSRC) identifiers  (CC × 4)   |
//! |  extension profile (X=1)      |   extension length in words   |
//! ```

use std::fmt;

/// The RTP version this codec speaks (RFC 3550 §5.1).
pub const RTP_VERSION: u8 = 2;
/// Length of the fixed header, without CSRCs or extension.
pub const FIXED_HEADER_LEN: usize = 12;
/// The most CSRCs a header can carry (the CC field is four bits).
pub const MAX_CSRCS: usize = 15;

/// Why a datagram is not a valid RTP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header.
    TooShort {
        /// The datagram's length.
        len: usize,
    },
    /// The version field is not 2.
    BadVersion {
        /// The version found.
        version: u8,
    },
    /// The CC field announces more CSRCs than the datagram holds.
    CsrcTruncated {
        /// CSRCs announced.
        count: u8,
        /// The datagram's length.
        len: usize,
    },
    /// The X bit is set but the extension header or its words run past the end.
    ExtensionTruncated {
        /// Where the extension would end.
        needed: usize,
        /// The datagram's length.
        len: usize,
    },
    /// The P bit is set but the padding count is zero or longer than the payload.
    BadPadding {
        /// The count in the last octet.
        padding_len: u8,
        /// Octets available after the header.
        available: usize,
    },
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RtpError::TooShort { len } => write!(f, "RTP packet of {len} bytes is shorter than 12"),
            RtpError::BadVersion { version } => write!(f, "RTP version {version}, expected 2"),
            RtpError::CsrcTruncated { count, len } => {
                write!(
                    f,
                    "{count} CSRCs announced but the packet has only {len} bytes"
                )
            }
            RtpError::ExtensionTruncated { needed, len } => {
                write!(f, "header extension needs {needed} bytes, packet has {len}")
            }
            RtpError::BadPadding {
                padding_len,
                available,
            } => write!(
                f,
                "padding count {padding_len} with {available} bytes after the header"
            ),
        }
    }
}

impl std::error::Error for RtpError {}

/// A parsed view of an RTP packet borrowed from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    data: &'a [u8],
    /// Offset of the extension's profile word, when X is set.
    extension_at: Option<usize>,
    payload_start: usize,
    payload_end: usize,
}

impl<'a> RtpPacket<'a> {
    /// Checks the layout of `data` and returns a view of it.
    pub fn parse(data: &'a [u8]) -> Result<Self, RtpError> {
        let len = data.len();
        if len < FIXED_HEADER_LEN {
            return Err(RtpError::TooShort { len });
        }
        let version = data[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion { version });
        }
        let count = data[0] & 0x0F;
        let mut at = FIXED_HEADER_LEN + 4 * usize::from(count);
        if len < at {
            return Err(RtpError::CsrcTruncated { count, len });
        }
        let mut extension_at = None;
        if data[0] & 0x10 != 0 {
            if len < at + 4 {
                return Err(RtpError::ExtensionTruncated {
                    needed: at + 4,
                    len,
                });
            }
            let words = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
            let needed = at + 4 + 4 * words;
            if len < needed {
                return Err(RtpError::ExtensionTruncated { needed, len });
            }
            extension_at = Some(at);
            at = needed;
        }
        let mut payload_end = len;
        if data[0] & 0x20 != 0 {
            let padding_len = data[len - 1];
            let available = len - at;
            if padding_len == 0 || usize::from(padding_len) > available {
                return Err(RtpError::BadPadding {
                    padding_len,
                    available,
                });
            }
            payload_end = len - usize::from(padding_len);
        }
        Ok(RtpPacket {
            data,
            extension_at,
            payload_start: at,
            payload_end,
        })
    }

    /// The P bit: the packet ends in padding (already removed from [`payload`](Self::payload)).
    pub fn padding(&self) -> bool {
        self.data[0] & 0x20 != 0
    }

    /// Octets of padding at the end of the packet (0 without the P bit).
    pub fn padding_len(&self) -> usize {
        self.data.len() - self.payload_end
    }

    /// The M bit: for audio, the first packet of a talkspurt (RFC 3551 §4.1).
    pub fn marker(&self) -> bool {
        self.data[1] & 0x80 != 0
    }

    /// The 7-bit payload type.
    pub fn payload_type(&self) -> u8 {
        self.data[1] & 0x7F
    }

    /// The 16-bit sequence number.
    pub fn sequence_number(&self) -> u16 {
        u16::from_be_bytes([self.data[2], self.data[3]])
    }

    /// The 32-bit media timestamp.
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.data[4], self.data[5], self.data[6], self.data[7]])
    }

    /// The synchronization source.
    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.data[8], self.data[9], self.data[10], self.data[11]])
    }

    /// How many contributing sources the header lists.
    pub fn csrc_count(&self) -> usize {
        usize::from(self.data[0] & 0x0F)
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        let data = self.data;
        (0..self.csrc_count()).map(move |i| {
            let at = FIXED_HEADER_LEN + 4 * i;
            u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
        })
    }

    /// The header extension, when the X bit is set: its 16-bit profile and its words.
    pub fn extension(&self) -> Option<RtpExtension<'a>> {
        let at = self.extension_at?;
        let profile = u16::from_be_bytes([self.data[at], self.data[at + 1]]);
        Some(RtpExtension {
            profile,
            data: &self.data[at + 4..self.payload_start],
        })
    }

    /// Length of the whole header (fixed part, CSRCs and extension).
    pub fn header_len(&self) -> usize {
        self.payload_start
    }

    /// The payload, without header and padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.data[self.payload_start..self.payload_end]
    }

    /// The whole datagram this view was parsed from.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.data
    }
}

/// A header extension (RFC 3550 §5.3.1): a profile-defined 16-bit value and whole words of
/// data (for RFC 8285 one- and two-byte elements, the profile is 0xBEDE or 0x100x).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpExtension<'a> {
    /// The "defined by profile" field.
    pub profile: u16,
    /// The extension's data, a multiple of four octets.
    pub data: &'a [u8],
}

/// The fields of an RTP header to write (RFC 3550 §5.1). Version is always 2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RtpHeader<'a> {
    /// The M bit.
    pub marker: bool,
    /// The payload type (0..=127).
    pub payload_type: u8,
    /// The sequence number.
    pub sequence_number: u16,
    /// The media timestamp.
    pub timestamp: u32,
    /// The synchronization source.
    pub ssrc: u32,
    /// Contributing sources (at most 15).
    pub csrcs: &'a [u32],
    /// A header extension to carry, if any.
    pub extension: Option<RtpExtension<'a>>,
    /// Octets of padding to append after the payload, 0 for none (sets the P bit
    /// otherwise; the last padding octet holds the count, RFC 3550 §5.1).
    pub padding_len: u8,
}

/// Why a header could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtpWriteError {
    /// The payload type does not fit seven bits.
    PayloadTypeOutOfRange {
        /// The value given.
        payload_type: u8,
    },
    /// More than 15 CSRCs.
    TooManyCsrcs {
        /// How many were given.
        count: usize,
    },
    /// Extension data is not a whole number of 32-bit words, or longer than 65535 words.
    BadExtensionLength {
        /// Octets of extension data given.
        len: usize,
    },
    /// The caller's slice is too small.
    BufferTooSmall {
        /// Octets the packet needs.
        needed: usize,
        /// Octets the slice has.
        available: usize,
    },
}

impl fmt::Display for RtpWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RtpWriteError::PayloadTypeOutOfRange { payload_type } => {
                write!(f, "payload type {payload_type} does not fit 7 bits")
            }
            RtpWriteError::TooManyCsrcs { count } => write!(f, "{count} CSRCs, at most 15"),
            RtpWriteError::BadExtensionLength { len } => {
                write!(
                    f,
                    "extension of {len} octets is not whole 32-bit words (max 65535)"
                )
            }
            RtpWriteError::BufferTooSmall { needed, available } => {
                write!(f, "RTP packet needs {needed} bytes, buffer has {available}")
            }
        }
    }
}

impl std::error::Error for RtpWriteError {}

impl RtpHeader<'_> {
    /// Octets of header this value writes (fixed part, CSRCs, extension).
    pub fn header_len(&self) -> usize {
        let ext = self.extension.map_or(0, |e| 4 + e.data.len());
        FIXED_HEADER_LEN + 4 * self.csrcs.len() + ext
    }

    /// Octets a packet with this header and a `payload_len`-octet payload takes.
    pub fn packet_len(&self, payload_len: usize) -> usize {
        self.header_len() + payload_len + usize::from(self.padding_len)
    }

    /// Writes header, `payload` and padding at the start of `out`; returns the length.
    pub fn write_to_slice(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpWriteError> {
        self.check()?;
        let needed = self.packet_len(payload.len());
        if out.len() < needed {
            return Err(RtpWriteError::BufferTooSmall {
                needed,
                available: out.len(),
            });
        }
        let mut at = self.write_header(out);
        out[at..at + payload.len()].copy_from_slice(payload);
        at += payload.len();
        if self.padding_len > 0 {
            let pad = usize::from(self.padding_len);
            out[at..at + pad - 1].fill(0);
            out[at + pad - 1] = self.padding_len;
            at += pad;
        }
        debug_assert_eq!(at, needed);
        Ok(needed)
    }

    /// Appends header, `payload` and padding to `out`; returns the packet's length.
    /// Allocates only if `out` lacks the capacity.
    pub fn write(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<usize, RtpWriteError> {
        self.check()?;
        let start = out.len();
        let needed = self.packet_len(payload.len());
        out.resize(start + needed, 0);
        self.write_to_slice(payload, &mut out[start..])
    }

    fn check(&self) -> Result<(), RtpWriteError> {
        if self.payload_type > 0x7F {
            return Err(RtpWriteError::PayloadTypeOutOfRange {
                payload_type: self.payload_type,
            });
        }
        if self.csrcs.len() > MAX_CSRCS {
            return Err(RtpWriteError::TooManyCsrcs {
                count: self.csrcs.len(),
            });
        }
        if let Some(ext) = self.extension {
            let len = ext.data.len();
            if len % 4 != 0 || len / 4 > usize::from(u16::MAX) {
                return Err(RtpWriteError::BadExtensionLength { len });
            }
        }
        Ok(())
    }

    /// Writes the header (already checked, `out` long enough); returns its length.
    fn write_header(&self, out: &mut [u8]) -> usize {
        let mut b0 = (RTP_VERSION << 6) | self.csrcs.len() as u8;
        if self.padding_len > 0 {
            b0 |= 0x20;
        }
        if self.extension.is_some() {
            b0 |= 0x10;
        }
        out[0] = b0;
        out[1] = self.payload_type | if self.marker { 0x80 } else { 0 };
        out[2..4].copy_from_slice(&self.sequence_number.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut at = FIXED_HEADER_LEN;
        for csrc in self.csrcs {
            out[at..at + 4].copy_from_slice(&csrc.to_be_bytes());
            at += 4;
        }
        if let Some(ext) = self.extension {
            out[at..at + 2].copy_from_slice(&ext.profile.to_be_bytes());
            // Length checked in `check`: at most 65535 words.
            let words = (ext.data.len() / 4) as u16;
            out[at + 2..at + 4].copy_from_slice(&words.to_be_bytes());
            at += 4;
            out[at..at + ext.data.len()].copy_from_slice(ext.data);
            at += ext.data.len();
        }
        at
    }
}

/// True when the first octets of a datagram look like RTCP rather than RTP, by the
/// payload-type rule of RFC 5761 §4 (second octet 192..=223) for RTP/RTCP multiplexing.
pub fn looks_like_rtcp(datagram: &[u8]) -> bool {
    datagram.len() >= 2 && (192..=223).contains(&datagram[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;
    use webrtc_util::marshal::{Marshal, Unmarshal};

    #[test]
    fn minimal_header_round_trips() {
        let h = RtpHeader {
            marker: true,
            payload_type: 0,
            sequence_number: 0xBEEF,
            timestamp: 0x0102_0304,
            ssrc: 0xDEAD_BEEF,
            ..RtpHeader::default()
        };
        let mut buf = Vec::new();
        let n = h.write(&[0xFF; 160], &mut buf).unwrap();
        assert_eq!(n, 172);
        assert_eq!(&buf[..4], &[0x80, 0x80, 0xBE, 0xEF]);
        let p = RtpPacket::parse(&buf).unwrap();
        assert!(p.marker());
        assert_eq!(p.payload_type(), 0);
        assert_eq!(p.sequence_number(), 0xBEEF);
        assert_eq!(p.timestamp(), 0x0102_0304);
        assert_eq!(p.ssrc(), 0xDEAD_BEEF);
        assert_eq!(p.payload().len(), 160);
        assert_eq!(p.extension(), None);
        assert_eq!(p.csrcs().count(), 0);
    }

    #[test]
    fn garbage_is_rejected_with_a_typed_error() {
        assert_eq!(
            RtpPacket::parse(&[0x80; 5]),
            Err(RtpError::TooShort { len: 5 })
        );
        let mut v1 = [0u8; 12];
        v1[0] = 0x40;
        assert_eq!(
            RtpPacket::parse(&v1),
            Err(RtpError::BadVersion { version: 1 })
        );
        let mut cc = [0u8; 16];
        cc[0] = 0x82;
        assert_eq!(
            RtpPacket::parse(&cc),
            Err(RtpError::CsrcTruncated { count: 2, len: 16 })
        );
        let mut ext = [0u8; 20];
        ext[0] = 0x90;
        ext[14..16].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(
            RtpPacket::parse(&ext),
            Err(RtpError::ExtensionTruncated {
                needed: 24,
                len: 20
            })
        );
        let mut pad = [0u8; 14];
        pad[0] = 0xA0;
        pad[13] = 3;
        assert_eq!(
            RtpPacket::parse(&pad),
            Err(RtpError::BadPadding {
                padding_len: 3,
                available: 2
            })
        );
        pad[13] = 0;
        assert!(matches!(
            RtpPacket::parse(&pad),
            Err(RtpError::BadPadding { .. })
        ));
    }

    #[test]
    fn writer_refuses_what_it_cannot_encode() {
        let base = RtpHeader::default();
        let h = RtpHeader {
            payload_type: 128,
            ..base
        };
        assert!(matches!(
            h.write(&[], &mut Vec::new()),
            Err(RtpWriteError::PayloadTypeOutOfRange { .. })
        ));
        let csrcs = [0u32; 16];
        let h = RtpHeader {
            csrcs: &csrcs,
            ..base
        };
        assert_eq!(
            h.write(&[], &mut Vec::new()),
            Err(RtpWriteError::TooManyCsrcs { count: 16 })
        );
        let h = RtpHeader {
            extension: Some(RtpExtension {
                profile: 1,
                data: &[1, 2, 3],
            }),
            ..base
        };
        assert_eq!(
            h.write(&[], &mut Vec::new()),
            Err(RtpWriteError::BadExtensionLength { len: 3 })
        );
        let mut small = [0u8; 11];
        assert_eq!(
            base.write_to_slice(&[], &mut small),
            Err(RtpWriteError::BufferTooSmall {
                needed: 12,
                available: 11
            })
        );
    }

    #[test]
    fn rtcp_is_told_apart_by_the_second_octet() {
        assert!(looks_like_rtcp(&[0x80, 200, 0, 6]));
        assert!(!looks_like_rtcp(&[0x80, 0x00, 0, 1]));
        assert!(!looks_like_rtcp(&[0x80, 0x80 | 101]));
    }

    /// Random headers, shaped so that the `rtp` crate can represent them too.
    #[derive(Debug, Clone)]
    struct Case {
        marker: bool,
        payload_type: u8,
        sequence_number: u16,
        timestamp: u32,
        ssrc: u32,
        csrcs: Vec<u32>,
        /// (profile, words of data); the profile avoids the RFC 8285 values, which the
        /// oracle re-encodes element by element.
        extension: Option<(u16, Vec<u8>)>,
        payload: Vec<u8>,
        padding: bool,
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            any::<bool>(),
            0u8..128,
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            proptest::collection::vec(any::<u32>(), 0..=15),
            proptest::option::of((
                any::<u16>()
                    .prop_filter("generic profile", |p| *p != 0xBEDE && p & 0xFFF0 != 0x1000),
                (0usize..8).prop_flat_map(|w| proptest::collection::vec(any::<u8>(), w * 4)),
            )),
            proptest::collection::vec(any::<u8>(), 0..200),
            any::<bool>(),
        )
            .prop_map(
                |(
                    marker,
                    payload_type,
                    sequence_number,
                    timestamp,
                    ssrc,
                    csrcs,
                    extension,
                    payload,
                    padding,
                )| Case {
                    marker,
                    payload_type,
                    sequence_number,
                    timestamp,
                    ssrc,
                    csrcs,
                    extension,
                    payload,
                    padding,
                },
            )
    }

    fn oracle_packet(c: &Case) -> rtp::packet::Packet {
        let header = rtp::header::Header {
            version: 2,
            padding: c.padding,
            extension: c.extension.is_some(),
            marker: c.marker,
            payload_type: c.payload_type,
            sequence_number: c.sequence_number,
            timestamp: c.timestamp,
            ssrc: c.ssrc,
            csrc: c.csrcs.clone(),
            extension_profile: c.extension.as_ref().map_or(0, |e| e.0),
            extensions: c
                .extension
                .iter()
                .map(|(_, data)| rtp::header::Extension {
                    id: 0,
                    payload: Bytes::from(data.clone()),
                })
                .collect(),
            extensions_padding: 0,
        };
        rtp::packet::Packet {
            header,
            payload: Bytes::from(c.payload.clone()),
        }
    }

    /// The oracle pads to the next multiple of four (four when already aligned).
    fn oracle_padding(c: &Case) -> u8 {
        if !c.padding {
            return 0;
        }
        match c.payload.len() % 4 {
            0 => 4,
            r => (4 - r) as u8,
        }
    }

    proptest! {
        #[test]
        fn our_reader_agrees_with_the_rtp_crate_writer(c in case()) {
            let wire = oracle_packet(&c).marshal().unwrap();
            let p = RtpPacket::parse(&wire).unwrap();
            prop_assert_eq!(p.marker(), c.marker);
            prop_assert_eq!(p.payload_type(), c.payload_type);
            prop_assert_eq!(p.sequence_number(), c.sequence_number);
            prop_assert_eq!(p.timestamp(), c.timestamp);
            prop_assert_eq!(p.ssrc(), c.ssrc);
            prop_assert_eq!(p.csrcs().collect::<Vec<_>>(), c.csrcs.clone());
            prop_assert_eq!(p.extension().map(|e| (e.profile, e.data.to_vec())), c.extension.clone());
            prop_assert_eq!(p.payload(), &c.payload[..]);
            prop_assert_eq!(p.padding(), c.padding);
            prop_assert_eq!(p.padding_len(), usize::from(oracle_padding(&c)));
        }

        #[test]
        fn our_writer_is_byte_identical_to_the_rtp_crate_writer(c in case()) {
            let expected = oracle_packet(&c).marshal().unwrap();
            let h = RtpHeader {
                marker: c.marker,
                payload_type: c.payload_type,
                sequence_number: c.sequence_number,
                timestamp: c.timestamp,
                ssrc: c.ssrc,
                csrcs: &c.csrcs,
                extension: c.extension.as_ref().map(|(profile, data)| RtpExtension { profile: *profile, data }),
                padding_len: oracle_padding(&c),
            };
            let mut ours = Vec::new();
            let n = h.write(&c.payload, &mut ours).unwrap();
            prop_assert_eq!(n, ours.len());
            prop_assert_eq!(&ours[..], &expected[..]);
            // And the oracle reads ours back to the same fields.
            let back = rtp::packet::Packet::unmarshal(&mut &ours[..]).unwrap();
            prop_assert_eq!(back.payload.to_vec(), c.payload.clone());
            prop_assert_eq!(back.header.csrc, c.csrcs.clone());
        }

        #[test]
        fn rfc8285_one_byte_extensions_are_skipped_whole(
            elements in proptest::collection::vec((1u8..15, proptest::collection::vec(any::<u8>(), 1..=16)), 1..4),
            payload in proptest::collection::vec(any::<u8>(), 0..50),
        ) {
            let mut header = rtp::header::Header { version: 2, ssrc: 7, ..Default::default() };
            for (id, data) in &elements {
                header.set_extension(*id, Bytes::from(data.clone())).unwrap();
            }
            let wire = rtp::packet::Packet { header, payload: Bytes::from(payload.clone()) }.marshal().unwrap();
            let p = RtpPacket::parse(&wire).unwrap();
            let ext = p.extension().unwrap();
            prop_assert_eq!(ext.profile, 0xBEDE);
            prop_assert_eq!(ext.data.len() % 4, 0);
            prop_assert_eq!(p.payload(), &payload[..]);
        }

        #[test]
        fn parsing_arbitrary_bytes_never_panics_and_agrees_on_validity(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let ours = RtpPacket::parse(&data);
            if let Ok(p) = ours {
                prop_assert!(p.header_len() + p.payload().len() + p.padding_len() == data.len());
                // Anything we accept, the oracle accepts with the same payload.
                let theirs = rtp::packet::Packet::unmarshal(&mut &data[..]);
                if p.extension().is_none_or(|e| e.profile != 0xBEDE && e.profile & 0xFFF0 != 0x1000) {
                    let theirs = theirs.unwrap();
                    prop_assert_eq!(&theirs.payload[..], p.payload());
                }
            }
        }
    }
}
