//! The registration adapter: REGISTER requests from the state machine's actions, and
//! what a registrar's final response means for the registration (RFC 3261 §10.2).

use std::net::{IpAddr, SocketAddr};

use super::dialog_adapter::{out_of_dialog, preloaded_route, start_client, ALLOW};
use crate::call::{Call, Registration, SessionTimer, Step};
use crate::sip::{Contact, HeaderName, Message, Method, RPort, Transport};
use crate::state_machine::ActionError;
use crate::state_table::{EventType, TimerName};
use crate::transaction::ClientKey;

fn registration(call: &mut Call) -> Result<&mut Registration, ActionError> {
    call.registration
        .as_deref_mut()
        .ok_or(ActionError::NoRegistration)
}

/// A REGISTER binding our contact for `expires` seconds (0: removing it, §10.2.2): the
/// registration's Call-ID, the next CSeq (§10.2.4), From and To the AOR, the outbound
/// proxy as pre-loaded route.
pub(super) fn send_register(
    step: &mut Step<'_>,
    call: &mut Call,
    expires: Option<u32>,
) -> Result<(), ActionError> {
    let reg = registration(call)?;
    let expires = expires.unwrap_or(reg.expires).to_string();
    reg.last_status = None;
    reg.retry_in = None;
    let contact = contact(step, reg.public_addr, &call.transport);
    call.local_cseq += 1;
    let branch = step.new_branch();
    let route = preloaded_route(step);
    let routes: Vec<&str> = route.iter().map(String::as_str).collect();
    let mut headers = vec![("Expires", expires.as_str()), ("Allow", ALLOW)];
    if !step.config.user_agent.is_empty() {
        headers.push(("User-Agent", &step.config.user_agent));
    }
    let mut out = step.message_buffer();
    out_of_dialog(&Method::Register, step, call, &branch, &contact, &routes)
        .headers(&headers)
        .write(&mut out);
    let out = step.seal(out);
    let key = ClientKey::new(&branch, call.local_cseq, Method::Register);
    start_client(step, key, out, call.peer, call.transport.clone())?;
    Ok(())
}

/// Our Contact: the address the registrar saw once it told us (RFC 3581), else ours.
fn contact(step: &Step<'_>, public: Option<SocketAddr>, transport: &Transport) -> String {
    let Some(addr) = public else {
        return step.contact(transport).into_owned();
    };
    let user = &step.config.user;
    match transport {
        Transport::Udp => format!("<sip:{user}@{addr}>"),
        other => format!(
            "<sip:{user}@{addr};transport={}>",
            other.as_str().to_ascii_lowercase()
        ),
    }
}

/// Starts the refresh timer for the expiry the registrar granted.
pub(super) fn schedule_refresh(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    let reg = registration(call)?;
    let granted = reg.granted.unwrap_or(reg.expires);
    reg.failures = 0;
    if granted > 0 {
        let at = step.now + Registration::refresh_after(granted);
        step.set_timer(SessionTimer::Table(TimerName::RegistrationRefresh), at);
    }
    Ok(())
}

/// Starts the back-off timer after a failure.
pub(super) fn schedule_retry(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    let reg = registration(call)?;
    let (base, max) = (
        step.config.registration_retry_base,
        step.config.registration_retry_max,
    );
    let wait = reg.backoff(base, max, step.rng);
    let at = step.now + wait;
    step.set_timer(SessionTimer::Table(TimerName::RegistrationBackoff), at);
    Ok(())
}

/// The table event a final response to our latest REGISTER makes, after what it says
/// has been noted: the expiry granted to our contact, the address the registrar saw, a
/// 423's `Min-Expires`. A response to an earlier REGISTER, or a provisional one, makes
/// none.
pub(crate) fn on_response(
    step: &Step<'_>,
    call: &mut Call,
    msg: &Message<'_>,
    status: u16,
) -> Option<EventType> {
    if msg.cseq().seq != call.local_cseq || status < 200 {
        return None;
    }
    let ours = contact_addr(step, call)?;
    let reg = call.registration.as_deref_mut()?;
    reg.last_status = Some(status);
    let event = match status {
        200..=299 => {
            reg.granted = Some(granted_expiry(msg, ours).unwrap_or(reg.expires));
            let seen = address_seen(msg, ours);
            reg.contact_behind_nat = seen != ours;
            if reg.contact_behind_nat {
                reg.public_addr = Some(seen);
            }
            EventType::Registration200OK
        }
        423 => {
            let min = msg
                .header(HeaderName::MinExpires)
                .and_then(|v| v.trim().parse::<u32>().ok());
            reg.min_expires_raised = false;
            if let Some(min) = min.filter(|&m| m > reg.expires) {
                reg.expires = min;
                reg.min_expires_raised = true;
            }
            EventType::RegistrationFailed
        }
        _ => EventType::RegistrationFailed,
    };
    Some(event)
}

/// The address our Contact names.
fn contact_addr(step: &Step<'_>, call: &Call) -> Option<SocketAddr> {
    let reg = call.registration.as_deref()?;
    Some(reg.public_addr.unwrap_or(step.config.advertised_addr()))
}

/// The expiry of our own binding in a 2xx (§10.2.4): its Contact's `expires`
/// parameter, else the Expires header.
fn granted_expiry(msg: &Message<'_>, ours: SocketAddr) -> Option<u32> {
    let own = msg.contacts().flatten().find_map(|c| match c {
        Contact::Addr(addr) if names(&addr.uri, ours) => addr.params.value("expires"),
        _ => None,
    });
    own.and_then(|v| v.trim().parse().ok())
        .or_else(|| msg.expires().and_then(Result::ok))
}

/// Whether `uri` points at `addr` (host and port; 5060 when absent).
fn names(uri: &crate::sip::Uri<'_>, addr: SocketAddr) -> bool {
    let host = uri.host.map(|h| h.to_string());
    let ip = host
        .as_deref()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|h| h.parse::<IpAddr>().ok());
    ip == Some(addr.ip()) && uri.port.unwrap_or(5060) == addr.port()
}

/// Where the registrar saw our request come from: the `received` and `rport` it wrote
/// into our Via (RFC 3581 §4), each defaulting to what we sent.
fn address_seen(msg: &Message<'_>, ours: SocketAddr) -> SocketAddr {
    let via = msg.top_via();
    let ip = via
        .received
        .and_then(|r| r.parse::<IpAddr>().ok())
        .unwrap_or(ours.ip());
    let port = match via.rport {
        RPort::Filled(port) => port,
        _ => ours.port(),
    };
    SocketAddr::new(ip, port)
}
