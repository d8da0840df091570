//! Session-level invariants for runs of [`EndpointNode`]s.
//!
//! Two kinds:
//!
//! - **Wire rules**, checked on every datagram a node sends ([`WireRules`], kept inside the
//!   node and read after every step by [`WireRulesHold`]):
//!   - CSeq strictly increases per dialog direction (RFC 3261 §12.2.1.1): a new request
//!     (a Via branch this node has not sent in this Call-ID) carries a CSeq above every
//!     earlier one; a retransmission (a branch already sent) repeats its CSeq and method.
//!     ACK and CANCEL reuse the INVITE's CSeq (§17.1.1.3, §9.1) and are exempt.
//!   - Nothing new is sent for a dialog after its cleanup: once the endpoint has forgotten
//!     every session of a Call-ID, no new request (new branch) goes out with it, and no
//!     new session is started for it (a late retransmission is not a new call). Responses (a 481
//!     to a stray retransmission, a lingering server transaction's copy) and ACKs stay
//!     allowed, as does a retransmission by a client transaction that outlives its
//!     session (RFC 3261 §17 gives transactions their own lifetime).
//!   - RTP leaves only from a port the runtime opened and the core has not closed.
//!   - Every request parses as SIP with `session_core::sip::Message` (responses are not
//!     parsed here: no rule needs them, and the receiving endpoint parses them anyway).
//! - **End-of-run checks**, once the healed network went quiet:
//!   - [`SessionsEnd`]: every running endpoint is idle (`Endpoint::is_idle`: no session,
//!     transaction or timer left) and every session it recorded reached `Terminated`.
//!   - [`OutcomeAgreement`]: caller and callee agree whether the call was answered —
//!     unless one side ended with `Timeout`, i.e. the other was unreachable for a whole
//!     transaction timeout and could not have told it. Two races of the current core are
//!     tolerated unless `strict` ([`KnownRace`]).
//!   - [`MovedCallsUnbroken`]: a call handed over to another node stayed one call for
//!     its peer, answered once and ended by a BYE of one side that the other answered,
//!     unless the network failed it for longer than RFC 3261 waits.
//!   - [`TransferOutcome`]: a transfer the application asked for is reported at most
//!     once (`TransferSucceeded` or `TransferFailed`), and a success is true: the peer
//!     placed the call the REFER asked for (RFC 3515 §2.4.4).
//! - **Bridges** (a B2BUA's legs, two calls an application joined):
//!   - [`BridgeLinks`], after every step: a bridge links two different sessions, each
//!     to the other and to no third (so a session is never bridged to itself nor to two
//!     legs), and never a session the endpoint has forgotten.
//!   - [`BridgesEnd`]: once the network has healed, a leg whose other leg ended is gone
//!     within [`BRIDGE_END_BOUND_T1`] × T1 plus [`BRIDGE_END_SLACK`] (its BYE, CANCEL or
//!     final response has had a whole transaction's time); at the end, both legs of every
//!     bridge ended — no half-bridged leg is left once the liveness phase is over — and
//!     the leg that ended second was ended through the bridge (or by its own peer), not by
//!     a timeout of its own that only means nobody hung it up (`MediaTimeout`,
//!     `SessionExpired`).
//!
//! Sessions lost to a process restart, and nodes left stopped, are exempt from the
//! end-of-run checks: their memory is gone by design.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use session_core::endpoint::{EndReason, Side};
use session_core::sip::{Message, Method};

use crate::endpoint_node::{EndpointNode, SessionRecord};
use crate::invariant::{Breach, Invariant};
use crate::node::NodeId;
use crate::sim::{NodeStatus, Phase, World};

/// The most dialogs a node's wire rules track; later ones go unchecked.
pub const MAX_TRACKED_DIALOGS: usize = 4_096;
/// The most request branches remembered per dialog (oldest forgotten first).
pub const MAX_BRANCHES_PER_DIALOG: usize = 64;

/// A wire rule a node broke.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireBreach {
    /// A new request's CSeq did not exceed the dialog direction's highest so far.
    CSeqNotIncreasing {
        /// The dialog.
        call_id: String,
        /// The highest CSeq sent before.
        previous: u32,
        /// The new request's CSeq.
        cseq: u32,
        /// The new request's method.
        method: String,
    },
    /// A retransmission (same branch) changed its CSeq or method.
    RetransmissionChanged {
        /// The dialog.
        call_id: String,
        /// The branch.
        branch: String,
    },
    /// A new request went out for a dialog the endpoint had already cleaned up.
    RequestAfterCleanup {
        /// The dialog.
        call_id: String,
        /// The request's method.
        method: String,
    },
    /// The endpoint started a new session for a Call-ID whose sessions it had all
    /// cleaned up (a late retransmission taken for a new call).
    SessionAfterCleanup {
        /// The dialog.
        call_id: String,
    },
    /// A binary datagram (RTP) left from a port that is not open.
    RtpFromClosedPort {
        /// The port.
        local: SocketAddr,
    },
    /// A text datagram that the SIP parser refuses.
    Unparseable {
        /// The first bytes, lossily decoded.
        start: String,
    },
}

