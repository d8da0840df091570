//! The transaction layer: owns every transaction, matches messages to them, runs their
//! timers, and queues what must be sent (RFC 3261 §17).
//!
//! It is a sans-IO value. Each input carries `now`; after each input the caller drains
//! [`TransactionLayer::poll_output`] until it returns `None`, and calls
//! [`TransactionLayer::handle_timeout`] when [`TransactionLayer::poll_timeout`] says.
//! Responses and requests that reach the TU are reported synchronously, as the return
//! value of [`TransactionLayer::on_response`] and [`TransactionLayer::on_request`];
//! everything the layer decides on its own (retransmissions, timeouts, terminations)
//! comes out of the output queue.
//!
//! Transactions live in a slab addressed by [`TransactionId`] (slot and generation);
//! their keys' digests in two `BTreeSet`s of `(digest, id)` (client, server), each key
//! kept once, in its transaction's entry, and compared there; timers in a heap of
//! `(Instant, TransactionId)` that forgets lazily (an entry is live while it is the
//! deadline its transaction has filed), so `poll_timeout` is a look at the heap's top and
//! timers due at the same instant fire in id order. The number of
//! transactions is bounded by [`LayerConfig::max_transactions`]. When full, the oldest
//! quiet transaction (one whose only work left is absorbing retransmissions, see
//! `Machine::is_quiet`) is ended early to make room; with none, a new request gets
//! [`TransactionError::LayerFull`] and the caller answers 503 statelessly. Over UDP a
//! call leaves two quiet transactions behind it for 64·T1 (Timers J and L, 32 s), so a
//! UAS at 1,000 calls a second holds 64,000 of them: without that, the default limit
//! would refuse every new call after 20 s of such a load.
//! The output queue holds only what the inputs since the last drain produced.
//!
//! Who does what, where the RFC leaves it to "the transaction":
//! - the caller builds every message: the request, each response, and the ACK for a
//!   non-2xx final response ([`TransactionLayer::set_ack`]); the layer stores the bytes
//!   and re-sends them;
//! - the TU answers every request it is given: a server transaction has no timer in
//!   Trying or Proceeding (RFC 3261 gives it none), so an unanswered request keeps its
//!   transaction. An INVITE should get 100 Trying at once (§17.2.1's 200 ms rule);
//! - an INVITE client transaction in Proceeding runs Timer C (see [`Timer::C`]) so that
//!   it cannot outlive a silent peer.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::sip::{Method, Transport};
use crate::time::Instant;

use super::client_invite::ClientInvite;
use super::client_non_invite::ClientNonInvite;
use super::key::{ClientKey, ServerKey, ServerMatch};
use super::server_invite::{AckOutcome, ServerInvite};
use super::server_non_invite::ServerNonInvite;
use super::slab::Slab;
use super::timers::{Timer, TimerConfig, Timers};
use super::{
    is_valid_status, Effect, Effects, Message, RequestDisposition, ResponseDisposition,
    TransactionError, TransactionId, TransactionOutput, TransactionState,
};
use crate::deadlines::Deadlines;
use crate::filed::Filed;

/// The most timers one transaction may fire in a single `handle_timeout` call; a guard
/// against a machine bug turning into a busy loop (each machine needs at most two).
const MAX_FIRINGS_PER_CALL: usize = 8;

/// Configuration of a [`TransactionLayer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerConfig {
    /// T1, T2, T4 and Timer C, from which every timer is derived.
    pub timers: TimerConfig,
    /// The most transactions (client and server together) alive at once.
    pub max_transactions: usize,
}

impl Default for LayerConfig {
    fn default() -> Self {
        LayerConfig {
            timers: TimerConfig::default(),
            max_transactions: 10_000,
        }
    }
}

/// What the layer has counted since it was made: plain numbers a runtime publishes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionStats {
    /// Client transactions started (requests sent, ACK aside).
    pub client_started: u64,
    /// Server transactions created (requests received, ACK aside).
    pub server_started: u64,
    /// Messages sent again on a timer: requests on Timers A and E, non-2xx finals on
    /// Timer G (RFC 3261 §17).
    pub retransmissions_sent: u64,
    /// Retransmitted requests a server transaction absorbed (answered with its last
    /// response, if any, §17.2).
    pub retransmissions_received: u64,
    /// Transactions that failed on Timer B, F or H.
    pub timeouts: u64,
    /// Quiet transactions ended before their timer to make room for a new one, the
    /// layer being full.
    pub ended_early: u64,
}

/// All transactions of one endpoint. See the module docs for the driving contract.
#[derive(Debug)]
pub struct TransactionLayer {
    config: LayerConfig,
    entries: Slab<Entry>,
    clients: ByDigest,
    servers: ByDigest,
    deadlines: Deadlines<TransactionId>,
    /// Transactions that went quiet, in the order they did: the oldest still quiet is
    /// the one ended early when the layer is full.
    quiet: Filed<TransactionId>,
    outputs: VecDeque<TransactionOutput>,
    stats: TransactionStats,
}

impl TransactionLayer {
    /// An empty layer.
    pub fn new(config: LayerConfig) -> Self {
        TransactionLayer {
            config,
            entries: Slab::new(),
            clients: ByDigest::new(),
            servers: ByDigest::new(),
            deadlines: Deadlines::new(),
            quiet: Filed::new(),
            outputs: VecDeque::new(),
            stats: TransactionStats::default(),
        }
    }

    /// What the layer has counted so far.
    pub fn stats(&self) -> TransactionStats {
        self.stats
    }

    /// The configuration the layer runs with.
    pub fn config(&self) -> &LayerConfig {
        &self.config
    }

