//! A min-heap of `(deadline, key)` that forgets lazily: what the endpoint's session
//! timers and the transaction layer's timers are filed in.
//!
//! Deadlines are set, moved and cancelled far more often than they fire (a call sets and
//! clears a dozen timers, most of which never fire), and most are set later than every
//! other: a heap files one in a few comparisons, where an ordered tree searches and
//! rebalances on every insert and every removal. A moved or cancelled deadline is not
//! searched for: its entry stays in the heap, stale, until it reaches the top or the heap
//! is compacted. Whether an entry is still meant is the owner's knowledge (the owner keeps
//! each key's one deadline), so the owner passes it in as `live`.
//!
//! Two invariants, kept by [`Deadlines::settle`], which the owner calls after every
//! change: the top entry is live (so [`Deadlines::first`] is the earliest deadline set),
//! and stale entries are at most about half as many as live ones (so memory stays in
//! proportion to the deadlines set: a held call's media timer moves every few packets). Entries pop in `(deadline, key)` order, the same on
//! every run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::time::Instant;

/// Stale entries tolerated beyond the live ones before the heap is compacted: below this
/// a compaction would cost more than the room it gives back.
const SLACK: usize = 64;

/// Deadlines by key, earliest first, some of them stale.
#[derive(Debug)]
pub(crate) struct Deadlines<K: Ord> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord + Copy> Deadlines<K> {
    pub(crate) fn new() -> Self {
        Deadlines {
            heap: BinaryHeap::new(),
        }
    }

    /// Files `key`'s deadline `at`. Any earlier entry for `key` is now stale, and the
    /// owner says so to [`Deadlines::settle`].
    pub(crate) fn push(&mut self, at: Instant, key: K) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest entry; live once [`Deadlines::settle`] has run since the last change.
    pub(crate) fn first(&self) -> Option<(Instant, K)> {
        self.heap.peek().map(|&Reverse(entry)| entry)
    }

    /// Removes the earliest entry.
    pub(crate) fn pop(&mut self) -> Option<(Instant, K)> {
        self.heap.pop().map(|Reverse(entry)| entry)
    }

    /// Restores the invariants: drops stale entries from the top, and compacts the heap
    /// when stale entries are more than half the `live_count` live ones plus the slack.
    /// A compaction looks at every entry, once per `live_count / 2` stale ones at least.
    pub(crate) fn settle(&mut self, live_count: usize, live: impl Fn(Instant, K) -> bool) {
        if self.heap.len() > live_count + live_count / 2 + SLACK {
            self.heap.retain(|&Reverse((at, key))| live(at, key));
        }
        while let Some(&Reverse((at, key))) = self.heap.peek() {
            if live(at, key) {
                break;
            }
            self.heap.pop();
        }
    }

    /// Gives back the room a burst of deadlines left behind.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.heap.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// An owner as the endpoint and the transaction layer are: one deadline per key.
    struct Owner {
        set: BTreeMap<u8, Instant>,
        deadlines: Deadlines<u8>,
    }

    impl Owner {
        fn settle(&mut self) {
            let set = &self.set;
            self.deadlines
                .settle(set.len(), |at, key| set.get(&key) == Some(&at));
        }
    }

    proptest! {
        /// Whatever is set, moved and cancelled, the first entry is the earliest deadline
        /// set, popping due entries yields exactly the keys due in (deadline, key) order,
        /// and the heap holds no more than one and a half times the live entries plus the
        /// slack.
        #[test]
        fn the_first_entry_is_the_earliest_set_and_stale_ones_stay_bounded(
            ops in proptest::collection::vec((0u8..16, proptest::option::of(0u64..50)), 0..400),
            now in 0u64..50,
        ) {
            let mut owner = Owner { set: BTreeMap::new(), deadlines: Deadlines::new() };
            for (key, at) in ops {
                match at {
                    Some(at) => {
                        let at = Instant::from_millis(at);
                        if owner.set.insert(key, at) != Some(at) {
                            owner.deadlines.push(at, key);
                        }
                    }
                    None => {
                        owner.set.remove(&key);
                    }
                }
                owner.settle();
                let earliest = owner.set.iter().map(|(&k, &at)| (at, k)).min();
                prop_assert_eq!(owner.deadlines.first(), earliest);
                let live = owner.set.len();
                prop_assert!(owner.deadlines.heap.len() <= live + live / 2 + SLACK + 1);
            }
            let now = Instant::from_millis(now);
            let mut expected: Vec<(Instant, u8)> =
                owner.set.iter().map(|(&k, &at)| (at, k)).filter(|&(at, _)| at <= now).collect();
            expected.sort();
            let mut fired = Vec::new();
            while let Some((at, key)) = owner.deadlines.first() {
                if at > now {
                    break;
                }
                owner.deadlines.pop();
                owner.set.remove(&key);
                owner.settle();
                fired.push((at, key));
            }
            prop_assert_eq!(fired, expected);
        }
    }
}
