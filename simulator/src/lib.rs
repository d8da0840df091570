//! A deterministic discrete-event simulator for session-core call flows.
#![forbid(unsafe_code)]
