//! Calls and registrations waiting for a host name to resolve (RFC 3263): the session id
//! is handed out at once, the [`ResolveQuery`] goes to the driver, and the session starts
//! (or ends `Unresolvable`) when the answer comes back. Until then it has no state
//! machine: nothing has been sent, so ending it is only telling the application.

use std::collections::BTreeMap;

use super::CallOptions;
use crate::call::SessionId;
use crate::resolve::{QueryId, ResolveQuery};

/// A session whose target is being resolved.
#[derive(Debug)]
pub(super) struct PendingCall {
    /// The session id `make_call` or `register` returned.
    pub(super) session: SessionId,
    /// The target URI (the call's, or the address-of-record), kept whole: the host name
    /// stays in the Request-URI.
    pub(super) target: String,
    /// What starts once the name resolves.
    pub(super) kind: Pending,
    /// What was asked.
    pub(super) query: ResolveQuery,
}

/// What a pending session is.
#[derive(Debug)]
pub(super) enum Pending {
    /// A call, with the options `make_call` was given.
    Call(CallOptions),
    /// A registration, for this expiry.
    Registration {
        /// Seconds.
        expires: u32,
    },
}

/// The pending calls, by query; bounded by `Config::max_dns_queries`.
#[derive(Debug, Default)]
pub(super) struct Resolving {
    pending: BTreeMap<QueryId, PendingCall>,
    last_id: u64,
}

impl Resolving {
    /// A new query id, in order from 1.
    pub(super) fn next_id(&mut self) -> QueryId {
        self.last_id += 1;
        QueryId(self.last_id)
    }

    pub(super) fn insert(&mut self, call: PendingCall) {
        self.pending.insert(call.query.id, call);
    }

    /// The call waiting for `id`'s answer, if any is (an answer may come after the call
    /// was hung up, or twice).
    pub(super) fn answer(&mut self, id: QueryId) -> Option<PendingCall> {
        self.pending.remove(&id)
    }

    /// Forgets `session`'s pending call; `false` when it has none.
    pub(super) fn remove_session(&mut self, session: SessionId) -> bool {
        let Some(id) = self.query_of(session) else {
            return false;
        };
        self.pending.remove(&id);
        true
    }

    /// Whether `session` is waiting for a name.
    pub(super) fn contains_session(&self, session: SessionId) -> bool {
        self.query_of(session).is_some()
    }

    /// Every pending call's session, in id order.
    pub(super) fn sessions(&self) -> Vec<SessionId> {
        self.pending.values().map(|c| c.session).collect()
    }

    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    /// A scan, over at most `Config::max_dns_queries` entries.
    fn query_of(&self, session: SessionId) -> Option<QueryId> {
        self.pending
            .iter()
            .find(|(_, c)| c.session == session)
            .map(|(id, _)| *id)
    }
}
