//! What the simulator drives: a node with the sans-IO shape of `session_core`'s `Endpoint`.
//!
//! The four driving operations are exactly those of the core's contract (see
//! ARCHITECTURE.md, "The sans-IO contract"): feed a datagram, feed the passage of time,
//! drain outputs, ask for the next deadline. Scripting adds one more operation,
//! [`SimNode::apply`], through which a scenario's timeline reaches the node. Wiring the real
//! `Endpoint` in is one adapter `impl SimNode` that forwards the four calls and maps
//! [`ScriptAction`]s onto the endpoint's commands.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use session_core::sip::Transport;
use session_core::Instant;

/// A participant's index in the run, in scenario order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub usize);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// A datagram a node wants sent: the core's `Transmit`, in simulator terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The node's own address the datagram leaves from.
    pub local: SocketAddr,
    /// Where it goes.
    pub remote: SocketAddr,
    /// The transport it travels on (only UDP semantics are simulated: every datagram may be
    /// lost, duplicated, reordered or corrupted).
    pub transport: Transport,
    /// The bytes on the wire.
    pub payload: Vec<u8>,
}

/// One output drained from a node after an input, mirroring the core's `Output` enum.
#[derive(Clone, Debug)]
pub enum NodeOutput<E, M> {
    /// A datagram to put on the virtual network.
    Transmit(Transmit),
    /// A media or socket request for the runtime, which the simulator plays (see
    /// [`SimNode::serve_media`]).
    Media(M),
    /// A session event for the application: recorded, checked against expectations and
    /// matched against the scenario's reactions.
    Event(E),
}

/// An application event, as far as the simulator needs to know it.
pub trait SimEvent: fmt::Debug + Clone {
    /// A short, stable, snake_case name (`incoming_call`, `answered`, `terminated`): what
    /// scenarios' reactions and expectations match on.
    fn name(&self) -> Cow<'_, str>;
}

/// A participant the simulator can drive: the sans-IO contract plus scripting.
///
/// Every call carries the node's own view of `now` (the simulator's virtual time after
/// this node's clock skew is applied).
pub trait SimNode {
    /// The application events the node emits.
    type Event: SimEvent;
    /// The media/socket requests the node emits.
    type Media: fmt::Debug;

    /// A datagram arrived on `local` from `remote`.
    fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    );

    /// The deadline last returned by [`SimNode::poll_timeout`] has passed.
    fn handle_timeout(&mut self, now: Instant);

    /// The next output, or `None` once drained. Called until `None` after every input.
    fn poll_output(&mut self) -> Option<NodeOutput<Self::Event, Self::Media>>;

    /// When the node next needs [`SimNode::handle_timeout`]; `None` when it needs no wake-up.
    fn poll_timeout(&mut self) -> Option<Instant>;

    /// Performs a scripted action (place a call, hang up, …) at `now`.
    ///
    /// Actions the simulator handles itself (stop, restart, pause) never reach the node.
    fn apply(
        &mut self,
        now: Instant,
        action: &ScriptAction,
        ctx: &ScriptContext<'_>,
    ) -> Result<(), ScriptError>;

    /// Serves a media request the way a runtime would (open a virtual RTP port, close it).
    /// The default does nothing; the `Endpoint` adapter will answer `handle_media` here.
    fn serve_media(&mut self, now: Instant, request: &Self::Media) {
        let _ = (now, request);
    }

    /// The process was restarted at `now`: everything in memory is lost. The default does
    /// nothing; an adapter typically rebuilds its endpoint from its configuration and seed.
    fn restart(&mut self, now: Instant) {
        let _ = now;
    }

    /// The node's calls, as another node of the same configuration can take them over
    /// ([`SimNode::take_over`]): what a failing machine left in shared storage. The
    /// default has none.
    fn hand_over(&mut self, now: Instant) -> Vec<String> {
        let _ = now;
        Vec::new()
    }

    /// Goes on with calls another node handed over; returns how many it took. The
    /// default takes none.
    fn take_over(&mut self, now: Instant, calls: &[String]) -> Result<usize, ScriptError> {
        let _ = (now, calls);
        Err(ScriptError::Unsupported(ScriptAction::HandOver {
            to: String::new(),
        }))
    }

    /// A short label for the node's current state, compared with a scenario's expected
    /// final state (`idle`, `in_call`, …).
    fn state_label(&self) -> Cow<'_, str>;
}

