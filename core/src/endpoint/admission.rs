//! Admission control: whether a new INVITE is taken on or refused with 503 and
//! `Retry-After` (RFC 3261 §21.5.4), as Kamailio's and Asterisk's overload handling
//! does it. Only requests that would create a session are refused here: requests inside
//! a dialog (BYE, re-INVITE, ACK, UPDATE, INFO …) are always served, so an established
//! call is never dropped because new ones arrive.
//!
//! The limits, checked in this order (the first that applies is counted):
//!
//! 1. draining ([`Endpoint::drain`]): new calls are refused for the grace period, so a
//!    proxy moves them to another server (§16.7: a 503 makes it try the next one);
//! 2. the output queue at [`Config::max_queued_outputs`](crate::Config), or the driver's
//!    send queue backed up ([`Endpoint::set_send_backlogged`]): the outputs are not
//!    leaving, and taking on more work would only grow the queue;
//! 3. [`Config::max_sessions`](crate::Config);
//! 4. [`Config::max_pending_incoming`](crate::Config): incoming calls ringing, not yet
//!    answered finally.
//!
//! The transaction limit is checked before any of these, when the request arrives: with
//! no transaction to hold it, that 503 is sent statelessly.

use std::collections::BTreeSet;

use super::Endpoint;
use crate::call::SessionId;

/// Why a new INVITE is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    Draining,
    OutputQueueFull,
    SessionLimit,
    PendingLimit,
}

/// The incoming calls that may still be ringing: every UAS session created since the
/// set was last pruned. Pruned of answered and ended calls only when it looks full, so a
/// new INVITE costs a set insertion, not a scan of every session; its size never exceeds
/// the limit.
#[derive(Debug, Default)]
pub(super) struct PendingIncoming {
    sessions: BTreeSet<SessionId>,
}

impl PendingIncoming {
    /// Notes a new incoming call.
    pub(super) fn insert(&mut self, id: SessionId) {
        self.sessions.insert(id);
    }

    /// Forgets a session that is gone. Answered calls are pruned only when the set is
    /// full, but one that is gone must not stay: after a burst the set would keep up to
    /// `max_pending_incoming` stale ids for as long as the endpoint runs.
    pub(super) fn remove(&mut self, id: SessionId) {
        self.sessions.remove(&id);
    }
}

/// The reason a new INVITE is refused now, if any; counts it.
pub(super) fn refuse_new_session(ep: &mut Endpoint) -> Option<Refusal> {
    let refusal = if ep.drain.is_some() {
        Refusal::Draining
    } else if ep.send_backlogged || ep.outputs.len() >= ep.config.max_queued_outputs {
        Refusal::OutputQueueFull
    } else if ep.sessions.len() >= ep.config.max_sessions {
        Refusal::SessionLimit
    } else if pending_full(ep) {
        Refusal::PendingLimit
    } else {
        return None;
    };
    let stats = &mut ep.stats;
    match refusal {
        Refusal::Draining => stats.refused_draining += 1,
        Refusal::OutputQueueFull => stats.refused_output_queue_full += 1,
        Refusal::SessionLimit => stats.refused_session_limit += 1,
        Refusal::PendingLimit => stats.refused_pending_limit += 1,
    }
    if refusal != Refusal::Draining {
        stats.overload_rejections += 1;
    }
    tracing::debug!(?refusal, "new INVITE refused with 503");
    Some(refusal)
}

/// Whether `max_pending_incoming` calls ring now; prunes the set first when it is full.
fn pending_full(ep: &mut Endpoint) -> bool {
    let max = ep.config.max_pending_incoming;
    if ep.pending_incoming.sessions.len() < max {
        return false;
    }
    let sessions = &ep.sessions;
    ep.pending_incoming.sessions.retain(|&id| {
        sessions
            .get(id)
            .is_some_and(|s| s.call.invite.incoming.is_some())
    });
    ep.pending_incoming.sessions.len() >= max
}
