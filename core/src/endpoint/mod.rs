//! The sans-IO `Endpoint`: the one value a driver feeds and drains.

mod output;

pub use output::{EndReason, MediaRequest, Output, SessionEvent, SessionId, Side, Transmit};
