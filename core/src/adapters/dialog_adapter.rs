//! The dialog adapter: state-machine actions → SIP requests and responses (RFC 3261
//! §8.1, §8.2.6, §9, §12.2, §13, §14, §15; RFC 3515, RFC 3891 and RFC 6665 for REFER,
//! its NOTIFYs and the call it places).
//!
//! Every request we send outside the transaction layer's retransmission (the ACK for a
//! 2xx) goes straight to the output queue; everything else is handed to the transaction
//! layer, which sends it and owns its retransmission. Responses are built from the
//! request's bytes, kept in the session until it is answered, and the template of them
//! taken when it was parsed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use smallvec::SmallVec;

use crate::call::{
    grant, ReferNotifier, ReferSent, SessionExpires, SessionRefresh, SessionTimer, Step,
    Unacknowledged,
};
use crate::call::{
    Call, Effect, IncomingRequest, OutgoingRequest, Payload, PeerDialog, Retransmit2xx,
};
use crate::config::Config;
use crate::dialog::{Dialog, DialogParams, DialogRole, DialogState};
use crate::sdp::SessionDescription;
use crate::sip::{
    write_cancel, Contact, Message, Method, RequestBuilder, ResponseBuilder, Scheme, Transport,
};
use crate::state_machine::ActionError;
use crate::state_table::{Event, ReInviteMode, TimerName};
use crate::transaction::{ClientKey, TransactionError, TransactionId};

/// Methods we accept, for Allow headers.
pub(crate) const ALLOW: &str =
    "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, PRACK, REFER, NOTIFY, INFO";
/// Extensions we support, for Supported headers: reliable provisional responses (RFC
/// 3262), session timers (RFC 4028), INVITEs with `Replaces` (RFC 3891), REFERs without
/// a subscription (RFC 4488).
pub(crate) const SUPPORTED: &str = "100rel, timer, replaces, norefersub";
const SDP: &str = "application/sdp";
/// The body type of the INFO that carries a DTMF digit.
const DTMF_RELAY: &str = "application/dtmf-relay";
/// The body type of a REFER's NOTIFYs (RFC 3515 §2.4.5).
const SIPFRAG: &str = "message/sipfrag;version=2.0";
/// How long a REFER's subscription lasts, as we grant it; each NOTIFY says it again.
const REFER_SUBSCRIPTION_S: u32 = 120;

/// UAS: the dialog our first response with a To tag creates (RFC 3261 §12.1.1). UAC:
/// nothing — the UAC's dialog is made from the response that carries the To tag.
pub(super) fn create_dialog(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    if call.role == DialogRole::Uac {
        return Ok(());
    }
    let invite = call
        .invite
        .incoming
        .as_mut()
        .ok_or(ActionError::NoTransaction)?;
    // What the INVITE's parse read for it; read again when a table creates the dialog twice.
    let peer = match invite.dialog.take() {
        Some(peer) => peer,
        None => {
            let msg = Message::parse_with(&invite.bytes, &step.config.parse_limits)
                .map_err(|_| ActionError::NoTransaction)?;
            peer_dialog(&msg, msg.from().tag().unwrap_or_default())
        }
    };
    let params = dialog_params(call, peer, &call.remote_uri);
    call.dialog = Some(Dialog::uas(
        params,
        DialogState::Early,
        step.rng.range_inclusive(1, 9999) as u32,
    ));
    Ok(())
}

/// What a dialog takes from the peer's dialog-creating `msg` whose tag is `remote_tag`:
/// its Contact, its Record-Route set, its CSeq number.
pub(crate) fn peer_dialog(msg: &Message<'_>, remote_tag: &str) -> PeerDialog {
    PeerDialog {
        remote_tag: remote_tag.to_owned(),
        contact: first_contact_uri(msg).map(str::to_owned),
        record_route: msg
            .record_routes()
            .filter_map(Result::ok)
            .map(|r| r.raw.to_owned())
            .collect(),
        cseq: msg.cseq().seq,
    }
}

/// The UAC's dialog from a response (RFC 3261 §12.1.2). A provisional response without
/// a To tag makes no early dialog; a 2xx without one, which §12.1.2 does not allow but
/// some UAS send, is still the answer (§8.1.3 robustness, as PJSIP and baresip take it):
/// its dialog has an empty remote tag, so it is ACKed and can be ended with BYE.
pub(crate) fn dialog_from_response(
    msg: &Message<'_>,
    call: &Call,
    state: DialogState,
) -> Option<Dialog> {
    let remote_tag = match state {
        DialogState::Early => msg.to().tag()?,
        DialogState::Confirmed => msg.to().tag().unwrap_or_default(),
    };
    let params = dialog_params(call, peer_dialog(msg, remote_tag), &call.request_uri);
    Some(Dialog::uac(params, state))
}

/// The dialog state a dialog-creating message gives, either side: the peer's tag, its
/// Contact (or the URI of `fallback_target` without one), the Record-Route set, the
/// INVITE's CSeq.
fn dialog_params(call: &Call, peer: PeerDialog, fallback_target: &str) -> DialogParams {
    DialogParams {
        call_id: call.call_id.clone(),
        local_tag: call.local_tag.clone(),
        remote_tag: peer.remote_tag,
        local_uri: call.local_uri.clone(),
        remote_uri: call.remote_uri.clone(),
        // Without a usable Contact, the URI the request or response came for: never a
        // name-addr with its parameters, which is no Request-URI.
        remote_target: peer
            .contact
            .unwrap_or_else(|| super::strip_name_addr(fallback_target).to_owned()),
        record_route: peer.record_route,
        invite_cseq: peer.cseq,
        secure: false,
    }
}

