//! Reliable provisional responses (RFC 3262) on the default state table: the callee
//! sends its 180 with `Require: 100rel` and `RSeq` and re-sends it until the caller's
//! PRACK (`RAck: RSeq CSeq INVITE`); the caller PRACKs each new one once; a PRACK naming
//! nothing of ours gets 481; an INVITE requiring 100rel with no PRACK ever is refused
//! after 64·T1.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use session_core::endpoint::{EndReason, SessionEvent};
use session_core::ReliableProvisionals;
use session_core_tests::{alice_and_bob_with, config, header_of, ring, status_of, Pump, BOB};

/// Alice calls Bob, who sends his provisional responses reliably whenever the caller
/// supports it (our INVITE does).
fn reliable_call() -> Pump {
    let mut bob = config("127.0.0.2:5060", 2);
    bob.reliable_provisionals = ReliableProvisionals::WhenSupported;
    alice_and_bob_with(config("127.0.0.1:5060", 1), bob)
}

fn sent_by(p: &Pump, from: &str, start: &str) -> Vec<Vec<u8>> {
    p.wire
        .iter()
        .filter(|w| w.from == from && w.bytes.starts_with(start.as_bytes()))
        .map(|w| w.bytes.clone())
        .collect()
}

/// RFC 3262 §3, §4, §7.1: the 180 carries `Require: 100rel` and an `RSeq`; Alice's
/// PRACK names it in `RAck` and is answered 200. The first PRACK is lost: Bob re-sends
/// his 180 (same `RSeq`), Alice does not PRACK it twice, and her PRACK's own
/// retransmission gets through; then the call is answered as usual.
#[test]
fn a_reliable_180_is_resent_until_its_prack_which_is_sent_once() {
    let mut p = reliable_call();
    let start = p.now;
    let dropped = Rc::new(Cell::new(false));
    let once = Rc::clone(&dropped);
    p.drop_sip = Some(Box::new(move |w| {
        let first_prack = w.bytes.starts_with(b"PRACK ") && !once.get();
        once.set(once.get() || first_prack);
        first_prack
    }));
    let (a, b) = ring(&mut p);
    p.run_for(Duration::from_secs(2));
    let ringing = sent_by(&p, "bob", "SIP/2.0 180");
    assert!(ringing.len() >= 2, "the 180 is re-sent until its PRACK");
    let rseq = header_of(&ringing[0], "RSeq").expect("an RSeq");
    assert!(ringing
        .iter()
        .all(|r| header_of(r, "RSeq").as_ref() == Some(&rseq)));
    assert_eq!(header_of(&ringing[0], "Require").as_deref(), Some("100rel"));
    let pracks = sent_by(&p, "alice", "PRACK ");
    assert_eq!(pracks.len(), 2, "one PRACK, lost once and retransmitted");
    assert_eq!(
        pracks[0], pracks[1],
        "the retransmission is the same request"
    );
    assert_eq!(
        header_of(&pracks[0], "RAck"),
        Some(format!("{rseq} 1 INVITE"))
    );
    let ok = sent_by(&p, "bob", "SIP/2.0 200");
    assert!(ok
        .iter()
        .any(|r| header_of(r, "CSeq").as_deref() == Some("2 PRACK")));
    let resent_after_prack = p
        .wire
        .iter()
        .skip_while(|w| !w.bytes.starts_with(b"SIP/2.0 200"))
        .any(|w| w.bytes.starts_with(b"SIP/2.0 180"));
    assert!(!resent_after_prack, "no 180 once the PRACK arrived");
    let now = p.now;
    p.ep("bob").accept(now, b).expect("bob answers");
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    insta::assert_snapshot!(p.ladder(start));
}

/// RFC 3262 §3, §4, §7 with nothing lost: Alice's INVITE offers `Supported: 100rel`;
/// Bob's 180 requires it and carries an `RSeq`; Alice PRACKs it once (`RAck: RSeq 1
/// INVITE`, CSeq 2), Bob answers the PRACK 200 and re-sends nothing; Alice reports
/// ringing once, and Bob's later 2xx sets the call up as usual.
#[test]
fn a_reliable_180_is_pracked_once_and_the_call_is_answered() {
    let mut p = reliable_call();
    let start = p.now;
    let (a, b) = ring(&mut p);
    p.run_for(Duration::from_secs(2));
    let invite = &sent_by(&p, "alice", "INVITE ")[0];
    assert!(header_of(invite, "Supported").is_some_and(|s| s.contains("100rel")));
    let ringing = sent_by(&p, "bob", "SIP/2.0 180");
    assert_eq!(ringing.len(), 1, "a PRACK in time: the 180 goes once");
    assert_eq!(header_of(&ringing[0], "Require").as_deref(), Some("100rel"));
    let rseq = header_of(&ringing[0], "RSeq").expect("an RSeq");
    let pracks = sent_by(&p, "alice", "PRACK ");
    assert_eq!(pracks.len(), 1);
    assert_eq!(header_of(&pracks[0], "CSeq").as_deref(), Some("2 PRACK"));
    assert_eq!(
        header_of(&pracks[0], "RAck"),
        Some(format!("{rseq} 1 INVITE"))
    );
    let prack_ok = sent_by(&p, "bob", "SIP/2.0 200");
    assert_eq!(prack_ok.len(), 1);
    assert_eq!(header_of(&prack_ok[0], "CSeq").as_deref(), Some("2 PRACK"));
    let rang = p
        .events_of("alice", a)
        .iter()
        .filter(|e| matches!(e, SessionEvent::Ringing { .. }))
        .count();
    assert_eq!(rang, 1);
    let now = p.now;
    p.ep("bob").accept(now, b).expect("bob answers");
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    assert_eq!(sent_by(&p, "alice", "ACK ").len(), 1);
    insta::assert_snapshot!(p.ladder(start));
}

