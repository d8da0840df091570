//! One session as a value: its state-machine state and its call data, the inputs it
//! takes (a table event, a timer, RTP, and the SIP inputs of [`super::inbound`]), and
//! the rules of RFC 3261 that belong to one call rather than to the endpoint: the UAS's
//! 2xx retransmission, what a failed action leaves behind, an offer refused without
//! harm. Every input runs with a [`Step`], and what the session does outside itself is
//! an effect the endpoint drains.

use std::net::SocketAddr;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::adapters::{dialog_adapter, media_adapter, Adapters};
use crate::call::{
    Call, DtmfMode, EndReason, IncomingRequest, Payload, Relocation, SessionId, SessionTimer, Step,
    Transmit, MAX_RELOCATION_ATTEMPTS,
};
use crate::dialog::DialogRole;
use crate::media::{rtcp, MediaEvent};
use crate::sip::{Method, Transport};
use crate::state_machine::{process, ActionError, Outcome, SessionState};
use crate::state_table::{Event, EventType, TimerName};

/// One call leg: its machine state and its call data.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) machine: SessionState,
    pub(crate) call: Call,
    /// UAS: the hash of the INVITE that created the session (see `SessionStore::by_origin`).
    pub(super) origin: Option<u64>,
}

/// How one event went through a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fed {
    /// A transition fired (its actions ran).
    Fired,
    /// The current state has no transition for the event (or its guards failed).
    NotHandled,
    /// An action failed; the session went the failure way.
    Failed,
}

impl Session {
    pub(crate) fn new(machine: SessionState, call: Call) -> Self {
        Session {
            machine,
            call,
            origin: None,
        }
    }

    /// The `tracing` span every input to this session runs in: the session id, the
    /// Call-ID and our role, so that one call's log lines can be picked out (e.g.
    /// `RUST_LOG='session_core[session{call_id=a84b4c76e66710}]=debug'`).
    pub(crate) fn span(&self, id: SessionId) -> tracing::Span {
        let role = match self.call.role {
            DialogRole::Uac => "uac",
            DialogRole::Uas => "uas",
        };
        tracing::debug_span!("session", id = %id, call_id = %self.call.call_id, role)
    }

    /// Runs one table event that carries nothing more through the session.
    pub(crate) fn feed(&mut self, event: Event, step: &mut Step<'_>) -> Fed {
        self.run(&event, &mut Payload::default(), step)
    }

    /// Runs one input through the session, to completion: its event through the state
    /// machine, the actions taking what they use from `payload`; what they leave stays
    /// there for the caller.
    pub(crate) fn run(&mut self, event: &Event, payload: &mut Payload, step: &mut Step<'_>) -> Fed {
        let mut adapters = Adapters {
            step,
            call: &mut self.call,
            payload,
        };
        let (table, now) = (adapters.step.table, adapters.step.now);
        let fed = match process(table, &mut self.machine, event, &mut adapters, now) {
            Outcome::Transitioned { from, to, .. } => {
                tracing::debug!(
                    event = ?event.event_type,
                    from = &*table.state(from).name,
                    to = &*table.state(to).name,
                    "transition"
                );
                if from != to {
                    self.replay_deferred(step);
                }
                Fed::Fired
            }
            Outcome::Unhandled { .. } | Outcome::Blocked { .. } => {
                tracing::debug!(event = ?event.event_type, "event not handled in this state");
                Fed::NotHandled
            }
            Outcome::ActionFailed { error, .. } => {
                tracing::debug!(session = %step.id, ?error, event = ?event.event_type, "action failed");
                self.fail(error, payload, step);
                Fed::Failed
            }
        };
        self.service_media(step);
        fed
    }

    /// The session changed state: the command it deferred while an offer of ours was
    /// outstanding runs now (once; it may defer itself again). One the new state has no
    /// use for (a resume once a hold failed) is dropped.
    fn replay_deferred(&mut self, step: &mut Step<'_>) {
        let Some(deferred) = self.call.deferred_command.take() else {
            return;
        };
        let (event, mut payload) = *deferred;
        if self.run(&event, &mut payload, step) == Fed::NotHandled {
            tracing::debug!(session = %step.id, event = ?event.event_type, "deferred command dropped");
        }
    }

