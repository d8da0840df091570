//! A deterministic discrete-event simulator for session-core call flows.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod clock;
pub mod driver;
pub mod invariant;
pub mod ladder;
pub mod network;
pub mod node;
pub mod queue;
pub mod scenario;
pub mod sim;
pub mod toy;
pub mod trace;
