//! A keyed timer queue: at most one deadline per key, earliest first, in a deterministic
//! order (time, then key) — so that `poll_timeout` is one lookup and firing order never
//! depends on anything but the inputs.

use std::collections::{BTreeMap, BTreeSet};

use crate::time::Instant;

/// Deadlines by key.
#[derive(Debug)]
pub(crate) struct TimerQueue<K: Ord + Copy> {
    by_key: BTreeMap<K, Instant>,
    by_time: BTreeSet<(Instant, K)>,
}

impl<K: Ord + Copy> TimerQueue<K> {
    pub(crate) fn new() -> Self {
        TimerQueue {
            by_key: BTreeMap::new(),
            by_time: BTreeSet::new(),
        }
    }

    /// Sets (or moves) `key`'s deadline.
    pub(crate) fn set(&mut self, key: K, at: Instant) {
        if let Some(old) = self.by_key.insert(key, at) {
            if old == at {
                return;
            }
            self.by_time.remove(&(old, key));
        }
        self.by_time.insert((at, key));
    }

    /// Sets `key`'s deadline, or clears it for `None`.
    pub(crate) fn set_opt(&mut self, key: K, at: Option<Instant>) {
        match at {
            Some(at) => self.set(key, at),
            None => self.cancel(key),
        }
    }

    /// Clears `key`'s deadline.
    pub(crate) fn cancel(&mut self, key: K) {
        if let Some(old) = self.by_key.remove(&key) {
            self.by_time.remove(&(old, key));
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|&(at, _)| at)
    }

    /// Removes and returns the earliest key due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<K> {
        let &(at, key) = self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.pop_first();
        self.by_key.remove(&key);
        Some(key)
    }

    /// Whether no deadline is set.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The keys matching `pred` with their deadlines, in key order.
    pub(crate) fn deadlines_where<'a>(
        &'a self,
        mut pred: impl FnMut(&K) -> bool + 'a,
    ) -> impl Iterator<Item = (K, Instant)> + 'a {
        self.by_key
            .iter()
            .filter(move |(k, _)| pred(k))
            .map(|(k, at)| (*k, *at))
    }

    /// Removes the keys from `first` on, in key order, while `pred` holds: the run of
    /// keys one owner shares (a session's timers), found without walking the whole queue,
    /// which holds every lingering session's timers.
    pub(crate) fn cancel_run(&mut self, first: K, mut pred: impl FnMut(&K) -> bool) {
        let keys: Vec<K> = self
            .by_key
            .range(first..)
            .map(|(k, _)| *k)
            .take_while(|k| pred(k))
            .collect();
        for k in keys {
            self.cancel(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_fire_in_time_then_key_order_and_moving_one_forgets_the_old() {
        let mut q = TimerQueue::new();
        q.set(2u8, Instant::from_millis(10));
        q.set(1u8, Instant::from_millis(10));
        q.set(3u8, Instant::from_millis(5));
        q.set(3u8, Instant::from_millis(20));
        assert_eq!(q.next(), Some(Instant::from_millis(10)));
        assert_eq!(q.pop_due(Instant::from_millis(9)), None);
        assert_eq!(q.pop_due(Instant::from_millis(10)), Some(1));
        assert_eq!(q.pop_due(Instant::from_millis(10)), Some(2));
        assert_eq!(q.pop_due(Instant::from_millis(10)), None);
        q.cancel(3);
        assert!(q.is_empty());
    }

    #[test]
    fn cancelling_a_run_removes_only_the_keys_of_that_run() {
        let mut q = TimerQueue::new();
        for key in [(1u8, 0u8), (2, 0), (2, 5), (2, 9), (3, 0)] {
            q.set(key, Instant::from_millis(u64::from(key.1)));
        }
        q.cancel_run((2, 0), |&(owner, _)| owner == 2);
        let left: Vec<_> = q.deadlines_where(|_| true).map(|(k, _)| k).collect();
        assert_eq!(left, [(1, 0), (3, 0)]);
        assert_eq!(q.pop_due(Instant::from_millis(9)), Some((1, 0)));
        assert_eq!(q.pop_due(Instant::from_millis(9)), Some((3, 0)));
        assert!(q.is_empty());
    }
}
