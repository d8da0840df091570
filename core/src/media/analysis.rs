//! Measuring what an audio stream carries: the power at one frequency (Goertzel), the
//! strongest frequency, the level. Not used to make or carry calls; it is how tests (ours
//! and an application's) check audio by its content rather than by packet counts.

/// Power of `samples` at `freq_hz` by the Goertzel algorithm, normalised so that a
/// full-length sine of amplitude A gives about A²/4 · N².
pub fn goertzel_power(samples: &[i16], freq_hz: f64, rate_hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq_hz / rate_hz;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// The frequency (in `step_hz` steps up to `max_hz`) with the most Goertzel power.
pub fn dominant_frequency(samples: &[i16], rate_hz: f64, step_hz: f64, max_hz: f64) -> f64 {
    let mut best = (0.0, f64::MIN);
    let mut f = step_hz;
    while f <= max_hz {
        let p = goertzel_power(samples, f, rate_hz);
        if p > best.1 {
            best = (f, p);
        }
        f += step_hz;
    }
    best.0
}

/// Root mean square of the samples.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}