/// The first Contact's URI, without angle brackets, when it is one we can send requests
/// to (`sip:` or `sips:`, and no header component: RFC 3261 §19.1.5 allows none in a
/// Request-URI, and a peer's parser refuses the request line); anything else leaves the
/// dialog's target as it was. A `?` in a Contact is far likelier a damaged byte than a
/// header meant for us (the simulator's corruption turned `10.0.0.1` into `10?0.0.1`).
pub(crate) fn first_contact_uri<'a>(msg: &Message<'a>) -> Option<&'a str> {
    match msg.contacts().next()?.ok()? {
        Contact::Addr(addr)
            if matches!(addr.uri.scheme, Scheme::Sip | Scheme::Sips)
                && addr.uri.headers.is_none() =>
        {
            Some(addr.uri.raw)
        }
        _ => None,
    }
}

/// The initial INVITE (RFC 3261 §8.1.1, §13.2.1), with our offer.
pub(super) fn send_invite(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    let branch = step.new_branch();
    let body = call.offer_answer.take_unsent_offer();
    let contact = step.contact(&call.transport);
    call.refresh.ask(step.config.session_expires);
    let timer = call.refresh.invite_headers();
    let mut pairs = common_headers(step.config);
    pairs.extend(call.invite_headers.iter().map(|(n, v)| (*n, v.as_str())));
    pairs.extend(timer.iter().map(|(n, v)| (*n, v.as_str())));
    let route = preloaded_route(step);
    let routes: Vec<&str> = route.iter().map(String::as_str).collect();
    let mut out = step.message_buffer();
    let mut b =
        out_of_dialog(&Method::Invite, step, call, &branch, &contact, &routes).headers(&pairs);
    if let Some(body) = &body {
        b = b.body(SDP, body);
    }
    b.write(&mut out);
    let bytes = step.seal(out);
    let key = ClientKey::new(&branch, call.local_cseq, Method::Invite);
    let tx = start_client(step, key, bytes.clone(), call.peer, call.transport.clone())?;
    call.offer_answer.offer_sent(call.local_cseq);
    call.invite.request = Some(OutgoingRequest {
        tx,
        bytes,
        cseq: call.local_cseq,
    });
    Ok(())
}

/// A request outside any dialog (RFC 3261 §8.1.1): the session's Request-URI, Call-ID and
/// CSeq, From with our tag, To without one, our Contact and the pre-loaded route.
pub(super) fn out_of_dialog<'b>(
    method: &'b Method,
    step: &'b Step<'_>,
    call: &'b Call,
    branch: &'b str,
    contact: &'b str,
    routes: &'b [&'b str],
) -> RequestBuilder<'b> {
    RequestBuilder::new(method, &call.request_uri, &call.call_id, call.local_cseq)
        .via(&call.transport, step.sent_by, branch)
        .from(&call.local_uri, &call.local_tag)
        .to(&call.remote_uri, None)
        .contact(contact)
        .routes(routes)
}

/// The route set of a request outside any dialog: the outbound proxy, loose routing
/// assumed (RFC 3261 §8.1.2).
pub(super) fn preloaded_route(step: &Step<'_>) -> Option<String> {
    step.config.outbound_proxy.map(|p| format!("<sip:{p};lr>"))
}

/// Header pairs for a message of ours, room for a few inline: every request and 2xx
/// carries a list of them, and a heap list each would be an allocation per message.
type HeaderPairs<'a> = SmallVec<[(&'a str, &'a str); 8]>;

/// The headers every request and 2xx of ours carries.
fn common_headers(config: &Config) -> HeaderPairs<'_> {
    let mut pairs = HeaderPairs::new();
    pairs.push(("Allow", ALLOW));
    pairs.push(("Supported", SUPPORTED));
    if !config.user_agent.is_empty() {
        pairs.push(("User-Agent", &config.user_agent));
    }
    pairs
}

/// Starts a client transaction for one of our requests.
pub(super) fn start_client(
    step: &mut Step<'_>,
    key: ClientKey,
    bytes: Arc<[u8]>,
    dest: SocketAddr,
    transport: Transport,
) -> Result<TransactionId, ActionError> {
    step.start_client(key, bytes, dest, transport)
        .map_err(|e| match e {
            TransactionError::LayerFull { .. } => ActionError::LimitReached,
            _ => ActionError::Transport,
        })
}

/// A provisional response to the INVITE we are answering (RFC 3261 §13.3.1.1). A 183
/// carries our answer when one is ready (early media, RFC 3261 §13.3.1.1 and RFC 3960);
/// the answer is kept, and the 2xx repeats it. When the INVITE asks for reliable
/// provisional responses (RFC 3262) it goes reliably; then an answer in it is final (the
/// 2xx has no SDP), and while an earlier one waits for its PRACK this one waits too.
/// A reliable one also carries our offer when the INVITE had none and the offer is made
/// (RFC 3262 §5: "the UAS MUST send an offer in the first reliable non-failure
/// message"), whatever its status: the PRACK then brings the answer.
pub(super) fn send_provisional(
    step: &mut Step<'_>,
    call: &mut Call,
    status: u16,
) -> Result<(), ActionError> {
    let contact = step.contact(&call.transport);
    if !sends_reliably(call, status) {
        let body = (status == 183)
            .then(|| call.offer_answer.answer())
            .flatten();
        return respond_to_invite(step, call, status, Some(&contact), body.as_deref(), &[])
            .map(|_| ());
    }
    if offer_due_in_provisional(call) && !call.offer_answer.has_unsent_offer() {
        // It would go without the offer §5 puts in the first reliable one (a RingCall
        // before the media session exists): the one carrying the offer follows.
        return Ok(());
    }
    let reliable = &mut call.invite.reliable;
    if reliable.unacknowledged.is_some() {
        reliable.queued = Some(status);
        return Ok(());
    }
    let rseq = reliable.next_rseq(step.rng).to_string();
    let answer = (status == 183)
        .then(|| call.offer_answer.take_answer())
        .flatten();
    let offer = match answer {
        Some(_) => None,
        None => call.offer_answer.take_unsent_offer(),
    };
    let body = answer.as_ref().or(offer.as_ref());
    let headers = [("Require", "100rel"), ("RSeq", rseq.as_str())];
    let bytes = respond_to_invite(
        step,
        call,
        status,
        Some(&contact),
        body.map(|b| &b[..]),
        &headers,
    )?;
    let t1 = step.config.timers.t1;
    let cseq = call.invite.incoming.as_ref().map_or(0, |i| i.cseq);
    if offer.is_some() {
        call.offer_answer.offer_sent(cseq);
    }
    call.invite.reliable.sdp_sent |= body.is_some();
    call.invite.reliable.unacknowledged = Some(Box::new(Unacknowledged {
        status,
        rseq: call.invite.reliable.last_rseq,
        cseq,
        bytes,
        has_sdp: body.is_some(),
        offer: offer.is_some(),
        interval: t1,
        give_up_at: step.now + t1 * 64,
    }));
    step.set_timer(SessionTimer::Retransmit1xx, step.now + t1);
    Ok(())
}

