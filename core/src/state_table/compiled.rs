//! The compiled table: every name resolved to a small integer or an enum, and the
//! transitions indexed by (role, state, event type) so that the executor's lookup is one
//! multiplication and one slice — no string comparison and no scan over the table.

use super::action::Action;
use super::event::EventMatch;
use super::vocabulary::{EventType, GuardName, PublishedEvent, Role, RoleFilter};

/// A state of one compiled table (an index into [`CompiledTable::states`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateId(pub u16);

/// A declared condition of one compiled table (an index into its conditions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConditionId(pub u16);

/// A transition of one compiled table (an index into [`CompiledTable::transitions`]).
/// Sixteen bits hold the most a table may have (`MAX_TRANSITIONS`), and keep each
/// call's history entries small (every entry names transitions, once per guard).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransitionId(pub u16);

/// A declared state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateInfo {
    /// Its name.
    pub name: Box<str>,
    /// Its description, if any.
    pub description: Option<Box<str>>,
    /// Whether the session is over once here.
    pub terminal: bool,
    /// Where it is declared.
    pub line: u32,
}

/// Whether a condition is a flag or a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionKind {
    /// true/false (stored as 0/1).
    Flag,
    /// A non-negative count.
    Counter,
}

/// A declared condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionInfo {
    /// Its name.
    pub name: Box<str>,
    /// Flag or counter.
    pub kind: ConditionKind,
    /// Its value in a new session (flags: 0 or 1).
    pub default: u32,
    /// Where it is declared.
    pub line: u32,
}

/// A comparison operator of a comparison guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `==`
    Equals,
    /// `!=`
    NotEquals,
    /// `<`
    LessThan,
    /// `<=`
    LessOrEqual,
    /// `>`
    GreaterThan,
    /// `>=`
    GreaterOrEqual,
}

impl Operator {
    /// Resolves the YAML spelling.
    pub fn from_name(name: &str) -> Option<Operator> {
        Some(match name {
            "Equals" => Operator::Equals,
            "NotEquals" => Operator::NotEquals,
            "LessThan" => Operator::LessThan,
            "LessOrEqual" => Operator::LessOrEqual,
            "GreaterThan" => Operator::GreaterThan,
            "GreaterOrEqual" => Operator::GreaterOrEqual,
            _ => return None,
        })
    }

    /// A short symbol for graphs and history.
    pub const fn symbol(self) -> &'static str {
        match self {
            Operator::Equals => "==",
            Operator::NotEquals => "!=",
            Operator::LessThan => "<",
            Operator::LessOrEqual => "<=",
            Operator::GreaterThan => ">",
            Operator::GreaterOrEqual => ">=",
        }
    }

    /// Applies the operator: `left op right`.
    pub const fn holds(self, left: u32, right: u32) -> bool {
        match self {
            Operator::Equals => left == right,
            Operator::NotEquals => left != right,
            Operator::LessThan => left < right,
            Operator::LessOrEqual => left <= right,
            Operator::GreaterThan => left > right,
            Operator::GreaterOrEqual => left >= right,
        }
    }
}

/// A compiled guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Guard {
    /// A named guard (answered from the event or by the adapters).
    Named(GuardName),
    /// A bare declared flag: holds when the flag is set.
    Flag(ConditionId),
    /// A comparison of a condition with a constant.
    Compare {
        /// The condition.
        condition: ConditionId,
        /// The operator.
        operator: Operator,
        /// The constant (flags: 0 or 1).
        value: u32,
    },
}

/// A compiled condition update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionUpdate {
    /// Set the value (flags: 0 or 1).
    Set(u32),
    /// Add to a counter, saturating at 0 and `u32::MAX`.
    Add(i32),
}

/// A compiled transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// Where it is declared.
    pub line: u32,
    /// The roles it applies to.
    pub role: RoleFilter,
    /// The states it leaves from.
    pub from: Vec<StateId>,
    /// The event type it reacts to.
    pub event: EventType,
    /// Further event fields that must match.
    pub event_match: EventMatch,
    /// All must hold, checked in order.
    pub guards: Vec<Guard>,
    /// Run in order.
    pub actions: Vec<Action>,
    /// Where it leads; `None` = the state it fired in.
    pub next_state: Option<StateId>,
    /// Applied after the actions, in name order.
    pub condition_updates: Vec<(ConditionId, ConditionUpdate)>,
    /// Published after the state change.
    pub publish: Vec<PublishedEvent>,
    /// The table's description of it.
    pub description: Option<Box<str>>,
}

impl Transition {
    /// Where the transition leads when it fires in `from`.
    pub fn target(&self, from: StateId) -> StateId {
        self.next_state.unwrap_or(from)
    }
}

