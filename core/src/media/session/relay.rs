//! Anchored media for bridged legs (a B2BUA): a packet that arrived on one leg leaves on
//! the other, rewritten in place for the leg it leaves on.
//!
//! Each leg is an RTP session of its own toward its own peer (RFC 3550 §7.3 calls this a
//! translator's job when the payload changes, a mixer's when streams combine; we only
//! translate). So the packet takes the outgoing leg's SSRC, its sequence numbers and
//! timestamps continue the outgoing leg's own (an offset fixed at the first packet of each
//! incoming source, so loss and reordering pass through as they were), the audio payload
//! type becomes the outgoing leg's, G.711 is converted between the laws when the legs
//! negotiated different ones (the payload keeps its size: one octet per sample either
//! way), and a telephone-event packet (RFC 4733) takes the outgoing leg's event payload
//! type. Nothing is allocated per packet: the packet is rewritten in the buffer the
//! driver lent, and the conversion table is built once per incoming source.

use std::net::SocketAddr;

use super::{AudioCodec, RtpSession};
use crate::media::g711::G711Law;
use crate::media::rtp::RtpPacket;
use crate::time::Instant;

/// How the leg a packet arrived on reads its payload types: what
/// [`RtpSession::relay_out`] needs to know of the other leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelaySource {
    /// The audio codec the incoming leg negotiated.
    pub codec: AudioCodec,
    /// Its telephone-event payload type, if it negotiated one.
    pub telephone_event_pt: Option<u8>,
}

/// The outgoing leg's mapping of one incoming source onto its own numbering.
#[derive(Debug)]
pub(super) struct RelayMap {
    /// The incoming SSRC the offsets were fixed for; `None` until the first packet.
    source_ssrc: Option<u32>,
    seq_offset: u16,
    ts_offset: u32,
    /// The incoming leg's law, the table was built for it.
    from_law: Option<G711Law>,
    /// Octet → octet, when the laws differ.
    transcode: Option<Box<[u8; 256]>>,
}

impl RelayMap {
    pub(super) fn new() -> Self {
        RelayMap {
            source_ssrc: None,
            seq_offset: 0,
            ts_offset: 0,
            from_law: None,
            transcode: None,
        }
    }
}

/// A 256-entry table that converts one G.711 law's octets to the other's.
fn conversion(from: G711Law, to: G711Law) -> Box<[u8; 256]> {
    let mut table = Box::new([0u8; 256]);
    for (code, out) in table.iter_mut().enumerate() {
        *out = to.encode(from.decode(code as u8));
    }
    table
}

impl RtpSession {
    /// Stops (or restarts) the session's own source: while relaying, it sends only what
    /// [`relay_out`](Self::relay_out) rewrites (and its RTCP); received audio is not
    /// echoed. Restarting resumes the packet clock at `now` with a talkspurt start.
    pub fn set_relaying(&mut self, relaying: bool, now: Instant) {
        match (relaying, self.relay.is_some()) {
            (true, false) => {
                self.relay = Some(Box::new(RelayMap::new()));
                self.send_queue.clear();
            }
            (false, true) => {
                self.relay = None;
                if now > self.next_tick {
                    let behind = self.ticks_between(self.next_tick, now);
                    self.skip_ticks(behind);
                }
                self.talkspurt_start = true;
            }
            _ => {}
        }
    }

    /// Whether the session relays another leg's packets instead of sending its own.
    pub fn is_relaying(&self) -> bool {
        self.relay.is_some()
    }

    /// How this leg reads payload types, for the other leg's [`relay_out`](Self::relay_out).
    pub fn relay_source(&self) -> RelaySource {
        RelaySource {
            codec: self.codec,
            telephone_event_pt: self.telephone_event_pt,
        }
    }

    /// Rewrites `packet`, an RTP packet that arrived on the other leg (which reads payload
    /// types as `from` says), to leave on this one, and says where it goes. `None`: it does
    /// not leave (this session is not relaying, is stopped or does not send, or the packet
    /// is not audio or an event this leg can carry).
    pub fn relay_out(&mut self, from: RelaySource, packet: &mut [u8]) -> Option<SocketAddr> {
        if self.stopped || !self.direction.sends() {
            return None;
        }
        let map = self.relay.as_mut()?;
        let (pt, seq, ts, ssrc, payload) = {
            let p = RtpPacket::parse(packet).ok()?;
            let start = p.header_len();
            (
                p.payload_type(),
                p.sequence_number(),
                p.timestamp(),
                p.ssrc(),
                start..start + p.payload().len(),
            )
        };
        let audio = pt == from.codec.payload_type;
        let out_pt = if audio {
            self.codec.payload_type
        } else if Some(pt) == from.telephone_event_pt {
            self.telephone_event_pt?
        } else {
            return None;
        };
        let new_source = map.source_ssrc != Some(ssrc);
        if new_source {
            map.source_ssrc = Some(ssrc);
            map.seq_offset = self.next_sequence.wrapping_sub(seq);
            map.ts_offset = self.next_timestamp.wrapping_sub(ts);
        }
        if map.from_law != Some(from.codec.law) {
            map.from_law = Some(from.codec.law);
            map.transcode = (from.codec.law != self.codec.law)
                .then(|| conversion(from.codec.law, self.codec.law));
        }
        let out_seq = seq.wrapping_add(map.seq_offset);
        let out_ts = ts.wrapping_add(map.ts_offset);
        // A new source starts a talkspurt on this leg's stream (RFC 3551 §4.1).
        let marker = if new_source { 0x80 } else { packet[1] & 0x80 };
        packet[1] = marker | out_pt;
        packet[2..4].copy_from_slice(&out_seq.to_be_bytes());
        packet[4..8].copy_from_slice(&out_ts.to_be_bytes());
        packet[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        if let (true, Some(table)) = (audio, map.transcode.as_deref()) {
            for octet in &mut packet[payload.clone()] {
                *octet = table[usize::from(*octet)];
            }
        }
        // Our own numbering goes on from here if the bridge ends.
        if seq_newer(out_seq, self.next_sequence.wrapping_sub(1)) {
            self.next_sequence = out_seq.wrapping_add(1);
            self.next_timestamp = out_ts.wrapping_add(self.samples_per_packet);
        }
        self.stats.packets_sent += 1;
        self.stats.octets_sent += payload.len() as u64;
        Some(self.remote)
    }
}

/// Whether sequence number `a` comes after `b`, modulo 2^16 (RFC 3550 A.1).
fn seq_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::G711Law;
    use crate::media::rtp::RtpHeader;
    use crate::media::session::RtpSessionConfig;
    use crate::media::MediaDirection;

