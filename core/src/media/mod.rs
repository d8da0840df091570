//! Sans-IO RTP media: header codec, G.711, RFC 4733 DTMF, sources and statistics.

pub mod dtmf;
pub mod g711;
pub mod rtp;
pub mod stats;
pub mod tone;
