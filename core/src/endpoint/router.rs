//! The event router: a datagram becomes a transaction input, then a dialog's event, then
//! a session's state-machine event (RFC 3261 §8.2, §12.2.2, §17, §18; RFC 3581). The
//! transaction layer's reports (timeouts, transport errors) become session events too.

use std::net::SocketAddr;

use super::ctx::{Ctx, SessionTimer};
use super::output::{EndReason, SessionId, Side};
use super::uas_checks;
use super::Endpoint;
use crate::adapters::dialog_adapter::{self, ALLOW, SUPPORTED};
use crate::adapters::strip_name_addr;
use crate::dialog::{DialogIdRef, DialogRole, DialogState};
use crate::sdp::{is_hold, LocalSession, SessionDescription};
use crate::session_store::{Call, IncomingRequest, RequestOrigin, SdpPhase};
use crate::sip::{
    write_ack_for_non_2xx, write_salvaged_response, HeaderName, Host, Message, Method, Params,
    ParseError, RPort, ResponseBuilder, Salvaged, Transport, Via,
};
use crate::state_table::{Event, EventType, Role};
use crate::time::Instant;
use crate::transaction::{
    ClientKey, RequestDisposition, RequestFields, ResponseDisposition, ServerKey, Timer,
    TransactionError, TransactionId, TransactionOutput,
};

/// A SIP datagram (or framed stream message).
pub(super) fn on_sip(
    ep: &mut Endpoint,
    now: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    transport: Transport,
    bytes: &[u8],
) {
    let _ = local;
    let msg = match Message::parse_with(bytes, &ep.ctx.config.parse_limits) {
        Ok(msg) => msg,
        Err(e) => return answer_malformed(&mut ep.ctx, remote, transport, bytes, &e),
    };
    if msg.is_request() {
        on_request(ep, now, remote, transport, &msg, bytes);
    } else {
        on_response(ep, now, &msg);
    }
}

/// A request the strict parser refused: answered 400 (505 for another SIP version)
/// wherever a response can be built, else dropped and counted. The lenient parse answers
/// what it can read; a request even it refuses (a broken request line, a missing or
/// unusable From, To, Call-ID or CSeq) is answered from its raw headers (RFC 3261 §8.2.6,
/// RFC 4475 §3.1.2.19) as long as it carries a Via: without one no response can be routed.
/// Responses and ACKs are never answered.
fn answer_malformed(
    ctx: &mut Ctx,
    remote: SocketAddr,
    transport: Transport,
    bytes: &[u8],
    error: &ParseError,
) {
    let limits = &ctx.config.parse_limits;
    let lenient = error
        .response_status()
        .and_then(|status| Some((status, Message::parse_lenient(bytes, limits).ok()?)));
    if let Some((status, msg)) = lenient {
        if let Some(method) = msg.method().filter(|m| **m != Method::Ack) {
            let status = malformed_status(method, status);
            let warning = malformed_warning(ctx, error);
            let mut out = Vec::with_capacity(512);
            ResponseBuilder::new(&msg, status)
                .headers(&malformed_headers(status, &warning))
                .write(&mut out);
            let dest = response_destination(msg.top_via(), remote, &transport);
            ctx.transmit(dest, transport, out);
            ctx.stats.malformed_answered += 1;
            return;
        }
    } else if let Some(req) = Salvaged::read(bytes, limits) {
        let method = Method::from_token(req.method());
        if let (Some(top_via), false) = (req.top_via(), method == Method::Ack) {
            let status = malformed_status(&method, 400);
            let warning = malformed_warning(ctx, error);
            let mut out = Vec::with_capacity(512);
            write_salvaged_response(&req, status, &malformed_headers(status, &warning), &mut out);
            // An unreadable top Via names no sent-by: the source address is all there is.
            let dest = Via::parse(top_via)
                .map_or(remote, |via| response_destination(&via, remote, &transport));
            ctx.transmit(dest, transport, out);
            ctx.stats.malformed_answered += 1;
            return;
        }
    }
    ctx.stats.malformed_dropped += 1;
}