impl fmt::Display for WireBreach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireBreach::CSeqNotIncreasing {
                call_id,
                previous,
                cseq,
                method,
            } => write!(
                f,
                "new {method} with CSeq {cseq} after CSeq {previous} in dialog {call_id}"
            ),
            WireBreach::RetransmissionChanged { call_id, branch } => write!(
                f,
                "retransmission on branch {branch} changed CSeq or method in dialog {call_id}"
            ),
            WireBreach::RequestAfterCleanup { call_id, method } => {
                write!(
                    f,
                    "new {method} sent for dialog {call_id} after its cleanup"
                )
            }
            WireBreach::SessionAfterCleanup { call_id } => {
                write!(f, "new session for dialog {call_id} after its cleanup")
            }
            WireBreach::RtpFromClosedPort { local } => {
                write!(f, "RTP sent from {local}, which is not open")
            }
            WireBreach::Unparseable { start } => write!(f, "unparseable SIP sent: {start:?}"),
        }
    }
}

/// The per-node bookkeeping behind the wire rules.
#[derive(Debug, Default)]
pub struct WireRules {
    /// Keyed by (Call-ID, From tag, To tag): our requests' side of each dialog.
    dialogs: BTreeMap<(String, String, String), DialogSends>,
    cleaned: BTreeSet<String>,
    rtp_open: BTreeSet<SocketAddr>,
    breach: Option<WireBreach>,
}

#[derive(Debug, Default)]
struct DialogSends {
    max_cseq: Option<u32>,
    branches: VecDeque<(String, u32, Method)>,
}

impl WireRules {
    /// The first breach found, if any.
    pub fn first_breach(&self) -> Option<&WireBreach> {
        self.breach.as_ref()
    }

    /// The endpoint forgot the last of its sessions for `call_id`.
    pub fn dialog_cleaned(&mut self, call_id: &str) {
        if self.cleaned.len() < MAX_TRACKED_DIALOGS {
            self.cleaned.insert(call_id.to_owned());
        }
    }

    /// The endpoint started a session for `call_id`.
    pub fn session_started(&mut self, call_id: &str) {
        if self.breach.is_none() && self.cleaned.contains(call_id) {
            self.breach = Some(WireBreach::SessionAfterCleanup {
                call_id: call_id.to_owned(),
            });
        }
    }

    /// The runtime opened an RTP port.
    pub fn rtp_opened(&mut self, local: SocketAddr) {
        self.rtp_open.insert(local);
        // And its RTCP socket on the port above (RFC 3550 §11).
        self.rtp_open
            .extend(session_core::media::rtcp::rtcp_address(local));
    }

    /// The core asked for an RTP port to be closed.
    pub fn rtp_closed(&mut self, local: SocketAddr) {
        self.rtp_open.remove(&local);
        if let Some(rtcp) = session_core::media::rtcp::rtcp_address(local) {
            self.rtp_open.remove(&rtcp);
        }
    }

    /// The process restarted: its sockets are gone, and so is its memory of which
    /// dialogs it cleaned up (a retransmission it now takes for a new call is no bug).
    pub fn restarted(&mut self) {
        self.rtp_open.clear();
        self.cleaned.clear();
    }

    /// Checks one datagram the node sends from `local`.
    pub fn check_send(&mut self, local: SocketAddr, payload: &[u8]) {
        if self.breach.is_some() {
            return;
        }
        if let Err(b) = self.check(local, payload) {
            self.breach = Some(b);
        }
    }