    /// An action failed: refuse an INVITE still unanswered (488 when the SDP was the
    /// problem, 503 at a limit) and move the session to its failure state through
    /// `InternalError`. An in-dialog offer we cannot accept is the exception: see
    /// [`Self::refuse_offer`].
    fn fail(&mut self, error: ActionError, payload: &mut Payload, step: &mut Step<'_>) {
        let now = step.now;
        let call = &mut self.call;
        let not_acceptable = error == ActionError::SdpNotAcceptable;
        if not_acceptable && refuse_offer(call, &mut payload.request, step) {
            return;
        }
        if not_acceptable && call.role == DialogRole::Uac {
            refuse_callee_offer(call, step);
        }
        if call.report.end_reason.is_none() {
            call.report.end_reason = Some(if not_acceptable {
                EndReason::NotAcceptable
            } else {
                EndReason::Internal
            });
        }
        if call.role == DialogRole::Uas && call.invite.final_status.is_none() {
            if let Some(invite) = call.invite.incoming.clone() {
                let status = match error {
                    ActionError::SdpNotAcceptable => 488,
                    // §21.5.4: for now we cannot; Retry-After says when to try again.
                    ActionError::LimitReached => 503,
                    _ => 500,
                };
                if dialog_adapter::answer_request(step, call, &invite, status).is_ok() {
                    call.invite.final_status = Some(status);
                }
            }
        }
        let mut adapters = Adapters {
            step,
            call: &mut self.call,
            payload,
        };
        let internal = Event::new(EventType::InternalError);
        let table = adapters.step.table;
        let _ = process(table, &mut self.machine, &internal, &mut adapters, now);
        let _ = dialog_adapter::end_confirmed_dialog(step, &mut self.call);
    }

    /// One of the session's timers is due.
    pub(crate) fn on_timer(&mut self, timer: SessionTimer, step: &mut Step<'_>) {
        let event = match timer {
            SessionTimer::Table(TimerName::TransferSubscription) => {
                // The subscription our REFER created lapsed without a final NOTIFY.
                self.call.transfers.sent = None;
                EventType::TransferTimeout
            }
            SessionTimer::Table(timer) => timer.event_type(),
            SessionTimer::InviteExpires => EventType::InviteExpired,
            SessionTimer::SessionRefresh => EventType::SessionRefreshDue,
            SessionTimer::SessionExpires => EventType::SessionExpired,
            SessionTimer::Retransmit2xx => return self.retransmit_2xx(step),
            SessionTimer::Retransmit1xx if self.retransmit_1xx(step) => EventType::PrackTimeout,
            SessionTimer::Retransmit1xx => return,
            SessionTimer::Media => {
                if let Some(media) = self.call.media.rtp.as_mut() {
                    media.handle_timeout(step.now);
                }
                return self.service_media(step);
            }
            SessionTimer::Relocation => return self.relocate(step),
        };
        self.feed(Event::new(event), step);
    }

    /// The runtime opened the RTP socket of a call restored here: media starts with what
    /// was negotiated, and the re-INVITE moving the call goes (`call::relocation`). A call
    /// that ended meanwhile (its peer's BYE reached us first) gives the socket back.
    pub(crate) fn relocated_media_ready(&mut self, step: &mut Step<'_>) {
        if self.machine.is_terminal(step.table) {
            self.call.relocation = Relocation::Settled;
            let _ = media_adapter::stop_media_flow(step, &mut self.call);
            return;
        }
        if media_adapter::start_media_flow(step, &mut self.call).is_err() {
            return self.give_up_relocation(EndReason::MediaFailed, step);
        }
        self.relocate(step);
        self.service_media(step);
    }

    /// Sends the re-INVITE moving a restored call here, once more.
    fn relocate(&mut self, step: &mut Step<'_>) {
        if !self.call.relocation.is_under_way() || self.machine.is_terminal(step.table) {
            return;
        }
        if dialog_adapter::send_relocation(step, &mut self.call).is_err() {
            self.give_up_relocation(EndReason::DialogGone, step);
        }
    }

    /// The re-INVITE moving the call here got a final refusal. A 481 or 408 says the
    /// dialog is gone (RFC 5057 §5.1): the call ends. Anything else — a 491 (the peer's
    /// offer crossed ours), a 5xx, or a 4xx that a copy damaged on its way can draw — is
    /// tried again after the glare back-off (RFC 3261 §14.1), a few times: until the peer
    /// follows, its requests and media go to the endpoint that is gone, so giving up at
    /// once would lose a call that one more try could save.
    pub(crate) fn relocation_refused(&mut self, status: u16, step: &mut Step<'_>) {
        let attempts = self.call.relocation.attempts();
        if !matches!(status, 408 | 481) && attempts < MAX_RELOCATION_ATTEMPTS {
            self.call.relocation = Relocation::BackingOff { attempts };
            let at = step.now + dialog_adapter::glare_backoff(step, self.call.role);
            step.set_timer(SessionTimer::Relocation, at);
            return;
        }
        let reason = match status {
            408 => EndReason::Timeout,
            _ => EndReason::DialogGone,
        };
        self.give_up_relocation(reason, step);
    }

