//! Per-node clocks: offset and drift between a node's view of time and the simulator's.
//!
//! The simulator keeps one global virtual clock. Each node sees
//! `node = offset + global + global × drift_ppm / 10⁶` (floored), so two nodes disagree
//! both on the time of day and on how long a second lasts — what a real deployment with
//! unsynchronised clocks and cheap oscillators does to protocol timers (RFC 3261 §17's
//! T1-based timers run a little fast or slow on each side). Offsets are non-negative so a
//! node's clock never starts before its epoch.

use std::fmt;

use serde::{Deserialize, Serialize};
use session_core::Instant;

/// The largest drift accepted, in parts per million (10 %: far beyond any real oscillator,
/// small enough that the conversion stays monotonic and exact).
pub const MAX_DRIFT_PPM: i32 = 100_000;

/// How one node's clock differs from the simulator's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockSkew {
    /// Added to the node's clock, in milliseconds.
    pub offset_ms: u64,
    /// How much faster (positive) or slower (negative) the node's clock runs, in parts per
    /// million. Clamped to ±[`MAX_DRIFT_PPM`].
    pub drift_ppm: i32,
}

impl ClockSkew {
    /// The node's reading when the simulator's clock reads `global`.
    pub fn to_node(self, global: Instant) -> Instant {
        let g = i128::from(global.as_micros());
        let drift = (g * i128::from(self.drift())).div_euclid(1_000_000);
        let offset = i128::from(self.offset_ms) * 1000;
        let node = (offset + g + drift).clamp(0, i128::from(u64::MAX));
        // Clamped to the u64 range just above.
        Instant::from_micros(u64::try_from(node).unwrap_or(u64::MAX))
    }

    /// The earliest global instant at which the node's clock reads `node` or later: where
    /// the simulator schedules a node's deadline so it fires neither early nor late.
    pub fn to_global(self, node: Instant) -> Instant {
        let offset = u128::from(self.offset_ms) * 1000;
        let target = u128::from(node.as_micros());
        if target <= offset {
            return Instant::ZERO;
        }
        let scale = u128::try_from(1_000_000 + i64::from(self.drift())).unwrap_or(1_000_000);
        let estimate = (target - offset) * 1_000_000 / scale;
        let mut g = u64::try_from(estimate).unwrap_or(u64::MAX);
        // The estimate is within a microsecond or two of the answer; walk to it exactly.
        while g < u64::MAX && self.to_node(Instant::from_micros(g)) < node {
            g += 1;
        }
        while g > 0 && self.to_node(Instant::from_micros(g - 1)) >= node {
            g -= 1;
        }
        Instant::from_micros(g)
    }

    fn drift(self) -> i32 {
        self.drift_ppm.clamp(-MAX_DRIFT_PPM, MAX_DRIFT_PPM)
    }
}

impl fmt::Display for ClockSkew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "offset {}ms drift {}ppm", self.offset_ms, self.drift())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn no_skew_is_the_identity() {
        let s = ClockSkew::default();
        let t = Instant::from_micros(123_456_789);
        assert_eq!(s.to_node(t), t);
        assert_eq!(s.to_global(t), t);
    }

    #[test]
    fn a_fast_clock_reaches_its_deadline_early_in_global_time() {
        let s = ClockSkew {
            offset_ms: 0,
            drift_ppm: 1000,
        };
        // 1 s on a clock 0.1 % fast takes 999.000999 ms of global time (rounded up).
        let g = s.to_global(Instant::from_millis(1000));
        assert_eq!(g.as_micros(), 999_001);
        assert!(s.to_node(g) >= Instant::from_millis(1000));
    }

    proptest! {
        #[test]
        fn to_global_is_the_earliest_instant_reaching_the_deadline(
            offset_ms in 0u64..10_000,
            drift_ppm in -MAX_DRIFT_PPM..=MAX_DRIFT_PPM,
            deadline_us in 0u64..1_000_000_000,
        ) {
            let s = ClockSkew { offset_ms, drift_ppm };
            let d = Instant::from_micros(deadline_us);
            let g = s.to_global(d);
            prop_assert!(s.to_node(g) >= d);
            if g > Instant::ZERO {
                prop_assert!(s.to_node(Instant::from_micros(g.as_micros() - 1)) < d);
            }
        }
    }
}