    fn check(&mut self, local: SocketAddr, payload: &[u8]) -> Result<(), WireBreach> {
        if payload.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(()); // a keep-alive (RFC 5626 §4.4.1)
        }
        if !payload[0].is_ascii_uppercase() {
            return if self.rtp_open.contains(&local) {
                Ok(())
            } else {
                Err(WireBreach::RtpFromClosedPort { local })
            };
        }
        if payload.starts_with(b"SIP/2.0 ") {
            return Ok(()); // responses are always allowed (and the peer parses them)
        }
        let message = Message::parse(payload).map_err(|_| WireBreach::Unparseable {
            start: String::from_utf8_lossy(&payload[..payload.len().min(40)]).into_owned(),
        })?;
        let Some(method) = message.method() else {
            return Ok(()); // responses are always allowed
        };
        if matches!(method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        let call_id = message.call_id();
        let cseq = message.cseq().seq;
        let branch = message.top_via().branch.unwrap_or("");
        let from_tag = message.from().tag().unwrap_or("");
        let to_tag = message.to().tag().unwrap_or("");
        let key = (call_id.to_owned(), from_tag.to_owned(), to_tag.to_owned());
        if !self.dialogs.contains_key(&key) {
            if self.dialogs.len() >= MAX_TRACKED_DIALOGS {
                return Ok(());
            }
            // A dialog's requests continue the CSeq space of the request that created it
            // (RFC 3261 §12.1.2); two dialogs of one Call-ID (a forked INVITE) each do.
            let created_by = (key.0.clone(), key.1.clone(), String::new());
            let max_cseq = if to_tag.is_empty() {
                None
            } else {
                self.dialogs.get(&created_by).and_then(|d| d.max_cseq)
            };
            self.dialogs.insert(
                key.clone(),
                DialogSends {
                    max_cseq,
                    branches: VecDeque::new(),
                },
            );
        }
        let Some(dialog) = self.dialogs.get_mut(&key) else {
            return Ok(()); // inserted just above
        };
        if let Some((_, c, m)) = dialog.branches.iter().find(|(b, _, _)| b == branch) {
            return if *c == cseq && m == method {
                Ok(())
            } else {
                Err(WireBreach::RetransmissionChanged {
                    call_id: call_id.to_owned(),
                    branch: branch.to_owned(),
                })
            };
        }
        if self.cleaned.contains(call_id) {
            return Err(WireBreach::RequestAfterCleanup {
                call_id: call_id.to_owned(),
                method: method.to_string(),
            });
        }
        if let Some(previous) = dialog.max_cseq.filter(|&m| cseq <= m) {
            return Err(WireBreach::CSeqNotIncreasing {
                call_id: call_id.to_owned(),
                previous,
                cseq,
                method: method.to_string(),
            });
        }
        dialog.max_cseq = Some(cseq);
        if dialog.branches.len() == MAX_BRANCHES_PER_DIALOG {
            dialog.branches.pop_front();
        }
        dialog
            .branches
            .push_back((branch.to_owned(), cseq, method.clone()));
        Ok(())
    }
}

/// The name of [`WireRulesHold`].
pub const WIRE_RULES_INVARIANT: &str = "wire_rules";
/// The name of [`SessionsEnd`].
pub const SESSIONS_END_INVARIANT: &str = "sessions_end_and_are_cleaned_up";
/// The name of [`OutcomeAgreement`].
pub const OUTCOME_AGREEMENT_INVARIANT: &str = "both_sides_agree_on_the_outcome";
/// The name of [`TransferOutcome`].
pub const TRANSFER_OUTCOME_INVARIANT: &str = "every_transfer_has_one_true_outcome";
/// The name of [`BridgeLinks`].
pub const BRIDGE_LINKS_INVARIANT: &str = "bridges_link_two_distinct_legs";
/// The name of [`BridgesEnd`].
pub const BRIDGES_END_INVARIANT: &str = "both_legs_of_every_bridge_end";
/// The name of [`MovedCallsUnbroken`].
pub const MOVED_CALL_INVARIANT: &str = "a_moved_call_stays_one_call";

/// After every step: no node broke a wire rule.
#[derive(Clone, Copy, Debug, Default)]
pub struct WireRulesHold;

impl Invariant<EndpointNode> for WireRulesHold {
    fn name(&self) -> &str {
        WIRE_RULES_INVARIANT
    }

    fn after_step(&mut self, world: &World<EndpointNode>) -> Result<(), Breach> {
        for i in 0..world.node_count() {
            if let Some(b) = world.node(NodeId(i)).wire_breach() {
                return Err(Breach::Other(format!("{}: {b}", name(world, i))));
            }
        }
        Ok(())
    }
}

/// At the end: every running endpoint is idle and its sessions all terminated.
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionsEnd;

impl Invariant<EndpointNode> for SessionsEnd {
    fn name(&self) -> &str {
        SESSIONS_END_INVARIANT
    }

    fn after_step(&mut self, _world: &World<EndpointNode>) -> Result<(), Breach> {
        Ok(())
    }

    fn at_end(&mut self, world: &World<EndpointNode>) -> Result<(), Breach> {
        if !world.stats().quiescent {
            return Ok(()); // the liveness check already decided
        }
        for (i, node) in running(world) {
            for r in node.records() {
                if r.epoch == node.epoch() && r.ended.is_none() {
                    return Err(Breach::Other(format!(
                        "{}: session {} never reached a terminal state",
                        name(world, i),
                        r.id
                    )));
                }
            }
            if !node.endpoint().is_idle() {
                return Err(Breach::Other(format!(
                    "{}: endpoint not idle at the end ({})",
                    name(world, i),
                    crate::node::SimNode::state_label(node)
                )));
            }
        }
        Ok(())
    }
}

