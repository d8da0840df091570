//! # session-core
//!
//! A pure, deterministic, sans-IO SIP session core. Call behaviour is declared in YAML
//! state tables; the core consumes datagrams, commands and time, and emits datagrams,
//! media requests and events. It never touches a socket, a clock, a thread or a global
//! random generator: runtimes (`session-core-tokio`, `session-core-mio`) do the IO, and
//! the simulator (`session-core-sim`) replays whole call flows deterministically.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod dialog;
pub mod driver;
pub mod endpoint;
pub mod media;
pub mod rng;
pub mod sdp;
pub mod sip;
pub mod state_machine;
pub mod state_table;
pub mod time;
pub mod transaction;

pub use endpoint::{
    CallOptions, CommandError, Config, Endpoint, MediaInput, Output, SessionEvent, SessionId,
};
pub use rng::Rng;
pub use time::Instant;
