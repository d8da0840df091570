//! The sans-IO [`Endpoint`]: the one value a driver feeds and drains.
//!
//! ```text
//!   datagrams ─┐  router: parse, §8.2/§18,   Session (one per call leg)     ┌─► Output::Transmit
//!   commands  ─┼─► transactions, find the ─► state machine + adapters ─► effects ─┼─► Output::Media
//!   media     ─┤   session by dialog id       (YAML table)                     └─► Output::Event
//!   time      ─┘                                                         timers ◄┘
//! ```
//!
//! The endpoint keeps what is shared by all calls: parsing and the RFC 3261 §8.2 and §18
//! rules, the transaction layer and its matching, finding the session a message belongs
//! to, the session timers' queue, and the one output queue. Each session runs an input
//! with a `Step` the endpoint lends it (configuration, table, random generator,
//! transaction layer) and yields effects, which the endpoint drains into its queues.
//!
//! Every input carries `now`. After each input, drain [`Endpoint::poll_output`] until it
//! returns `None`, then sleep until [`Endpoint::poll_timeout`] and call
//! [`Endpoint::handle_timeout`]. Nothing inside reads a clock, a socket or a global
//! random generator, so the same [`Config::seed`] and the same inputs at the same
//! instants give byte-identical outputs.

mod admission;
mod bridge;
mod command;
mod drain;
mod linked;
mod output;
mod resolving;
mod router;
mod stats;
mod takeover;
mod timers;
mod uas_checks;

pub use crate::call::{EndReason, MediaRequest, SessionEvent, SessionId, Side, Transmit};
pub use crate::config::{Config, ReliableProvisionals};
pub use crate::session_store::{
    Contradiction, NegotiatedMedia, NotMovable, RestoreError, SessionInfo, SessionSnapshot,
    SessionTimerSnapshot, SnapshotError, TimerSnapshot, SNAPSHOT_VERSION,
};
pub use bridge::RtpRelay;
pub use command::Command;
pub use output::Output;
pub use stats::EndpointStats;

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use admission::{Lingering, PendingIncoming};
use drain::Drain;
use linked::Linked;
use resolving::{Pending, PendingCall, Resolving};
use timers::TimerQueue;

use crate::call::{refer_to_replacing, Replaces};
use crate::call::{Call, Effect, Payload, Registration, SessionIds, SessionTimer, Step};
use crate::dialog::DialogRole;
use crate::media::{DtmfError, DtmfMode, PushAudioError};
use crate::resolve::{self, Family, QueryId, ResolveError, ResolveQuery, Resolved};
use crate::rng::Rng;
use crate::sdp::LocalSession;
use crate::session_store::{Fed, Link, Session, SessionStore};
use crate::sip::{Host, Scheme, Transport, Uri};
use crate::state_machine::{History, SessionState};
use crate::state_table::{CompiledTable, Event, EventType, Role, TimerName};
use crate::time::Instant;
use crate::transaction::{LayerConfig, TransactionLayer, TransactionOutput};

/// With a [`Config::shard`], how many Call-IDs per shard are drawn at most for one that
/// steers to ours: the chance that all miss, `(1 - 1/n)^(64 n)`, is below e^-64.
const SHARD_DRAWS_PER_SHARD: usize = 64;

/// The random part of our Call-IDs, in letters and digits.
const CALL_ID_TOKEN_LEN: usize = 20;

/// A Call-ID being drawn: on the stack for the token, `@` and an IPv4 or IPv6 address, so
/// that the call's shared copy is the one allocation.
type CallIdText = smallvec::SmallVec<[u8; 64]>;

/// Options for [`Endpoint::make_call`].
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default)]
pub struct CallOptions {
    /// The From name-addr (`"Alice" <sip:alice@example.com>`); `<sip:{user}@{sip_addr}>`
    /// when absent.
    pub from: Option<String>,
    /// A `Referred-By` value for the INVITE (RFC 3892): who asked for this call.
    pub referred_by: Option<String>,
    /// A `Replaces` value for the INVITE (`call-id;to-tag=…;from-tag=…`, RFC 3891): the
    /// target's dialog this call takes the place of.
    pub replaces: Option<String>,
    /// Send the INVITE without an SDP offer (a "late offer", RFC 3261 §13.2.1): the
    /// callee offers, in its first reliable provisional response (our answer goes in
    /// the PRACK, RFC 3262 §5) or else in its 2xx (our answer goes in the ACK). For
    /// peers and gateways that want to choose the media themselves.
    #[cfg_attr(feature = "serde", serde(default))]
    pub late_offer: bool,
    /// Place this call as the outgoing leg of incoming call `bridge_to` (a gateway):
    /// bridged to it from the start ([`Command::Bridge`]), so that its ringing, early
    /// media, answer or failure reach the caller, and offering the caller's choice of
    /// codec first.
    #[cfg_attr(feature = "serde", serde(default))]
    pub bridge_to: Option<SessionId>,
}

/// A media event from the driver.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaInput {
    /// The RTP socket the core asked for with `MediaRequest::Open` is bound at `local_rtp`,
    /// an even port, and its RTCP socket at the port above (RFC 3550 §11): the core sends
    /// RTCP from there and takes what arrives there as RTCP.
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
    BadTarget {
        /// The target given.
        target: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The session's current state has no transition for this command.
    NotAllowed {
        /// The session.
        session: SessionId,
        /// Its current state's name.
        state: String,
        /// The command.
        command: &'static str,
    },
    /// A status code outside what the command allows.
    BadStatus(u16),
    /// The session limit is reached.
    TooManySessions,
    /// `Config::max_dns_queries` host names are already being resolved.
    TooManyQueries,
    /// The endpoint is draining ([`Endpoint::drain`]) or shut down: it starts nothing new.
    Draining,
    /// A snapshot could not be restored ([`Command::Restore`]).
    Restore(RestoreError),
    /// The digits cannot be sent as RFC 4733 events: not DTMF digits, more than the send
    /// queue takes, or no telephone-event negotiated in this call. The call goes on.
    Dtmf(DtmfError),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::UnknownSession(id) => write!(f, "no session {id}"),
            CommandError::BadTarget { target, why } => {
                write!(f, "cannot call {target}: {why}")
            }
            CommandError::NotAllowed {
                session,
                state,
                command,
            } => write!(f, "{command} is not allowed for {session} in state {state}"),
            CommandError::BadStatus(s) => write!(f, "status {s} is not allowed here"),
            CommandError::TooManySessions => f.write_str("session limit reached"),
            CommandError::TooManyQueries => f.write_str("too many host names being resolved"),
            CommandError::Draining => f.write_str("the endpoint is draining"),
            CommandError::Restore(e) => write!(f, "cannot restore: {e}"),
            CommandError::Dtmf(e) => write!(f, "cannot send these digits: {e}"),
        }
    }
}

