//! The SIP inputs of a session, once the endpoint has parsed a message, matched its
//! transaction and found the session: an in-dialog request (RFC 3261 §12.2.2, §14.2,
//! §15; RFC 3515, RFC 6665 for REFER and its NOTIFY), the ACK of our 2xx (§13.3.1.4),
//! a CANCEL (§9.2), a response to one of our requests (§13.2.2, forks included), and
//! what the transaction layer reports (timeouts, transport errors, ends).

use std::sync::Arc;

use super::session::Session;
use crate::adapters::dialog_adapter::{self, ALLOW};
use crate::adapters::registration_adapter;
use crate::auth::{self, AuthError};
use crate::call::{min_se_of, DtmfMode, ReferTarget, SessionTimer};
use crate::call::{
    Call, Effect, EndReason, IncomingRequest, OutgoingRequest, Payload, SessionEvent, Side, Step,
};
use crate::dialog::DialogState;
use crate::sdp::is_hold;
use crate::sip::{write_ack_for_non_2xx, write_reissued, HeaderName, Message, Method, Params};
use crate::state_table::{Event, EventType, TimerName};
use crate::transaction::{ClientKey, Timer, TransactionId, TransactionOutput};

/// How many forked dialogs one call remembers having ended (a bound on what a peer that
/// forks without end can make us keep).
const MAX_ENDED_FORKS: usize = 16;

impl Session {
    /// A request inside this session's dialog (its dialog id matched).
    pub(crate) fn on_request(
        &mut self,
        msg: &Message<'_>,
        request: IncomingRequest,
        step: &mut Step<'_>,
    ) {
        if let Some(dialog) = self.call.dialog.as_mut() {
            if dialog.accept_remote_seq(request.cseq, false).is_err() {
                return dialog_adapter::respond(step, &request, 500, &[]);
            }
        }
        let mut payload = Payload::default();
        let mut event = match request.method {
            Method::Options => return dialog_adapter::answer_options(step, &request),
            Method::Info => {
                if msg.header(HeaderName::InfoPackage).is_some() {
                    // RFC 6086 §4.2.2: we announced no Info Package (no Recv-Info).
                    return dialog_adapter::respond(step, &request, 469, &[("Recv-Info", "")]);
                }
                match dtmf_of_info(msg) {
                    Some(digit) => payload.digit = Some(digit),
                    None => {
                        let content_type = msg.header(HeaderName::ContentType).unwrap_or("");
                        payload.info = Some((content_type.trim().to_owned(), msg.body().to_vec()));
                    }
                }
                Event::new(EventType::DialogINFO)
            }
            Method::Bye => Event::new(EventType::DialogBYE),
            Method::Prack => {
                let reliable = &self.call.invite.reliable;
                if !reliable.acknowledges(msg) {
                    // RFC 3262 §3: it names no provisional response awaiting a PRACK.
                    return dialog_adapter::respond(step, &request, 481, &[]);
                }
                let Ok(sdp) = dialog_adapter::sdp_of(msg) else {
                    return dialog_adapter::respond(step, &request, 400, &[]);
                };
                if reliable.unacknowledged.as_ref().is_some_and(|u| u.offer) {
                    // RFC 3262 §5: the answer to the offer in our reliable provisional
                    // response comes in the PRACK acknowledging it, and only there.
                    self.call.offer_answer.offer_sent(request.cseq);
                }
                let mut event = Event::new(EventType::DialogPRACK);
                if let Some(sdp) = sdp {
                    payload.sdp = Some(Box::new(sdp));
                    event = event.with_sdp();
                }
                event
            }
            Method::Invite | Method::Update => {
                let Ok(offer) = dialog_adapter::sdp_of(msg) else {
                    return dialog_adapter::respond(step, &request, 400, &[]);
                };
                if self.call.relocation.is_under_way() {
                    // Our re-INVITE moving the call here is (or is about to be) the offer
                    // outstanding: the peer's crosses it (RFC 3261 §14.2, RFC 3311 §5.2).
                    return dialog_adapter::respond(step, &request, 491, &[]);
                }
                // Both are target refresh requests (RFC 3261 §12.2, RFC 3311 §5.2).
                if let (Some(contact), Some(dialog)) = (
                    dialog_adapter::first_contact_uri(msg),
                    self.call.dialog.as_mut(),
                ) {
                    dialog.refresh_remote_target(contact);
                }
                let mut event = Event::new(if request.method == Method::Update {
                    EventType::DialogUPDATE
                } else {
                    EventType::DialogReINVITE
                });
                if let Some(offer) = offer {
                    event = if is_hold(&offer) {
                        event.with_remote_hold()
                    } else {
                        event.with_sdp()
                    };
                    payload.offer = Some(Box::new(offer));
                }
                event
            }
            Method::Refer => {
                let target = msg.header(HeaderName::ReferTo).and_then(|refer_to| {
                    ReferTarget::parse(
                        refer_to,
                        msg.header(HeaderName::ReferredBy),
                        msg.header(HeaderName::ReferSub),
                    )
                });
                let Some(target) = target else {
                    // RFC 3515 §2.4.1: exactly one Refer-To, holding a URI.
                    return dialog_adapter::respond(step, &request, 400, &[]);
                };
                let busy = self
                    .call
                    .transfers
                    .notifier
                    .as_ref()
                    .is_some_and(|n| !n.terminated());
                if busy {
                    // The call the last REFER asked for is still under way.
                    return dialog_adapter::respond(step, &request, 491, &[]);
                }
                payload.refer_to = Some(target.uri.clone());
                payload.refer = Some(target);
                Event::new(EventType::DialogREFER)
            }
            Method::Notify => {
                let sent = self.call.transfers.sent.as_ref().map(|r| r.cseq);
                if !reports_on_our_refer(msg, sent) {
                    // RFC 6665 §4.1.3: a NOTIFY for no subscription we created.
                    return dialog_adapter::respond(step, &request, 481, &[]);
                }
                let mut event = Event::new(EventType::DialogNotify);
                let status = sipfrag_status(msg.body());
                if let Some(status) = status {
                    event = event.with_status(status);
                }
                if status.is_some_and(|s| s >= 200) || subscription_terminated(msg) {
                    // The subscription is over; a later NOTIFY gets 481.
                    self.call.transfers.sent = None;
                    step.cancel_timer(SessionTimer::Table(TimerName::TransferSubscription));
                }
                event
            }
            _ => return dialog_adapter::respond(step, &request, 405, &[("Allow", ALLOW)]),
        };
        event = event
            .with_cseq(request.cseq)
            .with_method(request.method.clone());
        payload.request = Some(request);
        self.run(&event, &mut payload, step);
        // A request the table did not answer gets the answer RFC 3261 expects in that case.
        if let Some(pending) = payload.request {
            let status = match pending.method {
                Method::Bye => 481,
                // RFC 3311 §5.2: 500 (with Retry-After) for an UPDATE we cannot take now.
                Method::Invite | Method::Update => 500,
                Method::Refer => 603,
                _ => 200,
            };
            dialog_adapter::respond(step, &pending, status, &[]);
        }
    }

