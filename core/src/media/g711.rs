//! G.711 µ-law (PCMU) and A-law (PCMA) companding, ITU-T G.711; RTP payload formats per
//! RFC 3551 §4.5.14 (static payload types 0 and 8, 8000 Hz, one octet per sample).
//!
//! Bit-based, table-free code over 16-bit linear samples. µ-law works on 14 significant
//! bits with the usual bias of 132; A-law on 13 bits. Silence is `0xFF` in µ-law and
//! `0xD5` in A-law.

/// The two G.711 companding laws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum G711Law {
    /// µ-law, PCMU, RTP payload type 0 (North America, Japan).
    MuLaw,
    /// A-law, PCMA, RTP payload type 8 (everywhere else).
    ALaw,
}

impl G711Law {
    /// The static RTP payload type RFC 3551 assigns to this law.
    pub const fn static_payload_type(self) -> u8 {
        match self {
            G711Law::MuLaw => 0,
            G711Law::ALaw => 8,
        }
    }

    /// The code for digital silence (linear 0).
    pub const fn silence(self) -> u8 {
        match self {
            G711Law::MuLaw => 0xFF,
            G711Law::ALaw => 0xD5,
        }
    }

    /// Encodes one linear sample.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            G711Law::MuLaw => ulaw_encode(sample),
            G711Law::ALaw => alaw_encode(sample),
        }
    }

    /// Decodes one code to a linear sample.
    pub fn decode(self, code: u8) -> i16 {
        match self {
            G711Law::MuLaw => ulaw_decode(code),
            G711Law::ALaw => alaw_decode(code),
        }
    }

    /// Encodes `samples` into `out`, one octet per sample; writes `min(len)` codes and
    /// returns how many.
    pub fn encode_into(self, samples: &[i16], out: &mut [u8]) -> usize {
        let n = samples.len().min(out.len());
        for (o, &s) in out[..n].iter_mut().zip(samples) {
            *o = self.encode(s);
        }
        n
    }

    /// Decodes `codes` into `out`; writes `min(len)` samples and returns how many.
    pub fn decode_into(self, codes: &[u8], out: &mut [i16]) -> usize {
        let n = codes.len().min(out.len());
        for (o, &c) in out[..n].iter_mut().zip(codes) {
            *o = self.decode(c);
        }
        n
    }
}

/// The µ-law bias added to the magnitude before the segment search.
const ULAW_BIAS: i32 = 0x84;
/// The largest magnitude µ-law can represent once the bias is added.
const ULAW_CLIP: i32 = 32635;

/// Encodes one 16-bit linear sample as µ-law.
pub fn ulaw_encode(sample: i16) -> u8 {
    let s = i32::from(sample);
    let (sign, magnitude) = if s < 0 { (0x80u8, -s) } else { (0, s) };
    let biased = magnitude.min(ULAW_CLIP) + ULAW_BIAS;
    // `biased` is in 132..=32767: between 8 and 15 significant bits.
    let bits = 32 - biased.leading_zeros() as i32;
    let exponent = bits - 8;
    let mantissa = (biased >> (exponent + 3)) & 0x0F;
    !(sign | ((exponent as u8) << 4) | mantissa as u8)
}

/// Decodes one µ-law code to a 16-bit linear sample.
pub fn ulaw_decode(code: u8) -> i16 {
    let c = !code;
    let exponent = (c >> 4) & 0x07;
    let mantissa = i32::from(c & 0x0F);
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    // At most 32124: fits an i16 either way.
    if c & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Encodes one 16-bit linear sample as A-law.
pub fn alaw_encode(sample: i16) -> u8 {
    let s = i32::from(sample);
    // 13-bit magnitude; negative values are folded one step (-1 → 0) as G.711 does.
    let (mask, magnitude) = if s >= 0 {
        (0xD5u8, s >> 3)
    } else {
        (0x55u8, (!s) >> 3)
    };
    let bits = 32 - magnitude.leading_zeros() as i32;
    let segment = (bits - 5).max(0);
    let shift = if segment < 2 { 1 } else { segment };
    let mantissa = (magnitude >> shift) & 0x0F;
    (((segment as u8) << 4) | mantissa as u8) ^ mask
}

/// Decodes one A-law code to a 16-bit linear sample.
pub fn alaw_decode(code: u8) -> i16 {
    let a = code ^ 0x55;
    let segment = (a >> 4) & 0x07;
    let mantissa = i32::from(a & 0x0F);
    let magnitude = match segment {
        0 => (mantissa << 4) + 8,
        s => ((mantissa << 4) + 0x108) << (s - 1),
    };
    // At most 32256: fits an i16 either way.
    if a & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vectors_for_zero_and_extremes() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        assert_eq!(G711Law::MuLaw.silence(), G711Law::MuLaw.encode(0));
        assert_eq!(G711Law::ALaw.silence(), G711Law::ALaw.encode(0));
    }

    #[test]
    fn every_ulaw_code_survives_decode_then_encode_except_negative_zero() {
        for code in 0..=255u8 {
            let back = ulaw_encode(ulaw_decode(code));
            if code == 0x7F {
                assert_eq!(back, 0xFF, "µ-law negative zero folds to positive zero");
            } else {
                assert_eq!(back, code, "µ-law code {code:#04x}");
            }
        }
    }

    #[test]
    fn every_alaw_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            assert_eq!(
                alaw_encode(alaw_decode(code)),
                code,
                "A-law code {code:#04x}"
            );
        }
    }

    #[test]
    fn decoding_is_monotonic_in_the_linear_domain() {
        // Sort all codes by their decoded value; encoding must never go backwards.
        for law in [G711Law::MuLaw, G711Law::ALaw] {
            let mut last = law.decode(law.encode(i16::MIN));
            for s in (i16::MIN..=i16::MAX).step_by(7) {
                let v = law.decode(law.encode(s));
                assert!(v >= last, "{law:?} not monotonic at {s}");
                last = v;
            }
        }
    }

    /// The quantisation step of a segment bounds the round-trip error: half a step
    /// (rounding inside the segment) plus the clipping at the top.
    fn max_error(law: G711Law, s: i16) -> i32 {
        let m = i32::from(s).abs();
        match law {
            // µ-law decodes to the middle of a step of 2^(e+3) where the biased
            // magnitude is at least 2^(e+7): half a step is at most 1/32 of it.
            G711Law::MuLaw => (m + 132) / 32 + 1 + (m - 32124).max(0),
            // A-law: half a step is at most 1/32 of the magnitude (at least 8), plus up
            // to 8 lost when the sample is cut to 13 bits.
            G711Law::ALaw => m.max(256) / 32 + 8 + (m - 32256).max(0),
        }
    }

    proptest! {
        #[test]
        fn round_trip_error_is_within_one_quantisation_step(s in any::<i16>()) {
            for law in [G711Law::MuLaw, G711Law::ALaw] {
                let back = law.decode(law.encode(s));
                let err = (i32::from(back) - i32::from(s)).abs();
                prop_assert!(err <= max_error(law, s), "{:?}: {} -> {} (err {})", law, s, back, err);
                // And the sign is kept for anything above the smallest step.
                if i32::from(s).abs() > 16 {
                    prop_assert_eq!(back.signum(), s.signum());
                }
            }
        }
    }
}
