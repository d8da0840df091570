//! Sans-IO RTP media: header codec, G.711, RFC 4733 DTMF, sources and statistics.
//!
//! Nothing here touches a socket or a clock. The endpoint creates one [`RtpSession`] per
//! call once the runtime reports the media socket ready, feeds it the datagrams that
//! arrive there and the passage of time, and drains the packets it wants sent and the
//! events it reports (see [`session`] for the driving loop).
//!
//! | file | what | RFC |
//! | --- | --- | --- |
//! | [`rtp`] | borrowed header reader, writer into a caller buffer | RFC 3550 §5.1, §5.3.1 |
//! | [`rtcp`] | SR, RR, SDES CNAME and BYE, compound reader and writer; report interval, round trip | RFC 3550 §6.2–§6.6, A.7 |
//! | [`g711`] | µ-law and A-law | ITU-T G.711, RFC 3551 §4.5.14 |
//! | [`dtmf`] | telephone-event sender and receiver | RFC 4733 |
//! | [`tone`] | a deterministic sine source | — |
//! | [`analysis`] | Goertzel power, dominant frequency, level: checking audio by content | — |
//! | [`stats`] | counters, loss, jitter | RFC 3550 A.1, A.3, A.8 |
//! | [`frames`] | bounded frame queues (sink, echo) | — |
//! | [`session`] | [`RtpSession`], one per call; relaying a bridged leg's packets | RFC 3550, RFC 3551 |

pub mod analysis;
pub mod dtmf;
pub mod frames;
pub mod g711;
pub mod rtcp;
pub mod rtp;
pub mod session;
pub mod stats;
pub mod tone;

pub use dtmf::{DtmfConfig, DtmfError};
pub use g711::G711Law;
pub use rtp::{RtpError, RtpHeader, RtpPacket};
pub use session::{
    AudioCodec, MediaDirection, MediaEvent, MediaMode, PacketOutcome, PushAudioError, RelaySource,
    RtpSession, RtpSessionConfig, RtpTransmit,
};
pub use stats::{MediaStats, ReceptionStats, RemoteReport};

/// How DTMF digits travel: as RFC 4733 events in the RTP stream, or one SIP INFO
/// request per digit (`application/dtmf-relay`, the legacy usage RFC 6086 §2 leaves in
/// place, which many PBXs and trunks still send).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DtmfMode {
    /// RFC 4733 telephone-event packets.
    #[default]
    Rfc4733,
    /// SIP INFO with `application/dtmf-relay` (received also as `application/dtmf`).
    Info,
}