/// §8.2.1 comes first: a method we do not know gets 501 however malformed the rest
/// (RFC 4475 §3.1.2.18); otherwise the parser's status.
fn malformed_status(method: &Method, status: u16) -> u16 {
    if matches!(method, Method::Other(_)) && !uas_checks::implemented(method) {
        501
    } else {
        status
    }
}

/// The Warning (RFC 3261 §20.43, code 399) that says what the parser refused.
fn malformed_warning(ctx: &Ctx, error: &ParseError) -> String {
    let reason = error.to_string();
    format!("399 {} \"{}\"", ctx.sent_by, reason.replace('"', "'"))
}

/// The headers of a malformed request's answer: the Warning, and Allow with a 501.
fn malformed_headers(status: u16, warning: &str) -> Vec<(&str, &str)> {
    let mut headers = vec![("Warning", warning)];
    if status == 501 {
        headers.push(("Allow", ALLOW));
    }
    headers
}

/// Where responses to a request go (RFC 3261 §18.2.2, RFC 3581 §4): back on the
/// connection for stream transports; over UDP to the source address, at the source port
/// when the Via asked for `rport`, else at the Via's port.
fn response_destination(via: &Via<'_>, remote: SocketAddr, transport: &Transport) -> SocketAddr {
    if transport.is_reliable() {
        return remote;
    }
    if via.rport != RPort::Absent {
        return remote;
    }
    SocketAddr::new(remote.ip(), via.port.unwrap_or(5060))
}

/// The request's bytes with the top Via stamped for the responses (RFC 3261 §18.2.1,
/// RFC 3581 §4): `received` with the source address when it differs from the sent-by
/// host or `rport` was asked for, and `rport` filled with the source port. Stream
/// transports and requests that need no stamp are copied unchanged.
fn with_received(
    msg: &Message<'_>,
    bytes: &[u8],
    remote: SocketAddr,
    transport: &Transport,
) -> Vec<u8> {
    let via = msg.top_via();
    let wants_rport = via.rport == RPort::Requested;
    let ip = remote.ip().to_string();
    let host_differs = !matches!(&via.host, Host::Ipv4(h) if h.to_string() == ip)
        && !matches!(&via.host, Host::Ipv6(h) if h.to_string() == ip);
    if transport.is_reliable() || via.received.is_some() || !(wants_rport || host_differs) {
        return bytes.to_vec();
    }
    // The Via value is a slice of `bytes` (the parser borrows); anything else is left.
    let start = (via.raw.as_ptr() as usize).wrapping_sub(bytes.as_ptr() as usize);
    let Some(end) = start
        .checked_add(via.raw.len())
        .filter(|&e| e <= bytes.len())
    else {
        return bytes.to_vec();
    };
    let mut stamped = String::with_capacity(via.raw.len() + 40);
    for (i, part) in via.raw.split(';').enumerate() {
        if i > 0 && part.trim().eq_ignore_ascii_case("rport") {
            continue;
        }
        if i > 0 {
            stamped.push(';');
        }
        stamped.push_str(part);
    }
    stamped.push_str(";received=");
    stamped.push_str(&ip);
    if wants_rport {
        stamped.push_str(&format!(";rport={}", remote.port()));
    }
    let mut out = Vec::with_capacity(bytes.len() + 40);
    out.extend_from_slice(&bytes[..start]);
    out.extend_from_slice(stamped.as_bytes());
    out.extend_from_slice(&bytes[end..]);
    out
}