    /// Starts a client transaction for a request the caller has built, and queues its
    /// first transmission. INVITE gets the INVITE machine (§17.1.1), every other method
    /// but ACK the non-INVITE machine (§17.1.2). `owner` is echoed in every output.
    pub fn start_client(
        &mut self,
        now: Instant,
        key: ClientKey,
        request: impl Into<Arc<[u8]>>,
        dest: SocketAddr,
        transport: Transport,
        owner: u64,
    ) -> Result<TransactionId, TransactionError> {
        let reliable = transport.is_reliable();
        let machine = match key.method() {
            Method::Ack => return Err(TransactionError::AckIsNotATransaction),
            Method::Invite => {
                Machine::ClientInvite(ClientInvite::new(now, &self.config.timers, reliable))
            }
            _ => Machine::ClientNonInvite(ClientNonInvite::new(now, &self.config.timers, reliable)),
        };
        if let Some(existing) = self.client(&key) {
            return Err(TransactionError::DuplicateKey { existing });
        }
        let digest = key.digest();
        self.make_room()?;
        let id = self.entries.insert(Entry {
            owner,
            dest,
            transport,
            machine,
            index: Index::Client(key),
            message: request.into(),
            ack: None,
            scheduled: None,
            quiet: false,
        });
        self.clients.insert((digest, id));
        self.stats.client_started += 1;
        let mut fx = Effects::new();
        fx.push(Effect::Transmit(Message::Request));
        self.apply(id, fx);
        Ok(id)
    }

    /// A response arrived whose top Via branch and CSeq method give `key`. Says whether
    /// the TU gets it; queues an ACK re-send for a retransmitted non-2xx final.
    pub fn on_response(
        &mut self,
        now: Instant,
        key: &ClientKey,
        status: u16,
    ) -> ResponseDisposition {
        if !is_valid_status(status) {
            return ResponseDisposition::InvalidStatus;
        }
        let Some(id) = self.client(key) else {
            return ResponseDisposition::Unmatched;
        };
        self.on_response_to(now, id, status)
    }

    /// A response the TU has matched to client transaction `id` itself, when the key
    /// does not match: a 2xx to our INVITE whose Via came back damaged still answers it
    /// (same Call-ID, From tag and CSeq), and the transaction must stop retransmitting
    /// the INVITE (Timer A) as it would on its own key.
    pub fn on_response_to(
        &mut self,
        now: Instant,
        id: TransactionId,
        status: u16,
    ) -> ResponseDisposition {
        if !is_valid_status(status) {
            return ResponseDisposition::InvalidStatus;
        }
        let cfg = &self.config.timers;
        let Some(entry) = self.entries.get_mut(id) else {
            return ResponseDisposition::Unmatched;
        };
        let owner = entry.owner;
        let mut fx = Effects::new();
        match &mut entry.machine {
            Machine::ClientInvite(m) => m.on_response(now, cfg, status, &mut fx),
            Machine::ClientNonInvite(m) => m.on_response(now, cfg, status, &mut fx),
            // The client index only ever points at client machines.
            Machine::ServerInvite(_) | Machine::ServerNonInvite(_) => {}
        }
        let pass_up = fx.iter().find_map(|e| match e {
            Effect::PassUp { needs_ack } => Some(*needs_ack),
            _ => None,
        });
        self.apply(id, fx);
        match pass_up {
            Some(needs_ack) => ResponseDisposition::PassUp {
                id,
                owner,
                needs_ack,
            },
            None => ResponseDisposition::Absorbed { id },
        }
    }

    /// Hands the layer the ACK the caller built for a non-2xx final response to an
    /// INVITE (after `PassUp { needs_ack: true }`). The layer sends it now and again
    /// for every retransmission of that final response, until Timer D. Call it before
    /// the next `handle_timeout`: over a reliable transport Timer D is zero.
    pub fn set_ack(
        &mut self,
        _now: Instant,
        id: TransactionId,
        ack: impl Into<Arc<[u8]>>,
    ) -> Result<(), TransactionError> {
        let entry = self
            .entries
            .get_mut(id)
            .ok_or(TransactionError::UnknownTransaction { id })?;
        let Machine::ClientInvite(m) = &mut entry.machine else {
            return Err(TransactionError::WrongKind { id });
        };
        let mut fx = Effects::new();
        if !m.on_ack_set(&mut fx) {
            let state = m.state();
            return Err(TransactionError::NotAllowedInState { id, state });
        }
        entry.ack = Some(ack.into());
        self.apply(id, fx);
        Ok(())
    }

    /// The TU has sent a CANCEL for INVITE client transaction `id` (through a client
    /// transaction of its own). If no final response to the INVITE arrives within
    /// 64·T1, the INVITE transaction ends with a Timer B timeout (RFC 3261 §9.1).
    pub fn on_cancel_sent(
        &mut self,
        now: Instant,
        id: TransactionId,
    ) -> Result<(), TransactionError> {
        let cfg = &self.config.timers;
        let entry = self
            .entries
            .get_mut(id)
            .ok_or(TransactionError::UnknownTransaction { id })?;
        let Machine::ClientInvite(m) = &mut entry.machine else {
            return Err(TransactionError::WrongKind { id });
        };
        m.on_cancel_sent(now, cfg);
        self.reschedule(id);
        Ok(())
    }

