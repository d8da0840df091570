//! Graceful drain: the endpoint stops taking new calls, lets the calls it has finish for
//! a grace period, then ends the rest ([`Endpoint::shutdown`]).
//!
//! While draining, a new INVITE is answered 503 with `Retry-After` (RFC 3261 §21.5.4),
//! and so is an OPTIONS outside a dialog: §11.2 has OPTIONS answered as an INVITE would
//! be, and that is what lets a proxy's health check (Kamailio `dispatcher` probing)
//! take this server out of rotation. A proxy that receives the 503 tries the next
//! server (§16.7). Requests inside dialogs keep being served, so a call in progress can
//! end by its own BYE, be held, resumed or refreshed. Registrations are removed at once
//! (REGISTER with `Expires: 0`, §10.2.2), so a registrar stops routing calls here.
//! When the grace period ends, every call still up is ended: BYE once answered, CANCEL
//! for our own call still ringing, 503 for an incoming call still ringing (its caller's
//! proxy can retry elsewhere, §16.7).

use crate::time::Instant;

/// A drain under way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Drain {
    /// When the calls still up are ended.
    pub(super) deadline: Instant,
    /// Whether that has happened (the shutdown ran).
    pub(super) ended: bool,
}

impl Drain {
    /// A drain whose grace period ends at `deadline`.
    pub(super) fn until(deadline: Instant) -> Drain {
        Drain {
            deadline,
            ended: false,
        }
    }

    /// When the endpoint needs `handle_timeout` for this drain.
    pub(super) fn timeout(&self) -> Option<Instant> {
        (!self.ended).then_some(self.deadline)
    }

    /// Whether the grace period is over at `now` and the shutdown has yet to run; marks
    /// it run.
    pub(super) fn due(&mut self, now: Instant) -> bool {
        if self.ended || now < self.deadline {
            return false;
        }
        self.ended = true;
        true
    }
}
