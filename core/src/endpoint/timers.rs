//! A keyed timer queue: at most one deadline per key, earliest first, in a deterministic
//! order (time, then key) — so that `poll_timeout` is one lookup and firing order never
//! depends on anything but the inputs.
//!
//! A call sets and clears about seventeen session timers, most clears for timers that
//! were never armed; finding a key is a hash lookup, so those cost a probe rather than a
//! search of a tree holding every session's timers, and the order is kept by a heap that
//! forgets lazily ([`Deadlines`]). Nothing iterates the hash map, so its order never
//! reaches an output; its hasher has a fixed seed all the same (no global randomness in
//! the core).
#![expect(
    clippy::disallowed_types,
    reason = "the hash map's seed is fixed and nothing iterates it"
)]

use std::collections::HashMap;
use std::hash::Hash;

use foldhash::fast::FixedState;

use crate::deadlines::Deadlines;
use crate::time::Instant;

/// Deadlines by key.
#[derive(Debug)]
pub(crate) struct TimerQueue<K: Ord + Hash + Copy> {
    by_key: HashMap<K, Instant, FixedState>,
    by_time: Deadlines<K>,
}

impl<K: Ord + Hash + Copy> TimerQueue<K> {
    pub(crate) fn new() -> Self {
        TimerQueue {
            by_key: HashMap::with_hasher(FixedState::default()),
            by_time: Deadlines::new(),
        }
    }

    /// Sets (or moves) `key`'s deadline.
    pub(crate) fn set(&mut self, key: K, at: Instant) {
        if self.by_key.insert(key, at) == Some(at) {
            return;
        }
        self.by_time.push(at, key);
        self.settle();
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
        if self.by_key.remove(&key).is_some() {
            self.settle();
        }
    }

    /// Clears the deadlines of `keys` (one owner's, say: a session's timers).
    pub(crate) fn cancel_all(&mut self, keys: impl IntoIterator<Item = K>) {
        for key in keys {
            self.cancel(key);
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| at)
    }

    /// Removes and returns the earliest key due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<K> {
        let (at, key) = self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.pop();
        self.by_key.remove(&key);
        self.settle();
        Some(key)
    }

    /// Whether no deadline is set.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The deadlines set among `keys`, in the order given.
    pub(crate) fn deadlines_of<'a>(
        &'a self,
        keys: impl IntoIterator<Item = K> + 'a,
    ) -> impl Iterator<Item = (K, Instant)> + 'a {
        keys.into_iter()
            .filter_map(|key| self.by_key.get(&key).map(|&at| (key, at)))
    }

    /// Gives back the memory a burst of timers left behind (the hash map and the heap
    /// keep their capacity as keys go).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.by_key.shrink_to_fit();
        self.by_time.shrink_to_fit();
    }

    /// Drops the heap's stale entries from its top (and compacts it when they pile up),
    /// so that its first entry is the earliest deadline set.
    fn settle(&mut self) {
        let by_key = &self.by_key;
        self.by_time
            .settle(by_key.len(), |at, key| by_key.get(&key) == Some(&at));
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
    fn cancelling_some_keys_removes_only_those_and_deadlines_come_in_the_order_asked() {
        let mut q = TimerQueue::new();
        for key in [(1u8, 0u8), (2, 0), (2, 5), (2, 9), (3, 0)] {
            q.set(key, Instant::from_millis(u64::from(key.1)));
        }
        let of_2 = || (0..10).map(|t| (2u8, t));
        assert_eq!(
            q.deadlines_of(of_2()).map(|(k, _)| k).collect::<Vec<_>>(),
            [(2, 0), (2, 5), (2, 9)]
        );
        q.cancel_all(of_2());
        assert_eq!(q.deadlines_of(of_2()).count(), 0);
        assert_eq!(q.pop_due(Instant::from_millis(9)), Some((1, 0)));
        assert_eq!(q.pop_due(Instant::from_millis(9)), Some((3, 0)));
        assert!(q.is_empty());
    }
}