    /// A request arrived with server key `key`. `reply_to` and `transport` say where
    /// this transaction's responses go (RFC 3261 §18.2.2: the caller applies `received`,
    /// `rport` and `maddr`). `owner` tags a transaction created here.
    pub fn on_request(
        &mut self,
        now: Instant,
        key: ServerKey,
        reply_to: SocketAddr,
        transport: Transport,
        owner: u64,
    ) -> Result<RequestDisposition, TransactionError> {
        let is_ack = *key.method() == Method::Ack;
        let mut found = self.server(key.matching());
        if found.is_none() && is_ack {
            found = key.without_to_tag().and_then(|bare| self.server(&bare));
        }
        if let Some(id) = found {
            return Ok(self.on_matched_request(now, id, is_ack));
        }
        if is_ack {
            return Ok(RequestDisposition::AckForDialog { id: None });
        }
        self.make_room()?;
        let reliable = transport.is_reliable();
        let machine = if *key.method() == Method::Invite {
            Machine::ServerInvite(ServerInvite::new(reliable))
        } else {
            Machine::ServerNonInvite(ServerNonInvite::new(reliable))
        };
        let matching = key.into_matching();
        let digest = matching.digest();
        let id = self.entries.insert(Entry {
            owner,
            dest: reply_to,
            transport,
            machine,
            index: Index::Server(matching),
            message: Arc::default(),
            ack: None,
            scheduled: None,
            quiet: false,
        });
        self.servers.insert((digest, id));
        self.stats.server_started += 1;
        Ok(RequestDisposition::New { id })
    }

    /// The TU answers the request of server transaction `id` with a response of
    /// `status` it has built. The layer sends it and keeps it to re-send for
    /// retransmitted requests and, for a non-2xx final to an INVITE, on Timer G.
    pub fn send_response(
        &mut self,
        now: Instant,
        id: TransactionId,
        status: u16,
        response: impl Into<Arc<[u8]>>,
    ) -> Result<(), TransactionError> {
        if !is_valid_status(status) {
            return Err(TransactionError::InvalidStatus { status });
        }
        let cfg = &self.config.timers;
        let entry = self
            .entries
            .get_mut(id)
            .ok_or(TransactionError::UnknownTransaction { id })?;
        let mut fx = Effects::new();
        let accepted = match &mut entry.machine {
            Machine::ServerInvite(m) => m.send_response(now, cfg, status, &mut fx),
            Machine::ServerNonInvite(m) => m.send_response(now, cfg, status, &mut fx),
            Machine::ClientInvite(_) | Machine::ClientNonInvite(_) => {
                return Err(TransactionError::WrongKind { id });
            }
        };
        if !accepted {
            let state = entry.machine.state();
            return Err(TransactionError::NotAllowedInState { id, state });
        }
        entry.message = response.into();
        self.apply(id, fx);
        if let Some(entry) = self.entries.get_mut(id) {
            // A 2xx leaves the transaction in Accepted, where the TU re-sends it and the
            // transaction never does (RFC 6026 §7.1): keeping no reference lets the bytes
            // go with the TU's copy at the ACK rather than at Timer L, 64·T1 later.
            if entry.machine.state() == TransactionState::Accepted {
                entry.message = Arc::default();
            }
        }
        Ok(())
    }

    /// For a CANCEL's key, the INVITE server transaction it cancels (§9.2), so that the
    /// TU can answer the CANCEL with 200 and the INVITE with 487. `None` when the key
    /// is not a CANCEL's or no INVITE transaction matches (answer the CANCEL with 481).
    pub fn find_invite_for_cancel(&self, cancel: &ServerKey) -> Option<TransactionId> {
        let invite = cancel.cancelled_invite()?;
        let id = self.server(invite.matching())?;
        match self.entries.get(id)?.machine {
            Machine::ServerInvite(_) => Some(id),
            _ => None,
        }
    }

    /// The transport could not deliver a message of transaction `id` (ICMP error,
    /// refused TCP connection, …). The TU is told (§17.1.4, §17.2.4) and the
    /// transaction ends — except an INVITE server transaction, which stays (RFC 6026
    /// Figure 5). A report for a state with nothing in flight (client Proceeding,
    /// Accepted or non-INVITE Completed, server Trying or Confirmed) is ignored.
    pub fn on_transport_error(
        &mut self,
        _now: Instant,
        id: TransactionId,
    ) -> Result<(), TransactionError> {
        let entry = self
            .entries
            .get_mut(id)
            .ok_or(TransactionError::UnknownTransaction { id })?;
        let mut fx = Effects::new();
        entry.machine.on_transport_error(&mut fx);
        self.apply(id, fx);
        Ok(())
    }

