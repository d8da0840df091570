//! Drives a session-core [`Endpoint`](session_core::Endpoint) with tokio sockets and
//! timers, and offers the high-level async call API on top.
//!
//! # Shape
//!
//! One tokio task owns the endpoint and every socket (SIP over UDP and TCP on one address,
//! one UDP socket per call's RTP from a port range and one for its RTCP on the port above).
//! The application talks to it through
//! a [`SessionCoordinator`] (commands go over a channel, answers come back) and receives
//! events per call ([`CallHandle`]), for incoming calls ([`IncomingCalls`]) and globally
//! ([`SessionCoordinator::events`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use session_core::SessionEvent;
//! use session_core_tokio::SessionCoordinator;
//!
//! let mut ua = SessionCoordinator::builder()
//!     .bind("127.0.0.1:0".parse()?)
//!     .seed(42)
//!     .build()
//!     .await?;
//! let mut incoming = ua.incoming_calls().expect("taken once");
//! tokio::spawn(async move {
//!     while let Some(call) = incoming.next().await {
//!         let _ = call.call.accept().await;
//!     }
//! });
//! let mut call = ua.make_call("sip:bob@127.0.0.1:5080").await?;
//! call.wait_for(|e| matches!(e, SessionEvent::Answered { .. })).await;
//! call.hangup().await?;
//! ua.shutdown(std::time::Duration::from_secs(2)).await;
//! # Ok(()) }
//! ```
//!
//! # The driver
//!
//! - Sockets are read until `WouldBlock`, at most a budget per wake-up
//!   ([`DriverLimits::reads_per_wakeup`]); with work left, the task yields and wakes itself.
//! - After every input the endpoint's outputs are drained: datagrams sent (a datagram the
//!   socket refuses with `WouldBlock` is queued, bounded, and sent when writable), media
//!   sockets opened and closed, events dispatched.
//! - One timer at the endpoint's `poll_timeout()`, reset only when the deadline changes,
//!   and the clock checked before a fired sleep is trusted. It uses tokio's clock, so
//!   tests can pause and advance time; the core's zero is the task's start.
//! - A wake-up polls only the sockets that became ready (a packet on one call's socket
//!   does not cost a poll of every other call's). The UDP sockets (SIP's, RTP's and
//!   RTCP's) are mio sockets in one inner, edge-triggered poll that tokio watches as a
//!   single source, which names the ready ones: a socket registered with tokio's reactor
//!   would cost a `ScheduledIo` and a waker of its own, for each of a held call's two.
//!   Each TCP connection is a tokio socket polled with its own waker.
//! - Shutdown ends every call, drives the endpoint until idle or the grace period ends,
//!   then closes the sockets. Dropping every handle does the same in the background.
//!
//! What to send, queue, open or close is decided in the runtime core both runtimes
//! share (`session_core_runtime::Core`); this crate is its tokio glue: the task, the
//! readiness of its sockets, the timer and the channels.
//!
//! [`DriverLimits::reads_per_wakeup`]: session_core::driver::DriverLimits::reads_per_wakeup
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod coordinator;
mod driver;
mod ready;
mod timer;

pub use coordinator::{
    BuildError, CallError, CallHandle, IncomingCall, IncomingCalls, SessionCoordinator,
    SessionCoordinatorBuilder,
};
pub use session_core::driver::{DriverLimits, DriverStats, PortAllocator, RtpCounters};
pub use session_core::{Command, Config, MediaMode, SessionInfo};
