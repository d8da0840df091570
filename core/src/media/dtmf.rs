//! DTMF as RFC 4733 telephone-events: the payload format (§2.3), a sender (§2.5.1) and a
//! receiver (§2.5.2).
//!
//! Sender: one event per queued digit. Every packet of an event carries the event's start
//! timestamp; the first has the M bit; the duration grows by one packet time per packet;
//! the final duration goes out in [`DtmfConfig::end_repeats`] packets with the E bit
//! (§2.5.1.4 recommends three). Between digits the sender stays idle for
//! [`DtmfConfig::gap_ms`] so that two equal digits remain two events.
//!
//! Receiver: events are told apart by their timestamp (§2.5.2.1). Each event is reported
//! once — at its first end packet, or, when every end packet was lost, as soon as a later
//! event or audio well past its end shows it is over. Packets of an event older than the
//! current one (reordered or retransmitted) are ignored, so digits come out in order.

use std::collections::VecDeque;
use std::fmt;

/// The most digits a sender queues, whatever its configuration asks.
pub const MAX_QUEUED_DIGITS: usize = 1024;

/// Sender settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfConfig {
    /// How long each tone lasts (clamped to 50..=5000 ms; RFC 4733 suggests at least 40).
    pub tone_duration_ms: u32,
    /// Silence between two tones (at least one packet time).
    pub gap_ms: u32,
    /// The volume field: power in -dBm0, 0..=63 (10 is usual).
    pub volume: u8,
    /// How many packets carry the E bit (RFC 4733 §2.5.1.4: three).
    pub end_repeats: u8,
    /// The most digits waiting to be sent (at most [`MAX_QUEUED_DIGITS`]).
    pub queue_capacity: usize,
}

impl Default for DtmfConfig {
    fn default() -> Self {
        DtmfConfig {
            tone_duration_ms: 100,
            gap_ms: 60,
            volume: 10,
            end_repeats: 3,
            queue_capacity: 32,
        }
    }
}

/// The four-octet telephone-event payload (RFC 4733 §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code: 0–9, 10 `*`, 11 `#`, 12–15 `A`–`D` for DTMF.
    pub event: u8,
    /// The E bit: the event has ended.
    pub end: bool,
    /// Power level in -dBm0 (6 bits).
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

/// Why a telephone-event payload or a digit string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DtmfError {
    /// The payload is shorter than four octets.
    PayloadTooShort {
        /// Its length.
        len: usize,
    },
    /// A character that is not a DTMF digit (0–9, `*`, `#`, A–D).
    InvalidDigit {
        /// The character.
        digit: char,
        /// Its index (in characters) in the string given.
        index: usize,
    },
    /// The send queue cannot take that many more digits.
    QueueFull {
        /// Digits already queued.
        queued: usize,
        /// Digits asked for.
        requested: usize,
    },
    /// No telephone-event payload type was negotiated for this session.
    NotNegotiated,
    /// The media session has been stopped.
    SessionStopped,
}

impl fmt::Display for DtmfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DtmfError::PayloadTooShort { len } => {
                write!(f, "telephone-event payload of {len} octets, need 4")
            }
            DtmfError::InvalidDigit { digit, index } => {
                write!(f, "{digit:?} at {index} is not a DTMF digit")
            }
            DtmfError::QueueFull { queued, requested } => {
                write!(
                    f,
                    "DTMF queue holds {queued} digits, cannot add {requested}"
                )
            }
            DtmfError::NotNegotiated => write!(f, "no telephone-event payload type negotiated"),
            DtmfError::SessionStopped => write!(f, "the media session is stopped"),
        }
    }
}

impl std::error::Error for DtmfError {}

impl TelephoneEvent {
    /// Reads the first four octets of `payload` (a redundant payload's extra blocks are
    /// ignored).
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        if payload.len() < 4 {
            return Err(DtmfError::PayloadTooShort { len: payload.len() });
        }
        Ok(TelephoneEvent {
            event: payload[0],
            end: payload[1] & 0x80 != 0,
            volume: payload[1] & 0x3F,
            duration: u16::from_be_bytes([payload[2], payload[3]]),
        })
    }

    /// The four payload octets (the reserved R bit is zero).
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        let flags = if self.end { 0x80 } else { 0 } | (self.volume & 0x3F);
        [self.event, flags, d[0], d[1]]
    }
}

/// The RFC 4733 event code of a DTMF digit, case-insensitive for A–D.
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        'a'..='d' => Some(digit as u8 - b'a' + 12),
        _ => None,
    }
}

/// The DTMF digit of an RFC 4733 event code (0–15), upper-case for A–D.
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// One telephone-event packet the sender wants on the wire in this packet slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfPacket {
    /// The payload.
    pub payload: TelephoneEvent,
    /// The RTP timestamp: the event's start.
    pub timestamp: u32,
    /// The M bit: the first packet of the event.
    pub marker: bool,
    /// True on the last end packet: the digit is done.
    pub finished: bool,
}

