//! UPDATE (RFC 3311) received, on the default state table: an offer in a confirmed dialog
//! is answered in the 200 (hold included), an UPDATE without one is a refresh, an offer
//! that crosses ours gets 491, and one the session cannot take yet gets 500 with
//! `Retry-After` (§5.2).

use std::time::Duration;

use session_core::endpoint::{SessionEvent, Side};
use session_core_tests::{
    alice_and_bob, answered, dialog_ids, first_on_wire, header_of, ring, status_of, Pump,
};

const ALICE: &str = "127.0.0.1:5060";

/// An UPDATE to Bob in the dialog the first message starting with `from` names (its
/// From tag is Alice's, its To tag Bob's), with `sdp` as its offer when given.
fn update(p: &Pump, from: &[u8], cseq: u32, sdp: Option<&str>) -> String {
    let ids = dialog_ids(&first_on_wire(p, from));
    let body = sdp.unwrap_or("");
    let content_type = if sdp.is_some() {
        "Content-Type: application/sdp\r\n"
    } else {
        ""
    };
    format!(
        "UPDATE sip:ua@127.0.0.2:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {ALICE};branch=z9hG4bKupdate{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:ua@{ALICE}>;tag={}\r\n\
         To: <sip:bob@127.0.0.2:5060>;tag={}\r\n\
         Call-ID: {}\r\n\
         CSeq: {cseq} UPDATE\r\n\
         Contact: <sip:ua@{ALICE}>\r\n\
         {content_type}Content-Length: {}\r\n\r\n{body}",
        ids.from_tag,
        ids.to_tag,
        ids.call_id,
        body.len()
    )
}

fn offer(direction: &str) -> String {
    format!(
        "v=0\r\no=- 9 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 20000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a={direction}\r\n"
    )
}

/// Bob's answer to the UPDATE with CSeq `cseq`.
fn answer_to(p: &Pump, cseq: u32) -> Vec<u8> {
    let needle = format!("CSeq: {cseq} UPDATE");
    p.wire
        .iter()
        .find(|w| w.from == "bob" && String::from_utf8_lossy(&w.bytes).contains(&needle))
        .map(|w| w.bytes.clone())
        .expect("bob answers the UPDATE")
}

/// RFC 3311 §5.2: an offer in an UPDATE of a confirmed dialog is answered in its 200; a
/// sendonly offer holds us (recvonly answer, `Held` by the remote side), a sendrecv one
/// resumes.
#[test]
fn an_update_offer_in_a_confirmed_dialog_is_answered_in_its_200() {
    let mut p = alice_and_bob();
    let (_a, b) = answered(&mut p);
    let hold = update(&p, b"ACK ", 10, Some(&offer("sendonly")));
    p.inject("bob", ALICE.parse().unwrap(), hold.as_bytes());
    let answer = answer_to(&p, 10);
    assert_eq!(status_of(&answer), Some(200));
    assert!(String::from_utf8_lossy(&answer).contains("a=recvonly"));
    let resume = update(&p, b"ACK ", 11, Some(&offer("sendrecv")));
    p.inject("bob", ALICE.parse().unwrap(), resume.as_bytes());
    let answer = answer_to(&p, 11);
    assert!(String::from_utf8_lossy(&answer).contains("a=sendrecv"));
    let events = p.events_of("bob", b);
    assert!(events.contains(&SessionEvent::Held {
        session: b,
        by: Side::Remote
    }));
    assert!(events.contains(&SessionEvent::Resumed {
        session: b,
        by: Side::Remote
    }));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
}

/// An UPDATE without an offer refreshes the dialog: 200 without a body.
#[test]
fn an_update_without_an_offer_is_answered_200_without_a_body() {
    let mut p = alice_and_bob();
    let (_a, b) = answered(&mut p);
    let refresh = update(&p, b"ACK ", 12, None);
    p.inject("bob", ALICE.parse().unwrap(), refresh.as_bytes());
    let answer = answer_to(&p, 12);
    assert_eq!(status_of(&answer), Some(200));
    assert_eq!(header_of(&answer, "Content-Length").as_deref(), Some("0"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
}

/// RFC 3311 §5.2: an UPDATE offer that arrives while Bob's own re-INVITE offer is
/// outstanding gets 491, and Bob's hold completes.
#[test]
fn an_update_offer_crossing_our_reinvite_gets_491() {
    let mut p = alice_and_bob();
    let (_a, b) = answered(&mut p);
    let now = p.now;
    p.ep("bob").hold(now, b).expect("bob holds");
    let crossing = update(&p, b"ACK ", 13, Some(&offer("sendrecv")));
    p.inject("bob", ALICE.parse().unwrap(), crossing.as_bytes());
    assert_eq!(status_of(&answer_to(&p, 13)), Some(491));
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("bob", b).as_deref(), Some("OnHold"));
}

/// RFC 3311 §5.2: an offer the session cannot take yet (the call still rings) gets 500
/// with a `Retry-After`, and the call goes on ringing.
#[test]
fn an_update_offer_before_the_answer_gets_500_with_retry_after() {
    let mut p = alice_and_bob();
    let (_a, b) = ring(&mut p);
    let early = update(&p, b"SIP/2.0 180", 14, Some(&offer("sendrecv")));
    p.inject("bob", ALICE.parse().unwrap(), early.as_bytes());
    let answer = answer_to(&p, 14);
    assert_eq!(status_of(&answer), Some(500));
    assert!(header_of(&answer, "Retry-After").is_some());
    assert_eq!(p.state("bob", b).as_deref(), Some("Ringing"));
}
