//! The sans-IO [`Endpoint`]: the one value a driver feeds and drains.
//!
//! ```text
//!   datagrams ─┐                       ┌─► Output::Transmit (SIP and RTP)
//!   commands  ─┼─► router ─► executor ─┼─► Output::Media    (open/close RTP sockets)
//!   media     ─┤   (event    (YAML     └─► Output::Event    (IncomingCall, Answered …)
//!   time      ─┘   router)    table) ─► adapters (dialog, media, timers)
//! ```
//!
//! Every input carries `now`. After each input, drain [`Endpoint::poll_output`] until it
//! returns `None`, then sleep until [`Endpoint::poll_timeout`] and call
//! [`Endpoint::handle_timeout`]. Nothing inside reads a clock, a socket or a global
//! random generator, so the same [`Config::seed`] and the same inputs at the same
//! instants give byte-identical outputs.

mod command;
mod config;
pub(crate) mod ctx;
mod output;
mod router;
mod timers;
mod uas_checks;

pub use command::Command;
pub use config::Config;
pub use ctx::EndpointStats;
pub use output::{EndReason, MediaRequest, Output, SessionEvent, SessionId, Side, Transmit};

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use ctx::{Ctx, SessionTimer};

use crate::adapters::{media_adapter, Adapters};
use crate::dialog::DialogRole;
use crate::media::{MediaEvent, PushAudioError};
use crate::sdp::LocalSession;
pub use crate::session_store::SessionInfo;
use crate::session_store::{Call, SdpPhase, Session, SessionStore};
use crate::sip::{Method, Scheme, Transport, Uri};
use crate::state_machine::{process, ActionError, History, Outcome, SessionState};
use crate::state_table::{CompiledTable, Event, EventType, Role, TimerName};
use crate::time::Instant;

/// Options for [`Endpoint::make_call`].
#[derive(Clone, Debug, Default)]
pub struct CallOptions {
    /// The From name-addr (`"Alice" <sip:alice@example.com>`); `<sip:{user}@{sip_addr}>`
    /// when absent.
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
        }
    }
}

impl std::error::Error for CommandError {}

/// How one event went through a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fed {
    Fired,
    NotHandled,
    Failed,
    NoSession,
}

/// The sans-IO SIP endpoint: transactions, dialogs, sessions on a state table, SDP and
/// RTP, fed with datagrams, commands and time.
#[derive(Debug)]
pub struct Endpoint {
    ctx: Ctx,
    sessions: SessionStore,
    table: Arc<CompiledTable>,
}

impl Endpoint {
    /// A new endpoint.
    pub fn new(config: Config) -> Endpoint {
        let table = Arc::clone(&config.table);
        Endpoint {
            ctx: Ctx::new(config),
            sessions: SessionStore::default(),
            table,
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &Config {
        &self.ctx.config
    }

    /// Counters of what was dropped or refused.
    pub fn stats(&self) -> &EndpointStats {
        &self.ctx.stats
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
        if let Some(id) = self.sessions.by_rtp(local) {
            if let Some(media) = self
                .sessions
                .get_mut(id)
                .and_then(|s| s.call.media.as_mut())
            {
                let _ = media.handle_packet(now, bytes);
            }
            self.service_media(now, id);
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
                s.call.local_rtp = Some(local_rtp);
                self.sessions.index_rtp(local_rtp, session);
                self.feed(now, session, Event::new(EventType::MediaSessionReady));
            }
            MediaInput::Failed { session } => {
                self.feed(now, session, Event::new(EventType::MediaSessionFailed));
            }
        }
        self.after_step(now);
    }

    /// Time has reached `now`: fire due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ctx.transactions.handle_timeout(now);
        // Each session timer is re-armed strictly later than `now` (or not at all), so
        // this loop ends; the bound is a guard against a bug becoming a hang.
        for _ in 0..100_000 {
            let Some((id, timer)) = self.ctx.timers.pop_due(now) else {
                break;
            };
            self.fire_timer(now, id, timer);
        }
        self.after_step(now);
    }

