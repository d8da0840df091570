//! A deterministic discrete-event simulator for session-core call flows.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod clock;
pub mod network;
pub mod node;
pub mod scenario;
pub mod trace;
