//! A registration (RFC 3261 §10): our contact bound to an address-of-record at a
//! registrar, kept alive by refreshes. It runs as a session of its own on the state
//! table (`StartRegistration` … `Registered` …), without dialog or media: one Call-ID for
//! every REGISTER it sends and a CSeq that grows by one (§10.2.4), From and To the AOR.

use std::net::SocketAddr;
use std::time::Duration;

use crate::rng::Rng;

/// What a registration session keeps besides what every session has (Call-ID, tag, the
/// AOR in From/To, the registrar's address, CSeq).
#[derive(Debug)]
pub(crate) struct Registration {
    /// The expiry we ask for, in seconds; raised to the registrar's `Min-Expires` after a
    /// 423 (§10.2.8).
    pub(crate) expires: u32,
    /// The expiry the registrar granted our contact in its last 2xx.
    pub(crate) granted: Option<u32>,
    /// The address the registrar saw our requests come from (its `received`/`rport` in
    /// our Via, RFC 3581), once it differed from the one our Contact names.
    pub(crate) public_addr: Option<SocketAddr>,
    /// The last 2xx bound a contact that is not the address the registrar saw.
    pub(crate) contact_behind_nat: bool,
    /// The last 423 raised `expires` to its `Min-Expires`, so sending again can succeed.
    pub(crate) min_expires_raised: bool,
    /// Failures in a row: the back-off's exponent.
    pub(crate) failures: u32,
    /// The back-off before the next attempt, once one is scheduled.
    pub(crate) retry_in: Option<Duration>,
    /// The final status of the last REGISTER (none after a timeout).
    pub(crate) last_status: Option<u16>,
}

impl Registration {
    pub(crate) fn new(expires: u32) -> Self {
        Registration {
            expires,
            granted: None,
            public_addr: None,
            contact_behind_nat: false,
            min_expires_raised: false,
            failures: 0,
            retry_in: None,
            last_status: None,
        }
    }

    /// When to refresh after the registrar granted `granted` seconds: halfway for short
    /// expiries, ten minutes before the end for long ones, so that a lost refresh still
    /// has its transaction's 32 s and a retry before the binding lapses.
    pub(crate) fn refresh_after(granted: u32) -> Duration {
        let margin = (granted / 2).min(600);
        Duration::from_secs(u64::from(granted - margin))
    }

    /// The back-off after one more failure in a row: `base · 2^(failures − 1)`, capped
    /// at `max`, and a random 50–100 % of that (RFC 5626 §4.5), so that the clients of
    /// a registrar that came back do not all return at once.
    pub(crate) fn backoff(&mut self, base: Duration, max: Duration, rng: &mut Rng) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let doubling = 1u32 << self.failures.saturating_sub(1).min(16);
        let ceiling = base.saturating_mul(doubling).min(max);
        let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        let wait = Duration::from_millis(ms / 2 + rng.below(ms / 2 + 1));
        self.retry_in = Some(wait);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_halfway_for_short_expiries_and_ten_minutes_early_for_long_ones() {
        assert_eq!(Registration::refresh_after(60), Duration::from_secs(30));
        assert_eq!(Registration::refresh_after(3600), Duration::from_secs(3000));
        assert_eq!(Registration::refresh_after(1), Duration::from_secs(1));
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap_with_jitter_between_half_and_all_of_it() {
        let mut r = Registration::new(3600);
        let mut rng = Rng::new(7);
        let (base, max) = (Duration::from_secs(30), Duration::from_secs(1800));
        let ceilings = [30, 60, 120, 240, 480, 960, 1800, 1800];
        for ceiling in ceilings {
            let wait = r.backoff(base, max, &mut rng);
            let ceiling = Duration::from_secs(ceiling);
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{wait:?} vs {ceiling:?}"
            );
        }
    }
}
