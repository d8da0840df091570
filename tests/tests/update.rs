//! UPDATE (RFC 3311) on the default state table. Received: an offer in a confirmed dialog
//! is answered in the 200 (hold included), an UPDATE without one is a refresh, an offer
//! that crosses ours gets 491, and one the session cannot take yet gets 500 with
//! `Retry-After` (§5.2). Sent (`Endpoint::update`): our offer answered in the 200, glare
//! settled by 491 and the back-off, one offer at a time.

use std::time::Duration;

use session_core::endpoint::{SessionEvent, Side};
use session_core_tests::{
    alice_and_bob, answered, dialog_ids, first_on_wire, header_of, peer_reply, ring, status_of,
    Pump,
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

/// Alice's messages starting with `start`, in order.
fn from_alice(p: &Pump, start: &str) -> Vec<Vec<u8>> {
    p.wire
        .iter()
        .filter(|w| w.from == "alice" && w.bytes.starts_with(start.as_bytes()))
        .map(|w| w.bytes.clone())
        .collect()
}

fn body_of(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// The `o=` line's session version.
fn sdp_version(bytes: &[u8]) -> Option<u64> {
    let body = body_of(bytes);
    let origin = body.lines().find(|l| l.starts_with("o="))?;
    origin.split_whitespace().nth(2)?.parse().ok()
}

/// RFC 3311 §5.1, §5.3: Alice offers the confirmed session again by UPDATE; Bob answers
/// in the 200 (no ACK follows). Nothing changed, so the offer keeps the version of
/// Alice's last description (RFC 3264 §8), and the call and its media go on as they were.
#[test]
fn our_update_offer_in_a_confirmed_dialog_is_answered_in_its_200() {
    let mut p = alice_and_bob();
    let start = p.now;
    let (a, b) = answered(&mut p);
    let before = sdp_version(&first_on_wire(&p, b"INVITE ")).expect("the INVITE's offer");
    let now = p.now;
    p.ep("alice").update(now, a).expect("alice updates");
    p.run_for(Duration::from_secs(1));
    let updates = from_alice(&p, "UPDATE ");
    assert_eq!(updates.len(), 1);
    assert_eq!(
        header_of(&updates[0], "Content-Type").as_deref(),
        Some("application/sdp")
    );
    assert_eq!(sdp_version(&updates[0]), Some(before));
    let cseq = header_of(&updates[0], "CSeq").expect("CSeq");
    let answer = p
        .wire
        .iter()
        .find(|w| w.from == "bob" && header_of(&w.bytes, "CSeq").as_deref() == Some(&cseq))
        .expect("bob answers")
        .bytes
        .clone();
    assert_eq!(status_of(&answer), Some(200));
    assert!(body_of(&answer).contains("a=sendrecv"));
    assert!(from_alice(&p, "ACK ").len() == 1, "no ACK for an UPDATE");
    let rtp_before = p.rtp_delivered.get("bob").copied().unwrap_or(0);
    p.run_for(Duration::from_secs(1));
    assert!(p.rtp_delivered.get("bob").copied().unwrap_or(0) > rtp_before + 20);
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    insta::assert_snapshot!(p.ladder(start));
}

/// RFC 3311 §5.2, RFC 3261 §14.1: both sides offer by UPDATE at once; each refuses the
/// other's with 491, each retries after its random back-off (Bob, who does not own the
/// Call-ID, within 2 s; Alice after 2.1–4 s), and both offers are then answered.
#[test]
fn crossing_updates_get_491_both_ways_then_both_are_answered() {
    let mut p = alice_and_bob();
    let start = p.now;
    let (a, b) = answered(&mut p);
    let now = p.now;
    p.ep("alice").update(now, a).expect("alice updates");
    p.ep("bob").update(now, b).expect("bob updates");
    p.run_for(Duration::from_secs(6));
    let statuses = |from: &str| -> Vec<u16> {
        p.wire
            .iter()
            .filter(|w| w.from == from)
            .filter(|w| header_of(&w.bytes, "CSeq").is_some_and(|c| c.ends_with("UPDATE")))
            .filter_map(|w| status_of(&w.bytes))
            .collect()
    };
    assert_eq!(statuses("alice"), [491, 200]);
    assert_eq!(statuses("bob"), [491, 200]);
    assert_eq!(from_alice(&p, "UPDATE ").len(), 2);
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    insta::assert_snapshot!(p.ladder(start));
}

/// While an offer of ours is outstanding, no second one may be made (RFC 3264 §4): the
/// second command is refused, and only one UPDATE goes out.
#[test]
fn a_second_update_while_the_first_is_unanswered_is_refused() {
    let mut p = alice_and_bob();
    let (a, _b) = answered(&mut p);
    let now = p.now;
    p.ep("alice").update(now, a).expect("alice updates");
    assert!(p.ep("alice").update(now, a).is_err());
    p.run_for(Duration::from_secs(1));
    assert_eq!(from_alice(&p, "UPDATE ").len(), 1);
    let now = p.now;
    p.ep("alice")
        .update(now, a)
        .expect("answered: alice may offer again");
}

const PEER: &str = "127.0.0.9:5060";

/// A hand-written answer from the peer to `request`: its Via, From, Call-ID and CSeq,
/// its To tagged `peer`, our Contact, and `sdp` as the body when given.
fn peer_answer(request: &[u8], status: u16, extra: &[&str], sdp: Option<&str>) -> Vec<u8> {
    let contact = format!("Contact: <sip:bob@{PEER}>");
    let headers: Vec<&str> = [
        contact.as_str(),
        "Allow: INVITE, ACK, BYE, CANCEL, PRACK, UPDATE",
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .collect();
    peer_reply(request, status, &headers, sdp)
}

fn peer_sdp(version: u32, direction: &str) -> String {
    format!(
        "v=0\r\no=- 7 {version} IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n\
         m=audio 9000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={direction}\r\n"
    )
}

/// The last request Alice sent the peer starting with `start`.
fn to_peer(p: &Pump, start: &str) -> Vec<u8> {
    p.unrouted
        .iter()
        .rev()
        .find(|w| w.bytes.starts_with(start.as_bytes()))
        .map(|w| w.bytes.clone())
        .unwrap_or_else(|| panic!("no {start}to the peer"))
}

/// Alice calls the peer, which answers her offer in a reliable 183 that she PRACKs: the
/// INVITE's offer/answer exchange is over while the dialog is still early.
fn early_dialog_with_the_peer() -> (Pump, session_core::SessionId) {
    let mut p = alice_and_bob();
    let now = p.now;
    let a = p
        .ep("alice")
        .make_call(now, &format!("sip:bob@{PEER}"), Default::default())
        .expect("alice calls");
    p.run_for(Duration::from_millis(50));
    let invite = to_peer(&p, "INVITE ");
    let peer = PEER.parse().unwrap();
    let progress = peer_answer(
        &invite,
        183,
        &["Require: 100rel", "RSeq: 1"],
        Some(&peer_sdp(1, "sendrecv")),
    );
    p.inject("alice", peer, &progress);
    let prack = to_peer(&p, "PRACK ");
    p.inject("alice", peer, &peer_answer(&prack, 200, &[], None));
    assert_eq!(p.state("alice", a).as_deref(), Some("EarlyMedia"));
    (p, a)
}

/// The peer's in-dialog request to Alice in the early dialog of her `invite`.
fn peer_request(invite: &[u8], method: &str, cseq: u32, sdp: Option<&str>) -> Vec<u8> {
    let ids = dialog_ids(invite);
    let (content, body) = match sdp {
        Some(sdp) => ("Content-Type: application/sdp\r\n", sdp),
        None => ("", ""),
    };
    format!(
        "{method} sip:ua@{ALICE} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {PEER};branch=z9hG4bKpeer{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:bob@{PEER}>;tag=peer\r\n\
         To: <sip:ua@{ALICE}>;tag={}\r\n\
         Call-ID: {}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:bob@{PEER}>\r\n\
         {content}Content-Length: {}\r\n\r\n{body}",
        ids.from_tag,
        ids.call_id,
        body.len()
    )
    .into_bytes()
}

/// RFC 3311 §5.1, §5.2: once the INVITE's offer was answered in a reliable 183, the
/// callee may offer by UPDATE before answering; Alice answers in the 200 (a sendonly
/// offer gets recvonly) and stays in early media. Her own UPDATE goes the other way and
/// takes the peer's answer; then the 200 to the INVITE, without SDP, confirms the call.
#[test]
fn updates_in_an_early_dialog_both_ways_once_the_invites_exchange_is_over() {
    let start = session_core::Instant::from_millis(1_000);
    let (mut p, a) = early_dialog_with_the_peer();
    let invite = to_peer(&p, "INVITE ");
    let peer = PEER.parse().unwrap();

    let update = peer_request(&invite, "UPDATE", 1, Some(&peer_sdp(2, "sendonly")));
    p.inject("alice", peer, &update);
    let answer = p.unrouted.last().expect("alice answers").bytes.clone();
    assert_eq!(status_of(&answer), Some(200));
    assert!(
        body_of(&answer).contains("a=recvonly"),
        "{}",
        body_of(&answer)
    );
    assert_eq!(p.state("alice", a).as_deref(), Some("EarlyMedia"));

    let now = p.now;
    p.ep("alice")
        .update(now, a)
        .expect("alice updates in the early dialog");
    p.run_for(Duration::from_millis(10));
    let ours = to_peer(&p, "UPDATE ");
    assert!(body_of(&ours).starts_with("v=0"));
    p.inject(
        "alice",
        peer,
        &peer_answer(&ours, 200, &[], Some(&peer_sdp(3, "sendrecv"))),
    );

    p.inject("alice", peer, &peer_answer(&invite, 200, &[], None));
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert!(to_peer(&p, "ACK ").starts_with(b"ACK "));
    insta::assert_snapshot!(p.peer_ladder(start));
}

/// RFC 3311 §5.2: while Alice's own early UPDATE offer is outstanding, the peer's
/// crossing one gets 491.
#[test]
fn an_early_update_crossing_ours_gets_491() {
    let (mut p, a) = early_dialog_with_the_peer();
    let invite = to_peer(&p, "INVITE ");
    let now = p.now;
    p.ep("alice").update(now, a).expect("alice updates");
    p.run_for(Duration::from_millis(10));
    let update = peer_request(&invite, "UPDATE", 1, Some(&peer_sdp(2, "sendrecv")));
    p.inject("alice", PEER.parse().unwrap(), &update);
    assert_eq!(status_of(&p.unrouted.last().unwrap().bytes), Some(491));
}

/// RFC 5057 §5.1: a 481 to our UPDATE says the peer no longer knows the dialog; as for a
/// re-INVITE, the call ends with our BYE (in case it was our request that got lost on
/// its way and the peer is still there).
#[test]
fn a_481_to_our_update_ends_the_call_with_a_bye() {
    let mut p = alice_and_bob();
    let (a, b) = answered(&mut p);
    p.drop_sip = Some(Box::new(|w| w.bytes.starts_with(b"UPDATE ")));
    let now = p.now;
    p.ep("alice").update(now, a).expect("alice updates");
    p.drain();
    p.drop_sip = None;
    let ours = from_alice(&p, "UPDATE ").pop().expect("the UPDATE");
    let refusal = peer_answer(&ours, 481, &[], None);
    let bob = p.ep("bob").config().sip_addr;
    p.inject("alice", bob, &refusal);
    p.run_for(Duration::from_secs(1));
    assert_eq!(from_alice(&p, "BYE ").len(), 1);
    assert_eq!(
        p.end_reason("alice", a),
        Some(session_core::endpoint::EndReason::DialogGone)
    );
    assert_ne!(p.state("bob", b).as_deref(), Some("Active"));
}

/// An answer to our UPDATE that we cannot use (here: no codec of our offer in it) must
/// not cost the established call: the session goes on as it was (RFC 3264 §8), media
/// keeps flowing, and a later offer is possible.
#[test]
fn an_unusable_answer_to_our_update_leaves_the_call_as_it_was() {
    let mut p = alice_and_bob();
    let (a, b) = answered(&mut p);
    p.drop_sip = Some(Box::new(|w| w.bytes.starts_with(b"UPDATE ")));
    let now = p.now;
    p.ep("alice").update(now, a).expect("alice updates");
    p.drain();
    p.drop_sip = None;
    let ours = from_alice(&p, "UPDATE ").pop().expect("the UPDATE");
    let unusable = "v=0\r\no=- 7 8 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n\
                    m=audio 20000 RTP/AVP 99\r\na=rtpmap:99 opus/48000/2\r\n";
    let answer = peer_answer(&ours, 200, &[], Some(unusable));
    let bob = p.ep("bob").config().sip_addr;
    p.inject("alice", bob, &answer);
    let rtp_before = p.rtp_delivered.get("bob").copied().unwrap_or(0);
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert!(from_alice(&p, "BYE ").is_empty());
    assert!(p.rtp_delivered.get("bob").copied().unwrap_or(0) > rtp_before + 20);
    let now = p.now;
    p.ep("alice")
        .hold(now, a)
        .expect("a later offer is possible");
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("OnHold"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
}