/// A scripted action on a participant, from a scenario's timeline or a reaction.
///
/// Besides the simulator's own (stop, restart, pause), one variant per session command of
/// the core's `Endpoint`, mapped in the adapter's [`SimNode::apply`]
/// ([`crate::endpoint_node`]). In YAML the variant is named by `do`:
/// `{ do: call, to: bob }`, `{ do: reject, status: 486 }`, `{ do: dtmf, digits: "12#" }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum ScriptAction {
    /// Start a call (for the toy node: a request) towards another participant.
    Call {
        /// The participant's name, or a SIP URI (`sip:bob@example.com`, its host answered
        /// from the scenario's `dns`).
        to: String,
    },
    /// Place a call to another participant as the outgoing leg of the newest incoming
    /// call that is not answered, rejected or bridged yet, bridged to it from the start (a
    /// B2BUA's routing: a reaction on `incoming_call` of a `table: gateway` participant).
    BridgeCall {
        /// The participant's name, or a SIP URI.
        to: String,
    },
    /// End the current call (for the toy node: abandon outstanding requests).
    Hangup,
    /// Answer the newest incoming call that is not answered yet (`answer after N ms` is a
    /// reaction on `incoming_call` with `after_ms: N`).
    Answer,
    /// Reject the newest incoming call that is not answered yet with a 4xx–6xx status.
    Reject {
        /// The final status code.
        status: u16,
    },
    /// Put the current call on hold (RFC 3264 §8.4).
    Hold,
    /// Take the current call off hold.
    Resume,
    /// Offer the current call's session again by UPDATE (RFC 3311).
    Update,
    /// Send DTMF digits on the current call (RFC 4733).
    Dtmf {
        /// The digits, `0-9*#A-D`.
        digits: String,
    },
    /// Blind-transfer the current call's peer to another participant (REFER, RFC 3515).
    Transfer {
        /// The participant the peer is asked to call.
        to: String,
    },
    /// Attended transfer: ask the peer of the call before the current one to call the
    /// party of the current call, which its INVITE replaces (REFER with Replaces, RFC
    /// 3891, RFC 5589 §7).
    AttendedTransfer,
    /// End every call ahead of shutting down (BYE, CANCEL or a final response).
    Shutdown,
    /// Simulator-level: the node's process stops; nothing is delivered to it afterwards and
    /// its timers never fire.
    Stop,
    /// Simulator-level: the node's process restarts (after a stop, or in place), losing its
    /// memory ([`SimNode::restart`]).
    Restart,
    /// Register with the participant `at` (a registrar) for `expires` seconds, as
    /// `sip:NAME@ADDRESS-OF-AT`.
    Register {
        /// The registrar participant's name.
        at: String,
        /// The expiry asked for, in seconds.
        expires: u32,
    },
    /// Remove the registration (REGISTER with `Expires: 0`).
    Unregister,
    /// Simulator-level: the node's process is paused for `for_ms` milliseconds; datagrams
    /// and timers due meanwhile are handled, in order, when it resumes.
    Pause {
        /// How long the pause lasts, in milliseconds.
        for_ms: u64,
    },
    /// Simulator-level: the node snapshots every call it can move
    /// ([`SimNode::hand_over`]), its process stops as for `stop`, and participant `to`
    /// restores them ([`SimNode::take_over`]): a machine failing over to another.
    HandOver {
        /// The participant that takes the calls over.
        to: String,
    },
}

