//! Registration (RFC 3261 §10) against a hand-driven registrar: the REGISTER itself, the
//! digest challenge, refresh before the granted expiry, 423 Interval Too Brief, back-off
//! after a failure, the Contact the registrar saw (RFC 3581), unregistering; each as the
//! default state table's registration rows run it.

use std::net::SocketAddr;
use std::time::Duration;

use session_core::auth::{Credentials, Login};
use session_core::endpoint::{EndReason, SessionEvent, SessionId};
use session_core_tests::{config, header_of, respond, sent, Pump};

/// Where the registrar listens; no node owns it, so what Alice sends there is collected
/// in `Pump::unrouted`.
const REGISTRAR: &str = "127.0.0.9:5060";
const AOR: &str = "sip:alice@127.0.0.9:5060";

fn registrar() -> SocketAddr {
    REGISTRAR.parse().unwrap()
}

/// Alice, registering `AOR` for `expires` seconds.
fn alice_registers(expires: u32) -> (Pump, SessionId) {
    let mut alice = config("127.0.0.1:5060", 1);
    alice.credentials = Credentials::with_default(Login::new("alice", "wonderland"));
    let mut p = Pump::new(vec![("alice", alice)]);
    let now = p.now;
    let reg = p
        .ep("alice")
        .register(now, AOR, expires)
        .expect("registers");
    p.run_for(Duration::from_millis(1));
    (p, reg)
}

/// The registrar's answer to Alice's latest REGISTER.
fn answer_last(p: &mut Pump, status: u16, extra: &[&str]) {
    let last = registers(p).pop().expect("a REGISTER");
    p.inject("alice", registrar(), &respond(&last, status, extra));
    p.run_for(Duration::from_millis(1));
}

/// A 200 binding Alice's contact for `expires` seconds.
fn accept_last(p: &mut Pump, expires: u32) {
    let last = registers(p).pop().expect("a REGISTER");
    let contact = header_of(&last, "Contact").expect("a Contact");
    let binding = format!("Contact: {contact};expires={expires}");
    p.inject("alice", registrar(), &respond(&last, 200, &[&binding]));
    p.run_for(Duration::from_millis(1));
}

/// Alice's REGISTER requests, one per Call-ID and CSeq (retransmissions left out).
fn registers(p: &Pump) -> Vec<Vec<u8>> {
    let key = |r: &[u8]| (header_of(r, "Call-ID"), header_of(r, "CSeq"));
    let mut out: Vec<Vec<u8>> = Vec::new();
    for r in sent(p, "REGISTER") {
        if !out.iter().any(|o| key(o) == key(&r)) {
            out.push(r);
        }
    }
    out
}

fn events(p: &mut Pump, reg: SessionId) -> Vec<SessionEvent> {
    p.events_of("alice", reg)
}

/// §10.2: the Request-URI is the registrar's domain, To and From the AOR, an Expires
/// and a Contact; a 401 is answered with credentials, the same Call-ID and the next
/// CSeq (§10.2.4, §22.2); the 200's expiry for our contact is reported.
#[test]
fn a_challenged_register_is_sent_again_with_credentials_and_registers() {
    let (mut p, reg) = alice_registers(600);
    let first = registers(&p).remove(0);
    let text = String::from_utf8_lossy(&first).into_owned();
    assert!(
        text.starts_with("REGISTER sip:127.0.0.9:5060 SIP/2.0\r\n"),
        "{text}"
    );
    assert!(header_of(&first, "To").unwrap().contains(AOR));
    assert!(header_of(&first, "From").unwrap().contains(AOR));
    assert_eq!(header_of(&first, "Expires").as_deref(), Some("600"));
    assert_eq!(header_of(&first, "CSeq").as_deref(), Some("1 REGISTER"));
    assert_eq!(
        header_of(&first, "Contact").as_deref(),
        Some("<sip:ua@127.0.0.1:5060>")
    );
    answer_last(
        &mut p,
        401,
        &["WWW-Authenticate: Digest realm=\"reg.test\", nonce=\"n-1\", qop=\"auth\""],
    );
    let again = registers(&p).remove(1);
    assert_eq!(header_of(&again, "CSeq").as_deref(), Some("2 REGISTER"));
    assert_eq!(header_of(&again, "Call-ID"), header_of(&first, "Call-ID"));
    let auth = header_of(&again, "Authorization").expect("credentials");
    assert!(auth.contains("uri=\"sip:127.0.0.9:5060\""), "{auth}");
    assert!(auth.contains("username=\"alice\""), "{auth}");
    accept_last(&mut p, 300);
    assert_eq!(
        events(&mut p, reg),
        vec![SessionEvent::Registered {
            session: reg,
            expires: 300
        }]
    );
    assert_eq!(p.state("alice", reg).as_deref(), Some("Registered"));
}