/// Whether a provisional `status` to the INVITE we answer goes reliably (RFC 3262 §3).
fn sends_reliably(call: &Call, status: u16) -> bool {
    status > 100 && call.invite.incoming.is_some() && call.invite.reliable.provisionals_reliable
}

/// UAS: whether our offer is due in a provisional response: the INVITE we answer has no
/// offer, our provisional responses to it go reliably, and no SDP of ours went in one
/// yet. RFC 3262 §5 then puts our offer in the first of them, so a table lets that one
/// wait until the media session (and with it our offer) exists.
pub(crate) fn offer_due_in_provisional(call: &Call) -> bool {
    let reliable = &call.invite.reliable;
    call.invite.incoming.is_some()
        && reliable.provisionals_reliable
        && !reliable.offer_in_invite
        && !reliable.sdp_sent
}

/// The caller's PRACK acknowledged our reliable provisional response (RFC 3262 §3): 200,
/// no more re-sending, and what waited for it goes: a held 2xx, else a queued
/// provisional. Nothing waits any more once the INVITE has its final response (a late
/// PRACK, or the INVITE refused in the same step).
pub(super) fn accept_prack(
    step: &mut Step<'_>,
    call: &mut Call,
    pending: &mut Option<IncomingRequest>,
) -> Result<(), ActionError> {
    answer_pending(step, call, pending, 200)?;
    let reliable = &mut call.invite.reliable;
    reliable.unacknowledged = None;
    step.cancel_timer(SessionTimer::Retransmit1xx);
    let held_2xx = std::mem::take(&mut reliable.held_2xx);
    let queued = reliable.queued.take();
    if call.invite.incoming.is_none() {
        return Ok(());
    }
    if held_2xx {
        return send_200_ok(step, call);
    }
    match queued {
        Some(status) => send_provisional(step, call, status),
        None => Ok(()),
    }
}

/// PRACK for the reliable provisional response just received (RFC 3262 §4): in its
/// early dialog, `RAck` naming it. Nothing when none is due. When that response carried
/// the callee's offer (our INVITE had none), `NegotiateSDP` has built our answer, and
/// the PRACK carries it (§5: the UAC "MUST generate an answer in the PRACK").
pub(crate) fn send_prack(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    let Some((rseq, cseq)) = call.invite.reliable.prack_due.take() else {
        return Ok(());
    };
    let rack = format!("{rseq} {cseq} INVITE");
    let answer = call.offer_answer.take_answer();
    let body = answer.as_deref().map(|b| (SDP, b));
    send_in_dialog(step, call, Method::Prack, body, &[("RAck", &rack)]).map(|_| ())
}

/// The 2xx to the INVITE, with our answer (or our offer when the INVITE had none), and
/// its retransmission until the ACK (RFC 3261 §13.3.1.4). Without SDP when a reliable
/// provisional response (and its PRACK) already held the exchange (RFC 3262 §5).
pub(super) fn send_200_ok(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    let reliable = &mut call.invite.reliable;
    if reliable.unacknowledged.as_ref().is_some_and(|u| u.has_sdp) {
        // RFC 3262 §3: not before the PRACK of a provisional response with SDP.
        reliable.held_2xx = true;
        return Ok(());
    }
    if reliable.unacknowledged.is_some() {
        // The final response ends the re-sending (and what waited to be sent after it);
        // a late PRACK still gets its 200.
        step.cancel_timer(SessionTimer::Retransmit1xx);
        reliable.queued = None;
    }
    let body = call
        .offer_answer
        .take_answer()
        .or_else(|| call.offer_answer.take_unsent_offer());
    if body.is_none() && !call.invite.reliable.sdp_sent {
        return Err(ActionError::NoLocalSdp);
    }
    let contact = step.contact(&call.transport);
    let cseq = call.invite.incoming.as_ref().map_or(0, |i| i.cseq);
    let granted = match call.invite.incoming.as_ref() {
        Some(invite) => session_timer_grant(step, &mut call.refresh, invite),
        None => None,
    };
    let headers = session_timer_headers(granted.as_ref());
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let tx = call.invite.incoming.as_ref().map(|invite| invite.tx);
    let bytes = respond_to_invite(step, call, 200, Some(&contact), body.as_deref(), &pairs)?;
    call.refresh.granted(step, granted.map(|(se, _)| se));
    // When the body is our offer (the INVITE had none), the ACK brings the answer.
    call.offer_answer.offer_sent(cseq);
    call.invite.final_status = Some(200);
    if let Some(d) = call.dialog.as_mut() {
        d.confirm();
    }
    start_2xx_retransmission(step, call, bytes, cseq, tx);
    Ok(())
}

/// A final error response to the INVITE we are answering.
pub(super) fn send_reject(
    step: &mut Step<'_>,
    call: &mut Call,
    status: u16,
) -> Result<(), ActionError> {
    respond_to_invite(step, call, status, None, None, &[])?;
    call.invite.final_status = Some(status);
    Ok(())
}

