//! The event queue: a min-heap ordered by (virtual time, sequence number).
//!
//! The sequence number is the tie-break: two events due at the same instant come out in
//! the order they were scheduled, so nothing depends on the heap's internal layout.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use session_core::Instant;

/// A priority queue of `T`s due at virtual instants, earliest first, FIFO among equals.
#[derive(Debug)]
pub struct EventQueue<T> {
    heap: BinaryHeap<Queued<T>>,
    next_seq: u64,
}

impl<T> Default for EventQueue<T> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }
}

impl<T> EventQueue<T> {
    /// Schedules `item` at `at`.
    pub fn push(&mut self, at: Instant, item: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Queued { at, seq, item });
    }

    /// Removes and returns the earliest item with its instant.
    pub fn pop(&mut self) -> Option<(Instant, T)> {
        self.heap.pop().map(|q| (q.at, q.item))
    }

    /// When the earliest item is due.
    pub fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(|q| q.at)
    }

    /// How many items are scheduled.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Iterates over the scheduled items, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Instant, &T)> {
        self.heap.iter().map(|q| (q.at, &q.item))
    }
}

#[derive(Debug)]
struct Queued<T> {
    at: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Queued<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<T> Eq for Queued<T> {}

impl<T> PartialOrd for Queued<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Queued<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_fifo_among_equal_instants() {
        let mut q = EventQueue::default();
        q.push(Instant::from_millis(5), "late");
        q.push(Instant::from_millis(1), "first");
        q.push(Instant::from_millis(1), "second");
        q.push(Instant::from_millis(3), "middle");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, s)| s)).collect();
        assert_eq!(order, ["first", "second", "middle", "late"]);
    }
}
