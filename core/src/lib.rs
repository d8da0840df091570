//! # session-core
//!
//! A pure, deterministic, sans-IO SIP session core. Call behaviour is declared in YAML
//! state tables ([`state_table`]) and run by a generic executor ([`state_machine`]); the
//! core consumes datagrams, commands and time, and emits datagrams, media socket requests
//! and events. It never touches a socket, a clock, a thread or a global random generator:
//! runtimes (`session-core-tokio`, `session-core-mio`) do the IO, and the simulator
//! (`session-core-sim`) replays whole call flows deterministically.
//!
//! ## The driving loop
//!
//! 1. Build an [`Endpoint`] from a [`Config`] (its seed decides every tag, branch,
//!    Call-ID and SSRC; its table decides call behaviour).
//! 2. Feed it inputs, each with the current time: [`Endpoint::handle_datagram`] for SIP
//!    and RTP, [`Endpoint::handle_media`] for the answer to a media socket request,
//!    commands ([`Endpoint::make_call`], [`Endpoint::accept`], …), and
//!    [`Endpoint::handle_timeout`] when [`Endpoint::poll_timeout`] is reached.
//! 3. After every input, drain [`Endpoint::poll_output`] until `None`:
//!    [`Output::Transmit`] (send bytes from a local address), [`Output::Media`] (open or
//!    close an RTP socket), [`Output::Event`] (tell the application),
//!    [`Output::Resolve`] (look a host name up, RFC 3263, and answer with
//!    [`Endpoint::handle_resolved`]).
//!
//! Two endpoints wired back to back, a whole call:
//!
//! ```
//! use session_core::endpoint::{MediaRequest, Output, SessionEvent};
//! use session_core::{CallOptions, Config, Endpoint, Instant, MediaInput};
//!
//! let mut alice = Endpoint::new(Config::new("127.0.0.1:5060".parse()?));
//! let mut bob = Endpoint::new(Config::new("127.0.0.2:5060".parse()?));
//! let now = Instant::from_millis(0);
//!
//! // One pass of a driver: deliver every output to the other side, open RTP "sockets".
//! fn drive(now: Instant, from: &mut Endpoint, to: &mut Endpoint, events: &mut Vec<SessionEvent>) -> bool {
//!     let mut any = false;
//!     while let Some(out) = from.poll_output() {
//!         any = true;
//!         match out {
//!             Output::Transmit(t) => to.handle_datagram(now, t.remote, t.local, t.transport, &t.payload),
//!             Output::Media(MediaRequest::Open { session }) => {
//!                 let local_rtp = std::net::SocketAddr::new(from.config().sip_addr.ip(), 40000);
//!                 from.handle_media(now, MediaInput::Ready { session, local_rtp });
//!             }
//!             Output::Event(e) => events.push(e),
//!             _ => {}
//!         }
//!     }
//!     any
//! }
//! let (mut a_events, mut b_events) = (Vec::new(), Vec::new());
//! let call = alice.make_call(now, "sip:bob@127.0.0.2:5060", CallOptions::default())?;
//! while drive(now, &mut alice, &mut bob, &mut a_events) | drive(now, &mut bob, &mut alice, &mut b_events) {}
//!
//! let Some(SessionEvent::IncomingCall { session, .. }) = b_events.first().cloned() else { panic!() };
//! bob.accept(now, session)?;
//! while drive(now, &mut alice, &mut bob, &mut a_events) | drive(now, &mut bob, &mut alice, &mut b_events) {}
//! assert!(a_events.iter().any(|e| matches!(e, SessionEvent::Answered { .. })));
//!
//! alice.hangup(now, call)?;
//! while drive(now, &mut alice, &mut bob, &mut a_events) | drive(now, &mut bob, &mut alice, &mut b_events) {}
//! assert!(matches!(b_events.last(), Some(SessionEvent::Terminated { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Time, randomness, errors
//!
//! - Time is [`Instant`], microseconds since an epoch the driver picks; the core never
//!   reads a clock.
//! - Randomness comes from [`Rng`] (xoshiro256**, pinned), seeded from [`Config::seed`]:
//!   the same seed and the same inputs at the same instants give byte-identical outputs.
//! - Bad input never panics: a malformed request is answered 400 (or 505) when a response
//!   can be built, and otherwise dropped and counted ([`endpoint::EndpointStats`]); every
//!   queue and table is bounded by [`Config`].
//!
//! ## Modules
//!
//! | module | what | RFC |
//! | --- | --- | --- |
//! | [`sip`] | zero-copy parser, typed header views, builders, stream framing | 3261 §7, §20, §25 |
//! | [`transaction`] | the four transaction machines, timers A–M | 3261 §17, 6026 |
//! | [`dialog`] | dialog ids, CSeq rules, route sets | 3261 §12 |
//! | [`sdp`] | our SDP parser and writer, offer/answer, hold | 3264, 6337 |
//! | [`media`] | RTP/RTCP codec, G.711, DTMF, RTP sessions | 3550, 3551, 4733 |
//! | [`state_table`] | the YAML table format, validator, compiled index | — |
//! | [`state_machine`] | the executor | — |
//! | `call` (internal) | one call leg's data; what a session step may use and yields (effects) | — |
//! | `adapters` (internal) | table actions → SIP and media | 3261 §12–15, 3264, 3515 |
//! | `session_store` (internal) | the `Session` value (its inputs: SIP in a dialog, timers, RTP) and the store's indexes ([`SessionInfo`] to inspect); a confirmed call as a portable [`SessionSnapshot`] ([`Endpoint::snapshot`], [`Endpoint::restore`]) | 3261 §9, §12, §13, 6665 |
//! | [`resolve`] | what a driver is asked to look up for a host-name target, and the order of the answers | 3263 §4, 2782 |
//! | [`endpoint`] | the façade: parsing, §8.2/§18 rules, transactions, routing to sessions, the output queue | 3261 §8, §18, 3581 |
//!
//! Arrows point down: the endpoint uses the session store, a session runs the
//! [`state_machine`] with the adapters, and the adapters use `call` and the protocol
//! modules. Nothing below the endpoint imports it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod adapters;
pub mod auth;
mod call;
mod config;
mod deadlines;
pub mod dialog;
pub mod driver;
pub mod endpoint;
mod filed;
pub mod media;
pub mod resolve;
pub mod rng;
pub mod sdp;
mod session_store;
pub mod sip;
pub mod state_machine;
pub mod state_table;
pub mod time;
pub mod transaction;

pub use endpoint::{
    CallOptions, Command, CommandError, Config, Endpoint, MediaInput, Output, ReliableProvisionals,
    RestoreError, SessionEvent, SessionId, SessionInfo, SessionSnapshot, SnapshotError,
};
pub use media::{DtmfMode, MediaMode};
pub use rng::Rng;
pub use time::Instant;