/// Produces the packets of queued digits, one packet per packet slot.
#[derive(Clone, Debug)]
pub struct DtmfSender {
    config: DtmfConfig,
    queue: VecDeque<u8>,
    current: Option<ActiveEvent>,
    gap_samples_left: u32,
}

#[derive(Clone, Copy, Debug)]
struct ActiveEvent {
    event: u8,
    start_ts: u32,
    elapsed: u32,
    total: u32,
    ends_sent: u8,
}

impl DtmfSender {
    /// A sender with an empty queue.
    pub fn new(config: DtmfConfig) -> Self {
        DtmfSender {
            queue: VecDeque::new(),
            config,
            current: None,
            gap_samples_left: 0,
        }
    }

    /// Queues `digits` (all or none); returns how many were queued.
    pub fn queue(&mut self, digits: &str) -> Result<usize, DtmfError> {
        let count = self.check(digits)?;
        self.queue.extend(digits.chars().filter_map(digit_to_event));
        Ok(count)
    }

    /// Whether [`queue`](Self::queue) would take `digits`, and how many they are.
    pub fn check(&self, digits: &str) -> Result<usize, DtmfError> {
        let mut count = 0;
        for (index, digit) in digits.chars().enumerate() {
            if digit_to_event(digit).is_none() {
                return Err(DtmfError::InvalidDigit { digit, index });
            }
            count += 1;
        }
        if self.queue.len() + count > self.config.queue_capacity.min(MAX_QUEUED_DIGITS) {
            return Err(DtmfError::QueueFull {
                queued: self.queue.len(),
                requested: count,
            });
        }
        Ok(count)
    }

    /// True when nothing is being sent or waiting.
    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.queue.is_empty()
    }

    /// Digits waiting, not counting the one being sent.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Forgets queued digits; an event in progress still ends properly.
    pub fn clear(&mut self) {
        self.queue.clear();
    }

    /// Called once per packet slot with the audio clock's timestamp for this slot and the
    /// samples one slot lasts (at 8 kHz). Returns the event packet to send in this slot, or
    /// `None` when the slot is free for audio.
    pub fn on_tick(&mut self, timestamp: u32, samples_per_tick: u32) -> Option<DtmfPacket> {
        let samples_per_tick = samples_per_tick.max(1);
        if self.current.is_none() {
            if self.gap_samples_left > 0 {
                self.gap_samples_left = self.gap_samples_left.saturating_sub(samples_per_tick);
                return None;
            }
            let event = self.queue.pop_front()?;
            let total = self.config.tone_duration_ms.clamp(50, 5000) * 8;
            self.current = Some(ActiveEvent {
                event,
                start_ts: timestamp,
                elapsed: 0,
                total,
                ends_sent: 0,
            });
        }
        // Just ensured above.
        let ev = self.current.as_mut().expect("an event is active");
        let marker = ev.elapsed == 0 && ev.ends_sent == 0;
        let end = ev.elapsed + samples_per_tick >= ev.total;
        if end {
            ev.elapsed = ev.total;
            ev.ends_sent += 1;
        } else {
            ev.elapsed += samples_per_tick;
        }
        let packet = DtmfPacket {
            payload: TelephoneEvent {
                event: ev.event,
                end,
                volume: self.config.volume,
                // `total` is at most 40,000 samples.
                duration: ev.elapsed as u16,
            },
            timestamp: ev.start_ts,
            marker,
            finished: end && ev.ends_sent >= self.config.end_repeats.max(1),
        };
        if packet.finished {
            self.current = None;
            self.gap_samples_left = self.config.gap_ms.saturating_mul(8).max(samples_per_tick);
        }
        Some(packet)
    }
}

/// A digit the receiver recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfDigit {
    /// The digit: 0–9, `*`, `#`, A–D.
    pub digit: char,
    /// The longest duration seen for it, in timestamp units.
    pub duration: u32,
}

/// Turns telephone-event packets into digits, each once and in order.
#[derive(Clone, Debug)]
pub struct DtmfReceiver {
    current: Option<ReceivedEvent>,
    flush_after_samples: u32,
}

#[derive(Clone, Copy, Debug)]
struct ReceivedEvent {
    timestamp: u32,
    event: u8,
    duration: u32,
    reported: bool,
}

impl DtmfReceiver {
    /// A receiver that, when all end packets of an event are lost, reports it once audio
    /// arrives `flush_after_samples` past the event's last known end.
    pub fn new(flush_after_samples: u32) -> Self {
        DtmfReceiver {
            current: None,
            flush_after_samples,
        }
    }