/// At the end: for every call both sides recorded, both agree whether it was answered,
/// unless one side ended with a timeout.
///
/// Unless `strict`, two races the simulator found in the core are tolerated (and
/// reported to the lead; see [`KnownRace`]): with `strict` they are violations.
#[derive(Clone, Copy, Debug, Default)]
pub struct OutcomeAgreement {
    /// Whether the [`KnownRace`]s count as violations too.
    pub strict: bool,
}

/// Disagreements on "answered" that the current core produces under loss, tolerated by a
/// non-strict [`OutcomeAgreement`] so that sweeps find everything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KnownRace {
    /// The caller hung up before it saw the callee's 2xx (its CANCEL crossed the 2xx, or
    /// waited for a provisional response that never came): the caller ACKs and BYEs the
    /// 2xx, as it should, but reports `Cancelled { by: Local }` (or `HungUp { by: Local }`,
    /// `Shutdown`) without `Answered`; the callee reports `Answered` then `HungUp { by:
    /// Remote }` (e.g. `loss_20.yaml` seed 24), or `Shutdown` when its own shutdown's BYE
    /// crossed the caller's lost one (the transfer scenarios' sweeps), or `HungUp { by:
    /// Local }` when a B2BUA's incoming leg was hung up through its bridge (the other
    /// leg's peer hung up) as the caller's BYE was on its way (`b2bua.yaml` seed 1436).
    CancelCrossed2xx,
    /// Every ACK for the callee's 2xx was lost and the caller's BYE arrived first: the
    /// callee reports `HungUp { by: Remote }` without ever reporting `Answered` (its
    /// `Answered` waits for the ACK), though the caller did (e.g. `loss_20.yaml` seed 38).
    ByeBeforeAck,
    /// The callee hung up (or shut down, or took an INVITE with Replaces in the call's
    /// place) after sending its 2xx but before the ACK: it waits for the ACK before its
    /// BYE (RFC 3261 §15), as it should, but then reports `HungUp { by: Local }` (or
    /// `Replaced`) without `Answered`, though the caller reported `Answered` (found by
    /// `endpoint_random.rs`, and by the attended transfer sweep).
    HangupBeforeAck,
    /// The caller could not use the callee's 2xx (its SDP arrived corrupted or
    /// unacceptable): it ACKs and BYEs it and reports `NotAcceptable` (or `Internal`)
    /// without `Answered`, while the callee reports `Answered` and then whatever ended its
    /// side first: that BYE (`HungUp { by: Remote }`), or, when the BYE was delayed or
    /// lost, its own hang-up or shutdown, or the 481 its next request met
    /// (`DialogGone`). Not a race: both are right about what they saw. (That the BYE is
    /// sent at all is `core_findings.rs`'s `an_unusable_2xx_is_acked_and_byed`.)
    CallerRefused2xx,
    /// The caller's INVITE arrived with its Via branch corrupted, then intact as a
    /// retransmission: to the callee that is a second request with the same From tag,
    /// Call-ID and CSeq in another transaction, which RFC 3261 §8.2.2.2 answers 482
    /// (merged request). The caller reports `Rejected { status: 482 }` and ACKs and BYEs
    /// the callee's 2xx to the first copy; the callee reports `Answered` then
    /// `HungUp { by: Remote }`. Not a race: both are right about what they saw.
    CorruptedInviteLooksMerged,
    /// The callee's 2xx reached the caller with its status code damaged into an error
    /// (`200` read as `400`): the caller reports `Rejected { by: Remote }` and ACKs it as
    /// a rejection, which the callee takes for the ACK of its 2xx (RFC 6026's Accepted
    /// state passes an ACK of the INVITE's branch up); the callee reports `Answered`, and
    /// its side ends by its BYE meeting a 481, or however else it ends first. Both are
    /// right about what they saw.
    CorruptedStatusLooksRejected,
}

