//! Drives a session-core [`Endpoint`](session_core::Endpoint) from a mio `Poll` that the
//! caller owns: for single-threaded event loops, embedded gateways, and applications that
//! already have an epoll loop of their own.
//!
//! # The loop
//!
//! 1. Build a [`Driver`] with the caller's `Registry` and a token range the caller does
//!    not otherwise use. The driver binds SIP over UDP and TCP on one address and
//!    registers everything (later RTP sockets and TCP connections too) under that range.
//! 2. Poll with a timeout no later than [`Driver::next_timeout`].
//! 3. Hand each event whose token [`Driver::owns`] to [`Driver::handle_event`], then call
//!    [`Driver::handle_timeout`] once.
//! 4. Drain [`Driver::poll_event`] and issue commands ([`Driver::execute`] with a
//!    [`Command`]: make a call, accept, hang up …) as plain method calls.
//!
//! ```no_run
//! use std::time::Instant;
//! use mio::{Events, Poll};
//! use session_core::Config;
//! use session_core_mio::{Driver, DriverConfig};
//!
//! let mut poll = Poll::new()?;
//! let config = Config { seed: 1, user: "alice".into(), ..Config::new("127.0.0.1:0".parse()?) };
//! let mut driver = Driver::new(DriverConfig::new(config), poll.registry(), 0..1024, Instant::now())?;
//! let mut events = Events::with_capacity(256);
//! loop {
//!     let timeout = driver.next_timeout().map(|t| t.saturating_duration_since(Instant::now()));
//!     poll.poll(&mut events, timeout)?;
//!     let now = Instant::now();
//!     for event in events.iter() {
//!         driver.handle_event(event, now);
//!     }
//!     driver.handle_timeout(now);
//!     while let Some(event) = driver.poll_event() {
//!         println!("{event:?}");
//!     }
//! #   break;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`run`] is that loop for callers with no loop of their own.
//!
//! # Behaviour
//!
//! - No async, and no thread but a helper that resolves host names (RFC 3263) with
//!   hickory, started by the first call to one; it wakes the poll through a socket pair
//!   under the range's third token, and its answers reach the endpoint inside
//!   `handle_event`/`handle_timeout`. Every other effect happens inside a method call.
//! - Reads go until `WouldBlock` or the per-wake-up budget ([`DriverLimits`]); a source
//!   cut short is finished on the next `handle_timeout`, which `next_timeout` asks for at
//!   once (mio is edge-triggered, so it would not fire again).
//! - A datagram the socket refused with `WouldBlock` is queued (bounded) and sent on the
//!   next writable event, in order.
//! - RTP sockets open on the core's `MediaRequest::Open`, from the configured port range
//!   (even ports), each with its RTCP socket on the port above (RFC 3550 §11), both with a
//!   token of their own, and close on `Close`; their packets are counted per session.
//! - Time: the `std::time::Instant` given to [`Driver::new`] is the core's zero.
//!
//! What to send, queue, open or close is decided in the runtime core both runtimes
//! share (`session_core_runtime::Core`); this crate is its mio glue: tokens, registration,
//! readiness events, reads resumed after the budget.
//!
//! [`DriverLimits`]: session_core::driver::DriverLimits
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod driver;
mod run;

pub use driver::{Driver, DriverError};
pub use run::{run, Control};
pub use session_core::driver::{DriverLimits, DriverStats, PortAllocator, RtpCounters};
pub use session_core::{Command, Config, SessionInfo};
pub use session_core_runtime::DriverConfig;