/// Builds and sends a response to the INVITE we are answering; returns its bytes.
fn respond_to_invite(
    step: &mut Step<'_>,
    call: &mut Call,
    status: u16,
    contact: Option<&str>,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> Result<Arc<[u8]>, ActionError> {
    let invite = call
        .invite
        .incoming
        .as_ref()
        .ok_or(ActionError::NoTransaction)?;
    let reply = Reply {
        status,
        contact,
        body,
        headers,
    };
    let bytes = build_response(step, invite, &call.local_tag, &reply)?;
    step.transactions
        .send_response(step.now, invite.tx, status, bytes.clone())
        .map_err(|_| ActionError::NoTransaction)?;
    if status >= 200 {
        // Answered for good: the transaction keeps what it must re-send, and nothing
        // else needs the request (a CANCEL now only gets its own 200).
        call.invite.incoming = None;
    }
    Ok(bytes)
}

/// The session timer (RFC 4028 §9) we grant the peer's INVITE or UPDATE in `request`,
/// with whether our 2xx requires the extension; the peer's `Allow` is noted too (it says
/// how our refreshes may go).
fn session_timer_grant(
    step: &Step<'_>,
    refresh: &mut SessionRefresh,
    request: &IncomingRequest,
) -> Option<(SessionExpires, bool)> {
    refresh.note_request_allow(&request.session_timer);
    grant(&request.session_timer, step.config.session_expires)
}

/// The headers of a 2xx granting a session timer: `Session-Expires` with the refresher
/// named, and `Require: timer` when the client supports the extension.
fn session_timer_headers(granted: Option<&(SessionExpires, bool)>) -> Vec<(&'static str, String)> {
    let Some((se, require)) = granted else {
        return Vec::new();
    };
    let mut headers = vec![("Session-Expires", se.value())];
    if *require {
        headers.push(("Require", "timer".to_owned()));
    }
    headers
}

/// What a response of ours says besides what the request gives it.
#[derive(Default)]
pub(crate) struct Reply<'a> {
    pub(crate) status: u16,
    pub(crate) contact: Option<&'a str>,
    /// An SDP body.
    pub(crate) body: Option<&'a [u8]>,
    pub(crate) headers: &'a [(&'a str, &'a str)],
}

/// A response to `request` with our To tag, Contact, Allow/Supported on 2xx, `Retry-After`
/// on a refusal that carries one ([`Step::retry_after`]), the reply's own headers, and
/// body.
pub(crate) fn build_response(
    step: &mut Step<'_>,
    request: &IncomingRequest,
    local_tag: &str,
    reply: &Reply<'_>,
) -> Result<Arc<[u8]>, ActionError> {
    let status = reply.status;
    let mut pairs = if (200..300).contains(&status) {
        common_headers(step.config)
    } else {
        HeaderPairs::new()
    };
    pairs.extend_from_slice(reply.headers);
    let mut out = step.message_buffer();
    let mut b = ResponseBuilder::from_template(&request.template, &request.bytes, status)
        .to_tag(local_tag)
        .retry_after(step.retry_after(status))
        .headers(&pairs);
    if let Some(contact) = reply.contact {
        b = b.contact(contact);
    }
    if let Some(body) = reply.body {
        b = b.body(SDP, body);
    }
    b.write(&mut out);
    Ok(step.seal(out))
}

/// Re-sends our 2xx to the INVITE of server transaction `tx` until the ACK (RFC 3261
/// §13.3.1.4), where the transaction sent it.
fn start_2xx_retransmission(
    step: &mut Step<'_>,
    call: &mut Call,
    bytes: Arc<[u8]>,
    cseq: u32,
    tx: Option<TransactionId>,
) {
    let destination = tx
        .and_then(|tx| step.transactions.reply_destination(tx))
        .unwrap_or(call.peer);
    let t1 = step.config.timers.t1;
    let now = step.now;
    let give_up_at = now + t1 * 64;
    let interval = if call.transport.is_reliable() {
        // Nothing to retransmit on a reliable transport; the give-up timer still runs.
        give_up_at - now
    } else {
        t1
    };
    call.invite.retransmit_2xx = Some(Retransmit2xx {
        bytes,
        destination,
        interval,
        give_up_at,
        cseq,
    });
    step.set_timer(SessionTimer::Retransmit2xx, now + interval);
}

/// The ACK for a 2xx (RFC 3261 §13.2.2.4): a new transaction-less request in the
/// dialog, re-sent unchanged for every retransmission of the same 2xx.
pub(crate) fn send_ack(
    step: &mut Step<'_>,
    call: &mut Call,
    event: &Event,
) -> Result<(), ActionError> {
    let cseq = event
        .cseq
        .or(call.invite.request.as_ref().map(|i| i.cseq))
        .ok_or(ActionError::NoTransaction)?;
    if let Some((acked, bytes)) = &call.invite.last_ack {
        if *acked == cseq {
            let (dest, bytes) = (dialog_destination(step, call), bytes.clone());
            step.transmit(dest, call.transport.clone(), bytes);
            return Ok(());
        }
    }
    let body = call.offer_answer.take_answer();
    let branch = step.new_branch();
    let body = body.as_deref().map(|b| (SDP, b));
    let bytes = build_in_dialog(step, call, &Method::Ack, cseq, &branch, body, &[])?;
    let dest = dialog_destination(step, call);
    step.transmit(dest, call.transport.clone(), bytes.clone());
    call.invite.last_ack = Some((cseq, bytes));
    Ok(())
}

/// CANCEL for our INVITE (RFC 3261 §9.1): same branch, its own transaction.
pub(crate) fn send_cancel(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    let invite = call
        .invite
        .request
        .as_ref()
        .ok_or(ActionError::NoTransaction)?;
    let msg = Message::parse_with(&invite.bytes, &step.config.parse_limits)
        .map_err(|_| ActionError::NoTransaction)?;
    let branch = msg.top_via().branch.unwrap_or_default().to_owned();
    let mut out = step.message_buffer();
    write_cancel(&msg, &mut out);
    let invite_tx = invite.tx;
    let cancel = step.seal(out);
    // §9.1: the CANCEL carries the INVITE's CSeq number.
    let key = ClientKey::new(&branch, invite.cseq, Method::Cancel);
    start_client(step, key, cancel, call.peer, call.transport.clone())?;
    // §9.1: if no final response comes within 64·T1 of the CANCEL, the INVITE is over.
    let _ = step.transactions.on_cancel_sent(step.now, invite_tx);
    call.invite.cancel_sent = true;
    Ok(())
}

