//! Moving a confirmed call between endpoints of the same configuration: a snapshot of
//! it here ([`Endpoint::snapshot`]), and the call going on there ([`Endpoint::restore`]).
//! What a snapshot carries and what it does not is said in
//! [`SessionSnapshot`]'s module; what the restored call does first (open an RTP socket,
//! then re-INVITE the peer with our Contact and media address) in the relocation
//! re-INVITE's (`call::relocation`).
//!
//! A runtime that keeps calls alive across machines snapshots every call that can be
//! taken (a call in the middle of an exchange says [`NotMovable`] and is taken again
//! later) and stores the snapshots elsewhere; when a machine dies, another restores
//! them. In-dialog requests must then reach the new owner: a proxy that Record-Routes
//! the dialog and routes to a live instance does it at once; without one, the re-INVITE's
//! Contact does it as soon as the peer accepts it. An endpoint that learns its call was
//! taken over while it still had it (it was thought dead) lets it go without a word
//! ([`Endpoint::release`]): a BYE or a refresh from it would reach the peer along the
//! route set and end or confuse the call the new owner now holds.

use super::{CommandError, Endpoint, Output, SessionId};
use crate::call::{EndReason, MediaRequest, SessionEvent, SessionTimer};
use crate::dialog::DialogIdRef;
use crate::session_store::snapshot::{self, Restored, Surroundings};
use crate::session_store::{NotMovable, RestoreError, SessionSnapshot, SnapshotError};
use crate::time::Instant;

impl Endpoint {
    /// A snapshot of call `session` as it stands at `now`, to restore on another
    /// endpoint of the same configuration; an error when there is no such session or when
    /// it cannot be moved now (not answered, ending, or in the middle of an exchange:
    /// [`NotMovable`] says which, and a later snapshot may succeed).
    pub fn snapshot(
        &self,
        now: Instant,
        session: SessionId,
    ) -> Result<SessionSnapshot, SnapshotError> {
        let s = self
            .sessions
            .get(session)
            .ok_or(SnapshotError::UnknownSession(session))?;
        let bridged_with = self
            .sessions
            .bridged_with(session)
            .and_then(|b| self.sessions.get(b))
            .and_then(|b| b.call.dialog.as_ref())
            .map(|d| d.id().clone());
        let timers = self
            .timers
            .deadlines_of(SessionTimer::all().map(|timer| (session, timer)))
            .map(|((_, timer), at)| (timer, at))
            .collect();
        let at = Surroundings {
            table: &self.table,
            now,
            timers,
            bridged_with,
        };
        snapshot::take(s, at).map_err(|why: NotMovable| SnapshotError::NotMovable {
            session,
            state: self.table.state(s.machine.state()).name.to_string(),
            why,
        })
    }

    /// Goes on with the call `snapshot` describes, as a new session of this endpoint:
    /// its timers run again (each as far ahead as when the snapshot was taken), it is
    /// bridged again to its other leg when that leg was restored here already, and it
    /// asks the driver for an RTP socket (`MediaRequest::Open`). Once the socket is
    /// ready the session re-INVITEs the peer with this endpoint's Contact and media
    /// address; until the peer accepts, an offer of the peer's is answered 491 (ours is
    /// outstanding). Nothing is sent before the socket is ready.
    pub fn restore(
        &mut self,
        now: Instant,
        snapshot: SessionSnapshot,
    ) -> Result<SessionId, RestoreError> {
        if self.drain.is_some() {
            return Err(RestoreError::Draining);
        }
        if !super::admission::room_for_a_session(self, now) {
            return Err(RestoreError::TooManySessions);
        }
        let dialog = &snapshot.dialog;
        let here = DialogIdRef {
            call_id: &dialog.call_id,
            local_tag: &dialog.local_tag,
            remote_tag: &dialog.remote_tag,
        };
        if self.sessions.by_dialog(&here).is_some() {
            let id = crate::dialog::DialogId {
                call_id: dialog.call_id.as_str().into(),
                local_tag: dialog.local_tag.as_str().into(),
                remote_tag: dialog.remote_tag.clone(),
            };
            return Err(RestoreError::DialogInUse(id));
        }
        let bridged_with = snapshot.bridged_with.clone();
        let Restored { session, timers } = snapshot::rebuild(snapshot, &self.table, now)?;
        let id = self.ids.next();
        let _span = session.span(id).entered();
        tracing::debug!(%id, "restored from a snapshot");
        self.sessions.insert(id, session);
        self.stats.sessions_created += 1;
        for (timer, at) in timers {
            self.timers.set((id, timer), at);
        }
        let other = bridged_with.and_then(|b| {
            let other = self.sessions.by_dialog(&DialogIdRef {
                call_id: &b.call_id,
                local_tag: &b.local_tag,
                remote_tag: &b.remote_tag,
            })?;
            self.sessions.bridged_with(other).is_none().then_some(other)
        });
        if let Some(other) = other {
            self.sessions.bridge(id, other);
        }
        self.outputs
            .push_back(super::Output::Media(MediaRequest::Open { session: id }));
        Ok(id)
    }

    /// Forgets call `session`, which another endpoint has taken over, without a word to
    /// its peer: its RTP socket goes back to the runtime, its timers stop, its bridge is
    /// undone without touching the other leg (which relays nothing from now on), and it
    /// ends with [`EndReason::MovedAway`]. Transactions it had under way run out on
    /// their own, their outcome going to no session.
    pub fn release(&mut self, session: SessionId) -> Result<(), CommandError> {
        let s = self
            .sessions
            .get_mut(session)
            .ok_or(CommandError::UnknownSession(session))?;
        let media = &mut s.call.media;
        if let Some(local_rtp) = media.local_rtp.filter(|_| !media.released) {
            media.released = true;
            self.outputs
                .push_back(Output::Media(MediaRequest::Close { session, local_rtp }));
        }
        self.sessions.unbridge(session);
        self.sessions.unlink(session);
        self.sessions.remove(session);
        self.pending_incoming.remove(session);
        self.timers
            .cancel_all(SessionTimer::all().map(|timer| (session, timer)));
        tracing::debug!(%session, "released: the call lives elsewhere now");
        self.outputs
            .push_back(Output::Event(SessionEvent::Terminated {
                session,
                reason: EndReason::MovedAway,
                status: None,
            }));
        Ok(())
    }
}
