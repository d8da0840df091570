//! [`RtpSession`]: the media of one call, sans-IO — RTP over one negotiated G.711 codec
//! (RFC 3550, RFC 3551 §4.5.14), RFC 4733 DTMF, statistics and an inactivity timeout.
//!
//! The endpoint owns one session per call and drives it like everything else in the core:
//!
//! 1. [`handle_packet`](RtpSession::handle_packet) with every datagram from the media socket;
//! 2. [`poll_transmit`](RtpSession::poll_transmit) until `None`, sending each packet to
//!    its destination;
//! 3. [`poll_event`](RtpSession::poll_event) until `None`;
//! 4. [`handle_timeout`](RtpSession::handle_timeout) at [`poll_timeout`](RtpSession::poll_timeout).
//!
//! ```
//! use session_core::media::{AudioCodec, MediaEvent, MediaMode, RtpSession, RtpSessionConfig};
//! use session_core::Instant;
//!
//! // SSRC, sequence and timestamp come from the endpoint's seeded `Rng`.
//! let remote = "192.0.2.7:30000".parse().unwrap();
//! let mut config = RtpSessionConfig::new(0x1234, 777, 160_000, AudioCodec::PCMU, remote);
//! config.mode = MediaMode::Tone { freq_hz: 440 };
//! config.telephone_event_payload_type = Some(101);
//! let mut media = RtpSession::new(config, Instant::ZERO);
//! media.send_dtmf("5", Instant::ZERO).unwrap();
//!
//! let mut buf = Vec::with_capacity(1500);
//! let mut now = Instant::ZERO;
//! let mut sent = 0;
//! while now < Instant::from_millis(1000) {
//!     // (a datagram from the socket would go to `media.handle_packet(now, &bytes)`)
//!     media.handle_timeout(now);
//!     while let Some(t) = media.poll_transmit(now, &mut buf) {
//!         assert_eq!(t.destination, remote); // socket.send_to(&buf, t.destination)
//!         sent += 1;
//!     }
//!     while let Some(event) = media.poll_event() {
//!         if let MediaEvent::DtmfSent { digit } = event {
//!             assert_eq!(digit, '5');
//!         }
//!     }
//!     now = media.poll_timeout().expect("a live session always has a deadline");
//! }
//! assert_eq!(sent, 50); // 20 ms packets for one second
//! assert_eq!(media.stats().dtmf_sent, 1);
//! ```
//!
//! Decisions a reader would not guess:
//! - The packet clock ticks every ptime from the session's creation; the timestamp advances
//!   by one packet's samples per tick whether or not a packet goes out (on hold, while the
//!   sender is paused), so the far end's jitter buffer sees real time. The first packet
//!   and the first after a resume carry the M bit (a talkspurt start, RFC 3551 §4.1).
//! - A driver that comes back late gets the missed packets back to back, up to
//!   [`MAX_BURST_PACKETS`]; beyond that the missed slots are skipped (timestamps still
//!   advance).
//! - DTMF pauses audio: a slot that carries a telephone-event packet carries no audio
//!   (RFC 4733 §2.5.1.1 allows either; pausing avoids the digit also being heard in-band).
//!   Events share the audio stream's SSRC and sequence numbers, at 8000 Hz.
//! - Echo returns received audio frames of exactly one packet time; other sizes are
//!   counted as `echo_dropped`. When nothing is waiting, echo (like App mode) sends silence,
//!   so the packet clock never stops.
//! - Every RTP packet from the peer is counted, whatever the direction: a session on hold
//!   still counts what arrives. Only the inactivity timeout depends on whether we expect
//!   to receive.
//! - RTCP (RFC 3550 §6) is scheduled here, with the packet clock: once the configuration
//!   names the peer's RTCP address, a compound report (an SR when we sent RTP since the
//!   previous report, else an RR; then SDES CNAME) comes out of
//!   [`poll_transmit`](RtpSession::poll_transmit) with [`RtpTransmit::rtcp`] set, the
//!   first after half the §6.2 minimum and then every 5 s, each interval randomised by a
//!   factor in [0.5, 1.5] from the session's own seeded generator. RTCP keeps going on
//!   hold: RFC 3264 §5.1 has it sent and received whatever the direction.
//! - RTCP is read from the RTCP port ([`handle_rtcp`](RtpSession::handle_rtcp)) and
//!   multiplexed on the RTP port (RFC 5761 §4, told apart by the packet type); with
//!   rtcp-mux negotiated the endpoint points `rtcp_remote` at the peer's RTP port and
//!   sends our reports from our RTP port. A sender
//!   report from the peer is remembered for the LSR/DLSR fields of our reports; a report
//!   block about our source becomes [`MediaStats::remote_report`], with the round trip
//!   of §6.4.1; a BYE becomes [`MediaEvent::RemoteBye`]. Malformed RTCP is counted
//!   (`rtcp_invalid`) and dropped. NTP timestamps are the core's clock since the
//!   driver's epoch (RFC 3550 §4 allows a relative clock): only we read our own LSRs
//!   back, so the round trip needs no wall clock.
//! - [`stop_with_bye`](RtpSession::stop_with_bye) ends the stream with a last report
//!   and a BYE (RFC 3550 §6.6), unless nothing was ever sent (§6.3.7).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use super::dtmf::{event_to_digit, DtmfConfig, DtmfError, DtmfReceiver, DtmfSender};
use super::frames::FrameQueue;
use super::g711::G711Law;
use super::rtcp::{
    self, ReportBlock, RtcpCompound, RtcpError, RtcpPacket, RtcpWriteError, SenderInfo,
    UDP_IPV4_OVERHEAD,
};
use super::rtp::{looks_like_rtcp, RtpError, RtpHeader, RtpPacket};
use super::stats::{MediaStats, RemoteReport, SequenceVerdict};
use super::tone::ToneSource;
use crate::time::Instant;

mod relay;

pub use relay::RelaySource;

/// The RTP clock rate of G.711 and of telephone-events here (RFC 3551, RFC 4733).
pub const CLOCK_RATE_HZ: u32 = 8000;
/// The longest packet time a session accepts, in milliseconds.
pub const MAX_PTIME_MS: u32 = 60;
/// The most samples (= G.711 octets) in one packet.
pub const MAX_FRAME_SAMPLES: usize = (MAX_PTIME_MS * CLOCK_RATE_HZ / 1000) as usize;
/// The most packets sent back to back when the driver is late.
pub const MAX_BURST_PACKETS: u32 = 5;
/// The most events a session keeps for the application, whatever its configuration asks.
pub const MAX_EVENTS: usize = 1024;
/// Peak amplitude of the tone source (about -12 dBFS).
pub const TONE_AMPLITUDE: i16 = 8000;

/// The most an end-of-call RTCP compound takes besides its CNAME, reserved at once so the
/// writers never grow the buffer: an SR with one report block (52 octets), the SDES
/// chunk's SSRC, type, length, null item and padding (14), and a BYE for one source (8).
const BYE_COMPOUND_BYTES: usize = 52 + 14 + 8;

/// The negotiated audio codec: a G.711 law and its payload type in this session's SDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioCodec {
    /// The payload type (usually 0 for PCMU, 8 for PCMA).
    pub payload_type: u8,
    /// The companding law.
    pub law: G711Law,
}

impl AudioCodec {
    /// PCMU on its static payload type 0.
    pub const PCMU: AudioCodec = AudioCodec {
        payload_type: 0,
        law: G711Law::MuLaw,
    };
    /// PCMA on its static payload type 8.
    pub const PCMA: AudioCodec = AudioCodec {
        payload_type: 8,
        law: G711Law::ALaw,
    };

    /// The codec an SDP `a=rtpmap` names, when this module can carry it: PCMU or PCMA
    /// (any case, RFC 4855 §3) at 8000 Hz on `payload_type`.
    pub fn from_rtpmap(payload_type: u8, encoding: &str, clock_rate_hz: u32) -> Option<AudioCodec> {
        if clock_rate_hz != CLOCK_RATE_HZ {
            return None;
        }
        let law = if encoding.eq_ignore_ascii_case("PCMU") {
            G711Law::MuLaw
        } else if encoding.eq_ignore_ascii_case("PCMA") {
            G711Law::ALaw
        } else {
            return None;
        };
        Some(AudioCodec { payload_type, law })
    }
}

/// What the session sends.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaMode {
    /// A sine tone of `freq_hz` at [`TONE_AMPLITUDE`].
    Tone {
        /// The tone's frequency.
        freq_hz: u32,
    },
    /// Received audio is sent back.
    Echo,
    /// Encoded silence.
    Silence,
    /// Frames the application pushes with [`RtpSession::push_audio`]; silence when none.
    App,
}

/// The SDP direction of the stream from our side (RFC 3264 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MediaDirection {
    /// We send and receive.
    #[default]
    SendRecv,
    /// We send only (we put the peer on hold).
    SendOnly,
    /// We receive only (the peer put us on hold).
    RecvOnly,
    /// Neither.
    Inactive,
}

impl MediaDirection {
    /// The direction that sends when `sends` and receives when `receives` (to map the SDP
    /// module's direction: `MediaDirection::from_flags(d.sends(), d.receives())`).
    pub const fn from_flags(sends: bool, receives: bool) -> MediaDirection {
        match (sends, receives) {
            (true, true) => MediaDirection::SendRecv,
            (true, false) => MediaDirection::SendOnly,
            (false, true) => MediaDirection::RecvOnly,
            (false, false) => MediaDirection::Inactive,
        }
    }

    /// True when we send packets in this direction.
    pub fn sends(self) -> bool {
        matches!(self, MediaDirection::SendRecv | MediaDirection::SendOnly)
    }

    /// True when we expect packets from the peer.
    pub fn receives(self) -> bool {
        matches!(self, MediaDirection::SendRecv | MediaDirection::RecvOnly)
    }
}