/// BYE (RFC 3261 §15.1.1).
pub(super) fn send_bye(
    step: &mut Step<'_>,
    call: &mut Call,
    event: &Event,
) -> Result<(), ActionError> {
    if call.report.end_reason.is_none() {
        call.report.end_reason = Some(super::bye_reason(event, call));
    }
    send_in_dialog(step, call, Method::Bye, None, &[])?;
    Ok(())
}

/// A re-INVITE that holds (sendonly offer) or resumes (sendrecv offer).
pub(super) fn send_reinvite(
    step: &mut Step<'_>,
    call: &mut Call,
    mode: ReInviteMode,
) -> Result<(), ActionError> {
    let offer = match mode {
        ReInviteMode::Hold => call.sdp.hold_offer().ok_or(ActionError::NoLocalSdp)?,
        _ => {
            let local =
                super::media_adapter::local_media(step, call).ok_or(ActionError::NoMediaSession)?;
            call.sdp
                .resume_offer(crate::call::codecs_for(&call.codecs, step.config), &local)
        }
    };
    let body = offer.to_bytes();
    let (tx, bytes, cseq) =
        send_in_dialog(step, call, Method::Invite, Some((SDP, &body[..])), &[])?;
    call.offer_answer.offer_made(None);
    call.offer_answer.offer_sent(cseq);
    call.invite.reinvite = Some(OutgoingRequest { tx, bytes, cseq });
    Ok(())
}

/// The re-INVITE that moves a restored call here (see `call::relocation`): our Contact
/// (always this endpoint's) and a re-offer of the session as it stands, held or not, at
/// our new media address, version one up (RFC 3264 §8).
pub(crate) fn send_relocation(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    let (tx, bytes, cseq) = send_reoffer(step, call, Method::Invite)?;
    call.invite.reinvite = Some(OutgoingRequest { tx, bytes, cseq });
    let attempts = call.relocation.attempts() + 1;
    call.relocation = crate::call::Relocation::Offered { tx, attempts };
    Ok(())
}

/// REFER (RFC 3515 §2.4.1) to `refer_to`, a Refer-To value (a name-addr, or a bare URI
/// bracketed here), with `Referred-By` naming us (RFC 3892). One at a time: the
/// subscription of an earlier one must have ended.
pub(super) fn send_refer(
    step: &mut Step<'_>,
    call: &mut Call,
    refer_to: Option<&str>,
) -> Result<(), ActionError> {
    let refer_to = refer_to.ok_or(ActionError::NotSupported)?.trim();
    if call.transfers.sent.is_some() {
        return Err(ActionError::NotSupported);
    }
    let refer_to = if refer_to.starts_with('<') {
        refer_to.to_owned()
    } else {
        format!("<{refer_to}>")
    };
    let contact = step.contact(&call.transport);
    let referred_by = call
        .dialog
        .as_ref()
        .map(|d| format!("<{}>", super::strip_name_addr(d.local_uri())))
        .ok_or(ActionError::NoDialog)?;
    let (tx, _, cseq) = send_in_dialog(
        step,
        call,
        Method::Refer,
        None,
        &[
            ("Refer-To", &refer_to),
            ("Referred-By", &referred_by),
            ("Contact", &contact),
        ],
    )?;
    call.transfers.sent = Some(Box::new(ReferSent { cseq, tx }));
    Ok(())
}

/// 202 to a REFER (RFC 3515 §2.4.2), and the start of its subscription: the first
/// NOTIFY, `100 Trying`, goes at once (§2.4.4). A REFER with `Refer-Sub: false` gets
/// `Refer-Sub: false` back and no subscription (RFC 4488 §4).
pub(super) fn accept_refer(
    step: &mut Step<'_>,
    call: &mut Call,
    payload: &mut Payload,
) -> Result<(), ActionError> {
    let subscribe = payload.refer.as_ref().is_none_or(|r| r.subscribe);
    let request = payload.request.take().ok_or(ActionError::NoTransaction)?;
    let headers: &[(&str, &str)] = if subscribe {
        &[]
    } else {
        &[("Refer-Sub", "false")]
    };
    answer_request_with(step, call, &request, 202, headers)?;
    if subscribe {
        call.transfers.notifier = Some(Box::new(ReferNotifier::new(request.cseq)));
        send_notify(step, call, 100)?;
    }
    Ok(())
}

/// Reports `status` on the subscription of the REFER we accepted (RFC 3515 §2.4.4): a
/// NOTIFY with it as `message/sipfrag`, `Subscription-State: terminated` once it is
/// final. While a NOTIFY is in flight the status waits (RFC 6665 §4.2.2), replacing one
/// already waiting. Nothing without a subscription, or once it is terminated.
pub(crate) fn send_notify(
    step: &mut Step<'_>,
    call: &mut Call,
    status: u16,
) -> Result<(), ActionError> {
    let Some(notifier) = call.transfers.notifier.as_mut() else {
        return Ok(());
    };
    if notifier.terminated() {
        return Ok(());
    }
    if notifier.in_flight.is_some() {
        notifier.queued = Some(status);
        return Ok(());
    }
    let event = format!("refer;id={}", notifier.id);
    let state = if status >= 200 {
        "terminated;reason=noresource".to_owned()
    } else {
        format!("active;expires={REFER_SUBSCRIPTION_S}")
    };
    let body = format!(
        "SIP/2.0 {status} {}\r\n",
        crate::sip::default_reason(status)
    );
    let contact = step.contact(&call.transport);
    let (tx, _, _) = send_in_dialog(
        step,
        call,
        Method::Notify,
        Some((SIPFRAG, body.as_bytes())),
        &[
            ("Event", &event),
            ("Subscription-State", &state),
            ("Contact", &contact),
        ],
    )?;
    if let Some(notifier) = call.transfers.notifier.as_mut() {
        notifier.in_flight = Some(tx);
        notifier.last_sent = Some(status);
    }
    Ok(())
}