    /// Handles one telephone-event packet; `report` is called for each digit that is now
    /// known (at most two: an unfinished previous event, then this one).
    pub fn on_packet(
        &mut self,
        timestamp: u32,
        payload: &[u8],
        mut report: impl FnMut(DtmfDigit),
    ) -> Result<(), DtmfError> {
        let te = TelephoneEvent::parse(payload)?;
        if event_to_digit(te.event).is_none() {
            return Ok(()); // not DTMF (flash, tones …): nothing to report
        }
        if let Some(cur) = self.current.as_mut() {
            let delta = timestamp.wrapping_sub(cur.timestamp) as i32;
            if delta < 0 {
                return Ok(()); // a late packet of an earlier event
            }
            if delta == 0 {
                cur.duration = cur.duration.max(u32::from(te.duration));
                if te.end && !cur.reported {
                    cur.reported = true;
                    report(cur.digit());
                }
                return Ok(());
            }
            if !cur.reported {
                cur.reported = true;
                report(cur.digit());
            }
        }
        let mut ev = ReceivedEvent {
            timestamp,
            event: te.event,
            duration: u32::from(te.duration),
            reported: false,
        };
        if te.end {
            ev.reported = true;
            report(ev.digit());
        }
        self.current = Some(ev);
        Ok(())
    }

    /// Tells the receiver that audio with `timestamp` arrived: an event whose end packets
    /// were all lost is reported once the audio is well past it.
    pub fn on_audio(&mut self, timestamp: u32, mut report: impl FnMut(DtmfDigit)) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        let past = timestamp.wrapping_sub(cur.timestamp) as i32;
        if !cur.reported
            && past > 0
            && past as u32 > cur.duration.saturating_add(self.flush_after_samples)
        {
            cur.reported = true;
            report(cur.digit());
        }
    }

    /// Reports an event still open (say, at the end of the call).
    pub fn flush(&mut self, mut report: impl FnMut(DtmfDigit)) {
        if let Some(cur) = self.current.as_mut() {
            if !cur.reported {
                cur.reported = true;
                report(cur.digit());
            }
        }
    }
}