    /// The next output; call until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.ctx.outputs.pop_front()
    }

    /// When the endpoint next needs [`Endpoint::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.ctx.transactions.poll_timeout(), self.ctx.timers.next()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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
            Command::SendDtmf { session, digits } => {
                self.send_dtmf(now, session, &digits).map(done(session))
            }
            Command::Transfer { session, target } => {
                self.transfer(now, session, &target).map(done(session))
            }
        }
    }

    /// Places a call to `target`, a `sip:` or `sips:` URI whose host is an IP address
    /// (or any host, when an outbound proxy is configured). The session then asks for an
    /// RTP socket (`MediaRequest::Open`) and sends the INVITE once it is ready.
    pub fn make_call(
        &mut self,
        now: Instant,
        target: &str,
        options: CallOptions,
    ) -> Result<SessionId, CommandError> {
        if self.sessions.len() >= self.ctx.config.max_sessions {
            return Err(CommandError::TooManySessions);
        }
        let target = target.trim();
        let bad = |why| CommandError::BadTarget {
            target: target.to_owned(),
            why,
        };
        let uri = Uri::parse(target).map_err(|_| bad("not a valid URI"))?;
        if !matches!(uri.scheme, Scheme::Sip | Scheme::Sips) {
            return Err(bad("only sip: and sips: URIs can be called"));
        }
        let peer = self.ctx.resolve(target).ok_or_else(|| {
            bad("the host is not an IP address and no outbound proxy is configured")
        })?;
        let transport = Ctx::uri_transport(target);
        let id = self.sessions.next_id();
        let call_id = self.ctx.new_call_id();
        let local_tag = self.ctx.new_tag();
        let local_uri = options
            .from
            .unwrap_or_else(|| format!("<sip:{}@{}>", self.ctx.config.user, self.ctx.sent_by));
        let sdp = LocalSession::new(
            &self.ctx.config.media,
            self.ctx.rng.next_u32().into(),
            self.ctx.config.advertised_addr().ip(),
        );
        let call = Call::new(
            DialogRole::Uac,
            call_id,
            local_tag,
            local_uri,
            format!("<{target}>"),
            target.to_owned(),
            peer,
            transport,
            1,
            sdp,
            now,
        );
        self.insert_session(id, Role::Uac, call);
        self.command(now, id, Event::new(EventType::MakeCall), "make_call")?;
        Ok(id)
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
        s.call.dtmf_queue.push_str(digits);
        let result = self.command(now, session, Event::new(EventType::SendDtmf), "send_dtmf");
        if result.is_err() {
            if let Some(s) = self.sessions.get_mut(session) {
                s.call.dtmf_queue.clear();
            }
        }
        result
    }

    /// Asks the peer to call `target` instead (a blind transfer: REFER, RFC 3515); the
    /// call ends when the peer reports the new call answered.
    pub fn transfer(
        &mut self,
        now: Instant,
        session: SessionId,
        target: &str,
    ) -> Result<(), CommandError> {
        let s = self
            .sessions
            .get_mut(session)
            .ok_or(CommandError::UnknownSession(session))?;
        s.call.refer_to = Some(target.to_owned());
        self.command(
            now,
            session,
            Event::new(EventType::BlindTransfer),
            "transfer",
        )
    }

    /// Ends every call (BYE, CANCEL or a final response) ahead of shutting down. Keep
    /// driving the endpoint until [`Endpoint::is_idle`] (or a deadline).
    pub fn shutdown(&mut self, now: Instant) {
        let ids: Vec<SessionId> = self.sessions.ids().collect();
        for id in ids {
            if let Some(s) = self.sessions.get_mut(id) {
                if s.call.end_reason.is_none() {
                    s.call.end_reason = Some(EndReason::Shutdown);
                }
            }
            let _ = self.command(now, id, Event::new(EventType::HangupCall), "shutdown");
        }
    }

    /// True when no session, transaction or timer is left.
    pub fn is_idle(&self) -> bool {
        self.sessions.len() == 0 && self.ctx.transactions.is_empty() && self.ctx.timers.is_empty()
    }

    /// Every session, in id order, with its state's name.
    pub fn sessions(&self) -> impl Iterator<Item = SessionInfo> + '_ {
        self.sessions.infos(&self.table)
    }

    /// One session's summary.
    pub fn session(&self, id: SessionId) -> Option<SessionInfo> {
        self.sessions
            .get(id)
            .map(|s| SessionInfo::new(id, s, &self.table))
    }

    /// One session's transition history (bounded; the oldest entries drop first).
    pub fn history(&self, id: SessionId) -> Option<&History> {
        self.sessions.get(id).map(|s| s.machine.history())
    }

    /// The state table sessions run on.
    pub fn table(&self) -> &CompiledTable {
        &self.table
    }

    /// Decoded audio received on a call (when `Config::audio_sink_frames` > 0): one frame
    /// appended to `out`, with its RTP timestamp.
    pub fn poll_audio(&mut self, session: SessionId, out: &mut Vec<i16>) -> Option<u32> {
        self.sessions
            .get_mut(session)?
            .call
            .media
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
            .and_then(|s| s.call.media.as_mut())
        {
            Some(media) => media.push_audio(samples),
            None => Ok(()),
        }
    }

    fn insert_session(&mut self, id: SessionId, role: Role, call: Call) {
        let machine = SessionState::new(&self.table, role);
        self.sessions.insert(id, Session::new(machine, call));
        self.ctx.stats.sessions_created += 1;
    }

    /// Runs a command's event; an event the state has no transition for is refused.
    fn command(
        &mut self,
        now: Instant,
        id: SessionId,
        event: Event,
        command: &'static str,
    ) -> Result<(), CommandError> {
        let fed = self.feed(now, id, event);
        self.after_step(now);
        match fed {
            Fed::Fired | Fed::Failed => Ok(()),
            Fed::NoSession => Err(CommandError::UnknownSession(id)),
            Fed::NotHandled => {
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

    /// Runs one event through one session, to completion.
    fn feed(&mut self, now: Instant, id: SessionId, event: Event) -> Fed {
        let Some(session) = self.sessions.get_mut(id) else {
            return Fed::NoSession;
        };
        let mut adapters = Adapters {
            ctx: &mut self.ctx,
            id,
            call: &mut session.call,
        };
        let outcome = process(
            &self.table,
            &mut session.machine,
            &event,
            &mut adapters,
            now,
        );
        let fed = match outcome {
            Outcome::Transitioned { from, to, .. } => {
                if from != to {
                    self.replay_deferred(now, id);
                }
                Fed::Fired
            }
            Outcome::Unhandled { .. } | Outcome::Blocked { .. } => Fed::NotHandled,
            Outcome::ActionFailed { error, .. } => {
                tracing::debug!(session = %id, ?error, event = ?event.event_type, "action failed");
                self.fail_session(now, id, error);
                Fed::Failed
            }
        };
        self.service_media(now, id);
        fed
    }

    /// The session changed state: the command it deferred while an offer of ours was
    /// outstanding runs now (once; it may defer itself again). One the new state has no
    /// use for (a resume once a hold failed) is dropped.
    fn replay_deferred(&mut self, now: Instant, id: SessionId) {
        let Some(event) = self
            .sessions
            .get_mut(id)
            .and_then(|s| s.call.deferred_command.take())
        else {
            return;
        };
        if self.feed(now, id, event.clone()) == Fed::NotHandled {
            tracing::debug!(session = %id, event = ?event.event_type, "deferred command dropped");
        }
    }

    /// An action failed: refuse an INVITE still unanswered (488 when the SDP was the
    /// problem, 503 at a limit) and move the session to its failure state through `InternalError`.
    /// An in-dialog offer we cannot accept is the exception: see [`Self::refuse_offer`].
    fn fail_session(&mut self, now: Instant, id: SessionId, error: ActionError) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        let call = &mut session.call;
        let not_acceptable = error == ActionError::SdpNotAcceptable;
        if not_acceptable && Self::refuse_offer(&mut self.ctx, call, now) {
            return;
        }
        if call.end_reason.is_none() {
            call.end_reason = Some(if not_acceptable {
                EndReason::NotAcceptable
            } else {
                EndReason::Internal
            });
        }
        if call.role == DialogRole::Uas && call.final_status.is_none() {
            if let Some(invite) = call.incoming_invite.clone() {
                let status = match error {
                    ActionError::SdpNotAcceptable => 488,
                    // §21.5.4: for now we cannot; Retry-After says when to try again.
                    ActionError::LimitReached => 503,
                    _ => 500,
                };
                if crate::adapters::dialog_adapter::answer_request(
                    &mut self.ctx,
                    call,
                    &invite,
                    status,
                    now,
                )
                .is_ok()
                {
                    call.final_status = Some(status);
                }
            }
        }
        let mut adapters = Adapters {
            ctx: &mut self.ctx,
            id,
            call: &mut session.call,
        };
        let internal = Event::new(EventType::InternalError);
        let _ = process(
            &self.table,
            &mut session.machine,
            &internal,
            &mut adapters,
            now,
        );
        let _ = crate::adapters::dialog_adapter::end_confirmed_dialog(
            &mut self.ctx,
            id,
            &mut session.call,
            now,
        );
    }

    /// An offer in a re-INVITE that we cannot accept (T.38 only, no codec in common) is
    /// answered 488 and the session stays exactly as it was: RFC 3261 §14.2 ("the UAS
    /// MUST return a 488 … the session remains as it was"), RFC 3264 §8. The executor
    /// left the state unchanged; the offer is dropped here. False when no re-INVITE is
    /// pending, so the caller fails the session as before.
    fn refuse_offer(ctx: &mut Ctx, call: &mut Call, now: Instant) -> bool {
        if call
            .pending_request
            .as_ref()
            .is_none_or(|r| r.method != Method::Invite)
        {
            return false;
        }
        call.remote_offer = None;
        call.sdp_phase = SdpPhase::Idle;
        // Without the transaction there is nothing to answer; the session still stays.
        let _ = crate::adapters::dialog_adapter::answer_pending(ctx, call, 488, now);
        true
    }

    fn fire_timer(&mut self, now: Instant, id: SessionId, timer: SessionTimer) {
        match timer {
            SessionTimer::Table(TimerName::NoAnswer) => {
                self.feed(now, id, Event::new(EventType::NoAnswerTimeout));
            }
            SessionTimer::Table(TimerName::Linger) => {
                self.feed(now, id, Event::new(EventType::LingerExpired));
            }
            SessionTimer::Table(TimerName::GlareRetry) => {
                self.feed(now, id, Event::new(EventType::GlareRetryTimer));
            }
            SessionTimer::InviteExpires => {
                self.feed(now, id, Event::new(EventType::InviteExpired));
            }
            SessionTimer::Retransmit2xx => self.retransmit_2xx(now, id),
            SessionTimer::Media => {
                if let Some(media) = self
                    .sessions
                    .get_mut(id)
                    .and_then(|s| s.call.media.as_mut())
                {
                    media.handle_timeout(now);
                }
                self.service_media(now, id);
            }
        }
    }

    /// RFC 3261 §13.3.1.4: re-send the 2xx at T1, 2·T1 … capped at T2, until the ACK;
    /// after 64·T1 the dialog is given up (`DialogTimeout`, and the table sends BYE).
    fn retransmit_2xx(&mut self, now: Instant, id: SessionId) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        let call = &mut session.call;
        let Some(r) = call.retransmit_2xx.as_mut() else {
            return;
        };
        if now >= r.give_up_at {
            call.retransmit_2xx = None;
            self.feed(
                now,
                id,
                Event::new(EventType::DialogTimeout).with_status(408),
            );
            return;
        }
        let bytes = r.bytes.clone();
        r.interval = (r.interval * 2).min(self.ctx.config.timers.t2);
        let next = (now + r.interval).min(r.give_up_at);
        let dest = crate::adapters::dialog_adapter::dialog_destination(&self.ctx, call);
        let transport = call.transport.clone();
        self.ctx.transmit(dest, transport, bytes);
        self.ctx.set_timer(id, SessionTimer::Retransmit2xx, next);
    }

    /// Drains a session's RTP session: packets to send, events into the state machine.
    fn service_media(&mut self, now: Instant, id: SessionId) {
        let mut events: smallvec::SmallVec<[MediaEvent; 2]> = smallvec::SmallVec::new();
        {
            let Some(session) = self.sessions.get_mut(id) else {
                return;
            };
            let call = &mut session.call;
            let (Some(media), Some(local)) = (call.media.as_mut(), call.local_rtp) else {
                return;
            };
            let mut buf = Vec::with_capacity(256);
            while let Some(t) = media.poll_transmit(now, &mut buf) {
                if self.ctx.outputs.len() >= self.ctx.config.max_queued_outputs {
                    self.ctx.stats.rtp_dropped_queue_full += 1;
                    buf.clear();
                    continue;
                }
                let payload = std::mem::replace(&mut buf, Vec::with_capacity(256));
                self.ctx.outputs.push_back(Output::Transmit(Transmit {
                    local,
                    remote: t.destination,
                    transport: Transport::Udp,
                    payload,
                }));
            }
            while let Some(ev) = media.poll_event() {
                events.push(ev);
            }
            media_adapter::refresh_timer(&mut self.ctx, id, call);
        }
        for ev in events {
            match ev {
                MediaEvent::DtmfReceived { digit, duration } => {
                    let ms = u32::try_from(duration.as_millis()).unwrap_or(u32::MAX);
                    self.ctx.dtmf_digit = Some((digit, ms));
                    self.feed(now, id, Event::new(EventType::MediaDtmfReceived));
                    self.ctx.dtmf_digit = None;
                }
                MediaEvent::Timeout { .. } => {
                    self.feed(now, id, Event::new(EventType::MediaTimeout));
                }
                _ => {}
            }
        }
    }

    /// After every input: route what the transaction layer reported, and forget sessions
    /// whose cleanup ran.
    fn after_step(&mut self, now: Instant) {
        let mut reports = Vec::new();
        for _ in 0..1_000 {
            reports.clear();
            self.ctx.drain_transactions(&mut reports);
            if reports.is_empty() {
                break;
            }
            for report in reports.drain(..) {
                router::on_transaction_report(self, now, report);
            }
        }
        for id in std::mem::take(&mut self.ctx.destroyed) {
            if let Some(invite) = self.sessions.remove(id).and_then(|s| s.call.invite) {
                // An INVITE whose final response never matched it (a 2xx that reached the
                // dialog with a mangled branch) would otherwise wait for Timer C (3 min):
                // with the session gone it gets the bounded end of a cancelled INVITE
                // (64·T1, RFC 3261 §9.1). A finished transaction ignores this.
                let _ = self.ctx.transactions.on_cancel_sent(now, invite.tx);
            }
            self.ctx.timers.cancel_where(|&(s, _)| s == id);
        }
    }
}