/// The NOTIFY in flight was answered with `status` (`None`: it timed out): send the
/// status that waited; end the subscription once its final NOTIFY is through, or when
/// the subscriber no longer has it (481, RFC 6665 §4.1.3) or does not answer (§4.2.2).
pub(crate) fn notify_answered(step: &mut Step<'_>, call: &mut Call, status: Option<u16>) {
    let Some(notifier) = call.transfers.notifier.as_mut() else {
        return;
    };
    notifier.in_flight = None;
    let gone = status.is_none_or(|s| s == 481 || s == 408);
    if gone || notifier.terminated() {
        call.transfers.notifier = None;
        return;
    }
    if let Some(next) = notifier.queued.take() {
        let _ = send_notify(step, call, next);
    }
}

/// Sends the next queued DTMF digit as an INFO (`application/dtmf-relay`, RFC 6086 §2),
/// one at a time: the next waits for this one's final response.
pub(crate) fn send_dtmf_info(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    if call.media.dtmf_info.is_some() {
        return Ok(());
    }
    let Some(digit) = call.media.dtmf_queue.chars().next() else {
        return Ok(());
    };
    call.media.dtmf_queue.drain(..digit.len_utf8());
    // As long as the tone an RFC 4733 digit of ours lasts.
    let duration = crate::media::DtmfConfig::default().tone_duration_ms;
    let body = format!("Signal={digit}\r\nDuration={duration}\r\n");
    let (tx, _, _) = send_in_dialog(
        step,
        call,
        Method::Info,
        Some((DTMF_RELAY, body.as_bytes())),
        &[],
    )?;
    call.media.dtmf_info = Some(tx);
    Ok(())
}

/// The INFO carrying a digit was answered with `status` (`None`: no answer): the next
/// digit goes after a 2xx; any failure drops the digits still queued.
pub(crate) fn dtmf_info_answered(step: &mut Step<'_>, call: &mut Call, status: Option<u16>) {
    call.media.dtmf_info = None;
    if status.is_some_and(|s| (200..300).contains(&s)) {
        let _ = send_dtmf_info(step, call);
    } else {
        call.media.dtmf_queue.clear();
    }
}

/// Places the call a REFER we accepted asks for: a new session, under an id reserved
/// now, which the endpoint starts after this step and links to ours.
pub(super) fn call_refer_target(
    step: &mut Step<'_>,
    payload: &mut Payload,
) -> Result<(), ActionError> {
    let target = payload.refer.clone().ok_or(ActionError::NotSupported)?;
    let session = step.ids.next();
    step.effects.push(Effect::PlaceCall { session, target });
    payload.referred_call = Some(session);
    Ok(())
}

/// The To tag of our in-dialog requests: none for a dialog whose 2xx had none (an empty
/// `;tag=` is not a valid tag, RFC 3261 §25.1).
fn remote_tag(dialog: &Dialog) -> Option<&str> {
    Some(dialog.id().remote_tag.as_str()).filter(|tag| !tag.is_empty())
}

/// Sends an in-dialog request through a client transaction.
fn send_in_dialog(
    step: &mut Step<'_>,
    call: &mut Call,
    method: Method,
    body: Option<(&str, &[u8])>,
    extra: &[(&str, &str)],
) -> Result<(TransactionId, Arc<[u8]>, u32), ActionError> {
    let cseq = call
        .dialog
        .as_mut()
        .ok_or(ActionError::NoDialog)?
        .next_local_seq();
    if method == Method::Bye {
        call.invite.bye_sent = true;
    }
    let branch = step.new_branch();
    let bytes = build_in_dialog(step, call, &method, cseq, &branch, body, extra)?;
    let dest = dialog_destination(step, call);
    let key = ClientKey::new(&branch, cseq, method);
    let tx = start_client(step, key, bytes.clone(), dest, call.transport.clone())?;
    Ok((tx, bytes, cseq))
}

/// Builds a request inside the session's dialog (RFC 3261 §12.2.1.1).
fn build_in_dialog(
    step: &mut Step<'_>,
    call: &Call,
    method: &Method,
    cseq: u32,
    branch: &str,
    body: Option<(&str, &[u8])>,
    extra: &[(&str, &str)],
) -> Result<Arc<[u8]>, ActionError> {
    let dialog = call.dialog.as_ref().ok_or(ActionError::NoDialog)?;
    let target = dialog.request_target();
    let mut routes = target.routes.clone();
    let appended;
    if let Some(t) = target.appended_target {
        appended = format!("<{t}>");
        routes.push(&appended);
    }
    let contact = step.contact(&call.transport);
    let timer = call.refresh.refresh_headers();
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    if matches!(method, Method::Invite | Method::Update) {
        headers.push(("Contact", &contact));
        headers.push(("Allow", ALLOW));
        headers.push(("Supported", SUPPORTED));
        headers.extend(timer.iter().map(|(n, v)| (*n, v.as_str())));
    }
    let mut out = step.message_buffer();
    let mut b = RequestBuilder::new(method, target.request_uri, &call.call_id, cseq)
        .via(&call.transport, step.sent_by, branch)
        .from(dialog.local_uri(), &dialog.id().local_tag)
        .to(dialog.remote_uri(), remote_tag(dialog))
        .routes(&routes)
        .headers(&headers);
    if let Some((content_type, body)) = body {
        b = b.body(content_type, body);
    }
    b.write(&mut out);
    Ok(step.seal(out))
}

/// Where in-dialog requests go: the first route's host when there is a route set, else
/// the remote target, when either is an IP literal; else the outbound proxy or the peer
/// the call was set up with.
pub(crate) fn dialog_destination(step: &Step<'_>, call: &Call) -> SocketAddr {
    let Some(dialog) = call.dialog.as_ref() else {
        return call.peer;
    };
    let hop = dialog
        .route_set()
        .first()
        .map(String::as_str)
        .unwrap_or(dialog.remote_target());
    step.config.resolve(hop).unwrap_or(call.peer)
}

