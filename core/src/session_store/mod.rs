//! Sessions and the indexes that find them.
//!
//! A [`Session`] is one call leg as a value: its state-machine state (current state,
//! conditions, history) and its call data (SIP identity, dialog, pending transactions,
//! SDP offer/answer state, the RTP session), with the inputs it takes and the effects it
//! yields. The store owns sessions by [`SessionId`] in a `BTreeMap` (deterministic
//! iteration) and keeps the indexes the endpoint's router needs: by dialog, by the
//! request that created a UAS session, and by RTP socket address; and the links between
//! sessions that act on one another (a call placed for a REFER, a call that replaces
//! another, the two legs of a bridge).
//!
//! The indexes are hash maps: every datagram is routed through one or two of them, and a
//! probe costs less than a search of a tree holding every call. Nothing iterates them, so
//! their order never reaches an output; their hasher is seeded from the endpoint's seed,
//! so the same seed gives the same maps, and a peer who does not know it cannot choose
//! Call-IDs that all land in one bucket.
#![expect(
    clippy::disallowed_types,
    reason = "the indexes' hasher is seeded from the endpoint's seed and nothing iterates them"
)]

mod inbound;
mod info;
mod session;
pub(crate) mod snapshot;

pub use info::SessionInfo;
pub(crate) use session::{Fed, Session};
pub use snapshot::{
    Contradiction, NegotiatedMedia, NotMovable, RestoreError, SessionSnapshot,
    SessionTimerSnapshot, SnapshotError, TimerSnapshot, SNAPSHOT_VERSION,
};

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use foldhash::fast::FixedState;
use smallvec::SmallVec;

use crate::call::SessionId;
use crate::dialog::DialogIdRef;
use crate::state_table::CompiledTable;

/// What names the request that created a UAS session, once merged requests are told
/// apart (RFC 3261 §8.2.2.2): Call-ID, From tag and CSeq number, whatever path it took.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestOrigin<'a> {
    pub(crate) call_id: &'a str,
    pub(crate) from_tag: &'a str,
    pub(crate) cseq: u32,
}

/// All sessions of an endpoint and their indexes.
#[derive(Debug)]
pub(crate) struct SessionStore {
    /// Boxed: a B-tree node holds eleven values inline, so unboxed sessions (a few KiB
    /// each) would cost a node's slack per session.
    sessions: BTreeMap<SessionId, Box<Session>>,
    /// A fixed hash of (Call-ID, our tag) → sessions; a hit is confirmed against the
    /// session's own Call-ID and tags, so the index keeps no copy of any string. The
    /// peer's tag is not hashed: a UAC learns it only later, from a response.
    by_dialog: ByDigest,
    /// A fixed hash of [`RequestOrigin`] → UAS sessions; a hit is confirmed against the
    /// session's Call-ID and its origin's hash.
    by_origin: ByDigest,
    /// A fixed hash of the Call-ID → sessions: what finds the dialog a request without a
    /// To tag collides with ([`SessionStore::confirmed_dialog_from`]).
    by_call_id: ByDigest,
    /// Each call's RTP socket → its session; its RTCP socket, the port above, is found
    /// from there.
    by_rtp: HashMap<SocketAddr, SessionId, FixedState>,
    /// Each linked session's link, by the session it belongs to.
    links: BTreeMap<SessionId, Link>,
}

/// How a session stands to others.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Link {
    /// This call was placed for a REFER that session accepted: its progress goes there,
    /// as NOTIFYs (RFC 3515 §2.4.4).
    pub(crate) referred_by: Option<SessionId>,
    /// This call replaces that session's dialog, which ends once this one is answered
    /// (RFC 3891 §3).
    pub(crate) replaces: Option<SessionId>,
    /// A final status went to `referred_by` already.
    pub(crate) final_reported: bool,
    /// The other leg of a bridge (a B2BUA's two calls, or two calls an application
    /// joined): what one leg reports is relayed to it, and media is relayed between them.
    pub(crate) bridged: Option<SessionId>,
}

/// Sessions filed under a digest of strings a peer chose: a hit is confirmed against the
/// session itself.
type ByDigest = HashMap<u64, SmallVec<[SessionId; 1]>, FixedState>;

