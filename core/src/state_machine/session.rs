//! A session's state-machine state: where it is, in which role, its conditions, and a
//! bounded history of what the executor did with each event.

use std::collections::VecDeque;

use smallvec::SmallVec;

use crate::state_table::{CompiledTable, ConditionId, EventType, Role, StateId, TransitionId};
use crate::time::Instant;

/// How many history entries a session keeps by default (older ones are dropped).
pub const DEFAULT_HISTORY_CAPACITY: usize = 16;

/// The state-machine part of one session. It belongs to exactly one owner (the session
/// store); the executor mutates it in place, one event at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionState {
    state: StateId,
    role: Role,
    /// Inline up to 12: the shipped tables have 10 (default), 6 and none, so a session
    /// of theirs allocates nothing for them.
    conditions: SmallVec<[u32; 12]>,
    history: History,
}

impl SessionState {
    /// A session at the table's initial state with every condition at its default.
    pub fn new(table: &CompiledTable, role: Role) -> SessionState {
        SessionState::with_history_capacity(table, role, DEFAULT_HISTORY_CAPACITY)
    }

    /// Like [`SessionState::new`], keeping at most `capacity` history entries.
    pub fn with_history_capacity(
        table: &CompiledTable,
        role: Role,
        capacity: usize,
    ) -> SessionState {
        SessionState {
            state: table.initial_state(),
            role,
            conditions: table.conditions().iter().map(|c| c.default).collect(),
            history: History::with_capacity(capacity),
        }
    }

    /// The current state.
    pub fn state(&self) -> StateId {
        self.state
    }

    /// The session's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// A condition's value (flags: 0 or 1). Panics on an id from another table.
    pub fn condition(&self, id: ConditionId) -> u32 {
        self.conditions[usize::from(id.0)]
    }

    /// Whether a flag condition is set.
    pub fn flag(&self, id: ConditionId) -> bool {
        self.condition(id) != 0
    }

    /// Sets a condition (adapters may record facts; flags take 0 or 1).
    pub fn set_condition(&mut self, id: ConditionId, value: u32) {
        self.conditions[usize::from(id.0)] = value;
    }

    /// Every condition's value, indexed by [`ConditionId`].
    pub fn conditions(&self) -> &[u32] {
        &self.conditions
    }

    /// What the executor did, most recent last.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Whether the session is in a terminal state of `table`.
    pub fn is_terminal(&self, table: &CompiledTable) -> bool {
        table.state(self.state).terminal
    }

    pub(crate) fn set_state(&mut self, state: StateId) {
        self.state = state;
    }

    pub(crate) fn history_mut(&mut self) -> &mut History {
        &mut self.history
    }
}

/// A bounded ring of [`HistoryEntry`]s plus the count of all entries ever recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    entries: VecDeque<HistoryEntry>,
    capacity: usize,
    recorded: u64,
}

impl History {
    /// An empty history keeping at most `capacity` entries. Nothing is allocated until
    /// the first entry; the ring then grows as needed up to `capacity`, so a short call
    /// costs only the entries it made (a [`HistoryEntry`] is 48 bytes on 64-bit targets).
    pub fn with_capacity(capacity: usize) -> History {
        History {
            entries: VecDeque::new(),
            capacity,
            recorded: 0,
        }
    }

    /// The kept entries, oldest first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &HistoryEntry> + ExactSizeIterator {
        self.entries.iter()
    }

    /// The most recent entry.
    pub fn last(&self) -> Option<&HistoryEntry> {
        self.entries.back()
    }

    /// How many entries were ever recorded (one per event processed), kept or not.
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    /// How many entries are kept at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn push(&mut self, entry: HistoryEntry) {
        self.recorded += 1;
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }
}

/// What the executor did with one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// When.
    pub at: Instant,
    /// The state the event arrived in.
    pub from: StateId,
    /// The event's type.
    pub event: EventType,
    /// Every guard evaluated, in order, across the alternatives tried.
    pub guards: SmallVec<[GuardCheck; 4]>,
    /// The transition that fired (or whose action failed).
    pub transition: Option<TransitionId>,
    /// How many of its actions completed.
    pub actions_run: u8,
    /// How it ended.
    pub result: EntryResult,
    /// The state afterwards.
    pub to: StateId,
}

/// One guard evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardCheck {
    /// The alternative whose guard it was.
    pub transition: TransitionId,
    /// The guard's position in that transition's `guards`.
    pub guard: u8,
    /// Whether it held.
    pub held: bool,
}

/// How an event ended, as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryResult {
    /// A transition fired and completed.
    Transitioned,
    /// No transition exists for the event here (or none whose match fields matched).
    Unhandled,
    /// Alternatives matched the event but none had all its guards hold.
    Blocked,
    /// The action at this index failed; the state did not change.
    ActionFailed {
        /// Index into the transition's actions.
        action_index: u8,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at_ms: u64) -> HistoryEntry {
        HistoryEntry {
            at: Instant::from_millis(at_ms),
            from: StateId(0),
            event: EventType::SendDtmf,
            guards: SmallVec::new(),
            transition: None,
            actions_run: 0,
            result: EntryResult::Unhandled,
            to: StateId(0),
        }
    }

    #[test]
    fn history_ring_drops_the_oldest_and_counts_everything() {
        let mut h = History::with_capacity(2);
        for t in 0..5 {
            h.push(entry(t));
        }
        let kept: Vec<u64> = h.entries().map(|e| e.at.as_millis()).collect();
        assert_eq!(kept, [3, 4]);
        assert_eq!(h.recorded(), 5);
    }

    #[test]
    fn zero_capacity_history_keeps_nothing_but_counts() {
        let mut h = History::with_capacity(0);
        h.push(entry(1));
        assert_eq!(h.entries().len(), 0);
        assert_eq!(h.recorded(), 1);
    }

    /// Per-call memory: the ring holds up to 16 entries and an established call has
    /// made more than four, so each held call carries a block of eight entries: at 48
    /// bytes an entry, 384 bytes (at 72, it was 576).
    #[test]
    fn a_history_entry_stays_small() {
        let entry = std::mem::size_of::<HistoryEntry>();
        let session = std::mem::size_of::<SessionState>();
        eprintln!("HistoryEntry: {entry} bytes; SessionState: {session} bytes");
        assert!(entry <= 48, "{entry}");
    }
}