    /// The ACK for a 2xx: ends the 2xx retransmission and moves the session on.
    pub(crate) fn on_ack(&mut self, msg: &Message<'_>, step: &mut Step<'_>) {
        let cseq = msg.cseq().seq;
        match &self.call.invite.retransmit_2xx {
            Some(r) if r.cseq == cseq => {}
            // A retransmitted ACK, or one for a 2xx we are not waiting on.
            _ => return,
        }
        self.call.invite.retransmit_2xx = None;
        step.cancel_timer(crate::call::SessionTimer::Retransmit2xx);
        let mut event = Event::new(EventType::DialogACK)
            .with_cseq(cseq)
            .with_method(Method::Ack);
        let mut payload = Payload::default();
        if let Ok(Some(sdp)) = dialog_adapter::sdp_of(msg) {
            payload.sdp = Some(Box::new(sdp));
            event = event.with_sdp();
        }
        self.run(&event, &mut payload, step);
    }

    /// A CANCEL for the INVITE this session answers (RFC 3261 §9.2): the table decides;
    /// when the INVITE was already answered the CANCEL has no effect but gets its 200.
    pub(crate) fn on_cancel(&mut self, request: IncomingRequest, step: &mut Step<'_>) {
        let event = Event::new(EventType::DialogCANCEL)
            .with_cseq(request.cseq)
            .with_method(Method::Cancel);
        let mut payload = Payload {
            cancel: Some(request),
            ..Payload::default()
        };
        self.run(&event, &mut payload, step);
        if let Some(cancel) = payload.cancel {
            dialog_adapter::respond(step, &cancel, 200, &[]);
        }
    }

