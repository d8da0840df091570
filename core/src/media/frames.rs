//! A bounded first-in first-out queue of fixed-size media frames.
//!
//! Used for received audio waiting for the application (the sink), and for frames waiting
//! to be sent (echo, application audio). The storage is one flat buffer of
//! `capacity × frame_len` elements, allocated on the first push and reused after: no
//! allocation per packet, and nothing at all for a queue that is never used.

/// The most frames one queue holds, whatever its configuration asks.
pub const MAX_FRAMES: usize = 4096;

/// A bounded ring of frames of at most `frame_len` elements each.
///
/// Every call's media session holds two, so the bookkeeping is kept small: counts in
/// `u16` (at most [`MAX_FRAMES`]), a slot's length in `u32`, boxed slices rather than
/// vectors.
#[derive(Clone, Debug)]
pub struct FrameQueue<T> {
    frame_len: u32,
    capacity: u16,
    head: u16,
    len: u16,
    data: Box<[T]>,
    /// Per slot: the RTP timestamp and the number of elements used.
    meta: Box<[(u32, u32)]>,
}

impl<T: Copy + Default> FrameQueue<T> {
    /// A queue of up to `capacity` frames (at most [`MAX_FRAMES`]) of up to `frame_len`
    /// elements.
    pub fn new(capacity: usize, frame_len: usize) -> Self {
        FrameQueue {
            frame_len: u32::try_from(frame_len).unwrap_or(u32::MAX),
            // MAX_FRAMES fits a u16.
            capacity: capacity.min(MAX_FRAMES) as u16,
            head: 0,
            len: 0,
            data: Box::default(),
            meta: Box::default(),
        }
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most frames the queue holds (0: the queue drops everything).
    pub fn capacity(&self) -> usize {
        usize::from(self.capacity)
    }

    /// Appends a frame; false (and nothing stored) when the queue is full or the frame is
    /// longer than a slot.
    pub fn push(&mut self, timestamp: u32, frame: &[T]) -> bool {
        self.push_with(timestamp, frame.len(), |slot| slot.copy_from_slice(frame))
    }

    /// Appends a frame of `len` elements written in place by `fill`; false when full or
    /// too long.
    pub fn push_with(&mut self, timestamp: u32, len: usize, fill: impl FnOnce(&mut [T])) -> bool {
        let frame_len = self.frame_len as usize;
        if self.len == self.capacity || len > frame_len {
            return false;
        }
        if self.data.is_empty() {
            self.data = vec![T::default(); self.capacity() * frame_len].into_boxed_slice();
            self.meta = vec![(0, 0); self.capacity()].into_boxed_slice();
        }
        let slot = (usize::from(self.head) + self.len()) % self.capacity();
        let start = slot * frame_len;
        fill(&mut self.data[start..start + len]);
        // `len` is at most `frame_len`, a u32.
        self.meta[slot] = (timestamp, len as u32);
        self.len += 1;
        true
    }

    /// Removes the oldest frame, handing it to `take` with its timestamp.
    pub fn pop_with<R>(&mut self, take: impl FnOnce(u32, &[T]) -> R) -> Option<R> {
        if self.len == 0 {
            return None;
        }
        let slot = usize::from(self.head);
        let (timestamp, len) = self.meta[slot];
        let start = slot * self.frame_len as usize;
        let r = take(timestamp, &self.data[start..start + len as usize]);
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
        assert!(q.data.is_empty());
    }
}