/// RFC 3262 §4: "a UAC SHOULD NOT retransmit the PRACK request when it receives a
/// retransmission of the provisional response being acknowledged", and such
/// retransmissions "MUST be discarded"; the PRACK is an ordinary non-INVITE request, made
/// reliable by its own transaction (Timer E, RFC 3261 §17.1.2.2). Bob's T1 is 200 ms and
/// Alice's 500 ms, so his re-sent 180s (at 0.2, 0.6, 1.4 s) and her PRACK's own
/// retransmissions (at 0.5, 1.5 s) cannot be mistaken for one another. Her first two
/// PRACKs are lost: the 180 goes four times, the PRACK three, all three the same
/// request, none prompted by a 180; the third gets Bob's 200, his 180 stops, and the
/// call is answered.
#[test]
fn a_lost_prack_is_resent_by_its_own_transaction_and_not_for_each_resent_180() {
    let mut bob = config("127.0.0.2:5060", 2);
    bob.reliable_provisionals = ReliableProvisionals::WhenSupported;
    bob.timers.t1 = Duration::from_millis(200);
    let mut p = alice_and_bob_with(config("127.0.0.1:5060", 1), bob);
    let start = p.now;
    let lost = Rc::new(Cell::new(0));
    let count = Rc::clone(&lost);
    p.drop_sip = Some(Box::new(move |w| {
        let drop = w.bytes.starts_with(b"PRACK ") && count.get() < 2;
        count.set(count.get() + usize::from(drop));
        drop
    }));
    let (a, b) = ring(&mut p);
    p.run_for(Duration::from_secs(3));
    assert_eq!(lost.get(), 2);
    let ringing: Vec<_> = p
        .wire
        .iter()
        .filter(|w| w.from == "bob" && w.bytes.starts_with(b"SIP/2.0 180"))
        .map(|w| (w.at - start).as_millis())
        .collect();
    assert_eq!(ringing, [10, 210, 610, 1410], "T1 = 200 ms, doubling");
    let pracks: Vec<_> = p
        .wire
        .iter()
        .filter(|w| w.from == "alice" && w.bytes.starts_with(b"PRACK "))
        .collect();
    let at: Vec<_> = pracks.iter().map(|w| (w.at - start).as_millis()).collect();
    assert_eq!(at, [20, 520, 1520], "Timer E: T1 = 500 ms, doubling");
    assert!(pracks.iter().all(|w| w.bytes == pracks[0].bytes));
    let prack_ok = sent_by(&p, "bob", "SIP/2.0 200");
    assert_eq!(prack_ok.len(), 1);
    assert_eq!(header_of(&prack_ok[0], "CSeq").as_deref(), Some("2 PRACK"));
    let now = p.now;
    p.ep("bob").accept(now, b).expect("bob answers");
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    insta::assert_snapshot!(p.ladder(start));
}

/// RFC 3261 §17.2.2 for the PRACK: Bob's 200 to it is lost. His 180 stopped at the
/// PRACK all the same; Alice's PRACK transaction re-sends the request (Timer E), Bob's
/// answers it again, and the call is then answered as usual.
#[test]
fn a_lost_200_to_the_prack_gets_the_prack_resent_and_answered_again() {
    let mut p = reliable_call();
    let start = p.now;
    let dropped = Rc::new(Cell::new(false));
    let once = Rc::clone(&dropped);
    p.drop_sip = Some(Box::new(move |w| {
        let first = header_of(&w.bytes, "CSeq").is_some_and(|c| c.ends_with(" PRACK"))
            && w.bytes.starts_with(b"SIP/2.0 200")
            && !once.get();
        once.set(once.get() || first);
        first
    }));
    let (a, b) = ring(&mut p);
    p.run_for(Duration::from_secs(2));
    assert!(dropped.get());
    assert_eq!(
        sent_by(&p, "bob", "SIP/2.0 180").len(),
        1,
        "the PRACK arrived"
    );
    let pracks = sent_by(&p, "alice", "PRACK ");
    assert_eq!(pracks.len(), 2);
    assert_eq!(pracks[0], pracks[1]);
    let prack_ok = sent_by(&p, "bob", "SIP/2.0 200");
    assert_eq!(prack_ok.len(), 2);
    assert_eq!(
        prack_ok[0], prack_ok[1],
        "the same answer, from the transaction"
    );
    let now = p.now;
    p.ep("bob").accept(now, b).expect("bob answers");
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    insta::assert_snapshot!(p.ladder(start));
}