fn host_text(host: &Host<'_>) -> String {
    match host {
        Host::Domain(d) => (*d).to_owned(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => format!("[{ip}]"),
    }
}

fn on_request(
    ep: &mut Endpoint,
    now: Instant,
    remote: SocketAddr,
    transport: Transport,
    msg: &Message<'_>,
    bytes: &[u8],
) {
    let Some(method) = msg.method().cloned() else {
        return;
    };
    let via = msg.top_via();
    let host = host_text(&via.host);
    let via_transport = via.transport.transport();
    let request_uri = msg.request_uri().map_or("", |u| u.raw);
    let fields = RequestFields {
        method: &method,
        branch: via.branch,
        sent_by_host: &host,
        sent_by_port: via.port,
        transport: &via_transport,
        request_uri,
        to_tag: msg.to().tag(),
        from_tag: msg.from().tag(),
        call_id: msg.call_id(),
        cseq: msg.cseq().seq,
        top_via: via.raw,
    };
    let key = ServerKey::new(&fields);
    let reply_to = response_destination(msg.top_via(), remote, &transport);
    let tx = match ep
        .ctx
        .transactions
        .on_request(now, key.clone(), reply_to, transport.clone(), 0)
    {
        Ok(RequestDisposition::New { id }) => id,
        Ok(RequestDisposition::AckForDialog { .. }) => return on_ack(ep, now, msg),
        Ok(_) => return,
        Err(TransactionError::LayerFull { .. }) => {
            ep.ctx.stats.overload_rejections += 1;
            return respond_stateless(&mut ep.ctx, msg, reply_to, transport, 503, &[]);
        }
        Err(_) => return,
    };
    let request = IncomingRequest {
        tx,
        bytes: with_received(msg, bytes, remote, &transport),
        method: method.clone(),
        cseq: msg.cseq().seq,
    };
    if let Some(refusal) = uas_checks::check(msg, ALLOW) {
        let headers: Vec<(&str, &str)> = refusal
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        return respond(&mut ep.ctx, &request, refusal.status, &headers, now);
    }
    if let Some(to_tag) = msg.to().tag() {
        return in_dialog(ep, now, msg, request, to_tag);
    }
    match method {
        Method::Invite => new_invite(ep, now, msg, request, reply_to, transport),
        Method::Cancel => on_cancel(ep, now, &key, request),
        Method::Options => answer_options(&mut ep.ctx, &request, now),
        _ => respond(&mut ep.ctx, &request, 481, &[], now),
    }
}

/// 200 to OPTIONS with what we can do (RFC 3261 §11.2).
fn answer_options(ctx: &mut Ctx, request: &IncomingRequest, now: Instant) {
    let headers = [
        ("Allow", ALLOW),
        ("Accept", "application/sdp"),
        ("Supported", SUPPORTED),
    ];
    respond(ctx, request, 200, &headers, now);
}

/// A final response on a server transaction, outside any session's state machine.
fn respond(
    ctx: &mut Ctx,
    request: &IncomingRequest,
    status: u16,
    headers: &[(&str, &str)],
    now: Instant,
) {
    let Ok(msg) = Message::parse_with(&request.bytes, &ctx.config.parse_limits) else {
        return;
    };
    let tag = ctx.new_tag();
    let mut out = Vec::with_capacity(512);
    ResponseBuilder::new(&msg, status)
        .to_tag(&tag)
        .retry_after(ctx.retry_after(status))
        .headers(headers)
        .write(&mut out);
    let _ = ctx.transactions.send_response(now, request.tx, status, out);
}

/// A response with no transaction (the layer was full).
fn respond_stateless(
    ctx: &mut Ctx,
    msg: &Message<'_>,
    dest: SocketAddr,
    transport: Transport,
    status: u16,
    headers: &[(&str, &str)],
) {
    if msg.method() == Some(&Method::Ack) {
        return;
    }
    let mut out = Vec::with_capacity(512);
    ResponseBuilder::new(msg, status)
        .retry_after(ctx.retry_after(status))
        .headers(headers)
        .write(&mut out);
    ctx.transmit(dest, transport, out);
}

/// The SDP body of a message, if it has one; `Err` when it is there but unreadable.
fn sdp_of(msg: &Message<'_>) -> Result<Option<SessionDescription>, ()> {
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

/// A new INVITE outside any dialog: a new UAS session (RFC 3261 §13.3).
fn new_invite(
    ep: &mut Endpoint,
    now: Instant,
    msg: &Message<'_>,
    request: IncomingRequest,
    reply_to: SocketAddr,
    transport: Transport,
) {
    if ep.sessions.len() >= ep.ctx.config.max_sessions {
        ep.ctx.stats.overload_rejections += 1;
        return respond(&mut ep.ctx, &request, 503, &[], now);
    }
    let origin = RequestOrigin {
        call_id: msg.call_id(),
        from_tag: msg.from().tag().unwrap_or_default(),
        cseq: request.cseq,
    };
    if ep.sessions.by_origin(&origin).is_some() {
        // §8.2.2.2: the same INVITE by another path (a new transaction) is a merged
        // request; the first copy has its call.
        return respond(&mut ep.ctx, &request, 482, &[], now);
    }
    let Ok(offer) = sdp_of(msg) else {
        return respond(&mut ep.ctx, &request, 400, &[], now);
    };
    let id = ep.sessions.next_id();
    let _ = ep.ctx.transactions.set_owner(request.tx, id.0);
    let local_tag = ep.ctx.new_tag();
    let sdp = LocalSession::new(
        &ep.ctx.config.media,
        ep.ctx.rng.next_u32().into(),
        ep.ctx.config.advertised_addr().ip(),
    );
    let mut call = Call::new(
        DialogRole::Uas,
        msg.call_id().to_owned(),
        local_tag,
        without_tag(msg.to().raw),
        without_tag(msg.from().raw),
        // Only a UAC sends to a Request-URI of its own; the UAS's requests follow the
        // dialog's remote target.
        String::new(),
        reply_to,
        transport,
        0,
        sdp,
        now,
    );
    let mut event = Event::new(EventType::IncomingCall).with_cseq(request.cseq);
    if let Some(offer) = offer {
        event = if is_hold(&offer) {
            event.with_remote_hold()
        } else {
            event.with_sdp()
        };
        call.remote_offer = Some(Box::new(offer));
        call.sdp_phase = SdpPhase::RemoteOffer;
    }
    call.incoming_invite = Some(request);
    ep.insert_session(id, Role::Uas, call);
    ep.sessions.index_origin(id, &origin);
    start_invite_expiry(&mut ep.ctx, id, msg, now);
    ep.feed(now, id, event);
}

/// RFC 3261 §13.3.1: an INVITE with `Expires` is answered 487 if that many seconds pass
/// before its final response; the table decides in which states (`InviteExpired`). An
/// unreadable value is ignored, as if absent: the call is not refused for it.
fn start_invite_expiry(ctx: &mut Ctx, id: SessionId, msg: &Message<'_>, now: Instant) {
    if let Some(Ok(seconds)) = msg.expires() {
        let at = now + std::time::Duration::from_secs(seconds.into());
        ctx.set_timer(id, SessionTimer::InviteExpires, at);
    }
}

/// A name-addr header value without its tag parameter (the session keeps tags apart).
fn without_tag(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut in_brackets = false;
    let mut in_quotes = false;
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        let c = bytes[i];
        match c {
            b'"' if !in_brackets => in_quotes = !in_quotes,
            b'<' if !in_quotes => in_brackets = true,
            b'>' if !in_quotes => in_brackets = false,
            b';' if !in_brackets && !in_quotes => {
                let rest = &raw[i + 1..];
                let name_end = rest.find(['=', ';']).unwrap_or(rest.len());
                if rest[..name_end].trim().eq_ignore_ascii_case("tag") {
                    let skip = rest[name_end..]
                        .find(';')
                        .map_or(rest.len(), |p| name_end + p);
                    i += 1 + skip;
                    continue;
                }
            }
            _ => {}
        }
        out.push(char::from(c));
        i += 1;
    }
    // Only ASCII structure was inspected; copy any non-ASCII bytes through unchanged.
    if !raw.is_ascii() {
        return raw.to_owned();
    }
    out.trim().to_owned()
}

/// CANCEL (RFC 3261 §9.2): 200 and 487 when it matches an INVITE still ringing; 200
/// alone when the INVITE was already answered; 481 when it matches nothing.
fn on_cancel(ep: &mut Endpoint, now: Instant, key: &ServerKey, request: IncomingRequest) {
    let session = ep
        .ctx
        .transactions
        .find_invite_for_cancel(key)
        .and_then(|invite| ep.ctx.transactions.owner(invite))
        .filter(|&owner| owner != 0)
        .map(SessionId);
    let Some(id) = session else {
        return respond(&mut ep.ctx, &request, 481, &[], now);
    };
    let Some(s) = ep.sessions.get_mut(id) else {
        return respond(&mut ep.ctx, &request, 481, &[], now);
    };
    let tag = s.call.local_tag.clone();
    s.call.pending_cancel = Some(request);
    let fed = ep.feed(now, id, Event::new(EventType::DialogCANCEL));
    if let Some(s) = ep.sessions.get_mut(id) {
        if let Some(cancel) = s.call.pending_cancel.take() {
            // The INVITE was already answered: the CANCEL has no effect but gets its 200.
            let _ = fed;
            let _ = tag;
            respond(&mut ep.ctx, &cancel, 200, &[], now);
        }
    }
}

/// A request inside a dialog (it has a To tag).
fn in_dialog(
    ep: &mut Endpoint,
    now: Instant,
    msg: &Message<'_>,
    request: IncomingRequest,
    to_tag: &str,
) {
    let Some(id) = ep.sessions.by_dialog(&dialog_id_of(msg, to_tag)) else {
        // §12.2.2: no dialog matches.
        return respond(&mut ep.ctx, &request, 481, &[], now);
    };
    let method = request.method.clone();
    let Some(s) = ep.sessions.get_mut(id) else {
        return;
    };
    if let Some(dialog) = s.call.dialog.as_mut() {
        if dialog.accept_remote_seq(request.cseq, false).is_err() {
            return respond(&mut ep.ctx, &request, 500, &[], now);
        }
    }
    let mut event = match method {
        Method::Options | Method::Info => return answer_options(&mut ep.ctx, &request, now),
        Method::Bye => Event::new(EventType::DialogBYE),
        Method::Invite => {
            let Ok(offer) = sdp_of(msg) else {
                return respond(&mut ep.ctx, &request, 400, &[], now);
            };
            if let (Some(contact), Some(dialog)) = (
                dialog_adapter::first_contact_uri(msg),
                s.call.dialog.as_mut(),
            ) {
                dialog.refresh_remote_target(&contact);
            }
            let mut event = Event::new(EventType::DialogReINVITE);
            if let Some(offer) = offer {
                event = if is_hold(&offer) {
                    event.with_remote_hold()
                } else {
                    event.with_sdp()
                };
                s.call.remote_offer = Some(Box::new(offer));
                s.call.sdp_phase = SdpPhase::RemoteOffer;
            }
            event
        }
        Method::Refer => {
            let Some(refer_to) = msg.header(HeaderName::ReferTo) else {
                return respond(&mut ep.ctx, &request, 400, &[], now);
            };
            s.call.refer_to = Some(strip_name_addr(refer_to).to_owned());
            Event::new(EventType::DialogREFER)
        }
        Method::Notify => {
            if !reports_on_our_refer(msg, s.call.refer_subscription) {
                // RFC 6665 §4.1.3: a NOTIFY for no subscription we created.
                return respond(&mut ep.ctx, &request, 481, &[], now);
            }
            let mut event = Event::new(EventType::DialogNotify);
            if let Some(status) = sipfrag_status(msg.body()) {
                event = event.with_status(status);
            }
            event
        }
        _ => return respond(&mut ep.ctx, &request, 405, &[("Allow", ALLOW)], now),
    };
    event = event.with_cseq(request.cseq);
    s.call.pending_request = Some(request);
    ep.feed(now, id, event);
    // A request the table did not answer gets the answer RFC 3261 expects in that case.
    let Some(s) = ep.sessions.get_mut(id) else {
        return;
    };
    if let Some(pending) = s.call.pending_request.take() {
        let status = match pending.method {
            Method::Bye => 481,
            Method::Invite => 500,
            Method::Refer => 603,
            _ => 200,
        };
        respond(&mut ep.ctx, &pending, status, &[], now);
    }
}

/// The dialog id an in-dialog request names (RFC 3261 §12.2.2): its To tag is ours.
fn dialog_id_of<'a>(msg: &'a Message<'_>, to_tag: &'a str) -> DialogIdRef<'a> {
    DialogIdRef {
        call_id: msg.call_id(),
        local_tag: to_tag,
        remote_tag: msg.from().tag().unwrap_or_default(),
    }
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

