//! Media statistics: counters each way, and per-source reception statistics per RFC 3550
//! Appendix A — extended sequence numbers (A.1), expected and lost packets (A.3) and
//! interarrival jitter (A.8).
//!
//! Decisions a reader would not guess:
//! - No probation (A.1's `MIN_SEQUENTIAL` is 0): on a signalled SIP call the remote source
//!   is known, so its first packet already counts.
//! - As in A.3, duplicates count as received, so `lost` can under-count and even go
//!   negative; it is an `i64` for that reason.
//! - Jitter is only fed by packets whose timestamp is a sampling instant: the session
//!   leaves RFC 4733 event packets out, since their timestamp is the event's start.

use crate::time::Instant;

/// A jump of this many sequence numbers or more is not a gap but a restart (A.1).
pub const MAX_DROPOUT: u16 = 3000;
/// Sequence numbers this far behind the highest are late packets, not a restart (A.1).
pub const MAX_MISORDER: u16 = 100;

/// Everything a [`RtpSession`](super::RtpSession) counts, for the application and for the
/// endpoint's summaries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaStats {
    /// RTP packets handed out by `poll_transmit` (audio and DTMF).
    pub packets_sent: u64,
    /// Payload octets sent (the RFC 3550 sender's octet count: no headers, no padding).
    pub octets_sent: u64,
    /// RTP packets received and accepted (any payload type we know).
    pub packets_received: u64,
    /// Payload octets received in those packets.
    pub octets_received: u64,
    /// Datagrams that were not RTP or RTCP (too short, wrong version, bad layout).
    pub invalid_received: u64,
    /// RTP packets with a payload type not negotiated for this session.
    pub unknown_payload_type_received: u64,
    /// Valid RTCP compound packets received, on the RTCP port or multiplexed on the RTP
    /// port (RFC 5761).
    pub rtcp_received: u64,
    /// RTCP compound packets sent: reports, and the BYE that ends the stream.
    pub rtcp_sent: u64,
    /// Datagrams that came as RTCP but failed the RFC 3550 A.2 checks; dropped.
    pub rtcp_invalid: u64,
    /// What the peer last reported about our stream in an SR or RR (RFC 3550 §6.4).
    pub remote_report: Option<RemoteReport>,
    /// RFC 4733 events (digits) sent.
    pub dtmf_sent: u64,
    /// RFC 4733 events (digits) reported to the application.
    pub dtmf_received: u64,
    /// Received audio frames dropped because the sink was full.
    pub sink_dropped: u64,
    /// Received audio frames not echoed because the echo queue was full or the frame too big.
    pub echo_dropped: u64,
    /// Events dropped because the application did not drain them.
    pub events_dropped: u64,
    /// How many times the remote SSRC changed.
    pub remote_ssrc_changes: u64,
    /// Reception statistics of the current remote source.
    pub reception: ReceptionStats,
}

/// The peer's view of our stream: the figures of the last report block about our source
/// (RFC 3550 §6.4.1), and the round-trip time it gives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteReport {
    /// When the report arrived.
    pub at: Instant,
    /// The fraction of our packets lost since its previous report, in 1/256.
    pub fraction_lost: u8,
    /// Our packets lost since the start (negative with duplicates).
    pub cumulative_lost: i32,
    /// The highest sequence number of ours it received, extended.
    pub highest_sequence: u32,
    /// Interarrival jitter of our packets at the peer, in timestamp units.
    pub jitter: u32,
    /// Interarrival jitter in microseconds (at the 8000 Hz clock of G.711).
    pub jitter_us: u64,
    /// The round trip from the report's LSR and DLSR (§6.4.1); `None` until the peer
    /// has received an SR of ours.
    pub round_trip: Option<std::time::Duration>,
    /// Reports about our source received so far.
    pub reports: u64,
}

impl RemoteReport {
    /// The fraction lost as a percentage.
    pub fn fraction_lost_percent(&self) -> f64 {
        f64::from(self.fraction_lost) * 100.0 / 256.0
    }
}

/// Reception statistics of one remote synchronization source (RFC 3550 A.1, A.3, A.8).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceptionStats {
    ssrc: Option<u32>,
    base_seq: u16,
    max_seq: u16,
    /// Sequence-number cycles, shifted: a multiple of 65536.
    cycles: u32,
    bad_seq: u32,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Relative transit time of the previous packet, in timestamp units.
    transit: Option<i32>,
    /// Jitter scaled by 16, the integer form of A.8.
    jitter_q4: u32,
    last_arrival: Option<Instant>,
}

