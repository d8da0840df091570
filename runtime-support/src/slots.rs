//! A small slab: sockets live in numbered slots, and a slot's number is the handle a
//! runtime knows the socket by (mio: the token's offset; tokio: the inner poll's token or
//! the connection waker's id), so an
//! event finds its socket in O(1) and numbers are reused after a close. When the last
//! socket closes, slots beyond [`KEPT_SLOTS`] are freed, so a burst of calls does not keep
//! its high-water mark of slots once it is over.

/// Slots kept when every one is free.
const KEPT_SLOTS: usize = 64;

/// Fixed-capacity storage with reusable indices.
#[derive(Debug)]
pub(crate) struct Slots<T> {
    items: Vec<Option<T>>,
    free: Vec<usize>,
    capacity: usize,
    /// How many slots hold an item.
    taken: usize,
}

impl<T> Slots<T> {
    pub(crate) fn new(capacity: usize) -> Slots<T> {
        Slots {
            items: Vec::new(),
            free: Vec::new(),
            capacity,
            taken: 0,
        }
    }

    /// The index a new item would get, without inserting it.
    pub(crate) fn vacant(&self) -> Option<usize> {
        if let Some(&i) = self.free.last() {
            return Some(i);
        }
        (self.items.len() < self.capacity).then_some(self.items.len())
    }

    /// Stores `item` at [`Slots::vacant`]'s index; `None` (and the item back) when full.
    pub(crate) fn insert(&mut self, item: T) -> Result<usize, T> {
        if let Some(i) = self.free.pop() {
            self.items[i] = Some(item);
            self.taken += 1;
            return Ok(i);
        }
        if self.items.len() >= self.capacity {
            return Err(item);
        }
        self.items.push(Some(item));
        self.taken += 1;
        Ok(self.items.len() - 1)
    }

    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        self.items.get(i).and_then(Option::as_ref)
    }

    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.items.get_mut(i).and_then(Option::as_mut)
    }

    pub(crate) fn remove(&mut self, i: usize) -> Option<T> {
        let item = self.items.get_mut(i)?.take()?;
        self.free.push(i);
        self.taken -= 1;
        if self.taken == 0 && self.items.len() > KEPT_SLOTS {
            self.items = Vec::new();
            self.free = Vec::new();
        }
        Some(item)
    }

    pub(crate) fn indices(&self) -> Vec<usize> {
        (0..self.items.len())
            .filter(|&i| self.items[i].is_some())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_freed_indices_and_refuses_past_capacity() {
        let mut s = Slots::new(2);
        assert_eq!(s.insert('a'), Ok(0));
        assert_eq!(s.insert('b'), Ok(1));
        assert_eq!(s.vacant(), None);
        assert_eq!(s.insert('c'), Err('c'));
        assert_eq!(s.remove(0), Some('a'));
        assert_eq!(s.vacant(), Some(0));
        assert_eq!(s.insert('d'), Ok(0));
        assert_eq!(s.get(0), Some(&'d'));
        assert_eq!(s.indices(), vec![0, 1]);
    }

    #[test]
    fn frees_its_slots_once_a_burst_is_over() {
        let mut s = Slots::new(1000);
        for i in 0..1000 {
            assert_eq!(s.insert(i), Ok(i));
        }
        for i in (0..1000).rev() {
            assert_eq!(s.remove(i), Some(i));
        }
        assert_eq!(s.items.capacity(), 0);
        assert_eq!(s.free.capacity(), 0);
        assert_eq!(s.vacant(), Some(0));
        assert_eq!(s.insert(7), Ok(0));
    }
}
