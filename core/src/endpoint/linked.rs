//! Sessions that act on one another, carried out after the step that links them: the
//! call a REFER asks for is placed, and its progress goes back to the session the REFER
//! came in on, which reports it by NOTIFY (RFC 3515 §2.4.4); a call that replaces
//! another ends it once it is answered (RFC 3891 §3); what one leg of a bridge reports
//! is done on the other. The links live in the session
//! store; the work waits here, in order, because a step cannot reach another session.

use std::collections::VecDeque;

use crate::call::{EndReason, ReferTarget, SessionEvent, SessionId};

/// Work one session's step left for others.
#[derive(Debug)]
pub(super) enum Linked {
    /// Place the call `referred_by`'s REFER asks for, as `session`.
    Place {
        session: SessionId,
        referred_by: SessionId,
        target: ReferTarget,
    },
    /// Tell `to`, whose REFER placed a call, that call's latest status.
    Report { to: SessionId, status: u16 },
    /// End `session`: the call `by` replaced it.
    EndReplaced { session: SessionId, by: SessionId },
    /// Do on bridged leg `to` what its other leg `from` reported.
    Relay {
        from: SessionId,
        to: SessionId,
        what: super::bridge::Relayed,
    },
}

/// The work waiting, in the order it was left.
pub(super) type Queue = VecDeque<Linked>;

/// The status a REFER's subscription reports for a call that ended without a final
/// response of its own to report (RFC 3515 §2.4.5 wants a final status): its INVITE's
/// final status when it had one, else what its end amounts to.
pub(super) fn final_status(event: &SessionEvent) -> Option<u16> {
    let SessionEvent::Terminated { reason, status, .. } = event else {
        return None;
    };
    if let Some(status) = status.filter(|s| *s >= 200) {
        return Some(status);
    }
    Some(match reason {
        EndReason::Rejected { status, .. } => *status,
        EndReason::Timeout => 408,
        EndReason::Cancelled { .. } => 487,
        EndReason::TransportError | EndReason::Unresolvable { .. } | EndReason::Shutdown => 503,
        _ => 500,
    })
}
