//! Queues that give back what a load peak made them grow to.

use std::collections::VecDeque;

/// How many entries a drained queue keeps room for: more than a quiet wake-up needs.
pub const KEPT_CAPACITY: usize = 256;

/// The front of `queue`; when that empties it, room beyond [`KEPT_CAPACITY`] goes back to
/// the allocator. One input can queue thousands of entries (a timer instant that many
/// transactions share under load, a flood refused), and a `VecDeque` never shrinks by
/// itself: without this, every queue would keep its peak for as long as the process runs.
pub fn pop_trimmed<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let front = queue.pop_front();
    if queue.is_empty() && queue.capacity() > KEPT_CAPACITY {
        queue.shrink_to(KEPT_CAPACITY);
    }
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drained_queue_gives_back_its_peak_and_a_busy_one_keeps_it() {
        let mut q: VecDeque<u32> = (0..10_000).collect();
        assert_eq!(pop_trimmed(&mut q), Some(0));
        assert!(q.capacity() >= 10_000, "not drained yet: kept");
        while q.len() > 1 {
            pop_trimmed(&mut q);
        }
        assert!(q.capacity() >= 10_000, "one left: kept");
        assert_eq!(pop_trimmed(&mut q), Some(9_999));
        assert!(q.capacity() <= KEPT_CAPACITY, "{}", q.capacity());
    }
}
