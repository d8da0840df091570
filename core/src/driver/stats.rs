//! What a runtime counts about its IO, in one shape for both runtimes.

/// Counters a runtime keeps. Plain numbers for logs, tests and load reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// UDP datagrams received (SIP and RTP).
    pub datagrams_received: u64,
    /// UDP datagrams sent (SIP and RTP).
    pub datagrams_sent: u64,
    /// RTP (and RTCP) datagrams received on calls' RTP sockets, of `datagrams_received`.
    pub rtp_packets_received: u64,
    /// RTP (and RTCP) datagrams sent from calls' RTP sockets, of `datagrams_sent`.
    pub rtp_packets_sent: u64,
    /// Datagrams a socket refused with `WouldBlock` and the runtime queued for retry.
    pub datagrams_deferred: u64,
    /// Datagrams dropped: retry queue full, no socket at the source address, an
    /// unsupported transport, or a send error.
    pub datagrams_dropped: u64,
    /// SIP messages framed out of TCP streams.
    pub stream_messages_received: u64,
    /// TCP connections accepted.
    pub connections_accepted: u64,
    /// TCP connections opened towards peers.
    pub connections_opened: u64,
    /// TCP connections refused or closed for exceeding a limit or breaking framing.
    pub connections_refused: u64,
    /// TCP connections closed after the idle timeout without traffic.
    pub connections_closed_idle: u64,
    /// TCP connections closed, longest idle first (never one a call goes by), to make
    /// room at the connection limit.
    pub connections_evicted: u64,
    /// Session events dropped because the application did not drain them.
    pub events_dropped: u64,
    /// Calls given a pooled RTP/RTCP socket pair instead of a newly bound one
    /// (`DriverLimits::rtp_pool_pairs`).
    pub rtp_sockets_reused: u64,
    /// Datagrams that reached a pooled RTP or RTCP socket between two calls, discarded
    /// (late RTP or RTCP of the ended call, never given to the next one).
    pub rtp_stale_dropped: u64,
}