impl std::error::Error for CommandError {}

/// The sans-IO SIP endpoint: transactions, dialogs, sessions on a state table, SDP and
/// RTP, fed with datagrams, commands and time.
#[derive(Debug)]
pub struct Endpoint {
    config: Config,
    table: Arc<CompiledTable>,
    /// `host:port` of our Via sent-by.
    sent_by: String,
    /// Our Contact over UDP, `<sip:user@sent-by>`: in most requests and 2xx we send.
    /// Shared by the calls that use it as their From.
    udp_contact: Arc<str>,
    rng: Rng,
    ids: SessionIds,
    transactions: TransactionLayer,
    sessions: SessionStore,
    timers: TimerQueue<(SessionId, SessionTimer)>,
    outputs: VecDeque<Output>,
    stats: EndpointStats,
    /// What the session being stepped yielded; drained after each step (kept to reuse
    /// its allocation).
    effects: Vec<Effect>,
    /// Where the sessions' SIP messages are written before each is sealed into its one
    /// shared copy (kept to reuse its allocation).
    message_buffer: Vec<u8>,
    /// Sessions whose `DestroySession` ran during the current input.
    destroyed: Vec<SessionId>,
    /// Calls waiting for their target's name to resolve.
    resolving: Resolving,
    /// What a step left for other sessions (a REFER's call, its progress, a replaced
    /// call's end).
    linked: linked::Queue,
    /// Incoming calls that may still be ringing (`Config::max_pending_incoming`).
    pending_incoming: PendingIncoming,
    /// Ended sessions lingering, the longest first (`Config::max_sessions`).
    lingering: Lingering,
    /// A drain or shutdown under way: nothing new is started.
    drain: Option<Drain>,
    /// The driver's send queue is backed up ([`Endpoint::set_send_backlogged`]).
    send_backlogged: bool,
}

impl Endpoint {
    /// A new endpoint.
    pub fn new(config: Config) -> Endpoint {
        let transactions = TransactionLayer::new(LayerConfig {
            timers: config.timers,
            max_transactions: config.max_transactions,
        });
        let sent_by = config.advertised_addr().to_string();
        Endpoint {
            table: Arc::clone(&config.table),
            udp_contact: format!("<sip:{}@{sent_by}>", config.user).into(),
            sent_by,
            rng: Rng::new(config.seed),
            ids: SessionIds::default(),
            transactions,
            sessions: SessionStore::new(config.seed),
            timers: TimerQueue::new(),
            outputs: VecDeque::new(),
            stats: EndpointStats::default(),
            effects: Vec::new(),
            message_buffer: Vec::new(),
            destroyed: Vec::new(),
            resolving: Resolving::default(),
            linked: linked::Queue::new(),
            pending_incoming: PendingIncoming::default(),
            lingering: Lingering::default(),
            drain: None,
            send_backlogged: false,
            config,
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters of what was dropped or refused.
    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// Counters of the transaction layer: transactions started, retransmissions sent and
    /// absorbed, timeouts.
    pub fn transaction_stats(&self) -> crate::transaction::TransactionStats {
        self.transactions.stats()
    }

    /// A datagram (or one framed stream message) arrived on `local` from `remote`. RTP for
    /// a session arrives here too, on the session's RTP address, and its RTCP on the port
    /// above it (RFC 3550 §11).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) {
        // A socket that is no call's RTP or RTCP socket is the SIP socket: one probe of
        // the index tells, and only media goes on to ask whether it is relayed.
        if let Some(id) = self.sessions.by_rtp(local) {
            if !self.relay_copy(now, local, bytes) {
                self.step(now, id, |s, step| s.on_rtp(local, bytes, step));
            }
        } else {
            router::on_sip(self, now, local, remote, transport, bytes);
        }
        self.after_step(now);
    }

    /// The driver's answer to a [`MediaRequest`].
    pub fn handle_media(&mut self, now: Instant, input: MediaInput) {
        match input {
            MediaInput::Ready { session, local_rtp } => {
                let Some(s) = self.sessions.get_mut(session) else {
                    return;
                };
                s.call.media.local_rtp = Some(local_rtp);
                let restored = s.call.relocation == crate::call::Relocation::AwaitingMedia;
                self.sessions.index_rtp(local_rtp, session);
                if restored {
                    self.step(now, session, |s, step| s.relocated_media_ready(step));
                } else {
                    self.feed(now, session, Event::new(EventType::MediaSessionReady));
                }
            }
            MediaInput::Failed { session } => {
                let restored = self
                    .sessions
                    .get(session)
                    .is_some_and(|s| s.call.relocation == crate::call::Relocation::AwaitingMedia);
                if restored {
                    self.step(now, session, |s, step| {
                        s.give_up_relocation(EndReason::MediaFailed, step)
                    });
                } else {
                    self.feed(now, session, Event::new(EventType::MediaSessionFailed));
                }
            }
        }
        self.after_step(now);
    }

    /// Time has reached `now`: fire due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.transactions.handle_timeout(now);
        // Each session timer is re-armed strictly later than `now` (or not at all), so
        // this loop ends; the bound is a guard against a bug becoming a hang.
        for _ in 0..100_000 {
            let Some((id, timer)) = self.timers.pop_due(now) else {
                break;
            };
            self.step(now, id, |s, step| s.on_timer(timer, step));
        }
        self.after_step(now);
        if self.drain.as_mut().is_some_and(|d| d.due(now)) {
            tracing::info!("drain: grace period over, ending the calls still up");
            self.shutdown(now);
        }
    }