/// How to build an [`RtpSession`]. [`RtpSessionConfig::new`] fills the usual values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpSessionConfig {
    /// Our synchronization source (from the endpoint's seeded `Rng`).
    pub ssrc: u32,
    /// The first sequence number (random, RFC 3550 §5.1).
    pub initial_sequence: u16,
    /// The first timestamp (random, RFC 3550 §5.1).
    pub initial_timestamp: u32,
    /// The negotiated audio codec.
    pub codec: AudioCodec,
    /// The negotiated telephone-event payload type, if any (RFC 4733).
    pub telephone_event_payload_type: Option<u8>,
    /// Packet time in milliseconds (clamped to 10..=60).
    pub ptime_ms: u32,
    /// Where our packets go.
    pub remote: SocketAddr,
    /// What we send.
    pub mode: MediaMode,
    /// The stream's direction.
    pub direction: MediaDirection,
    /// Report [`MediaEvent::Timeout`] after this long without an RTP or RTCP packet;
    /// `None` (the default) never does. While the stream is held (in either direction) RTP
    /// may stop, so a held stream is timed out only when the peer reports (it has sent
    /// RTCP, or [`peer_reports`](Self::peer_reports)) and its reports stop too.
    pub inactivity_timeout: Option<Duration>,
    /// The peer said it sends RTCP: it negotiated rtcp-mux (RFC 5761), which only a peer
    /// that sends RTCP does. On hold its silence then counts even if no report of its has
    /// arrived yet (RFC 3264 §5.1: RTCP goes on whatever the direction).
    pub peer_reports: bool,
    /// Received frames kept for [`RtpSession::poll_audio`] (0: decoded audio is dropped;
    /// at most [`MAX_FRAMES`](super::frames::MAX_FRAMES)).
    pub sink_capacity_frames: usize,
    /// Frames waiting to be sent in echo and app modes.
    pub send_queue_frames: usize,
    /// Events kept for [`RtpSession::poll_event`] (at most [`MAX_EVENTS`]); more are
    /// counted and dropped.
    pub event_capacity: usize,
    /// The DTMF sender's settings.
    pub dtmf: DtmfConfig,
    /// Where our RTCP goes (RFC 3550 §6); `None` (the default) sends none.
    pub rtcp_remote: Option<SocketAddr>,
    /// Our SDES CNAME (RFC 3550 §6.5.1, at most 255 octets): the endpoint draws a random
    /// one per call (RFC 7022 §4.2), so that it says nothing about the user.
    pub cname: Box<[u8]>,
    /// Seeds the session's generator for the RTCP intervals' random factor.
    pub rtcp_seed: u64,
}

impl RtpSessionConfig {
    /// 20 ms packets, send-receive, tone at 1 kHz, no inactivity timeout (off, as in
    /// baresip, Asterisk and FreeSWITCH), no sink.
    pub fn new(
        ssrc: u32,
        initial_sequence: u16,
        initial_timestamp: u32,
        codec: AudioCodec,
        remote: SocketAddr,
    ) -> Self {
        RtpSessionConfig {
            ssrc,
            initial_sequence,
            initial_timestamp,
            codec,
            telephone_event_payload_type: None,
            ptime_ms: 20,
            remote,
            mode: MediaMode::Tone { freq_hz: 1000 },
            direction: MediaDirection::SendRecv,
            inactivity_timeout: None,
            peer_reports: false,
            sink_capacity_frames: 0,
            send_queue_frames: 4,
            event_capacity: 32,
            dtmf: DtmfConfig::default(),
            rtcp_remote: None,
            cname: Box::default(),
            rtcp_seed: u64::from(ssrc),
        }
    }
}

/// Something the application should know about the media.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// The first RTP packet arrived (also after a timeout: the flow came back).
    FlowStarted {
        /// The peer's SSRC.
        ssrc: u32,
    },
    /// A DTMF digit arrived (RFC 4733).
    DtmfReceived {
        /// 0–9, `*`, `#`, A–D.
        digit: char,
        /// How long the key was pressed.
        duration: Duration,
    },
    /// A queued digit has been sent completely.
    DtmfSent {
        /// The digit.
        digit: char,
    },
    /// The peer's source said goodbye in RTCP (RFC 3550 §6.6).
    RemoteBye {
        /// The source leaving.
        ssrc: u32,
    },
    /// No packet for the configured time while we expect to receive.
    Timeout {
        /// Time since the last packet (or since receiving was expected).
        silent_for: Duration,
    },
}

/// What [`RtpSession::handle_packet`] made of a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketOutcome {
    /// An audio packet of the negotiated codec.
    Audio,
    /// A telephone-event packet.
    Dtmf,
    /// RTCP on the RTP port (RFC 5761); read and counted.
    Rtcp,
    /// Something that looked like RTCP but was not valid; counted as invalid.
    InvalidRtcp(RtcpError),
    /// RTP with a payload type we did not negotiate; counted.
    UnknownPayloadType,
    /// Not RTP; counted.
    Invalid(RtpError),
    /// A telephone-event payload too short to read; counted as invalid.
    InvalidDtmf,
    /// The session is stopped.
    Ignored,
}

/// A packet [`RtpSession::poll_transmit`] wrote into the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpTransmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// Its length (the whole buffer).
    pub len: usize,
    /// True for a telephone-event packet, false for audio.
    pub dtmf: bool,
    /// True for an RTCP compound: it leaves from our RTCP port, not the RTP port.
    pub rtcp: bool,
}

/// Why a frame pushed by the application was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushAudioError {
    /// The frame is not exactly one packet time of samples.
    WrongLength {
        /// Samples given.
        len: usize,
        /// Samples per packet.
        expected: usize,
    },
    /// The send queue is full: the application is ahead of the packet clock.
    QueueFull,
}

impl std::fmt::Display for PushAudioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushAudioError::WrongLength { len, expected } => {
                write!(f, "{len} samples pushed where a packet holds {expected}")
            }
            PushAudioError::QueueFull => {
                f.write_str("the send queue is full: audio pushed ahead of the packet clock")
            }
        }
    }
}

impl std::error::Error for PushAudioError {}

/// The media of one call: see the module documentation for the driving loop.
#[derive(Debug)]
pub struct RtpSession {
    ssrc: u32,
    codec: AudioCodec,
    telephone_event_pt: Option<u8>,
    ptime: Duration,
    samples_per_packet: u32,
    remote: SocketAddr,
    mode: MediaMode,
    direction: MediaDirection,
    inactivity_timeout: Option<Duration>,
    peer_reports: bool,
    stopped: bool,

    // Sending.
    next_tick: Instant,
    next_timestamp: u32,
    next_sequence: u16,
    talkspurt_start: bool,
    tone: ToneSource,
    dtmf_tx: DtmfSender,
    send_queue: FrameQueue<u8>,

    // Receiving.
    dtmf_rx: DtmfReceiver,
    sink: FrameQueue<i16>,
    receiving_since: Instant,
    last_received: Option<Instant>,
    /// When the last valid RTCP compound arrived: a sign of life for the inactivity
    /// timeout (a peer that sends no RTP for a while still reports).
    last_rtcp: Option<Instant>,
    timeout_reported: bool,

    /// The peer's last sender report: the middle of its NTP time and when it arrived.
    last_sr: Option<(u32, Instant)>,

    // RTCP sending (RFC 3550 §6.2, §6.3).
    rtcp_remote: Option<SocketAddr>,
    next_report: Option<Instant>,
    reported_once: bool,
    /// `packets_sent` and `packets_received` when the previous report went: who is a
    /// sender in this interval.
    sent_at_report: u64,
    received_at_report: u64,
    /// The running average RTCP packet size, octets with UDP/IP headers (§6.3.3).
    avg_rtcp_octets: u32,
    /// SplitMix64 state for the intervals' random factor: seeded by the endpoint's
    /// generator, and eight octets rather than a second xoshiro per call.
    rtcp_rng: u64,
    cname: Box<[u8]>,

    events: VecDeque<MediaEvent>,
    event_capacity: usize,
    stats: MediaStats,

    /// Set while the session relays a bridged leg's packets instead of sending its own.
    relay: Option<Box<relay::RelayMap>>,
}

impl RtpSession {
    /// A session whose packet clock starts at `now`: the first packet is due at once, the
    /// first RTCP report (with an RTCP address) after half the RFC 3550 §6.2 minimum,
    /// randomised.
    pub fn new(config: RtpSessionConfig, now: Instant) -> Self {
        let rtcp_remote = config.rtcp_remote;
        let mut session = Self::without_rtcp(config, now);
        session.set_rtcp_remote(rtcp_remote, now);
        session
    }

    fn without_rtcp(config: RtpSessionConfig, now: Instant) -> Self {
        let ptime_ms = config.ptime_ms.clamp(10, MAX_PTIME_MS);
        let samples_per_packet = ptime_ms * CLOCK_RATE_HZ / 1000;
        let tone_hz = match config.mode {
            MediaMode::Tone { freq_hz } => freq_hz,
            _ => 1000,
        };
        RtpSession {
            ssrc: config.ssrc,
            // Payload types are 7 bits (RFC 3550 §5.1); SDP cannot negotiate more, and
            // masking keeps every header we write encodable.
            codec: AudioCodec {
                payload_type: config.codec.payload_type & 0x7F,
                law: config.codec.law,
            },
            telephone_event_pt: config.telephone_event_payload_type.map(|pt| pt & 0x7F),
            ptime: Duration::from_millis(u64::from(ptime_ms)),
            samples_per_packet,
            remote: config.remote,
            mode: config.mode,
            direction: config.direction,
            inactivity_timeout: config.inactivity_timeout,
            peer_reports: config.peer_reports,
            stopped: false,
            next_tick: now,
            next_timestamp: config.initial_timestamp,
            next_sequence: config.initial_sequence,
            talkspurt_start: true,
            tone: ToneSource::new(tone_hz, TONE_AMPLITUDE, CLOCK_RATE_HZ),
            dtmf_tx: DtmfSender::new(config.dtmf),
            send_queue: FrameQueue::new(config.send_queue_frames, samples_per_packet as usize),
            // Audio 200 ms past an event's last known end closes it (lost end packets).
            dtmf_rx: DtmfReceiver::new(CLOCK_RATE_HZ / 5),
            sink: FrameQueue::new(config.sink_capacity_frames, MAX_FRAME_SAMPLES),
            receiving_since: now,
            last_received: None,
            last_rtcp: None,
            timeout_reported: false,
            last_sr: None,
            rtcp_remote: None,
            next_report: None,
            reported_once: false,
            sent_at_report: 0,
            received_at_report: 0,
            // A report with one block and a short CNAME, with its headers (§6.3.2:
            // initialised to the probable size of the first packet).
            avg_rtcp_octets: 8 + 20 + 24 + 28 + UDP_IPV4_OVERHEAD,
            rtcp_rng: config.rtcp_seed,
            cname: config.cname,
            events: VecDeque::new(),
            event_capacity: config.event_capacity.min(MAX_EVENTS),
            stats: MediaStats::default(),
            relay: None,
        }
    }

    /// Handles one datagram from the media socket.
    pub fn handle_packet(&mut self, now: Instant, datagram: &[u8]) -> PacketOutcome {
        if self.stopped {
            return PacketOutcome::Ignored;
        }
        if looks_like_rtcp(datagram) {
            return self.receive_rtcp(now, datagram);
        }
        let packet = match RtpPacket::parse(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.stats.invalid_received += 1;
                return PacketOutcome::Invalid(e);
            }
        };
        let pt = packet.payload_type();
        let is_audio = pt == self.codec.payload_type;
        let is_dtmf = Some(pt) == self.telephone_event_pt && !is_audio;
        if !is_audio && !is_dtmf {
            self.stats.unknown_payload_type_received += 1;
            return PacketOutcome::UnknownPayloadType;
        }
        if is_dtmf && packet.payload().len() < 4 {
            self.stats.invalid_received += 1;
            return PacketOutcome::InvalidDtmf;
        }