    fn leg(ssrc: u32, seq: u16, ts: u32, codec: AudioCodec, te: Option<u8>) -> RtpSession {
        let remote = "192.0.2.9:4000".parse().unwrap();
        let mut c = RtpSessionConfig::new(ssrc, seq, ts, codec, remote);
        c.telephone_event_payload_type = te;
        let mut s = RtpSession::new(c, Instant::from_millis(0));
        s.set_relaying(true, Instant::from_millis(0));
        s
    }

    fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let header = RtpHeader {
            payload_type: pt,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            ..RtpHeader::default()
        };
        header.write(payload, &mut out).unwrap();
        out
    }

    #[test]
    fn a_relayed_packet_takes_the_outgoing_legs_numbering_and_keeps_gaps() {
        let a = leg(0xA, 100, 5000, AudioCodec::PCMU, Some(101));
        let mut b = leg(0xB, 7, 90_000, AudioCodec::PCMU, Some(96));
        let from = a.relay_source();
        let mut first = packet(0, 40_000, 1_000, 0x1234, &[0xFF; 160]);
        assert_eq!(b.relay_out(from, &mut first), Some(b.remote()));
        let p = RtpPacket::parse(&first).unwrap();
        assert_eq!(
            (p.ssrc(), p.sequence_number(), p.timestamp(), p.marker()),
            (0xB, 7, 90_000, true)
        );
        // Two packets lost upstream: the gap is kept, not closed.
        let mut later = packet(0, 40_003, 1_480, 0x1234, &[0xFF; 160]);
        b.relay_out(from, &mut later).unwrap();
        let p = RtpPacket::parse(&later).unwrap();
        assert_eq!(
            (p.sequence_number(), p.timestamp(), p.marker()),
            (10, 90_480, false)
        );
        assert_eq!(b.stats().packets_sent, 2);
        assert_eq!(b.stats().octets_sent, 320);
    }

    #[test]
    fn pcmu_is_converted_to_pcma_and_events_take_the_outgoing_payload_type() {
        let a = leg(0xA, 1, 1, AudioCodec::PCMU, Some(101));
        let mut b = leg(0xB, 1, 1, AudioCodec::PCMA, Some(96));
        let from = a.relay_source();
        let samples: Vec<i16> = (0..160)
            .map(|i| ((i * 397) % 16000 - 8000) as i16)
            .collect();
        let ulaw: Vec<u8> = samples.iter().map(|&s| G711Law::MuLaw.encode(s)).collect();
        let mut audio = packet(0, 1, 160, 9, &ulaw);
        b.relay_out(from, &mut audio).unwrap();
        let p = RtpPacket::parse(&audio).unwrap();
        assert_eq!(p.payload_type(), 8);
        for (&code, &sent) in p.payload().iter().zip(&samples) {
            let back = G711Law::ALaw.decode(code);
            // Two quantisations: within a few percent of the original.
            assert!((i32::from(back) - i32::from(sent)).abs() <= i32::from(sent).abs() / 8 + 32);
        }
        let mut event = packet(101, 2, 160, 9, &[5, 0x0A, 0x00, 0xA0]);
        b.relay_out(from, &mut event).unwrap();
        let p = RtpPacket::parse(&event).unwrap();
        assert_eq!(
            (p.payload_type(), p.payload()),
            (96, &[5, 0x0A, 0x00, 0xA0][..])
        );
    }

    #[test]
    fn what_the_outgoing_leg_cannot_carry_is_not_relayed() {
        let a = leg(0xA, 1, 1, AudioCodec::PCMU, Some(101));
        let mut b = leg(0xB, 1, 1, AudioCodec::PCMU, None);
        let from = a.relay_source();
        let mut event = packet(101, 1, 160, 9, &[5, 0x0A, 0x00, 0xA0]);
        assert_eq!(b.relay_out(from, &mut event), None);
        let mut comfort_noise = packet(13, 1, 160, 9, &[40]);
        assert_eq!(b.relay_out(from, &mut comfort_noise), None);
        assert_eq!(b.relay_out(from, &mut [0x80, 0, 1]), None);
        b.set_direction(MediaDirection::RecvOnly, Instant::from_millis(0));
        let mut audio = packet(0, 1, 160, 9, &[0xFF; 160]);
        assert_eq!(b.relay_out(from, &mut audio), None);
        assert_eq!(b.stats().packets_sent, 0);
    }

    #[test]
    fn a_relaying_leg_sends_nothing_of_its_own_until_the_bridge_ends() {
        let mut b = leg(0xB, 1, 1, AudioCodec::PCMU, None);
        let mut buf = Vec::new();
        let t = Instant::from_millis(100);
        assert!(b.poll_transmit(t, &mut buf).is_none());
        b.set_relaying(false, t);
        assert!(b.poll_transmit(t, &mut buf).is_some());
    }
}
