//! Transaction timers (RFC 3261 §17 and Table 4 of Appendix A; RFC 6026 §8.4, §8.7).
//!
//! Every timer is derived from three base values: T1 (the round-trip estimate), T2 (the
//! longest retransmission interval for non-INVITE requests and INVITE responses) and T4
//! (how long a message may linger in the network). A timer is state: a machine arms it
//! with a deadline, and `now` only decides which deadlines have passed.
//!
//! | timer | what it does | value |
//! | --- | --- | --- |
//! | A | INVITE request retransmission (client) | T1, doubling without cap; unreliable only |
//! | B | INVITE transaction timeout (client) | 64·T1 |
//! | C | provisional-response guard (client INVITE, RFC 3261 §16.6) | configurable, 180 s |
//! | D | wait for response retransmissions (client INVITE) | max(32 s, 64·T1) unreliable, 0 reliable |
//! | E | non-INVITE request retransmission (client) | T1, doubling, capped at T2; unreliable only |
//! | F | non-INVITE transaction timeout (client) | 64·T1 |
//! | G | INVITE final response retransmission (server) | T1, doubling, capped at T2; unreliable only |
//! | H | wait for ACK (server) | 64·T1 |
//! | I | wait for ACK retransmissions (server) | T4 unreliable, 0 reliable |
//! | J | wait for non-INVITE request retransmissions (server) | 64·T1 unreliable, 0 reliable |
//! | K | wait for response retransmissions (client non-INVITE) | T4 unreliable, 0 reliable |
//! | L | wait for INVITE retransmissions after a 2xx (server, RFC 6026) | 64·T1 |
//! | M | wait for 2xx retransmissions (client, RFC 6026) | 64·T1 |
//!
//! Timer C is not a transaction timer in RFC 3261 (it belongs to proxies, §16.6 step 11).
//! We run it on INVITE client transactions in Proceeding so that a transaction whose peer
//! sends a provisional response and then falls silent cannot live for ever: when it fires
//! the TU is told (it should CANCEL), and the transaction then waits one more 64·T1, as
//! §9.1 tells a client that has cancelled, before it ends with Timer B.

use std::time::Duration;

use crate::time::Instant;

/// The shortest interval any timer is allowed to have, so that a zero T1 or T2 in a
/// configuration cannot make a retransmission timer fire in a busy loop.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// The RFC's lower bound on Timer D over unreliable transports (RFC 3261 §17.1.1.2).
const TIMER_D_MIN: Duration = Duration::from_secs(32);

/// The base values every transaction timer is derived from (RFC 3261 §17, Table 4).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// T1, the round-trip time estimate (default 500 ms).
    pub t1: Duration,
    /// T2, the longest retransmit interval for non-INVITE requests and INVITE responses
    /// (default 4 s).
    pub t2: Duration,
    /// T4, the longest time a message stays in the network (default 5 s).
    pub t4: Duration,
    /// Timer C: how long an INVITE client transaction waits in Proceeding for a final
    /// response before telling the TU (default 180 s; RFC 3261 §16.6 says more than
    /// three minutes for proxies).
    pub timer_c: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_c: Duration::from_secs(180),
        }
    }
}

impl TimerConfig {
    /// The first interval of a retransmission timer (A, E, G): T1, or `None` over a
    /// reliable transport, where nothing is retransmitted.
    pub fn first_retransmit(&self, reliable: bool) -> Option<Duration> {
        (!reliable).then(|| self.t1.max(MIN_INTERVAL))
    }

    /// 64·T1: Timers B, F, H, L and M, and Timer J over unreliable transports.
    pub fn sixty_four_t1(&self) -> Duration {
        self.t1.max(MIN_INTERVAL).saturating_mul(64)
    }

    /// Timer C: the Proceeding guard of an INVITE client transaction.
    pub fn timer_c(&self) -> Duration {
        self.timer_c.max(MIN_INTERVAL)
    }

    /// Timer D: at least 32 s over unreliable transports, zero over reliable ones.
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.sixty_four_t1().max(TIMER_D_MIN)
        }
    }

    /// Timers I and K: T4 over unreliable transports, zero over reliable ones.
    pub fn t4_or_zero(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }

    /// Timer J: 64·T1 over unreliable transports, zero over reliable ones.
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.sixty_four_t1()
        }
    }

    /// The cap of Timers E and G: T2 (never below T1's floor).
    pub fn t2_cap(&self) -> Duration {
        self.t2.max(MIN_INTERVAL)
    }
}

