//! A deterministic sine source for test calls and ringback-style tones.
//!
//! The phase is a 32-bit fixed-point accumulator (one turn = 2^32). Samples come from a
//! 1024-point sine table, linearly interpolated, in integer arithmetic. The table is built
//! at compile time from a Taylor polynomial (additions and multiplications only), so the
//! samples are bit-identical on every platform (no libm call whose last bit may differ);
//! interpolation keeps the error under 1e-5 of full scale.

use std::f64::consts::FRAC_PI_2;

/// log2 of the table's points per turn.
const TABLE_BITS: u32 = 10;
/// Points per turn.
const TABLE_LEN: usize = 1 << TABLE_BITS;
/// Table values are sin × 2^30.
const TABLE_SHIFT: u32 = 30;
/// One turn of sine, plus a guard point equal to the first for interpolation.
const SINE_TABLE: [i32; TABLE_LEN + 1] = build_sine_table();

/// A sine wave at a fixed frequency and amplitude, sample by sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToneSource {
    phase: u32,
    step: u32,
    amplitude: i64,
}

impl ToneSource {
    /// A tone of `freq_hz` at `sample_rate_hz` with peak `amplitude` (linear 16-bit).
    /// Frequencies at or above half the sample rate alias, as they would in any DSP.
    pub fn new(freq_hz: u32, amplitude: i16, sample_rate_hz: u32) -> Self {
        let rate = u64::from(sample_rate_hz.max(1));
        // Turns per sample in 2^-32 units; the modulo keeps the accumulator's meaning.
        let step = ((u64::from(freq_hz) << 32) / rate) as u32;
        ToneSource {
            phase: 0,
            step,
            amplitude: i64::from(amplitude),
        }
    }

    /// Writes the next `out.len()` samples; the phase continues across calls.
    pub fn fill(&mut self, out: &mut [i16]) {
        for sample in out {
            let index = (self.phase >> (32 - TABLE_BITS)) as usize;
            let fraction = i64::from((self.phase >> (16 - TABLE_BITS)) & 0xFFFF);
            let a = i64::from(SINE_TABLE[index]);
            let b = i64::from(SINE_TABLE[index + 1]);
            let sine = a + (((b - a) * fraction) >> 16);
            let v = (sine * self.amplitude + (1 << (TABLE_SHIFT - 1))) >> TABLE_SHIFT;
            // |sine| ≤ 2^30, so |v| ≤ |amplitude| + 1: clamp the one rounding step.
            *sample = v.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16;
            self.phase = self.phase.wrapping_add(self.step);
        }
    }
}

const fn build_sine_table() -> [i32; TABLE_LEN + 1] {
    let mut table = [0i32; TABLE_LEN + 1];
    let mut i = 0;
    while i < TABLE_LEN {
        let v = sin_turns((i as u32) << (32 - TABLE_BITS)) * (1u32 << TABLE_SHIFT) as f64;
        table[i] = if v >= 0.0 {
            (v + 0.5) as i32
        } else {
            (v - 0.5) as i32
        };
        i += 1;
    }
    table[TABLE_LEN] = table[0];
    table
}

/// sin(2π · phase / 2^32), to about 1e-7.
const fn sin_turns(phase: u32) -> f64 {
    let quadrant = phase >> 30;
    let within = (phase & 0x3FFF_FFFF) as f64 / (1u32 << 30) as f64 * FRAC_PI_2;
    let (x, sign) = match quadrant {
        0 => (within, 1.0),
        1 => (FRAC_PI_2 - within, 1.0),
        2 => (within, -1.0),
        _ => (FRAC_PI_2 - within, -1.0),
    };
    sign * sin_quarter(x)
}

/// Taylor series of sin on [0, π/2] through x^13 (error < 6e-8), nested so that each
/// step divides by the next two factorial factors: x(1 - x²/6(1 - x²/20(1 - …))).
const fn sin_quarter(x: f64) -> f64 {
    const DIVISORS: [f64; 6] = [156.0, 110.0, 72.0, 42.0, 20.0, 6.0];
    let x2 = x * x;
    let mut acc = 1.0;
    let mut i = 0;
    while i < DIVISORS.len() {
        acc = 1.0 - x2 / DIVISORS[i] * acc;
        i += 1;
    }
    x * acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::*;
    use crate::media::g711::G711Law;

    #[test]
    fn polynomial_sine_matches_the_library_sine() {
        for i in 0..4096u32 {
            let phase = i.wrapping_mul(1_048_576 + 7);
            let expected = (f64::from(phase) / 4_294_967_296.0 * std::f64::consts::TAU).sin();
            assert!((sin_turns(phase) - expected).abs() < 1e-6, "phase {phase}");
        }
    }

    #[test]
    fn interpolated_samples_match_the_library_sine_to_a_fraction_of_a_step() {
        let mut t = ToneSource::new(997, 32000, 8000);
        let mut buf = vec![0i16; 8000];
        t.fill(&mut buf);
        for (n, &s) in buf.iter().enumerate() {
            let phase = (u64::from(t.step) * n as u64) as u32;
            let expected =
                32000.0 * (f64::from(phase) / 4_294_967_296.0 * std::f64::consts::TAU).sin();
            assert!(
                (f64::from(s) - expected).abs() <= 1.0,
                "sample {n}: {s} vs {expected:.2}"
            );
        }
    }

    #[test]
    fn a_1khz_tone_has_its_frequency_and_energy() {
        let mut t = ToneSource::new(1000, 8000, 8000);
        let mut buf = vec![0i16; 8000];
        t.fill(&mut buf);
        // 1 kHz at 8 kHz: 8 samples per period, starting at phase 0.
        assert_eq!(&buf[..4], &[0, 5657, 8000, 5657]);
        assert_eq!(dominant_frequency(&buf, 8000.0, 50.0, 3950.0), 1000.0);
        let rms = rms(&buf);
        assert!((rms - 8000.0 / 2f64.sqrt()).abs() < 2.0, "rms {rms}");
    }

    #[test]
    fn phase_continues_across_fills() {
        let mut whole = ToneSource::new(440, 10000, 8000);
        let mut a = vec![0i16; 480];
        whole.fill(&mut a);
        let mut parts = ToneSource::new(440, 10000, 8000);
        let mut b = vec![0i16; 480];
        for chunk in b.chunks_mut(160) {
            parts.fill(chunk);
        }
        assert_eq!(a, b);
    }

    #[test]
    fn a_1khz_tone_survives_g711_in_both_laws() {
        let mut t = ToneSource::new(1000, 8000, 8000);
        let mut pcm = vec![0i16; 1600];
        t.fill(&mut pcm);
        for law in [G711Law::MuLaw, G711Law::ALaw] {
            let mut coded = vec![0u8; pcm.len()];
            law.encode_into(&pcm, &mut coded);
            let mut back = vec![0i16; pcm.len()];
            law.decode_into(&coded, &mut back);
            assert_eq!(
                dominant_frequency(&back, 8000.0, 50.0, 3950.0),
                1000.0,
                "{law:?}"
            );
            let ratio = rms(&back) / rms(&pcm);
            assert!(
                (0.98..1.02).contains(&ratio),
                "{law:?} energy ratio {ratio}"
            );
            // The quantisation noise is well below the tone (G.711 SNR is ~35-38 dB).
            let noise: Vec<i16> = pcm.iter().zip(&back).map(|(a, b)| a - b).collect();
            let snr_db = 20.0 * (rms(&pcm) / rms(&noise)).log10();
            assert!(snr_db > 30.0, "{law:?} SNR {snr_db:.1} dB");
        }
    }
}
