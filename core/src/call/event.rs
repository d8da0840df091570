//! What a session produces for the world outside the core: datagrams to send, media
//! socket requests, application events, and the names they use (session ids, sides,
//! end reasons). The endpoint passes them on in its one output queue.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::media::DtmfMode;
use crate::resolve::ResolveError;
use crate::sip::Transport;

/// Identifies one session (one call leg) inside an endpoint. Allocated in order from 1,
/// never reused within an endpoint's life, so traces and snapshots stay stable.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// A datagram (or, over a stream transport, one framed message) to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The local address to send from: the SIP listener a request arrived on, or the
    /// session's RTP socket.
    pub local: SocketAddr,
    /// Where to send it.
    pub remote: SocketAddr,
    /// UDP or a stream transport (the driver frames nothing: SIP messages are
    /// self-delimiting by Content-Length).
    pub transport: Transport,
    /// The bytes: shared, not copied, with the transaction or call that keeps a SIP
    /// message to send again (a retransmission is a second reference to them).
    pub payload: Arc<[u8]>,
}

impl fmt::Debug for Transmit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transmit")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("transport", &self.transport)
            .field("len", &self.payload.len())
            .finish()
    }
}

/// A request to the driver about media sockets (the seed's CreateMediaSession).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaRequest {
    /// Open an RTP socket for the session, then report it with
    /// `MediaInput::Ready { session, local_rtp }` (or `Failed`).
    Open {
        /// The session that needs media.
        session: SessionId,
    },
    /// The session no longer needs its RTP socket.
    Close {
        /// The session.
        session: SessionId,
        /// The socket's local address, as reported in `Ready`.
        local_rtp: SocketAddr,
    },
}

/// Which side did something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// This endpoint (its application).
    Local,
    /// The peer.
    Remote,
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// A BYE ended an answered call; `by` says who sent it.
    HungUp {
        /// Who sent the BYE.
        by: Side,
    },
    /// The call was cancelled before it was answered; `by` says who cancelled.
    Cancelled {
        /// Who cancelled.
        by: Side,
    },
    /// The INVITE got a final error response (`by` = Remote) or we rejected it (`Local`).
    Rejected {
        /// Who rejected.
        by: Side,
        /// The final status code.
        status: u16,
    },
    /// A transaction timed out (Timer B, F or H), so the peer is unreachable.
    Timeout,
    /// We hung up an answered call and our BYE got no final response before Timer F
    /// (64·T1): the session is over all the same (RFC 3261 §15.1.1), but the peer may
    /// not know it.
    ByeTimedOut,
    /// The transport reported an error sending to the peer.
    TransportError,
    /// No RTP arrived for the configured inactivity time.
    MediaTimeout,
    /// The media socket could not be opened.
    MediaFailed,
    /// No acceptable media (the offer and our codecs had nothing in common).
    NotAcceptable,
    /// The incoming INVITE's `Expires` passed while it rang; it was answered 487
    /// (RFC 3261 §13.3.1).
    Expired,
    /// The peer answered our re-INVITE 481: it does not know the dialog (RFC 3261
    /// §12.2.1.2). We sent BYE all the same, in case the request was damaged on its way
    /// and the peer's side of the call is still up.
    DialogGone,
    /// The session interval passed without a refresh (RFC 4028 §10): the peer is
    /// presumed gone, and we sent BYE.
    SessionExpired,
    /// The INVITE was challenged (401 or 407) and could not be answered: no credentials
    /// for the realm, or the ones sent were refused (RFC 3261 §22.2).
    AuthFailed {
        /// The challenge's status, 401 or 407.
        status: u16,
    },
    /// The registration ended: our contact was removed (REGISTER with `Expires: 0`), or
    /// an attempt to remove it was made.
    Unregistered,
    /// The target's host name could not be resolved to an address (RFC 3263): the call
    /// ended before any request was sent.
    Unresolvable {
        /// The host name.
        name: String,
        /// Why.
        error: ResolveError,
    },
    /// Another call replaced this one (an INVITE with `Replaces` naming its dialog, RFC
    /// 3891): once that call was answered, this one was ended.
    Replaced {
        /// The call that took its place.
        by: SessionId,
    },
    /// The endpoint is shutting down.
    Shutdown,
    /// Another endpoint took the call over (`Command::Release`): it was forgotten here
    /// without a word to the peer, which now talks to the new owner.
    MovedAway,
    /// The state machine could not complete a step (an action failed); the call was
    /// ended rather than left half-done.
    Internal,
}

