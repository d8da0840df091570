//! Reliable provisional responses (RFC 3262) on the default state table: the callee
//! sends its 180 with `Require: 100rel` and `RSeq` and re-sends it until the caller's
//! PRACK (`RAck: RSeq CSeq INVITE`); the caller PRACKs each new one once; a PRACK naming
//! nothing of ours gets 481; an INVITE requiring 100rel with no PRACK ever is refused
//! after 64·T1. Offer/answer in them (§5): an INVITE without an offer gets the callee's
//! offer in the first reliable 18x and the caller's answer in the PRACK, both roles;
//! without 100rel the late offer goes in the 2xx and the answer in the ACK.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use std::sync::Arc;

use session_core::endpoint::{EndReason, SessionEvent, SessionId};
use session_core::state_table::CompiledTable;
use session_core::{CallOptions, ReliableProvisionals};
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

/// The body of a SIP message (after the blank line).
fn body_of(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// The SIP messages `from` sent whose CSeq ends with `method` and whose first line
/// starts with `start`.
fn sent_for(p: &Pump, from: &str, start: &str, method: &str) -> Vec<Vec<u8>> {
    sent_by(p, from, start)
        .into_iter()
        .filter(|m| header_of(m, "CSeq").is_some_and(|c| c.ends_with(method)))
        .collect()
}

/// Bob's table, with the reliable provisional response that carries his offer to an
/// INVITE without one made a 183 (early media) instead of the default table's 180.
fn offer_in_183_table() -> CompiledTable {
    let yaml = include_str!("../../state_tables/default.yaml");
    let from = "actions: [GenerateLocalSDP, { type: SendProvisional, status: 180 }]";
    let to = "actions: [GenerateLocalSDP, { type: SendProvisional, status: 183 }]";
    assert_eq!(yaml.matches(from).count(), 1, "the default table changed");
    CompiledTable::from_yaml("offer-in-183.yaml", &yaml.replace(from, to)).expect("valid table")
}

/// Alice calls Bob without an offer in her INVITE.
fn late_offer_call(p: &mut Pump) -> (SessionId, SessionId) {
    let now = p.now;
    let options = CallOptions {
        late_offer: true,
        ..CallOptions::default()
    };
    let a = p
        .ep("alice")
        .make_call(now, BOB, options)
        .expect("alice calls");
    p.run_for(Duration::from_millis(100));
    let b = p.incoming("bob").expect("bob sees the call");
    (a, b)
}

fn rtp_to(p: &Pump, name: &str) -> u64 {
    p.rtp_delivered.get(name).copied().unwrap_or(0)
}

/// RFC 3262 §5: Alice's INVITE has no offer and Bob sends reliably, so his first
/// reliable provisional response (a 183 here) carries his offer, and Alice's PRACK her
/// answer; the 200 to the PRACK and the 2xx to the INVITE carry no SDP (the exchange is
/// complete, RFC 3261 §13.2.1), nor does the ACK. Early media flows to Bob as soon as
/// Alice answered in the PRACK, and both ways once Bob answers.
#[test]
fn a_reliable_183_carries_the_offer_to_a_late_offer_invite_and_the_prack_its_answer() {
    let mut bob = config("127.0.0.2:5060", 2);
    bob.reliable_provisionals = ReliableProvisionals::WhenSupported;
    bob.table = Arc::new(offer_in_183_table());
    let mut p = alice_and_bob_with(config("127.0.0.1:5060", 1), bob);
    let start = p.now;
    let (a, b) = late_offer_call(&mut p);
    let invite = sent_by(&p, "alice", "INVITE ");
    assert_eq!(invite.len(), 1);
    assert_eq!(
        body_of(&invite[0]),
        "",
        "a late offer: no SDP in the INVITE"
    );
    let progress = sent_by(&p, "bob", "SIP/2.0 183");
    assert_eq!(progress.len(), 1);
    assert_eq!(
        header_of(&progress[0], "Require").as_deref(),
        Some("100rel")
    );
    assert!(body_of(&progress[0]).contains("m=audio"), "the 183 offers");
    let pracks = sent_by(&p, "alice", "PRACK ");
    assert_eq!(pracks.len(), 1);
    assert_eq!(
        header_of(&pracks[0], "Content-Type").as_deref(),
        Some("application/sdp")
    );
    assert!(body_of(&pracks[0]).contains("m=audio"), "the PRACK answers");
    let prack_ok = sent_for(&p, "bob", "SIP/2.0 200", "PRACK");
    assert_eq!(prack_ok.len(), 1);
    assert_eq!(body_of(&prack_ok[0]), "", "no SDP in the 200 to the PRACK");
    assert_eq!(p.state("alice", a).as_deref(), Some("EarlyMedia"));
    p.run_for(Duration::from_millis(500));
    let early = rtp_to(&p, "bob");
    assert!(early > 0, "alice's early media reaches bob");

    let now = p.now;
    p.ep("bob").accept(now, b).expect("bob answers");
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    let ok = sent_for(&p, "bob", "SIP/2.0 200", "INVITE");
    assert_eq!(ok.len(), 1);
    assert_eq!(body_of(&ok[0]), "", "the 2xx makes no new offer");
    let ack = sent_by(&p, "alice", "ACK ");
    assert_eq!(body_of(&ack[0]), "");
    assert!(
        rtp_to(&p, "bob") >= early + 40,
        "{} to bob",
        rtp_to(&p, "bob")
    );
    assert!(
        rtp_to(&p, "alice") >= 40,
        "{} to alice",
        rtp_to(&p, "alice")
    );
    let a_events = p.events_of("alice", a);
    assert!(a_events
        .iter()
        .any(|e| matches!(e, SessionEvent::EarlyMedia { .. })));
    let now = p.now;
    p.ep("alice").hangup(now, a).expect("alice hangs up");
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("bob", b).as_deref(), Some("Terminated"));
    insta::assert_snapshot!(p.ladder(start));
}

