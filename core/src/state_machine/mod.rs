//! The executor that runs session events through a compiled state table.
//!
//! A session's [`SessionState`] (current state, role, conditions, history) is owned by
//! one place; [`process`] takes it by `&mut` together with the [`CompiledTable`], the
//! typed [`Event`] and an [`ActionHandler`] (the adapters), and runs the event to
//! completion: lookup, guards, actions in order, next state, condition updates,
//! published events, history. [`possible_transitions`] lists what the current state can
//! do. See [`executor`] for the outcome of an unhandled event and of a failing action.
//!
//! ```
//! use session_core::state_machine::{process, ActionError, ActionHandler, SessionState};
//! use session_core::state_table::{Action, CompiledTable, Event, EventType, GuardName, Role};
//! use session_core::Instant;
//!
//! struct Print;
//! impl ActionHandler for Print {
//!     fn execute(&mut self, a: &Action, _: &Event, _: &mut SessionState, _: Instant)
//!         -> Result<(), ActionError> { println!("{a}"); Ok(()) }
//!     fn guard(&self, _: GuardName, _: &Event, _: &SessionState) -> bool { true }
//! }
//!
//! let table = CompiledTable::default_table();
//! let mut call = SessionState::new(&table, Role::Uac);
//! let out = process(&table, &mut call, &Event::new(EventType::MakeCall), &mut Print, Instant::ZERO);
//! assert!(out.fired());
//! ```
//!
//! [`CompiledTable`]: crate::state_table::CompiledTable
//! [`Event`]: crate::state_table::Event

pub mod executor;
mod handler;
mod session;

pub use executor::{event_guard, possible_transitions, process, Outcome};
pub use handler::{ActionError, ActionHandler};
pub use session::{
    EntryResult, GuardCheck, History, HistoryEntry, SessionState, DEFAULT_HISTORY_CAPACITY,
};
