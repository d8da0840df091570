//! What we offer and accept: the configured codecs and per-call local media.

use std::net::IpAddr;

use super::codec::{Codec, FIRST_DYNAMIC_PAYLOAD_TYPE, MAX_PAYLOAD_TYPE, TELEPHONE_EVENT};
use super::direction::Direction;
use super::types::{MediaKind, SessionDescription};
use super::Text;

/// One codec we support, in preference order within [`MediaConfig::codecs`].
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecConfig {
    /// The encoding name as we write it in rtpmap.
    pub name: Box<str>,
    /// The RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels.
    pub channels: u16,
    /// The static payload type (RFC 3551), or `None` for a dynamic one assigned from 96
    /// in configuration order.
    pub static_payload_type: Option<u8>,
    /// The fmtp parameters we send with it, if any.
    pub fmtp: Option<Box<str>>,
}

impl CodecConfig {
    /// G.711 µ-law, static payload type 0.
    pub fn pcmu() -> CodecConfig {
        CodecConfig::fixed("PCMU", 8000, 1, 0)
    }

    /// G.711 A-law, static payload type 8.
    pub fn pcma() -> CodecConfig {
        CodecConfig::fixed("PCMA", 8000, 1, 8)
    }

    /// G.722, static payload type 9, RTP clock 8000 (RFC 3551 §4.5.2).
    pub fn g722() -> CodecConfig {
        CodecConfig::fixed("G722", 8000, 1, 9)
    }

    /// Opus, dynamic, always written `opus/48000/2` (RFC 7587 §7).
    pub fn opus() -> CodecConfig {
        CodecConfig {
            name: "opus".into(),
            clock_rate: 48000,
            channels: 2,
            static_payload_type: None,
            fmtp: None,
        }
    }

    /// RFC 4733 DTMF events at 8000 Hz, dynamic, events `0-16`.
    pub fn telephone_event() -> CodecConfig {
        CodecConfig {
            name: TELEPHONE_EVENT.into(),
            clock_rate: 8000,
            channels: 1,
            static_payload_type: None,
            fmtp: Some("0-16".into()),
        }
    }

    fn fixed(name: &str, clock_rate: u32, channels: u16, payload_type: u8) -> CodecConfig {
        CodecConfig {
            name: name.into(),
            clock_rate,
            channels,
            static_payload_type: Some(payload_type),
            fmtp: None,
        }
    }

    /// Whether a described codec is this encoding.
    pub fn matches(&self, codec: &Codec) -> bool {
        codec.is_encoding(&self.name, self.clock_rate, self.channels)
    }

    /// Whether this is RFC 4733 telephone-event.
    pub fn is_telephone_event(&self) -> bool {
        self.name.eq_ignore_ascii_case(TELEPHONE_EVENT)
    }

    /// The codec as written with a given payload type.
    pub fn with_payload_type(&self, payload_type: u8) -> Codec {
        Codec {
            payload_type,
            name: Text::new(&self.name),
            clock_rate: self.clock_rate,
            channels: self.channels,
            fmtp: self.fmtp.as_deref().map(Text::new),
        }
    }
}

/// The media side of an endpoint's configuration: what it offers and accepts.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaConfig {
    /// Codecs in preference order; telephone-event among them enables RFC 4733 DTMF.
    pub codecs: Vec<CodecConfig>,
    /// The `a=ptime` we put in offers, in ms (`None`: no ptime line).
    pub ptime_ms: Option<u32>,
    /// The `o=` user name.
    pub username: Box<str>,
    /// The `s=` line.
    pub session_name: Box<str>,
}

impl Default for MediaConfig {
    /// PCMU, PCMA and telephone-event (what the core's media layer implements), ptime 20.
    fn default() -> Self {
        MediaConfig {
            codecs: vec![
                CodecConfig::pcmu(),
                CodecConfig::pcma(),
                CodecConfig::telephone_event(),
            ],
            ptime_ms: Some(20),
            username: "-".into(),
            session_name: "session-core".into(),
        }
    }
}

impl MediaConfig {
    /// The same codecs with the first of `offer`'s audio codecs that we also have moved to
    /// the front: how a gateway's outgoing leg offers its incoming leg's choice first, so
    /// that the legs need no transcoding when the far end can follow.
    pub fn preferring(&self, offer: &SessionDescription) -> MediaConfig {
        let mut config = self.clone();
        let first_shared = offer
            .media
            .iter()
            .filter(|m| m.kind == MediaKind::Audio && m.port != 0)
            .flat_map(|m| m.codecs.iter())
            .find_map(|c| {
                config
                    .codecs
                    .iter()
                    .position(|ours| ours.matches(c) && !ours.is_telephone_event())
            });
        if let Some(at) = first_shared {
            let preferred = config.codecs.remove(at);
            config.codecs.insert(0, preferred);
        }
        config
    }

