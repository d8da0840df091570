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
//! 3. [`Config::max_sessions`](crate::Config), once no ended session lingering (its
//!    `Linger` timer running, to absorb the call's late messages) is left to make room:
//!    the one that has lingered longest has its linger cut short first. An ended call is
//!    not a reason to refuse a new one: at 2,000 calls a second, the default table's
//!    5 s linger alone would hold the default limit's 10,000 sessions;
//! 4. [`Config::max_pending_incoming`](crate::Config): incoming calls ringing, not yet
//!    answered finally.
//!
//! The transaction limit is checked before any of these, when the request arrives: with
//! no transaction to hold it, that 503 is sent statelessly.

use std::collections::BTreeSet;

use super::timers::TimerQueue;
use super::Endpoint;
use crate::call::{SessionId, SessionTimer};
use crate::filed::Filed;
use crate::state_table::TimerName;
use crate::time::Instant;

/// The `Linger` timer, whose expiry releases an ended session.
const LINGER: SessionTimer = SessionTimer::Table(TimerName::Linger);

/// Sessions in the order their `Linger` timer was started.
#[derive(Debug)]
pub(super) struct Lingering {
    sessions: Filed<SessionId>,
}

impl Default for Lingering {
    fn default() -> Self {
        Lingering {
            sessions: Filed::new(),
        }
    }
}

impl Lingering {
    /// Notes that `id` started lingering (its timer is in `timers`).
    pub(super) fn insert(
        &mut self,
        id: SessionId,
        live_sessions: usize,
        timers: &TimerQueue<(SessionId, SessionTimer)>,
    ) {
        self.sessions
            .push(id, live_sessions, |id| is_lingering(timers, id));
    }

    pub(super) fn shrink_to_fit(&mut self) {
        self.sessions.shrink_to_fit();
    }
}

/// Whether session `id`'s `Linger` timer is running.
fn is_lingering(timers: &TimerQueue<(SessionId, SessionTimer)>, id: SessionId) -> bool {
    timers.deadlines_of([(id, LINGER)]).next().is_some()
}

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
pub(super) fn refuse_new_session(ep: &mut Endpoint, now: Instant) -> Option<Refusal> {
    let refusal = if ep.drain.is_some() {
        Refusal::Draining
    } else if ep.send_backlogged || ep.outputs.len() >= ep.config.max_queued_outputs {
        Refusal::OutputQueueFull
    } else if !room_for_a_session(ep, now) {
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

/// Whether a session can be added under `max_sessions` (calls waiting for a name to
/// resolve count as sessions), after cutting short the linger of ended sessions, the
/// longest lingering first, as their `Linger` timer firing now would (what the table
/// does then is what releases them).
pub(super) fn room_for_a_session(ep: &mut Endpoint, now: Instant) -> bool {
    while ep.sessions.len() + ep.resolving.len() >= ep.config.max_sessions {
        let timers = &ep.timers;
        let Some(id) = ep
            .lingering
            .sessions
            .pop_oldest(|id| is_lingering(timers, id))
        else {
            return false;
        };
        ep.timers.cancel((id, LINGER));
        ep.stats.lingering_ended_early += 1;
        ep.step(now, id, |s, step| s.on_timer(LINGER, step));
        ep.after_step(now);
    }
    true
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