/// What the sequence-number check made of a packet (RFC 3550 A.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceVerdict {
    /// Counted: in order, after a gap, late, or a duplicate.
    Counted,
    /// The first packet of a new source (or of a restarted one); counted.
    NewSource,
    /// A jump too large to be a gap; dropped unless the next packet confirms a restart.
    Dropped,
}

impl ReceptionStats {
    /// The source these statistics describe, once a packet arrived.
    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    /// Accounts one packet from `ssrc` with sequence number `seq`; a new `ssrc` resets the
    /// statistics. `rtp_ts` and `arrival` feed the jitter estimate when `timed` is true;
    /// `clock_rate_hz` converts `arrival` to timestamp units.
    pub fn on_packet(
        &mut self,
        ssrc: u32,
        seq: u16,
        rtp_ts: u32,
        arrival: Instant,
        clock_rate_hz: u32,
        timed: bool,
    ) -> SequenceVerdict {
        let verdict = if self.ssrc != Some(ssrc) {
            *self = ReceptionStats::default();
            self.ssrc = Some(ssrc);
            self.init_sequence(seq);
            self.received = 1;
            SequenceVerdict::NewSource
        } else {
            self.update_sequence(seq)
        };
        if verdict == SequenceVerdict::Dropped {
            return verdict;
        }
        self.last_arrival = Some(arrival);
        if timed {
            self.update_jitter(rtp_ts, arrival, clock_rate_hz);
        }
        verdict
    }

    /// Packets counted as received (duplicates included, A.3).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The highest sequence number seen, extended with the count of wraps.
    pub fn extended_max_sequence(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected: from the first sequence number to the highest (A.3).
    pub fn expected(&self) -> u64 {
        if self.ssrc.is_none() {
            return 0;
        }
        (u64::from(self.cycles) + u64::from(self.max_seq) + 1)
            .saturating_sub(u64::from(self.base_seq))
    }

    /// Cumulative packets lost: expected minus received (negative with duplicates, A.3).
    pub fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// The fraction lost since the previous call, in 1/256 (the RTCP "fraction lost"
    /// field, A.3), and starts a new interval.
    pub fn take_fraction_lost(&mut self) -> u8 {
        let expected = self.expected();
        let expected_interval = expected - self.expected_prior.min(expected);
        let received_interval = self.received - self.received_prior.min(self.received);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        }
    }

    /// Interarrival jitter in timestamp units (A.8).
    pub fn jitter(&self) -> u32 {
        self.jitter_q4 >> 4
    }

    /// Interarrival jitter in microseconds at `clock_rate_hz`.
    pub fn jitter_us(&self, clock_rate_hz: u32) -> u64 {
        if clock_rate_hz == 0 {
            return 0;
        }
        u64::from(self.jitter_q4) * 1_000_000 / 16 / u64::from(clock_rate_hz)
    }

    /// When the last counted packet arrived.
    pub fn last_arrival(&self) -> Option<Instant> {
        self.last_arrival
    }

    fn init_sequence(&mut self, seq: u16) {
        self.base_seq = seq;
        self.max_seq = seq;
        self.bad_seq = u32::from(u16::MAX) + 2; // an impossible sequence number
        self.cycles = 0;
        self.received = 0;
        self.expected_prior = 0;
        self.received_prior = 0;
    }