    /// A response to one of our requests: dialog bookkeeping, then the state-machine
    /// event. `tx` is the client transaction it matched (none for a 2xx retransmitted
    /// after it ended); `needs_ack` says that it is an INVITE's non-2xx final, which the
    /// transaction ACKs (RFC 3261 §17.1.1.3). A 401 or 407 is answered with credentials
    /// when we have them (§22.2), and the table sees it only when we cannot.
    pub(crate) fn on_response(
        &mut self,
        msg: &Message<'_>,
        status: u16,
        tx: Option<TransactionId>,
        needs_ack: bool,
        step: &mut Step<'_>,
    ) {
        if let Some(tx) = tx.filter(|_| needs_ack) {
            self.send_non_2xx_ack(tx, msg, step);
        }
        if let (401 | 407, Some(tx)) = (status, tx) {
            match self.send_with_credentials(tx, msg, step) {
                Ok(()) => return,
                Err(error) => {
                    tracing::debug!(session = %step.id, ?error, status, "challenge not answered");
                    let is_invite = self
                        .call
                        .invite
                        .request
                        .as_ref()
                        .is_some_and(|r| r.tx == tx);
                    if is_invite && self.call.report.end_reason.is_none() {
                        self.call.report.end_reason = Some(EndReason::AuthFailed { status });
                    }
                }
            }
        }
        if let (422, Some(tx)) = (status, tx) {
            if self.send_with_larger_interval(tx, msg, step) {
                return;
            }
        }
        let cseq = msg.cseq();
        let call = &mut self.call;
        let mut sdp = dialog_adapter::sdp_of(msg).ok().flatten().map(Box::new);
        let mut has_sdp = sdp.is_some();
        // Our INVITE had no offer and no exchange completed yet: SDP in a response to
        // it is the callee's offer (RFC 3261 §13.2.1, RFC 3262 §5).
        let callee_offers = call.invite.late_offer && call.negotiated.is_none();
        let mut payload = Payload::default();
        let event = match cseq.method {
            Method::Invite
                if call
                    .invite
                    .request
                    .as_ref()
                    .is_some_and(|i| i.cseq == cseq.seq) =>
            {
                match status {
                    100..=199 => {
                        if call.dialog.is_none() {
                            call.dialog =
                                dialog_adapter::dialog_from_response(msg, call, DialogState::Early);
                        }
                        let tag = msg.to().tag().unwrap_or_default();
                        let in_our_dialog = call
                            .dialog
                            .as_ref()
                            .is_some_and(|d| d.id().remote_tag == tag);
                        if in_our_dialog && !call.invite.reliable.provisional(msg, cseq.seq) {
                            // A reliable one again, or out of order (RFC 3262 §4).
                            return;
                        }
                        if status > 100 {
                            step.effects.push(Effect::InviteProgress(status));
                        }
                        if callee_offers && sdp.is_some() {
                            if call.invite.reliable.prack_due.is_some() {
                                // Answered in the PRACK (RFC 3262 §5).
                                payload.offer = sdp.take();
                            } else {
                                // An offer goes only in a reliable message (RFC 3261
                                // §13.2.1): there is no message for our answer before
                                // the 2xx, which brings the offer again. Ignored.
                                sdp = None;
                                has_sdp = false;
                            }
                        }
                        payload.sdp = sdp;
                        Event::new(EventType::DialogProvisional)
                    }
                    200..=299 => {
                        step.effects.push(Effect::InviteProgress(status));
                        let tag = msg.to().tag().unwrap_or_default();
                        let other_dialog = call.invite.confirmed
                            && call
                                .dialog
                                .as_ref()
                                .is_some_and(|d| d.id().remote_tag != tag);
                        // A 2xx from another fork, or one that arrives after the session
                        // ended (Timer B fired, the CANCEL won): that dialog is confirmed
                        // at the callee, so it is ACKed and ended with BYE (§13.2.2.4).
                        let too_late =
                            !call.invite.confirmed && self.machine.is_terminal(step.table);
                        if other_dialog || too_late {
                            return end_forked_dialog(call, msg, step);
                        }
                        let same = call
                            .dialog
                            .as_ref()
                            .is_some_and(|d| d.id().remote_tag == tag);
                        if same {
                            if let Some(d) = call.dialog.as_mut() {
                                d.confirm();
                                if let Some(c) = dialog_adapter::first_contact_uri(msg) {
                                    d.refresh_remote_target(c);
                                }
                            }
                        } else {
                            let early_seq = call.dialog.as_ref().map(|d| d.local_seq());
                            call.dialog = dialog_adapter::dialog_from_response(
                                msg,
                                call,
                                DialogState::Confirmed,
                            );
                            // Another branch answered: our CSeq numbers go on from those
                            // the early dialog used, never backwards.
                            if let (Some(d), Some(seq)) = (call.dialog.as_mut(), early_seq) {
                                d.skip_local_seq_past(seq);
                            }
                        }
                        if !call.invite.confirmed {
                            call.invite.confirmed = true;
                            call.invite.final_status = Some(status);
                            call.answered_at = Some(step.now);
                            call.refresh.answered(step, msg);
                            if callee_offers {
                                // Answered in the ACK (RFC 3261 §13.2.2.4).
                                payload.offer = sdp.take();
                            } else {
                                payload.sdp = sdp.take();
                            }
                        }
                        Event::new(EventType::Dialog200OK)
                    }
                    _ => {
                        step.effects.push(Effect::InviteProgress(status));
                        call.invite.final_status = Some(status);
                        Event::new(EventType::DialogFailure)
                    }
                }
            }
            Method::Invite => match status {
                100..=199 => return,
                200..=299 => {
                    if let (Some(c), Some(d)) =
                        (dialog_adapter::first_contact_uri(msg), call.dialog.as_mut())
                    {
                        d.refresh_remote_target(c);
                    }
                    let repeat = call
                        .invite
                        .last_ack
                        .as_ref()
                        .is_some_and(|(c, _)| *c == cseq.seq);
                    if repeat {
                        // A retransmitted 2xx to our re-INVITE: only the ACK is re-sent.
                        let _ = dialog_adapter::resend_ack(step, call);
                        return;
                    }
                    let refresh = tx.is_some() && call.refresh.in_flight == tx;
                    call.refresh.answered(step, msg);
                    if call.relocation.is_offer(tx) {
                        return self.relocation_answered(sdp, cseq.seq, step);
                    }
                    if refresh {
                        // Our session refresh offered what we last sent, unchanged: it
                        // is ACKed and the media left alone (RFC 4028 §7.4).
                        call.sdp.reoffer_answered();
                        call.offer_answer.close();
                        let ack = Event::new(EventType::Dialog200OK).with_cseq(cseq.seq);
                        let _ = dialog_adapter::send_ack(step, call, &ack);
                        return;
                    }
                    payload.sdp = sdp;
                    Event::new(EventType::DialogReInviteAccepted)
                }
                _ => {
                    call.sdp.reoffer_rejected();
                    call.offer_answer.close();
                    if call.relocation.is_offer(tx) {
                        return self.relocation_refused(status, step);
                    }
                    if tx.is_some() && call.refresh.in_flight == tx {
                        return self.refresh_failed(status, step);
                    }
                    Event::new(EventType::DialogReInviteFailed)
                }
            },
            Method::Update if status >= 200 && tx.is_some() && call.invite.update == tx => {
                call.invite.update = None;
                if (200..300).contains(&status) && sdp.is_some() {
                    payload.sdp = sdp;
                    Event::new(EventType::DialogUpdateAccepted)
                } else {
                    // Refused, or a 2xx without the answer RFC 3311 §5.3 requires: the
                    // session stays as it was.
                    call.sdp.reoffer_rejected();
                    call.offer_answer.close();
                    let failed = status >= 300;
                    Event::new(if failed {
                        EventType::DialogUpdateFailed
                    } else {
                        EventType::DialogUpdateAccepted
                    })
                }
            }
            Method::Update if status >= 200 && tx.is_some() && call.refresh.in_flight == tx => {
                if status < 300 {
                    call.refresh.answered(step, msg);
                    return;
                }
                return self.refresh_failed(status, step);
            }
            Method::Bye if status >= 200 => Event::new(EventType::DialogByeResponse),
            Method::Refer if status >= 200 => {
                let ours = call
                    .transfers
                    .sent
                    .as_ref()
                    .is_some_and(|r| Some(r.tx) == tx);
                if !ours {
                    // The subscription is already over: its final NOTIFY overtook the
                    // 202 (RFC 3515 §2.4.4 allows that), or it was given up.
                    return;
                }
                if status >= 300 {
                    call.transfers.sent = None;
                }
                Event::new(EventType::DialogReferResponse)
            }
            Method::Info if status >= 200 => {
                if call.media.dtmf_info.is_some() && call.media.dtmf_info == tx {
                    dialog_adapter::dtmf_info_answered(step, call, Some(status));
                }
                return;
            }
            Method::Notify if status >= 200 => {
                let ours = call
                    .transfers
                    .notifier
                    .as_ref()
                    .is_some_and(|n| n.in_flight.is_some() && n.in_flight == tx);
                if ours {
                    dialog_adapter::notify_answered(step, call, Some(status));
                }
                return;
            }
            Method::Register => {
                let Some(event) = registration_adapter::on_response(step, call, msg, status) else {
                    return;
                };
                Event::new(event)
            }
            _ => return,
        };
        let mut event = event
            .with_status(status)
            .with_cseq(cseq.seq)
            .with_method(cseq.method.clone());
        if has_sdp {
            event = event.with_sdp();
        }
        self.run(&event, &mut payload, step);
    }