/// The 2xx to a re-INVITE, with our answer (or our current description as an offer when
/// the re-INVITE had none; its answer then comes in the ACK).
pub(super) fn accept_reinvite(
    step: &mut Step<'_>,
    call: &mut Call,
    pending: &mut Option<IncomingRequest>,
) -> Result<(), ActionError> {
    let body = match call.offer_answer.take_answer() {
        Some(answer) => answer,
        None => {
            let local =
                super::media_adapter::local_media(step, call).ok_or(ActionError::NoMediaSession)?;
            // Our offer goes in the 2xx; its answer comes in the ACK, same CSeq.
            call.offer_answer.offer_made(None);
            if let Some(request) = pending.as_ref() {
                call.offer_answer.offer_sent(request.cseq);
            }
            super::media_adapter::our_offer(step, call, &local)
        }
    };
    let pending = pending.take().ok_or(ActionError::NoTransaction)?;
    let contact = step.contact(&call.transport);
    let granted = session_timer_grant(step, &mut call.refresh, &pending);
    let headers = session_timer_headers(granted.as_ref());
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let reply = Reply {
        status: 200,
        contact: Some(&contact),
        body: Some(&body),
        headers: &pairs,
    };
    let bytes = build_response(step, &pending, &call.local_tag, &reply)?;
    step.transactions
        .send_response(step.now, pending.tx, 200, bytes.clone())
        .map_err(|_| ActionError::NoTransaction)?;
    start_2xx_retransmission(step, call, bytes, pending.cseq, Some(pending.tx));
    call.refresh.granted(step, granted.map(|(se, _)| se));
    Ok(())
}

/// The 2xx to an UPDATE (RFC 3311 §5.2): with our answer when it carried an offer,
/// without a body when it did not (a refresh). Unlike a re-INVITE's, it is a non-INVITE
/// transaction's: nothing to retransmit, no ACK.
pub(super) fn accept_update(
    step: &mut Step<'_>,
    call: &mut Call,
    pending: &mut Option<IncomingRequest>,
) -> Result<(), ActionError> {
    let pending = pending.take().ok_or(ActionError::NoTransaction)?;
    let body = call.offer_answer.take_answer();
    let contact = step.contact(&call.transport);
    let granted = session_timer_grant(step, &mut call.refresh, &pending);
    let headers = session_timer_headers(granted.as_ref());
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let reply = Reply {
        status: 200,
        contact: Some(&contact),
        body: body.as_deref(),
        headers: &pairs,
    };
    let bytes = build_response(step, &pending, &call.local_tag, &reply)?;
    step.transactions
        .send_response(step.now, pending.tx, 200, bytes)
        .map_err(|_| ActionError::NoTransaction)?;
    call.refresh.granted(step, granted.map(|(se, _)| se));
    Ok(())
}

/// UPDATE offering our session again as it stands, held or not (RFC 3311 §5.1): the
/// table sends it only when no offer is outstanding either way, in an early dialog once
/// the INVITE's exchange is over or in a confirmed one. The answer comes in its 2xx.
pub(super) fn send_update(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    let (tx, _, _) = send_reoffer(step, call, Method::Update)?;
    call.invite.update = Some(tx);
    Ok(())
}

/// Sends `method` in the dialog offering our session again as it stands, held or not,
/// version one up (RFC 3264 §8), and records the offer as outstanding; a request that
/// could not be sent takes the new version back.
fn send_reoffer(
    step: &mut Step<'_>,
    call: &mut Call,
    method: Method,
) -> Result<(TransactionId, Arc<[u8]>, u32), ActionError> {
    let local = super::media_adapter::local_media(step, call).ok_or(ActionError::NoMediaSession)?;
    let body = call
        .sdp
        .offer(crate::call::codecs_for(&call.codecs, step.config), &local)
        .to_bytes();
    let sent = send_in_dialog(step, call, method, Some((SDP, &body[..])), &[]);
    let (tx, bytes, cseq) = match sent {
        Ok(sent) => sent,
        Err(error) => {
            call.sdp.reoffer_rejected();
            return Err(error);
        }
    };
    call.offer_answer.offer_made(None);
    call.offer_answer.offer_sent(cseq);
    Ok((tx, bytes, cseq))
}

/// Our session refresh (RFC 4028 §7.4): an UPDATE without a body when the peer allows
/// UPDATE (no offer, so nothing for media to do), else a re-INVITE offering the
/// description we last sent, version unchanged (RFC 6337 §5.3: nothing changes). A
/// re-INVITE cannot go while an offer or INVITE of ours is outstanding: it is tried
/// again shortly.
pub(super) fn refresh_session(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    if call.refresh.in_flight.is_some() || call.refresh.running.is_none() {
        return Ok(());
    }
    if call.refresh.peer_allows_update {
        let (tx, _, _) = send_in_dialog(step, call, Method::Update, None, &[])?;
        call.refresh.in_flight = Some(tx);
        return Ok(());
    }
    let busy = call.invite.reinvite.is_some() || call.offer_answer.has_local_offer();
    let current = call.sdp.local_sdp().cloned();
    let Some(body) = current.filter(|_| !busy) else {
        call.refresh.retry_later(step);
        return Ok(());
    };
    let (tx, bytes, cseq) =
        send_in_dialog(step, call, Method::Invite, Some((SDP, &body[..])), &[])?;
    call.offer_answer.offer_made(None);
    call.offer_answer.offer_sent(cseq);
    call.invite.reinvite = Some(OutgoingRequest { tx, bytes, cseq });
    call.refresh.in_flight = Some(tx);
    Ok(())
}

/// Answers a BYE with 200. A 2xx of ours still being re-sent for want of its ACK stops
/// too: the BYE names the dialog, so the caller had the 2xx (or ends the call either way),
/// and re-sending it after the session has ended only draws ACKs for nothing.
pub(super) fn accept_bye(
    step: &mut Step<'_>,
    call: &mut Call,
    pending: &mut Option<IncomingRequest>,
) -> Result<(), ActionError> {
    if call.invite.retransmit_2xx.take().is_some() {
        step.cancel_timer(SessionTimer::Retransmit2xx);
    }
    answer_pending(step, call, pending, 200)
}