/// The status code of a `message/sipfrag` body (`SIP/2.0 200 OK`), RFC 3515 §2.4.5.
fn sipfrag_status(body: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(body.get(..body.len().min(64))?).ok()?;
    let rest = text.trim_start().strip_prefix("SIP/2.0 ")?;
    rest.get(..3)?.parse().ok()
}

/// The ACK for a 2xx: ends the 2xx retransmission and moves the session on.
fn on_ack(ep: &mut Endpoint, now: Instant, msg: &Message<'_>) {
    let Some(to_tag) = msg.to().tag() else {
        return;
    };
    let Some(id) = ep.sessions.by_dialog(&dialog_id_of(msg, to_tag)) else {
        return;
    };
    let Some(s) = ep.sessions.get_mut(id) else {
        return;
    };
    let cseq = msg.cseq().seq;
    match &s.call.retransmit_2xx {
        Some(r) if r.cseq == cseq => {}
        // A retransmitted ACK, or one for a 2xx we are not waiting on.
        _ => return,
    }
    s.call.retransmit_2xx = None;
    ep.ctx.timers.cancel((id, SessionTimer::Retransmit2xx));
    let mut event = Event::new(EventType::DialogACK).with_cseq(cseq);
    if let Ok(Some(sdp)) = sdp_of(msg) {
        s.call.inbound_sdp = Some(Box::new(sdp));
        event = event.with_sdp();
    }
    ep.feed(now, id, event);
}