        let previous_ssrc = self.stats.reception.ssrc();
        let verdict = self.stats.reception.on_packet(
            packet.ssrc(),
            packet.sequence_number(),
            packet.timestamp(),
            now,
            CLOCK_RATE_HZ,
            is_audio,
        );
        self.stats.packets_received += 1;
        self.stats.octets_received += packet.payload().len() as u64;
        if verdict == SequenceVerdict::NewSource
            && previous_ssrc.is_some_and(|s| s != packet.ssrc())
        {
            self.stats.remote_ssrc_changes += 1;
            // A new source has its own timestamps: close whatever event the old one left.
            let events = &mut self.events;
            let stats = &mut self.stats;
            let cap = self.event_capacity;
            self.dtmf_rx.flush(|d| push_dtmf(events, cap, stats, d));
            self.dtmf_rx = DtmfReceiver::new(CLOCK_RATE_HZ / 5);
        }
        if self.last_received.is_none() || self.timeout_reported {
            self.push_event(MediaEvent::FlowStarted {
                ssrc: packet.ssrc(),
            });
        }
        self.last_received = Some(now);
        self.timeout_reported = false;

        let events = &mut self.events;
        let stats = &mut self.stats;
        let cap = self.event_capacity;
        if is_dtmf {
            // Length checked above, so the payload parses and this cannot fail.
            let parsed = self
                .dtmf_rx
                .on_packet(packet.timestamp(), packet.payload(), |d| {
                    push_dtmf(events, cap, stats, d)
                });
            debug_assert!(parsed.is_ok(), "{parsed:?}");
            return PacketOutcome::Dtmf;
        }
        self.dtmf_rx
            .on_audio(packet.timestamp(), |d| push_dtmf(events, cap, stats, d));
        self.receive_audio(&packet);
        PacketOutcome::Audio
    }

    /// Handles one datagram from the RTCP port: RTCP whatever its first octets say, so
    /// anything that does not parse is counted as invalid RTCP.
    pub fn handle_rtcp(&mut self, now: Instant, datagram: &[u8]) -> PacketOutcome {
        if self.stopped {
            return PacketOutcome::Ignored;
        }
        self.receive_rtcp(now, datagram)
    }

    /// Writes the next due packet into `buf` (cleared first) and says where it goes;
    /// `None` when no packet is due at `now`. Call until `None`. A due RTCP report comes
    /// first.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<RtpTransmit> {
        if self.stopped {
            return None;
        }
        if let Some(report) = self.poll_report(now, buf) {
            return Some(report);
        }
        if !self.direction.sends() || now < self.next_tick || self.relay.is_some() {
            return None;
        }
        let late_ticks = self.ticks_between(self.next_tick, now);
        if late_ticks >= MAX_BURST_PACKETS {
            // Too far behind: skip the slots, keep real-time timestamps.
            self.skip_ticks(late_ticks + 1 - MAX_BURST_PACKETS);
        }
        buf.clear();
        let timestamp = self.next_timestamp;
        let dtmf = self.telephone_event_pt.and_then(|pt| {
            self.dtmf_tx
                .on_tick(timestamp, self.samples_per_packet)
                .map(|p| (pt, p))
        });
        let payload_len = if let Some((pt, packet)) = dtmf {
            let header = RtpHeader {
                marker: packet.marker,
                payload_type: pt,
                sequence_number: self.next_sequence,
                timestamp: packet.timestamp,
                ssrc: self.ssrc,
                ..RtpHeader::default()
            };
            let written = header.write(&packet.payload.to_bytes(), buf);
            // A 7-bit payload type, no CSRCs, no extension: nothing the writer refuses.
            debug_assert!(written.is_ok(), "{written:?}");
            if packet.finished {
                self.stats.dtmf_sent += 1;
                if let Some(digit) = event_to_digit(packet.payload.event) {
                    self.push_event(MediaEvent::DtmfSent { digit });
                }
            }
            4
        } else {
            let mut payload = [0u8; MAX_FRAME_SAMPLES];
            let n = self.samples_per_packet as usize;
            self.next_audio_payload(&mut payload[..n]);
            let header = RtpHeader {
                marker: self.talkspurt_start,
                payload_type: self.codec.payload_type,
                sequence_number: self.next_sequence,
                timestamp,
                ssrc: self.ssrc,
                ..RtpHeader::default()
            };
            self.talkspurt_start = false;
            let written = header.write(&payload[..n], buf);
            // As above: a plain header always encodes.
            debug_assert!(written.is_ok(), "{written:?}");
            n
        };
        self.stats.packets_sent += 1;
        self.stats.octets_sent += payload_len as u64;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.skip_ticks(1);
        Some(RtpTransmit {
            destination: self.remote,
            len: buf.len(),
            dtmf: dtmf.is_some(),
            rtcp: false,
        })
    }

    /// When [`handle_timeout`](Self::handle_timeout) or
    /// [`poll_transmit`](Self::poll_transmit) next has work; `None` when stopped and idle.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        let send = (self.direction.sends() && self.relay.is_none()).then_some(self.next_tick);
        [send, self.inactivity_deadline(), self.next_report]
            .into_iter()
            .flatten()
            .min()
    }

    /// Lets time pass: reports the inactivity timeout when it is due. Packets that are
    /// due come out of [`poll_transmit`](Self::poll_transmit).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.inactivity_deadline() {
            if now >= deadline {
                self.timeout_reported = true;
                let since = self.last_sign_of_life();
                self.push_event(MediaEvent::Timeout {
                    silent_for: now - since,
                });
            }
        }
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// Whether [`poll_event`](Self::poll_event) has something.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Queues DTMF digits to send as RFC 4733 events (all or none); returns how many.
    pub fn send_dtmf(&mut self, digits: &str, _now: Instant) -> Result<usize, DtmfError> {
        self.check_dtmf(digits)?;
        self.dtmf_tx.queue(digits)
    }

    /// Whether [`send_dtmf`](Self::send_dtmf) would take `digits` now, and how many they
    /// are: a command can be refused before anything is queued.
    pub fn check_dtmf(&self, digits: &str) -> Result<usize, DtmfError> {
        if self.stopped {
            return Err(DtmfError::SessionStopped);
        }
        if self.telephone_event_pt.is_none() {
            return Err(DtmfError::NotNegotiated);
        }
        self.dtmf_tx.check(digits)
    }

    /// Changes the direction (hold, resume). Resuming sending restarts the packet clock at
    /// `now` with a talkspurt start; starting to receive restarts the inactivity timer.
    pub fn set_direction(&mut self, direction: MediaDirection, now: Instant) {
        if direction.sends() && !self.direction.sends() {
            if now > self.next_tick {
                let behind = self.ticks_between(self.next_tick, now);
                self.skip_ticks(behind);
            }
            self.talkspurt_start = true;
        }
        if direction.receives() && !self.direction.receives() {
            self.last_received = None;
        }
        if direction == MediaDirection::SendRecv && self.direction != MediaDirection::SendRecv {
            // Leaving hold: the peer gets a whole timeout to start again.
            self.receiving_since = now;
            self.timeout_reported = false;
        }
        self.direction = direction;
    }

    /// Changes what we send from the next packet on.
    pub fn set_mode(&mut self, mode: MediaMode) {
        if let MediaMode::Tone { freq_hz } = mode {
            if self.mode != mode {
                self.tone = ToneSource::new(freq_hz, TONE_AMPLITUDE, CLOCK_RATE_HZ);
            }
        }
        self.mode = mode;
        self.send_queue.clear();
    }

    /// Sends and reads `codec` (and telephone-event as `telephone_event_pt`) from the next
    /// packet on: a re-INVITE renegotiated them. Echo frames queued in the old law are
    /// dropped rather than sent mislabelled.
    pub fn set_codec(&mut self, codec: AudioCodec, telephone_event_pt: Option<u8>) {
        let codec = AudioCodec {
            payload_type: codec.payload_type & 0x7F,
            law: codec.law,
        };
        if codec != self.codec {
            self.send_queue.clear();
        }
        self.codec = codec;
        self.telephone_event_pt = telephone_event_pt.map(|pt| pt & 0x7F);
    }

    /// Sends to a new address from the next packet on (a re-INVITE moved the peer).
    pub fn set_remote(&mut self, remote: SocketAddr) {
        self.remote = remote;
    }

    /// Sends RTCP reports to `rtcp_remote` from now on (`None`: none). The first report
    /// of the session is scheduled when an address first arrives.
    pub fn set_rtcp_remote(&mut self, rtcp_remote: Option<SocketAddr>, now: Instant) {
        self.rtcp_remote = rtcp_remote;
        match rtcp_remote {
            Some(_) if self.next_report.is_none() => {
                self.next_report = Some(now + self.next_interval());
            }
            Some(_) => {}
            None => self.next_report = None,
        }
    }

    /// Where our RTCP goes, if anywhere.
    pub fn rtcp_remote(&self) -> Option<SocketAddr> {
        self.rtcp_remote
    }

    /// Stops the session like [`stop`](Self::stop) and writes into `buf` (cleared first)
    /// its last RTCP compound: a report, SDES and a BYE for our source (RFC 3550 §6.6).
    /// `None` without an RTCP address, when already stopped, or when we never sent RTP
    /// or RTCP (§6.3.7: such a participant sends no BYE).
    #[must_use]
    pub fn stop_with_bye(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<RtpTransmit> {
        if self.stopped {
            return None;
        }
        self.stop();
        let destination = self.rtcp_remote?;
        if self.stats.packets_sent == 0 && self.stats.rtcp_sent == 0 {
            return None;
        }
        buf.clear();
        buf.reserve(BYE_COMPOUND_BYTES + self.cname.len());
        let cname = std::mem::take(&mut self.cname);
        let written = self.write_rtcp_bye(now, &cname, buf);
        self.cname = cname;
        written.ok()?;
        self.stats.rtcp_sent += 1;
        Some(RtpTransmit {
            destination,
            len: buf.len(),
            dtmf: false,
            rtcp: true,
        })
    }

    /// Stops the session: nothing more is sent, received or scheduled; an event still
    /// being received is reported.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.next_report = None;
        let events = &mut self.events;
        let stats = &mut self.stats;
        let cap = self.event_capacity;
        self.dtmf_rx.flush(|d| push_dtmf(events, cap, stats, d));
    }

    /// Appends one packet time of audio (in App mode) to send.
    pub fn push_audio(&mut self, samples: &[i16]) -> Result<(), PushAudioError> {
        let expected = self.samples_per_packet as usize;
        if samples.len() != expected {
            return Err(PushAudioError::WrongLength {
                len: samples.len(),
                expected,
            });
        }
        let law = self.codec.law;
        if self.send_queue.push_with(0, expected, |slot| {
            law.encode_into(samples, slot);
        }) {
            Ok(())
        } else {
            Err(PushAudioError::QueueFull)
        }
    }

    /// Moves the oldest received audio frame (decoded to linear samples) into `out`
    /// (cleared first) and returns its RTP timestamp; `None` when the sink is empty.
    pub fn poll_audio(&mut self, out: &mut Vec<i16>) -> Option<u32> {
        self.sink.pop_with(|timestamp, samples| {
            out.clear();
            out.extend_from_slice(samples);
            timestamp
        })
    }

    /// Appends an RTCP compound to `buf` — an SR (or an RR when we sent no RTP since the
    /// previous report), with one report block on the peer's source when it has sent,
    /// then an SDES CNAME — and returns the compound's length. RFC 3550 §6.4; the session
    /// calls it on its own schedule (see the module docs), and a caller may too.
    pub fn write_rtcp_report(
        &mut self,
        now: Instant,
        cname: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<usize, RtcpWriteError> {
        let start = buf.len();
        let block = self.report_block(now);
        let blocks = block.as_slice();
        // §6.4: an SR from a participant that sent RTP since its previous report.
        let we_sent = self.stats.packets_sent > self.sent_at_report;
        self.sent_at_report = self.stats.packets_sent;
        self.received_at_report = self.stats.packets_received;
        if we_sent {
            let info = SenderInfo {
                ntp_timestamp: ntp_from_instant(now),
                rtp_timestamp: self.timestamp_at(now),
                packet_count: self.stats.packets_sent as u32,
                octet_count: self.stats.octets_sent as u32,
            };
            rtcp::write_sender_report(buf, self.ssrc, &info, blocks)?;
        } else {
            rtcp::write_receiver_report(buf, self.ssrc, blocks)?;
        }
        if let Err(e) = rtcp::write_sdes_cname(buf, self.ssrc, cname) {
            buf.truncate(start);
            return Err(e);
        }
        Ok(buf.len() - start)
    }

    /// Like [`write_rtcp_report`](Self::write_rtcp_report), with a BYE for our source at
    /// the end: what to send when the call ends.
    pub fn write_rtcp_bye(
        &mut self,
        now: Instant,
        cname: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<usize, RtcpWriteError> {
        let start = buf.len();
        self.write_rtcp_report(now, cname, buf)?;
        rtcp::write_bye(buf, &[self.ssrc], None)?;
        Ok(buf.len() - start)
    }

    /// The statistics so far.
    pub fn stats(&self) -> &MediaStats {
        &self.stats
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Where our packets go.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The current direction.
    pub fn direction(&self) -> MediaDirection {
        self.direction
    }

    /// True once [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// True while DTMF digits are being sent or wait to be.
    pub fn dtmf_pending(&self) -> bool {
        !self.dtmf_tx.is_idle()
    }

    fn receive_rtcp(&mut self, now: Instant, datagram: &[u8]) -> PacketOutcome {
        let compound = match RtcpCompound::parse(datagram) {
            Ok(c) => c,
            Err(e) => {
                self.stats.rtcp_invalid += 1;
                return PacketOutcome::InvalidRtcp(e);
            }
        };
        self.stats.rtcp_received += 1;
        self.last_rtcp = Some(now);
        self.average_rtcp_size(datagram.len());
        let remote = self.stats.reception.ssrc();
        for packet in compound.packets() {
            match packet {
                RtcpPacket::SenderReport {
                    ssrc,
                    info,
                    reports,
                } if remote.is_none_or(|r| r == ssrc) => {
                    self.last_sr = Some((rtcp::ntp_middle(info.ntp_timestamp), now));
                    self.take_report_blocks(now, reports.iter());
                }
                RtcpPacket::ReceiverReport { ssrc, reports }
                    if remote.is_none_or(|r| r == ssrc) =>
                {
                    self.take_report_blocks(now, reports.iter());
                }
                RtcpPacket::Bye { sources, .. } => {
                    for ssrc in sources.iter() {
                        if remote.is_none_or(|r| r == ssrc) {
                            self.push_event(MediaEvent::RemoteBye { ssrc });
                        }
                    }
                }
                _ => {}
            }
        }
        PacketOutcome::Rtcp
    }

    /// Keeps the figures of the block about our source, if the report has one.
    fn take_report_blocks(&mut self, now: Instant, blocks: impl Iterator<Item = ReportBlock>) {
        let ours = self.ssrc;
        let Some(block) = blocks.into_iter().find(|b| b.ssrc == ours) else {
            return;
        };
        let arrival = rtcp::ntp_middle(ntp_from_instant(now));
        let reports = self.stats.remote_report.map_or(0, |r| r.reports) + 1;
        self.stats.remote_report = Some(RemoteReport {
            at: now,
            fraction_lost: block.fraction_lost,
            cumulative_lost: block.cumulative_lost,
            highest_sequence: block.highest_sequence,
            jitter: block.jitter,
            jitter_us: u64::from(block.jitter) * 1_000_000 / u64::from(CLOCK_RATE_HZ),
            round_trip: rtcp::round_trip(arrival, block.last_sr, block.delay_since_last_sr),
            reports,
        });
    }

    /// The scheduled report, when due: written into `buf`, the next one scheduled.
    fn poll_report(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<RtpTransmit> {
        let destination = self.rtcp_remote?;
        if self.next_report.is_none_or(|at| now < at) {
            return None;
        }
        // Who sent in the interval now ending decides the next one, which is never an
        // initial one again (§6.2: only the first report may come at half the minimum).
        self.reported_once = true;
        let interval = self.next_interval();
        buf.clear();
        let cname = std::mem::take(&mut self.cname);
        let written = self.write_rtcp_report(now, &cname, buf);
        self.cname = cname;
        self.next_report = Some(now + interval);
        // Only a CNAME over 255 octets fails, and the endpoint never makes one.
        written.ok()?;
        self.stats.rtcp_sent += 1;
        self.average_rtcp_size(buf.len());
        Some(RtpTransmit {
            destination,
            len: buf.len(),
            dtmf: false,
            rtcp: true,
        })
    }

    /// The time to the next report: RFC 3550 §6.3.1 for the two members of a call, at
    /// 5 % of the stream's bandwidth with its headers, times a random factor.
    fn next_interval(&mut self) -> Duration {
        let we_sent = self.stats.packets_sent > self.sent_at_report;
        let they_sent = self.stats.packets_received > self.received_at_report;
        let packets_per_s = 1000 / self.ptime.as_millis().max(1) as u32;
        let octets_per_s = CLOCK_RATE_HZ + packets_per_s * (12 + 8 + 20);
        let inputs = rtcp::IntervalInputs {
            members: 2,
            senders: u32::from(we_sent) + u32::from(they_sent),
            rtcp_octets_per_s: octets_per_s * rtcp::RTCP_BANDWIDTH_FRACTION_PERCENT / 100,
            we_sent,
            avg_rtcp_octets: self.avg_rtcp_octets,
            initial: !self.reported_once,
        };
        let draw = self.next_random() % 1_000_001;
        rtcp::randomise_interval(rtcp::report_interval(&inputs), draw)
    }

    /// The next SplitMix64 output (Steele, Lea and Flood, 2014).
    fn next_random(&mut self) -> u64 {
        self.rtcp_rng = self.rtcp_rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rtcp_rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// §6.3.3: avg_rtcp_size = 1/16 · packet_size + 15/16 · avg_rtcp_size, headers in.
    fn average_rtcp_size(&mut self, len: usize) {
        let size = u32::try_from(len).unwrap_or(u32::MAX / 32) + UDP_IPV4_OVERHEAD;
        self.avg_rtcp_octets = (size.min(65_535) + 15 * self.avg_rtcp_octets) / 16;
    }

    /// The reception report on the peer's source, once it has sent something.
    fn report_block(&mut self, now: Instant) -> Option<ReportBlock> {
        let ssrc = self.stats.reception.ssrc()?;
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            // DLSR is in 1/65536 s.
            Some((lsr, at)) => (lsr, ((now - at).as_micros() * 65536 / 1_000_000) as u32),
            None => (0, 0),
        };
        let r = &mut self.stats.reception;
        Some(ReportBlock {
            ssrc,
            fraction_lost: r.take_fraction_lost(),
            cumulative_lost: r.lost().clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
            highest_sequence: r.extended_max_sequence(),
            jitter: r.jitter(),
            last_sr,
            delay_since_last_sr,
        })
    }

    /// The RTP timestamp of the sampling instant `now` on our packet clock.
    fn timestamp_at(&self, now: Instant) -> u32 {
        let samples = |d: Duration| (d.as_micros() * u128::from(CLOCK_RATE_HZ) / 1_000_000) as u32;
        if now <= self.next_tick {
            self.next_timestamp
                .wrapping_sub(samples(self.next_tick - now))
        } else {
            self.next_timestamp
                .wrapping_add(samples(now - self.next_tick))
        }
    }

    /// When the peer counts as gone: no RTP and no RTCP for the timeout. On hold RTP may
    /// stop but RTCP goes on (RFC 3550 §6, RFC 3264 §5.1), so a peer that reports (it has
    /// sent RTCP, or said it would by negotiating rtcp-mux) and falls silent is gone too;
    /// one that never reports cannot be judged while the call is on hold.
    fn inactivity_deadline(&self) -> Option<Instant> {
        let timeout = self.inactivity_timeout?;
        let judged = self.direction == MediaDirection::SendRecv
            || self.last_rtcp.is_some()
            || self.peer_reports;
        (judged && !self.timeout_reported).then(|| self.last_sign_of_life() + timeout)
    }

    /// Whether the peer said it sends RTCP (see [`RtpSessionConfig::peer_reports`]); a
    /// re-INVITE may change it.
    pub fn set_peer_reports(&mut self, peer_reports: bool) {
        self.peer_reports = peer_reports;
    }

    /// The latest of: the stream becoming send-receive, the last RTP, the last RTCP.
    fn last_sign_of_life(&self) -> Instant {
        [self.last_received, self.last_rtcp]
            .into_iter()
            .flatten()
            .fold(self.receiving_since, Instant::max)
    }

    /// Whole packet times from `from` to `to`.
    fn ticks_between(&self, from: Instant, to: Instant) -> u32 {
        let ptime_us = self.ptime.as_micros().max(1);
        u32::try_from((to - from).as_micros() / ptime_us).unwrap_or(u32::MAX)
    }

    /// Advances the packet clock by `ticks` slots.
    fn skip_ticks(&mut self, ticks: u32) {
        self.next_tick += self.ptime * ticks;
        self.next_timestamp = self
            .next_timestamp
            .wrapping_add(self.samples_per_packet.wrapping_mul(ticks));
    }

    /// Fills one packet's G.711 payload for the current mode.
    fn next_audio_payload(&mut self, out: &mut [u8]) {
        let law = self.codec.law;
        match self.mode {
            MediaMode::Tone { .. } => {
                let mut pcm = [0i16; MAX_FRAME_SAMPLES];
                let pcm = &mut pcm[..out.len()];
                self.tone.fill(pcm);
                law.encode_into(pcm, out);
            }
            MediaMode::Echo | MediaMode::App => {
                let popped = self.send_queue.pop_with(|_, frame| {
                    // Frames are exactly one packet long (checked on push).
                    out.copy_from_slice(frame);
                });
                if popped.is_none() {
                    out.fill(law.silence());
                }
            }
            MediaMode::Silence => out.fill(law.silence()),
        }
    }

    fn receive_audio(&mut self, packet: &RtpPacket<'_>) {
        let payload = packet.payload();
        let law = self.codec.law;
        if self.sink.capacity() > 0 {
            let stored = self
                .sink
                .push_with(packet.timestamp(), payload.len(), |slot| {
                    law.decode_into(payload, slot);
                });
            if !stored {
                self.stats.sink_dropped += 1;
            }
        }
        if self.mode == MediaMode::Echo && self.direction.sends() && self.relay.is_none() {
            let fits = payload.len() == self.samples_per_packet as usize;
            if !fits || !self.send_queue.push(packet.timestamp(), payload) {
                self.stats.echo_dropped += 1;
            }
        }
    }

    fn push_event(&mut self, event: MediaEvent) {
        push_bounded(
            &mut self.events,
            self.event_capacity,
            &mut self.stats,
            event,
        );
    }
}

/// The core's clock as a 64-bit NTP-format timestamp (seconds since the driver's epoch).
fn ntp_from_instant(now: Instant) -> u64 {
    let micros = now.as_micros();
    let seconds = micros / 1_000_000;
    let fraction = ((micros % 1_000_000) << 32) / 1_000_000;
    (seconds << 32) | fraction
}

fn push_bounded(
    events: &mut VecDeque<MediaEvent>,
    capacity: usize,
    stats: &mut MediaStats,
    event: MediaEvent,
) {
    if events.len() >= capacity {
        stats.events_dropped += 1;
    } else {
        events.push_back(event);
    }
}

fn push_dtmf(
    events: &mut VecDeque<MediaEvent>,
    capacity: usize,
    stats: &mut MediaStats,
    digit: super::dtmf::DtmfDigit,
) {
    stats.dtmf_received += 1;
    let duration =
        Duration::from_micros(u64::from(digit.duration) * 1_000_000 / u64::from(CLOCK_RATE_HZ));
    push_bounded(
        events,
        capacity,
        stats,
        MediaEvent::DtmfReceived {
            digit: digit.digit,
            duration,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::{dominant_frequency, rms};

    const A_ADDR: &str = "192.0.2.1:40000";
    const B_ADDR: &str = "192.0.2.2:50000";

    fn config(ssrc: u32, remote: &str, mode: MediaMode) -> RtpSessionConfig {
        let mut c = RtpSessionConfig::new(
            ssrc,
            65500,
            4_294_960_000,
            AudioCodec::PCMU,
            remote.parse().unwrap(),
        );
        c.mode = mode;
        c.telephone_event_payload_type = Some(101);
        c.sink_capacity_frames = 256;
        c.inactivity_timeout = Some(Duration::from_secs(5));
        c
    }

    /// Two sessions joined by a link with a fixed one-way delay, stepped every millisecond.
    struct Pair {
        a: RtpSession,
        b: RtpSession,
        /// (deliver at, to B?, datagram)
        in_flight: Vec<(Instant, bool, Vec<u8>)>,
        delay: Duration,
        /// How many copies of each datagram the link delivers (0 = lost).
        copies: fn(&[u8]) -> usize,
        now: Instant,
        events_a: Vec<MediaEvent>,
        events_b: Vec<MediaEvent>,
        audio_a: Vec<i16>,
    }

    impl Pair {
        fn new(a: RtpSessionConfig, b: RtpSessionConfig) -> Self {
            Pair {
                a: RtpSession::new(a, Instant::ZERO),
                b: RtpSession::new(b, Instant::ZERO),
                in_flight: Vec::new(),
                delay: Duration::from_millis(30),
                copies: |_| 1,
                now: Instant::ZERO,
                events_a: Vec::new(),
                events_b: Vec::new(),
                audio_a: Vec::new(),
            }
        }

        fn run_until(&mut self, end: Instant) {
            let mut buf = Vec::with_capacity(1500);
            let mut frame = Vec::new();
            while self.now < end {
                let now = self.now;
                let (due, later): (Vec<_>, Vec<_>) =
                    self.in_flight.drain(..).partition(|(at, _, _)| *at <= now);
                self.in_flight = later;
                for (_, to_b, data) in due {
                    let s = if to_b { &mut self.b } else { &mut self.a };
                    s.handle_packet(now, &data);
                }
                for (s, to_b) in [(&mut self.a, true), (&mut self.b, false)] {
                    if s.poll_timeout().is_some_and(|t| t <= now) {
                        s.handle_timeout(now);
                    }
                    while let Some(t) = s.poll_transmit(now, &mut buf) {
                        assert_eq!(t.len, buf.len());
                        for _ in 0..(self.copies)(&buf) {
                            self.in_flight.push((now + self.delay, to_b, buf.clone()));
                        }
                    }
                }
                while let Some(e) = self.a.poll_event() {
                    self.events_a.push(e);
                }
                while let Some(e) = self.b.poll_event() {
                    self.events_b.push(e);
                }
                while self.a.poll_audio(&mut frame).is_some() {
                    self.audio_a.extend_from_slice(&frame);
                }
                self.now += Duration::from_millis(1);
            }
        }
    }

    #[test]
    fn tone_and_echo_over_two_seconds_carry_about_100_packets_each_way() {
        let mut p = Pair::new(
            config(0xAAAA, B_ADDR, MediaMode::Tone { freq_hz: 1000 }),
            config(0xBBBB, A_ADDR, MediaMode::Echo),
        );
        p.run_until(Instant::from_millis(2000));
        let (a, b) = (p.a.stats(), p.b.stats());
        assert_eq!(a.packets_sent, 100);
        assert_eq!(b.packets_sent, 100);
        // Packets sent in the last 30 ms are still in flight.
        let in_flight_to_b = p.in_flight.iter().filter(|f| f.1).count() as u64;
        let in_flight_to_a = p.in_flight.len() as u64 - in_flight_to_b;
        assert_eq!(b.packets_received + in_flight_to_b, a.packets_sent);
        assert_eq!(a.packets_received + in_flight_to_a, b.packets_sent);
        assert!(a.packets_received >= 98, "{a:?}");
        assert_eq!(a.octets_sent, 160 * 100);
        assert_eq!(b.reception.lost(), 0);
        assert_eq!(b.reception.jitter(), 0, "a fixed delay has no jitter");
        assert_eq!(a.invalid_received + a.unknown_payload_type_received, 0);
        assert_eq!(b.echo_dropped, 0);
        assert!(matches!(
            p.events_a[0],
            MediaEvent::FlowStarted { ssrc: 0xBBBB }
        ));
        assert!(matches!(
            p.events_b[0],
            MediaEvent::FlowStarted { ssrc: 0xAAAA }
        ));

        // B echoes silence until A's tone reaches it; the echoed tone comes back to A
        // after one round trip and must still be a 1 kHz tone of the same energy.
        let tone: Vec<i16> = p
            .audio_a
            .iter()
            .copied()
            .skip_while(|s| s.abs() < 100)
            .collect();
        assert!(
            tone.len() >= 160 * 90,
            "echoed tone: {} samples",
            tone.len()
        );
        assert_eq!(dominant_frequency(&tone, 8000.0, 50.0, 3950.0), 1000.0);
        let expected = f64::from(TONE_AMPLITUDE) / 2f64.sqrt();
        let ratio = rms(&tone) / expected;
        assert!((0.97..1.03).contains(&ratio), "energy ratio {ratio}");
    }

    #[test]
    fn sequence_numbers_and_timestamps_advance_per_packet_across_their_wraps() {
        let mut s = RtpSession::new(config(1, B_ADDR, MediaMode::Silence), Instant::ZERO);
        let mut buf = Vec::new();
        let mut seen = Vec::new();
        for ms in (0..2000).step_by(20) {
            while s
                .poll_transmit(Instant::from_millis(ms), &mut buf)
                .is_some()
            {
                let p = RtpPacket::parse(&buf).unwrap();
                seen.push((
                    p.sequence_number(),
                    p.timestamp(),
                    p.marker(),
                    p.payload()[0],
                ));
            }
        }
        assert_eq!(seen.len(), 100);
        assert!(
            seen[0].2 && seen.iter().skip(1).all(|x| !x.2),
            "M bit on the first packet only"
        );
        for w in seen.windows(2) {
            assert_eq!(w[1].0, w[0].0.wrapping_add(1));
            assert_eq!(w[1].1, w[0].1.wrapping_add(160));
        }
        assert!(seen.iter().any(|x| x.0 == 0), "sequence wrapped");
        assert!(seen.iter().any(|x| x.1 < 1000), "timestamp wrapped");
        assert!(seen.iter().all(|x| x.3 == 0xFF), "µ-law silence");
    }

    #[test]
    fn dtmf_digits_arrive_in_order_as_events_while_audio_pauses() {
        let mut p = Pair::new(
            config(0xAAAA, B_ADDR, MediaMode::Tone { freq_hz: 440 }),
            config(0xBBBB, A_ADDR, MediaMode::Echo),
        );
        p.run_until(Instant::from_millis(100));
        assert_eq!(p.a.send_dtmf("123#", p.now), Ok(4));
        assert_eq!(
            p.a.send_dtmf("x", p.now),
            Err(DtmfError::InvalidDigit {
                digit: 'x',
                index: 0
            })
        );
        p.run_until(Instant::from_millis(2000));
        let received: Vec<_> = p
            .events_b
            .iter()
            .filter_map(|e| match e {
                MediaEvent::DtmfReceived { digit, duration } => Some((*digit, *duration)),
                _ => None,
            })
            .collect();
        let ms100 = Duration::from_millis(100);
        assert_eq!(
            received,
            vec![('1', ms100), ('2', ms100), ('3', ms100), ('#', ms100)]
        );
        let sent: String = p
            .events_a
            .iter()
            .filter_map(|e| match e {
                MediaEvent::DtmfSent { digit } => Some(*digit),
                _ => None,
            })
            .collect();
        assert_eq!(sent, "123#");
        // 4 digits × 7 event packets replaced audio packets; the clock kept its pace.
        assert_eq!(p.a.stats().packets_sent, 100);
        assert_eq!(p.a.stats().dtmf_sent, 4);
        assert_eq!(p.b.stats().dtmf_received, 4);
        assert!(!p.a.dtmf_pending());
    }

    #[test]
    fn dtmf_survives_duplication_and_the_loss_of_every_end_packet_of_one_digit() {
        let mut p = Pair::new(
            config(0xAAAA, B_ADDR, MediaMode::Silence),
            config(0xBBBB, A_ADDR, MediaMode::Silence),
        );
        p.copies = |d| {
            let pkt = RtpPacket::parse(d).unwrap();
            let payload = pkt.payload();
            let end_of_two = pkt.payload_type() == 101 && payload[0] == 2 && payload[1] & 0x80 != 0;
            if end_of_two {
                0
            } else {
                2
            }
        };
        assert_eq!(p.a.send_dtmf("123#", Instant::ZERO), Ok(4));
        p.run_until(Instant::from_millis(1500));
        let got: Vec<_> = p
            .events_b
            .iter()
            .filter_map(|e| match e {
                MediaEvent::DtmfReceived { digit, duration } => {
                    Some((*digit, duration.as_millis()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(got, vec![('1', 100), ('2', 80), ('3', 100), ('#', 100)]);
        // 75 packets sent in 1.5 s; the 3 end packets of '2' lost, the rest doubled, and
        // the packet sent at 1480 ms still in flight.
        assert_eq!(p.a.stats().packets_sent, 75);
        assert_eq!(p.in_flight.iter().filter(|f| f.1).count(), 2);
        let r = &p.b.stats().reception;
        assert_eq!(r.received(), 2 * (75 - 3 - 1));
        assert_eq!(r.expected(), 74);
        assert_eq!(
            r.lost(),
            74 - 142,
            "duplicates hide the loss, as RFC 3550 A.3 counts"
        );
    }

    #[test]
    fn a_new_remote_ssrc_restarts_reception_statistics() {
        let mut s = RtpSession::new(config(1, B_ADDR, MediaMode::Silence), Instant::ZERO);
        s.handle_packet(Instant::from_millis(0), &audio(10, 0));
        s.handle_packet(Instant::from_millis(20), &audio(12, 320));
        assert_eq!(s.stats().reception.lost(), 1);
        let mut other = audio(5000, 999);
        other[8..12].copy_from_slice(&0xF00Du32.to_be_bytes());
        s.handle_packet(Instant::from_millis(40), &other);
        let st = s.stats();
        assert_eq!(st.remote_ssrc_changes, 1);
        assert_eq!(st.reception.ssrc(), Some(0xF00D));
        assert_eq!(st.reception.lost(), 0);
        assert_eq!(st.reception.expected(), 1);
        assert_eq!(st.packets_received, 3, "the session's totals keep counting");
    }

    #[test]
    fn dtmf_packets_on_the_wire_snapshot() {
        let mut s = RtpSession::new(config(0xAAAA, B_ADDR, MediaMode::Silence), Instant::ZERO);
        let mut buf = Vec::new();
        let mut lines = vec!["  ms   seq        ts  M  PT  payload".to_string()];
        for ms in (0..300u64).step_by(20) {
            if ms == 40 {
                s.send_dtmf("7#", Instant::from_millis(ms)).unwrap();
            }
            while s
                .poll_transmit(Instant::from_millis(ms), &mut buf)
                .is_some()
            {
                let p = RtpPacket::parse(&buf).unwrap();
                let payload = if p.payload_type() == 101 {
                    let te = crate::media::dtmf::TelephoneEvent::parse(p.payload()).unwrap();
                    format!(
                        "event={} end={} vol={} duration={}",
                        te.event, te.end, te.volume, te.duration
                    )
                } else {
                    format!("{} bytes of {:#04x}", p.payload().len(), p.payload()[0])
                };
                lines.push(format!(
                    "{ms:>4} {:>5} {:>9} {:>2} {:>3}  {payload}",
                    p.sequence_number(),
                    p.timestamp(),
                    u8::from(p.marker()),
                    p.payload_type()
                ));
            }
        }
        insta::assert_snapshot!(lines.join("\n"));
    }

    #[test]
    fn dtmf_without_a_negotiated_payload_type_is_refused() {
        let mut c = config(1, B_ADDR, MediaMode::Silence);
        c.telephone_event_payload_type = None;
        let mut s = RtpSession::new(c, Instant::ZERO);
        assert_eq!(
            s.send_dtmf("1", Instant::ZERO),
            Err(DtmfError::NotNegotiated)
        );
    }

    /// One crafted audio packet from the peer.
    fn audio(seq: u16, ts: u32) -> Vec<u8> {
        let mut v = Vec::new();
        RtpHeader {
            payload_type: 0,
            sequence_number: seq,
            timestamp: ts,
            ssrc: 0x5EED,
            ..RtpHeader::default()
        }
        .write(&[0xFF; 160], &mut v)
        .unwrap();
        v
    }

    #[test]
    fn loss_and_jitter_on_a_crafted_sequence_with_reordering_a_gap_and_a_wrap() {
        let mut s = RtpSession::new(config(1, B_ADDR, MediaMode::Silence), Instant::ZERO);
        // (sequence, arrival ms); timestamps follow the sequence at 160 per packet.
        // 65534, 65535, 0, 2 before 1, 3, then 4 and 5 lost, 6, 7 late by 10 ms.
        let plan: [(u16, u64); 8] = [
            (65534, 0),
            (65535, 20),
            (0, 40),
            (2, 80),
            (1, 81),
            (3, 100),
            (6, 160),
            (7, 190),
        ];
        let mut reference = 0f64;
        let mut last_transit: Option<f64> = None;
        for (seq, at) in plan {
            let index = u32::from(seq.wrapping_sub(65534));
            let ts = 1000u32.wrapping_add(index * 160);
            assert_eq!(
                s.handle_packet(Instant::from_millis(at), &audio(seq, ts)),
                PacketOutcome::Audio
            );
            let transit = at as f64 * 8.0 - f64::from(ts);
            if let Some(prev) = last_transit {
                reference += ((transit - prev).abs() - reference) / 16.0;
            }
            last_transit = Some(transit);
        }
        let r = &s.stats().reception;
        assert_eq!(r.extended_max_sequence(), 65536 + 7);
        assert_eq!(r.expected(), 10);
        assert_eq!(r.received(), 8);
        assert_eq!(r.lost(), 2);
        assert!(
            (f64::from(r.jitter()) - reference).abs() <= 1.0,
            "{} vs {reference}",
            r.jitter()
        );
        assert!(r.jitter() > 0);
        assert_eq!(s.stats().packets_received, 8);
        assert_eq!(s.stats().octets_received, 8 * 160);
    }

    #[test]
    fn garbage_wrong_version_rtcp_and_unknown_payload_types_are_counted_not_fatal() {
        let mut s = RtpSession::new(config(1, B_ADDR, MediaMode::Silence), Instant::ZERO);
        let now = Instant::ZERO;
        assert!(matches!(
            s.handle_packet(now, b"hello"),
            PacketOutcome::Invalid(RtpError::TooShort { len: 5 })
        ));
        let mut v1 = audio(1, 1);
        v1[0] = 0x40;
        assert!(matches!(
            s.handle_packet(now, &v1),
            PacketOutcome::Invalid(RtpError::BadVersion { .. })
        ));
        let mut pt96 = audio(2, 2);
        pt96[1] = 96;
        assert_eq!(
            s.handle_packet(now, &pt96),
            PacketOutcome::UnknownPayloadType
        );
        assert_eq!(
            s.handle_packet(now, &[0x80, 201, 0, 1, 0, 0, 0, 1]),
            PacketOutcome::Rtcp
        );
        let mut short_dtmf = audio(3, 3);
        short_dtmf[1] = 101;
        short_dtmf.truncate(14);
        assert_eq!(
            s.handle_packet(now, &short_dtmf),
            PacketOutcome::InvalidDtmf
        );
        let st = s.stats();
        assert_eq!(
            (
                st.invalid_received,
                st.unknown_payload_type_received,
                st.rtcp_received
            ),
            (3, 1, 1)
        );
        assert_eq!(st.packets_received, 0);
        assert_eq!(s.handle_packet(now, &audio(4, 4)), PacketOutcome::Audio);
    }

    #[test]
    fn hold_stops_sending_but_not_counting_and_resume_keeps_real_time_timestamps() {
        let mut s = RtpSession::new(config(1, B_ADDR, MediaMode::Silence), Instant::ZERO);
        let mut buf = Vec::new();
        assert!(s.poll_transmit(Instant::ZERO, &mut buf).is_some());
        let ts0 = RtpPacket::parse(&buf).unwrap().timestamp();
        s.set_direction(MediaDirection::RecvOnly, Instant::from_millis(10));
        assert_eq!(s.poll_transmit(Instant::from_millis(500), &mut buf), None);
        assert_eq!(
            s.handle_packet(Instant::from_millis(600), &audio(9, 9)),
            PacketOutcome::Audio
        );
        assert_eq!(s.stats().packets_received, 1, "received while on hold");
        s.set_direction(MediaDirection::SendRecv, Instant::from_millis(1000));
        assert!(s
            .poll_transmit(Instant::from_millis(1000), &mut buf)
            .is_some());
        let p = RtpPacket::parse(&buf).unwrap();
        assert!(p.marker(), "talkspurt start after resume");
        assert_eq!(p.timestamp(), ts0.wrapping_add(8000), "one second later");
        assert_eq!(s.poll_transmit(Instant::from_millis(1000), &mut buf), None);
        assert_eq!(s.stats().packets_sent, 2);
    }

    #[test]
    fn a_late_driver_gets_a_bounded_burst_and_the_clock_keeps_real_time() {
        let mut s = RtpSession::new(config(1, B_ADDR, MediaMode::Silence), Instant::ZERO);
        let mut buf = Vec::new();
        let mut stamps = Vec::new();
        while s
            .poll_transmit(Instant::from_millis(1000), &mut buf)
            .is_some()
        {
            stamps.push(RtpPacket::parse(&buf).unwrap().timestamp());
        }
        assert_eq!(stamps.len() as u32, MAX_BURST_PACKETS);
        // The burst ends at the slot due at 1000 ms.
        assert_eq!(stamps.last().unwrap().wrapping_sub(4_294_960_000), 50 * 160);
        assert_eq!(s.poll_timeout(), Some(Instant::from_millis(1020)));
    }

    /// Steps `s` through every due deadline up to `until` and returns what it reported.
    fn events_until(s: &mut RtpSession, until: Instant) -> Vec<MediaEvent> {
        let mut buf = Vec::new();
        while let Some(t) = s.poll_timeout().filter(|&t| t <= until) {
            s.handle_timeout(t);
            while s.poll_transmit(t, &mut buf).is_some() {
                buf.clear();
            }
        }
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    fn timeout_after(ms: u64) -> MediaEvent {
        MediaEvent::Timeout {
            silent_for: Duration::from_millis(ms),
        }
    }

    #[test]
    fn inactivity_is_reported_once_and_flow_restart_is_reported() {
        let mut c = config(1, B_ADDR, MediaMode::Silence);
        c.inactivity_timeout = Some(Duration::from_millis(500));
        let mut s = RtpSession::new(c, Instant::ZERO);
        s.handle_packet(Instant::from_millis(100), &audio(1, 1));
        assert_eq!(
            s.poll_event(),
            Some(MediaEvent::FlowStarted { ssrc: 0x5EED })
        );
        assert_eq!(events_until(&mut s, Instant::from_millis(599)), []);
        assert_eq!(
            events_until(&mut s, Instant::from_millis(600)),
            [timeout_after(500)]
        );
        assert_eq!(
            events_until(&mut s, Instant::from_millis(5000)),
            [],
            "reported once"
        );
        s.handle_packet(Instant::from_millis(5100), &audio(2, 161));
        assert_eq!(
            s.poll_event(),
            Some(MediaEvent::FlowStarted { ssrc: 0x5EED })
        );
    }

    #[test]
    fn the_inactivity_timeout_is_off_by_default() {
        let c = RtpSessionConfig::new(1, 0, 0, AudioCodec::PCMU, B_ADDR.parse().unwrap());
        assert_eq!(c.inactivity_timeout, None);
        let mut s = RtpSession::new(c, Instant::ZERO);
        assert_eq!(events_until(&mut s, Instant::from_millis(600_000)), []);
    }

    /// A peer that holds us without music on hold sends nothing, and one we hold may stop
    /// too: a held stream, in either direction, whose peer never sent RTCP is not timed
    /// out; leaving hold gives the peer a whole timeout to start again.
    #[test]
    fn a_held_stream_is_never_timed_out_and_resuming_restarts_the_timer() {
        for held in [MediaDirection::RecvOnly, MediaDirection::SendOnly] {
            let mut c = config(1, B_ADDR, MediaMode::Silence);
            c.inactivity_timeout = Some(Duration::from_millis(500));
            c.direction = held;
            let mut s = RtpSession::new(c, Instant::ZERO);
            assert_eq!(
                events_until(&mut s, Instant::from_millis(60_000)),
                [],
                "{held:?}"
            );
            s.set_direction(MediaDirection::SendRecv, Instant::from_millis(60_000));
            assert_eq!(events_until(&mut s, Instant::from_millis(60_499)), []);
            assert_eq!(
                events_until(&mut s, Instant::from_millis(60_500)),
                [timeout_after(500)]
            );
        }
    }

    /// RTCP goes on while a call is held (RFC 3264 §5.1): a held stream whose peer has
    /// been reporting and then falls silent for the timeout is timed out, so a call on
    /// hold whose peer vanished does not last for ever.
    #[test]
    fn a_held_stream_whose_peer_stops_reporting_is_timed_out() {
        let mut c = config(1, B_ADDR, MediaMode::Silence);
        c.inactivity_timeout = Some(Duration::from_millis(500));
        c.direction = MediaDirection::Inactive;
        let mut s = RtpSession::new(c, Instant::ZERO);
        let mut rr = Vec::new();
        rtcp::write_receiver_report(&mut rr, 0x5EED, &[]).unwrap();
        s.handle_rtcp(Instant::from_millis(1_000), &rr);
        assert_eq!(events_until(&mut s, Instant::from_millis(1_499)), []);
        assert_eq!(
            events_until(&mut s, Instant::from_millis(1_500)),
            [timeout_after(500)]
        );
    }

    /// A peer that negotiated rtcp-mux said it reports (RFC 5761): held, it is timed out
    /// even when none of its reports ever arrived, and a report that does arrive restarts
    /// the timer.
    #[test]
    fn a_held_stream_whose_peer_said_it_reports_is_timed_out_without_a_report() {
        let mut c = config(1, B_ADDR, MediaMode::Silence);
        c.inactivity_timeout = Some(Duration::from_millis(500));
        c.direction = MediaDirection::Inactive;
        c.peer_reports = true;
        let mut s = RtpSession::new(c.clone(), Instant::ZERO);
        assert_eq!(events_until(&mut s, Instant::from_millis(499)), []);
        assert_eq!(
            events_until(&mut s, Instant::from_millis(500)),
            [timeout_after(500)]
        );

        let mut s = RtpSession::new(c, Instant::ZERO);
        let mut rr = Vec::new();
        rtcp::write_receiver_report(&mut rr, 0x5EED, &[]).unwrap();
        s.handle_rtcp(Instant::from_millis(300), &rr);
        assert_eq!(events_until(&mut s, Instant::from_millis(799)), []);
        assert_eq!(
            events_until(&mut s, Instant::from_millis(800)),
            [timeout_after(500)]
        );
    }

    #[test]
    fn rtcp_from_the_peer_is_a_sign_of_life() {
        let mut c = config(1, B_ADDR, MediaMode::Silence);
        c.inactivity_timeout = Some(Duration::from_millis(500));
        let mut s = RtpSession::new(c, Instant::ZERO);
        let mut rr = Vec::new();
        rtcp::write_receiver_report(&mut rr, 0x5EED, &[]).unwrap();
        s.handle_packet(Instant::from_millis(400), &rr);
        assert_eq!(events_until(&mut s, Instant::from_millis(899)), []);
        assert_eq!(
            events_until(&mut s, Instant::from_millis(900)),
            [timeout_after(500)]
        );
    }

    #[test]
    fn the_sink_and_the_event_queue_are_bounded() {
        let mut c = config(1, B_ADDR, MediaMode::Silence);
        c.sink_capacity_frames = 3;
        c.event_capacity = 1;
        let mut s = RtpSession::new(c, Instant::ZERO);
        for i in 0..10u16 {
            s.handle_packet(
                Instant::from_millis(u64::from(i) * 20),
                &audio(i, u32::from(i) * 160),
            );
        }
        assert_eq!(s.stats().sink_dropped, 7);
        let mut frame = Vec::new();
        assert_eq!(s.poll_audio(&mut frame), Some(0));
        assert_eq!(frame, vec![0i16; 160]);
        s.handle_timeout(Instant::from_millis(60_000));
        assert_eq!(
            s.stats().events_dropped,
            1,
            "the timeout did not fit behind FlowStarted"
        );
    }

    #[test]
    fn app_mode_sends_pushed_frames_then_silence() {
        let mut c = config(1, B_ADDR, MediaMode::App);
        c.codec = AudioCodec::PCMA;
        let mut s = RtpSession::new(c, Instant::ZERO);
        assert_eq!(
            s.push_audio(&[0; 10]),
            Err(PushAudioError::WrongLength {
                len: 10,
                expected: 160
            })
        );
        let frame = [1000i16; 160];
        for _ in 0..4 {
            s.push_audio(&frame).unwrap();
        }
        assert_eq!(s.push_audio(&frame), Err(PushAudioError::QueueFull));
        let mut buf = Vec::new();
        let mut firsts = Vec::new();
        for ms in (0..120).step_by(20) {
            s.poll_transmit(Instant::from_millis(ms), &mut buf).unwrap();
            let p = RtpPacket::parse(&buf).unwrap();
            assert_eq!(p.payload_type(), 8);
            firsts.push(p.payload()[0]);
        }
        let code = G711Law::ALaw.encode(1000);
        assert_eq!(firsts, vec![code, code, code, code, 0xD5, 0xD5]);
    }

    #[test]
    fn rtcp_reports_carry_our_counts_and_the_peers_sr_for_round_trip_time() {
        let mut p = Pair::new(
            config(0xAAAA, B_ADDR, MediaMode::Tone { freq_hz: 1000 }),
            config(0xBBBB, A_ADDR, MediaMode::Echo),
        );
        p.run_until(Instant::from_millis(1000));
        let mut sr = Vec::new();
        let n =
            p.a.write_rtcp_report(p.now, b"a@example.com", &mut sr)
                .unwrap();
        assert_eq!(n, sr.len());
        let c = RtcpCompound::parse(&sr).unwrap();
        let Some(RtcpPacket::SenderReport {
            ssrc,
            info,
            reports,
        }) = c.packets().next()
        else {
            panic!("an SR first");
        };
        assert_eq!(ssrc, 0xAAAA);
        assert_eq!(u64::from(info.packet_count), p.a.stats().packets_sent);
        assert_eq!(info.ntp_timestamp, 1 << 32, "one second after the epoch");
        assert_eq!(info.rtp_timestamp, 4_294_960_000u32.wrapping_add(8000));
        assert_eq!(reports.len(), 1);
        assert_eq!(reports.iter().next().unwrap().ssrc, 0xBBBB);

        // B gets the SR 30 ms later and reports 50 ms after that.
        assert_eq!(
            p.b.handle_packet(Instant::from_millis(1030), &sr),
            PacketOutcome::Rtcp
        );
        let mut rr = Vec::new();
        p.b.write_rtcp_report(Instant::from_millis(1080), b"b", &mut rr)
            .unwrap();
        let c = RtcpCompound::parse(&rr).unwrap();
        let Some(RtcpPacket::SenderReport { reports, .. }) = c.packets().next() else {
            panic!("B has sent too, so an SR");
        };
        let block = reports.iter().next().unwrap();
        assert_eq!(block.ssrc, 0xAAAA);
        assert_eq!(block.last_sr, 0x0001_0000, "middle 32 bits of A's NTP time");
        assert_eq!(block.delay_since_last_sr, 50 * 65536 / 1000);
        assert_eq!(block.cumulative_lost, 0);
        assert_eq!(block.fraction_lost, 0);

        // A BYE from the peer becomes an event; garbage that looks like RTCP is counted.
        let mut bye = Vec::new();
        p.b.write_rtcp_bye(Instant::from_millis(1100), b"b", &mut bye)
            .unwrap();
        assert_eq!(
            p.a.handle_packet(Instant::from_millis(1130), &bye),
            PacketOutcome::Rtcp
        );
        let events: Vec<_> = std::iter::from_fn(|| p.a.poll_event()).collect();
        assert!(
            events.contains(&MediaEvent::RemoteBye { ssrc: 0xBBBB }),
            "{events:?}"
        );
        let invalid = p.a.stats().rtcp_invalid;
        assert!(matches!(
            p.a.handle_packet(Instant::from_millis(1131), &[0x80, 200, 0, 40]),
            PacketOutcome::InvalidRtcp(RtcpError::LengthOverrun { .. })
        ));
        assert_eq!(p.a.stats().rtcp_invalid, invalid + 1);
    }

    /// A pair whose sessions send each other RTCP too (A at `A_ADDR` + 1, B at `B_ADDR`
    /// + 1), run with the RTCP delivered like RTP.
    fn rtcp_config(ssrc: u32, remote: &str, mode: MediaMode) -> RtpSessionConfig {
        let mut c = config(ssrc, remote, mode);
        c.rtcp_remote = rtcp::rtcp_address(remote.parse().unwrap());
        c.cname = (*b"0123456789abcdef").into();
        c.rtcp_seed = u64::from(ssrc) * 7;
        c
    }

    #[test]
    fn reports_go_out_at_randomised_rfc3550_intervals_sr_when_sending_rr_when_not() {
        let mut s = RtpSession::new(
            rtcp_config(0xAAAA, B_ADDR, MediaMode::Silence),
            Instant::ZERO,
        );
        let mut buf = Vec::new();
        let mut reports = Vec::new();
        let mut now = Instant::ZERO;
        while now < Instant::from_millis(120_000) {
            s.handle_timeout(now);
            while let Some(t) = s.poll_transmit(now, &mut buf) {
                if t.rtcp {
                    assert_eq!(t.destination, "192.0.2.2:50001".parse().unwrap());
                    let c = RtcpCompound::parse(&buf).unwrap();
                    let first = c.packets().next().unwrap();
                    reports.push((now, matches!(first, RtcpPacket::SenderReport { .. })));
                    if reports.len() == 10 {
                        // On hold (we stop sending), reports go on as RRs.
                        s.set_direction(MediaDirection::RecvOnly, now);
                    }
                }
            }
            now = s.poll_timeout().unwrap();
        }
        let first = reports[0].0.as_micros();
        assert!(
            (1_250_000..=3_750_000).contains(&first),
            "first report after half the minimum, randomised: {first} µs"
        );
        let gaps: Vec<u64> = reports
            .windows(2)
            .map(|w| (w[1].0 - w[0].0).as_micros() as u64)
            .collect();
        assert!(
            gaps.iter().all(|g| (2_500_000..=7_500_000).contains(g)),
            "{gaps:?}"
        );
        let mean = gaps.iter().sum::<u64>() / gaps.len() as u64;
        assert!(
            (4_000_000..=6_000_000).contains(&mean),
            "mean interval {mean} µs over {} reports",
            reports.len()
        );
        assert!(gaps.windows(2).any(|w| w[0] != w[1]), "randomised");
        assert!(reports[..10].iter().all(|r| r.1), "SRs while sending");
        // The report right after the hold still covers RTP sent before it.
        assert!(reports[11..].iter().all(|r| !r.1), "RRs on hold");
        assert_eq!(s.stats().rtcp_sent, reports.len() as u64);
    }

    #[test]
    fn the_peers_report_gives_loss_jitter_and_the_round_trip() {
        let mut p = Pair::new(
            config(0xAAAA, B_ADDR, MediaMode::Tone { freq_hz: 1000 }),
            config(0xBBBB, A_ADDR, MediaMode::Echo),
        );
        // Two seconds of media with every tenth RTP packet of A's lost, 30 ms each way.
        p.copies = |d| {
            let from_a = d.len() >= 12 && d[8..12] == 0xAAAAu32.to_be_bytes();
            let seq = d.get(2..4).map_or(1, |s| u16::from_be_bytes([s[0], s[1]]));
            usize::from(!(from_a && !looks_like_rtcp(d) && seq.is_multiple_of(10)))
        };
        p.run_until(Instant::from_millis(2_000));
        let mut sr = Vec::new();
        p.a.write_rtcp_report(p.now, b"a", &mut sr).unwrap();
        // B gets it 30 ms later and answers 200 ms after that; A reads that 30 ms later.
        let t_b = p.now + Duration::from_millis(30);
        assert_eq!(p.b.handle_rtcp(t_b, &sr), PacketOutcome::Rtcp);
        let mut rr = Vec::new();
        p.b.write_rtcp_report(t_b + Duration::from_millis(200), b"b", &mut rr)
            .unwrap();
        let t_a = t_b + Duration::from_millis(230);
        assert_eq!(p.a.handle_rtcp(t_a, &rr), PacketOutcome::Rtcp);
        let report = p.a.stats().remote_report.expect("B reported on A's stream");
        assert_eq!(report.at, t_a);
        let sent = p.a.stats().packets_sent;
        let lost = sent / 10;
        assert!(
            (i64::from(report.cumulative_lost) - lost as i64).abs() <= 1,
            "{report:?}, {sent} sent"
        );
        assert!(
            (20..=30).contains(&report.fraction_lost),
            "about 10 % = 25/256: {report:?}"
        );
        let rtt = report.round_trip.expect("B had A's SR").as_micros();
        // 60 ms on the wire, to within the 1/65536 s resolution of the fields.
        assert!((59_900..=60_100).contains(&rtt), "round trip {rtt} µs");
        assert_eq!(report.reports, 1);

        // Malformed RTCP on the RTCP port is counted and changes nothing.
        for junk in [
            &[][..],
            &[0x80, 201, 0, 9, 0],
            &[0x00, 0x01, 0x02, 0x03],
            &rr[..7],
        ] {
            assert!(matches!(
                p.a.handle_rtcp(t_a, junk),
                PacketOutcome::InvalidRtcp(_)
            ));
        }
        assert_eq!(p.a.stats().rtcp_invalid, 4);
        assert_eq!(p.a.stats().remote_report, Some(report));
    }

    #[test]
    fn stopping_sends_one_bye_and_none_without_anything_sent() {
        let mut s = RtpSession::new(
            rtcp_config(0xAAAA, B_ADDR, MediaMode::Silence),
            Instant::ZERO,
        );
        let mut buf = Vec::new();
        while s
            .poll_transmit(Instant::from_millis(100), &mut buf)
            .is_some()
        {}
        let t = s
            .stop_with_bye(Instant::from_millis(100), &mut buf)
            .unwrap();
        assert!(t.rtcp);
        let c = RtcpCompound::parse(&buf).unwrap();
        let kinds: Vec<_> = c
            .packets()
            .map(|p| match p {
                RtcpPacket::SenderReport { .. } => "SR",
                RtcpPacket::ReceiverReport { .. } => "RR",
                RtcpPacket::Bye { .. } => "BYE",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["SR", "other", "BYE"]);
        assert!(s
            .stop_with_bye(Instant::from_millis(120), &mut buf)
            .is_none());
        assert_eq!(s.poll_timeout(), None);

        let mut c = rtcp_config(0xAAAA, B_ADDR, MediaMode::Silence);
        c.direction = MediaDirection::RecvOnly;
        let mut quiet = RtpSession::new(c, Instant::ZERO);
        assert!(quiet
            .stop_with_bye(Instant::from_millis(100), &mut buf)
            .is_none());
    }

    #[test]
    fn a_session_that_has_not_sent_reports_with_an_rr() {
        let mut c = config(1, B_ADDR, MediaMode::Silence);
        c.direction = MediaDirection::RecvOnly;
        let mut s = RtpSession::new(c, Instant::ZERO);
        let mut buf = Vec::new();
        s.write_rtcp_report(Instant::from_millis(10), b"x", &mut buf)
            .unwrap();
        let c = RtcpCompound::parse(&buf).unwrap();
        assert!(matches!(
            c.packets().next(),
            Some(RtcpPacket::ReceiverReport { ssrc: 1, reports }) if reports.is_empty()
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic_and_every_one_is_accounted(
            datagrams in proptest::collection::vec(
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), 0..64),
        ) {
            let mut s = RtpSession::new(config(1, B_ADDR, MediaMode::Echo), Instant::ZERO);
            for (i, d) in datagrams.iter().enumerate() {
                let mut d = d.clone();
                // Make a good share of them look like RTP to reach the deeper paths.
                if i % 2 == 0 && d.len() >= 2 {
                    d[0] = 0x80 | (d[0] & 0x3F);
                    d[1] = if i % 4 == 0 { 101 } else { d[1] & 0x80 };
                }
                s.handle_packet(Instant::from_millis(i as u64), &d);
                let mut buf = Vec::new();
                while s.poll_transmit(Instant::from_millis(i as u64), &mut buf).is_some() {}
            }
            let st = s.stats();
            let accounted = st.packets_received + st.invalid_received
                + st.unknown_payload_type_received + st.rtcp_received + st.rtcp_invalid;
            proptest::prop_assert_eq!(accounted, datagrams.len() as u64);
            proptest::prop_assert!(s.events.len() <= 32);
        }
    }

    #[test]
    fn jitter_and_loss_through_a_jittery_lossy_link_match_what_was_done_to_the_packets() {
        use crate::rng::Rng;
        let mut tx = RtpSession::new(config(1, B_ADDR, MediaMode::Silence), Instant::ZERO);
        let mut rx = RtpSession::new(config(2, A_ADDR, MediaMode::Silence), Instant::ZERO);
        let mut rng = Rng::new(3550);
        let mut buf = Vec::new();
        let mut wire: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut dropped = 0;
        for ms in (0..4000u64).step_by(20) {
            while tx
                .poll_transmit(Instant::from_millis(ms), &mut buf)
                .is_some()
            {
                if rng.chance(0.05) {
                    dropped += 1;
                    continue;
                }
                // 20 ms base delay plus 0..=15 ms of jitter, which also reorders.
                wire.push((ms + 20 + rng.below(16), buf.clone()));
            }
        }
        wire.sort_by_key(|w| w.0);
        for (at, d) in &wire {
            rx.handle_packet(Instant::from_millis(*at), d);
        }
        let r = &rx.stats().reception;
        let last_dropped = {
            // A.3 counts up to the highest sequence number seen: drops after the last
            // delivered packet are not visible as loss.
            let mut seqs: Vec<u16> = wire
                .iter()
                .map(|w| RtpPacket::parse(&w.1).unwrap().sequence_number())
                .collect();
            seqs.sort_by_key(|s| s.wrapping_sub(65500));
            u64::from(tx.stats().packets_sent as u16 - 1 - seqs.last().unwrap().wrapping_sub(65500))
        };
        assert_eq!(r.lost(), dropped as i64 - last_dropped as i64);
        assert_eq!(rx.stats().packets_received, wire.len() as u64);
        // Uniform 0..15 ms jitter: E|D| = 5.3 ms ≈ 42 timestamp units; A.8 hovers there.
        let j = r.jitter();
        assert!((20..=70).contains(&j), "jitter {j}");
        assert!(r.jitter_us(8000) > 2_000);
    }

    #[test]
    fn a_session_stays_small_inline() {
        // The budget is 4 KiB per established call, signalling included: media takes
        // 640 bytes inline before RTCP and about 800 with it (the peer's RTCP address,
        // the report schedule, the peer's last report), plus one packet time per queued echo/app frame (4 × 160
        // bytes by default, allocated on first use) and its events.
        assert!(
            std::mem::size_of::<RtpSession>() <= 832,
            "{}",
            std::mem::size_of::<RtpSession>()
        );
    }

    #[test]
    fn codecs_map_from_rtpmap_and_directions_from_flags() {
        assert_eq!(
            AudioCodec::from_rtpmap(0, "PCMU", 8000),
            Some(AudioCodec::PCMU)
        );
        assert_eq!(
            AudioCodec::from_rtpmap(96, "pcma", 8000),
            Some(AudioCodec {
                payload_type: 96,
                law: G711Law::ALaw
            })
        );
        assert_eq!(AudioCodec::from_rtpmap(0, "PCMU", 16000), None);
        assert_eq!(AudioCodec::from_rtpmap(9, "G722", 8000), None);
        for d in [
            MediaDirection::SendRecv,
            MediaDirection::SendOnly,
            MediaDirection::RecvOnly,
            MediaDirection::Inactive,
        ] {
            assert_eq!(MediaDirection::from_flags(d.sends(), d.receives()), d);
        }
    }

    #[test]
    fn stop_ends_everything() {
        let mut s = RtpSession::new(config(1, B_ADDR, MediaMode::Silence), Instant::ZERO);
        s.stop();
        let mut buf = Vec::new();
        assert_eq!(s.poll_transmit(Instant::ZERO, &mut buf), None);
        assert_eq!(s.poll_timeout(), None);
        assert_eq!(
            s.handle_packet(Instant::ZERO, &audio(1, 1)),
            PacketOutcome::Ignored
        );
        assert_eq!(
            s.send_dtmf("1", Instant::ZERO),
            Err(DtmfError::SessionStopped)
        );
        assert!(s.is_stopped());
    }

    #[test]
    fn the_same_inputs_give_the_same_bytes() {
        let run = || {
            let mut p = Pair::new(
                config(7, B_ADDR, MediaMode::Tone { freq_hz: 697 }),
                config(8, A_ADDR, MediaMode::Echo),
            );
            p.run_until(Instant::from_millis(300));
            p.a.send_dtmf("9", p.now).unwrap();
            p.run_until(Instant::from_millis(600));
            (p.in_flight, p.audio_a, format!("{:?}", p.a.stats()))
        };
        assert_eq!(run(), run());
    }
}
