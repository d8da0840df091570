//! The bounds a runtime applies to its IO, so that no peer can make it grow without limit
//! and no busy socket can starve the others.

use std::time::Duration;

/// Limits shared by both runtimes. The defaults suit a softphone or a small server; a
/// load test raises `max_tcp_connections` and the socket buffers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverLimits {
    /// The largest datagram read or framed stream message accepted, in bytes. UDP SIP
    /// messages are under 64 KiB by construction; a larger stream message closes the
    /// connection.
    pub max_message_bytes: usize,
    /// How many concurrent TCP connections (accepted and outgoing together). At the
    /// limit, the connection idle for longest that no call up goes by is closed to make
    /// room for a new one; when every one carries a call, the new one is refused.
    pub max_tcp_connections: usize,
    /// A TCP connection without traffic (keep-alives included) for this long is closed;
    /// see [`DEFAULT_IDLE_TIMEOUT`](super::DEFAULT_IDLE_TIMEOUT) for the default's reasons.
    pub tcp_idle_timeout: Duration,
    /// Bytes queued for one TCP connection before it is closed as stuck.
    pub max_tcp_send_queue_bytes: usize,
    /// Datagrams kept per socket after the socket refused them with `WouldBlock`.
    pub max_retry_datagrams: usize,
    /// Bytes kept per socket after the socket refused them.
    pub max_retry_bytes: usize,
    /// Datagrams (or stream reads) handled per socket per wake-up before yielding.
    pub reads_per_wakeup: usize,
    /// Socket send and receive buffer size asked of the kernel, in bytes. The kernel may
    /// cap it (Linux: `net.core.rmem_max`); the runtime logs what it got.
    pub socket_buffer_bytes: usize,
    /// Calls' RTP/RTCP socket pairs kept open once their call's media stops, for later
    /// calls to reuse instead of binding their own (0: none, each pair is closed). Each
    /// pooled pair holds two descriptors, two slots and, with a port range, its ports.
    pub rtp_pool_pairs: usize,
    /// How long a released pair waits before a new call gets it, so that RTP still
    /// coming from the ended call's peer is discarded rather than taken for the new
    /// call's (its peer stops once a BYE has crossed, a retransmitted one included).
    pub rtp_pool_quarantine: Duration,
}

impl Default for DriverLimits {
    fn default() -> DriverLimits {
        DriverLimits {
            max_message_bytes: 65_535,
            max_tcp_connections: 256,
            tcp_idle_timeout: super::DEFAULT_IDLE_TIMEOUT,
            max_tcp_send_queue_bytes: 1 << 20,
            max_retry_datagrams: 1024,
            max_retry_bytes: 4 << 20,
            reads_per_wakeup: 64,
            socket_buffer_bytes: 4 << 20,
            rtp_pool_pairs: 0,
            rtp_pool_quarantine: Duration::from_secs(2),
        }
    }
}