impl ScriptAction {
    /// Whether the simulator performs this action itself rather than the node.
    pub fn is_simulator_level(&self) -> bool {
        matches!(
            self,
            ScriptAction::Stop
                | ScriptAction::Restart
                | ScriptAction::Pause { .. }
                | ScriptAction::HandOver { .. }
        )
    }
}

impl fmt::Display for ScriptAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptAction::Call { to } => write!(f, "call {to}"),
            ScriptAction::BridgeCall { to } => write!(f, "bridge a call to {to}"),
            ScriptAction::Hangup => f.write_str("hangup"),
            ScriptAction::Answer => f.write_str("answer"),
            ScriptAction::Reject { status } => write!(f, "reject {status}"),
            ScriptAction::Hold => f.write_str("hold"),
            ScriptAction::Resume => f.write_str("resume"),
            ScriptAction::Update => f.write_str("update"),
            ScriptAction::Dtmf { digits } => write!(f, "dtmf {digits}"),
            ScriptAction::Transfer { to } => write!(f, "transfer to {to}"),
            ScriptAction::AttendedTransfer => f.write_str("attended transfer"),
            ScriptAction::Shutdown => f.write_str("shutdown"),
            ScriptAction::Stop => f.write_str("stop"),
            ScriptAction::Restart => f.write_str("restart"),
            ScriptAction::Pause { for_ms } => write!(f, "pause {for_ms}ms"),
            ScriptAction::HandOver { to } => write!(f, "hand over to {to}"),
            ScriptAction::Register { at, expires } => write!(f, "register at {at} for {expires}s"),
            ScriptAction::Unregister => f.write_str("unregister"),
        }
    }
}

/// What a node may look up while applying an action: the participants of the run.
#[derive(Clone, Copy, Debug)]
pub struct ScriptContext<'a> {
    /// The participants, in scenario order: name and SIP address.
    pub participants: &'a [(String, SocketAddr)],
}

impl ScriptContext<'_> {
    /// The address of the participant called `name`.
    pub fn address_of(&self, name: &str) -> Option<SocketAddr> {
        self.participants
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
    }
}

/// Why a node could not perform a scripted action. Not a violation by itself: recorded in
/// the trace, and an expectation or invariant decides whether it matters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScriptError {
    /// The action names a participant the run does not have.
    UnknownParticipant(String),
    /// The node does not implement this action.
    Unsupported(ScriptAction),
    /// The node refused the action in its current state (e.g. hang up with no call).
    InvalidInState {
        /// The action.
        action: ScriptAction,
        /// The node's state label at the time.
        state: String,
    },
    /// The node's own limit (calls, transactions) is reached.
    LimitReached,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptError::UnknownParticipant(n) => write!(f, "unknown participant {n}"),
            ScriptError::Unsupported(a) => write!(f, "unsupported action {a}"),
            ScriptError::InvalidInState { action, state } => {
                write!(f, "{action} is invalid in state {state}")
            }
            ScriptError::LimitReached => f.write_str("limit reached"),
        }
    }
}

impl std::error::Error for ScriptError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Holder {
        action: ScriptAction,
    }

    #[test]
    fn actions_read_from_yaml_by_their_do_field() {
        let h: Holder = serde_yaml::from_str("action: { do: call, to: bob }").unwrap();
        assert_eq!(h.action, ScriptAction::Call { to: "bob".into() });
        let h: Holder = serde_yaml::from_str("action: { do: pause, for_ms: 30 }").unwrap();
        assert_eq!(h.action, ScriptAction::Pause { for_ms: 30 });
        let h: Holder = serde_yaml::from_str("action: { do: stop }").unwrap();
        assert!(h.action.is_simulator_level());
    }

    #[test]
    fn unknown_fields_and_actions_are_rejected() {
        assert!(serde_yaml::from_str::<Holder>("action: { do: call, to: bob, x: 1 }").is_err());
        assert!(serde_yaml::from_str::<Holder>("action: { do: fly }").is_err());
    }
}