impl KnownRace {
    /// Which known race, if any, explains a disagreement between a caller's and a
    /// callee's record.
    pub fn classify(caller: &SessionRecord, callee: &SessionRecord) -> Option<KnownRace> {
        let hung_up = |r: &SessionRecord, by: Option<Side>| match &r.ended {
            Some(EndReason::HungUp { by: b }) => by.is_none_or(|by| by == *b),
            Some(EndReason::ByeTimedOut) => by != Some(Side::Remote),
            Some(EndReason::Shutdown) => by != Some(Side::Remote),
            // Ended here because another call took its place (RFC 3891): a local hangup.
            Some(EndReason::Replaced { .. }) => by != Some(Side::Remote),
            _ => false,
        };
        let caller_gave_up = hung_up(caller, Some(Side::Local))
            || matches!(caller.ended, Some(EndReason::Cancelled { by: Side::Local }));
        let callee_ended = hung_up(callee, Some(Side::Remote))
            || matches!(callee.ended, Some(EndReason::Shutdown))
            || (callee.bridged_with.is_some() && hung_up(callee, Some(Side::Local)));
        if !caller.answered && caller_gave_up && callee.answered && callee_ended {
            return Some(KnownRace::CancelCrossed2xx);
        }
        let caller_refused = matches!(
            caller.ended,
            Some(EndReason::NotAcceptable | EndReason::Internal)
        );
        let callee_gone = hung_up(callee, None) || callee.ended == Some(EndReason::DialogGone);
        if !caller.answered && caller_refused && callee.answered && callee_gone {
            return Some(KnownRace::CallerRefused2xx);
        }
        let caller_saw_482 = matches!(
            caller.ended,
            Some(EndReason::Rejected {
                by: Side::Remote,
                status: 482
            })
        );
        if !caller.answered
            && caller_saw_482
            && callee.answered
            && hung_up(callee, Some(Side::Remote))
        {
            return Some(KnownRace::CorruptedInviteLooksMerged);
        }
        let caller_rejected = matches!(
            caller.ended,
            Some(EndReason::Rejected {
                by: Side::Remote,
                ..
            })
        );
        if !caller.answered && caller_rejected && callee.answered && callee_gone {
            return Some(KnownRace::CorruptedStatusLooksRejected);
        }
        if caller.answered && hung_up(caller, None) && !callee.answered && callee.responded {
            if hung_up(callee, Some(Side::Remote)) {
                return Some(KnownRace::ByeBeforeAck);
            }
            if hung_up(callee, Some(Side::Local)) {
                return Some(KnownRace::HangupBeforeAck);
            }
        }
        None
    }
}

impl Invariant<EndpointNode> for OutcomeAgreement {
    fn name(&self) -> &str {
        OUTCOME_AGREEMENT_INVARIANT
    }

    fn after_step(&mut self, _world: &World<EndpointNode>) -> Result<(), Breach> {
        Ok(())
    }

    fn at_end(&mut self, world: &World<EndpointNode>) -> Result<(), Breach> {
        let mut callees: BTreeMap<&str, (usize, &SessionRecord)> = BTreeMap::new();
        for i in 0..world.node_count() {
            for r in world.node(NodeId(i)).records() {
                if let (false, Some(call_id), Some(_)) = (r.outgoing, &r.call_id, &r.ended) {
                    callees.insert(call_id, (i, r));
                }
            }
        }
        for i in 0..world.node_count() {
            for r in world.node(NodeId(i)).records() {
                let (true, Some(call_id), Some(end)) = (r.outgoing, &r.call_id, &r.ended) else {
                    continue;
                };
                let Some(&(j, callee)) = callees.get(call_id.as_str()) else {
                    continue;
                };
                if callee.answered == r.answered {
                    continue;
                }
                let timed_out = matches!(end, EndReason::Timeout | EndReason::ByeTimedOut)
                    || matches!(
                        callee.ended,
                        Some(EndReason::Timeout | EndReason::ByeTimedOut)
                    );
                if timed_out || (!self.strict && KnownRace::classify(r, callee).is_some()) {
                    continue;
                }
                return Err(Breach::Other(format!(
                    "call {call_id}: {} says answered = {} ({end:?}), {} says answered = {} ({:?})",
                    name(world, i),
                    r.answered,
                    name(world, j),
                    callee.answered,
                    callee.ended,
                )));
            }
        }
        Ok(())
    }
}

/// Every transfer a script asked for came to one reported outcome at most, and each
/// reported success is true: the peer of that call (when its node kept its memory)
/// placed the call the REFER asked for. A transfer without an outcome is one whose call
/// ended first (a BYE, a restart), which [`SessionsEnd`] already requires of every call.
#[derive(Clone, Copy, Debug, Default)]
pub struct TransferOutcome;

impl Invariant<EndpointNode> for TransferOutcome {
    fn name(&self) -> &str {
        TRANSFER_OUTCOME_INVARIANT
    }

    fn after_step(&mut self, _world: &World<EndpointNode>) -> Result<(), Breach> {
        Ok(())
    }

    fn at_end(&mut self, world: &World<EndpointNode>) -> Result<(), Breach> {
        for i in 0..world.node_count() {
            for r in world.node(NodeId(i)).records() {
                let told = r.transfer_outcomes.len();
                if told > r.transfers_asked as usize {
                    return Err(Breach::Other(format!(
                        "{} session {}: {} transfers asked, {told} outcomes reported: {:?}",
                        name(world, i),
                        r.id,
                        r.transfers_asked,
                        r.transfer_outcomes
                    )));
                }
                let succeeded = r.transfer_outcomes.iter().any(Result::is_ok);
                let Some(call_id) = r.call_id.as_deref().filter(|_| succeeded) else {
                    continue;
                };
                // The peer's node may hold two sessions of this Call-ID (a copy of the
                // INVITE damaged into naming another dialog rang again): the REFER landed
                // on one of them.
                let transferee = (0..world.node_count()).filter(|&j| j != i).find_map(|j| {
                    let mut same = world
                        .node(NodeId(j))
                        .records()
                        .iter()
                        .filter(|t| t.call_id.as_deref() == Some(call_id))
                        .peekable();
                    same.peek()?;
                    Some((j, same.any(|t| !t.referred_calls.is_empty())))
                });
                if let Some((j, false)) = transferee {
                    return Err(Breach::Other(format!(
                        "call {call_id}: {} was told its transfer succeeded, but {} placed no \
                         call for a REFER on it",
                        name(world, i),
                        name(world, j),
                    )));
                }
            }
        }
        Ok(())
    }
}

