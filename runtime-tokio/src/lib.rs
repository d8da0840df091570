//! Drives a session-core `Endpoint` with tokio sockets and timers.
#![forbid(unsafe_code)]
