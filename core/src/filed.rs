//! Keys in the order they were filed, forgetting lazily: how the transaction layer finds
//! its oldest quiet transaction and the endpoint its longest-lingering session, to let
//! them go first when full.
//!
//! Whether a key is still meant is the owner's knowledge, passed in as `live`, as for
//! [`Deadlines`](crate::deadlines::Deadlines): a key that stopped being meant stays filed
//! until it comes to the front, or until stale keys outnumber live ones, when the queue is
//! swept.

use std::collections::VecDeque;

/// Stale keys tolerated beyond twice the live ones before a sweep.
const SLACK: usize = 64;

/// Keys, oldest first, some of them stale.
#[derive(Debug)]
pub(crate) struct Filed<K> {
    queue: VecDeque<K>,
}

impl<K: Copy> Filed<K> {
    pub(crate) fn new() -> Self {
        Filed {
            queue: VecDeque::new(),
        }
    }

    /// Files `key` as the newest; drops stale keys from the front, and sweeps the queue
    /// when it holds more than twice the `live_count` live ones plus the slack.
    pub(crate) fn push(&mut self, key: K, live_count: usize, live: impl Fn(K) -> bool) {
        self.queue.push_back(key);
        while self.queue.front().is_some_and(|&k| !live(k)) {
            self.queue.pop_front();
        }
        if self.queue.len() > 2 * live_count + SLACK {
            self.queue.retain(|&k| live(k));
        }
    }

    /// Removes and returns the oldest live key.
    pub(crate) fn pop_oldest(&mut self, live: impl Fn(K) -> bool) -> Option<K> {
        std::iter::from_fn(|| self.queue.pop_front()).find(|&k| live(k))
    }

    /// Gives back the room a burst left behind.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.queue.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Odd keys stay live for 500 pushes, even ones for 10: a long-lived key at the front
    /// keeps the short-lived ones behind it filed until a sweep, which bounds them.
    #[test]
    fn the_oldest_live_key_comes_first_and_stale_ones_stay_bounded() {
        let mut filed = Filed::new();
        let live_at = |now: u32| move |k: u32| k + if k % 2 == 1 { 500 } else { 10 } > now;
        for now in 0..2_000u32 {
            let live = live_at(now);
            let live_count = (0..=now).filter(|&k| live(k)).count();
            filed.push(now, live_count, live);
            assert!(filed.queue.len() <= 2 * live_count + SLACK);
        }
        let live = live_at(1_999);
        assert_eq!(filed.pop_oldest(live), Some(1_501));
        assert_eq!(filed.pop_oldest(live), Some(1_503));
        assert_eq!(filed.pop_oldest(|_| false), None);
        assert!(filed.queue.is_empty());
    }
}