    /// Fires every timer due at or before `now`, in (deadline, id) order.
    pub fn handle_timeout(&mut self, now: Instant) {
        loop {
            // The entries of a timer that moved or of a transaction that ended are
            // dropped here, so the first entry is one a transaction still has filed.
            self.settle_deadlines();
            let Some((at, id)) = self.deadlines.first() else {
                break;
            };
            if at > now {
                break;
            }
            self.deadlines.pop();
            let cfg = &self.config.timers;
            let Some(entry) = self.entries.get_mut(id) else {
                continue;
            };
            entry.scheduled = None;
            let mut fx = Effects::new();
            for _ in 0..MAX_FIRINGS_PER_CALL {
                let Some(timer) = entry.machine.timers_mut().take_due(now) else {
                    break;
                };
                entry.machine.on_timer(now, cfg, timer, &mut fx);
                if matches!(timer, Timer::B | Timer::F | Timer::H) {
                    self.stats.timeouts += 1;
                }
                if entry.machine.state() == TransactionState::Terminated {
                    break;
                }
            }
            let stuck = entry.machine.state() != TransactionState::Terminated
                && entry
                    .machine
                    .timers()
                    .next_deadline()
                    .is_some_and(|at| at <= now);
            if stuck {
                // Every machine moves a fired timer past `now` or stops it; one that
                // does not is a bug, and looping on it would hang the driver. Fail
                // safe: end the transaction.
                debug_assert!(false, "{id} keeps a timer due at {now:?}");
                fx.push(Effect::Terminated);
            }
            self.stats.retransmissions_sent += fx
                .iter()
                .filter(|e| matches!(e, Effect::Transmit(_)))
                .count() as u64;
            self.apply(id, fx);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called: the earliest
    /// armed timer of any transaction, or `None` when no timer is armed. After
    /// `handle_timeout(now)` it is always later than `now`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| at)
    }

    /// Gives back the room the output queue grew to (see `Endpoint::shrink_to_fit`).
    pub fn shrink_to_fit(&mut self) {
        self.outputs.shrink_to_fit();
        self.deadlines.shrink_to_fit();
        self.quiet.shrink_to_fit();
    }

    /// The next output, oldest first; drain until `None` after every input.
    pub fn poll_output(&mut self) -> Option<TransactionOutput> {
        crate::driver::pop_trimmed(&mut self.outputs)
    }

    /// The state of transaction `id`, or `None` once it has terminated.
    pub fn state(&self, id: TransactionId) -> Option<TransactionState> {
        self.entries.get(id).map(|e| e.machine.state())
    }

    /// The request client transaction `id` sent, where it went and over what: what a
    /// request sent again (with credentials, RFC 3261 §22.2) is built from.
    pub fn client_request(&self, id: TransactionId) -> Option<(&[u8], SocketAddr, &Transport)> {
        let entry = self.entries.get(id)?;
        matches!(entry.index, Index::Client(_)).then_some((
            &entry.message[..],
            entry.dest,
            &entry.transport,
        ))
    }

    /// Where server transaction `id` sends its responses: the Via's `received` and
    /// `rport`, or its sent-by (RFC 3261 §18.2.2, RFC 3581). The TU re-sends a 2xx there
    /// too (§13.3.1.4), not to the dialog's remote target, which a Contact names.
    pub fn reply_destination(&self, id: TransactionId) -> Option<SocketAddr> {
        let entry = self.entries.get(id)?;
        matches!(entry.index, Index::Server(_)).then_some(entry.dest)
    }

    /// The owner tag of transaction `id`.
    pub fn owner(&self, id: TransactionId) -> Option<u64> {
        self.entries.get(id).map(|e| e.owner)
    }

    /// Re-tags transaction `id` (a server transaction learns its session after the TU
    /// has seen the request).
    pub fn set_owner(&mut self, id: TransactionId, owner: u64) -> Result<(), TransactionError> {
        let entry = self
            .entries
            .get_mut(id)
            .ok_or(TransactionError::UnknownTransaction { id })?;
        entry.owner = owner;
        Ok(())
    }

    /// How many transactions are alive.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no transaction is alive.
    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// Room for one more transaction: when the layer is full, the oldest quiet one is
    /// ended as its timer would end it. Its end comes early by at most 64·T1, and what
    /// that costs is a late retransmission met as a new request (a BYE answered 481 once
    /// its call is gone), where refusing the new request would cost a call.
    fn make_room(&mut self) -> Result<(), TransactionError> {
        let max = self.config.max_transactions;
        while self.entries.len() >= max {
            let entries = &self.entries;
            let Some(id) = self.quiet.pop_oldest(|id| is_filed_quiet(entries, id)) else {
                return Err(TransactionError::LayerFull { max });
            };
            self.stats.ended_early += 1;
            let mut fx = Effects::new();
            fx.push(Effect::Terminated);
            self.apply(id, fx);
        }
        Ok(())
    }

    /// Files the transaction as quiet, once, when it has just gone quiet.
    fn note_quiet(&mut self, id: TransactionId) {
        let Some(entry) = self.entries.get_mut(id) else {
            return;
        };
        if entry.quiet || !entry.machine.is_quiet() {
            return;
        }
        entry.quiet = true;
        let entries = &self.entries;
        self.quiet
            .push(id, entries.len(), |id| is_filed_quiet(entries, id));
    }

    fn on_matched_request(
        &mut self,
        now: Instant,
        id: TransactionId,
        is_ack: bool,
    ) -> RequestDisposition {
        let cfg = &self.config.timers;
        let Some(entry) = self.entries.get_mut(id) else {
            return RequestDisposition::AckForDialog { id: None };
        };
        let mut fx = Effects::new();
        let disposition = match (&mut entry.machine, is_ack) {
            (Machine::ServerInvite(m), true) => match m.on_ack(now, cfg) {
                AckOutcome::Absorbed => RequestDisposition::Absorbed { id },
                AckOutcome::ToDialog => RequestDisposition::AckForDialog { id: Some(id) },
            },
            (Machine::ServerInvite(m), false) => {
                self.stats.retransmissions_received += 1;
                m.on_retransmission(&mut fx);
                RequestDisposition::Absorbed { id }
            }
            (Machine::ServerNonInvite(m), _) => {
                self.stats.retransmissions_received += 1;
                m.on_retransmission(&mut fx);
                RequestDisposition::Absorbed { id }
            }
            // The server index only ever points at server machines.
            (Machine::ClientInvite(_) | Machine::ClientNonInvite(_), _) => {
                RequestDisposition::Absorbed { id }
            }
        };
        self.apply(id, fx);
        disposition
    }

    /// Turns a machine's effects into outputs, removes a terminated transaction, and
    /// re-files the transaction's next deadline.
    fn apply(&mut self, id: TransactionId, fx: Effects) {
        let Some(entry) = self.entries.get(id) else {
            return;
        };
        let owner = entry.owner;
        let mut terminated = false;
        for effect in fx {
            match effect {
                Effect::Transmit(which) => {
                    let bytes = match which {
                        Message::Request | Message::Response => &entry.message,
                        Message::Ack => match &entry.ack {
                            Some(ack) => ack,
                            // Not built yet: the caller sends it through `set_ack`.
                            None => continue,
                        },
                    };
                    self.outputs.push_back(TransactionOutput::Transmit {
                        id,
                        owner,
                        dest: entry.dest,
                        transport: entry.transport.clone(),
                        bytes: bytes.clone(),
                    });
                }
                Effect::PassUp { .. } => {}
                Effect::Timeout(timer) => {
                    tracing::debug!(%id, owner, ?timer, "transaction timer ran out");
                    self.outputs
                        .push_back(TransactionOutput::Timeout { id, owner, timer });
                }
                Effect::TransportError => {
                    tracing::debug!(%id, owner, "transaction transport error");
                    self.outputs
                        .push_back(TransactionOutput::TransportError { id, owner });
                }
                Effect::Terminated => terminated = true,
            }
        }
        if terminated {
            self.remove(id);
            self.outputs
                .push_back(TransactionOutput::Terminated { id, owner });
            return;
        }
        self.note_quiet(id);
        self.reschedule(id);
    }

    fn reschedule(&mut self, id: TransactionId) {
        let Some(entry) = self.entries.get_mut(id) else {
            return;
        };
        let next = entry.machine.timers().next_deadline();
        if next == entry.scheduled {
            return;
        }
        entry.scheduled = next;
        if let Some(at) = next {
            self.deadlines.push(at, id);
        }
        self.settle_deadlines();
    }

    /// Drops stale entries from the top of the deadline heap (a transaction's entry is
    /// live while it is the one the transaction has filed), so that its first entry is
    /// the earliest deadline of any transaction.
    fn settle_deadlines(&mut self) {
        let entries = &self.entries;
        self.deadlines.settle(entries.len(), |at, id| {
            entries.get(id).is_some_and(|e| e.scheduled == Some(at))
        });
    }

    fn remove(&mut self, id: TransactionId) {
        let Some(entry) = self.entries.remove(id) else {
            return;
        };
        if entry.scheduled.is_some() {
            self.settle_deadlines();
        }
        match entry.index {
            Index::Client(key) => {
                self.clients.remove(&(key.digest(), id));
            }
            Index::Server(key) => {
                self.servers.remove(&(key.digest(), id));
            }
        }
    }

    /// The client transaction filed under `key`.
    fn client(&self, key: &ClientKey) -> Option<TransactionId> {
        filed_under(&self.clients, key.digest()).find(|&id| {
            self.entries
                .get(id)
                .is_some_and(|e| matches!(&e.index, Index::Client(k) if k == key))
        })
    }

    /// The server transaction filed under `key`.
    fn server(&self, key: &ServerMatch) -> Option<TransactionId> {
        filed_under(&self.servers, key.digest()).find(|&id| {
            self.entries
                .get(id)
                .is_some_and(|e| matches!(&e.index, Index::Server(k) if k == key))
        })
    }
}

/// Transactions filed under their key's digest; the key itself is kept once, in the
/// transaction's [`Entry`], and compared there. A lookup goes down the tree comparing
/// numbers and compares one key at the end, and each transaction costs the index 16
/// bytes rather than a second copy of its key (a held call keeps its INVITE server
/// transaction for RFC 6026's 32 s). Keys whose digests collide (a peer can craft
/// branches that do) are both filed, in id order, and told apart by the comparison.
type ByDigest = BTreeSet<(u64, TransactionId)>;

/// The ids filed under `digest`, in id order.
fn filed_under(index: &ByDigest, digest: u64) -> impl Iterator<Item = TransactionId> + '_ {
    let first = TransactionId::from_parts(0, 0);
    let last = TransactionId::from_parts(u32::MAX, u32::MAX);
    index
        .range((digest, first)..=(digest, last))
        .map(|&(_, id)| id)
}

