//! The runtime core's counters, published through the [`metrics`] facade, so that any
//! recorder the application installs (Prometheus, StatsD, …) sees them.
//!
//! The endpoint keeps plain counters and knows nothing of this (it stays sans-IO); the
//! runtime core copies them into the facade on a schedule, as absolute values, and
//! counts calls by outcome from the session events as they pass. Publishing is off until
//! [`Core::publish_metrics`](crate::Core::publish_metrics) turns it on; a process with
//! several endpoints publishes their sum only if it sums them itself (each endpoint
//! overwrites the same series).
//!
//! | series | kind | from |
//! | --- | --- | --- |
//! | `session_core_calls_incoming_total` | counter | `SessionEvent::IncomingCall` |
//! | `session_core_calls_answered_total` | counter | `SessionEvent::Answered` |
//! | `session_core_calls_ended_total{reason}` | counter | `SessionEvent::Terminated` |
//! | `session_core_sessions_created_total` | counter | `EndpointStats` |
//! | `session_core_sessions` | gauge | sessions alive now |
//! | `session_core_transactions`, `session_core_dialogs` | gauge | alive now, ended ones still absorbing retransmissions included |
//! | `session_core_transactions_total{side}` | counter | `TransactionStats` |
//! | `session_core_retransmissions_sent_total`, `…_received_total` | counter | `TransactionStats` |
//! | `session_core_transaction_timeouts_total` | counter | `TransactionStats` |
//! | `session_core_malformed_total{handling="dropped"\|"answered"}` | counter | `EndpointStats` |
//! | `session_core_stray_responses_total`, `…_overload_rejections_total` | counter | `EndpointStats` |
//! | `session_core_refusals_total{cause="sessions"\|"transactions"\|"pending_incoming"\|"output_queue"\|"draining"}` | counter | `EndpointStats`: each 503 by its cause |
//! | `session_core_ended_early_total{what="transactions"\|"lingering_sessions"}` | counter | `TransactionStats`, `EndpointStats`: quiet transactions and ended sessions let go before their timer, at a limit, to take new work |
//! | `session_core_queue_drops_total{queue}` | counter | `EndpointStats`, `DriverStats` |
//! | `session_core_datagrams_total{direction}`, `session_core_rtp_packets_total{direction}` | counter | `DriverStats` |
//! | `session_core_tcp_connections_total{event}` | counter | `DriverStats` |
//! | `session_core_rtp_sockets`, `session_core_tcp_connections` | gauge | open now |

use std::time::Duration;

use metrics::{counter, gauge};
use session_core::driver::DriverStats;
use session_core::endpoint::EndReason;
use session_core::{Endpoint, Instant, SessionEvent};

/// How often the counters are copied into the facade unless told otherwise.
pub const DEFAULT_PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// The short, stable name of why a call ended: the `reason` label, and what `sessionctl`
/// prints.
pub fn end_reason_name(reason: &EndReason) -> &'static str {
    use session_core::endpoint::Side;
    match reason {
        EndReason::HungUp { by: Side::Local } => "hangup_local",
        EndReason::HungUp { by: Side::Remote } => "hangup_remote",
        EndReason::Cancelled { .. } => "cancelled",
        EndReason::Rejected { .. } => "rejected",
        EndReason::Timeout => "timeout",
        EndReason::ByeTimedOut => "bye_timeout",
        EndReason::TransportError => "transport_error",
        EndReason::MediaTimeout => "media_timeout",
        EndReason::MediaFailed => "media_failed",
        EndReason::NotAcceptable => "not_acceptable",
        EndReason::Expired => "expired",
        EndReason::SessionExpired => "session_expired",
        EndReason::DialogGone => "dialog_gone",
        EndReason::AuthFailed { .. } => "auth_failed",
        EndReason::Unresolvable { .. } => "unresolvable",
        EndReason::Shutdown => "shutdown",
        EndReason::MovedAway => "moved_away",
        EndReason::Unregistered => "unregistered",
        EndReason::Replaced { .. } => "replaced",
        _ => "other",
    }
}

/// When the counters are next copied, and how often.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Schedule {
    every: Duration,
    next: Instant,
}

impl Schedule {
    /// Publishing every `every` (at least a millisecond), the first time at once.
    pub(crate) fn new(every: Duration) -> Schedule {
        Schedule {
            every: every.max(Duration::from_millis(1)),
            next: Instant::ZERO,
        }
    }

    /// When the next publication is due.
    pub(crate) fn next(&self) -> Instant {
        self.next
    }