fn on_response(ep: &mut Endpoint, now: Instant, msg: &Message<'_>) {
    let (Some(status), Some(branch)) = (msg.status(), msg.top_via().branch) else {
        return;
    };
    let cseq = msg.cseq();
    let key = ClientKey::new(branch, cseq.seq, cseq.method.clone());
    match ep.ctx.transactions.on_response(now, &key, status) {
        ResponseDisposition::PassUp {
            id,
            owner,
            needs_ack,
        } => {
            if owner == 0 {
                return;
            }
            let session = SessionId(owner);
            if needs_ack {
                send_non_2xx_ack(ep, now, session, id, msg);
            }
            dispatch_response(ep, now, session, msg, status);
        }
        ResponseDisposition::Unmatched => {
            // A 2xx retransmitted after its INVITE transaction ended: re-ACK it.
            let session = (cseq.method == Method::Invite && (200..300).contains(&status))
                .then(|| msg.from().tag())
                .flatten()
                .and_then(|tag| ep.sessions.by_request(msg.call_id(), tag));
            match session {
                Some(id) => dispatch_response(ep, now, id, msg, status),
                None => ep.ctx.stats.stray_responses += 1,
            }
        }
        _ => {}
    }
}

/// The ACK the INVITE client transaction needs for a non-2xx final (RFC 3261 §17.1.1.3).
fn send_non_2xx_ack(
    ep: &mut Endpoint,
    now: Instant,
    session: SessionId,
    tx: TransactionId,
    response: &Message<'_>,
) {
    let Some(s) = ep.sessions.get(session) else {
        return;
    };
    let call = &s.call;
    let invite = [call.invite.as_ref(), call.reinvite.as_ref()]
        .into_iter()
        .flatten()
        .find(|r| r.tx == tx);
    let Some(invite) = invite else {
        return;
    };
    let Ok(invite_msg) = Message::parse_with(&invite.bytes, &ep.ctx.config.parse_limits) else {
        return;
    };
    let mut ack = Vec::with_capacity(invite.bytes.len() / 2);
    write_ack_for_non_2xx(&invite_msg, response, &mut ack);
    let _ = ep.ctx.transactions.set_ack(now, tx, ack);
}

