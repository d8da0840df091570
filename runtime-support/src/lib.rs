//! # session-core-runtime
//!
//! The parts of a session-core runtime that do IO but belong to no event loop, shared by
//! `session-core-tokio` and `session-core-mio` (as quinn-udp serves quinn's runtimes):
//!
//! - [`sockets`]: binding SIP's UDP socket and TCP listener on one port, RTP sockets from a
//!   port range, large kernel buffers, and the address a wildcard bind advertises.
//!
//! The bookkeeping both runtimes share without IO (framing, port allocation, retry
//! queues, limits) is in `session_core::driver`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod sockets;