/// Answers the pending in-dialog request (BYE, REFER, NOTIFY, a refused re-INVITE).
pub(crate) fn answer_pending(
    step: &mut Step<'_>,
    call: &Call,
    pending: &mut Option<IncomingRequest>,
    status: u16,
) -> Result<(), ActionError> {
    let pending = pending.take().ok_or(ActionError::NoTransaction)?;
    answer_request(step, call, &pending, status)
}

/// Sends a final response on a request's server transaction.
pub(crate) fn answer_request(
    step: &mut Step<'_>,
    call: &Call,
    request: &IncomingRequest,
    status: u16,
) -> Result<(), ActionError> {
    answer_request_with(step, call, request, status, &[])
}

/// [`answer_request`] with headers of its own.
fn answer_request_with(
    step: &mut Step<'_>,
    call: &Call,
    request: &IncomingRequest,
    status: u16,
    headers: &[(&str, &str)],
) -> Result<(), ActionError> {
    let reply = Reply {
        status,
        headers,
        ..Reply::default()
    };
    let bytes = build_response(step, request, &call.local_tag, &reply)?;
    step.transactions
        .send_response(step.now, request.tx, status, bytes)
        .map_err(|_| ActionError::NoTransaction)
}

/// A final response on a request's server transaction, outside any dialog of ours: a
/// fresh To tag, `Retry-After` where the status carries one.
pub(crate) fn respond(
    step: &mut Step<'_>,
    request: &IncomingRequest,
    status: u16,
    headers: &[(&str, &str)],
) {
    let tag = step.new_tag();
    let retry_after = step.retry_after(status);
    let mut out = step.message_buffer();
    ResponseBuilder::from_template(&request.template, &request.bytes, status)
        .to_tag(&tag)
        .retry_after(retry_after)
        .headers(headers)
        .write(&mut out);
    let out = step.seal(out);
    let _ = step
        .transactions
        .send_response(step.now, request.tx, status, out);
}

/// 200 to OPTIONS with what we can do (RFC 3261 §11.2).
pub(crate) fn answer_options(step: &mut Step<'_>, request: &IncomingRequest) {
    let headers = [("Allow", ALLOW), ("Accept", SDP), ("Supported", SUPPORTED)];
    respond(step, request, 200, &headers);
}

/// The SDP body of a message, if it has one; `Err` when it is there but unreadable.
pub(crate) fn sdp_of(msg: &Message<'_>) -> Result<Option<SessionDescription>, ()> {
    if msg.body().is_empty() {
        return Ok(None);
    }
    let is_sdp = msg
        .content_type()
        .and_then(Result::ok)
        .is_none_or(|ct| ct.is("application", "sdp"));
    if !is_sdp {
        return Ok(None);
    }
    SessionDescription::parse(msg.body())
        .map(Some)
        .map_err(|_| ())
}

/// 200 to the CANCEL and 487 to the INVITE it cancels (RFC 3261 §9.2).
pub(super) fn accept_cancel(
    step: &mut Step<'_>,
    call: &mut Call,
    cancel: Option<IncomingRequest>,
) -> Result<(), ActionError> {
    if let Some(cancel) = cancel {
        answer_request(step, call, &cancel, 200)?;
    }
    respond_to_invite(step, call, 487, None, None, &[])?;
    call.invite.final_status = Some(487);
    Ok(())
}

/// Schedules the glare retry (RFC 3261 §14.1): 2.1–4 s for the Call-ID's owner (the
/// UAC), 0–2 s for the other side, in 10 ms steps.
pub(super) fn schedule_glare_retry(step: &mut Step<'_>, call: &mut Call) {
    let at = step.now + glare_backoff(step, call.role);
    step.set_timer(SessionTimer::Table(TimerName::GlareRetry), at);
}

/// How long to wait before offering again after a 491 (RFC 3261 §14.1): 2.1–4 s for the
/// owner of the Call-ID (the UAC), 0–2 s for the other side, in steps of 10 ms.
pub(crate) fn glare_backoff(step: &mut Step<'_>, role: DialogRole) -> Duration {
    let steps = match role {
        DialogRole::Uac => step.rng.range_inclusive(210, 400),
        DialogRole::Uas => step.rng.range_inclusive(0, 200),
    };
    Duration::from_millis(steps * 10)
}

/// Ends a confirmed dialog with BYE when the session failed without sending one: a UAC
/// that ACKed a 2xx it could not use, a UAS whose call broke after its 2xx (RFC 3261
/// §15: a confirmed dialog is ended by BYE, not by forgetting it).
pub(crate) fn end_confirmed_dialog(
    step: &mut Step<'_>,
    call: &mut Call,
) -> Result<(), ActionError> {
    let confirmed = call
        .dialog
        .as_ref()
        .is_some_and(|d| d.state() == DialogState::Confirmed);
    if !confirmed || call.invite.bye_sent {
        return Ok(());
    }
    send_in_dialog(step, call, Method::Bye, None, &[]).map(|_| ())
}

/// Re-sends the last ACK for a 2xx (the peer retransmitted its 2xx).
pub(crate) fn resend_ack(step: &mut Step<'_>, call: &Call) -> Result<(), ActionError> {
    let (_, bytes) = call
        .invite
        .last_ack
        .as_ref()
        .ok_or(ActionError::NoTransaction)?;
    let dest = dialog_destination(step, call);
    step.transmit(dest, call.transport.clone(), bytes.clone());
    Ok(())
}

/// ACKs a 2xx for a call that is not a session's (a forked dialog we end at once).
pub(crate) fn send_ack_standalone(
    step: &mut Step<'_>,
    call: &mut Call,
    event: &Event,
) -> Result<(), ActionError> {
    send_ack(step, call, event)
}

/// BYE for a dialog no session owns (a forked dialog): its transaction reports to nobody.
pub(crate) fn send_bye_standalone(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    send_in_dialog(&mut step.unowned(), call, Method::Bye, None, &[]).map(|_| ())
}