/// RFC 3262 §5 with the default table: Bob only rings, so his reliable 180 carries the
/// offer (it waits for his media session), and Alice answers in the PRACK.
#[test]
fn a_reliable_180_carries_the_offer_when_the_callee_only_rings() {
    let mut p = reliable_call();
    let start = p.now;
    let (a, b) = late_offer_call(&mut p);
    let ringing = sent_by(&p, "bob", "SIP/2.0 180");
    assert_eq!(ringing.len(), 1, "one 180, the one with the offer");
    assert!(header_of(&ringing[0], "RSeq").is_some());
    assert!(body_of(&ringing[0]).contains("m=audio"));
    let pracks = sent_by(&p, "alice", "PRACK ");
    assert!(body_of(&pracks[0]).contains("m=audio"));
    let now = p.now;
    p.ep("bob").accept(now, b).expect("bob answers");
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    assert_eq!(
        body_of(&sent_for(&p, "bob", "SIP/2.0 200", "INVITE")[0]),
        ""
    );
    assert!(rtp_to(&p, "bob") >= 40 && rtp_to(&p, "alice") >= 40);
    insta::assert_snapshot!(p.ladder(start));
}

/// RFC 3261 §13.2.1: without 100rel a late offer goes in the 2xx and its answer in the
/// ACK; Bob's unreliable 180 carries no SDP, and media flows both ways.
#[test]
fn a_late_offer_without_100rel_is_made_in_the_2xx_and_answered_in_the_ack() {
    let mut p = alice_and_bob_with(config("127.0.0.1:5060", 1), config("127.0.0.2:5060", 2));
    let start = p.now;
    let (a, b) = late_offer_call(&mut p);
    assert_eq!(body_of(&sent_by(&p, "alice", "INVITE ")[0]), "");
    let ringing = sent_by(&p, "bob", "SIP/2.0 180");
    assert_eq!(header_of(&ringing[0], "RSeq"), None);
    assert_eq!(body_of(&ringing[0]), "");
    assert!(sent_by(&p, "alice", "PRACK ").is_empty());
    let now = p.now;
    p.ep("bob").accept(now, b).expect("bob answers");
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    let ok = sent_for(&p, "bob", "SIP/2.0 200", "INVITE");
    assert!(body_of(&ok[0]).contains("m=audio"), "the 2xx offers");
    let ack = sent_by(&p, "alice", "ACK ");
    assert_eq!(ack.len(), 1);
    assert!(body_of(&ack[0]).contains("m=audio"), "the ACK answers");
    assert!(rtp_to(&p, "bob") >= 40, "{} to bob", rtp_to(&p, "bob"));
    assert!(
        rtp_to(&p, "alice") >= 40,
        "{} to alice",
        rtp_to(&p, "alice")
    );
    insta::assert_snapshot!(p.ladder(start));
}

