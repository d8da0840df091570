//! Which stream (TCP) connections have gone idle, and which one to give up when the
//! connection limit is reached: the bookkeeping both runtimes share, on times they pass in.
//!
//! RFC 3261 §18 lets either side close a connection it no longer needs, and a peer that
//! wants its flow kept open sends keep-alives (RFC 5626 §4.4.1: a CRLF ping every 95–120 s
//! over TCP). Without a policy, connections that say nothing hold their place in the
//! table for ever, and a full table locks every new TCP peer out.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Add;
use std::time::Duration;

/// The default idle timeout: longer than RFC 5626's TCP keep-alive interval (95–120 s),
/// so a client that keeps its flow alive is never cut off, and short enough that idle
/// connections do not pile up (Kamailio closes after 120 s, `tcp_connection_lifetime`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(180);

/// The last activity of each open connection, keyed by the runtime's handle `K`, on the
/// runtime's clock `T`. A runtime touches a connection on every read and asks for the
/// next expiry on every wake-up, so both are logarithmic: the connections are also kept
/// ordered by last activity.
#[derive(Clone, Debug)]
pub struct IdleConnections<K, T> {
    last_active: BTreeMap<K, T>,
    /// The same entries as (last activity, key): the quietest connection first.
    by_activity: BTreeSet<(T, K)>,
    timeout: Duration,
}

impl<K, T> IdleConnections<K, T>
where
    K: Ord + Copy,
    T: Ord + Copy + Add<Duration, Output = T>,
{
    /// A table that calls a connection idle after `timeout` without traffic.
    pub fn new(timeout: Duration) -> Self {
        IdleConnections {
            last_active: BTreeMap::new(),
            by_activity: BTreeSet::new(),
            timeout,
        }
    }

    /// A connection opened, or bytes crossed it (a keep-alive included), at `now`.
    pub fn touch(&mut self, key: K, now: T) {
        if let Some(before) = self.last_active.insert(key, now) {
            self.by_activity.remove(&(before, key));
        }
        self.by_activity.insert((now, key));
    }

    /// The connection was closed.
    pub fn remove(&mut self, key: &K) {
        if let Some(before) = self.last_active.remove(key) {
            self.by_activity.remove(&(before, *key));
        }
    }

    /// The connections idle for the whole timeout at `now`, to be closed.
    pub fn expired(&self, now: T) -> Vec<K> {
        self.by_activity
            .iter()
            .take_while(|&&(at, _)| at + self.timeout <= now)
            .map(|&(_, k)| k)
            .collect()
    }

    /// When the next connection goes idle, if any is open: the runtime wakes up then.
    pub fn next_expiry(&self) -> Option<T> {
        self.by_activity.first().map(|&(at, _)| at + self.timeout)
    }

    /// The connection to close so that a new one fits when the limit is reached: the one
    /// quiet for longest (ties: the smallest key, so the choice is deterministic).
    pub fn longest_idle(&self) -> Option<K> {
        self.by_activity.first().map(|&(_, k)| k)
    }

    /// The connection idle for longest among those `may_close` allows.
    pub fn longest_idle_where(&self, mut may_close: impl FnMut(K) -> bool) -> Option<K> {
        self.by_activity
            .iter()
            .map(|&(_, k)| k)
            .find(|&k| may_close(k))
    }

    /// How many connections are tracked.
    pub fn len(&self) -> usize {
        self.last_active.len()
    }

    /// Whether no connection is tracked.
    pub fn is_empty(&self) -> bool {
        self.last_active.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Instant;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn table() -> IdleConnections<u32, Instant> {
        IdleConnections::new(Duration::from_secs(10))
    }

    #[test]
    fn a_connection_expires_a_whole_timeout_after_its_last_traffic() {
        let mut t = table();
        t.touch(1, ms(0));
        t.touch(1, ms(4_000));
        assert_eq!(t.next_expiry(), Some(ms(14_000)));
        assert!(t.expired(ms(13_999)).is_empty());
        assert_eq!(t.expired(ms(14_000)), [1]);
    }

    #[test]
    fn the_longest_idle_connection_is_the_one_evicted() {
        let mut t = table();
        t.touch(1, ms(0));
        t.touch(2, ms(100));
        t.touch(3, ms(50));
        t.touch(1, ms(200));
        assert_eq!(t.longest_idle(), Some(3));
        assert_eq!(t.next_expiry(), Some(ms(10_050)));
    }

    #[test]
    fn ties_are_broken_by_the_smallest_key() {
        let mut t = table();
        t.touch(7, ms(0));
        t.touch(4, ms(0));
        assert_eq!(t.longest_idle(), Some(4));
    }

    #[test]
    fn expired_lists_every_due_connection_quietest_first_and_no_other() {
        let mut t = table();
        t.touch(1, ms(300));
        t.touch(2, ms(100));
        t.touch(3, ms(200));
        t.touch(2, ms(5_000));
        assert_eq!(t.expired(ms(10_300)), [3, 1]);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn a_closed_connection_is_forgotten() {
        let mut t = table();
        t.touch(1, ms(0));
        t.remove(&1);
        assert!(t.is_empty());
        assert_eq!(t.next_expiry(), None);
        assert_eq!(t.longest_idle(), None);
        assert!(t.expired(ms(60_000)).is_empty());
    }
}
