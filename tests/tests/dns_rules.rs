//! Calling a host name (RFC 3263 §4): the endpoint asks its driver to resolve the name
//! (`Output::Resolve`), sends nothing until the answer, orders SRV records itself
//! (RFC 2782), and ends the call `Unresolvable` when the name does not resolve. Here the
//! test answers the queries by hand; Bob is at 127.0.0.2:5060.

use std::net::IpAddr;
use std::time::Duration;

use session_core::endpoint::{EndReason, SessionEvent, SessionId, Side};
use session_core::resolve::{QueryId, ResolveError, ResolveQuery, Resolved, SrvRecord};
use session_core::{CallOptions, CommandError};
use session_core_tests::{alice_and_bob, config, Pump};

const BOB_IP: &str = "127.0.0.2";

fn bob_ip() -> IpAddr {
    BOB_IP.parse().unwrap()
}

/// Alice calls `target`; returns her session and the one query she asked.
fn call(p: &mut Pump, target: &str) -> (SessionId, ResolveQuery) {
    let now = p.now;
    let s = p
        .ep("alice")
        .make_call(now, target, CallOptions::default())
        .expect("a call");
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.queries.len(), 1, "one name to resolve");
    let (who, query) = p.queries.remove(0);
    assert_eq!(who, "alice");
    (s, query)
}

fn answer(p: &mut Pump, id: QueryId, answer: Result<Resolved, ResolveError>) {
    let now = p.now;
    p.ep("alice").handle_resolved(now, id, answer);
    p.run_for(Duration::from_millis(200));
}

fn srv(priority: u16, weight: u16, port: u16, ip: IpAddr) -> SrvRecord {
    SrvRecord {
        priority,
        weight,
        port,
        target: format!("sip{priority}.example.com"),
        addresses: vec![ip],
    }
}

fn invites(p: &Pump) -> Vec<String> {
    p.wire
        .iter()
        .map(|w| String::from_utf8_lossy(&w.bytes).into_owned())
        .filter(|t| t.starts_with("INVITE "))
        .collect()
}

fn terminated(p: &mut Pump, s: SessionId) -> Option<EndReason> {
    p.events_of("alice", s).into_iter().find_map(|e| match e {
        SessionEvent::Terminated { reason, .. } => Some(reason),
        _ => None,
    })
}

/// RFC 3263 §4.2: a URI without a port is looked up by SRV; the record of the lowest
/// priority is tried first (RFC 2782), and the INVITE waits for the answer. The
/// Request-URI keeps the host name (RFC 3261 §8.1.1.1).
#[test]
fn a_host_name_is_resolved_by_srv_before_the_invite_leaves() {
    let mut p = alice_and_bob();
    let (s, query) = call(&mut p, "sip:bob@bob.example.com");
    assert_eq!(query.name, "bob.example.com");
    assert_eq!(query.port, None);
    assert_eq!(
        query.srv_name().as_deref(),
        Some("_sip._udp.bob.example.com")
    );
    assert!(
        p.wire.is_empty(),
        "nothing is sent before the name resolves"
    );
    let elsewhere: IpAddr = "127.0.0.77".parse().unwrap();
    let resolved = Resolved {
        srv: vec![srv(20, 100, 5099, elsewhere), srv(10, 0, 5060, bob_ip())],
        addresses: vec![],
    };
    answer(&mut p, query.id, Ok(resolved));
    let invites = invites(&p);
    assert_eq!(invites.len(), 1, "{invites:?}");
    assert!(invites[0].starts_with("INVITE sip:bob@bob.example.com SIP/2.0\r\n"));
    let bob = p.incoming("bob").expect("bob is called at the SRV target");
    let now = p.now;
    p.ep("bob").accept(now, bob).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", s).as_deref(), Some("Active"));
}

/// RFC 3263 §4.2: with no SRV record, the name's own addresses on port 5060.
#[test]
fn without_srv_records_the_names_address_is_called_on_port_5060() {
    let mut p = alice_and_bob();
    let (_, query) = call(&mut p, "sip:bob@bob.example.com");
    let resolved = Resolved {
        srv: vec![],
        addresses: vec![bob_ip()],
    };
    answer(&mut p, query.id, Ok(resolved));
    assert!(
        p.incoming("bob").is_some(),
        "bob is called at 127.0.0.2:5060"
    );
}

/// RFC 3263 §4.2: a port in the URI rules SRV out; any SRV record in the answer is not
/// used.
#[test]
fn an_explicit_port_asks_no_srv_and_uses_the_names_address() {
    let mut p = alice_and_bob();
    let (_, query) = call(&mut p, "sip:bob@bob.example.com:5060");
    assert_eq!(query.port, Some(5060));
    assert_eq!(query.srv_name(), None);
    let resolved = Resolved {
        srv: vec![srv(0, 0, 5099, "127.0.0.77".parse().unwrap())],
        addresses: vec![bob_ip()],
    };
    answer(&mut p, query.id, Ok(resolved));
    assert!(p.incoming("bob").is_some());
}