    /// The codecs of an initial offer: configuration order, static payload types kept,
    /// dynamic ones numbered from 96; codecs beyond payload type 127 are left out.
    pub fn offered_codecs(&self) -> Vec<Codec> {
        self.offered_codecs_keeping(&[])
    }

    /// The codecs of a re-offer whose stream previously carried `previous`: an encoding
    /// that had a payload type keeps it (RFC 3264 §8.3.2: a dynamic mapping must not
    /// change within a session), new dynamic ones take numbers from 96 that `previous`
    /// did not use.
    pub fn offered_codecs_keeping(&self, previous: &[Codec]) -> Vec<Codec> {
        let mut codecs: Vec<Codec> = Vec::with_capacity(self.codecs.len());
        let taken = |pt: u8, codecs: &[Codec]| {
            codecs.iter().any(|c| c.payload_type == pt)
                || previous.iter().any(|c| c.payload_type == pt)
        };
        let mut next_dynamic = FIRST_DYNAMIC_PAYLOAD_TYPE;
        for config in &self.codecs {
            let kept = previous
                .iter()
                .find(|c| config.matches(c))
                .map(|c| c.payload_type);
            let payload_type = match kept.or(config.static_payload_type) {
                Some(pt) if codecs.iter().any(|c| c.payload_type == pt) => continue,
                Some(pt) => pt,
                None => {
                    while next_dynamic <= MAX_PAYLOAD_TYPE && taken(next_dynamic, &codecs) {
                        next_dynamic += 1;
                    }
                    if next_dynamic > MAX_PAYLOAD_TYPE {
                        continue;
                    }
                    next_dynamic
                }
            };
            codecs.push(config.with_payload_type(payload_type));
        }
        codecs
    }
}

/// Per-call local media: where our RTP socket is and which way we want media to flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalMedia {
    /// The address the peer sends RTP to (our `c=`).
    pub address: IpAddr,
    /// Our RTP port (RTCP on port + 1).
    pub rtp_port: u16,
    /// The direction we want: `SendRecv` normally; `SendOnly` to send only, etc.
    pub direction: Direction,
}

impl LocalMedia {
    /// Send-and-receive media at `address:rtp_port`.
    pub fn new(address: IpAddr, rtp_port: u16) -> LocalMedia {
        LocalMedia {
            address,
            rtp_port,
            direction: Direction::SendRecv,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_codecs_number_dynamic_types_from_96_in_order() {
        let config = MediaConfig {
            codecs: vec![
                CodecConfig::opus(),
                CodecConfig::pcmu(),
                CodecConfig::g722(),
                CodecConfig::telephone_event(),
            ],
            ..MediaConfig::default()
        };
        let pts: Vec<u8> = config
            .offered_codecs()
            .iter()
            .map(|c| c.payload_type)
            .collect();
        assert_eq!(pts, [96, 0, 9, 97]);
    }

    #[test]
    fn reoffer_keeps_payload_types_of_the_previous_exchange() {
        let config = MediaConfig {
            codecs: vec![
                CodecConfig::pcmu(),
                CodecConfig::opus(),
                CodecConfig::telephone_event(),
            ],
            ..MediaConfig::default()
        };
        // We answered an offer that put telephone-event at 96 and opus at 111.
        let previous = [
            Codec::new(111, "opus", 48000, 2),
            Codec::new(96, TELEPHONE_EVENT, 8000, 1),
        ];
        let pts: Vec<u8> = config
            .offered_codecs_keeping(&previous)
            .iter()
            .map(|c| c.payload_type)
            .collect();
        assert_eq!(pts, [0, 111, 96]);
        // A new dynamic codec avoids numbers the session already used.
        let previous = [Codec::new(96, "speex", 8000, 1)];
        let pts: Vec<u8> = config
            .offered_codecs_keeping(&previous)
            .iter()
            .map(|c| c.payload_type)
            .collect();
        assert_eq!(pts, [0, 97, 98]);
    }

    #[test]
    fn offered_codecs_stop_at_payload_type_127() {
        let config = MediaConfig {
            codecs: vec![CodecConfig::opus(); 40],
            ..MediaConfig::default()
        };
        let codecs = config.offered_codecs();
        assert_eq!(codecs.len(), 32);
        assert_eq!(codecs.last().map(|c| c.payload_type), Some(127));
    }
}
