//! INFO (RFC 6086) between two endpoints on the default state table: DTMF sent and
//! received as `application/dtmf-relay` (the legacy usage §2 leaves in place, which
//! PBXs and trunks send), other bodies handed to the application, and Info Packages —
//! none of which we announce — refused with 469.

use std::time::Duration;

use session_core::endpoint::{SessionEvent, SessionId};
use session_core::DtmfMode;
use session_core_tests::{
    alice_and_bob_with, answered, config, dialog_ids, first_on_wire, header_of, status_of, Pump,
};

/// A confirmed call from Alice (sending DTMF by INFO) to Bob.
fn call() -> (Pump, SessionId, SessionId) {
    let mut alice = config("127.0.0.1:5060", 1);
    alice.dtmf_mode = DtmfMode::Info;
    let mut p = alice_and_bob_with(alice, config("127.0.0.2:5060", 2));
    let (a, b) = answered(&mut p);
    (p, a, b)
}

fn digits(p: &mut Pump, node: &str, s: SessionId) -> Vec<(char, u32, DtmfMode)> {
    p.events_of(node, s)
        .into_iter()
        .filter_map(|e| match e {
            SessionEvent::DtmfReceived {
                digit,
                duration_ms,
                via,
                ..
            } => Some((digit, duration_ms, via)),
            _ => None,
        })
        .collect()
}

/// An INFO to Bob in the call's dialog, as Alice would send it, with `extra` headers and
/// `body`.
fn info(p: &Pump, cseq: u32, extra: &str, body: &str) -> String {
    let ids = dialog_ids(&first_on_wire(p, b"ACK "));
    format!(
        "INFO sip:ua@127.0.0.2:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKinfo{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:ua@127.0.0.1:5060>;tag={}\r\n\
         To: <sip:bob@127.0.0.2:5060>;tag={}\r\n\
         Call-ID: {}\r\n\
         CSeq: {cseq} INFO\r\n\
         {extra}\
         Content-Length: {}\r\n\r\n{body}",
        ids.from_tag,
        ids.to_tag,
        ids.call_id,
        body.len()
    )
}

/// The answer Bob sent to the request with CSeq `cseq`.
fn answer_to(p: &Pump, cseq: u32) -> Vec<u8> {
    let needle = format!("CSeq: {cseq} INFO");
    p.unrouted
        .iter()
        .chain(p.wire.iter())
        .find(|w| w.from == "bob" && String::from_utf8_lossy(&w.bytes).contains(&needle))
        .map(|w| w.bytes.clone())
        .expect("bob answers the INFO")
}

/// RFC 6086 §2 (legacy INFO usage): with `DtmfMode::Info`, each digit goes as its own
/// INFO (`Signal=`, `Duration=`), the next only after the last one's 2xx; Bob reports
/// each as a DTMF digit, as he would an RFC 4733 one.
#[test]
fn dtmf_sent_by_info_goes_one_digit_at_a_time_and_is_reported_as_dtmf() {
    let (mut p, a, b) = call();
    let start = session_core::Instant::from_millis(1_000);
    let now = p.now;
    p.ep("alice")
        .send_dtmf(now, a, "1*#")
        .expect("alice sends DTMF");
    p.run_for(Duration::from_secs(1));
    assert_eq!(
        digits(&mut p, "bob", b),
        [
            ('1', 100, DtmfMode::Info),
            ('*', 100, DtmfMode::Info),
            ('#', 100, DtmfMode::Info)
        ]
    );
    let infos: Vec<_> = p
        .wire
        .iter()
        .filter(|w| w.bytes.starts_with(b"INFO "))
        .collect();
    assert_eq!(infos.len(), 3);
    assert_eq!(
        header_of(&infos[0].bytes, "Content-Type").as_deref(),
        Some("application/dtmf-relay")
    );
    insta::assert_snapshot!(p.ladder(start));
}

