//! # session-core-runtime
//!
//! The runtime core that `session-core-tokio` and `session-core-mio` share: everything a
//! runtime does besides running its event loop, written once (as quinn-udp serves quinn's
//! runtimes, it does the IO but owns no loop).
//!
//! - [`Core`]: an [`Endpoint`](session_core::Endpoint) with its sockets and every
//!   decision about them — which socket an output leaves by, send now or queue, connect
//!   or refuse at the TCP connection limit (evicting the longest idle that no call needs), TCP framing and
//!   keep-alive pongs, when an RTP socket is bound and its port released, the SIP
//!   capture and the counters.
//! - [`Io`]: what a runtime lends the core — its socket types, their non-blocking
//!   operations, and how a socket joins and leaves its event loop. The tokio runtime
//!   implements it with waker-per-socket readiness, the mio runtime with a `Registry`
//!   and a token range.
//! - [`cluster`]: calls that outlive an instance — each confirmed call's snapshot in
//!   Redis under the instance's ownership, and the calls of an instance that died
//!   claimed (one winner) and restored.
//! - [`dns`]: answering the core's name queries (RFC 3263) with hickory, from the
//!   system's resolver configuration; as a future, or on a helper thread.
//! - [`metrics`]: the endpoint's and the core's counters published through the
//!   `metrics` facade, and calls counted by outcome.
//! - [`tap`]: an observer of every datagram and stream read or write on the core's
//!   sockets; [`pcap`] writes what it sees as a capture for Wireshark and sngrep.
//! - [`recording_file`]: a `session_core::driver::Recording` saved to a file and read
//!   back, so that a run recorded in one process replays in another.
//! - [`shard`]: several endpoints behind one SIP address, one per thread, datagrams
//!   steered to the one that owns their Call-ID.
//! - [`sockets`]: binding SIP's UDP socket and TCP listener on one port, RTP sockets from
//!   a port range, outgoing TCP connections, large kernel buffers, and the address a
//!   wildcard bind advertises.
//!
//! A runtime's loop, whatever its shape: when a socket is ready, call [`Core::read`],
//! [`Core::flush`] or [`Core::accept`] for it; keep one timer at [`Core::next_timeout`]
//! and call [`Core::handle_timeout`] when it fires; hand [`Core::poll_event`]'s events to
//! the application; resolve each [`Core::poll_query`] and give the answer to
//! [`Core::resolved`].
//!
//! The bookkeeping without IO (framing, port allocation, retry queues, idle connections,
//! limits) is in `session_core::driver`, where it is tested on a virtual clock.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cluster;
pub mod dns;
mod io;
pub mod metrics;
pub mod pcap;
pub mod recording_file;
pub mod recv_batch;
mod runtime_core;
pub mod shard;
mod slots;
pub mod sockets;
pub mod tap;

pub use io::Io;
pub use runtime_core::{
    captured, Core, DriverConfig, IdleHook, Progress, SharedCapture, Socket, StartError,
};
