//! The sans-IO `Endpoint`: the one value a driver feeds and drains.
//!
//! INTERIM: this file pins the public API that runtimes and the simulator build against;
//! the body is being integrated from the protocol modules.

mod output;

pub use output::{EndReason, MediaRequest, Output, SessionEvent, SessionId, Side, Transmit};

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;

use crate::sip::Transport;
use crate::time::Instant;

/// How an endpoint is set up. Everything the core needs to decide anything lives here:
/// the seed, the addresses it advertises, timers, limits and the state table.
#[derive(Clone, Debug)]
pub struct Config {
    /// Seeds every tag, branch, Call-ID, SSRC and sequence number.
    pub seed: u64,
    /// The SIP address this endpoint advertises in Via and Contact, and sends from.
    pub sip_addr: SocketAddr,
    /// The user part of our Contact and default From URI.
    pub user: String,
}

/// Options for [`Endpoint::make_call`].
#[derive(Clone, Debug, Default)]
pub struct CallOptions {
    /// The From URI; `sip:{user}@{sip_addr}` when absent.
    pub from: Option<String>,
}

/// A media event from the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaInput {
    /// The RTP socket the core asked for with `MediaRequest::Open` is bound at `local_rtp`.
    Ready {
        /// The session it is for.
        session: SessionId,
        /// Its local address.
        local_rtp: SocketAddr,
    },
    /// The RTP socket could not be opened.
    Failed {
        /// The session it was for.
        session: SessionId,
    },
}

/// Why a command was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// No such session (never existed, or already cleaned up).
    UnknownSession(SessionId),
    /// The target is not a SIP URI the endpoint can call.
    BadTarget(String),
    /// The session's current state has no transition for this command.
    NotAllowed {
        /// The session.
        session: SessionId,
        /// Its current state's name.
        state: String,
        /// The command.
        command: &'static str,
    },
    /// The session limit is reached.
    TooManySessions,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::UnknownSession(id) => write!(f, "no session {id}"),
            CommandError::BadTarget(t) => write!(f, "not a callable SIP URI: {t}"),
            CommandError::NotAllowed {
                session,
                state,
                command,
            } => write!(f, "{command} is not allowed for {session} in state {state}"),
            CommandError::TooManySessions => f.write_str("session limit reached"),
        }
    }
}

impl std::error::Error for CommandError {}

/// The sans-IO SIP endpoint.
#[derive(Debug)]
pub struct Endpoint {
    config: Config,
    outputs: VecDeque<Output>,
}

impl Endpoint {
    /// A new endpoint.
    pub fn new(config: Config) -> Endpoint {
        Endpoint {
            config,
            outputs: VecDeque::new(),
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A datagram (or one framed stream message) arrived on `local` from `remote`. RTP for
    /// a session arrives here too, on the session's RTP address.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) {
        let _ = (now, local, remote, transport, bytes);
    }

    /// The driver's answer to a [`MediaRequest`].
    pub fn handle_media(&mut self, now: Instant, input: MediaInput) {
        let _ = (now, input);
    }

    /// Time has reached `now`: fire due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
    }

    /// The next output; call until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When the endpoint next needs [`Endpoint::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Places a call to `target` (a `sip:` or `sips:` URI).
    pub fn make_call(
        &mut self,
        now: Instant,
        target: &str,
        options: CallOptions,
    ) -> Result<SessionId, CommandError> {
        let _ = (now, options);
        Err(CommandError::BadTarget(target.to_owned()))
    }

    /// Answers an incoming call.
    pub fn accept(&mut self, now: Instant, session: SessionId) -> Result<(), CommandError> {
        let _ = now;
        Err(CommandError::UnknownSession(session))
    }

    /// Rejects an incoming call with `status` (4xx–6xx).
    pub fn reject(
        &mut self,
        now: Instant,
        session: SessionId,
        status: u16,
    ) -> Result<(), CommandError> {
        let _ = (now, status);
        Err(CommandError::UnknownSession(session))
    }

    /// Ends a call: CANCEL before an answer, BYE after.
    pub fn hangup(&mut self, now: Instant, session: SessionId) -> Result<(), CommandError> {
        let _ = now;
        Err(CommandError::UnknownSession(session))
    }

    /// Puts an answered call on hold (a sendonly re-INVITE).
    pub fn hold(&mut self, now: Instant, session: SessionId) -> Result<(), CommandError> {
        let _ = now;
        Err(CommandError::UnknownSession(session))
    }

    /// Takes a held call off hold.
    pub fn resume(&mut self, now: Instant, session: SessionId) -> Result<(), CommandError> {
        let _ = now;
        Err(CommandError::UnknownSession(session))
    }

    /// Sends DTMF digits as RFC 4733 events.
    pub fn send_dtmf(
        &mut self,
        now: Instant,
        session: SessionId,
        digits: &str,
    ) -> Result<(), CommandError> {
        let _ = (now, digits);
        Err(CommandError::UnknownSession(session))
    }

    /// Ends every call (BYE or CANCEL) ahead of shutting down.
    pub fn shutdown(&mut self, now: Instant) {
        let _ = now;
    }

    /// True when no session, transaction or timer is left.
    pub fn is_idle(&self) -> bool {
        true
    }
}