/// One transaction and what the layer keeps for it.
#[derive(Debug)]
struct Entry {
    owner: u64,
    /// Where this transaction's messages go: the request's destination (client) or
    /// the response's (server).
    dest: SocketAddr,
    transport: Transport,
    machine: Machine,
    index: Index,
    /// The request (client) or the most recent response (server; empty until the
    /// first one). Each transmission is another reference to these bytes.
    message: Arc<[u8]>,
    /// The ACK for a non-2xx final response (client INVITE).
    ack: Option<Arc<[u8]>>,
    /// The deadline this transaction has filed: of its entries in the deadline heap,
    /// the live one.
    scheduled: Option<Instant>,
    /// Filed in the layer's quiet queue.
    quiet: bool,
}

/// Whether transaction `id` is alive and filed as quiet.
fn is_filed_quiet(entries: &Slab<Entry>, id: TransactionId) -> bool {
    entries.get(id).is_some_and(|e| e.quiet)
}

/// The key a transaction is filed under, to unfile it when it ends.
#[derive(Debug)]
enum Index {
    Client(ClientKey),
    Server(ServerMatch),
}

/// The four machines (named as in RFC 3261 §17, hence the shared suffix).
#[derive(Debug)]
#[allow(clippy::enum_variant_names)]
enum Machine {
    ClientInvite(ClientInvite),
    ClientNonInvite(ClientNonInvite),
    ServerInvite(ServerInvite),
    ServerNonInvite(ServerNonInvite),
}

impl Machine {
    /// Whether all the transaction has left to do is absorb retransmissions until its
    /// timer ends it: a non-INVITE's Completed (Timers J and K), a server INVITE's
    /// Accepted (Timer L, RFC 6026: the TU re-sends its 2xx, not the transaction) and
    /// Confirmed (Timer I), a client INVITE's Completed (Timer D: re-sending the ACK of
    /// a non-2xx retransmitted to it). Not a server INVITE's Completed, which still
    /// re-sends its final response until the ACK comes (Timer G), nor a client INVITE's
    /// Accepted, which hands 2xx retransmissions to the TU to be ACKed again.
    fn is_quiet(&self) -> bool {
        use TransactionState::{Accepted, Completed, Confirmed};
        match self {
            Machine::ClientInvite(m) => m.state() == Completed,
            Machine::ClientNonInvite(m) => m.state() == Completed,
            Machine::ServerInvite(m) => matches!(m.state(), Accepted | Confirmed),
            Machine::ServerNonInvite(m) => m.state() == Completed,
        }
    }

