//! The store transactions live in: a slab of slots indexed by [`TransactionId`].
//!
//! An id is a slot index plus the slot's generation, so a lookup is one bounds check
//! and one comparison, and an id kept after its transaction ended never finds the
//! transaction that reuses the slot. Freed slots are reused last-freed-first, so ids
//! are a pure function of the inputs.
//!
//! When the last value leaves a slab that grew past [`KEPT_SLOTS`], its slots are freed:
//! a burst (a flood of INVITEs refused with 503, each transaction absorbing its ACK for
//! Timer I) would otherwise keep the slab at its high-water mark for the life of the
//! endpoint. New slots then start at a generation above every one handed out, so an id
//! kept from before still finds nothing.

use super::TransactionId;

/// Slots a slab keeps when it empties: a quiet endpoint's few transactions come and go
/// without reallocating.
const KEPT_SLOTS: usize = 64;

/// Slots of `T`, addressed by generation-checked ids.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
    /// The generation a newly pushed slot starts at: above that of every slot freed.
    first_generation: u32,
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
            first_generation: 0,
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
        let generation = self.first_generation;
        self.slots.push(Slot {
            generation,
            value: Some(value),
        });
        TransactionId::from_parts(index, generation)
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
        if self.len == 0 && self.slots.len() > KEPT_SLOTS {
            self.release();
        }
        Some(value)
    }

    /// The number of slots, taken or free (the high-water mark since the last release).
    #[cfg(test)]
    fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Frees the slots of an empty slab. Each slot's generation is already past every id
    /// it handed out (`remove` moved it on), so starting new slots above the highest keeps
    /// every old id stale.
    fn release(&mut self) {
        debug_assert_eq!(self.len, 0);
        let highest = self.slots.iter().map(|s| s.generation).max().unwrap_or(0);
        self.first_generation = self.first_generation.max(highest);
        self.slots = Vec::new();
        self.free = Vec::new();
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
    fn an_emptied_slab_frees_its_slots_and_old_ids_stay_stale() {
        let mut slab = Slab::new();
        let ids: Vec<_> = (0..1000).map(|i| slab.insert(i)).collect();
        for &id in &ids[1..] {
            slab.remove(id);
        }
        assert_eq!(slab.slots(), 1000, "one value left: the slots stay");
        slab.remove(ids[0]);
        assert_eq!(slab.slots(), 0, "empty: the slots are freed");
        let fresh: Vec<_> = (0..1000).map(|i| slab.insert(i + 5000)).collect();
        for (old, new) in ids.iter().zip(&fresh) {
            assert_eq!(old.index(), new.index());
            assert_eq!(slab.get(*old), None, "{old:?} finds {new:?}'s value");
        }
    }

    #[test]
    fn a_small_slab_keeps_its_slots_when_it_empties() {
        let mut slab = Slab::new();
        let ids: Vec<_> = (0..KEPT_SLOTS).map(|i| slab.insert(i)).collect();
        for id in ids {
            slab.remove(id);
        }
        assert_eq!(slab.slots(), KEPT_SLOTS);
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