    /// The call cannot be moved here (no RTP socket, or the peer does not follow): it
    /// ends as a dialog whose request failed (RFC 3261 §12.2.1.2), by the table's BYE.
    pub(crate) fn give_up_relocation(&mut self, reason: EndReason, step: &mut Step<'_>) {
        self.call.relocation = Relocation::Settled;
        self.call.report.end_reason.get_or_insert(reason);
        self.feed(Event::new(EventType::DialogTimeout).with_status(408), step);
    }

    /// RFC 3261 §13.3.1.4: re-send the 2xx at T1, 2·T1 … capped at T2, until the ACK;
    /// after 64·T1 the dialog is given up (`DialogTimeout`, and the table sends BYE).
    fn retransmit_2xx(&mut self, step: &mut Step<'_>) {
        let now = step.now;
        let Some(r) = self.call.invite.retransmit_2xx.as_mut() else {
            return;
        };
        if now >= r.give_up_at {
            self.call.invite.retransmit_2xx = None;
            let timeout = Event::new(EventType::DialogTimeout).with_status(408);
            self.feed(timeout, step);
            return;
        }
        let (bytes, dest) = (r.bytes.clone(), r.destination);
        r.interval = (r.interval * 2).min(step.config.timers.t2);
        let next = (now + r.interval).min(r.give_up_at);
        step.transmit(dest, self.call.transport.clone(), bytes);
        step.set_timer(SessionTimer::Retransmit2xx, next);
    }

    /// RFC 3262 §3: re-send the reliable provisional response at T1, 2·T1 … until its
    /// PRACK. True once 64·T1 passed without one: the table then refuses the INVITE.
    fn retransmit_1xx(&mut self, step: &mut Step<'_>) -> bool {
        let now = step.now;
        let call = &mut self.call;
        let (Some(invite), Some(unacknowledged)) = (
            call.invite.incoming.as_ref(),
            call.invite.reliable.unacknowledged.as_mut(),
        ) else {
            return false;
        };
        if now >= unacknowledged.give_up_at {
            call.invite.reliable.unacknowledged = None;
            if call.report.end_reason.is_none() {
                call.report.end_reason = Some(EndReason::Timeout);
            }
            return true;
        }
        let (status, bytes) = (unacknowledged.status, unacknowledged.bytes.clone());
        let _ = step
            .transactions
            .send_response(now, invite.tx, status, bytes);
        unacknowledged.interval *= 2;
        let next = (now + unacknowledged.interval).min(unacknowledged.give_up_at);
        step.set_timer(SessionTimer::Retransmit1xx, next);
        false
    }

    /// A datagram arrived on the session's RTP socket, or on its RTCP socket (`local`
    /// other than the RTP address): RTP and multiplexed RTCP, or RTCP only.
    pub(crate) fn on_rtp(&mut self, local: SocketAddr, bytes: &[u8], step: &mut Step<'_>) {
        let on_rtp_port = self.call.media.local_rtp == Some(local);
        if let Some(media) = self.call.media.rtp.as_mut() {
            let _ = if on_rtp_port {
                media.handle_packet(step.now, bytes)
            } else {
                media.handle_rtcp(step.now, bytes)
            };
        }
        self.service_media(step);
    }