/// A response for a session: dialog bookkeeping, then the state-machine event.
fn dispatch_response(
    ep: &mut Endpoint,
    now: Instant,
    id: SessionId,
    msg: &Message<'_>,
    status: u16,
) {
    let cseq = msg.cseq();
    let Some(s) = ep.sessions.get_mut(id) else {
        return;
    };
    let call = &mut s.call;
    let sdp = sdp_of(msg).ok().flatten();
    let has_sdp = sdp.is_some();
    let event = match cseq.method {
        Method::Invite if call.invite.as_ref().is_some_and(|i| i.cseq == cseq.seq) => {
            match status {
                100..=199 => {
                    if call.dialog.is_none() {
                        call.dialog =
                            dialog_adapter::dialog_from_response(msg, call, DialogState::Early);
                    }
                    call.inbound_sdp = sdp.map(Box::new);
                    Event::new(EventType::DialogProvisional)
                }
                200..=299 => {
                    let tag = msg.to().tag().unwrap_or_default();
                    let other_dialog = call.confirmed
                        && call
                            .dialog
                            .as_ref()
                            .is_some_and(|d| d.id().remote_tag != tag);
                    // A 2xx from another fork, or one that arrives after the session ended
                    // (Timer B fired, the CANCEL won): that dialog is confirmed at the
                    // callee, so it is ACKed and ended with BYE (RFC 3261 §13.2.2.4).
                    let too_late = !call.confirmed && s.machine.is_terminal(&ep.table);
                    if other_dialog || too_late {
                        return end_forked_dialog(ep, now, id, msg);
                    }
                    let same = call
                        .dialog
                        .as_ref()
                        .is_some_and(|d| d.id().remote_tag == tag);
                    if same {
                        if let Some(d) = call.dialog.as_mut() {
                            d.confirm();
                            if let Some(c) = dialog_adapter::first_contact_uri(msg) {
                                d.refresh_remote_target(&c);
                            }
                        }
                    } else {
                        call.dialog =
                            dialog_adapter::dialog_from_response(msg, call, DialogState::Confirmed);
                    }
                    if !call.confirmed {
                        call.confirmed = true;
                        call.final_status = Some(status);
                        call.answered_at = Some(now);
                        call.inbound_sdp = sdp.map(Box::new);
                    }
                    Event::new(EventType::Dialog200OK)
                }
                _ => {
                    call.final_status = Some(status);
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
                    d.refresh_remote_target(&c);
                }
                let repeat = call.last_ack.as_ref().is_some_and(|(c, _)| *c == cseq.seq);
                if repeat {
                    // A retransmitted 2xx to our re-INVITE: only the ACK is re-sent.
                    let _ = dialog_adapter::resend_ack(&mut ep.ctx, call);
                    return;
                }
                call.inbound_sdp = sdp.map(Box::new);
                call.sdp.reoffer_answered();
                Event::new(EventType::DialogReInviteAccepted)
            }
            _ => {
                call.sdp.reoffer_rejected();
                call.sdp_phase = SdpPhase::Idle;
                Event::new(EventType::DialogReInviteFailed)
            }
        },
        Method::Bye if status >= 200 => Event::new(EventType::DialogByeResponse),
        Method::Refer if status >= 200 => Event::new(EventType::DialogReferResponse),
        _ => return,
    };
    let mut event = event.with_status(status).with_cseq(cseq.seq);
    if has_sdp {
        event = event.with_sdp();
    }
    ep.feed(now, id, event);
}

