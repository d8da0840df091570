//! Sessions and the indexes that find them.
//!
//! A [`Session`] is one call leg: its state-machine state (current state, conditions,
//! history) and its [`Call`] data — SIP identity, dialog, pending transactions, SDP
//! offer/answer state, the RTP session. The store owns them by [`SessionId`] in a
//! `BTreeMap` (deterministic iteration) and keeps the indexes the event router needs:
//! by dialog and by RTP socket address.

mod call;

pub use call::SessionInfo;
pub(crate) use call::{Call, IncomingRequest, OutgoingRequest, Retransmit2xx, SdpPhase};

use std::collections::BTreeMap;
use std::net::SocketAddr;

use smallvec::SmallVec;

use crate::dialog::DialogIdRef;
use crate::endpoint::SessionId;
use crate::state_machine::SessionState;
use crate::state_table::CompiledTable;

/// One call leg: its machine state and its call data.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) machine: SessionState,
    pub(crate) call: Call,
}

/// All sessions of an endpoint and their indexes.
#[derive(Debug, Default)]
pub(crate) struct SessionStore {
    /// Boxed: a B-tree node holds eleven values inline, so unboxed sessions (a few KiB
    /// each) would cost a node's slack per session.
    sessions: BTreeMap<SessionId, Box<Session>>,
    /// A fixed hash of (Call-ID, our tag) → sessions; a hit is confirmed against the
    /// session's own Call-ID and tags, so the index keeps no copy of any string. The
    /// peer's tag is not hashed: a UAC learns it only later, from a response.
    by_dialog: BTreeMap<u64, SmallVec<[SessionId; 1]>>,
    by_rtp: BTreeMap<SocketAddr, SessionId>,
    next_id: u64,
}

impl SessionStore {
    /// Allocates the next id (ids are never reused).
    pub(crate) fn next_id(&mut self) -> SessionId {
        self.next_id += 1;
        SessionId(self.next_id)
    }

    pub(crate) fn insert(&mut self, id: SessionId, session: Session) {
        self.by_dialog
            .entry(dialog_key(&session.call.call_id, &session.call.local_tag))
            .or_default()
            .push(id);
        self.sessions.insert(id, Box::new(session));
    }

    pub(crate) fn get(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(&id).map(|s| &**s)
    }

    pub(crate) fn get_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.sessions.get_mut(&id).map(|s| &mut **s)
    }

    /// The session whose dialog id is (Call-ID, our tag, the peer's tag): how an
    /// in-dialog request finds its dialog (RFC 3261 §12.2.2). The peer's tag must match
    /// too, so whoever knows only the Call-ID and our tag reaches no dialog; and on the
    /// UAC side, early dialogs forked from one INVITE share Call-ID and our tag and differ
    /// only there.
    pub(crate) fn by_dialog(&self, id: &DialogIdRef<'_>) -> Option<SessionId> {
        self.by_local_tag(id.call_id, id.local_tag).find(|sid| {
            self.sessions
                .get(sid)
                .and_then(|s| s.call.dialog.as_ref())
                .is_some_and(|d| d.id().remote_tag == id.remote_tag)
        })
    }

    /// The session that sent a request with this Call-ID and our tag (its From tag),
    /// whichever dialog the response to it belongs to: responses are matched to a
    /// request, and a 2xx from a fork we have not seen must still reach its session.
    pub(crate) fn by_request(&self, call_id: &str, local_tag: &str) -> Option<SessionId> {
        self.by_local_tag(call_id, local_tag).next()
    }

    fn by_local_tag<'a>(
        &'a self,
        call_id: &'a str,
        local_tag: &'a str,
    ) -> impl Iterator<Item = SessionId> + 'a {
        self.by_dialog
            .get(&dialog_key(call_id, local_tag))
            .into_iter()
            .flatten()
            .copied()
            .filter(move |id| {
                self.sessions
                    .get(id)
                    .is_some_and(|s| s.call.call_id == call_id && s.call.local_tag == local_tag)
            })
    }

    /// The session whose RTP socket is `local`.
    pub(crate) fn by_rtp(&self, local: SocketAddr) -> Option<SessionId> {
        self.by_rtp.get(&local).copied()
    }

    pub(crate) fn index_rtp(&mut self, local: SocketAddr, id: SessionId) {
        self.by_rtp.insert(local, id);
    }

    /// Forgets a session and its index entries.
    pub(crate) fn remove(&mut self, id: SessionId) -> Option<Box<Session>> {
        let session = self.sessions.remove(&id)?;
        let key = dialog_key(&session.call.call_id, &session.call.local_tag);
        if let Some(entries) = self.by_dialog.get_mut(&key) {
            entries.retain(|sid| *sid != id);
            if entries.is_empty() {
                self.by_dialog.remove(&key);
            }
        }
        if let Some(rtp) = session.call.local_rtp {
            self.by_rtp.remove(&rtp);
        }
        Some(session)
    }

    pub(crate) fn len(&self) -> usize {
        self.sessions.len()
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.sessions.keys().copied()
    }

    /// A read-only summary of every session, in id order.
    pub(crate) fn infos<'a>(
        &'a self,
        table: &'a CompiledTable,
    ) -> impl Iterator<Item = SessionInfo<'a>> + 'a {
        self.sessions
            .iter()
            .map(move |(&id, s)| SessionInfo::new(id, s, table))
    }
}

/// FNV-1a over the Call-ID, a separator and the tag: fixed (no per-process seed), so the
/// index's order — which reaches no output anyway — is the same on every run.
fn dialog_key(call_id: &str, local_tag: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in call_id
        .as_bytes()
        .iter()
        .chain(b"\0")
        .chain(local_tag.as_bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
