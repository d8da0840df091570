//! What the endpoint counts of what it dropped or refused.

/// Counters of what the endpoint dropped or refused, for operators and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Datagrams that were not SIP (or RTP for a session) and could not be answered.
    pub malformed_dropped: u64,
    /// Malformed requests answered with 400 (or 505), an in-dialog request that lost its
    /// To tag among them.
    pub malformed_answered: u64,
    /// Responses that matched no transaction and no dialog.
    pub stray_responses: u64,
    /// RTP datagrams dropped because the output queue was full.
    pub rtp_dropped_queue_full: u64,
    /// Requests refused with 503 because a limit was reached: the sum of the five
    /// `refused_*` counters below.
    pub overload_rejections: u64,
    /// New INVITEs refused with 503 at [`Config::max_sessions`](crate::Config::max_sessions).
    pub refused_session_limit: u64,
    /// Requests refused with a stateless 503 at
    /// [`Config::max_transactions`](crate::Config::max_transactions).
    pub refused_transaction_limit: u64,
    /// New INVITEs refused with 503 at
    /// [`Config::max_pending_incoming`](crate::Config::max_pending_incoming).
    pub refused_pending_limit: u64,
    /// New INVITEs refused with 503 because the output queue held
    /// [`Config::max_queued_outputs`](crate::Config::max_queued_outputs), or the driver's
    /// send queue was backed up
    /// ([`Endpoint::set_send_backlogged`](crate::Endpoint::set_send_backlogged)).
    pub refused_output_queue_full: u64,
    /// New INVITEs (and OPTIONS) answered 503 while draining
    /// ([`Endpoint::drain`](crate::Endpoint::drain)); not an overload, so not in
    /// `overload_rejections`.
    pub refused_draining: u64,
    /// Sessions created so far.
    pub sessions_created: u64,
    /// Ended sessions whose linger was cut short to make room for a new call at
    /// [`Config::max_sessions`](crate::Config::max_sessions).
    pub lingering_ended_early: u64,
}