/// A second 2xx from another branch of a forked INVITE: ACK it and end that dialog with
/// BYE right away (RFC 3261 §13.2.2.4); the session keeps the first.
fn end_forked_dialog(ep: &mut Endpoint, now: Instant, id: SessionId, msg: &Message<'_>) {
    let Some(s) = ep.sessions.get_mut(id) else {
        return;
    };
    let Some(dialog) = dialog_adapter::dialog_from_response(msg, &s.call, DialogState::Confirmed)
    else {
        return;
    };
    let tag = dialog.id().remote_tag.clone();
    let ended = &mut s.call.ended_forks;
    let already_ended = ended.contains(&tag);
    if !already_ended && ended.len() < MAX_ENDED_FORKS {
        ended.push(tag);
    }
    let mut fork = shadow_call(&s.call);
    fork.dialog = Some(dialog);
    let ack_event = Event::new(EventType::Dialog200OK).with_cseq(msg.cseq().seq);
    let _ = dialog_adapter::send_ack_standalone(&mut ep.ctx, &mut fork, &ack_event);
    if !already_ended {
        let _ = dialog_adapter::send_bye_standalone(&mut ep.ctx, &mut fork, now);
    }
}

/// How many forked dialogs one call remembers having ended (a bound on what a peer
/// that forks without end can make us keep).
const MAX_ENDED_FORKS: usize = 16;

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

