//! What the endpoint counts of what it dropped or refused.

/// Counters of what the endpoint dropped or refused, for operators and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Datagrams that were not SIP (or RTP for a session) and could not be answered.
    pub malformed_dropped: u64,
    /// Malformed requests answered with 400 (or 505).
    pub malformed_answered: u64,
    /// Responses that matched no transaction and no dialog.
    pub stray_responses: u64,
    /// RTP datagrams dropped because the output queue was full.
    pub rtp_dropped_queue_full: u64,
    /// Requests refused with 503 because a limit was reached.
    pub overload_rejections: u64,
    /// Sessions created so far.
    pub sessions_created: u64,
}