    /// The next output; call until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        crate::driver::pop_trimmed(&mut self.outputs)
    }

    /// When the endpoint next needs [`Endpoint::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.transactions.poll_timeout(),
            self.timers.next(),
            self.drain.and_then(|d| d.timeout()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Carries out one [`Command`]; returns the session it created or acted on. The
    /// methods below (`make_call`, `accept`, …) are the same commands, typed one by one.
    pub fn execute(&mut self, now: Instant, command: Command) -> Result<SessionId, CommandError> {
        let done = |session: SessionId| move |()| session;
        match command {
            Command::MakeCall { target, options } => self.make_call(now, &target, options),
            Command::Accept { session } => self.accept(now, session).map(done(session)),
            Command::Reject { session, status } => {
                self.reject(now, session, status).map(done(session))
            }
            Command::Hangup { session } => self.hangup(now, session).map(done(session)),
            Command::Hold { session } => self.hold(now, session).map(done(session)),
            Command::Resume { session } => self.resume(now, session).map(done(session)),
            Command::Update { session } => self.update(now, session).map(done(session)),
            Command::SendDtmf { session, digits } => {
                self.send_dtmf(now, session, &digits).map(done(session))
            }
            Command::Transfer { session, target } => {
                self.transfer(now, session, &target).map(done(session))
            }
            Command::TransferAttended {
                session,
                consultation,
            } => self
                .transfer_attended(now, session, consultation)
                .map(done(session)),
            Command::Bridge { a, b } => self.bridge(now, a, b).map(done(a)),
            Command::Unbridge { session } => self.unbridge(now, session).map(done(session)),
            Command::Ring { session } => self.ring(now, session).map(done(session)),
            Command::Register { aor, expires } => self.register(now, &aor, expires),
            Command::Unregister { session } => self.unregister(now, session).map(done(session)),
            Command::Restore { snapshot } => {
                self.restore(now, *snapshot).map_err(CommandError::Restore)
            }
            Command::Release { session } => self.release(session).map(done(session)),
        }
    }

    /// Registers our contact for the address-of-record `aor` (a `sip:` URI whose host is
    /// the registrar's, an IP address unless an outbound proxy is configured) for
    /// `expires` seconds, RFC 3261 §10. The registration is a session of its own,
    /// driven by the state table's registration rows: it is refreshed before each expiry
    /// the registrar grants, retried with back-off after a failure, and reported with
    /// `Registered`, `RegistrationRefreshed`, `RegistrationFailed` and, once
    /// [`Endpoint::unregister`] removed the binding, `Terminated`.
    pub fn register(
        &mut self,
        now: Instant,
        aor: &str,
        expires: u32,
    ) -> Result<SessionId, CommandError> {
        self.open_session(now, None, aor, Pending::Registration { expires })
    }

    /// Creates the registration session for `aor` and feeds it `StartRegistration`; a
    /// table without registration rows refuses, and the session is dropped.
    fn start_registration(
        &mut self,
        now: Instant,
        id: SessionId,
        aor: &str,
        peer: SocketAddr,
        transport: Transport,
        expires: u32,
    ) -> Result<(), CommandError> {
        // §10.2: the Request-URI names the registrar's domain, without user part.
        let registrar = Uri::parse(aor)
            .ok()
            .and_then(|uri| {
                let host = uri.host?;
                let port = uri.port.map(|p| format!(":{p}")).unwrap_or_default();
                Some(format!("sip:{host}{port}"))
            })
            .unwrap_or_default();
        let call_id = self.new_call_id();
        let local_tag = crate::call::new_tag(&mut self.rng);
        let sdp = self.local_session();
        let mut call = Call::new(
            DialogRole::Uac,
            call_id,
            local_tag,
            format!("<{aor}>").into(),
            format!("<{aor}>").into(),
            registrar,
            peer,
            transport,
            0,
            sdp,
            now,
        );
        call.registration = Some(Box::new(Registration::new(expires)));
        self.insert_session(id, Role::Uac, call);
        let started = self.command(
            now,
            id,
            Event::new(EventType::StartRegistration),
            "register",
        );
        if started.is_err() {
            self.sessions.remove(id);
        }
        started
    }

    /// Removes a registration's binding (REGISTER with `Expires: 0`, RFC 3261 §10.2.2);
    /// the registration ends once the registrar answered, or gave no answer in time.
    pub fn unregister(&mut self, now: Instant, session: SessionId) -> Result<(), CommandError> {
        if self.resolving.remove_session(session) {
            self.end_unstarted(session, EndReason::Unregistered);
            return Ok(());
        }
        self.command(
            now,
            session,
            Event::new(EventType::StopRegistration),
            "unregister",
        )
    }

    /// Places a call to `target`, a `sip:` URI over UDP or TCP (`;transport=tcp`). When
    /// its host is a name and no outbound proxy is configured, the endpoint first asks
    /// the driver to resolve it (`Output::Resolve`, RFC 3263) and the call starts with
    /// the answer ([`Endpoint::handle_resolved`]); a name that does not resolve ends the
    /// session with `EndReason::Unresolvable`. The session then asks for an RTP socket
    /// (`MediaRequest::Open`) and sends the INVITE once it is ready.
    pub fn make_call(
        &mut self,
        now: Instant,
        target: &str,
        options: CallOptions,
    ) -> Result<SessionId, CommandError> {
        let leg_of = options.bridge_to;
        if let Some(a) = leg_of {
            self.check_bridgeable(a)?;
        }
        let id = self.open_session(now, None, target, Pending::Call(options))?;
        if let Some(a) = leg_of {
            self.sessions.bridge(a, id);
        }
        Ok(id)
    }

    /// A new call or registration toward `target`, as `session` when an id was reserved
    /// for it: started at once when its address is known, else once the driver has
    /// resolved its host name.
    fn open_session(
        &mut self,
        now: Instant,
        session: Option<SessionId>,
        target: &str,
        kind: Pending,
    ) -> Result<SessionId, CommandError> {
        if self.drain.is_some() {
            return Err(CommandError::Draining);
        }
        if !admission::room_for_a_session(self, now) {
            return Err(CommandError::TooManySessions);
        }
        let target = target.trim();
        let bad = |why| CommandError::BadTarget {
            target: target.to_owned(),
            why,
        };
        let uri = Uri::parse(target).map_err(|_| bad("not a valid URI"))?;
        let transport = sip_transport(&uri, target).map_err(bad)?;
        let session = session.unwrap_or_else(|| self.ids.next());
        match self.destination(target, &uri, transport.clone())? {
            Destination::Now(peer) => self.start(now, session, target, peer, transport, kind)?,
            Destination::Resolve(query) => self.pend(session, target, kind, query),
        }
        Ok(session)
    }

    /// Starts a call or a registration toward `peer`.
    fn start(
        &mut self,
        now: Instant,
        session: SessionId,
        target: &str,
        peer: SocketAddr,
        transport: Transport,
        kind: Pending,
    ) -> Result<(), CommandError> {
        match kind {
            Pending::Call(options) => {
                self.start_call(now, session, target, peer, transport, options)
            }
            Pending::Registration { expires } => {
                self.start_registration(now, session, target, peer, transport, expires)
            }
        }
    }

    /// Where an out-of-dialog request to `uri` goes: the outbound proxy or the URI's IP
    /// address now, or, for a host name, once the driver has resolved it (the
    /// [`ResolveQuery`] to ask, while fewer than `Config::max_dns_queries` are pending).
    fn destination(
        &mut self,
        target: &str,
        uri: &Uri<'_>,
        transport: Transport,
    ) -> Result<Destination, CommandError> {
        Ok(match (self.config.outbound_proxy, &uri.host) {
            (Some(proxy), _) => Destination::Now(proxy),
            (None, Some(Host::Ipv4(ip))) => {
                Destination::Now(SocketAddr::new(IpAddr::V4(*ip), uri_port(uri)))
            }
            (None, Some(Host::Ipv6(ip))) => {
                Destination::Now(SocketAddr::new(IpAddr::V6(*ip), uri_port(uri)))
            }
            (None, Some(Host::Domain(name))) => {
                if self.resolving.len() >= self.config.max_dns_queries {
                    return Err(CommandError::TooManyQueries);
                }
                Destination::Resolve(ResolveQuery {
                    id: self.resolving.next_id(),
                    name: name.to_string(),
                    port: uri.port,
                    transport,
                    family: Family::of(self.config.sip_addr.ip()),
                })
            }
            (None, None) => {
                return Err(CommandError::BadTarget {
                    target: target.to_owned(),
                    why: "the URI has no host",
                })
            }
        })
    }

    /// Asks the driver to resolve `query` for `session`, which starts with the answer.
    fn pend(&mut self, session: SessionId, target: &str, kind: Pending, query: ResolveQuery) {
        self.outputs.push_back(Output::Resolve(query.clone()));
        self.resolving.insert(PendingCall {
            session,
            target: target.to_owned(),
            kind,
            query,
        });
    }

    /// The driver's answer to an [`Output::Resolve`]: the call waiting for it starts
    /// toward the first address RFC 3263 orders (RFC 2782 weights drawn from the seeded
    /// generator), or ends `Unresolvable`. An answer nobody waits for (the call was hung
    /// up meanwhile, or a duplicate) is ignored.
    pub fn handle_resolved(
        &mut self,
        now: Instant,
        id: QueryId,
        answer: Result<Resolved, ResolveError>,
    ) {
        let Some(call) = self.resolving.answer(id) else {
            return;
        };
        let first = answer.and_then(|r| resolve::targets(&call.query, &r, &mut self.rng));
        match first {
            Ok(targets) => {
                let PendingCall {
                    session,
                    target,
                    kind,
                    query,
                } = call;
                tracing::debug!(%session, name = %query.name, peer = %targets[0], "resolved");
                // MakeCall and StartRegistration fire from a new session's first state;
                // a table without them refuses, and the session is gone.
                let _ = self.start(now, session, &target, targets[0], query.transport, kind);
            }
            Err(error) => {
                tracing::debug!(session = %call.session, name = %call.query.name, %error, "unresolvable");
                let reason = EndReason::Unresolvable {
                    name: call.query.name,
                    error,
                };
                self.end_unstarted(call.session, reason);
            }
        }
        self.after_step(now);
    }

    /// Answers an incoming call.
    pub fn accept(&mut self, now: Instant, session: SessionId) -> Result<(), CommandError> {
        self.command(now, session, Event::new(EventType::AcceptCall), "accept")
    }

    /// Rejects an incoming call with `status` (4xx–6xx).
    pub fn reject(
        &mut self,
        now: Instant,
        session: SessionId,
        status: u16,
    ) -> Result<(), CommandError> {
        if !(400..=699).contains(&status) {
            return Err(CommandError::BadStatus(status));
        }
        let event = Event::new(EventType::RejectCall).with_status(status);
        self.command(now, session, event, "reject")
    }

    /// Ends a call: CANCEL before an answer, BYE after, a 603 for a call still ringing here.
    pub fn hangup(&mut self, now: Instant, session: SessionId) -> Result<(), CommandError> {
        if self.resolving.remove_session(session) {
            self.end_unstarted(session, EndReason::Cancelled { by: Side::Local });
            return Ok(());
        }
        self.command(now, session, Event::new(EventType::HangupCall), "hangup")
    }

    /// Puts an answered call on hold (a sendonly re-INVITE, RFC 3264 §8.4).
    pub fn hold(&mut self, now: Instant, session: SessionId) -> Result<(), CommandError> {
        self.command(now, session, Event::new(EventType::HoldCall), "hold")
    }

    /// Takes a held call off hold (a sendrecv re-INVITE).
    pub fn resume(&mut self, now: Instant, session: SessionId) -> Result<(), CommandError> {
        self.command(now, session, Event::new(EventType::ResumeCall), "resume")
    }

    /// Offers the session again by UPDATE (RFC 3311): before the answer (once the
    /// INVITE's offer was answered reliably) or after it. Refused while an offer is
    /// outstanding either way; the outcome is the peer's answer, or the session as it
    /// was when the peer refuses (a 491 is retried after the glare back-off).
    pub fn update(&mut self, now: Instant, session: SessionId) -> Result<(), CommandError> {
        self.command(now, session, Event::new(EventType::UpdateCall), "update")
    }

    /// Sends DTMF digits (`0-9*#A-D`) as RFC 4733 events.
    pub fn send_dtmf(
        &mut self,
        now: Instant,
        session: SessionId,
        digits: &str,
    ) -> Result<(), CommandError> {
        let s = self
            .sessions
            .get_mut(session)
            .ok_or(CommandError::UnknownSession(session))?;
        if let (DtmfMode::Rfc4733, Some(media)) = (self.config.dtmf_mode, &s.call.media.rtp) {
            media.check_dtmf(digits).map_err(CommandError::Dtmf)?;
        }
        s.call.media.dtmf_queue.push_str(digits);
        let result = self.command(now, session, Event::new(EventType::SendDtmf), "send_dtmf");
        if result.is_err() {
            if let Some(s) = self.sessions.get_mut(session) {
                s.call.media.dtmf_queue.clear();
            }
        }
        result
    }

    /// Asks the peer to call `target` instead (a blind transfer: REFER, RFC 3515). The
    /// peer's NOTIFYs come as `TransferProgress`, the outcome as `TransferSucceeded` (and
    /// the default table then ends the call) or `TransferFailed` (the call goes on).
    pub fn transfer(
        &mut self,
        now: Instant,
        session: SessionId,
        target: &str,
    ) -> Result<(), CommandError> {
        self.no_transfer_under_way(session, "transfer")?;
        let payload = Payload {
            refer_to: Some(target.to_owned()),
            ..Payload::default()
        };
        let event = Event::new(EventType::BlindTransfer);
        self.command_with(now, session, event, payload, "transfer")
    }

    /// An attended transfer (RFC 5589 §7): asks the peer of `session` to call the party
    /// of our call `consultation`, whose dialog that INVITE replaces (a REFER whose
    /// Refer-To is the consultation's remote target with `Replaces`, RFC 3891). Once the
    /// two are connected, the target ends the consultation with BYE and the peer's final
    /// NOTIFY ends `session`, as for a blind transfer.
    pub fn transfer_attended(
        &mut self,
        now: Instant,
        session: SessionId,
        consultation: SessionId,
    ) -> Result<(), CommandError> {
        let consulted = self
            .sessions
            .get(consultation)
            .ok_or(CommandError::UnknownSession(consultation))?;
        let dialog = consulted
            .call
            .dialog
            .as_ref()
            .filter(|d| d.state() == crate::dialog::DialogState::Confirmed)
            .ok_or_else(|| CommandError::NotAllowed {
                session: consultation,
                state: self.table.state(consulted.machine.state()).name.to_string(),
                command: "transfer_attended",
            })?;
        let id = dialog.id();
        let replaces = Replaces::naming(&id.call_id, &id.local_tag, &id.remote_tag);
        let refer_to = refer_to_replacing(dialog.remote_target(), &replaces);
        self.no_transfer_under_way(session, "transfer_attended")?;
        let payload = Payload {
            refer_to: Some(refer_to),
            ..Payload::default()
        };
        let event = Event::new(EventType::AttendedTransfer);
        self.command_with(now, session, event, payload, "transfer_attended")
    }

    /// Refuses a second transfer while the REFER of the first still waits for its outcome
    /// (one subscription per dialog and direction here).
    fn no_transfer_under_way(
        &self,
        session: SessionId,
        command: &'static str,
    ) -> Result<(), CommandError> {
        match self.sessions.get(session) {
            Some(s) if s.call.transfers.sent.is_some() => Err(CommandError::NotAllowed {
                session,
                state: "a transfer under way".into(),
                command,
            }),
            _ => Ok(()),
        }
    }

    /// Starts a graceful drain (see the `drain` module): from now on a new INVITE (or
    /// OPTIONS outside a dialog) is answered 503 with `Retry-After` and `make_call` is
    /// refused, registrations are removed at once, and the calls in progress may go on
    /// for `grace`; then the rest are ended as [`Endpoint::shutdown`] ends them. Keep
    /// driving the endpoint (and its timeout) until [`Endpoint::sessions_ended`] or
    /// [`Endpoint::is_idle`]. Draining again can only bring the deadline closer.
    pub fn drain(&mut self, now: Instant, grace: std::time::Duration) {
        let deadline = now + grace;
        match &mut self.drain {
            Some(d) if d.ended => return,
            Some(d) => d.deadline = d.deadline.min(deadline),
            None => self.drain = Some(Drain::until(deadline)),
        }
        tracing::info!(
            grace_ms = grace.as_millis() as u64,
            "drain: refusing new calls"
        );
        let registrations: Vec<SessionId> = self
            .sessions
            .ids()
            .filter(|&id| {
                self.sessions
                    .get(id)
                    .is_some_and(|s| s.call.registration.is_some())
            })
            .collect();
        for id in registrations {
            let event = Event::new(EventType::StopRegistration);
            let _ = self.command(now, id, event, "drain");
        }
        if self.drain.as_mut().is_some_and(|d| d.due(now)) {
            self.shutdown(now);
        }
    }

    /// Tells the endpoint whether the driver's send queue is backed up: a socket refused
    /// datagrams (its buffer is full) and they wait behind it, past the driver's mark.
    /// While it is, a new INVITE is answered 503 with `Retry-After` as when the output
    /// queue is at [`Config::max_queued_outputs`](crate::Config): the outputs this
    /// endpoint yields are not leaving, so a new call would only add to them. Calls in
    /// progress are served as ever. The driver sets it when the queue passes its mark and
    /// clears it once the queue has drained (it is an input: a recording keeps it).
    pub fn set_send_backlogged(&mut self, backlogged: bool) {
        if self.send_backlogged != backlogged {
            tracing::debug!(backlogged, "send queue");
        }
        self.send_backlogged = backlogged;
    }

    /// Whether a drain or shutdown is under way: new calls are refused.
    pub fn is_draining(&self) -> bool {
        self.drain.is_some()
    }

    /// Ends every call (BYE once answered, CANCEL for ours still ringing, 503 for an
    /// incoming one still ringing, so that its caller's proxy can try elsewhere, RFC 3261
    /// §16.7) and removes every registration, ahead of shutting down; from now on new
    /// calls are refused as in a drain. Keep driving the endpoint until
    /// [`Endpoint::is_idle`] (or a deadline).
    pub fn shutdown(&mut self, now: Instant) {
        self.drain = Some(Drain {
            deadline: now,
            ended: true,
        });
        for session in self.resolving.sessions() {
            self.resolving.remove_session(session);
            self.end_unstarted(session, EndReason::Shutdown);
        }
        let ids: Vec<SessionId> = self.sessions.ids().collect();
        for id in ids {
            let Some(s) = self.sessions.get_mut(id) else {
                continue;
            };
            // A registration removes its binding; a call ends.
            let event = if s.call.registration.is_some() {
                Event::new(EventType::StopRegistration)
            } else {
                if s.call.report.end_reason.is_none() {
                    s.call.report.end_reason = Some(EndReason::Shutdown);
                }
                if s.call.invite.incoming.is_some() {
                    Event::new(EventType::RejectCall).with_status(503)
                } else {
                    Event::new(EventType::HangupCall)
                }
            };
            if self.command(now, id, event, "shutdown").is_err() {
                // A state that cannot reject (still preparing its answer) can hang up.
                let _ = self.command(now, id, Event::new(EventType::HangupCall), "shutdown");
            }
        }
    }

    /// True when every session has reached a terminal state: each call and registration
    /// has said all it had to say, and what is left lingers only to absorb retransmissions
    /// (RFC 3261 §17) until [`Endpoint::is_idle`]. What a graceful shutdown waits for.
    pub fn sessions_ended(&self) -> bool {
        self.sessions.all_terminal(&self.table)
    }

    /// The peers that calls still up (not ended) talk to over a stream transport (TCP,
    /// TLS): the connections a runtime must not close to make room for new ones.
    pub fn stream_peers_in_calls(&self) -> std::collections::BTreeSet<SocketAddr> {
        self.sessions
            .ids()
            .filter_map(|id| self.sessions.get(id))
            .filter(|s| s.call.transport.is_reliable() && !s.machine.is_terminal(&self.table))
            .map(|s| s.call.peer)
            .collect()
    }

    /// True when no session, transaction or timer is left.
    pub fn is_idle(&self) -> bool {
        self.sessions.len() == 0
            && self.resolving.len() == 0
            && self.transactions.is_empty()
            && self.timers.is_empty()
    }

    /// Gives back the room the output queues, the timers' heaps and the sessions' indexes
    /// grew to in a burst; a runtime calls it once the endpoint is idle
    /// ([`Endpoint::is_idle`]). Room allocated mid-burst and kept for good pins the
    /// allocator's pages of that burst: with
    /// mimalloc, the 256 outputs a drained queue keeps (14 KB) hold one of its 512 KiB
    /// pages, and a server's memory does not return to its idle figure after a flood.
    pub fn shrink_to_fit(&mut self) {
        self.outputs.shrink_to_fit();
        self.transactions.shrink_to_fit();
        self.timers.shrink_to_fit();
        self.sessions.shrink_to_fit();
        self.lingering.shrink_to_fit();
    }

    /// How many transactions are alive (RFC 3261 §17), the ended ones that still absorb
    /// retransmissions (Timers I, J, K) included: with [`Endpoint::dialog_count`] and the
    /// session count, what a soak checks has gone back to zero.
    pub fn transaction_count(&self) -> usize {
        self.transactions.len()
    }

    /// How many sessions hold a dialog (early or confirmed, RFC 3261 §12), ended ones
    /// lingering included.
    pub fn dialog_count(&self) -> usize {
        self.sessions.dialog_count()
    }

    /// Every session, in id order, with its state's name.
    pub fn sessions(&self) -> impl Iterator<Item = SessionInfo> + '_ {
        self.sessions.infos(&self.table)
    }

    /// Every session's id, in id order, ended ones lingering included: for a runtime
    /// that visits each (to snapshot it, say) without building [`SessionInfo`]s.
    pub fn session_ids(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.sessions.ids()
    }

    /// A session's media statistics, RTCP figures included, while its RTP session
    /// exists: a borrow, for a driver that wants them without copying the rest of
    /// [`SessionInfo`].
    pub fn media_stats(&self, id: SessionId) -> Option<&crate::media::MediaStats> {
        let session = self.sessions.get(id)?;
        session.call.media.rtp.as_deref().map(|m| m.stats())
    }

    /// One session's summary.
    pub fn session(&self, id: SessionId) -> Option<SessionInfo> {
        self.sessions
            .get(id)
            .map(|s| SessionInfo::new(id, s, self.sessions.link_of(id), &self.table))
    }

    /// One session's transition history (bounded; the oldest entries drop first).
    pub fn history(&self, id: SessionId) -> Option<&History> {
        self.sessions.get(id).map(|s| s.machine.history())
    }

    /// The state table sessions run on.
    pub fn table(&self) -> &CompiledTable {
        &self.table
    }

    /// Decoded audio received on a call (when `Config::audio_sink_frames` > 0): the
    /// oldest frame, into `out` (cleared first), with its RTP timestamp.
    pub fn poll_audio(&mut self, session: SessionId, out: &mut Vec<i16>) -> Option<u32> {
        self.sessions
            .get_mut(session)?
            .call
            .media
            .rtp
            .as_mut()?
            .poll_audio(out)
    }

    /// Audio for a call in `MediaMode::App`: one packet time of 8 kHz samples.
    pub fn push_audio(
        &mut self,
        session: SessionId,
        samples: &[i16],
    ) -> Result<(), PushAudioError> {
        match self
            .sessions
            .get_mut(session)
            .and_then(|s| s.call.media.rtp.as_mut())
        {
            Some(media) => media.push_audio(samples),
            None => Ok(()),
        }
    }

    fn insert_session(&mut self, id: SessionId, role: Role, call: Call) {
        let machine = SessionState::new(&self.table, role);
        self.sessions.insert(id, Session::new(machine, call));
        self.stats.sessions_created += 1;
    }

    /// Creates the UAC session `id` toward `peer` and runs its MakeCall.
    fn start_call(
        &mut self,
        now: Instant,
        id: SessionId,
        target: &str,
        peer: SocketAddr,
        transport: Transport,
        options: CallOptions,
    ) -> Result<(), CommandError> {
        let call_id = self.new_call_id();
        let local_tag = crate::call::new_tag(&mut self.rng);
        let local_uri = options
            .from
            .map_or_else(|| Arc::clone(&self.udp_contact), Arc::from);
        let sdp = self.local_session();
        let mut call = Call::new(
            DialogRole::Uac,
            call_id,
            local_tag,
            local_uri,
            crate::call::name_addr(target),
            target.to_owned(),
            peer,
            transport,
            1,
            sdp,
            now,
        );
        if let Some(referred_by) = options.referred_by {
            call.invite_headers.push(("Referred-By", referred_by));
        }
        if let Some(replaces) = options.replaces {
            call.invite_headers.push(("Replaces", replaces));
        }
        call.invite.late_offer = options.late_offer;
        call.codecs = options.bridge_to.and_then(|a| self.leg_codecs(a));
        self.insert_session(id, Role::Uac, call);
        self.command(now, id, Event::new(EventType::MakeCall), "make_call")
    }

    /// Ends a call that never started (its target still resolving): nothing was sent,
    /// so only the application is told.
    fn end_unstarted(&mut self, session: SessionId, reason: EndReason) {
        self.publish(SessionEvent::Terminated {
            session,
            reason,
            status: None,
        });
        self.sessions.unlink(session);
    }

    /// Tells the application, and the sessions linked to the one the event is about: a
    /// call placed for a REFER reports its end to the REFER's session, a call that
    /// replaces another ends it once answered.
    fn publish(&mut self, event: SessionEvent) {
        self.relay_event(&event);
        let session = event.session();
        if let Some(link) = self.sessions.link_of(session) {
            match (&event, link.replaces) {
                (SessionEvent::Answered { .. }, Some(replaced)) => {
                    self.linked.push_back(Linked::EndReplaced {
                        session: replaced,
                        by: session,
                    });
                }
                _ => {
                    if let Some(status) = linked::final_status(&event) {
                        self.report_progress(session, status);
                    }
                }
            }
        }
        self.outputs.push_back(Output::Event(event));
    }

    /// A status of call `session`'s INVITE, for the session whose REFER placed it (if
    /// any): each provisional one, and the first final one only.
    fn report_progress(&mut self, session: SessionId, status: u16) {
        let Some(link) = self.sessions.link_mut(session) else {
            return;
        };
        let Some(to) = link.referred_by.filter(|_| !link.final_reported) else {
            return;
        };
        link.final_reported = status >= 200;
        self.linked.push_back(Linked::Report { to, status });
    }

    /// Carries out what steps left for other sessions, in order (each item may leave
    /// more; the bound is a guard against a bug becoming a hang).
    fn run_linked(&mut self, now: Instant) {
        for _ in 0..1_000 {
            let Some(work) = self.linked.pop_front() else {
                return;
            };
            match work {
                Linked::Place {
                    session,
                    referred_by,
                    target,
                } => {
                    let link = Link {
                        referred_by: Some(referred_by),
                        ..Link::default()
                    };
                    self.sessions.link(session, link);
                    let options = CallOptions {
                        from: None,
                        referred_by: target.referred_by,
                        replaces: target.replaces,
                        ..CallOptions::default()
                    };
                    let kind = Pending::Call(options);
                    if let Err(error) = self.open_session(now, Some(session), &target.uri, kind) {
                        tracing::debug!(%session, %error, "the call a REFER asked for failed");
                        let status = match error {
                            CommandError::BadTarget { .. } => 416,
                            CommandError::TooManySessions
                            | CommandError::TooManyQueries
                            | CommandError::Draining => 503,
                            _ => 500,
                        };
                        // Refused here, before anything was sent; the REFER's final
                        // NOTIFY says so.
                        let reason = EndReason::Rejected {
                            by: Side::Local,
                            status,
                        };
                        self.end_unstarted(session, reason);
                    }
                }
                Linked::Report { to, status } => {
                    let event = Event::new(EventType::TransferProgress).with_status(status);
                    self.feed(now, to, event);
                }
                Linked::Relay { from, to, what } => self.relay_to(now, from, to, what),
                Linked::EndReplaced { session, by } => {
                    if let Some(s) = self.sessions.get_mut(session) {
                        s.call
                            .report
                            .end_reason
                            .get_or_insert(EndReason::Replaced { by });
                    }
                    let _ = self.hangup(now, session);
                }
            }
        }
    }

    /// Sends a SIP message outside any transaction, from our SIP address.
    fn transmit(&mut self, remote: SocketAddr, transport: Transport, payload: Arc<[u8]>) {
        self.outputs.push_back(Output::Transmit(Transmit {
            local: self.config.sip_addr,
            remote,
            transport,
            payload,
        }));
    }

    /// Sends an RTP or RTCP packet, unless the output queue is full (then it is dropped
    /// and counted: media is not worth delaying, unlike SIP).
    fn transmit_rtp(&mut self, packet: Transmit) {
        if self.outputs.len() >= self.config.max_queued_outputs {
            self.stats.rtp_dropped_queue_full += 1;
        } else {
            self.outputs.push_back(Output::Transmit(packet));
        }
    }

    /// A new Call-ID, `token@our-ip`; with a [`Config::shard`], one that steers to it
    /// (drawn again until it does: `count` draws on average, and after
    /// [`SHARD_DRAWS_PER_SHARD`] times that the last is kept, steered elsewhere).
    fn new_call_id(&mut self) -> Arc<str> {
        let mut c = CallIdText::new();
        self.draw_call_id(&mut c);
        if let Some(shard) = self.config.shard {
            let draws = usize::from(shard.count) * SHARD_DRAWS_PER_SHARD;
            for _ in 1..draws {
                if shard.owns(&c) {
                    break;
                }
                c.clear();
                self.draw_call_id(&mut c);
            }
        }
        // Tokens, `@`, an address: always UTF-8, so this borrows.
        String::from_utf8_lossy(&c).into()
    }

    /// One random Call-ID, `token@our-ip`, written into `c` (empty).
    fn draw_call_id(&mut self, c: &mut CallIdText) {
        c.resize(CALL_ID_TOKEN_LEN, 0);
        self.rng.fill_token(&mut c[..]);
        c.push(b'@');
        match self.config.advertised_addr().ip() {
            IpAddr::V4(ip) => {
                c.extend_from_slice(crate::sip::Ipv4Text::new(ip).as_str().as_bytes())
            }
            IpAddr::V6(ip) => {
                c.push(b'[');
                c.extend_from_slice(ip.to_string().as_bytes());
                c.push(b']');
            }
        }
    }

    /// A new session's SDP origin, with its random session id.
    fn local_session(&mut self) -> LocalSession {
        LocalSession::new(
            &self.config.media,
            self.rng.next_u32().into(),
            self.config.advertised_addr().ip(),
        )
    }

    /// Runs a command's event; an event the state has no transition for is refused.
    fn command(
        &mut self,
        now: Instant,
        id: SessionId,
        event: Event,
        command: &'static str,
    ) -> Result<(), CommandError> {
        self.command_with(now, id, event, Payload::default(), command)
    }

    /// [`Self::command`] for a command that carries a payload (a transfer's target).
    fn command_with(
        &mut self,
        now: Instant,
        id: SessionId,
        event: Event,
        mut payload: Payload,
        command: &'static str,
    ) -> Result<(), CommandError> {
        let fed = self.step(now, id, |s, step| s.run(&event, &mut payload, step));
        self.after_step(now);
        match fed {
            Some(Fed::Fired | Fed::Failed) => Ok(()),
            None if self.resolving.contains_session(id) => Err(CommandError::NotAllowed {
                session: id,
                state: "Resolving".into(),
                command,
            }),
            None => Err(CommandError::UnknownSession(id)),
            Some(Fed::NotHandled) => {
                let state = self
                    .sessions
                    .get(id)
                    .map(|s| self.table.state(s.machine.state()).name.to_string())
                    .unwrap_or_default();
                Err(CommandError::NotAllowed {
                    session: id,
                    state,
                    command,
                })
            }
        }
    }

    /// Runs one table event through one session; `None` when there is no such session.
    fn feed(&mut self, now: Instant, id: SessionId, event: Event) -> Option<Fed> {
        self.step(now, id, |s, step| s.feed(event, step))
    }

    /// Lends session `id` a [`Step`] for `f`, then carries out what it yielded; `None`
    /// when there is no such session.
    fn step<R>(
        &mut self,
        now: Instant,
        id: SessionId,
        f: impl FnOnce(&mut Session, &mut Step<'_>) -> R,
    ) -> Option<R> {
        self.lend(now, id, |sessions, step| {
            let session = sessions.get_mut(id)?;
            let _span = session.span(id).entered();
            Some(f(session, step))
        })
    }

    /// [`Self::step`] for work no session owns (answering a request outside any dialog).
    fn sessionless<R>(&mut self, now: Instant, f: impl FnOnce(&mut Step<'_>) -> R) -> R {
        self.lend(now, SessionId(0), |_, step| f(step))
    }

    /// Builds the [`Step`] for `id` from the endpoint's parts, runs `f` with it and the
    /// session store, then carries out the effects.
    fn lend<R>(
        &mut self,
        now: Instant,
        id: SessionId,
        f: impl FnOnce(&mut SessionStore, &mut Step<'_>) -> R,
    ) -> R {
        let mut effects = std::mem::take(&mut self.effects);
        let mut step = Step {
            id,
            now,
            config: &self.config,
            table: &self.table,
            sent_by: &self.sent_by,
            udp_contact: &self.udp_contact,
            rng: &mut self.rng,
            ids: &mut self.ids,
            transactions: &mut self.transactions,
            effects: &mut effects,
            buffer: &mut self.message_buffer,
            bridged_with: self.sessions.bridged_with(id),
        };
        let result = f(&mut self.sessions, &mut step);
        self.apply(id, &mut effects);
        self.effects = effects;
        result
    }

    /// Carries out a step's effects, in order: outputs into the one queue (RTP dropped
    /// and counted when it is full), timers into the timer queue.
    fn apply(&mut self, id: SessionId, effects: &mut Vec<Effect>) {
        for effect in effects.drain(..) {
            match effect {
                Effect::Transmit {
                    remote,
                    transport,
                    payload,
                } => self.transmit(remote, transport, payload),
                Effect::Rtp(packet) => self.transmit_rtp(packet),
                Effect::Media(request) => self.outputs.push_back(Output::Media(request)),
                Effect::Event(event) => self.publish(event),
                Effect::Timer(timer, at) => {
                    self.timers.set_opt((id, timer), at);
                    if timer == SessionTimer::Table(TimerName::Linger) && at.is_some() {
                        self.lingering.insert(id, self.sessions.len(), &self.timers);
                    }
                }
                Effect::Destroyed => self.destroyed.push(id),
                Effect::PlaceCall { session, target } => self.linked.push_back(Linked::Place {
                    session,
                    referred_by: id,
                    target,
                }),
                Effect::InviteProgress(status) => self.report_progress(id, status),
            }
        }
    }

    /// After every input: route what the transaction layer reported, and forget sessions
    /// whose cleanup ran.
    fn after_step(&mut self, now: Instant) {
        let mut reports = Vec::new();
        for _ in 0..1_000 {
            while let Some(out) = self.transactions.poll_output() {
                match out {
                    TransactionOutput::Transmit {
                        dest,
                        transport,
                        bytes,
                        ..
                    } => self.transmit(dest, transport, bytes),
                    report => reports.push(report),
                }
            }
            if reports.is_empty() {
                break;
            }
            for report in reports.drain(..) {
                router::on_transaction_report(self, now, report);
            }
        }
        for id in std::mem::take(&mut self.destroyed) {
            self.pending_incoming.remove(id);
            if let Some(invite) = self.sessions.remove(id).and_then(|s| s.call.invite.request) {
                // An INVITE whose final response never matched it (a 2xx that reached the
                // dialog with a mangled branch) would otherwise wait for Timer C (3 min):
                // with the session gone it gets the bounded end of a cancelled INVITE
                // (64·T1, RFC 3261 §9.1). A finished transaction ignores this.
                let _ = self.transactions.on_cancel_sent(now, invite.tx);
            }
            self.timers
                .cancel_all(SessionTimer::all().map(|timer| (id, timer)));
        }
        self.run_linked(now);
    }
}

/// The port of a SIP URI: its own, else 5060 (RFC 3261 §19.1.2; no TLS here).
fn uri_port(uri: &Uri<'_>) -> u16 {
    uri.port.unwrap_or(5060)
}

/// The transport a URI asks for (`;transport=tcp`), UDP by default.
fn uri_transport(uri: &str) -> Transport {
    const PARAM: &[u8] = b";transport=";
    let at = uri
        .as_bytes()
        .windows(PARAM.len())
        .position(|w| w.eq_ignore_ascii_case(PARAM));
    match at {
        Some(i) => {
            let rest = &uri[i + PARAM.len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(rest.len());
            Transport::from_token(&rest[..end])
        }
        None => Transport::Udp,
    }
}

/// Where an out-of-dialog request goes (see `Endpoint::destination`).
enum Destination {
    /// This address, now.
    Now(SocketAddr),
    /// The address the driver finds for this name.
    Resolve(ResolveQuery),
}

/// The transport of a `sip:` URI we send to: UDP, or TCP with `;transport=tcp`. TLS (and
/// so `sips:`) is not supported.
fn sip_transport(uri: &Uri<'_>, text: &str) -> Result<Transport, &'static str> {
    match (uri.scheme, uri_transport(text)) {
        (Scheme::Sip, t @ (Transport::Udp | Transport::Tcp)) => Ok(t),
        (Scheme::Sip | Scheme::Sips, _) => {
            Err("only UDP and TCP are supported (no TLS, so no sips:)")
        }
        _ => Err("only sip: URIs can be used"),
    }
}
