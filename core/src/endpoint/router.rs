//! The event router: a datagram is parsed, checked (RFC 3261 §8.2, §18; RFC 3581),
//! matched to its transaction, and handed to the session it belongs to — found by dialog
//! id (§12.2.2), by the INVITE a CANCEL names (§9.2), or by the transaction's owner.
//! What no session owns is answered here: malformed requests, requests outside any
//! dialog, a new INVITE (which creates the session). The transaction layer's reports
//! reach the sessions that own the transactions.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use super::admission;
use super::uas_checks;
use super::Endpoint;
use crate::adapters::dialog_adapter::{self, ALLOW, SUPPORTED};
use crate::call::{
    new_tag, retry_after, Call, IncomingRequest, Replaces, SessionId, SessionTimer, TimerRequest,
};
use crate::dialog::{DialogIdRef, DialogRole, DialogState};
use crate::sdp::is_hold;
use crate::session_store::{Link, RequestOrigin};
use crate::sip::{
    write_ip, write_salvaged_response, write_u64, HeaderName, Host, Ipv4Text, Message, Method,
    ParseError, RPort, ResponseBuilder, ResponseTemplate, Salvaged, Transport, Via,
};
use crate::state_table::{Event, EventType, Role};
use crate::time::Instant;
use crate::transaction::{
    ClientKey, RequestDisposition, RequestFields, ResponseDisposition, ServerKey, TransactionError,
    TransactionId, TransactionOutput,
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
    // Read in place: a `Message` is a couple of kilobytes (its inline header index), and
    // moving it out of the `Result` would copy all of it for every datagram.
    let parsed = Message::parse_with(bytes, &ep.config.parse_limits);
    let msg = match &parsed {
        Ok(msg) => msg,
        Err(e) => return answer_malformed(ep, remote, transport, bytes, e),
    };
    if msg.is_request() {
        on_request(ep, now, remote, transport, msg, bytes);
    } else {
        on_response(ep, now, msg);
    }
}