    /// Whether a publication is due at `now`; if so, the one after is scheduled.
    pub(crate) fn due(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        self.next = Instant::from_micros(now.as_micros() + self.every.as_micros() as u64);
        true
    }
}

/// Counts a call event as it passes to the application.
pub(crate) fn count_event(event: &SessionEvent) {
    match event {
        SessionEvent::IncomingCall { .. } => {
            counter!("session_core_calls_incoming_total").increment(1)
        }
        SessionEvent::Answered { .. } => counter!("session_core_calls_answered_total").increment(1),
        SessionEvent::Terminated { reason, .. } => {
            counter!("session_core_calls_ended_total", "reason" => end_reason_name(reason))
                .increment(1);
        }
        _ => {}
    }
}

/// What the core has open now, besides the endpoint's sessions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Open {
    pub(crate) rtp_sockets: usize,
    pub(crate) tcp_connections: usize,
}

/// Copies the endpoint's and the driver's counters into the facade.
pub(crate) fn publish(endpoint: &Endpoint, driver: &DriverStats, open: Open) {
    let ep = endpoint.stats();
    let tx = endpoint.transaction_stats();
    counter!("session_core_sessions_created_total").absolute(ep.sessions_created);
    gauge!("session_core_sessions").set(endpoint.sessions().count() as f64);
    gauge!("session_core_transactions").set(endpoint.transaction_count() as f64);
    gauge!("session_core_dialogs").set(endpoint.dialog_count() as f64);
    counter!("session_core_transactions_total", "side" => "client").absolute(tx.client_started);
    counter!("session_core_transactions_total", "side" => "server").absolute(tx.server_started);
    counter!("session_core_retransmissions_sent_total").absolute(tx.retransmissions_sent);
    counter!("session_core_retransmissions_received_total").absolute(tx.retransmissions_received);
    counter!("session_core_transaction_timeouts_total").absolute(tx.timeouts);
    counter!("session_core_malformed_total", "handling" => "dropped")
        .absolute(ep.malformed_dropped);
    counter!("session_core_malformed_total", "handling" => "answered")
        .absolute(ep.malformed_answered);
    counter!("session_core_stray_responses_total").absolute(ep.stray_responses);
    counter!("session_core_overload_rejections_total").absolute(ep.overload_rejections);
    for (cause, n) in [
        ("sessions", ep.refused_session_limit),
        ("transactions", ep.refused_transaction_limit),
        ("pending_incoming", ep.refused_pending_limit),
        ("output_queue", ep.refused_output_queue_full),
        ("draining", ep.refused_draining),
    ] {
        counter!("session_core_refusals_total", "cause" => cause).absolute(n);
    }
    counter!("session_core_ended_early_total", "what" => "transactions").absolute(tx.ended_early);
    counter!("session_core_ended_early_total", "what" => "lingering_sessions")
        .absolute(ep.lingering_ended_early);
    counter!("session_core_queue_drops_total", "queue" => "rtp_output")
        .absolute(ep.rtp_dropped_queue_full);
    counter!("session_core_queue_drops_total", "queue" => "datagram_retry")
        .absolute(driver.datagrams_dropped);
    counter!("session_core_queue_drops_total", "queue" => "events").absolute(driver.events_dropped);
    counter!("session_core_datagrams_total", "direction" => "received")
        .absolute(driver.datagrams_received);
    counter!("session_core_datagrams_total", "direction" => "sent").absolute(driver.datagrams_sent);
    counter!("session_core_rtp_packets_total", "direction" => "received")
        .absolute(driver.rtp_packets_received);
    counter!("session_core_rtp_packets_total", "direction" => "sent")
        .absolute(driver.rtp_packets_sent);
    for (event, n) in [
        ("accepted", driver.connections_accepted),
        ("opened", driver.connections_opened),
        ("refused", driver.connections_refused),
        ("closed_idle", driver.connections_closed_idle),
        ("evicted", driver.connections_evicted),
    ] {
        counter!("session_core_tcp_connections_total", "event" => event).absolute(n);
    }
    gauge!("session_core_rtp_sockets").set(open.rtp_sockets as f64);
    gauge!("session_core_tcp_connections").set(open.tcp_connections as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_due_at_once_then_every_interval() {
        let mut s = Schedule::new(Duration::from_secs(1));
        assert!(s.due(Instant::from_millis(100)));
        assert!(!s.due(Instant::from_millis(1_099)));
        assert_eq!(s.next(), Instant::from_millis(1_100));
        assert!(s.due(Instant::from_millis(1_100)));
    }
}