/// The name of a transaction timer, as the RFCs spell it. The derived order is the
/// order in which timers due at the same instant fire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Timer {
    /// INVITE request retransmission (client).
    A,
    /// INVITE transaction timeout (client).
    B,
    /// Proceeding guard (client INVITE); see the module docs.
    C,
    /// Response retransmission wait (client INVITE, Completed).
    D,
    /// Non-INVITE request retransmission (client).
    E,
    /// Non-INVITE transaction timeout (client).
    F,
    /// INVITE final response retransmission (server).
    G,
    /// ACK wait (server INVITE, Completed).
    H,
    /// ACK retransmission wait (server INVITE, Confirmed).
    I,
    /// Request retransmission wait (server non-INVITE, Completed).
    J,
    /// Response retransmission wait (client non-INVITE, Completed).
    K,
    /// INVITE retransmission wait after a 2xx (server INVITE, Accepted; RFC 6026).
    L,
    /// 2xx retransmission wait (client INVITE, Accepted; RFC 6026).
    M,
}

/// A running retransmission timer (A, E or G) and the interval it was last armed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Retransmit {
    timer: Timer,
    at: Instant,
    interval: Duration,
}

/// The timers one transaction has armed. No machine needs more than one retransmission
/// timer (A, E, G) and one other timer at a time, so there are exactly two slots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Timers {
    retransmit: Option<Retransmit>,
    other: Option<(Timer, Instant)>,
}

impl Timers {
    /// Arms a retransmission timer to fire `interval` after `now`.
    pub(crate) fn arm_retransmit(&mut self, timer: Timer, now: Instant, interval: Duration) {
        let interval = interval.max(MIN_INTERVAL);
        self.retransmit = Some(Retransmit {
            timer,
            at: now + interval,
            interval,
        });
    }

    /// Re-arms the retransmission timer that just fired with `next(interval)` as its new
    /// interval. The new deadline counts from the old one, so a late `handle_timeout`
    /// does not shift the schedule, unless that deadline is already past, in which case
    /// it counts from `now` (no burst of catch-up retransmissions).
    pub(crate) fn rearm_retransmit(
        &mut self,
        now: Instant,
        next: impl FnOnce(Duration) -> Duration,
    ) {
        let Some(r) = self.retransmit.as_mut() else {
            return;
        };
        r.interval = next(r.interval).max(MIN_INTERVAL);
        let from_deadline = r.at + r.interval;
        r.at = if from_deadline > now {
            from_deadline
        } else {
            now + r.interval
        };
    }

    /// Stops `timer`, whichever slot holds it.
    pub(crate) fn cancel(&mut self, timer: Timer) {
        if self.retransmit.is_some_and(|r| r.timer == timer) {
            self.retransmit = None;
        }
        if self.other.is_some_and(|(t, _)| t == timer) {
            self.other = None;
        }
    }

    /// Arms the non-retransmission timer slot (replacing what was there).
    pub(crate) fn arm(&mut self, timer: Timer, at: Instant) {
        self.other = Some((timer, at));
    }

    /// Stops every timer.
    pub(crate) fn cancel_all(&mut self) {
        *self = Timers::default();
    }