/// After every step: every bridge a node's endpoint holds links two different sessions,
/// each bridged to the other (a link is symmetric, so no session has two legs), and the
/// other leg exists (or is a call still resolving its target's name).
#[derive(Clone, Copy, Debug, Default)]
pub struct BridgeLinks;

impl Invariant<EndpointNode> for BridgeLinks {
    fn name(&self) -> &str {
        BRIDGE_LINKS_INVARIANT
    }

    fn after_step(&mut self, world: &World<EndpointNode>) -> Result<(), Breach> {
        for (i, node) in running(world).filter(|(_, n)| n.has_bridged()) {
            let ep = node.endpoint();
            for s in ep.sessions() {
                let Some(peer) = s.bridged_with else {
                    continue;
                };
                let fault = if peer == s.id {
                    "itself".to_owned()
                } else {
                    match ep.session(peer) {
                        Some(p) if p.bridged_with == Some(s.id) => continue,
                        Some(p) => format!("{peer}, which is bridged to {:?}", p.bridged_with),
                        None if node.is_resolving(peer) => continue,
                        None => format!("{peer}, which the endpoint no longer has"),
                    }
                };
                return Err(Breach::Other(format!(
                    "{}: session {} is bridged to {fault}",
                    name(world, i),
                    s.id
                )));
            }
        }
        Ok(())
    }
}

/// How many T1 a bridged leg may outlive its other leg once the network has healed: the
/// transaction that ends it (a BYE's, a CANCEL's, a final response waiting for its ACK)
/// gives up after 64 × T1 (RFC 3261 Timers B, F, H).
pub const BRIDGE_END_BOUND_T1: u32 = 64;
/// Added to that bound: the linger before `Terminated` and the network's latency.
pub const BRIDGE_END_SLACK: Duration = Duration::from_secs(4);

/// In the liveness phase, a bridged leg outlives its other leg by a transaction's time at
/// most; at the end, both legs of every bridge a node recorded ended, and when one leg
/// ended before the other, the second did not end by a timeout of its own — its bridge
/// should have ended it when the first leg went (or its own peer did).
#[derive(Clone, Copy, Debug, Default)]
pub struct BridgesEnd;

impl Invariant<EndpointNode> for BridgesEnd {
    fn name(&self) -> &str {
        BRIDGES_END_INVARIANT
    }

    fn after_step(&mut self, world: &World<EndpointNode>) -> Result<(), Breach> {
        if world.phase() != Phase::Liveness {
            return Ok(());
        }
        for (i, node) in running(world).filter(|(_, n)| n.has_bridged()) {
            let bound = node.config().timers.t1 * BRIDGE_END_BOUND_T1 + BRIDGE_END_SLACK;
            let current = || {
                node.records()
                    .iter()
                    .rev()
                    .take_while(|r| r.epoch == node.epoch())
            };
            for leg in current().filter(|r| r.ended.is_none() && !r.cleaned) {
                let Some(peer) = leg.bridged_with else {
                    continue;
                };
                let Some(gone_at) = current().find(|r| r.id == peer).and_then(|r| r.ended_at)
                else {
                    continue;
                };
                if node.now() > gone_at + bound {
                    return Err(Breach::Other(format!(
                        "{}: half-bridged: leg {} still up {} ms after its other leg {peer} \
                         ended",
                        name(world, i),
                        leg.id,
                        (node.now() - gone_at).as_millis()
                    )));
                }
            }
        }
        Ok(())
    }