/// A session's client transaction ended: the bytes kept for it (our INVITE for CANCEL
/// and for the non-2xx ACK, the ACK re-sent for retransmitted 2xx) are not needed any
/// more. A 2xx retransmitted later still gets an ACK, built anew.
fn forget_finished_request(ep: &mut Endpoint, id: SessionId, tx: TransactionId) {
    let Some(s) = ep.sessions.get_mut(id) else {
        return;
    };
    let call = &mut s.call;
    if let Some(invite) = call.invite.as_mut().filter(|i| i.tx == tx) {
        invite.bytes = Vec::new();
        call.last_ack = None;
    }
    if call.reinvite.as_ref().is_some_and(|r| r.tx == tx) {
        call.reinvite = None;
        call.last_ack = None;
    }
}

/// A non-INVITE request timed out after our BYE: when the call was ending because we
/// hung up, it ends because the BYE went unanswered (RFC 3261 §15.1.1), which is what
/// the application is told.
fn note_bye_timed_out(ep: &mut Endpoint, id: SessionId) {
    let Some(s) = ep.sessions.get_mut(id) else {
        return;
    };
    let call = &mut s.call;
    let hung_up = matches!(call.end_reason, Some(EndReason::HungUp { by: Side::Local }));
    if call.bye_sent && hung_up {
        call.end_reason = Some(EndReason::ByeTimedOut);
    }
}

/// The transaction layer's timeouts and transport errors, routed to their sessions.
pub(super) fn on_transaction_report(ep: &mut Endpoint, now: Instant, report: TransactionOutput) {
    match report {
        TransactionOutput::Timeout { owner, timer, .. } if owner != 0 => {
            if matches!(timer, Timer::B | Timer::F | Timer::H) {
                if timer == Timer::F {
                    note_bye_timed_out(ep, SessionId(owner));
                }
                let event = Event::new(EventType::DialogTimeout).with_status(408);
                ep.feed(now, SessionId(owner), event);
            }
        }
        TransactionOutput::TransportError { owner, .. } if owner != 0 => {
            ep.feed(now, SessionId(owner), Event::new(EventType::TransportError));
        }
        TransactionOutput::Terminated { id, owner } if owner != 0 => {
            forget_finished_request(ep, SessionId(owner), id);
        }
        _ => {}
    }
}