/// An event for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// A new INVITE arrived; answer with `accept` or `reject`.
    IncomingCall {
        /// The new session.
        session: SessionId,
        /// The caller (From header's URI).
        from: String,
        /// The callee (To header's URI).
        to: String,
        /// The INVITE's Request-URI: whom the call is for, where a gateway routes it.
        request_uri: String,
    },
    /// The callee is alerting (180, or a 1xx without SDP).
    Ringing {
        /// The session.
        session: SessionId,
    },
    /// Early media: a 1xx with SDP.
    EarlyMedia {
        /// The session.
        session: SessionId,
    },
    /// The call is answered and media flows.
    Answered {
        /// The session.
        session: SessionId,
    },
    /// The call went on hold.
    Held {
        /// The session.
        session: SessionId,
        /// Who put it on hold.
        by: Side,
    },
    /// The call came off hold.
    Resumed {
        /// The session.
        session: SessionId,
        /// Who resumed it.
        by: Side,
    },
    /// The peer sent a DTMF digit.
    DtmfReceived {
        /// The session.
        session: SessionId,
        /// The digit: `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
        /// How long it was pressed.
        duration_ms: u32,
        /// How it came: RFC 4733 or INFO.
        via: DtmfMode,
    },
    /// The peer sent an INFO request that carried no DTMF (RFC 6086): its body, for the
    /// application. It was answered 200.
    InfoReceived {
        /// The session.
        session: SessionId,
        /// Its Content-Type, empty without a body.
        content_type: String,
        /// Its body.
        body: Vec<u8>,
    },
    /// The peer asked us to call someone else (REFER, RFC 3515).
    TransferRequested {
        /// The session.
        session: SessionId,
        /// The Refer-To URI.
        target: String,
        /// The call placed to it, when the state table placed one (its progress is
        /// reported to the peer by NOTIFY).
        call: Option<SessionId>,
    },
    /// The transfer we asked for is under way: the peer's NOTIFY reported a provisional
    /// status of the call it placed (RFC 3515 §2.4.5).
    TransferProgress {
        /// The session that sent the REFER.
        session: SessionId,
        /// The sipfrag's status (100, 180, 183 …).
        status: u16,
    },
    /// The transfer we asked for succeeded: the transfer target answered (a 2xx
    /// sipfrag).
    TransferSucceeded {
        /// The session that sent the REFER.
        session: SessionId,
        /// The sipfrag's status.
        status: u16,
    },
    /// The transfer we asked for failed: the REFER was refused or timed out, the call
    /// to the target failed, or no final NOTIFY came in time. The call goes on.
    TransferFailed {
        /// The session that sent the REFER.
        session: SessionId,
        /// The REFER's refusal or the sipfrag's final status; `None` when none came.
        status: Option<u16>,
    },
    /// The registrar accepted our contact: the first time, or again after a failure.
    Registered {
        /// The registration.
        session: SessionId,
        /// The expiry the registrar granted, in seconds.
        expires: u32,
    },
    /// A refresh of the registration was accepted.
    RegistrationRefreshed {
        /// The registration.
        session: SessionId,
        /// The expiry the registrar granted, in seconds.
        expires: u32,
    },
    /// A REGISTER failed (a final error the credentials could not answer, a timeout, a
    /// transport error).
    RegistrationFailed {
        /// The registration.
        session: SessionId,
        /// The registrar's final status; `None` when none came.
        status: Option<u16>,
        /// When the next attempt goes, when the table scheduled one.
        retry_in: Option<Duration>,
    },
    /// The call's media is now relayed to and from another call's (`Command::Bridge`,
    /// or `CallOptions::bridge_to` once both legs answered).
    Bridged {
        /// The session.
        session: SessionId,
        /// The other leg.
        peer: SessionId,
    },
    /// The bridge ended; the call goes on alone.
    Unbridged {
        /// The session.
        session: SessionId,
    },
    /// A call restored here from another endpoint's snapshot has moved: the peer
    /// accepted the re-INVITE with our Contact and media address, so its requests and
    /// its RTP now come here.
    Moved {
        /// The session.
        session: SessionId,
    },
    /// The session is over. Nothing more comes for it.
    Terminated {
        /// The session.
        session: SessionId,
        /// Why.
        reason: EndReason,
        /// The final SIP status of the INVITE (of the last REGISTER, for a
        /// registration), when there was one.
        status: Option<u16>,
    },
}

impl SessionEvent {
    /// The session the event is about.
    pub fn session(&self) -> SessionId {
        match self {
            SessionEvent::IncomingCall { session, .. }
            | SessionEvent::Ringing { session }
            | SessionEvent::EarlyMedia { session }
            | SessionEvent::Answered { session }
            | SessionEvent::Held { session, .. }
            | SessionEvent::Resumed { session, .. }
            | SessionEvent::DtmfReceived { session, .. }
            | SessionEvent::InfoReceived { session, .. }
            | SessionEvent::TransferRequested { session, .. }
            | SessionEvent::TransferProgress { session, .. }
            | SessionEvent::TransferSucceeded { session, .. }
            | SessionEvent::TransferFailed { session, .. }
            | SessionEvent::Registered { session, .. }
            | SessionEvent::RegistrationRefreshed { session, .. }
            | SessionEvent::RegistrationFailed { session, .. }
            | SessionEvent::Bridged { session, .. }
            | SessionEvent::Unbridged { session }
            | SessionEvent::Moved { session }
            | SessionEvent::Terminated { session, .. } => *session,
        }
    }
}