/// An INVITE to Bob from outside, requiring 100rel, without an offer.
fn offerless_invite_requiring_100rel() -> String {
    format!(
        "INVITE {BOB} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {PEER};branch=z9hG4bKlate1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:x@127.0.0.9>;tag=caller\r\n\
         To: <{BOB}>\r\n\
         Call-ID: rel-1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:x@{PEER}>\r\n\
         Require: 100rel\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// The peer's answer to Bob's offer: PCMU, RTP at 127.0.0.9:9000.
const PEER_ANSWER: &str = "v=0\r\no=- 7 7 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\n\
                           t=0 0\r\nm=audio 9000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// A PRACK from the peer with `body` as its SDP (none when empty).
fn prack_with(to: &str, rack: &str, body: &str) -> String {
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "PRACK {BOB} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {PEER};branch=z9hG4bKlateprack\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:x@127.0.0.9>;tag=caller\r\n\
         To: {to}\r\n\
         Call-ID: rel-1\r\n\
         CSeq: 2 PRACK\r\n\
         RAck: {rack}\r\n\
         {content_type}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The peer's ACK for Bob's 2xx.
fn ack(to: &str) -> String {
    format!(
        "ACK {BOB} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {PEER};branch=z9hG4bKlateack\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:x@127.0.0.9>;tag=caller\r\n\
         To: {to}\r\n\
         Call-ID: rel-1\r\n\
         CSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// The response with `status` to `method` Bob sent the peer, the last one.
fn answer_to(p: &Pump, status: u16, method: &str) -> Vec<u8> {
    p.unrouted
        .iter()
        .rev()
        .find(|w| {
            status_of(&w.bytes) == Some(status)
                && header_of(&w.bytes, "CSeq").is_some_and(|c| c.ends_with(method))
        })
        .map(|w| w.bytes.clone())
        .unwrap_or_else(|| panic!("no {status} to {method}"))
}

/// Bob's reliable 180 to the offerless INVITE: its To and `RAck` value.
fn reliable_180_with_offer(p: &Pump) -> (String, String) {
    let ringing = answer_to(p, 180, "INVITE");
    assert_eq!(header_of(&ringing, "Require").as_deref(), Some("100rel"));
    assert_eq!(
        header_of(&ringing, "Content-Type").as_deref(),
        Some("application/sdp")
    );
    assert!(body_of(&ringing).contains("m=audio"), "the 180 offers");
    let rseq = header_of(&ringing, "RSeq").expect("an RSeq");
    let to = header_of(&ringing, "To").expect("a To");
    (to, format!("{rseq} 1 INVITE"))
}

/// The UAS side against a hand-made caller (RFC 3262 §5): an INVITE without an offer
/// requiring 100rel gets a reliable 180 with Bob's offer; the PRACK with the answer
/// gets a 200 without a body; the 2xx has no SDP; after the ACK Bob's media goes where
/// the answer in the PRACK said.
#[test]
fn an_offerless_invite_requiring_100rel_gets_the_offer_in_the_180_and_takes_the_prack_answer() {
    let mut p = alice_and_bob_with(config("127.0.0.1:5060", 1), config("127.0.0.2:5060", 2));
    p.inject(
        "bob",
        peer(),
        offerless_invite_requiring_100rel().as_bytes(),
    );
    let b = p.incoming("bob").expect("bob sees the call");
    let (to, rack) = reliable_180_with_offer(&p);
    p.inject(
        "bob",
        peer(),
        prack_with(&to, &rack, PEER_ANSWER).as_bytes(),
    );
    let prack_ok = answer_to(&p, 200, "PRACK");
    assert_eq!(header_of(&prack_ok, "Content-Length").as_deref(), Some("0"));
    let now = p.now;
    p.ep("bob").accept(now, b).expect("bob answers");
    p.run_for(Duration::from_millis(50));
    let ok = answer_to(&p, 200, "INVITE");
    assert_eq!(header_of(&ok, "Content-Length").as_deref(), Some("0"));
    p.inject("bob", peer(), ack(&to).as_bytes());
    p.run_for(Duration::from_millis(500));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    let rtp_to_peer = p
        .unrouted_to
        .iter()
        .filter(|a| **a == "127.0.0.9:9000".parse::<SocketAddr>().unwrap())
        .count();
    assert!(
        rtp_to_peer >= 20,
        "{rtp_to_peer} RTP packets to the answer's address"
    );
}

/// RFC 3262 §5: the PRACK must carry the answer to the offer in the reliable 180. One
/// without it gets its 200 (it does acknowledge the 180), the INVITE 488, and the call
/// fails as not acceptable.
#[test]
fn a_prack_without_the_answer_to_the_offer_in_the_180_ends_the_invite_with_488() {
    let mut p = alice_and_bob_with(config("127.0.0.1:5060", 1), config("127.0.0.2:5060", 2));
    p.inject(
        "bob",
        peer(),
        offerless_invite_requiring_100rel().as_bytes(),
    );
    let b = p.incoming("bob").expect("bob sees the call");
    let (to, rack) = reliable_180_with_offer(&p);
    p.inject("bob", peer(), prack_with(&to, &rack, "").as_bytes());
    answer_to(&p, 200, "PRACK");
    answer_to(&p, 488, "INVITE");
    assert!(p.events_of("bob", b).iter().any(|e| matches!(
        e,
        SessionEvent::Terminated {
            reason: EndReason::NotAcceptable,
            status: Some(488),
            ..
        }
    )));
    let before = p.unrouted.len();
    p.run_for(Duration::from_secs(5));
    let resent = p.unrouted[before..]
        .iter()
        .filter(|w| status_of(&w.bytes) == Some(180))
        .count();
    assert_eq!(resent, 0, "the 180 is not re-sent");
}

/// Bob's table with a 183 carrying his answer once his media session is ready (the
/// INVITE had the offer).
fn answer_in_183_table() -> CompiledTable {
    let yaml = include_str!("../../state_tables/default.yaml");
    let from = "    event: MediaSessionReady
    condition_updates: { MediaReady: true }";
    let to = "    event: MediaSessionReady
    actions: [GenerateLocalSDP, { type: SendProvisional, status: 183 }]
    condition_updates: { MediaReady: true }";
    assert_eq!(yaml.matches(from).count(), 1, "the default table changed");
    CompiledTable::from_yaml("answer-in-183.yaml", &yaml.replace(from, to)).expect("valid table")
}

/// RFC 3262 §5 and RFC 3261 §13.2.1, the INVITE with the offer: Bob's answer in his
/// reliable 183 is final, so his 2xx carries no SDP — in particular no new offer, which
/// Alice would ignore and leave unanswered.
#[test]
fn an_answer_in_a_reliable_183_leaves_the_2xx_without_sdp() {
    let mut bob = config("127.0.0.2:5060", 2);
    bob.reliable_provisionals = ReliableProvisionals::WhenSupported;
    bob.table = Arc::new(answer_in_183_table());
    let mut p = alice_and_bob_with(config("127.0.0.1:5060", 1), bob);
    let (a, b) = ring(&mut p);
    let progress = sent_by(&p, "bob", "SIP/2.0 183");
    assert_eq!(progress.len(), 1);
    assert!(body_of(&progress[0]).contains("m=audio"), "the 183 answers");
    assert_eq!(
        sent_by(&p, "alice", "PRACK ").len(),
        2,
        "the 180 and the 183"
    );
    let now = p.now;
    p.ep("bob").accept(now, b).expect("bob answers");
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    let ok = sent_for(&p, "bob", "SIP/2.0 200", "INVITE");
    assert_eq!(body_of(&ok[0]), "", "no SDP, and no new offer, in the 2xx");
    assert!(rtp_to(&p, "bob") >= 40 && rtp_to(&p, "alice") >= 40);
}

/// Alice calls a hand-made peer with a late offer; her INVITE.
fn late_offer_to_peer(p: &mut Pump) -> (SessionId, Vec<u8>) {
    let now = p.now;
    let options = CallOptions {
        late_offer: true,
        ..CallOptions::default()
    };
    let a = p
        .ep("alice")
        .make_call(now, "sip:peer@127.0.0.9:5060", options)
        .expect("alice calls");
    p.run_for(Duration::from_millis(50));
    let invite = p
        .unrouted
        .iter()
        .find(|w| w.bytes.starts_with(b"INVITE "))
        .expect("alice's INVITE")
        .bytes
        .clone();
    (a, invite)
}

/// The peer's response to `invite` with `status`, `extra` header lines and an SDP body.
fn peer_response(invite: &[u8], status: &str, extra: &str, sdp: &str) -> String {
    let h = |n| header_of(invite, n).expect("header");
    format!(
        "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=peer1\r\nCall-ID: {}\r\n\
         CSeq: {}\r\nContact: <sip:peer@{PEER}>\r\n{extra}Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        h("Via"),
        h("From"),
        h("To"),
        h("Call-ID"),
        h("CSeq"),
        sdp.len()
    )
}

/// An offer of G.729 only, which we do not have.
const G729_OFFER: &str = "v=0\r\no=- 5 5 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\n\
                          t=0 0\r\nm=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";

fn sent_to_peer(p: &Pump, start: &str) -> Vec<Vec<u8>> {
    p.unrouted
        .iter()
        .filter(|w| w.bytes.starts_with(start.as_bytes()))
        .map(|w| w.bytes.clone())
        .collect()
}

fn ended_not_acceptable(p: &mut Pump, a: SessionId) -> bool {
    p.events_of("alice", a).iter().any(|e| {
        matches!(
            e,
            SessionEvent::Terminated {
                reason: EndReason::NotAcceptable,
                ..
            }
        )
    })
}

/// RFC 3261 §13.2.2.4: an offer in the 2xx to our late-offer INVITE that we cannot
/// accept still gets a valid answer in the ACK (every stream refused, port 0), and then
/// a BYE at once.
#[test]
fn an_unacceptable_offer_in_the_2xx_to_a_late_offer_is_refused_in_the_ack_then_byed() {
    let mut p = Pump::new(vec![("alice", config("127.0.0.1:5060", 1))]);
    let (a, invite) = late_offer_to_peer(&mut p);
    assert_eq!(body_of(&invite), "");
    p.inject(
        "alice",
        peer(),
        peer_response(&invite, "200 OK", "", G729_OFFER).as_bytes(),
    );
    p.run_for(Duration::from_millis(100));
    let acks = sent_to_peer(&p, "ACK ");
    assert_eq!(acks.len(), 1, "the 2xx is ACKed");
    assert!(
        body_of(&acks[0]).contains("m=audio 0 RTP/AVP 18"),
        "the ACK refuses the stream: {}",
        body_of(&acks[0])
    );
    let byes = sent_to_peer(&p, "BYE ");
    assert_eq!(byes.len(), 1, "then BYE");
    let ack_at = p.unrouted.iter().position(|w| w.bytes.starts_with(b"ACK "));
    let bye_at = p.unrouted.iter().position(|w| w.bytes.starts_with(b"BYE "));
    assert!(ack_at < bye_at, "the ACK goes first");
    assert!(ended_not_acceptable(&mut p, a));
}

/// RFC 3262 §5: an offer in a reliable 183 that we cannot accept is still answered in
/// the PRACK (every stream refused); the call can have no media, so it is cancelled.
#[test]
fn an_unacceptable_offer_in_a_reliable_183_is_refused_in_the_prack_then_cancelled() {
    let mut p = Pump::new(vec![("alice", config("127.0.0.1:5060", 1))]);
    let (a, invite) = late_offer_to_peer(&mut p);
    let reliable = "Require: 100rel\r\nRSeq: 7\r\n";
    p.inject(
        "alice",
        peer(),
        peer_response(&invite, "183 Session Progress", reliable, G729_OFFER).as_bytes(),
    );
    p.run_for(Duration::from_millis(100));
    let pracks = sent_to_peer(&p, "PRACK ");
    assert_eq!(pracks.len(), 1);
    assert_eq!(header_of(&pracks[0], "RAck").as_deref(), Some("7 1 INVITE"));
    assert!(
        body_of(&pracks[0]).contains("m=audio 0 RTP/AVP 18"),
        "the PRACK refuses the stream: {}",
        body_of(&pracks[0])
    );
    assert_eq!(sent_to_peer(&p, "CANCEL ").len(), 1, "then CANCEL");
    assert!(ended_not_acceptable(&mut p, a));
}

/// Bob's table without the row that keeps an offerless INVITE's 180 until the media
/// session exists: its IncomingCall row sends the 180 at once.
fn ringing_at_once_table() -> CompiledTable {
    let yaml = include_str!("../../state_tables/default.yaml");
    let start = yaml
        .find("    event: IncomingCall\n    guards: [OfferDueInProvisional]")
        .expect("the guarded IncomingCall row");
    let row_start = yaml[..start].rfind("  - role: UAS").expect("its row");
    let row_end = row_start + yaml[row_start + 1..].find("  - role:").expect("a next row") + 1;
    let table = format!("{}{}", &yaml[..row_start], &yaml[row_end..]);
    CompiledTable::from_yaml("ringing-at-once.yaml", &table).expect("valid table")
}

/// RFC 3262 §5: on a table that rings before the media session exists, the reliable
/// 180 does not go without the offer; the one that goes, once the offer is made,
/// carries it.
#[test]
fn a_reliable_180_never_goes_without_the_offer_the_invite_lacked() {
    let mut bob = config("127.0.0.2:5060", 2);
    bob.table = Arc::new(ringing_at_once_table());
    let mut p = alice_and_bob_with(config("127.0.0.1:5060", 1), bob);
    p.inject(
        "bob",
        peer(),
        offerless_invite_requiring_100rel().as_bytes(),
    );
    p.incoming("bob").expect("bob sees the call");
    let ringing: Vec<_> = p
        .unrouted
        .iter()
        .filter(|w| status_of(&w.bytes) == Some(180))
        .collect();
    assert_eq!(ringing.len(), 1, "one 180");
    reliable_180_with_offer(&p);
}
