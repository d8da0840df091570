//! Checking audio by its content: how much of a block of 8 kHz samples lies at one
//! frequency, so that tests tell a tone from silence or from another tone instead of only
//! counting packets. Built on the core's [`goertzel_power`].

use session_core::media::analysis::goertzel_power;

/// The share of the block's energy that lies at `freq_hz` (about 1 for a pure tone there,
/// about 0 for one elsewhere); `None` when the block is silence (a mean amplitude below
/// about 30 of 32,767, -60 dBFS).
pub fn tone_share(samples: &[i16], freq_hz: f64) -> Option<f64> {
    let n = samples.len() as f64;
    let energy: f64 = samples.iter().map(|&x| f64::from(x).powi(2)).sum();
    (energy / n > 900.0).then(|| 2.0 * goertzel_power(samples, freq_hz, 8_000.0) / (n * energy))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f64) -> Vec<i16> {
        (0..1600)
            .map(|i| {
                (8000.0 * (2.0 * std::f64::consts::PI * hz * f64::from(i) / 8000.0).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn a_tone_is_found_where_it_is_and_nowhere_else_and_silence_has_none() {
        assert!(tone_share(&sine(1000.0), 1000.0).is_some_and(|s| s > 0.95));
        assert!(tone_share(&sine(600.0), 1000.0).is_some_and(|s| s < 0.05));
        assert_eq!(tone_share(&[3; 1600], 1000.0), None);
    }
}