    fn state(&self) -> TransactionState {
        match self {
            Machine::ClientInvite(m) => m.state(),
            Machine::ClientNonInvite(m) => m.state(),
            Machine::ServerInvite(m) => m.state(),
            Machine::ServerNonInvite(m) => m.state(),
        }
    }

    fn timers(&self) -> &Timers {
        match self {
            Machine::ClientInvite(m) => m.timers(),
            Machine::ClientNonInvite(m) => m.timers(),
            Machine::ServerInvite(m) => m.timers(),
            Machine::ServerNonInvite(m) => m.timers(),
        }
    }

    fn timers_mut(&mut self) -> &mut Timers {
        match self {
            Machine::ClientInvite(m) => m.timers_mut(),
            Machine::ClientNonInvite(m) => m.timers_mut(),
            Machine::ServerInvite(m) => m.timers_mut(),
            Machine::ServerNonInvite(m) => m.timers_mut(),
        }
    }

    fn on_timer(&mut self, now: Instant, cfg: &TimerConfig, timer: Timer, fx: &mut Effects) {
        match self {
            Machine::ClientInvite(m) => m.on_timer(now, cfg, timer, fx),
            Machine::ClientNonInvite(m) => m.on_timer(now, cfg, timer, fx),
            Machine::ServerInvite(m) => m.on_timer(now, cfg, timer, fx),
            Machine::ServerNonInvite(m) => m.on_timer(timer, fx),
        }
    }

