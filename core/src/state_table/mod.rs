//! The YAML state-table format, its loader, validator and compiled form.
//!
//! A state table declares a session's behaviour: its states, the conditions (flags and
//! counters) it tracks, and the transitions `(role, state, event) → guards → actions →
//! next state → condition updates → published events`. The SIP machinery underneath
//! (RFC 3261 §17 transactions, §12 dialogs) is fixed Rust; the table decides which of
//! its operations run and when, so a new call flow is a YAML edit.
//!
//! - [`schema`]: the YAML shape as serde types (unknown keys rejected);
//! - [`compile`]: load + validate + compile, with every error's file and line
//!   ([`TableError`]) and the warnings ([`TableWarning`]);
//! - [`CompiledTable`]: names interned to [`StateId`]s and enums, transitions indexed by
//!   (role, state, event type), ready for [`crate::state_machine::process`];
//! - [`graph`]: Graphviz DOT and Mermaid renderings for review.
//!
//! Several transitions may share a role, state and event when their guards or match
//! fields differ: they are *ordered guarded alternatives*, tried in file order, and the
//! first whose match fields and guards all hold fires. A transition that could never fire
//! because an earlier one always would is rejected.
//!
//! The default table (`state_tables/default.yaml`) is embedded:
//! [`CompiledTable::default_table`]. The guide to extending the vocabulary is
//! `docs/state-tables.md`.

#[macro_use]
mod vocabulary;
mod action;
mod compiled;
mod error;
mod event;
pub mod graph;
pub mod schema;
mod source;
mod validate;

pub use action::{Action, ActionKind, ReInviteMode};
pub use compiled::{
    CompiledTable, ConditionId, ConditionInfo, ConditionKind, ConditionUpdate, Guard, Operator,
    StateId, StateInfo, Transition, TransitionId,
};
pub use error::{
    ParameterProblem, TableError, TableErrorKind, TableErrors, TableWarning, TableWarningKind,
};
pub use event::{Event, EventMatch};
pub use validate::{
    compile, LoadedTable, DEFAULT_TABLE_YAML, ESSENTIAL_EVENTS, GATEWAY_TABLE_YAML, MAX_CONDITIONS,
    MAX_PER_TRANSITION, MAX_STATES, MAX_TABLE_BYTES, MAX_TRANSITIONS, RETRY_COUNT,
};
pub use vocabulary::{EventType, GuardName, PublishedEvent, Role, RoleFilter, TimerName};