/// A request the strict parser refused: answered 400 (505 for another SIP version)
/// wherever a response can be built, else dropped and counted. The lenient parse answers
/// what it can read; a request even it refuses (a broken request line, a missing or
/// unusable From, To, Call-ID or CSeq) is answered from its raw headers (RFC 3261 §8.2.6,
/// RFC 4475 §3.1.2.19) as long as it carries a Via: without one no response can be routed.
/// Responses and ACKs are never answered.
fn answer_malformed(
    ep: &mut Endpoint,
    remote: SocketAddr,
    transport: Transport,
    bytes: &[u8],
    error: &ParseError,
) {
    let limits = &ep.config.parse_limits;
    let lenient = error
        .response_status()
        .and_then(|status| Some((status, Message::parse_lenient(bytes, limits).ok()?)));
    if let Some((status, msg)) = lenient {
        if let Some(method) = msg.method().filter(|m| **m != Method::Ack) {
            let status = malformed_status(method, status);
            let warning = malformed_warning(&ep.sent_by, error);
            let mut out = Vec::with_capacity(512);
            ResponseBuilder::new(&msg, status)
                .headers(&malformed_headers(status, &warning))
                .write(&mut out);
            let dest = response_destination(msg.top_via(), remote, &transport);
            ep.transmit(dest, transport, out.into());
            ep.stats.malformed_answered += 1;
            return;
        }
    } else if let Some(req) = Salvaged::read(bytes, limits) {
        let method = Method::from_token(req.method());
        if let (Some(top_via), false) = (req.top_via(), method == Method::Ack) {
            let status = malformed_status(&method, 400);
            let warning = malformed_warning(&ep.sent_by, error);
            let mut out = Vec::with_capacity(512);
            write_salvaged_response(&req, status, &malformed_headers(status, &warning), &mut out);
            // An unreadable top Via names no sent-by: the source address is all there is.
            let dest = Via::parse(top_via)
                .map_or(remote, |via| response_destination(&via, remote, &transport));
            ep.transmit(dest, transport, out.into());
            ep.stats.malformed_answered += 1;
            return;
        }
    }
    ep.stats.malformed_dropped += 1;
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
fn malformed_warning(sent_by: &str, error: &ParseError) -> String {
    let reason = error.to_string();
    format!("399 {sent_by} \"{}\"", reason.replace('"', "'"))
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
/// host or `rport` was asked for, and `rport` filled with the source port; with the
/// range of `bytes` the stamped Via value replaced. `None` for stream transports and
/// requests that need no stamp.
fn with_received(
    msg: &Message<'_>,
    bytes: &[u8],
    remote: SocketAddr,
    transport: &Transport,
) -> Option<(Vec<u8>, Range<usize>)> {
    let via = msg.top_via();
    let wants_rport = via.rport == RPort::Requested;
    let host_differs = match (&via.host, remote.ip()) {
        (Host::Ipv4(host), IpAddr::V4(ip)) => *host != ip,
        (Host::Ipv6(host), IpAddr::V6(ip)) => *host != ip,
        _ => true,
    };
    if transport.is_reliable() || via.received.is_some() || !(wants_rport || host_differs) {
        return None;
    }
    // The Via value is a slice of `bytes` (the parser borrows); anything else is left.
    let start = (via.raw.as_ptr() as usize).wrapping_sub(bytes.as_ptr() as usize);
    let end = start
        .checked_add(via.raw.len())
        .filter(|&e| e <= bytes.len())?;
    let mut out = Vec::with_capacity(bytes.len() + 40);
    out.extend_from_slice(&bytes[..start]);
    for (i, part) in via.raw.split(';').enumerate() {
        if i > 0 && part.trim().eq_ignore_ascii_case("rport") {
            continue;
        }
        if i > 0 {
            out.push(b';');
        }
        out.extend_from_slice(part.as_bytes());
    }
    out.extend_from_slice(b";received=");
    write_ip(&mut out, remote.ip());
    if wants_rport {
        out.extend_from_slice(b";rport=");
        write_u64(&mut out, u64::from(remote.port()));
    }
    out.extend_from_slice(&bytes[end..]);
    Some((out, start..end))
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
    // The sent-by host as text for the key: a domain borrowed, an IPv4 address written on
    // the stack, an IPv6 reference (rare) formatted.
    let (ipv4_text, ipv6_text);
    let host = match &via.host {
        Host::Domain(d) => d,
        Host::Ipv4(ip) => {
            ipv4_text = Ipv4Text::new(*ip);
            ipv4_text.as_str()
        }
        Host::Ipv6(ip) => {
            ipv6_text = format!("[{ip}]");
            ipv6_text.as_str()
        }
    };
    let via_transport = via.transport.transport();
    let request_uri = msg.request_uri().map_or("", |u| u.raw);
    let fields = RequestFields {
        method: &method,
        branch: via.branch,
        sent_by_host: host,
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
    // Looked up before the key moves into the layer; a CANCEL's own transaction is not
    // the INVITE's, so starting it does not change what this finds.
    let cancelled_invite = ep.transactions.find_invite_for_cancel(&key);
    let reply_to = response_destination(msg.top_via(), remote, &transport);
    let tx = match ep
        .transactions
        .on_request(now, key, reply_to, transport.clone(), 0)
    {
        Ok(RequestDisposition::New { id }) => id,
        Ok(RequestDisposition::AckForDialog { .. }) => return on_ack(ep, now, msg),
        Ok(_) => return,
        Err(TransactionError::LayerFull { .. }) => {
            ep.stats.overload_rejections += 1;
            ep.stats.refused_transaction_limit += 1;
            return respond_stateless(ep, msg, reply_to, transport, 503);
        }
        Err(_) => return,
    };
    let request = match with_received(msg, bytes, remote, &transport) {
        None => IncomingRequest {
            tx,
            bytes: bytes.to_vec(),
            template: ResponseTemplate::new(msg),
            session_timer: TimerRequest::of(msg),
            dialog: None,
            method: method.clone(),
            cseq: msg.cseq().seq,
        },
        Some((stamped, replaced)) => {
            let mut template = ResponseTemplate::new(msg);
            template.replace(replaced, stamped.len() - bytes.len());
            IncomingRequest {
                tx,
                bytes: stamped,
                template,
                session_timer: TimerRequest::of(msg),
                dialog: None,
                method: method.clone(),
                cseq: msg.cseq().seq,
            }
        }
    };
    if let Some(refusal) = uas_checks::check(msg, ALLOW, SUPPORTED) {
        let headers: Vec<(&str, &str)> = refusal
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        return respond(ep, now, &request, refusal.status, &headers);
    }
    if let Some(to_tag) = msg.to().tag() {
        return in_dialog(ep, now, msg, request, to_tag);
    }
    match method {
        Method::Invite => new_invite(ep, now, msg, request, reply_to, transport),
        Method::Cancel => on_cancel(ep, now, cancelled_invite, request),
        // §11.2: OPTIONS is answered as an INVITE would be; while draining that is 503,
        // which takes us out of a proxy's rotation (Kamailio `dispatcher` probing).
        Method::Options if ep.drain.is_some() => {
            ep.stats.refused_draining += 1;
            respond(ep, now, &request, 503, &[])
        }
        Method::Options => {
            ep.sessionless(now, |step| dialog_adapter::answer_options(step, &request))
        }
        _ => respond(ep, now, &request, 481, &[]),
    }
}

/// A final response on a server transaction, outside any session.
fn respond(
    ep: &mut Endpoint,
    now: Instant,
    request: &IncomingRequest,
    status: u16,
    headers: &[(&str, &str)],
) {
    ep.sessionless(now, |step| {
        dialog_adapter::respond(step, request, status, headers)
    });
}

/// A response with no transaction (the layer was full).
fn respond_stateless(
    ep: &mut Endpoint,
    msg: &Message<'_>,
    dest: SocketAddr,
    transport: Transport,
    status: u16,
) {
    if msg.method() == Some(&Method::Ack) {
        return;
    }
    let mut out = Vec::with_capacity(512);
    ResponseBuilder::new(msg, status)
        .retry_after(retry_after(&mut ep.rng, &ep.config, status))
        .write(&mut out);
    ep.transmit(dest, transport, out.into());
}

/// A new INVITE outside any dialog: a new UAS session (RFC 3261 §13.3).
fn new_invite(
    ep: &mut Endpoint,
    now: Instant,
    msg: &Message<'_>,
    mut request: IncomingRequest,
    reply_to: SocketAddr,
    transport: Transport,
) {
    let from_tag = msg.from().tag().unwrap_or_default();
    let origin = RequestOrigin {
        call_id: msg.call_id(),
        from_tag,
        cseq: request.cseq,
    };
    if ep.sessions.by_origin(&origin).is_some() {
        // §8.2.2.2: the same INVITE by another path (a new transaction) is a merged
        // request; the first copy has its call. A retransmission whose first copy had
        // its Via damaged on the way is one too, as far as we can tell: by then the
        // caller's INVITE transaction has usually taken our 2xx (`complete_damaged_invite`
        // on its side), and a final response after a 2xx changes nothing there.
        return respond(ep, now, &request, 482, &[]);
    }
    if ep
        .sessions
        .confirmed_dialog_from(msg.call_id(), from_tag)
        .is_some()
    {
        // An in-dialog request that lost its To tag (a damaged re-INVITE): taken as a new
        // call it would ring a phantom call on the same Call-ID. 400, not 481: the error
        // is this request's, and a 481 would end the dialog it belongs to (RFC 5057 §5.1).
        ep.stats.malformed_answered += 1;
        return respond(ep, now, &request, 400, &[]);
    }
    if admission::refuse_new_session(ep, now).is_some() {
        return respond(ep, now, &request, 503, &[]);
    }
    let Ok(offer) = dialog_adapter::sdp_of(msg) else {
        return respond(ep, now, &request, 400, &[]);
    };
    let replaces = match msg
        .header(HeaderName::Replaces)
        .map(|v| replaced_session(ep, v))
    {
        None => None,
        Some(Ok(replaced)) => Some(replaced),
        Some(Err(status)) => return respond(ep, now, &request, status, &[]),
    };
    let id = ep.ids.next();
    let _ = ep.transactions.set_owner(request.tx, id.0);
    let local_tag = new_tag(&mut ep.rng);
    let sdp = ep.local_session();
    let mut call = Call::new(
        DialogRole::Uas,
        msg.call_id().into(),
        local_tag,
        without_tag(msg.to().raw).into(),
        without_tag(msg.from().raw).into(),
        // Kept for the application (a gateway routes on it); the UAS's own requests
        // follow the dialog's remote target.
        msg.request_uri()
            .map_or_else(String::new, |u| u.raw.to_owned()),
        reply_to,
        transport,
        0,
        sdp,
        now,
    );
    let mut event = Event::new(EventType::IncomingCall)
        .with_cseq(request.cseq)
        .with_method(Method::Invite);
    call.invite.reliable.provisionals_reliable = ep.config.reliable_provisionals.applies_to(msg);
    call.invite.reliable.offer_in_invite = offer.is_some();
    if let Some(offer) = offer {
        event = if is_hold(&offer) {
            event.with_remote_hold()
        } else {
            event.with_sdp()
        };
        call.offer_answer.remote_offer(Box::new(offer));
    }
    request.dialog = Some(dialog_adapter::peer_dialog(msg, from_tag));
    call.invite.incoming = Some(Box::new(request));
    ep.insert_session(id, Role::Uas, call);
    ep.pending_incoming.insert(id);
    ep.sessions.index_origin(id, &origin);
    if replaces.is_some() {
        let link = Link {
            replaces,
            ..Link::default()
        };
        ep.sessions.link(id, link);
    }
    start_invite_expiry(ep, id, msg, now);
    ep.feed(now, id, event);
}

/// The session whose dialog an INVITE's `Replaces` names (RFC 3891 §3), or the status
/// that refuses the INVITE: 400 for a value without Call-ID and both tags, 481 when no
/// dialog matches (or only an early one we did not initiate), 603 for a dialog already
/// ending, 486 for a confirmed one the INVITE wants only while early (`early-only`).
fn replaced_session(ep: &Endpoint, value: &str) -> Result<SessionId, u16> {
    let replaces = Replaces::parse(value).ok_or(400u16)?;
    let dialog = DialogIdRef {
        call_id: replaces.call_id,
        local_tag: replaces.to_tag,
        remote_tag: replaces.from_tag,
    };
    let id = ep.sessions.by_dialog(&dialog).ok_or(481u16)?;
    let session = ep.sessions.get(id).ok_or(481u16)?;
    let call = &session.call;
    if session.machine.is_terminal(&ep.table) || call.invite.bye_sent {
        return Err(603);
    }
    let confirmed = call
        .dialog
        .as_ref()
        .is_some_and(|d| d.state() == DialogState::Confirmed);
    match (confirmed, replaces.early_only, call.role) {
        (true, true, _) => Err(486),
        (false, _, DialogRole::Uas) => Err(481),
        _ => Ok(id),
    }
}

/// RFC 3261 §13.3.1: an INVITE with `Expires` is answered 487 if that many seconds pass
/// before its final response; the table decides in which states (`InviteExpired`). An
/// unreadable value is ignored, as if absent: the call is not refused for it.
fn start_invite_expiry(ep: &mut Endpoint, id: SessionId, msg: &Message<'_>, now: Instant) {
    if let Some(Ok(seconds)) = msg.expires() {
        let at = now + std::time::Duration::from_secs(seconds.into());
        ep.timers.set((id, SessionTimer::InviteExpires), at);
    }
}

/// A name-addr header value without its tag parameters (the session keeps tags apart):
/// a slice of `raw` when no other parameter follows a tag, as is nearly always so.
fn without_tag(raw: &str) -> Cow<'_, str> {
    // Only ASCII structure is inspected; a value with non-ASCII bytes is kept unchanged.
    if !raw.is_ascii() {
        return Cow::Borrowed(raw);
    }
    let raw = raw.trim();
    let bytes = raw.as_bytes();
    let mut out = Cow::Borrowed("");
    // Where the part being kept began.
    let mut kept = 0;
    let mut in_brackets = false;
    let mut in_quotes = false;
    let mut i = 0;
    while i < raw.len() {
        match bytes[i] {
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
                    append(&mut out, &raw[kept..i]);
                    i += 1 + skip;
                    kept = i;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    append(&mut out, &raw[kept..]);
    // What preceded a removed tag may end in blanks.
    match out {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim_end()),
        Cow::Owned(mut s) => {
            s.truncate(s.trim_end().len());
            Cow::Owned(s)
        }
    }
}

/// `out` followed by `piece`, copied only when both have text.
fn append<'a>(out: &mut Cow<'a, str>, piece: &'a str) {
    if out.is_empty() {
        *out = Cow::Borrowed(piece);
    } else if !piece.is_empty() {
        out.to_mut().push_str(piece);
    }
}

/// CANCEL (RFC 3261 §9.2): 200 and 487 when it matches an INVITE still ringing; 200
/// alone when the INVITE was already answered; 481 when it matches nothing.
fn on_cancel(
    ep: &mut Endpoint,
    now: Instant,
    invite: Option<TransactionId>,
    request: IncomingRequest,
) {
    let session = invite
        .and_then(|invite| ep.transactions.owner(invite))
        .filter(|&owner| owner != 0)
        .map(SessionId)
        .filter(|&id| ep.sessions.get(id).is_some());
    match session {
        Some(id) => {
            ep.step(now, id, |s, step| s.on_cancel(request, step));
        }
        None => respond(ep, now, &request, 481, &[]),
    }
}

/// A request inside a dialog (it has a To tag): to its session, or 481 when no dialog
/// matches (§12.2.2).
fn in_dialog(
    ep: &mut Endpoint,
    now: Instant,
    msg: &Message<'_>,
    request: IncomingRequest,
    to_tag: &str,
) {
    match ep.sessions.by_dialog(&dialog_id_of(msg, to_tag)) {
        Some(id) => {
            ep.step(now, id, |s, step| s.on_request(msg, request, step));
        }
        None => respond(ep, now, &request, 481, &[]),
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

/// The ACK for a 2xx, to the session whose dialog it names.
fn on_ack(ep: &mut Endpoint, now: Instant, msg: &Message<'_>) {
    let Some(to_tag) = msg.to().tag() else {
        return;
    };
    if let Some(id) = ep.sessions.by_dialog(&dialog_id_of(msg, to_tag)) {
        ep.step(now, id, |s, step| s.on_ack(msg, step));
    }
}

fn on_response(ep: &mut Endpoint, now: Instant, msg: &Message<'_>) {
    let (Some(status), Some(branch)) = (msg.status(), msg.top_via().branch) else {
        return;
    };
    let cseq = msg.cseq();
    let key = ClientKey::new(branch, cseq.seq, cseq.method.clone());
    let (session, tx, needs_ack) = match ep.transactions.on_response(now, &key, status) {
        ResponseDisposition::PassUp {
            id,
            owner,
            needs_ack,
        } => {
            if owner == 0 {
                return;
            }
            (SessionId(owner), Some(id), needs_ack)
        }
        ResponseDisposition::Unmatched => {
            // A 2xx retransmitted after its INVITE transaction ended: re-ACK it.
            let session = (cseq.method == Method::Invite && (200..300).contains(&status))
                .then(|| msg.from().tag())
                .flatten()
                .and_then(|tag| ep.sessions.by_request(msg.call_id(), tag));
            match session {
                Some(id) => {
                    complete_damaged_invite(ep, now, id, cseq.seq, status);
                    (id, None, false)
                }
                None => {
                    ep.stats.stray_responses += 1;
                    return;
                }
            }
        }
        _ => return,
    };
    ep.step(now, session, |s, step| {
        s.on_response(msg, status, tx, needs_ack, step)
    });
}

/// A 2xx that matched no transaction but answers an INVITE session `id` still has in
/// progress (same Call-ID, From tag and CSeq): the callee's copy of our INVITE had a
/// damaged Via, so its 2xx names a branch we never sent. It answers our INVITE all the
/// same; the client transaction is given it, or it would retransmit the INVITE until
/// Timer B, and a copy reaching the callee after it forgot the call would ring anew.
fn complete_damaged_invite(ep: &mut Endpoint, now: Instant, id: SessionId, cseq: u32, status: u16) {
    let Some(session) = ep.sessions.get(id) else {
        return;
    };
    let invite = &session.call.invite;
    let pending = [invite.request.as_ref(), invite.reinvite.as_ref()]
        .into_iter()
        .flatten()
        .find(|r| r.cseq == cseq)
        .map(|r| r.tx);
    if let Some(tx) = pending {
        let _ = ep.transactions.on_response_to(now, tx, status);
    }
}

/// The transaction layer's timeouts, transport errors and ends, routed to the sessions
/// that own the transactions.
pub(super) fn on_transaction_report(ep: &mut Endpoint, now: Instant, report: TransactionOutput) {
    let owner = match &report {
        TransactionOutput::Timeout { owner, .. }
        | TransactionOutput::TransportError { owner, .. }
        | TransactionOutput::Terminated { owner, .. } => *owner,
        _ => return,
    };
    if owner != 0 {
        ep.step(now, SessionId(owner), |s, step| {
            s.on_transaction_report(report, step)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::without_tag;

    #[test]
    fn without_tag_drops_only_the_tag_parameter_outside_brackets_and_quotes() {
        assert_eq!(without_tag(" <sip:a@h;tag=1>;tag=x "), "<sip:a@h;tag=1>");
        assert_eq!(
            without_tag("\"a;tag=q\" <sip:a@h>;tag=x;p=1"),
            "\"a;tag=q\" <sip:a@h>;p=1"
        );
        assert_eq!(without_tag("sip:a@h ;tag=x"), "sip:a@h");
        assert_eq!(without_tag("<sip:\u{e9}@h>;tag=x"), "<sip:\u{e9}@h>;tag=x");
    }
}