/// The registration is refreshed before the expiry the registrar granted (not the one
/// asked for), with the same Call-ID and a higher CSeq.
#[test]
fn the_registration_is_refreshed_before_the_granted_expiry() {
    let (mut p, reg) = alice_registers(3600);
    accept_last(&mut p, 60);
    p.run_for(Duration::from_secs(29));
    assert_eq!(registers(&p).len(), 1, "not refreshed too early");
    p.run_for(Duration::from_secs(2));
    let registers = registers(&p);
    assert_eq!(registers.len(), 2, "refreshed halfway through the 60 s");
    assert_eq!(
        header_of(&registers[1], "CSeq").as_deref(),
        Some("2 REGISTER")
    );
    assert_eq!(
        header_of(&registers[1], "Call-ID"),
        header_of(&registers[0], "Call-ID")
    );
    accept_last(&mut p, 60);
    assert_eq!(
        events(&mut p, reg).last(),
        Some(&SessionEvent::RegistrationRefreshed {
            session: reg,
            expires: 60
        })
    );
}

/// §10.2.8: a 423 makes the next REGISTER ask for the registrar's Min-Expires.
#[test]
fn interval_too_brief_asks_again_for_min_expires() {
    let (mut p, reg) = alice_registers(30);
    answer_last(&mut p, 423, &["Min-Expires: 120"]);
    let registers = registers(&p);
    assert_eq!(registers.len(), 2);
    assert_eq!(header_of(&registers[1], "Expires").as_deref(), Some("120"));
    accept_last(&mut p, 120);
    assert!(matches!(
        events(&mut p, reg).as_slice(),
        [SessionEvent::Registered { expires: 120, .. }]
    ));
}

/// A 423 whose Min-Expires does not raise the expiry is a failure like any other: no
/// loop of REGISTERs.
#[test]
fn interval_too_brief_without_a_higher_min_expires_is_a_failure() {
    let (mut p, reg) = alice_registers(300);
    answer_last(&mut p, 423, &["Min-Expires: 60"]);
    assert_eq!(registers(&p).len(), 1);
    assert!(matches!(
        events(&mut p, reg).as_slice(),
        [SessionEvent::RegistrationFailed {
            status: Some(423),
            ..
        }]
    ));
}

/// A failure is reported with the back-off before the next attempt (RFC 5626 §4.5:
/// 50–100 % of 30 s the first time), and the attempt goes then; success afterwards is
/// `Registered` again.
#[test]
fn a_failed_registration_is_retried_after_its_backoff() {
    let (mut p, reg) = alice_registers(600);
    answer_last(&mut p, 503, &[]);
    let retry_in = match events(&mut p, reg).as_slice() {
        [SessionEvent::RegistrationFailed {
            status: Some(503),
            retry_in: Some(wait),
            ..
        }] => *wait,
        other => panic!("{other:?}"),
    };
    assert!(retry_in >= Duration::from_secs(15) && retry_in <= Duration::from_secs(30));
    p.run_for(retry_in - Duration::from_millis(10));
    assert_eq!(registers(&p).len(), 1, "not before the back-off");
    p.run_for(Duration::from_millis(20));
    assert_eq!(registers(&p).len(), 2, "again after it");
    accept_last(&mut p, 600);
    assert!(matches!(
        events(&mut p, reg).last(),
        Some(SessionEvent::Registered { expires: 600, .. })
    ));
}

/// A registrar that never answers: Timer F (32 s) ends the attempt, which is a failure
/// with a retry, and no status.
#[test]
fn a_registrar_that_never_answers_is_a_failure_without_status() {
    let (mut p, reg) = alice_registers(600);
    p.run_for(Duration::from_secs(33));
    assert!(matches!(
        events(&mut p, reg).as_slice(),
        [SessionEvent::RegistrationFailed {
            status: None,
            retry_in: Some(_),
            ..
        }]
    ));
}