    /// Sends the request transaction `tx` carried again, answering the challenge in
    /// `response` (RFC 3261 §22.2): a new branch and CSeq (the next of the dialog, or of
    /// the call for the INVITE that sets it up), the same Call-ID. What the session
    /// tracks of that request follows it to its new transaction.
    fn send_with_credentials(
        &mut self,
        tx: TransactionId,
        response: &Message<'_>,
        step: &mut Step<'_>,
    ) -> Result<(), AuthError> {
        let bytes = step
            .transactions
            .client_request(tx)
            .map(|(bytes, _, _)| bytes.to_vec())
            .ok_or(AuthError::CannotResend)?;
        let request = Message::parse_with(&bytes, &step.config.parse_limits)
            .map_err(|_| AuthError::CannotResend)?;
        if matches!(request.method(), Some(Method::Ack | Method::Cancel)) {
            // §22.1: neither can be sent again with credentials.
            return Err(AuthError::CannotResend);
        }
        let credentials = auth::answer(&request, response, &step.config.credentials, step.rng)?;
        let headers: Vec<(&str, &str)> = credentials
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let replaced = [HeaderName::Authorization, HeaderName::ProxyAuthorization];
        self.reissue(tx, &replaced, &headers, step)
            .ok_or(AuthError::CannotResend)
    }

