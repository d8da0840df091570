//! Datagrams a socket refused with `WouldBlock`, kept in order and retried when the
//! socket becomes writable again, instead of being dropped (a dropped SIP response costs a
//! retransmission round of 500 ms or more; RFC 3261 §17.1.1.2).

use std::collections::VecDeque;
use std::fmt;

use crate::call::Transmit;

/// The queue was full: the datagram was dropped and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueFull {
    /// Datagrams this queue has dropped so far, this one included.
    pub dropped_total: u64,
}

impl fmt::Display for QueueFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "send queue full, datagram dropped ({} so far)",
            self.dropped_total
        )
    }
}

impl std::error::Error for QueueFull {}

/// A bounded FIFO of datagrams waiting for one socket.
///
/// A runtime keeps one per socket. While the queue is non-empty, new datagrams for that
/// socket go behind it (never around it), so the peer sees them in the order the core
/// produced them.
#[derive(Clone, Debug)]
pub struct RetryQueue {
    items: VecDeque<Transmit>,
    bytes: usize,
    max_items: usize,
    max_bytes: usize,
    dropped: u64,
}

impl RetryQueue {
    /// A queue holding at most `max_items` datagrams and `max_bytes` payload bytes.
    pub fn new(max_items: usize, max_bytes: usize) -> RetryQueue {
        RetryQueue {
            items: VecDeque::new(),
            bytes: 0,
            max_items,
            max_bytes,
            dropped: 0,
        }
    }

    /// Queues a datagram behind the others, or drops it when the queue is full.
    pub fn push_back(&mut self, t: Transmit) -> Result<(), QueueFull> {
        let bytes = self.bytes.saturating_add(t.payload.len());
        if self.items.len() >= self.max_items || bytes > self.max_bytes {
            self.dropped += 1;
            return Err(QueueFull {
                dropped_total: self.dropped,
            });
        }
        self.bytes = bytes;
        self.items.push_back(t);
        Ok(())
    }

    /// The oldest datagram, to try sending again.
    pub fn front(&self) -> Option<&Transmit> {
        self.items.front()
    }

    /// Removes the oldest datagram (it was sent, or failed for good).
    pub fn pop_front(&mut self) -> Option<Transmit> {
        let t = super::pop_trimmed(&mut self.items)?;
        self.bytes -= t.payload.len();
        Some(t)
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many datagrams are waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Payload bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Datagrams dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::Transport;

    fn datagram(n: u8, len: usize) -> Transmit {
        Transmit {
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: "127.0.0.1:5080".parse().unwrap(),
            transport: Transport::Udp,
            payload: vec![n; len].into(),
        }
    }

    #[test]
    fn keeps_datagrams_in_order() {
        let mut q = RetryQueue::new(8, 1024);
        for n in 0..3 {
            q.push_back(datagram(n, 10)).unwrap();
        }
        assert_eq!(q.bytes(), 30);
        let order: Vec<u8> = std::iter::from_fn(|| q.pop_front().map(|t| t.payload[0])).collect();
        assert_eq!(order, vec![0, 1, 2]);
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn drops_and_counts_past_the_item_limit() {
        let mut q = RetryQueue::new(2, 1024);
        q.push_back(datagram(0, 1)).unwrap();
        q.push_back(datagram(1, 1)).unwrap();
        assert_eq!(
            q.push_back(datagram(2, 1)),
            Err(QueueFull { dropped_total: 1 })
        );
        assert_eq!(q.len(), 2);
        assert_eq!(q.front().map(|t| t.payload[0]), Some(0));
    }

    #[test]
    fn drops_past_the_byte_limit() {
        let mut q = RetryQueue::new(100, 25);
        q.push_back(datagram(0, 20)).unwrap();
        assert!(q.push_back(datagram(1, 6)).is_err());
        q.push_back(datagram(2, 5)).unwrap();
        assert_eq!((q.len(), q.bytes(), q.dropped()), (2, 25, 1));
    }
}
