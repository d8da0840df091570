//! The store transactions live in: a slab of slots indexed by [`TransactionId`].
//!
//! An id is a slot index plus the slot's generation, so a lookup is one bounds check
//! and one comparison, and an id kept after its transaction ended never finds the
//! transaction that reuses the slot. Freed slots are reused last-freed-first, so ids
//! are a pure function of the inputs.

use super::TransactionId;

/// Slots of `T`, addressed by generation-checked ids.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

impl<T> Slab<T> {
    /// An empty slab.
    pub(crate) fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// How many values are stored.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Stores `value` and returns its id. The caller bounds the number of values (the
    /// layer's `max_transactions`), far below `u32::MAX`.
    pub(crate) fn insert(&mut self, value: T) -> TransactionId {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            debug_assert!(slot.value.is_none());
            slot.value = Some(value);
            return TransactionId::from_parts(index, slot.generation);
        }
        let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        self.slots.push(Slot {
            generation: 0,
            value: Some(value),
        });
        TransactionId::from_parts(index, 0)
    }

    /// The value `id` names, if it is still stored.
    pub(crate) fn get(&self, id: TransactionId) -> Option<&T> {
        let slot = self.slots.get(id.index() as usize)?;
        if slot.generation != id.generation() {
            return None;
        }
        slot.value.as_ref()
    }

    /// The value `id` names, mutably.
    pub(crate) fn get_mut(&mut self, id: TransactionId) -> Option<&mut T> {
        let slot = self.slots.get_mut(id.index() as usize)?;
        if slot.generation != id.generation() {
            return None;
        }
        slot.value.as_mut()
    }

    /// Takes the value `id` names out; its slot's next tenant gets a new generation.
    pub(crate) fn remove(&mut self, id: TransactionId) -> Option<T> {
        let slot = self.slots.get_mut(id.index() as usize)?;
        if slot.generation != id.generation() {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index());
        self.len -= 1;
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_id_does_not_find_the_slot_s_next_tenant() {
        let mut slab = Slab::new();
        let a = slab.insert("a");
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b");
        assert_eq!(a.index(), b.index(), "the slot is reused");
        assert_ne!(a, b);
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn ids_of_live_values_are_distinct_and_lookups_find_them() {
        let mut slab = Slab::new();
        let ids: Vec<_> = (0..5).map(|i| slab.insert(i)).collect();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(slab.get(*id), Some(&i));
        }
        *slab.get_mut(ids[2]).unwrap() = 20;
        assert_eq!(slab.remove(ids[2]), Some(20));
        assert_eq!(slab.len(), 4);
        assert_eq!(slab.get(TransactionId::from_parts(99, 0)), None);
    }
}