    fn on_transport_error(&mut self, fx: &mut Effects) {
        match self {
            Machine::ClientInvite(m) => m.on_transport_error(fx),
            Machine::ClientNonInvite(m) => m.on_transport_error(fx),
            Machine::ServerInvite(m) => m.on_transport_error(fx),
            Machine::ServerNonInvite(m) => m.on_transport_error(fx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::key::{RequestFields, SentBy};
    use crate::transaction::test_support::{peer, server_key, transmitted, Harness};

    fn new_id(d: RequestDisposition) -> TransactionId {
        match d {
            RequestDisposition::New { id } => id,
            other => panic!("expected a new transaction, got {other:?}"),
        }
    }

    /// RFC 3261 §17.1.1.2: an unanswered INVITE over UDP is sent again on Timer A at
    /// 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s and fails on Timer B at 32 s; §17.2.1: a
    /// retransmitted INVITE is absorbed by its server transaction.
    #[test]
    fn the_layer_counts_transactions_retransmissions_and_timeouts() {
        let mut h = Harness::new();
        let _ = h.start(Method::Invite, "z9hG4bKc", Transport::Udp);
        let _ = h.receive(Method::Invite, "z9hG4bKs", Transport::Udp);
        let _ = h.receive(Method::Invite, "z9hG4bKs", Transport::Udp);
        h.run_until(33_000);
        let stats = h.layer.stats();
        assert_eq!(
            (stats.client_started, stats.server_started),
            (1, 1),
            "{stats:?}"
        );
        assert_eq!(stats.retransmissions_sent, 6, "{stats:?}");
        assert_eq!(stats.retransmissions_received, 1, "{stats:?}");
        assert_eq!(stats.timeouts, 1, "{stats:?}");
    }

    /// Keys are filed under their digests, which a peer can make collide by crafting
    /// branches: two keys under one digest are two transactions, each found by its own
    /// key only, and ending one leaves the other filed.
    #[test]
    fn keys_whose_digests_collide_each_find_their_own_transaction() {
        let mut h = Harness::new();
        let client = |branch| ClientKey::new(branch, 1, Method::Options).with_digest(7);
        let (a, b) = (client("z9hG4bKa"), client("z9hG4bKb"));
        let start = |h: &mut Harness, key: &ClientKey| {
            h.layer
                .start_client(h.now, key.clone(), vec![], peer(), Transport::Udp, 0)
                .expect("a new key")
        };
        let (ida, idb) = (start(&mut h, &a), start(&mut h, &b));
        assert_ne!(ida, idb);
        assert_eq!(
            (h.layer.client(&a), h.layer.client(&b)),
            (Some(ida), Some(idb))
        );
        assert_eq!(h.layer.client(&client("z9hG4bKc")), None);
        h.layer.remove(ida);
        assert_eq!((h.layer.client(&a), h.layer.client(&b)), (None, Some(idb)));

        let server = |branch| server_key(Method::Invite, branch, &Transport::Udp).with_digest(7);
        let receive = |h: &mut Harness, key: ServerKey| {
            h.layer
                .on_request(h.now, key, peer(), Transport::Udp, 0)
                .expect("room")
        };
        let x = new_id(receive(&mut h, server("z9hG4bKx")));
        let y = new_id(receive(&mut h, server("z9hG4bKy")));
        assert_ne!(x, y, "a colliding digest is not a match");
        assert_eq!(
            receive(&mut h, server("z9hG4bKy")),
            RequestDisposition::Absorbed { id: y },
            "each one's retransmission is its own"
        );
    }

    #[test]
    fn cancel_gets_its_own_transaction_and_is_matched_to_its_invite() {
        let mut h = Harness::new();
        let invite = new_id(h.receive(Method::Invite, "z9hG4bKx", Transport::Udp));
        let cancel_key = server_key(Method::Cancel, "z9hG4bKx", &Transport::Udp);
        assert_eq!(h.layer.find_invite_for_cancel(&cancel_key), Some(invite));
        let cancel = new_id(h.receive(Method::Cancel, "z9hG4bKx", Transport::Udp));
        assert_ne!(cancel, invite);
        // The TU answers 200 to the CANCEL and 487 to the INVITE.
        h.layer
            .send_response(h.now, cancel, 200, b"200 CANCEL".to_vec())
            .unwrap();
        h.layer
            .send_response(h.now, invite, 487, b"487".to_vec())
            .unwrap();
        assert_eq!(transmitted(&h.drain()), ["200 CANCEL", "487"]);
        assert_eq!(h.layer.state(invite), Some(TransactionState::Completed));
        assert_eq!(h.layer.state(cancel), Some(TransactionState::Completed));
    }

    #[test]
    fn cancel_for_an_unknown_invite_or_a_non_cancel_key_finds_nothing() {
        let mut h = Harness::new();
        let _ = new_id(h.receive(Method::Invite, "z9hG4bKx", Transport::Udp));
        let other_branch = server_key(Method::Cancel, "z9hG4bKy", &Transport::Udp);
        assert_eq!(h.layer.find_invite_for_cancel(&other_branch), None);
        let not_cancel = server_key(Method::Invite, "z9hG4bKx", &Transport::Udp);
        assert_eq!(h.layer.find_invite_for_cancel(&not_cancel), None);
        // A CANCEL whose branch matches a non-INVITE transaction finds nothing either.
        let _ = new_id(h.receive(Method::Options, "z9hG4bKo", Transport::Udp));
        let cancel_options = server_key(Method::Cancel, "z9hG4bKo", &Transport::Udp);
        assert_eq!(h.layer.find_invite_for_cancel(&cancel_options), None);
    }

    fn legacy<'a>(method: &'a Method, to_tag: Option<&'a str>) -> ServerKey {
        ServerKey::new(&RequestFields {
            method,
            branch: None,
            sent_by_host: "old.example.com",
            sent_by_port: None,
            transport: &Transport::Udp,
            request_uri: "sip:bob@example.com",
            to_tag,
            from_tag: Some("f1"),
            call_id: "c1@old",
            cseq: 7,
            top_via: "SIP/2.0/UDP old.example.com",
        })
    }

    #[test]
    fn rfc_2543_requests_match_by_the_fallback_key() {
        let mut h = Harness::new();
        let invite = &Method::Invite;
        let id = new_id(
            h.layer
                .on_request(h.now, legacy(invite, None), peer(), Transport::Udp, 1)
                .unwrap(),
        );
        h.layer
            .send_response(h.now, id, 180, b"180".to_vec())
            .unwrap();
        h.drain();
        // Retransmission: same fields.
        assert_eq!(
            h.layer
                .on_request(h.now, legacy(invite, None), peer(), Transport::Udp, 1)
                .unwrap(),
            RequestDisposition::Absorbed { id }
        );
        assert_eq!(transmitted(&h.drain()), ["180"]);
        h.layer
            .send_response(h.now, id, 486, b"486".to_vec())
            .unwrap();
        h.drain();
        // The ACK carries the To tag of our 486; it still matches the INVITE.
        let ack = &Method::Ack;
        assert_eq!(
            h.layer
                .on_request(h.now, legacy(ack, Some("t9")), peer(), Transport::Udp, 1)
                .unwrap(),
            RequestDisposition::Absorbed { id }
        );
        assert_eq!(h.layer.state(id), Some(TransactionState::Confirmed));
        // A CANCEL for it is matched too.
        assert_eq!(
            h.layer
                .find_invite_for_cancel(&legacy(&Method::Cancel, None)),
            Some(id)
        );
    }

    #[test]
    fn the_transaction_limit_refuses_new_transactions_until_one_ends() {
        let config = LayerConfig {
            max_transactions: 2,
            ..LayerConfig::default()
        };
        let mut h = Harness::with_config(config);
        let a = h.start(Method::Options, "z9hG4bKa", Transport::Tcp);
        let _ = new_id(h.receive(Method::Invite, "z9hG4bKb", Transport::Udp));
        let full = Err(TransactionError::LayerFull { max: 2 });
        let key = server_key(Method::Invite, "z9hG4bKc", &Transport::Udp);
        assert_eq!(
            h.layer.on_request(h.now, key, peer(), Transport::Udp, 0),
            full
        );
        let ckey = ClientKey::new("z9hG4bKd", 1, Method::Bye);
        assert_eq!(
            h.layer
                .start_client(h.now, ckey.clone(), vec![], peer(), Transport::Udp, 0)
                .map(|_| ()),
            Err(TransactionError::LayerFull { max: 2 })
        );
        // Retransmissions and ACKs still work when full.
        assert!(matches!(
            h.receive(Method::Invite, "z9hG4bKb", Transport::Udp),
            RequestDisposition::Absorbed { .. }
        ));
        assert_eq!(
            h.receive(Method::Ack, "z9hG4bKz", Transport::Udp),
            RequestDisposition::AckForDialog { id: None }
        );
        let now = h.at(10);
        let _ = h
            .layer
            .on_response(now, &ClientKey::new("z9hG4bKa", 1, Method::Options), 200);
        h.run_until(10);
        assert_eq!(h.layer.state(a), None);
        assert!(h
            .layer
            .start_client(h.now, ckey, vec![], peer(), Transport::Udp, 0)
            .is_ok());
    }

    /// A full layer ends its oldest quiet transaction (here BYEs answered 200, in
    /// Completed for Timer J) to take a new request, and refuses only when none is quiet:
    /// a UAS under a steady load is not turned into one that refuses every call.
    #[test]
    fn a_full_layer_ends_its_oldest_quiet_transaction_to_take_a_new_one() {
        let config = LayerConfig {
            max_transactions: 3,
            ..LayerConfig::default()
        };
        let mut h = Harness::with_config(config);
        let mut answered = Vec::new();
        for branch in ["z9hG4bKb1", "z9hG4bKb2"] {
            let id = new_id(h.receive(Method::Bye, branch, Transport::Udp));
            h.layer
                .send_response(h.now, id, 200, b"200".to_vec())
                .unwrap();
            assert_eq!(h.layer.state(id), Some(TransactionState::Completed));
            answered.push(id);
        }
        let ringing = new_id(h.receive(Method::Invite, "z9hG4bKi", Transport::Udp));
        h.drain();
        let newest = new_id(h.receive(Method::Options, "z9hG4bKo1", Transport::Udp));
        let ended: Vec<_> = h
            .drain()
            .into_iter()
            .filter_map(|o| match o {
                TransactionOutput::Terminated { id, .. } => Some(id),
                _ => None,
            })
            .collect();
        assert_eq!(ended, [answered[0]], "the oldest quiet one, reported ended");
        assert_eq!(h.layer.state(answered[0]), None);
        assert_eq!(
            h.layer.state(answered[1]),
            Some(TransactionState::Completed)
        );
        assert_eq!(h.layer.stats().ended_early, 1);
        // The retransmitted BYE of the one ended early is a new request now, and takes
        // the place of the other quiet one.
        let _ = new_id(h.receive(Method::Bye, "z9hG4bKb1", Transport::Udp));
        assert_eq!(h.layer.state(answered[1]), None);
        // Full of transactions that are not quiet (a ringing INVITE, unanswered
        // OPTIONS and BYE): refused.
        let refused = h.layer.on_request(
            h.now,
            server_key(Method::Bye, "z9hG4bKb3", &Transport::Udp),
            peer(),
            Transport::Udp,
            9,
        );
        assert_eq!(refused, Err(TransactionError::LayerFull { max: 3 }));
        assert_eq!(h.layer.state(ringing), Some(TransactionState::Proceeding));
        assert!(h.layer.state(newest).is_some());
        assert_eq!(h.layer.stats().ended_early, 2);
    }

    #[test]
    fn ack_and_duplicate_keys_cannot_start_client_transactions() {
        let mut h = Harness::new();
        let ack = ClientKey::new("z9hG4bKa", 1, Method::Ack);
        assert_eq!(
            h.layer
                .start_client(h.now, ack, vec![], peer(), Transport::Udp, 0),
            Err(TransactionError::AckIsNotATransaction)
        );
        let id = h.start(Method::Invite, "z9hG4bKi", Transport::Udp);
        let again = ClientKey::new("z9hG4bKi", 1, Method::Invite);
        assert_eq!(
            h.layer
                .start_client(h.now, again, vec![], peer(), Transport::Udp, 0),
            Err(TransactionError::DuplicateKey { existing: id })
        );
        // CANCEL shares the INVITE's branch but is its own client transaction.
        let cancel = h.start(Method::Cancel, "z9hG4bKi", Transport::Udp);
        assert_ne!(cancel, id);
        assert_eq!(h.layer.len(), 2);
    }

    #[test]
    fn stray_and_invalid_responses_are_reported_as_such() {
        let mut h = Harness::new();
        let key = ClientKey::new("z9hG4bKnone", 1, Method::Invite);
        assert_eq!(
            h.layer.on_response(h.now, &key, 200),
            ResponseDisposition::Unmatched
        );
        let _ = h.start(Method::Invite, "z9hG4bKnone", Transport::Udp);
        assert_eq!(
            h.layer.on_response(h.now, &key, 99),
            ResponseDisposition::InvalidStatus
        );
        assert_eq!(
            h.layer.on_response(h.now, &key, 700),
            ResponseDisposition::InvalidStatus
        );
    }

    #[test]
    fn server_operations_on_client_transactions_are_refused() {
        let mut h = Harness::new();
        let id = h.start(Method::Options, "z9hG4bKo", Transport::Udp);
        assert_eq!(
            h.layer.send_response(h.now, id, 200, vec![]),
            Err(TransactionError::WrongKind { id })
        );
        let gone = TransactionId::from_parts(999, 0);
        assert_eq!(
            h.layer.send_response(h.now, gone, 200, vec![]),
            Err(TransactionError::UnknownTransaction { id: gone })
        );
        assert_eq!(
            h.layer.set_owner(gone, 1),
            Err(TransactionError::UnknownTransaction { id: gone })
        );
    }

    #[test]
    fn owner_tags_are_echoed_and_can_be_changed() {
        let mut h = Harness::new();
        let id = new_id(h.receive(Method::Options, "z9hG4bKo", Transport::Udp));
        assert_eq!(h.layer.owner(id), Some(9));
        h.layer.set_owner(id, 77).unwrap();
        h.layer
            .send_response(h.now, id, 200, b"200".to_vec())
            .unwrap();
        let out = h.drain();
        assert!(matches!(
            &out[..],
            [TransactionOutput::Transmit { owner: 77, dest, transport: Transport::Udp, .. }]
                if *dest == peer()
        ));
    }

    #[test]
    fn timers_due_at_the_same_instant_fire_in_transaction_order() {
        let mut h = Harness::new();
        let ids: Vec<_> = ["z9hG4bK3", "z9hG4bK1", "z9hG4bK2"]
            .iter()
            .map(|b| h.start(Method::Options, b, Transport::Tcp))
            .collect();
        h.drain();
        let outs = h.run_until(32_000);
        let ended: Vec<_> = outs
            .iter()
            .filter_map(|(_, o)| match o {
                TransactionOutput::Terminated { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        assert_eq!(ended, ids);
    }

    #[test]
    fn sent_by_port_distinguishes_server_transactions() {
        let mut h = Harness::new();
        let a = ServerKey::rfc3261(
            Method::Invite,
            "z9hG4bKsame",
            SentBy::new("h.example", Some(5060), &Transport::Udp),
        );
        let b = ServerKey::rfc3261(
            Method::Invite,
            "z9hG4bKsame",
            SentBy::new("h.example", Some(5070), &Transport::Udp),
        );
        let ida = new_id(
            h.layer
                .on_request(h.now, a, peer(), Transport::Udp, 0)
                .unwrap(),
        );
        let idb = new_id(
            h.layer
                .on_request(h.now, b, peer(), Transport::Udp, 0)
                .unwrap(),
        );
        assert_ne!(ida, idb);
    }
}