    fn at_end(&mut self, world: &World<EndpointNode>) -> Result<(), Breach> {
        if !world.stats().quiescent {
            return Ok(()); // the liveness check already decided
        }
        for (i, node) in running(world) {
            let current = || node.records().iter().filter(|r| r.epoch == node.epoch());
            for leg in current() {
                let Some(peer) = leg.bridged_with else {
                    continue;
                };
                let Some(other) = current().find(|r| r.id == peer) else {
                    continue; // not recorded (the record limit)
                };
                let breach = |what: String| {
                    Err(Breach::Other(format!(
                        "{}: bridge {} <-> {}: {what}",
                        name(world, i),
                        leg.id,
                        other.id
                    )))
                };
                let (Some(first), Some(second)) = (leg.end_order, other.end_order) else {
                    let (up, gone) = if leg.ended.is_none() {
                        (leg, other)
                    } else {
                        (other, leg)
                    };
                    return breach(format!(
                        "leg {} is still up, its other leg {} ended with {:?}",
                        up.id, gone.id, gone.ended
                    ));
                };
                if first < second
                    && matches!(
                        other.ended,
                        Some(EndReason::MediaTimeout | EndReason::SessionExpired)
                    )
                {
                    return breach(format!(
                        "leg {} ended with {:?} after leg {} had ended with {:?}: the bridge \
                         did not hang it up",
                        other.id, other.ended, leg.id, leg.ended
                    ));
                }
            }
        }
        Ok(())
    }
}

/// At the end: a call one node handed over and another took over
/// ([`crate::node::ScriptAction::HandOver`]) stayed one call for its peer. The peer has one
/// session for it, answered, and the call ended as its script ended it: by the BYE of
/// one side, answered by the other (the peer's end is a hang-up of its own and the new
/// owner's one by the peer, or the other way round), not by anything that the move could
/// have broken. A call that ended because the network failed it for longer than RFC
/// 3261 waits (a request timed out, media stopped for the media timeout, the session
/// expired, a request was answered 481 after a corrupted copy) is exempt, on either side;
/// so is a call still up when the run ends (the liveness checks judge those).
#[derive(Clone, Copy, Debug, Default)]
pub struct MovedCallsUnbroken;

impl Invariant<EndpointNode> for MovedCallsUnbroken {
    fn name(&self) -> &str {
        MOVED_CALL_INVARIANT
    }

    fn after_step(&mut self, _world: &World<EndpointNode>) -> Result<(), Breach> {
        Ok(())
    }

