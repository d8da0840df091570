//! A bounded first-in first-out queue of fixed-size media frames.
//!
//! Used for received audio waiting for the application (the sink), and for frames waiting
//! to be sent (echo, application audio). The storage is one flat buffer of
//! `capacity × frame_len` elements, allocated on the first push and reused after: no
//! allocation per packet, and nothing at all for a queue that is never used.

/// The most frames one queue holds, whatever its configuration asks.
pub const MAX_FRAMES: usize = 4096;

/// A bounded ring of frames of at most `frame_len` elements each.
#[derive(Clone, Debug)]
pub struct FrameQueue<T> {
    frame_len: usize,
    capacity: usize,
    data: Vec<T>,
    /// Per slot: the RTP timestamp and the number of elements used.
    meta: Vec<(u32, usize)>,
    head: usize,
    len: usize,
}

impl<T: Copy + Default> FrameQueue<T> {
    /// A queue of up to `capacity` frames (at most [`MAX_FRAMES`]) of up to `frame_len`
    /// elements.
    pub fn new(capacity: usize, frame_len: usize) -> Self {
        FrameQueue {
            frame_len,
            capacity: capacity.min(MAX_FRAMES),
            data: Vec::new(),
            meta: Vec::new(),
            head: 0,
            len: 0,
        }
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most frames the queue holds (0: the queue drops everything).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends a frame; false (and nothing stored) when the queue is full or the frame is
    /// longer than a slot.
    pub fn push(&mut self, timestamp: u32, frame: &[T]) -> bool {
        self.push_with(timestamp, frame.len(), |slot| slot.copy_from_slice(frame))
    }

    /// Appends a frame of `len` elements written in place by `fill`; false when full or
    /// too long.
    pub fn push_with(&mut self, timestamp: u32, len: usize, fill: impl FnOnce(&mut [T])) -> bool {
        if self.len == self.capacity || len > self.frame_len {
            return false;
        }
        if self.data.is_empty() {
            self.data = vec![T::default(); self.capacity * self.frame_len];
            self.meta = vec![(0, 0); self.capacity];
        }
        let slot = (self.head + self.len) % self.capacity;
        let start = slot * self.frame_len;
        fill(&mut self.data[start..start + len]);
        self.meta[slot] = (timestamp, len);
        self.len += 1;
        true
    }

    /// Removes the oldest frame, handing it to `take` with its timestamp.
    pub fn pop_with<R>(&mut self, take: impl FnOnce(u32, &[T]) -> R) -> Option<R> {
        if self.len == 0 {
            return None;
        }
        let slot = self.head;
        let (timestamp, len) = self.meta[slot];
        let start = slot * self.frame_len;
        let r = take(timestamp, &self.data[start..start + len]);
        self.head = (self.head + 1) % self.capacity;
        self.len -= 1;
        Some(r)
    }

    /// Drops every waiting frame (the storage is kept).
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_out_in_order_and_the_queue_is_bounded() {
        let mut q = FrameQueue::<u8>::new(2, 4);
        assert!(q.push(1, &[1, 1]));
        assert!(q.push(2, &[2, 2, 2, 2]));
        assert!(!q.push(3, &[3]), "full");
        assert_eq!(q.pop_with(|ts, f| (ts, f.to_vec())), Some((1, vec![1, 1])));
        assert!(q.push(4, &[4, 4, 4]));
        assert!(!q.push(5, &[5; 5]), "too long for a slot");
        assert_eq!(q.pop_with(|ts, f| (ts, f.to_vec())), Some((2, vec![2; 4])));
        assert_eq!(q.pop_with(|ts, f| (ts, f.to_vec())), Some((4, vec![4; 3])));
        assert_eq!(q.pop_with(|ts, _| ts), None);
        assert!(q.is_empty());
    }

    #[test]
    fn a_zero_capacity_queue_drops_everything_without_allocating() {
        let mut q = FrameQueue::<i16>::new(0, 160);
        assert!(!q.push(0, &[0; 160]));
        assert_eq!(q.data.capacity(), 0);
    }
}