/// RFC 3581: when the registrar saw the REGISTER come from another address than our
/// Contact names (`received`/`rport` in its Via), the contact is registered again with
/// that address before `Registered` is reported.
#[test]
fn a_contact_behind_nat_is_registered_again_with_the_address_the_registrar_saw() {
    let (mut p, reg) = alice_registers(600);
    let first = registers(&p).pop().unwrap();
    let via = header_of(&first, "Via").unwrap();
    let natted = respond(
        &first,
        200,
        &["Contact: <sip:ua@127.0.0.1:5060>;expires=600"],
    );
    let natted = String::from_utf8(natted).unwrap().replace(
        &format!("Via: {via}"),
        &format!(
            "Via: {};received=192.0.2.7;rport=40000",
            via.replace(";rport", "")
        ),
    );
    p.inject("alice", registrar(), natted.as_bytes());
    p.run_for(Duration::from_millis(1));
    assert!(events(&mut p, reg).is_empty(), "not registered yet");
    let second = registers(&p).pop().unwrap();
    assert_eq!(
        header_of(&second, "Contact").as_deref(),
        Some("<sip:ua@192.0.2.7:40000>")
    );
    let binding = respond(
        &second,
        200,
        &["Contact: <sip:ua@192.0.2.7:40000>;expires=600"],
    );
    let binding = String::from_utf8(binding)
        .unwrap()
        .replace(";rport\r\n", ";received=192.0.2.7;rport=40000\r\n");
    p.inject("alice", registrar(), binding.as_bytes());
    p.run_for(Duration::from_millis(1));
    assert!(matches!(
        events(&mut p, reg).as_slice(),
        [SessionEvent::Registered { expires: 600, .. }]
    ));
}

/// §10.2.2: unregistering sends `Expires: 0` for our contact; once answered the
/// registration ends (`Terminated`, `Unregistered`) and is forgotten after its linger.
#[test]
fn unregistering_removes_the_binding_and_ends_the_registration() {
    let (mut p, reg) = alice_registers(600);
    accept_last(&mut p, 600);
    let now = p.now;
    p.ep("alice").unregister(now, reg).expect("unregisters");
    p.run_for(Duration::from_millis(1));
    let last = registers(&p).pop().unwrap();
    assert_eq!(header_of(&last, "Expires").as_deref(), Some("0"));
    assert_eq!(header_of(&last, "CSeq").as_deref(), Some("2 REGISTER"));
    answer_last(&mut p, 200, &[]);
    assert_eq!(
        events(&mut p, reg).last(),
        Some(&SessionEvent::Terminated {
            session: reg,
            reason: EndReason::Unregistered,
            status: Some(200)
        })
    );
    p.run_for(Duration::from_secs(40));
    assert!(p.ep("alice").is_idle(), "nothing left");
}

/// Shutting the endpoint down unregisters.
#[test]
fn shutdown_unregisters() {
    let (mut p, _reg) = alice_registers(600);
    accept_last(&mut p, 600);
    let now = p.now;
    p.ep("alice").shutdown(now);
    p.run_for(Duration::from_millis(1));
    let last = registers(&p).pop().unwrap();
    assert_eq!(header_of(&last, "Expires").as_deref(), Some("0"));
}

/// A drain removes the registration at once, not at the end of the grace period: the
/// registrar stops sending calls here while the calls up go on; once the registrar's
/// 200 is in, the endpoint has nothing left up.
#[test]
fn drain_unregisters_at_once() {
    let (mut p, _reg) = alice_registers(600);
    accept_last(&mut p, 600);
    let now = p.now;
    p.ep("alice").drain(now, Duration::from_secs(30));
    p.run_for(Duration::from_millis(1));
    let last = registers(&p).pop().unwrap();
    assert_eq!(header_of(&last, "Expires").as_deref(), Some("0"));
    accept_last(&mut p, 0);
    assert!(p.ep("alice").sessions_ended());
}