/// A validated, indexed state table, ready for the executor.
#[derive(Clone, Debug)]
pub struct CompiledTable {
    pub(crate) name: Box<str>,
    pub(crate) initial: StateId,
    pub(crate) states: Vec<StateInfo>,
    pub(crate) conditions: Vec<ConditionInfo>,
    pub(crate) transitions: Vec<Transition>,
    /// The `RetryCount` counter, when declared (IncrementRetry/ResetRetry act on it).
    pub(crate) retry_count: Option<ConditionId>,
    /// For each (role, state, event type) key: a range into `candidates`.
    pub(crate) index: Vec<(u32, u32)>,
    /// Transition ids, grouped by key, in file order within a key.
    pub(crate) candidates: Vec<TransitionId>,
}

impl CompiledTable {
    /// The table's name (its `name:`, else the file name given to the loader).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where new sessions start.
    pub fn initial_state(&self) -> StateId {
        self.initial
    }

    /// Every state, indexed by [`StateId`].
    pub fn states(&self) -> &[StateInfo] {
        &self.states
    }

    /// One state's declaration. Panics on an id from another table.
    pub fn state(&self, id: StateId) -> &StateInfo {
        &self.states[usize::from(id.0)]
    }

    /// The id of a state by name (a scan: for tests and tools, not the hot path).
    pub fn state_id(&self, name: &str) -> Option<StateId> {
        self.states
            .iter()
            .position(|s| &*s.name == name)
            .map(|i| StateId(i as u16))
    }

    /// Every declared condition, indexed by [`ConditionId`].
    pub fn conditions(&self) -> &[ConditionInfo] {
        &self.conditions
    }

    /// The id of a condition by name (a scan: not for the hot path).
    pub fn condition_id(&self, name: &str) -> Option<ConditionId> {
        self.conditions
            .iter()
            .position(|c| &*c.name == name)
            .map(|i| ConditionId(i as u16))
    }

    /// The `RetryCount` counter that `IncrementRetry` and `ResetRetry` act on.
    pub fn retry_count(&self) -> Option<ConditionId> {
        self.retry_count
    }

    /// Every transition, in file order, indexed by [`TransitionId`].
    pub fn transitions(&self) -> &[Transition] {
        &self.transitions
    }

    /// One transition. Panics on an id from another table.
    pub fn transition(&self, id: TransitionId) -> &Transition {
        &self.transitions[id.0 as usize]
    }

    /// The candidate transitions for (role, state, event type), in file order: the
    /// executor fires the first whose match fields and guards hold.
    pub fn candidates(&self, role: Role, state: StateId, event: EventType) -> &[TransitionId] {
        let key = self.key(role, state, event);
        match self.index.get(key) {
            Some(&(start, end)) => &self.candidates[start as usize..end as usize],
            None => &[],
        }
    }

    /// The dense key of (role, state, event type).
    fn key(&self, role: Role, state: StateId, event: EventType) -> usize {
        (role.index() * self.states.len() + usize::from(state.0)) * EventType::COUNT + event.index()
    }

    /// Builds the (role, state, event) index over `transitions`.
    pub(crate) fn build_index(&mut self) {
        let keys = 2 * self.states.len() * EventType::COUNT;
        let mut buckets: Vec<Vec<TransitionId>> = vec![Vec::new(); keys];
        for (i, t) in self.transitions.iter().enumerate() {
            for role in Role::ALL {
                if !t.role.covers(role) {
                    continue;
                }
                for &state in &t.from {
                    let key = self.key(role, state, t.event);
                    let bucket = &mut buckets[key];
                    let id = TransitionId(i as u16);
                    // A transition listing a state twice still appears once.
                    if bucket.last() != Some(&id) {
                        bucket.push(id);
                    }
                }
            }
        }
        self.index.clear();
        self.candidates.clear();
        for bucket in buckets {
            let start = self.candidates.len() as u32;
            self.candidates.extend(bucket);
            self.index.push((start, self.candidates.len() as u32));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::state_table::{compile, EventType, Role};

    const TEXT: &str = "\
states:
  - name: A
  - name: B
  - name: C
    terminal: true
transitions:
  - role: UAC
    state: [A, B]
    event: { type: DialogFailure, status: 486 }
    next_state: C
  - state: A
    event: DialogFailure
    next_state: B
  - role: UAS
    state: B
    event: DialogFailure
    next_state: C
  - state: B
    event: HangupCall
    next_state: C
";

    #[test]
    fn candidates_are_indexed_per_role_and_state_in_file_order() {
        let table = compile("t.yaml", TEXT).expect("valid").table;
        let a = table.state_id("A").unwrap();
        let b = table.state_id("B").unwrap();
        let ids = |role, state| -> Vec<u16> {
            table
                .candidates(role, state, EventType::DialogFailure)
                .iter()
                .map(|t| t.0)
                .collect()
        };
        assert_eq!(ids(Role::Uac, a), [0, 1]);
        assert_eq!(ids(Role::Uas, a), [1]);
        assert_eq!(ids(Role::Uac, b), [0]);
        assert_eq!(ids(Role::Uas, b), [2]);
        assert!(table
            .candidates(Role::Uac, a, EventType::MakeCall)
            .is_empty());
    }
}