const PEER: &str = "127.0.0.9:5060";

fn peer() -> SocketAddr {
    PEER.parse().unwrap()
}

/// An INVITE to Bob from outside that requires 100rel.
fn invite_requiring_100rel() -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n\
               m=audio 9000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    format!(
        "INVITE {BOB} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {PEER};branch=z9hG4bKrel1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:x@127.0.0.9>;tag=caller\r\n\
         To: <{BOB}>\r\n\
         Call-ID: rel-1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:x@{PEER}>\r\n\
         Require: 100rel\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// A PRACK from the peer for Bob's 180 (`to` is that 180's To), with `rack`.
fn prack(to: &str, rack: &str) -> String {
    format!(
        "PRACK {BOB} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {PEER};branch=z9hG4bKprack{}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:x@127.0.0.9>;tag=caller\r\n\
         To: {to}\r\n\
         Call-ID: rel-1\r\n\
         CSeq: 2 PRACK\r\n\
         RAck: {rack}\r\n\
         Content-Length: 0\r\n\r\n",
        rack.len()
    )
}

fn answers(p: &Pump, status: u16, method: &str) -> usize {
    p.unrouted
        .iter()
        .filter(|w| {
            status_of(&w.bytes) == Some(status)
                && header_of(&w.bytes, "CSeq").is_some_and(|c| c.ends_with(method))
        })
        .count()
}

/// RFC 3262 §3: the default UAS sends reliably when the INVITE requires it (and never
/// refuses it 420 any more); a PRACK whose `RAck` names another response gets 481, the
/// right one 200, and the 180 stops.
#[test]
fn an_invite_requiring_100rel_gets_a_reliable_180_and_only_its_prack_counts() {
    let mut p = alice_and_bob_with(config("127.0.0.1:5060", 1), config("127.0.0.2:5060", 2));
    p.inject("bob", peer(), invite_requiring_100rel().as_bytes());
    let ringing = p
        .unrouted
        .iter()
        .find(|w| status_of(&w.bytes) == Some(180))
        .expect("a 180")
        .bytes
        .clone();
    assert_eq!(header_of(&ringing, "Require").as_deref(), Some("100rel"));
    let rseq = header_of(&ringing, "RSeq").expect("an RSeq");
    let to = header_of(&ringing, "To").expect("a To");
    p.inject(
        "bob",
        peer(),
        prack(&to, &format!("{rseq}9 1 INVITE")).as_bytes(),
    );
    assert_eq!(answers(&p, 481, "PRACK"), 1);
    p.inject(
        "bob",
        peer(),
        prack(&to, &format!("{rseq} 1 INVITE")).as_bytes(),
    );
    assert_eq!(answers(&p, 200, "PRACK"), 1);
    let before = p.unrouted.len();
    p.run_for(Duration::from_secs(5));
    let resent = p.unrouted[before..]
        .iter()
        .filter(|w| status_of(&w.bytes) == Some(180))
        .count();
    assert_eq!(resent, 0, "the PRACK stopped the 180");
}

/// RFC 3262 §3: without any PRACK the 180 is re-sent (T1 doubling) for 64·T1, then the
/// INVITE is refused with a 5xx and the call fails.
#[test]
fn a_reliable_180_never_pracked_ends_in_a_5xx_after_64_t1() {
    let mut p = alice_and_bob_with(config("127.0.0.1:5060", 1), config("127.0.0.2:5060", 2));
    p.inject("bob", peer(), invite_requiring_100rel().as_bytes());
    let b = p.incoming("bob").expect("bob sees the call");
    p.run_for(Duration::from_secs(40));
    let resent = p
        .unrouted
        .iter()
        .filter(|w| status_of(&w.bytes) == Some(180))
        .count();
    // 0.5, 1, 2, 4, 8, 16 s, then the last at 31.5 s: seven sends after the first.
    assert!((6..=8).contains(&(resent - 1)), "{resent} sends");
    assert!(
        answers(&p, 500, "INVITE") >= 1,
        "refused with 500 (re-sent until an ACK)"
    );
    assert!(p.events_of("bob", b).iter().any(|e| matches!(
        e,
        SessionEvent::Terminated {
            reason: EndReason::Timeout,
            ..
        }
    )));
}