/// RFC 6086 §2 both ways in one call: Alice and Bob both send DTMF by INFO. Alice
/// sends `12` and, while her digits are still going, Bob sends `#9`; each INFO is
/// `application/dtmf-relay` with `Signal=` and `Duration=`, the next from the same side
/// only after the last one's 2xx. Each side reports exactly the other's digits, in
/// order, as DTMF received by INFO, and the call stays up.
#[test]
fn dtmf_by_info_goes_both_ways_and_each_side_reports_the_others_digits() {
    let mut alice = config("127.0.0.1:5060", 1);
    alice.dtmf_mode = DtmfMode::Info;
    let mut bob = config("127.0.0.2:5060", 2);
    bob.dtmf_mode = DtmfMode::Info;
    let mut p = alice_and_bob_with(alice, bob);
    let start = p.now;
    let (a, b) = answered(&mut p);
    let now = p.now;
    p.ep("alice")
        .send_dtmf(now, a, "12")
        .expect("alice sends DTMF");
    p.run_for(Duration::from_millis(15));
    let now = p.now;
    p.ep("bob").send_dtmf(now, b, "#9").expect("bob sends DTMF");
    p.run_for(Duration::from_secs(1));
    assert_eq!(
        digits(&mut p, "bob", b),
        [('1', 100, DtmfMode::Info), ('2', 100, DtmfMode::Info)]
    );
    assert_eq!(
        digits(&mut p, "alice", a),
        [('#', 100, DtmfMode::Info), ('9', 100, DtmfMode::Info)]
    );
    for (from, signals) in [("alice", ["1", "2"]), ("bob", ["#", "9"])] {
        let infos: Vec<_> = p
            .wire
            .iter()
            .filter(|w| w.from == from && w.bytes.starts_with(b"INFO "))
            .map(|w| String::from_utf8_lossy(&w.bytes).into_owned())
            .collect();
        assert_eq!(infos.len(), 2, "{from}: one INFO a digit");
        for (info, signal) in infos.iter().zip(signals) {
            assert!(info.contains("\r\nContent-Type: application/dtmf-relay\r\n"));
            assert!(
                info.ends_with(&format!("\r\n\r\nSignal={signal}\r\nDuration=100\r\n")),
                "{from}: {info}"
            );
        }
    }
    let answered_ok = p
        .wire
        .iter()
        .filter(|w| {
            status_of(&w.bytes) == Some(200)
                && header_of(&w.bytes, "CSeq").is_some_and(|c| c.ends_with(" INFO"))
        })
        .count();
    assert_eq!(answered_ok, 4, "each INFO answered 200");
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    insta::assert_snapshot!(p.transcript(start));
}

/// RFC 3261 §17.2.2: Bob's 200 to the first INFO is lost; Alice's INFO transaction
/// re-sends the request (Timer E), Bob's transaction answers it again without handing it
/// up a second time, so the digit is reported once; the next digit goes after that 200.
#[test]
fn a_lost_200_to_an_info_resends_the_info_and_the_digit_is_reported_once() {
    let (mut p, a, b) = call();
    let start = session_core::Instant::from_millis(1_000);
    let lost = std::rc::Rc::new(std::cell::Cell::new(false));
    let once = std::rc::Rc::clone(&lost);
    p.drop_sip = Some(Box::new(move |w| {
        let first = w.from == "bob"
            && header_of(&w.bytes, "CSeq").is_some_and(|c| c.ends_with(" INFO"))
            && !once.get();
        once.set(once.get() || first);
        first
    }));
    let now = p.now;
    p.ep("alice")
        .send_dtmf(now, a, "12")
        .expect("alice sends DTMF");
    p.run_for(Duration::from_secs(2));
    assert!(lost.get());
    assert_eq!(
        digits(&mut p, "bob", b),
        [('1', 100, DtmfMode::Info), ('2', 100, DtmfMode::Info)]
    );
    let infos: Vec<_> = p
        .wire
        .iter()
        .filter(|w| w.bytes.starts_with(b"INFO "))
        .collect();
    assert_eq!(infos.len(), 3, "the first INFO twice, then the second");
    assert_eq!(infos[0].bytes, infos[1].bytes);
    insta::assert_snapshot!(p.ladder(start));
}

/// `application/dtmf` (the digit alone) is a digit too, with a default duration.
#[test]
fn an_application_dtmf_info_is_a_digit() {
    let (mut p, _a, b) = call();
    let request = info(&p, 40, "Content-Type: application/dtmf\r\n", "5");
    p.inject("bob", "127.0.0.1:5060".parse().unwrap(), request.as_bytes());
    assert_eq!(status_of(&answer_to(&p, 40)), Some(200));
    assert_eq!(digits(&mut p, "bob", b), [('5', 250, DtmfMode::Info)]);
}

/// RFC 6086 §4.2.2: an INFO for an Info Package we did not announce in Recv-Info is
/// refused with 469, which carries our (empty) Recv-Info; the call goes on.
#[test]
fn an_info_for_an_info_package_we_did_not_announce_gets_469() {
    let (mut p, a, b) = call();
    let request = info(
        &p,
        41,
        "Info-Package: foo\r\nContent-Type: application/foo\r\n",
        "x",
    );
    p.inject("bob", "127.0.0.1:5060".parse().unwrap(), request.as_bytes());
    let answer = answer_to(&p, 41);
    assert_eq!(status_of(&answer), Some(469));
    assert!(String::from_utf8_lossy(&answer).contains("\r\nRecv-Info:"));
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
}

/// Any other INFO body reaches the application (`InfoReceived`) and is answered 200.
#[test]
fn an_info_with_another_body_reaches_the_application() {
    let (mut p, _a, b) = call();
    let request = info(&p, 42, "Content-Type: text/plain\r\n", "hello");
    p.inject("bob", "127.0.0.1:5060".parse().unwrap(), request.as_bytes());
    assert_eq!(status_of(&answer_to(&p, 42)), Some(200));
    assert!(p.events_of("bob", b).contains(&SessionEvent::InfoReceived {
        session: b,
        content_type: "text/plain".into(),
        body: b"hello".to_vec(),
    }));
    assert!(digits(&mut p, "bob", b).is_empty());
}