    /// A 422 to our INVITE or refresh (RFC 4028 §7.3): the request goes again asking for
    /// the `Min-SE` the 422 names. False when it names nothing larger than we asked for,
    /// which the table then sees as the failure it is.
    fn send_with_larger_interval(
        &mut self,
        tx: TransactionId,
        response: &Message<'_>,
        step: &mut Step<'_>,
    ) -> bool {
        if !self.call.refresh.raise(min_se_of(response)) {
            return false;
        }
        let headers = if self.call.refresh.running.is_some() {
            self.call.refresh.refresh_headers()
        } else {
            self.call.refresh.invite_headers()
        };
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let replaced = [HeaderName::SessionExpires, HeaderName::MinSe];
        self.reissue(tx, &replaced, &pairs, step).is_some()
    }

    /// Sends the request transaction `tx` carried again as a new transaction with
    /// `added` in place of the `replaced` headers: a new branch and CSeq (the next of
    /// the dialog, or of the call for the INVITE that sets it up), the same Call-ID.
    /// What the session tracks of that request follows it to its new transaction.
    fn reissue(
        &mut self,
        tx: TransactionId,
        replaced: &[HeaderName<'_>],
        added: &[(&str, &str)],
        step: &mut Step<'_>,
    ) -> Option<()> {
        let (bytes, dest, transport) = step
            .transactions
            .client_request(tx)
            .map(|(bytes, dest, transport)| (bytes.to_vec(), dest, transport.clone()))?;
        let request = Message::parse_with(&bytes, &step.config.parse_limits).ok()?;
        let method = request.method().cloned()?;
        let cseq = if request.to().tag().is_some() {
            self.call.dialog.as_mut()?.next_local_seq()
        } else {
            self.call.local_cseq += 1;
            self.call.local_cseq
        };
        let branch = step.new_branch();
        let mut out = step.message_buffer();
        write_reissued(&request, &branch, cseq, replaced, added, &mut out);
        let out = step.seal(out);
        let key = ClientKey::new(&branch, cseq, method);
        let new_tx = step.start_client(key, out.clone(), dest, transport).ok()?;
        if self.call.refresh.in_flight == Some(tx) {
            self.call.refresh.in_flight = Some(new_tx);
        }
        let sent = OutgoingRequest {
            tx: new_tx,
            bytes: out,
            cseq,
        };
        let usage = &mut self.call.invite;
        if usage.request.as_ref().is_some_and(|r| r.tx == tx) {
            usage.request = Some(sent);
            self.call.offer_answer.offer_sent(cseq);
        } else if usage.reinvite.as_ref().is_some_and(|r| r.tx == tx) {
            usage.reinvite = Some(sent);
            self.call.offer_answer.offer_sent(cseq);
        } else if usage.update == Some(tx) {
            usage.update = Some(new_tx);
            self.call.offer_answer.offer_sent(cseq);
        } else if let Some(refer) = self.call.transfers.sent.as_mut().filter(|r| r.tx == tx) {
            refer.cseq = cseq;
            refer.tx = new_tx;
        }
        Some(())
    }

    /// The peer accepted the re-INVITE moving the call here: its answer sets the media
    /// (its address may have changed too), the ACK goes, and the call is where the peer
    /// knows it. An answer we cannot use leaves the media as it was negotiated before
    /// (RFC 3264 §8): the peer took our address all the same.
    fn relocation_answered(
        &mut self,
        answer: Option<Box<crate::sdp::SessionDescription>>,
        cseq: u32,
        step: &mut Step<'_>,
    ) {
        let call = &mut self.call;
        call.relocation = crate::call::Relocation::Settled;
        call.offer_answer.close();
        match answer.map(|a| call.sdp.negotiate(&a)) {
            Some(Ok(negotiated)) => {
                call.sdp.reoffer_answered();
                call.negotiated = Some(negotiated);
            }
            Some(Err(error)) => {
                tracing::debug!(?error, "unusable answer to the relocation re-INVITE");
                call.sdp.reoffer_answered();
            }
            None => call.sdp.reoffer_answered(),
        }
        let _ = crate::adapters::media_adapter::apply_direction(step, call);
        let ack = Event::new(EventType::Dialog200OK).with_cseq(cseq);
        let _ = dialog_adapter::send_ack(step, call, &ack);
        step.event(SessionEvent::Moved { session: step.id });
        self.service_media(step);
    }

    /// Our session refresh got a final error. A 408 or 481 says the dialog is gone (RFC
    /// 4028 §10, RFC 5057 §5.1): the table hears it as a timeout and ends the call. Any
    /// other (a 491 that crossed the peer's own offer, a 5xx) leaves the session as it
    /// was, and the refresh goes again shortly, well before the session expires. A 405
    /// or 501 to an UPDATE says the peer takes none after all, whatever its `Allow`
    /// said: the refresh goes again as a re-INVITE (RFC 4028 §7.4).
    fn refresh_failed(&mut self, status: u16, step: &mut Step<'_>) {
        self.call.refresh.in_flight = None;
        if matches!(status, 405 | 501) {
            self.call.refresh.update_refused();
        }
        if matches!(status, 408 | 481) {
            let event = Event::new(EventType::DialogTimeout).with_status(status);
            self.feed(event, step);
        } else {
            self.call.refresh.retry_later(step);
        }
    }

    /// The ACK the INVITE client transaction `tx` needs for a non-2xx final (RFC 3261
    /// §17.1.1.3), built from our INVITE or re-INVITE.
    fn send_non_2xx_ack(&self, tx: TransactionId, response: &Message<'_>, step: &mut Step<'_>) {
        let call = &self.call;
        let invite = [call.invite.request.as_ref(), call.invite.reinvite.as_ref()]
            .into_iter()
            .flatten()
            .find(|r| r.tx == tx);
        let Some(invite) = invite else {
            return;
        };
        let Ok(invite_msg) = Message::parse_with(&invite.bytes, &step.config.parse_limits) else {
            return;
        };
        let mut ack = Vec::with_capacity(invite.bytes.len() / 2);
        write_ack_for_non_2xx(&invite_msg, response, &mut ack);
        let _ = step.transactions.set_ack(step.now, tx, ack);
    }

    /// What the transaction layer reported about one of this session's transactions.
    pub(crate) fn on_transaction_report(&mut self, report: TransactionOutput, step: &mut Step<'_>) {
        if let TransactionOutput::Timeout { id, .. }
        | TransactionOutput::TransportError { id, .. } = report
        {
            if self.usage_request_failed(id, step) {
                return;
            }
        }
        match report {
            TransactionOutput::Timeout { timer, .. }
                if matches!(timer, Timer::B | Timer::F | Timer::H) =>
            {
                if timer == Timer::F {
                    self.note_bye_timed_out();
                }
                let event = Event::new(EventType::DialogTimeout).with_status(408);
                self.feed(event, step);
            }
            TransactionOutput::TransportError { .. } => {
                self.feed(Event::new(EventType::TransportError), step);
            }
            TransactionOutput::Terminated { id, .. } => self.forget_finished_request(id),
            _ => {}
        }
    }

    /// A REFER, NOTIFY or DTMF INFO of ours got no answer: that ends its usage, not the
    /// call (RFC 5057 §5.2). Our REFER failing is the transfer failing (as a 408); a
    /// NOTIFY failing ends the subscription we serve; an INFO failing drops the digits
    /// still queued. False for any other transaction.
    fn usage_request_failed(&mut self, tx: TransactionId, step: &mut Step<'_>) -> bool {
        if self.call.media.dtmf_info == Some(tx) {
            dialog_adapter::dtmf_info_answered(step, &mut self.call, None);
            return true;
        }
        let transfers = &mut self.call.transfers;
        if transfers.sent.as_ref().is_some_and(|r| r.tx == tx) {
            transfers.sent = None;
            let event = Event::new(EventType::DialogReferResponse)
                .with_status(408)
                .with_method(Method::Refer);
            self.feed(event, step);
            return true;
        }
        let notify = transfers
            .notifier
            .as_ref()
            .is_some_and(|n| n.in_flight == Some(tx));
        if notify {
            dialog_adapter::notify_answered(step, &mut self.call, None);
        }
        notify
    }

    /// A client transaction ended: the bytes kept for it (our INVITE for CANCEL and for
    /// the non-2xx ACK, the ACK re-sent for retransmitted 2xx) are not needed any more. A
    /// 2xx retransmitted later still gets an ACK, built anew.
    fn forget_finished_request(&mut self, tx: TransactionId) {
        let call = &mut self.call;
        if let Some(invite) = call.invite.request.as_mut().filter(|i| i.tx == tx) {
            invite.bytes = Arc::default();
            call.invite.last_ack = None;
        }
        if call.invite.reinvite.as_ref().is_some_and(|r| r.tx == tx) {
            call.invite.reinvite = None;
            call.invite.last_ack = None;
        }
    }

    /// A non-INVITE request timed out after our BYE: when the call was ending because we
    /// hung up, it ends because the BYE went unanswered (RFC 3261 §15.1.1), which is what
    /// the application is told.
    fn note_bye_timed_out(&mut self) {
        let call = &mut self.call;
        let hung_up = matches!(
            call.report.end_reason,
            Some(EndReason::HungUp { by: Side::Local })
        );
        if call.invite.bye_sent && hung_up {
            call.report.end_reason = Some(EndReason::ByeTimedOut);
        }
    }
}

/// A second 2xx from another branch of a forked INVITE, or a 2xx for a session that has
/// already ended: ACK it and end that dialog with BYE right away (RFC 3261 §13.2.2.4);
/// the session keeps the first.
fn end_forked_dialog(call: &mut Call, msg: &Message<'_>, step: &mut Step<'_>) {
    let Some(mut dialog) = dialog_adapter::dialog_from_response(msg, call, DialogState::Confirmed)
    else {
        return;
    };
    // The call's dialogs share one CSeq count: the BYE goes on from where our requests in
    // the early dialog reached (a PRACK, an UPDATE), and our dialog's next request from
    // the BYE's. Each dialog only needs its own to increase (RFC 3261 §12.2.1.1), but a
    // 2xx whose To tag was damaged on the way looks like another fork, and the peer sees
    // its BYE in the real dialog: sharing the count keeps that dialog's CSeqs increasing.
    if let Some(ours) = call.dialog.as_ref() {
        dialog.skip_local_seq_past(ours.local_seq());
    }
    let tag = dialog.id().remote_tag.clone();
    let ended = &mut call.invite.ended_forks;
    let already_ended = ended.contains(&tag);
    if !already_ended && ended.len() < MAX_ENDED_FORKS {
        ended.push(tag);
    }
    let mut fork = shadow_call(call);
    fork.dialog = Some(dialog);
    let ack_event = Event::new(EventType::Dialog200OK).with_cseq(msg.cseq().seq);
    let _ = dialog_adapter::send_ack_standalone(step, &mut fork, &ack_event);
    if !already_ended {
        let _ = dialog_adapter::send_bye_standalone(step, &mut fork);
    }
    if let (Some(ours), Some(theirs)) = (call.dialog.as_mut(), fork.dialog.as_ref()) {
        ours.skip_local_seq_past(theirs.local_seq());
    }
}

/// A throw-away copy of a call's identity, for a forked dialog we only end.
fn shadow_call(call: &Call) -> Call {
    Call::new(
        call.role,
        call.call_id.clone(),
        call.local_tag.clone(),
        call.local_uri.clone(),
        call.remote_uri.clone(),
        call.request_uri.clone(),
        call.peer,
        call.transport.clone(),
        call.local_cseq,
        call.sdp.clone(),
        call.created_at,
    )
}

/// Whether a NOTIFY belongs to the subscription our REFER created (RFC 3515 §2.4.4,
/// RFC 6665 §4.1.3): `Event: refer`, and an `id` parameter, when present, equal to that
/// REFER's CSeq. Without a REFER of ours there is no subscription to report on.
fn reports_on_our_refer(msg: &Message<'_>, refer_cseq: Option<u32>) -> bool {
    let (Some(refer_cseq), Some(event)) = (refer_cseq, msg.header(HeaderName::Event)) else {
        return false;
    };
    let (package, params) = event.split_at(event.find(';').unwrap_or(event.len()));
    let id = Params::new(params).value("id");
    package.trim().eq_ignore_ascii_case("refer")
        && id.is_none_or(|id| id.trim().parse() == Ok(refer_cseq))
}

/// The DTMF digit an INFO carries (RFC 6086 §2's legacy usage): `application/dtmf-relay`
/// (`Signal=5` and `Duration=160` lines) or `application/dtmf` (the digit alone); the
/// duration is 250 ms when none is given.
fn dtmf_of_info(msg: &Message<'_>) -> Option<(char, u32, DtmfMode)> {
    let content_type = msg.content_type()?.ok()?;
    let body = std::str::from_utf8(msg.body()).ok()?;
    let is_digit = |c: char| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D');
    let (digit, duration) = if content_type.is("application", "dtmf-relay") {
        let field = |name: &str| {
            body.lines().find_map(|line| {
                let (n, v) = line.split_once('=')?;
                n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
            })
        };
        let signal = field("Signal")?;
        (
            signal.chars().next()?,
            field("Duration").and_then(|d| d.parse().ok()),
        )
    } else if content_type.is("application", "dtmf") {
        (body.trim().chars().next()?, None)
    } else {
        return None;
    };
    let digit = digit.to_ascii_uppercase();
    is_digit(digit).then_some((digit, duration.unwrap_or(250), DtmfMode::Info))
}

/// Whether a NOTIFY ends its subscription (`Subscription-State: terminated`, RFC 6665
/// §4.1.3).
fn subscription_terminated(msg: &Message<'_>) -> bool {
    msg.header(HeaderName::SubscriptionState).is_some_and(|v| {
        let state = v.split(';').next().unwrap_or("");
        state.trim().eq_ignore_ascii_case("terminated")
    })
}

/// The status code of a `message/sipfrag` body (`SIP/2.0 200 OK`), RFC 3515 §2.4.5.
fn sipfrag_status(body: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(body.get(..body.len().min(64))?).ok()?;
    let rest = text.trim_start().strip_prefix("SIP/2.0 ")?;
    rest.get(..3)?.parse().ok()
}
