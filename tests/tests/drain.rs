//! Graceful drain (`Endpoint::drain`): new calls are refused with 503 and `Retry-After`
//! (RFC 3261 §21.5.4), calls up may end on their own within the grace period while their
//! in-dialog requests are served, the rest are then ended by us, and the endpoint ends
//! idle.

use std::net::SocketAddr;
use std::time::Duration;

use session_core::endpoint::{CommandError, EndReason, Side};
use session_core::CallOptions;
use session_core_tests::{alice_and_bob, answered, header_of, ring, status_of, Pump, BOB};

const STRANGER: &str = "127.0.0.9:5060";

/// How many requests with `method` crossed the wire from `from`.
fn sent_by(p: &Pump, from: &str, method: &str) -> usize {
    let start = format!("{method} ");
    p.wire
        .iter()
        .filter(|w| w.from == from && w.bytes.starts_with(start.as_bytes()))
        .count()
}

/// The whole story within the grace: a new INVITE gets 503 with `Retry-After`, the call
/// already up is held and resumed (in-dialog re-INVITEs are served) and ends by the
/// peer's own BYE; nothing is sent by us to end it, and the endpoint ends idle.
#[test]
fn draining_refuses_new_calls_and_lets_a_call_up_end_by_its_own_bye() {
    let mut p = alice_and_bob();
    let (alice, bob) = answered(&mut p);
    let now = p.now;
    p.ep("bob").drain(now, Duration::from_secs(30));
    assert!(p.ep("bob").is_draining());

    let refused = p
        .ep("alice")
        .make_call(now, BOB, CallOptions::default())
        .unwrap();
    p.run_for(Duration::from_millis(200));
    assert_eq!(
        p.end_reason("alice", refused),
        Some(EndReason::Rejected {
            by: Side::Remote,
            status: 503
        })
    );
    let refusal = p
        .wire
        .iter()
        .find(|w| status_of(&w.bytes) == Some(503))
        .expect("a 503");
    assert!(header_of(&refusal.bytes, "Retry-After").is_some());
    assert_eq!(p.ep("bob").stats().refused_draining, 1);
    assert_eq!(p.ep("bob").stats().overload_rejections, 0);

    let now = p.now;
    p.ep("alice").hold(now, alice).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", alice).as_deref(), Some("OnHold"));
    let now = p.now;
    p.ep("alice").resume(now, alice).unwrap();
    p.run_for(Duration::from_secs(4));
    assert_eq!(p.state("alice", alice).as_deref(), Some("Active"));

    let now = p.now;
    p.ep("alice").hangup(now, alice).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(
        p.end_reason("bob", bob),
        Some(EndReason::HungUp { by: Side::Remote })
    );
    assert!(p.ep("bob").sessions_ended());
    p.run_for(Duration::from_secs(60));
    assert!(p.ep("bob").is_idle());
    assert_eq!(sent_by(&p, "bob", "BYE"), 0);
}

/// A call still up when the grace period ends gets our BYE, and says why it ended.
#[test]
fn a_call_outliving_the_grace_gets_our_bye() {
    let mut p = alice_and_bob();
    let (alice, bob) = answered(&mut p);
    let now = p.now;
    p.ep("bob").drain(now, Duration::from_secs(2));
    p.run_for(Duration::from_millis(1_900));
    assert_eq!(p.state("bob", bob).as_deref(), Some("Active"));
    assert_eq!(sent_by(&p, "bob", "BYE"), 0);
    p.run_for(Duration::from_millis(300));
    assert_eq!(sent_by(&p, "bob", "BYE"), 1);
    assert_eq!(p.end_reason("bob", bob), Some(EndReason::Shutdown));
    assert_eq!(
        p.end_reason("alice", alice),
        Some(EndReason::HungUp { by: Side::Remote })
    );
    p.run_for(Duration::from_secs(60));
    assert!(p.ep("bob").is_idle());
}

/// An incoming call still ringing when the grace ends is refused 503, so its caller's
/// proxy can try another server (§16.7); our own call still ringing is CANCELled.
#[test]
fn calls_still_ringing_at_the_end_of_the_grace_get_503_or_cancel() {
    let mut p = alice_and_bob();
    let (alice, bob) = ring(&mut p);
    let now = p.now;
    p.ep("bob").drain(now, Duration::from_secs(1));
    p.run_for(Duration::from_millis(1_200));
    assert_eq!(
        p.end_reason("alice", alice),
        Some(EndReason::Rejected {
            by: Side::Remote,
            status: 503
        })
    );
    assert_eq!(p.end_reason("bob", bob), Some(EndReason::Shutdown));

    let mut p = alice_and_bob();
    let (alice, bob) = ring(&mut p);
    let now = p.now;
    p.ep("alice").drain(now, Duration::from_secs(1));
    p.run_for(Duration::from_millis(1_200));
    assert_eq!(sent_by(&p, "alice", "CANCEL"), 1);
    assert_eq!(p.end_reason("alice", alice), Some(EndReason::Shutdown));
    assert!(matches!(
        p.end_reason("bob", bob),
        Some(EndReason::Cancelled { by: Side::Remote })
    ));
    p.run_for(Duration::from_secs(60));
    assert!(p.ep("alice").is_idle());
}

/// While draining, nothing new starts here: `make_call` is refused, and an OPTIONS
/// outside a dialog gets the 503 an INVITE would get (§11.2), which takes us out of a
/// proxy's rotation.
#[test]
fn a_draining_endpoint_starts_nothing_and_answers_options_503() {
    let mut p = alice_and_bob();
    let now = p.now;
    p.ep("bob").drain(now, Duration::from_secs(30));
    assert_eq!(
        p.ep("bob")
            .make_call(now, "sip:alice@127.0.0.1:5060", CallOptions::default())
            .unwrap_err(),
        CommandError::Draining
    );
    let options = format!(
        "OPTIONS sip:bob@127.0.0.2:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {STRANGER};branch=z9hG4bKopt\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:x@127.0.0.9>;tag=prober\r\n\
         To: <sip:bob@127.0.0.2>\r\n\
         Call-ID: probe\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let from: SocketAddr = STRANGER.parse().unwrap();
    p.inject("bob", from, options.as_bytes());
    let answer = &p.unrouted.last().expect("an answer").bytes;
    assert_eq!(status_of(answer), Some(503));
    assert!(header_of(answer, "Retry-After").is_some());
    // With nothing up, the drain is over at once.
    assert!(p.ep("bob").sessions_ended());
}