impl ReceivedEvent {
    fn digit(&self) -> DtmfDigit {
        DtmfDigit {
            // Only DTMF events are ever stored.
            digit: event_to_digit(self.event).unwrap_or('?'),
            duration: self.duration,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    const SPT: u32 = 160;

    /// Runs the sender over `ticks` packet slots from timestamp `ts0`.
    fn run_sender(sender: &mut DtmfSender, ts0: u32, ticks: u32) -> Vec<(u32, DtmfPacket)> {
        (0..ticks)
            .filter_map(|i| {
                let ts = ts0.wrapping_add(i * SPT);
                sender.on_tick(ts, SPT).map(|p| (ts, p))
            })
            .collect()
    }

    #[test]
    fn payload_round_trips_and_short_payloads_are_refused() {
        let te = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(te.to_bytes(), [11, 0x8A, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::parse(&te.to_bytes()), Ok(te));
        assert_eq!(
            TelephoneEvent::parse(&[1, 2]),
            Err(DtmfError::PayloadTooShort { len: 2 })
        );
    }

    #[test]
    fn digits_map_both_ways() {
        for (i, d) in "0123456789*#ABCD".chars().enumerate() {
            assert_eq!(digit_to_event(d), Some(i as u8));
            assert_eq!(event_to_digit(i as u8), Some(d));
        }
        assert_eq!(digit_to_event('b'), Some(13));
        assert_eq!(digit_to_event('x'), None);
        assert_eq!(event_to_digit(16), None);
    }

    #[test]
    fn sender_emits_growing_durations_then_three_end_packets() {
        let mut s = DtmfSender::new(DtmfConfig::default());
        assert_eq!(s.queue("5"), Ok(1));
        let pkts = run_sender(&mut s, 1000, 20);
        let got: Vec<_> = pkts
            .iter()
            .map(|(_, p)| {
                (
                    p.timestamp,
                    p.marker,
                    p.payload.end,
                    p.payload.duration,
                    p.finished,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (1000, true, false, 160, false),
                (1000, false, false, 320, false),
                (1000, false, false, 480, false),
                (1000, false, false, 640, false),
                (1000, false, true, 800, false),
                (1000, false, true, 800, false),
                (1000, false, true, 800, true),
            ]
        );
        // Packets went out in consecutive slots.
        assert_eq!(pkts[6].0 - pkts[0].0, 6 * SPT);
        assert!(s.is_idle());
    }

    #[test]
    fn sender_leaves_a_gap_between_digits_and_refuses_bad_input() {
        let mut s = DtmfSender::new(DtmfConfig {
            queue_capacity: 3,
            ..DtmfConfig::default()
        });
        assert_eq!(
            s.queue("1x"),
            Err(DtmfError::InvalidDigit {
                digit: 'x',
                index: 1
            })
        );
        assert_eq!(s.queued(), 0, "nothing queued from a refused string");
        assert_eq!(s.queue("11"), Ok(2));
        assert_eq!(
            s.queue("23"),
            Err(DtmfError::QueueFull {
                queued: 2,
                requested: 2
            })
        );
        let pkts = run_sender(&mut s, 0, 40);
        let starts: Vec<u32> = pkts
            .iter()
            .filter(|(_, p)| p.marker)
            .map(|(ts, _)| *ts)
            .collect();
        assert_eq!(starts.len(), 2);
        // 7 packet slots for the first digit, then 60 ms (3 slots) of gap.
        assert_eq!(starts[1] - starts[0], 10 * SPT);
    }

    #[test]
    fn minimum_tone_duration_is_enforced() {
        let mut s = DtmfSender::new(DtmfConfig {
            tone_duration_ms: 10,
            ..DtmfConfig::default()
        });
        s.queue("9").unwrap();
        let pkts = run_sender(&mut s, 0, 10);
        assert_eq!(
            pkts.last().unwrap().1.payload.duration,
            400,
            "50 ms at 8 kHz"
        );
    }

    fn receive_all(packets: &[(u32, DtmfPacket)]) -> Vec<DtmfDigit> {
        let mut rx = DtmfReceiver::new(1600);
        let mut out = Vec::new();
        for (_, p) in packets {
            rx.on_packet(p.timestamp, &p.payload.to_bytes(), |d| out.push(d))
                .unwrap();
        }
        rx.flush(|d| out.push(d));
        out
    }

    #[test]
    fn digits_arrive_once_each_in_order_despite_duplicates_loss_and_reordering() {
        let mut s = DtmfSender::new(DtmfConfig::default());
        s.queue("123#").unwrap();
        let sent = run_sender(&mut s, u32::MAX - 2000, 60); // crosses the timestamp wrap
        assert!(s.is_idle());
        let mut rng = Rng::new(4733);
        for round in 0..200 {
            let mut wire: Vec<(u32, DtmfPacket)> = Vec::new();
            for p in &sent {
                if rng.chance(0.2) {
                    continue; // lost
                }
                wire.push(*p);
                if rng.chance(0.3) {
                    wire.push(*p); // duplicated
                }
            }
            // Swap a few neighbours (reordering inside an event or across two).
            for i in 1..wire.len() {
                if rng.chance(0.1) {
                    wire.swap(i - 1, i);
                }
            }
            let got = receive_all(&wire);
            let digits: String = got.iter().map(|d| d.digit).collect();
            // A digit can only vanish when every one of its packets was lost.
            let expected: String = "123#"
                .chars()
                .enumerate()
                .filter(|(k, _)| {
                    let start = sent
                        .iter()
                        .filter(|(_, p)| p.marker)
                        .nth(*k)
                        .unwrap()
                        .1
                        .timestamp;
                    wire.iter().any(|(_, p)| p.timestamp == start)
                })
                .map(|(_, c)| c)
                .collect();
            assert_eq!(digits, expected, "round {round}");
        }
    }

    #[test]
    fn durations_are_the_final_duration_when_an_end_packet_arrives() {
        let mut s = DtmfSender::new(DtmfConfig::default());
        s.queue("123#").unwrap();
        let sent = run_sender(&mut s, 0, 60);
        let got = receive_all(&sent);
        assert_eq!(got.len(), 4);
        assert!(got.iter().all(|d| d.duration == 800));
        // Drop the three end packets of "2": it is still reported, with the last duration.
        let lossy: Vec<_> = sent
            .iter()
            .filter(|(_, p)| !(p.payload.event == 2 && p.payload.end))
            .copied()
            .collect();
        let got = receive_all(&lossy);
        let digits: String = got.iter().map(|d| d.digit).collect();
        assert_eq!(digits, "123#");
        assert_eq!(got[1].duration, 640);
    }

    #[test]
    fn audio_well_past_an_unended_event_reports_it() {
        let mut rx = DtmfReceiver::new(1600);
        let mut out = Vec::new();
        let start = TelephoneEvent {
            event: 7,
            end: false,
            volume: 10,
            duration: 160,
        };
        rx.on_packet(5000, &start.to_bytes(), |d| out.push(d))
            .unwrap();
        rx.on_audio(5000 + 800, |d| out.push(d));
        assert!(out.is_empty(), "audio during the event does not end it");
        rx.on_audio(5000 + 160 + 1601, |d| out.push(d));
        assert_eq!(
            out,
            vec![DtmfDigit {
                digit: '7',
                duration: 160
            }]
        );
        rx.on_audio(9000, |d| out.push(d));
        rx.flush(|d| out.push(d));
        assert_eq!(out.len(), 1, "reported once");
    }
}