    /// Drains the RTP session: packets to send, events into the state machine.
    pub(crate) fn service_media(&mut self, step: &mut Step<'_>) {
        let now = step.now;
        let mut events: SmallVec<[MediaEvent; 2]> = SmallVec::new();
        {
            let call = &mut self.call;
            let (Some(media), Some(local)) = (call.media.rtp.as_mut(), call.media.local_rtp) else {
                return;
            };
            let mux = call.negotiated.as_ref().is_some_and(|n| n.rtcp_mux);
            // Each packet is written into the step's buffer, which the endpoint keeps,
            // and sealed into its one shared copy.
            let mut buf = step.message_buffer();
            while let Some(t) = media.poll_transmit(now, &mut buf) {
                let payload = Arc::from(&buf[..]);
                // RTCP leaves from the port above RTP's (RFC 3550 §11), or from the RTP
                // port itself when multiplexed (RFC 5761).
                let local = match t.rtcp && !mux {
                    true => rtcp::rtcp_address(local).unwrap_or(local),
                    false => local,
                };
                step.rtp(Transmit {
                    local,
                    remote: t.destination,
                    transport: Transport::Udp,
                    payload,
                });
            }
            step.return_buffer(buf);
            while let Some(ev) = media.poll_event() {
                events.push(ev);
            }
            media_adapter::refresh_timer(step, call);
        }
        for ev in events {
            match ev {
                MediaEvent::DtmfReceived { digit, duration } => {
                    let ms = u32::try_from(duration.as_millis()).unwrap_or(u32::MAX);
                    let event = Event::new(EventType::MediaDtmfReceived);
                    let mut payload = Payload {
                        digit: Some((digit, ms, DtmfMode::Rfc4733)),
                        ..Payload::default()
                    };
                    self.run(&event, &mut payload, step);
                }
                MediaEvent::Timeout { .. } => {
                    self.feed(Event::new(EventType::MediaTimeout), step);
                }
                _ => {}
            }
        }
    }
}

/// The callee's offer to our late-offer INVITE could not be accepted, and `NegotiateSDP`
/// left an answer refusing every stream: it goes where an answer must go, and the call
/// ends. In the ACK to a 2xx, before the BYE that `end_confirmed_dialog` sends (RFC 3261
/// §13.2.2.4); in the PRACK to a reliable provisional response (RFC 3262 §5: the UAC
/// "MUST generate an answer in the PRACK"), followed by a CANCEL, since the call can
/// have no media (RFC 3261 §9.1).
fn refuse_callee_offer(call: &mut Call, step: &mut Step<'_>) {
    if !call.offer_answer.has_answer() {
        return;
    }
    if call.invite.confirmed && call.invite.last_ack.is_none() {
        let _ = dialog_adapter::send_ack(step, call, &Event::new(EventType::Dialog200OK));
    } else if call.invite.reliable.prack_due.is_some() {
        let _ = dialog_adapter::send_prack(step, call);
        if !call.invite.cancel_sent {
            let _ = dialog_adapter::send_cancel(step, call);
        }
    }
}

/// An offer in a re-INVITE that we cannot accept (T.38 only, no codec in common) is
/// answered 488 and the session stays exactly as it was: RFC 3261 §14.2 ("the UAS MUST
/// return a 488 … the session remains as it was"), RFC 3264 §8. The executor left the
/// state unchanged, and the offer goes with the step's payload. False when no re-INVITE
/// is pending, so the caller fails the session as before.
fn refuse_offer(call: &Call, pending: &mut Option<IncomingRequest>, step: &mut Step<'_>) -> bool {
    if pending
        .as_ref()
        .is_none_or(|r| !matches!(r.method, Method::Invite | Method::Update))
    {
        return false;
    }
    // Without the transaction there is nothing to answer; the session still stays.
    let _ = dialog_adapter::answer_pending(step, call, pending, 488);
    true
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use std::mem::size_of;

    use super::Session;
    use crate::call::Transfers;
    use crate::media::RtpSession;

    /// Every held call keeps one boxed `Session` and one boxed `RtpSession`, so their
    /// sizes are most of a call's memory. Allocators round a block up to a size class
    /// (mimalloc, which `sessionctl` uses, has classes of 768 and 896, and of 1,280 and
    /// 1,536 bytes, here): a session a few bytes over 1,280 costs 256 more. What only
    /// some calls use (reliable provisionals, transfers, registration, a deferred
    /// command) is boxed for that reason, our last SDP is kept as its bytes, and a media
    /// session's frame queues keep their counts small; a field that pushes these over
    /// the bounds should be boxed too.
    #[test]
    fn a_session_fits_its_allocator_size_class() {
        assert!(
            size_of::<Session>() <= 1280,
            "Session: {}",
            size_of::<Session>()
        );
        assert!(
            size_of::<Transfers>() <= 16,
            "Transfers: {}",
            size_of::<Transfers>()
        );
        assert!(
            size_of::<RtpSession>() <= 768,
            "RtpSession: {}",
            size_of::<RtpSession>()
        );
    }
}
