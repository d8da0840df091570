//! RTP payload formats as SDP describes them: `a=rtpmap`/`a=fmtp` (RFC 4566 §6) and the
//! static payload types of RFC 3551 §6 that need no rtpmap.

use super::Text;

/// One RTP payload format of a media stream: a payload type number bound to an encoding.
///
/// A dynamic payload type (96–127) that the description does not map with `a=rtpmap`
/// is kept with an empty `name` and a `clock_rate` of 0: it matches nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Codec {
    /// The RTP payload type number, 0–127.
    pub payload_type: u8,
    /// The encoding name as written (`PCMU`, `opus`, `telephone-event`); compared
    /// case-insensitively.
    pub name: Text,
    /// The RTP clock rate in Hz (for G.722 that is 8000, RFC 3551 §4.5.2).
    pub clock_rate: u32,
    /// Audio channels; 1 when the rtpmap does not say.
    pub channels: u16,
    /// The `a=fmtp` parameters, verbatim (`0-16`, `useinbandfec=1`), if any.
    pub fmtp: Option<Text>,
}

impl Codec {
    /// A codec from its parts, without fmtp.
    pub fn new(payload_type: u8, name: &str, clock_rate: u32, channels: u16) -> Codec {
        Codec {
            payload_type,
            name: name.into(),
            clock_rate,
            channels,
            fmtp: None,
        }
    }

    /// The codec a static payload type stands for without an rtpmap (RFC 3551 table 4),
    /// `None` for a dynamic or unassigned number.
    pub fn from_static(payload_type: u8) -> Option<Codec> {
        let (name, clock_rate, channels) = static_payload_type(payload_type)?;
        Some(Codec::new(payload_type, name, clock_rate, channels))
    }

    /// A dynamic payload type the description did not map: it matches no codec.
    pub fn unmapped(payload_type: u8) -> Codec {
        Codec::new(payload_type, "", 0, 1)
    }

    /// Whether both describe the same encoding: name (case-insensitive), clock rate and
    /// channels; payload type numbers and fmtp are not compared.
    pub fn same_encoding(&self, other: &Codec) -> bool {
        self.is_encoding(&other.name, other.clock_rate, other.channels)
    }

    /// Whether this codec is the encoding `name`/`clock_rate`/`channels`.
    pub fn is_encoding(&self, name: &str, clock_rate: u32, channels: u16) -> bool {
        !self.name.is_empty()
            && self.name.eq_ignore_ascii_case(name)
            && self.clock_rate == clock_rate
            && self.channels == channels
    }

    /// Whether this is RFC 4733 `telephone-event` (DTMF), which never counts as the
    /// stream's audio codec.
    pub fn is_telephone_event(&self) -> bool {
        self.name.eq_ignore_ascii_case(TELEPHONE_EVENT)
    }

    /// Whether this is comfort noise (`CN`, RFC 3389), which never counts as the
    /// stream's audio codec either.
    pub fn is_comfort_noise(&self) -> bool {
        self.name.eq_ignore_ascii_case("CN")
    }
}

/// The encoding name of RFC 4733 DTMF events.
pub const TELEPHONE_EVENT: &str = "telephone-event";

/// The first dynamic payload type number (RFC 3551 §3).
pub const FIRST_DYNAMIC_PAYLOAD_TYPE: u8 = 96;

/// The largest RTP payload type number (7 bits).
pub const MAX_PAYLOAD_TYPE: u8 = 127;

/// RFC 3551 table 4 and 5: name, clock rate, channels of the statically assigned types.
fn static_payload_type(payload_type: u8) -> Option<(&'static str, u32, u16)> {
    Some(match payload_type {
        0 => ("PCMU", 8000, 1),
        3 => ("GSM", 8000, 1),
        4 => ("G723", 8000, 1),
        5 => ("DVI4", 8000, 1),
        6 => ("DVI4", 16000, 1),
        7 => ("LPC", 8000, 1),
        8 => ("PCMA", 8000, 1),
        // G.722 samples at 16 kHz but RFC 3551 §4.5.2 fixes its RTP clock at 8000.
        9 => ("G722", 8000, 1),
        10 => ("L16", 44100, 2),
        11 => ("L16", 44100, 1),
        12 => ("QCELP", 8000, 1),
        13 => ("CN", 8000, 1),
        14 => ("MPA", 90000, 1),
        15 => ("G728", 8000, 1),
        16 => ("DVI4", 11025, 1),
        17 => ("DVI4", 22050, 1),
        18 => ("G729", 8000, 1),
        25 => ("CelB", 90000, 1),
        26 => ("JPEG", 90000, 1),
        28 => ("nv", 90000, 1),
        31 => ("H261", 90000, 1),
        32 => ("MPV", 90000, 1),
        33 => ("MP2T", 90000, 1),
        34 => ("H263", 90000, 1),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_payload_types_need_no_rtpmap() {
        let pcmu = Codec::from_static(0).expect("0 is static");
        assert!(pcmu.is_encoding("pcmu", 8000, 1));
        let g722 = Codec::from_static(9).expect("9 is static");
        assert_eq!(g722.clock_rate, 8000, "RFC 3551 G.722 clock quirk");
        assert!(Codec::from_static(18)
            .expect("18 is static")
            .is_encoding("G729", 8000, 1));
        assert_eq!(Codec::from_static(96), None);
        assert_eq!(Codec::from_static(2), None);
    }

    #[test]
    fn unmapped_dynamic_type_matches_nothing() {
        let unmapped = Codec::unmapped(97);
        assert!(!unmapped.same_encoding(&Codec::unmapped(97)));
        assert!(!unmapped.is_encoding("", 0, 1));
    }

    #[test]
    fn encoding_comparison_ignores_case_and_payload_type() {
        let a = Codec::new(96, "OPUS", 48000, 2);
        let b = Codec::new(111, "opus", 48000, 2);
        assert!(a.same_encoding(&b));
        assert!(!a.same_encoding(&Codec::new(96, "opus", 48000, 1)));
        assert!(Codec::new(101, "Telephone-Event", 8000, 1).is_telephone_event());
    }
}
