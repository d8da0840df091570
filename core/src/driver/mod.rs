//! Pure helpers that both runtimes (`session-core-tokio`, `session-core-mio`) share.
//!
//! A runtime is a thin driver around an [`Endpoint`](crate::Endpoint): it reads sockets,
//! feeds the endpoint, drains its outputs and sleeps until `poll_timeout()`. The parts of
//! that job that are bookkeeping rather than IO live here, once, so that the two runtimes
//! behave alike and the logic can be tested without sockets:
//!
//! - [`Epoch`]: converts between the runtime's monotonic clock and the core's [`Instant`].
//! - [`PortAllocator`]: hands out even RTP ports from a configured range (RFC 3550 §11:
//!   RTP on an even port, RTCP on the next odd one).
//! - [`StreamReassembler`]: cuts a TCP byte stream into SIP messages by Content-Length
//!   (RFC 3261 §18.3), by the rules of [`frame_stream`](crate::sip::frame_stream).
//! - [`RetryQueue`]: keeps datagrams a socket refused with `WouldBlock`, bounded, in order.
//! - [`MediaBook`]: which RTP socket belongs to which session, and its packet counters.
//! - [`DriverStats`]: the counters both runtimes keep.
//! - [`SipCapture`]: a bounded record of the SIP messages that crossed the sockets.
//! - [`IdleConnections`]: when a TCP connection has been idle long enough to close, and
//!   which one to evict when the connection limit is reached.
//! - [`DriverLimits`]: the bounds every runtime applies (buffers, connections, work per
//!   wake-up).
//! - [`pop_trimmed`]: a queue's front, giving back its peak room once drained.
//! - [`Shard`], [`shard_of`], [`call_id`]: which of several endpoints sharing one SIP
//!   address owns a datagram, by its Call-ID.
//!
//! Nothing here opens a socket or reads a clock. The decisions that need sockets (which
//! socket an output leaves by, send or queue, connect or refuse, when a port is released)
//! are made once, on top of these, by `Core` in the `session-core-runtime` crate.
//!
//! [`Instant`]: crate::Instant

mod capture;
mod clock;
mod framing;
mod idle;
mod limits;
mod media_book;
mod ports;
mod queue;
mod recording;
mod retry;
mod shard;
mod stats;

pub use capture::{CapturedMessage, Direction, SipCapture};
pub use clock::Epoch;
pub use framing::{Frame, StreamReassembler};
pub use idle::{IdleConnections, DEFAULT_IDLE_TIMEOUT};
pub use limits::DriverLimits;
pub use media_book::{MediaBook, MediaSocket, RtpCounters, Source};
pub use ports::{PortAllocator, PortRangeError};
pub use queue::{pop_trimmed, KEPT_CAPACITY};
pub use recording::{RecordedInput, Recording, ReplayMismatch};
pub use retry::{QueueFull, RetryQueue};
pub use shard::{call_id, shard_of, Shard, ShardOutOfRange};
pub use stats::DriverStats;