    /// A.1 `update_seq`, without probation.
    fn update_sequence(&mut self, seq: u16) -> SequenceVerdict {
        let udelta = seq.wrapping_sub(self.max_seq);
        let mut verdict = SequenceVerdict::Counted;
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(1 << 16);
            }
            self.max_seq = seq;
        } else if udelta <= u16::MAX - MAX_MISORDER {
            // A very large jump: believe it only if the next packet follows it.
            if u32::from(seq) == self.bad_seq {
                self.init_sequence(seq);
                self.transit = None;
                verdict = SequenceVerdict::NewSource;
            } else {
                self.bad_seq = u32::from(seq.wrapping_add(1));
                return SequenceVerdict::Dropped;
            }
        }
        // Otherwise a duplicate or a late packet: counted, max unchanged.
        self.received += 1;
        verdict
    }

    /// A.8: J += (|D| - J) / 16, in the scaled integer form.
    fn update_jitter(&mut self, rtp_ts: u32, arrival: Instant, clock_rate_hz: u32) {
        let arrival_ts =
            (u128::from(arrival.as_micros()) * u128::from(clock_rate_hz) / 1_000_000) as u32;
        let transit = arrival_ts.wrapping_sub(rtp_ts) as i32;
        if let Some(previous) = self.transit {
            let d = transit.wrapping_sub(previous).unsigned_abs();
            self.jitter_q4 = self
                .jitter_q4
                .wrapping_add(d)
                .wrapping_sub((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 8000;

    fn feed(stats: &mut ReceptionStats, seqs: &[u16]) -> Vec<SequenceVerdict> {
        seqs.iter()
            .map(|&s| stats.on_packet(7, s, 0, Instant::ZERO, RATE, false))
            .collect()
    }

    #[test]
    fn loss_counts_a_gap_across_the_sequence_wrap_despite_reordering() {
        let mut s = ReceptionStats::default();
        // 65533 .. 65535, wrap to 0, 2 before 1 (reordered), 3, then 6: 4 and 5 lost.
        feed(&mut s, &[65533, 65534, 65535, 0, 2, 1, 3, 6]);
        assert_eq!(s.extended_max_sequence(), 65536 + 6);
        assert_eq!(s.expected(), 10);
        assert_eq!(s.received(), 8);
        assert_eq!(s.lost(), 2);
        // 2 of 10 lost = 51/256.
        assert_eq!(s.take_fraction_lost(), 51);
        // A new interval with nothing lost.
        feed(&mut s, &[7, 8]);
        assert_eq!(s.take_fraction_lost(), 0);
        assert_eq!(s.lost(), 2);
    }

    #[test]
    fn duplicates_count_as_received_as_in_rfc3550() {
        let mut s = ReceptionStats::default();
        feed(&mut s, &[10, 11, 11, 13]);
        assert_eq!(s.expected(), 4);
        assert_eq!(s.received(), 4);
        assert_eq!(s.lost(), 0, "the duplicate of 11 hides the loss of 12");
    }

    #[test]
    fn a_large_jump_is_a_restart_only_when_confirmed() {
        let mut s = ReceptionStats::default();
        let v = feed(&mut s, &[100, 101, 20000]);
        assert_eq!(v[2], SequenceVerdict::Dropped);
        assert_eq!(s.received(), 2);
        let v = feed(&mut s, &[20001, 20002]);
        assert_eq!(v[0], SequenceVerdict::NewSource);
        assert_eq!(s.expected(), 2);
        assert_eq!(s.received(), 2);
        assert_eq!(s.lost(), 0);
    }

    #[test]
    fn late_packets_within_misorder_do_not_move_the_maximum() {
        let mut s = ReceptionStats::default();
        feed(&mut s, &[500, 501, 450]);
        assert_eq!(s.extended_max_sequence(), 501);
        assert_eq!(s.received(), 3);
    }

    #[test]
    fn a_new_ssrc_starts_fresh_statistics() {
        let mut s = ReceptionStats::default();
        feed(&mut s, &[1, 5]);
        assert_eq!(s.lost(), 3);
        let v = s.on_packet(8, 9000, 0, Instant::ZERO, RATE, false);
        assert_eq!(v, SequenceVerdict::NewSource);
        assert_eq!(s.ssrc(), Some(8));
        assert_eq!(s.lost(), 0);
        assert_eq!(s.expected(), 1);
    }

    #[test]
    fn jitter_is_zero_for_perfect_pacing_and_follows_the_a8_recursion_otherwise() {
        let mut s = ReceptionStats::default();
        for i in 0..50u32 {
            let at = Instant::from_millis(1000 + 20 * u64::from(i));
            s.on_packet(1, i as u16, 5000 + 160 * i, at, RATE, true);
        }
        assert_eq!(s.jitter(), 0);

        // Arrival offsets (ms) around the 20 ms grid; reference J in floating point.
        let offsets_ms = [0i64, 5, -3, 12, 0, 0, 7, -2, 30, 1, 0, 4];
        let mut s = ReceptionStats::default();
        let mut reference = 0f64;
        let mut last_transit: Option<f64> = None;
        for (i, off) in offsets_ms.iter().enumerate() {
            let arrival_ms = (100 + 20 * i as i64 + off) as u64;
            let ts = 160 * i as u32;
            s.on_packet(
                1,
                i as u16,
                ts,
                Instant::from_millis(arrival_ms),
                RATE,
                true,
            );
            let transit = arrival_ms as f64 * 8.0 - f64::from(ts);
            if let Some(prev) = last_transit {
                reference += ((transit - prev).abs() - reference) / 16.0;
            }
            last_transit = Some(transit);
        }
        let got = f64::from(s.jitter());
        assert!(
            (got - reference).abs() <= 1.0,
            "jitter {got} vs reference {reference:.2}"
        );
        assert!(
            got > 20.0,
            "the offsets above make clearly non-zero jitter, got {got}"
        );
        assert_eq!(
            s.jitter_us(RATE),
            u64::from(s.jitter_q4) * 1_000_000 / 16 / 8000
        );
    }
}