    /// The earliest armed deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let r = self.retransmit.map(|r| r.at);
        let o = self.other.map(|(_, at)| at);
        match (r, o) {
            (Some(r), Some(o)) => Some(r.min(o)),
            (r, o) => r.or(o),
        }
    }

    /// Takes the timer that is due at `now`, if any: the earliest one, and on a tie the
    /// non-retransmission timer (a timeout makes a same-instant retransmission moot).
    /// A retransmission timer stays armed (the machine re-arms it); the other is cleared.
    pub(crate) fn take_due(&mut self, now: Instant) -> Option<Timer> {
        let r = self.retransmit.filter(|r| r.at <= now);
        let o = self.other.filter(|&(_, at)| at <= now);
        match (r, o) {
            (Some(r), Some((_, at))) if r.at < at => Some(r.timer),
            (_, Some((t, _))) => {
                self.other = None;
                Some(t)
            }
            (Some(r), None) => Some(r.timer),
            (None, None) => None,
        }
    }

    /// Whether `timer` is armed.
    pub(crate) fn is_armed(&self, timer: Timer) -> bool {
        self.deadline_of(timer).is_some()
    }

    /// The deadline of `timer` if it is armed.
    pub(crate) fn deadline_of(&self, timer: Timer) -> Option<Instant> {
        if let Some(r) = self.retransmit.filter(|r| r.timer == timer) {
            return Some(r.at);
        }
        self.other.filter(|&(t, _)| t == timer).map(|(_, at)| at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn defaults_are_the_rfc_values() {
        let c = TimerConfig::default();
        assert_eq!(c.first_retransmit(false), Some(Duration::from_millis(500)));
        assert_eq!(c.first_retransmit(true), None);
        assert_eq!(c.sixty_four_t1(), Duration::from_secs(32));
        assert_eq!(c.timer_d(false), Duration::from_secs(32));
        assert_eq!(c.timer_d(true), Duration::ZERO);
        assert_eq!(c.t4_or_zero(false), Duration::from_secs(5));
        assert_eq!(c.t4_or_zero(true), Duration::ZERO);
        assert_eq!(c.timer_j(false), Duration::from_secs(32));
        assert_eq!(c.timer_j(true), Duration::ZERO);
    }

    #[test]
    fn timer_d_never_drops_below_32_seconds_on_udp() {
        let c = TimerConfig {
            t1: Duration::from_millis(100),
            ..TimerConfig::default()
        };
        assert_eq!(c.timer_d(false), Duration::from_secs(32));
        let slow = TimerConfig {
            t1: Duration::from_secs(1),
            ..TimerConfig::default()
        };
        assert_eq!(slow.timer_d(false), Duration::from_secs(64));
    }

    #[test]
    fn zero_t1_is_floored_so_retransmissions_cannot_busy_loop() {
        let c = TimerConfig {
            t1: Duration::ZERO,
            t2: Duration::ZERO,
            ..TimerConfig::default()
        };
        assert_eq!(c.first_retransmit(false), Some(MIN_INTERVAL));
        let mut t = Timers::default();
        t.arm_retransmit(Timer::E, ms(0), Duration::ZERO);
        assert_eq!(t.next_deadline(), Some(ms(1)));
        t.rearm_retransmit(ms(1), |_| Duration::ZERO);
        assert_eq!(t.next_deadline(), Some(ms(2)));
    }

    #[test]
    fn rearm_counts_from_the_deadline_unless_it_is_already_past() {
        let mut t = Timers::default();
        t.arm_retransmit(Timer::A, ms(0), Duration::from_millis(500));
        // Called a little late: the schedule keeps its shape.
        assert_eq!(t.take_due(ms(510)), Some(Timer::A));
        t.rearm_retransmit(ms(510), |i| i * 2);
        assert_eq!(t.deadline_of(Timer::A), Some(ms(1500)));
        // Called very late: count from now, no burst.
        assert_eq!(t.take_due(ms(5000)), Some(Timer::A));
        t.rearm_retransmit(ms(5000), |i| i * 2);
        assert_eq!(t.deadline_of(Timer::A), Some(ms(7000)));
    }

    #[test]
    fn on_a_tie_the_timeout_fires_before_the_retransmission() {
        let mut t = Timers::default();
        t.arm_retransmit(Timer::E, ms(0), Duration::from_millis(100));
        t.arm(Timer::F, ms(100));
        assert_eq!(t.take_due(ms(100)), Some(Timer::F));
        assert_eq!(t.take_due(ms(100)), Some(Timer::E));
        t.cancel(Timer::E);
        assert_eq!(t.take_due(ms(100)), None);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn nothing_is_due_before_its_deadline() {
        let mut t = Timers::default();
        t.arm(Timer::K, ms(5000));
        assert_eq!(t.take_due(ms(4999)), None);
        assert_eq!(t.next_deadline(), Some(ms(5000)));
        t.cancel_all();
        assert_eq!(t.next_deadline(), None);
    }
}