    fn at_end(&mut self, world: &World<EndpointNode>) -> Result<(), Breach> {
        let network_failed = |end: &Option<EndReason>| {
            matches!(
                end,
                Some(
                    EndReason::Timeout
                        | EndReason::ByeTimedOut
                        | EndReason::MediaTimeout
                        | EndReason::SessionExpired
                        | EndReason::DialogGone
                        | EndReason::TransportError
                )
            )
        };
        for (i, node) in running(world) {
            for moved in node.records().iter().filter(|r| r.taken_over) {
                let Some(call_id) = moved.call_id.as_deref() else {
                    continue;
                };
                let peers: Vec<(usize, &SessionRecord)> = running(world)
                    .filter(|(j, _)| *j != i)
                    .flat_map(|(j, n)| n.records().iter().map(move |r| (j, r)))
                    .filter(|(_, r)| r.call_id.as_deref() == Some(call_id) && !r.taken_over)
                    .collect();
                let &[(j, peer)] = peers.as_slice() else {
                    return Err(Breach::Other(format!(
                        "moved call {call_id}: {} sessions for it on its peers",
                        peers.len()
                    )));
                };
                if !peer.answered {
                    return Err(Breach::Other(format!(
                        "moved call {call_id}: {} never saw it answered",
                        name(world, j)
                    )));
                }
                if moved.ended.is_none() || peer.ended.is_none() {
                    continue;
                }
                if network_failed(&moved.ended) || network_failed(&peer.ended) {
                    continue;
                }
                let by = |r: &SessionRecord, side| r.ended == Some(EndReason::HungUp { by: side });
                let peer_hung_up = by(peer, Side::Local) && by(moved, Side::Remote);
                let owner_hung_up = by(moved, Side::Local) && by(peer, Side::Remote);
                if !(peer_hung_up || owner_hung_up) {
                    return Err(Breach::Other(format!(
                        "moved call {call_id}: {} ended {:?}, {} (its new owner) ended {:?}",
                        name(world, j),
                        peer.ended,
                        name(world, i),
                        moved.ended
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The session-level invariants for `Endpoint` runs, to add to the standard ones.
pub fn endpoint_invariants() -> Vec<Box<dyn Invariant<EndpointNode>>> {
    vec![
        Box::new(WireRulesHold),
        Box::new(BridgeLinks),
        Box::new(SessionsEnd),
        Box::new(BridgesEnd),
        Box::new(OutcomeAgreement::default()),
        Box::new(TransferOutcome),
        Box::new(MovedCallsUnbroken),
    ]
}

fn name(world: &World<EndpointNode>, i: usize) -> &str {
    &world.participants()[i].0
}

/// The nodes not stopped, with their index, in order.
fn running(world: &World<EndpointNode>) -> impl Iterator<Item = (usize, &EndpointNode)> + '_ {
    (0..world.node_count())
        .filter(|&i| world.status(NodeId(i)) != NodeStatus::Stopped)
        .map(|i| (i, world.node(NodeId(i))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, cseq: u32, branch: &str, call_id: &str) -> Vec<u8> {
        request_to(method, cseq, branch, call_id, "b1")
    }

    fn request_to(method: &str, cseq: u32, branch: &str, call_id: &str, to_tag: &str) -> Vec<u8> {
        let to_tag = if to_tag.is_empty() {
            String::new()
        } else {
            format!(";tag={to_tag}")
        };
        format!(
            "{method} sip:bob@10.0.0.2:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{branch}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:alice@10.0.0.1>;tag=a1\r\n\
             To: <sip:bob@10.0.0.2>{to_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn sip() -> SocketAddr {
        "10.0.0.1:5060".parse().unwrap()
    }

    #[test]
    fn increasing_cseqs_and_retransmissions_pass() {
        let mut r = WireRules::default();
        r.check_send(sip(), &request("INVITE", 1, "x1", "c1"));
        r.check_send(sip(), &request("INVITE", 1, "x1", "c1"));
        r.check_send(sip(), &request("ACK", 1, "x2", "c1"));
        r.check_send(sip(), &request("BYE", 2, "x3", "c1"));
        // A late retransmission of the older INVITE is still a retransmission.
        r.check_send(sip(), &request("INVITE", 1, "x1", "c1"));
        r.check_send(sip(), &request("INVITE", 1, "y1", "c2"));
        assert_eq!(r.first_breach(), None);
    }

    #[test]
    fn a_new_request_with_a_lower_or_equal_cseq_is_a_breach() {
        let mut r = WireRules::default();
        r.check_send(sip(), &request("INVITE", 5, "x1", "c1"));
        r.check_send(sip(), &request("BYE", 5, "x2", "c1"));
        assert!(matches!(
            r.first_breach(),
            Some(WireBreach::CSeqNotIncreasing {
                previous: 5,
                cseq: 5,
                ..
            })
        ));
    }

    #[test]
    fn each_dialog_of_a_forked_invite_continues_the_invites_cseq() {
        let mut r = WireRules::default();
        r.check_send(sip(), &request_to("INVITE", 4, "x1", "c1", ""));
        r.check_send(sip(), &request_to("BYE", 5, "x2", "c1", "fork1"));
        r.check_send(sip(), &request_to("BYE", 5, "x3", "c1", "fork2"));
        assert_eq!(r.first_breach(), None);
        r.check_send(sip(), &request_to("INFO", 4, "x4", "c1", "fork3"));
        assert!(matches!(
            r.first_breach(),
            Some(WireBreach::CSeqNotIncreasing {
                previous: 4,
                cseq: 4,
                ..
            })
        ));
    }

    #[test]
    fn a_retransmission_that_changes_its_cseq_is_a_breach() {
        let mut r = WireRules::default();
        r.check_send(sip(), &request("INVITE", 1, "x1", "c1"));
        r.check_send(sip(), &request("INVITE", 2, "x1", "c1"));
        assert!(matches!(
            r.first_breach(),
            Some(WireBreach::RetransmissionChanged { .. })
        ));
    }

    #[test]
    fn only_new_requests_are_refused_after_cleanup() {
        let mut r = WireRules::default();
        r.check_send(sip(), &request("BYE", 2, "x1", "c1"));
        r.dialog_cleaned("c1");
        r.check_send(sip(), &request("BYE", 2, "x1", "c1"));
        r.check_send(sip(), &request("ACK", 1, "x9", "c1"));
        r.check_send(
            sip(),
            b"SIP/2.0 481 Call/Transaction Does Not Exist\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKq\r\nFrom: <sip:b@h>;tag=1\r\nTo: <sip:a@h>;tag=2\r\nCall-ID: c1\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(r.first_breach(), None);
        r.check_send(sip(), &request("INFO", 3, "x2", "c1"));
        assert!(matches!(
            r.first_breach(),
            Some(WireBreach::RequestAfterCleanup { .. })
        ));
    }

    #[test]
    fn rtp_only_from_an_open_port() {
        let mut r = WireRules::default();
        let port: SocketAddr = "10.0.0.1:20000".parse().unwrap();
        r.rtp_opened(port);
        r.check_send(port, &[0x80, 0, 0, 1]);
        assert_eq!(r.first_breach(), None);
        r.rtp_closed(port);
        r.check_send(port, &[0x80, 0, 0, 2]);
        assert_eq!(
            r.first_breach(),
            Some(&WireBreach::RtpFromClosedPort { local: port })
        );
    }

    #[test]
    fn unparseable_text_is_a_breach() {
        let mut r = WireRules::default();
        r.check_send(sip(), b"GARBAGE\r\n\r\n");
        assert!(matches!(
            r.first_breach(),
            Some(WireBreach::Unparseable { .. })
        ));
    }
}