/// A name that does not resolve ends the call with a reason naming it; nothing was
/// sent and nothing is left behind.
#[test]
fn an_unresolvable_name_ends_the_call_unresolvable() {
    let mut p = alice_and_bob();
    let (s, query) = call(&mut p, "sip:bob@no-such-host.invalid");
    answer(&mut p, query.id, Err(ResolveError::NotFound));
    assert_eq!(
        terminated(&mut p, s),
        Some(EndReason::Unresolvable {
            name: "no-such-host.invalid".into(),
            error: ResolveError::NotFound,
        })
    );
    assert!(p.wire.is_empty());
    assert!(p.ep("alice").is_idle());
}

/// Addresses of the other IP version only: as unresolvable as no address at all.
#[test]
fn an_answer_without_an_address_of_our_family_ends_the_call_unresolvable() {
    let mut p = alice_and_bob();
    let (s, query) = call(&mut p, "sip:bob@bob.example.com:5060");
    let resolved = Resolved {
        srv: vec![],
        addresses: vec!["2001:db8::2".parse().unwrap()],
    };
    answer(&mut p, query.id, Ok(resolved));
    assert!(matches!(
        terminated(&mut p, s),
        Some(EndReason::Unresolvable {
            error: ResolveError::NoAddress,
            ..
        })
    ));
    assert!(p.ep("alice").is_idle());
}

/// Hanging up while the name resolves ends the call at once; the answer that comes
/// later is dropped, and starts nothing.
#[test]
fn hanging_up_while_resolving_ends_the_call_and_the_late_answer_is_ignored() {
    let mut p = alice_and_bob();
    let (s, query) = call(&mut p, "sip:bob@bob.example.com");
    let now = p.now;
    p.ep("alice")
        .hangup(now, s)
        .expect("a resolving call can be hung up");
    p.run_for(Duration::from_millis(10));
    assert_eq!(
        terminated(&mut p, s),
        Some(EndReason::Cancelled { by: Side::Local })
    );
    assert!(p.ep("alice").is_idle());
    let resolved = Resolved {
        srv: vec![],
        addresses: vec![bob_ip()],
    };
    answer(&mut p, query.id, Ok(resolved));
    assert!(p.wire.is_empty());
    assert!(p.ep("alice").is_idle());
    assert_eq!(
        p.ep("alice").hangup(now, s),
        Err(CommandError::UnknownSession(s))
    );
}

/// An answer for a query nobody asked is ignored.
#[test]
fn an_answer_for_an_unknown_query_is_ignored() {
    let mut p = alice_and_bob();
    let resolved = Resolved {
        srv: vec![],
        addresses: vec![bob_ip()],
    };
    answer(&mut p, QueryId(42), Ok(resolved));
    assert!(p.wire.is_empty());
    assert!(p.node("alice").events.is_empty());
    assert!(p.ep("alice").is_idle());
}

/// At most `max_dns_queries` names resolve at once; one more call is refused.
#[test]
fn calls_beyond_max_dns_queries_are_refused() {
    let mut alice = config("127.0.0.1:5060", 1);
    alice.max_dns_queries = 1;
    let mut p = Pump::new(vec![("alice", alice)]);
    let now = p.now;
    let ep = p.ep("alice");
    ep.make_call(now, "sip:a@a.example.com", CallOptions::default())
        .unwrap();
    assert_eq!(
        ep.make_call(now, "sip:b@b.example.com", CallOptions::default()),
        Err(CommandError::TooManyQueries)
    );
}

/// We carry SIP over UDP and TCP only: a `sips:` or TLS target is refused with a reason,
/// not sent in the clear.
#[test]
fn a_sips_or_tls_target_is_refused() {
    let mut p = alice_and_bob();
    let now = p.now;
    for target in [
        "sips:bob@bob.example.com",
        "sip:bob@127.0.0.2;transport=tls",
    ] {
        let r = p.ep("alice").make_call(now, target, CallOptions::default());
        assert!(
            matches!(r, Err(CommandError::BadTarget { .. })),
            "{target}: {r:?}"
        );
    }
    assert!(p.ep("alice").is_idle());
}

/// Other commands on a call still resolving are refused by name, not as unknown.
#[test]
fn commands_on_a_resolving_call_are_not_allowed() {
    let mut p = alice_and_bob();
    let (s, _) = call(&mut p, "sip:bob@bob.example.com");
    let now = p.now;
    assert!(matches!(
        p.ep("alice").hold(now, s),
        Err(CommandError::NotAllowed { state, .. }) if state == "Resolving"
    ));
}

/// Shutting down ends a call still resolving.
#[test]
fn shutdown_ends_a_resolving_call() {
    let mut p = alice_and_bob();
    let (s, _) = call(&mut p, "sip:bob@bob.example.com");
    let now = p.now;
    p.ep("alice").shutdown(now);
    p.run_for(Duration::from_millis(10));
    assert_eq!(terminated(&mut p, s), Some(EndReason::Shutdown));
    assert!(p.ep("alice").is_idle());
}
