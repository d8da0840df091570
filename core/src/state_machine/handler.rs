//! The boundary between the executor and the adapters: the executor decides, the
//! [`ActionHandler`] does (sends SIP, drives media, starts timers) and answers the named
//! guards that need more than the event.

use std::fmt;

use super::session::SessionState;
use crate::state_table::{Action, Event, GuardName, PublishedEvent};
use crate::time::Instant;

/// What the adapters implement for the executor. The dialog and media adapters (or a
/// test double that records calls) sit behind it, so the state machine runs alone.
pub trait ActionHandler {
    /// Performs one action of a firing transition. `session` is lent mutably so that an
    /// adapter can record facts in conditions (say, `HasLocalSdp`); the state itself can
    /// only change through the executor. An error stops the transition (see
    /// [`Outcome::ActionFailed`](super::Outcome::ActionFailed)).
    fn execute(
        &mut self,
        action: &Action,
        event: &Event,
        session: &mut SessionState,
        now: Instant,
    ) -> Result<(), ActionError>;

    /// Answers a named guard the event alone cannot answer (the event-derived ones —
    /// `HasRemoteSdp`, `IsRemoteHoldOffer`, `IsRemoteResumeOffer`, `IsGlare` — never
    /// reach here). Must not have side effects: guards of alternatives that do not fire
    /// are evaluated too.
    fn guard(&self, guard: GuardName, event: &Event, session: &SessionState) -> bool;

    /// Receives each application event a transition publishes, after the state changed.
    /// The default drops it (the events are also in the returned outcome).
    fn publish(&mut self, published: PublishedEvent, trigger: &Event, session: &SessionState) {
        let _ = (published, trigger, session);
    }
}

/// Why an action could not be performed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ActionError {
    /// The adapter does not implement this action.
    NotSupported,
    /// The action needs a dialog the session does not have.
    NoDialog,
    /// The action needs a media session the session does not have.
    NoMediaSession,
    /// The action needs a local SDP that was not generated.
    NoLocalSdp,
    /// The action needs a remote SDP that did not arrive.
    NoRemoteSdp,
    /// The remote SDP could not be accepted (no common codec, bad syntax).
    SdpNotAcceptable,
    /// There is no request or transaction to answer (already answered, or gone).
    NoTransaction,
    /// A limit of the endpoint was reached (sessions, transactions, ports).
    LimitReached,
    /// The transport refused the message.
    Transport,
    /// A registration action ran on a session that is not a registration.
    NoRegistration,
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActionError::NotSupported => "action not supported by the adapter",
            ActionError::NoDialog => "no dialog",
            ActionError::NoMediaSession => "no media session",
            ActionError::NoLocalSdp => "no local SDP",
            ActionError::NoRemoteSdp => "no remote SDP",
            ActionError::SdpNotAcceptable => "remote SDP not acceptable",
            ActionError::NoTransaction => "no transaction to answer",
            ActionError::LimitReached => "a limit was reached",
            ActionError::Transport => "the transport refused the message",
            ActionError::NoRegistration => "the session is not a registration",
        })
    }
}

impl std::error::Error for ActionError {}