impl SessionStore {
    /// An empty store whose indexes hash with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        let hasher = || FixedState::with_seed(seed);
        SessionStore {
            sessions: BTreeMap::new(),
            by_dialog: HashMap::with_hasher(hasher()),
            by_origin: HashMap::with_hasher(hasher()),
            by_call_id: HashMap::with_hasher(hasher()),
            by_rtp: HashMap::with_hasher(hasher()),
            links: BTreeMap::new(),
        }
    }

    pub(crate) fn insert(&mut self, id: SessionId, session: Session) {
        self.by_dialog
            .entry(dialog_key(&session.call.call_id, &session.call.local_tag))
            .or_default()
            .push(id);
        self.by_call_id
            .entry(call_id_key(&session.call.call_id))
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
                    .is_some_and(|s| *s.call.call_id == *call_id && *s.call.local_tag == *local_tag)
            })
    }

    /// The session, ended or not, whose confirmed dialog has this Call-ID and whose peer's
    /// tag is `remote_tag`. A request without a To tag that names such a dialog's Call-ID
    /// and the peer's own tag as From tag is no new call: a peer never reuses its tag and
    /// the Call-ID of a dialog it established for another one (RFC 3261 §8.1.1.4), so it
    /// is an in-dialog request that lost its To tag on the way. Early dialogs do not count:
    /// a request retried after 401, 407, 422 or 3xx keeps its Call-ID and From tag, and
    /// may follow a provisional response that carried our tag.
    pub(crate) fn confirmed_dialog_from(
        &self,
        call_id: &str,
        remote_tag: &str,
    ) -> Option<SessionId> {
        self.by_call_id
            .get(&call_id_key(call_id))?
            .iter()
            .copied()
            .find(|id| {
                self.sessions.get(id).is_some_and(|s| {
                    *s.call.call_id == *call_id
                        && s.call.dialog.as_ref().is_some_and(|d| {
                            d.state() == crate::dialog::DialogState::Confirmed
                                && d.id().remote_tag == remote_tag
                        })
                })
            })
    }

    /// The session created by a request with this origin: a second request with the same
    /// origin but not in the same transaction arrived by another path (a merged request).
    pub(crate) fn by_origin(&self, origin: &RequestOrigin<'_>) -> Option<SessionId> {
        let key = origin_key(origin);
        self.by_origin.get(&key)?.iter().copied().find(|id| {
            self.sessions
                .get(id)
                .is_some_and(|s| s.origin == Some(key) && *s.call.call_id == *origin.call_id)
        })
    }

    /// Records the request that created session `id`.
    pub(crate) fn index_origin(&mut self, id: SessionId, origin: &RequestOrigin<'_>) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let key = origin_key(origin);
        session.origin = Some(key);
        self.by_origin.entry(key).or_default().push(id);
    }

    /// The session whose RTP socket, or RTCP socket (the port above it, RFC 3550 §11),
    /// is `local`. Only RTP sockets are filed: an index entry costs a held call as much
    /// as a second probe costs a datagram on the RTCP socket.
    pub(crate) fn by_rtp(&self, local: SocketAddr) -> Option<SessionId> {
        if let Some(&id) = self.by_rtp.get(&local) {
            return Some(id);
        }
        let rtp = SocketAddr::new(local.ip(), local.port().checked_sub(1)?);
        self.by_rtp.get(&rtp).copied()
    }

    pub(crate) fn index_rtp(&mut self, local: SocketAddr, id: SessionId) {
        self.by_rtp.insert(local, id);
    }

    /// Links session `id` (which may not have started yet) to others.
    pub(crate) fn link(&mut self, id: SessionId, link: Link) {
        self.links.insert(id, link);
    }

    /// Session `id`'s link, if it has one.
    pub(crate) fn link_of(&self, id: SessionId) -> Option<Link> {
        self.links.get(&id).copied()
    }

    /// Session `id`'s link, to update.
    pub(crate) fn link_mut(&mut self, id: SessionId) -> Option<&mut Link> {
        self.links.get_mut(&id)
    }

    /// Forgets session `id`'s link (a session that never started has nothing else here).
    pub(crate) fn unlink(&mut self, id: SessionId) {
        self.links.remove(&id);
    }

    /// Bridges sessions `a` and `b` (each may have other links already).
    pub(crate) fn bridge(&mut self, a: SessionId, b: SessionId) {
        self.links.entry(a).or_default().bridged = Some(b);
        self.links.entry(b).or_default().bridged = Some(a);
    }

    /// The other leg of session `id`'s bridge.
    pub(crate) fn bridged_with(&self, id: SessionId) -> Option<SessionId> {
        self.links.get(&id).and_then(|l| l.bridged)
    }

    /// Ends session `id`'s bridge, on both legs; returns the other leg.
    pub(crate) fn unbridge(&mut self, id: SessionId) -> Option<SessionId> {
        let other = self.links.get_mut(&id)?.bridged.take()?;
        if let Some(link) = self.links.get_mut(&other) {
            link.bridged = None;
        }
        Some(other)
    }

    /// Both legs of a bridge, to change both in one step (`a` ≠ `b`).
    pub(crate) fn pair_mut(
        &mut self,
        a: SessionId,
        b: SessionId,
    ) -> Option<(&mut Session, &mut Session)> {
        if a == b {
            return None;
        }
        let (low, high) = (a.min(b), a.max(b));
        let mut range = self.sessions.range_mut(low..=high);
        let first = &mut **range.next().filter(|(id, _)| **id == low)?.1;
        let last = &mut **range.next_back().filter(|(id, _)| **id == high)?.1;
        Some(if a < b { (first, last) } else { (last, first) })
    }

    /// Forgets a session, its index entries and its link (a bridge ends on both legs).
    pub(crate) fn remove(&mut self, id: SessionId) -> Option<Box<Session>> {
        self.unbridge(id);
        self.links.remove(&id);
        let session = self.sessions.remove(&id)?;
        let key = dialog_key(&session.call.call_id, &session.call.local_tag);
        unindex(&mut self.by_dialog, key, id);
        unindex(&mut self.by_call_id, call_id_key(&session.call.call_id), id);
        if let Some(key) = session.origin {
            unindex(&mut self.by_origin, key, id);
        }
        // A released port may already belong to a newer session: only our own entry goes.
        if let Some(rtp) = session.call.media.local_rtp {
            if self.by_rtp.get(&rtp) == Some(&id) {
                self.by_rtp.remove(&rtp);
            }
        }
        Some(session)
    }

    /// Gives back the room the indexes grew to in a burst (a hash map keeps its capacity
    /// as entries go).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.by_dialog.shrink_to_fit();
        self.by_origin.shrink_to_fit();
        self.by_call_id.shrink_to_fit();
        self.by_rtp.shrink_to_fit();
    }

    pub(crate) fn len(&self) -> usize {
        self.sessions.len()
    }

    /// How many sessions hold a dialog.
    pub(crate) fn dialog_count(&self) -> usize {
        self.sessions
            .values()
            .filter(|s| s.call.dialog.is_some())
            .count()
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.sessions.keys().copied()
    }

    /// Whether every session has reached a terminal state of `table`.
    pub(crate) fn all_terminal(&self, table: &CompiledTable) -> bool {
        self.sessions.values().all(|s| s.machine.is_terminal(table))
    }

    /// A read-only summary of every session, in id order.
    pub(crate) fn infos<'a>(
        &'a self,
        table: &'a CompiledTable,
    ) -> impl Iterator<Item = SessionInfo> + 'a {
        self.sessions
            .iter()
            .map(move |(&id, s)| SessionInfo::new(id, s, self.link_of(id), table))
    }
}

fn unindex(index: &mut ByDigest, key: u64, id: SessionId) {
    if let Some(entries) = index.get_mut(&key) {
        entries.retain(|sid| *sid != id);
        if entries.is_empty() {
            index.remove(&key);
        }
    }
}

fn dialog_key(call_id: &str, local_tag: &str) -> u64 {
    fnv1a(&[call_id.as_bytes(), local_tag.as_bytes()])
}

fn call_id_key(call_id: &str) -> u64 {
    fnv1a(&[call_id.as_bytes()])
}

fn origin_key(origin: &RequestOrigin<'_>) -> u64 {
    fnv1a(&[
        origin.call_id.as_bytes(),
        origin.from_tag.as_bytes(),
        &origin.cseq.to_be_bytes(),
    ])
}

/// FNV-1a over the parts, each followed by a separator: fixed (no per-process seed), so
/// the indexes' order — which reaches no output anyway — is the same on every run.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in parts.iter().flat_map(|p| p.iter().chain(b"\0")) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
