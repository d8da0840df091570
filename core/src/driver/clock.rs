//! Clock conversion between a runtime's monotonic clock and the core's [`Instant`].
//!
//! The core counts microseconds since an epoch the driver picks. A runtime picks its
//! start-up instant once, and converts every reading of its own clock (tokio's, which
//! tests can pause, or std's) through the same [`Epoch`].

use std::time::Duration;

use crate::time::Instant;

/// A fixed point of the runtime's monotonic clock that is the core's time zero.
///
/// `std::time::Instant` is only stored and compared here, never read: the runtime passes
/// in both the epoch and every later reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Epoch {
    origin: std::time::Instant,
}

impl Epoch {
    /// Makes `origin` the core's [`Instant::ZERO`].
    pub fn new(origin: std::time::Instant) -> Epoch {
        Epoch { origin }
    }

    /// The runtime clock reading that is the core's zero.
    pub fn origin(&self) -> std::time::Instant {
        self.origin
    }

    /// The core instant for a runtime clock reading. Readings before the epoch map to
    /// zero; readings past `u64::MAX` microseconds saturate.
    pub fn to_core(&self, t: std::time::Instant) -> Instant {
        let since = t.saturating_duration_since(self.origin);
        Instant::from_micros(u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
    }

    /// The runtime clock reading for a core instant (for arming a timer at a deadline
    /// the core gave). Saturates at the clock's far future rather than overflowing.
    pub fn to_runtime(&self, t: Instant) -> std::time::Instant {
        let offset = Duration::from_micros(t.as_micros());
        self.origin
            .checked_add(offset)
            // A deadline too far to represent: a century is "never" for a SIP timer.
            .unwrap_or_else(|| self.origin + Duration::from_secs(100 * 365 * 24 * 3600))
    }
}