/// Several registrations per endpoint: each its own session, Call-ID and refresh; and
/// the password shows in no message, event or session summary.
#[test]
fn two_registrations_run_side_by_side_and_the_password_never_shows() {
    let (mut p, first) = alice_registers(600);
    let now = p.now;
    let second = p
        .ep("alice")
        .register(now, "sip:alice@127.0.0.10:5060", 600)
        .expect("a second registration");
    p.run_for(Duration::from_millis(1));
    let initial = registers(&p);
    assert_eq!(initial.len(), 2);
    assert_ne!(
        header_of(&initial[0], "Call-ID"),
        header_of(&initial[1], "Call-ID")
    );
    let challenge = "WWW-Authenticate: Digest realm=\"reg.test\", nonce=\"n-1\", qop=\"auth\"";
    for (i, request) in initial.iter().enumerate() {
        let from: SocketAddr = ["127.0.0.9:5060", "127.0.0.10:5060"][i].parse().unwrap();
        p.inject("alice", from, &respond(request, 401, &[challenge]));
        p.run_for(Duration::from_millis(1));
    }
    for request in registers(&p).iter().skip(2) {
        let contact = header_of(request, "Contact").unwrap();
        let to = header_of(request, "To").unwrap();
        let from: SocketAddr = if to.contains("127.0.0.10") {
            "127.0.0.10:5060".parse().unwrap()
        } else {
            registrar()
        };
        let ok = respond(request, 200, &[&format!("Contact: {contact};expires=120")]);
        p.inject("alice", from, &ok);
    }
    p.run_for(Duration::from_millis(1));
    for reg in [first, second] {
        assert!(matches!(
            events(&mut p, reg).as_slice(),
            [SessionEvent::Registered { expires: 120, .. }]
        ));
    }
    let wire: Vec<String> = p
        .unrouted
        .iter()
        .map(|w| String::from_utf8_lossy(&w.bytes).into_owned())
        .collect();
    let events = format!("{:?}", p.node("alice").events);
    let sessions = format!("{:?}", p.ep("alice").sessions().collect::<Vec<_>>());
    for text in wire.iter().chain([&events, &sessions]) {
        assert!(!text.contains("wonderland"), "{text}");
    }
}

/// A registrar named by host (RFC 3263): the REGISTER waits for the driver's answer,
/// goes to the address found (port 5060 without SRV), and keeps the name in its
/// Request-URI and To; a name that does not resolve ends the registration
/// `Unresolvable`.
#[test]
fn a_registrar_host_name_is_resolved_before_the_register_leaves() {
    use session_core::resolve::{ResolveError, Resolved};
    let mut p = Pump::new(vec![("alice", config("127.0.0.1:5060", 1))]);
    let now = p.now;
    let reg = p
        .ep("alice")
        .register(now, "sip:alice@pbx.example.com", 600)
        .expect("registers");
    let lost = p
        .ep("alice")
        .register(now, "sip:alice@nowhere.invalid", 600)
        .expect("registers");
    p.run_for(Duration::from_millis(1));
    assert!(registers(&p).is_empty(), "nothing before the answer");
    let queries: Vec<_> = p.queries.drain(..).map(|(_, q)| q).collect();
    assert_eq!(queries.len(), 2);
    let now = p.now;
    let found = Resolved {
        srv: Vec::new(),
        addresses: vec!["127.0.0.9".parse().unwrap()],
    };
    p.ep("alice").handle_resolved(now, queries[0].id, Ok(found));
    p.ep("alice")
        .handle_resolved(now, queries[1].id, Err(ResolveError::NotFound));
    p.run_for(Duration::from_millis(1));
    let register = registers(&p).pop().expect("a REGISTER");
    let text = String::from_utf8_lossy(&register).into_owned();
    assert!(
        text.starts_with("REGISTER sip:pbx.example.com SIP/2.0\r\n"),
        "{text}"
    );
    assert!(header_of(&register, "To")
        .unwrap()
        .contains("sip:alice@pbx.example.com"));
    accept_last(&mut p, 600);
    assert!(matches!(
        events(&mut p, reg).as_slice(),
        [SessionEvent::Registered { expires: 600, .. }]
    ));
    assert!(matches!(
        events(&mut p, lost).as_slice(),
        [SessionEvent::Terminated {
            reason: EndReason::Unresolvable { .. },
            ..
        }]
    ));
}
