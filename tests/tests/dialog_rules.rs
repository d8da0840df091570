//! Requests that name a dialog, a subscription or a transaction they do not belong to,
//! injected into a call between two endpoints: each gets the refusal RFC 3261 and
//! RFC 6665 ask for, and the call goes on.

use std::net::SocketAddr;
use std::time::Duration;

use session_core::endpoint::{EndReason, Side};
use session_core::SessionId;
use session_core_tests::{
    alice_and_bob, answered, config, dialog_ids, first_on_wire, header_of, peer_reply, status_of,
    Pump,
};

const STRANGER: &str = "127.0.0.9:5060";

/// A confirmed call from alice to bob, and the dialog's Call-ID, alice's tag, bob's tag.
struct Call {
    p: Pump,
    alice: SessionId,
    bob: SessionId,
    call_id: String,
    alice_tag: String,
    bob_tag: String,
}

fn call() -> Call {
    let mut p = alice_and_bob();
    let (alice, bob) = answered(&mut p);
    let ids = dialog_ids(&first_on_wire(&p, b"ACK "));
    Call {
        alice,
        bob,
        call_id: ids.call_id,
        alice_tag: ids.from_tag,
        bob_tag: ids.to_tag,
        p,
    }
}

/// An in-dialog request to bob as alice would send it, with the From tag given.
fn in_dialog(c: &Call, method: &str, from_tag: &str, cseq: u32, extra: &str, body: &str) -> String {
    format!(
        "{method} sip:bob@127.0.0.2:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK{method}{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@127.0.0.1>;tag={from_tag}\r\n\
         To: <sip:bob@127.0.0.2>;tag={}\r\n\
         Call-ID: {}\r\n\
         CSeq: {cseq} {method}\r\n\
         {extra}\
         Content-Length: {}\r\n\r\n{body}",
        c.bob_tag,
        c.call_id,
        body.len()
    )
}

fn assert_up(c: &mut Call) {
    c.p.run_for(Duration::from_secs(1));
    assert_eq!(c.p.state("alice", c.alice).as_deref(), Some("Active"));
    assert_eq!(c.p.state("bob", c.bob).as_deref(), Some("Active"));
}

/// RFC 3261 §12.2.2: a request is in a dialog when Call-ID, To tag *and* From tag match
/// it; one whose From tag matches no dialog gets 481, so knowing the Call-ID and our tag
/// is not enough to end a call.
#[test]
fn bye_with_a_wrong_from_tag_is_answered_481_and_the_call_survives() {
    let mut c = call();
    let from: SocketAddr = STRANGER.parse().unwrap();
    let forged = in_dialog(&c, "BYE", "intruder", 90, "", "");
    c.p.inject("bob", from, forged.as_bytes());
    let answer = &c.p.unrouted.last().expect("an answer").bytes;
    assert_eq!(
        status_of(answer),
        Some(481),
        "{}",
        String::from_utf8_lossy(answer)
    );
    assert_up(&mut c);
    let bye = in_dialog(&c, "BYE", &c.alice_tag.clone(), 91, "", "");
    c.p.inject("bob", from, bye.as_bytes());
    let answer = &c.p.unrouted.last().expect("an answer").bytes;
    assert_eq!(
        status_of(answer),
        Some(200),
        "{}",
        String::from_utf8_lossy(answer)
    );
    c.p.run_for(Duration::from_secs(1));
    assert_ne!(c.p.state("bob", c.bob).as_deref(), Some("Active"));
}

/// RFC 6665 §4.1.3, RFC 3515 §2.4.4: a NOTIFY reports on a subscription its receiver
/// created (for `refer`, by sending REFER); one that matches none gets 481. A 2xx sipfrag
/// when we never transferred must not end the call.
#[test]
fn notify_without_our_refer_is_answered_481_and_the_call_survives() {
    let mut c = call();
    let from: SocketAddr = STRANGER.parse().unwrap();
    let notify = in_dialog(
        &c,
        "NOTIFY",
        &c.alice_tag.clone(),
        90,
        "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\n\
         Content-Type: message/sipfrag\r\n",
        "SIP/2.0 200 OK\r\n",
    );
    c.p.inject("bob", from, notify.as_bytes());
    let answer = &c.p.unrouted.last().expect("an answer").bytes;
    assert_eq!(
        status_of(answer),
        Some(481),
        "{}",
        String::from_utf8_lossy(answer)
    );
    assert!(
        !c.p.wire.iter().any(|w| w.bytes.starts_with(b"BYE ")),
        "no BYE"
    );
    assert_up(&mut c);
}

/// The other half of the rule: a NOTIFY on the subscription our REFER created (`Event:
/// refer;id=` the REFER's CSeq) is accepted, and its 2xx sipfrag ends the transferred call.
#[test]
fn notify_for_our_refer_is_accepted_and_a_2xx_sipfrag_ends_the_call() {
    let mut c = call();
    let now = c.p.now;
    c.p.ep("bob")
        .transfer(now, c.bob, "sip:carol@127.0.0.3:5060")
        .unwrap();
    c.p.run_for(Duration::from_millis(100));
    let refer =
        &c.p.wire
            .iter()
            .find(|w| w.bytes.starts_with(b"REFER "))
            .expect("REFER")
            .bytes;
    let cseq = header_of(refer, "CSeq").unwrap();
    let refer_cseq = cseq.split_whitespace().next().unwrap().to_owned();
    let from: SocketAddr = STRANGER.parse().unwrap();
    let notify = in_dialog(
        &c,
        "NOTIFY",
        &c.alice_tag.clone(),
        90,
        &format!(
            "Event: refer;id={refer_cseq}\r\nSubscription-State: terminated;reason=noresource\r\n\
             Content-Type: message/sipfrag\r\n"
        ),
        "SIP/2.0 200 OK\r\n",
    );
    c.p.inject("bob", from, notify.as_bytes());
    let answer = &c.p.unrouted.last().expect("an answer").bytes;
    assert_eq!(
        status_of(answer),
        Some(200),
        "{}",
        String::from_utf8_lossy(answer)
    );
    c.p.run_for(Duration::from_secs(1));
    assert!(c.p.wire.iter().any(|w| w.bytes.starts_with(b"BYE ")), "BYE");
}

/// A re-INVITE that lost its To tag on the way (a damaged datagram) still names its
/// dialog by Call-ID and the peer's own From tag: it is no new call. It gets 400, no
/// phantom incoming call rings on the same Call-ID, and the call goes on (a 481 would
/// end it, RFC 5057 §5.1). Both ends are tried: bob took the call, alice placed it.
#[test]
fn re_invite_that_lost_its_to_tag_is_answered_400_and_rings_no_new_call() {
    let mut c = call();
    let from: SocketAddr = STRANGER.parse().unwrap();
    let to_bob = in_dialog(
        &c,
        "INVITE",
        &c.alice_tag.clone(),
        90,
        "Contact: <sip:alice@127.0.0.9:5060>\r\n",
        "",
    )
    .replace(&format!(";tag={}", c.bob_tag), "");
    let to_alice = to_bob
        .replace("sip:bob@127.0.0.2:5060 SIP", "sip:alice@127.0.0.1:5060 SIP")
        .replace(
            &format!(";tag={}", c.alice_tag),
            &format!(";tag={}", c.bob_tag),
        )
        .replace("INVITE90", "INVITE91");
    for (name, request) in [("bob", to_bob), ("alice", to_alice)] {
        c.p.inject(name, from, request.as_bytes());
        let answer = &c.p.unrouted.last().expect("an answer").bytes;
        assert_eq!(
            status_of(answer),
            Some(400),
            "{name}: {}",
            String::from_utf8_lossy(answer)
        );
        assert_eq!(c.p.ep(name).sessions().count(), 1, "{name}: one call");
    }
    assert!(
        !c.p.wire.iter().any(|w| w.bytes.starts_with(b"BYE ")),
        "no BYE"
    );
    assert_up(&mut c);
}

fn invite(branch: &str) -> String {
    format!(
        "INVITE sip:bob@127.0.0.2:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.9:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:x@127.0.0.9>;tag=merged1\r\n\
         To: <sip:bob@127.0.0.2>\r\n\
         Call-ID: merged@127.0.0.9\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:x@127.0.0.9:5060>\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// [`invite`]'s text with a PCMU offer from port 30000 as its body.
fn with_offer(invite: &str) -> String {
    let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n\
                 m=audio 30000 RTP/AVP 0\r\na=sendrecv\r\n";
    let length = format!(
        "Content-Type: application/sdp\r\nContent-Length: {}\r\n",
        offer.len()
    );
    invite.replace("Content-Length: 0\r\n", &length) + offer
}

/// The first BYE bob sent to the peer outside the pump.
fn bye_to_peer(p: &Pump) -> Vec<u8> {
    p.unrouted
        .iter()
        .find(|w| w.bytes.starts_with(b"BYE "))
        .map(|w| w.bytes.clone())
        .expect("a BYE to the peer")
}

/// RFC 3261 §8.2.2.2: a request without a To tag whose From tag, Call-ID and CSeq match
/// a request in progress, but which is not in its transaction (another Via branch: it
/// came by another path), is a merged request and gets 482; there is one call.
#[test]
fn merged_invite_by_a_second_path_is_answered_482() {
    let mut p = Pump::new(vec![("bob", config("127.0.0.2:5060", 2))]);
    let from: SocketAddr = STRANGER.parse().unwrap();
    p.inject("bob", from, invite("z9hG4bKpath1").as_bytes());
    p.inject("bob", from, invite("z9hG4bKpath2").as_bytes());
    let to_second = p
        .unrouted
        .iter()
        .filter(|w| header_of(&w.bytes, "Via").is_some_and(|v| v.contains("path2")))
        .filter_map(|w| status_of(&w.bytes))
        .collect::<Vec<_>>();
    assert_eq!(to_second, [482]);
    assert_eq!(p.ep("bob").sessions().count(), 1, "one call");
}

/// RFC 3261 §12.1.1 and §12.2.1.1: a dialog with a peer whose INVITE had no From tag (an
/// RFC 2543 peer, or a tag lost on the way) has an empty remote tag, and our requests in
/// it carry the peer's To without a `tag` parameter. An empty `;tag=` is not a token, so
/// the peer's parser would refuse the BYE and the call could never be ended.
#[test]
fn bye_to_a_peer_whose_invite_had_no_from_tag_carries_no_empty_tag() {
    let mut p = Pump::new(vec![("bob", config("127.0.0.2:5060", 2))]);
    let from: SocketAddr = STRANGER.parse().unwrap();
    let untagged = with_offer(&invite("z9hG4bKnotag").replace(";tag=merged1", ""));
    p.inject("bob", from, untagged.as_bytes());
    let session = p.ep("bob").sessions().next().expect("a session").id;
    let now = p.now;
    p.ep("bob").accept(now, session).expect("accept");
    p.run_for(Duration::from_millis(100));
    let ok = p
        .unrouted
        .iter()
        .find(|w| status_of(&w.bytes) == Some(200))
        .expect("a 200");
    let to = header_of(&ok.bytes, "To").expect("To");
    let ack = invite("z9hG4bKnotagack")
        .replace(";tag=merged1", "")
        .replacen("INVITE sip:", "ACK sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
        .replace("To: <sip:bob@127.0.0.2>", &format!("To: {to}"));
    p.inject("bob", from, ack.as_bytes());
    let now = p.now;
    p.ep("bob").hangup(now, session).expect("hang up");
    p.run_for(Duration::from_millis(100));
    let bye = bye_to_peer(&p);
    let message = session_core::sip::Message::parse(&bye).expect("the BYE parses");
    assert_eq!(message.to().tag(), None, "no tag on To");
    assert!(!String::from_utf8_lossy(&bye).contains("tag=\r\n"));
}

/// Bob (alone in the pump) takes `invite` from the stranger and accepts it.
fn accepted(invite: &str) -> (Pump, SessionId) {
    let mut p = Pump::new(vec![("bob", config("127.0.0.2:5060", 2))]);
    let from: SocketAddr = STRANGER.parse().unwrap();
    p.inject("bob", from, invite.as_bytes());
    let session = p.ep("bob").sessions().next().expect("a session").id;
    let now = p.now;
    p.ep("bob").accept(now, session).expect("accept");
    p.run_for(Duration::from_millis(100));
    (p, session)
}

/// The Request-URI of the BYE bob sends when he hangs up a call he accepted from
/// `invite`. No ACK comes, so the BYE waits for the 2xx's retransmissions to give up
/// (64·T1).
fn bye_request_uri_after(invite: &str) -> String {
    let (mut p, session) = accepted(invite);
    let now = p.now;
    p.ep("bob").hangup(now, session).expect("hang up");
    p.run_for(Duration::from_secs(40));
    let bye = bye_to_peer(&p);
    let message = session_core::sip::Message::parse(&bye).expect("the BYE parses");
    message.request_uri().expect("a Request-URI").raw.to_owned()
}

/// RFC 3261 §12.1.1: the remote target is the INVITE's Contact URI. An INVITE whose
/// Contact is missing or unusable (here: none, and a From whose `tag` was mangled into
/// another parameter) leaves the From URI as the target; the BYE's Request-URI must be
/// that URI, not the From header's whole name-addr with its parameters, which no parser
/// takes as a Request-URI (found by the simulator's sweep, a corrupted INVITE).
#[test]
fn bye_to_a_peer_whose_invite_had_no_contact_goes_to_its_from_uri() {
    let no_contact = with_offer(
        &invite("z9hG4bKnocontact")
            .replace(";tag=merged1", ";ta3=merged1")
            .replace("Contact: <sip:x@127.0.0.9:5060>\r\n", ""),
    );
    assert_eq!(bye_request_uri_after(&no_contact), "sip:x@127.0.0.9");
}

/// RFC 3261 §19.1.5: a Request-URI carries no header component, so a Contact with one
/// (here a damaged byte: `127.0.0?9`) is no remote target; the BYE goes to the From URI,
/// as without a Contact, and its request line parses.
#[test]
fn a_contact_with_a_header_component_is_not_taken_as_the_remote_target() {
    let damaged = with_offer(&invite("z9hG4bKdamagedcontact").replace(
        "Contact: <sip:x@127.0.0.9:5060>",
        "Contact: <sip:x@127.0.0?9:5060>",
    ));
    assert_eq!(bye_request_uri_after(&damaged), "sip:x@127.0.0.9");
}

/// RFC 3261 §13.3.1.4 and §18.2.2: until the ACK, our 2xx is re-sent where its first copy
/// went, by the INVITE's Via, not to the Contact, which may name another host (the
/// simulator's sweep found the retransmissions going to a Contact damaged on its way,
/// so the caller never got the 2xx and the call was lost).
#[test]
fn a_2xx_is_retransmitted_by_the_via_not_to_the_contact() {
    let elsewhere = with_offer(&invite("z9hG4bKelsewhere").replace(
        "Contact: <sip:x@127.0.0.9:5060>",
        "Contact: <sip:x@127.0.0.77:5070>",
    ));
    let (mut p, _) = accepted(&elsewhere);
    p.run_for(Duration::from_secs(3));
    let to_of_200s: Vec<String> = p
        .unrouted
        .iter()
        .zip(&p.unrouted_to)
        .filter(|(w, _)| status_of(&w.bytes) == Some(200))
        .map(|(_, to)| to.to_string())
        .collect();
    // Sent at once, then 0.5 s (T1) and 1.5 s (T1 + 2·T1) after it; the next is due at 3.5 s.
    assert_eq!(to_of_200s, [STRANGER; 3]);
}

/// RFC 3261 §12.2.1.2, RFC 5057 §5.1: a 481 to our re-INVITE says the peer no longer knows
/// the dialog. It can also come from a peer that never parsed our request as belonging to
/// it (damaged on its way), while its side of the call is still up; so the call ends with
/// our BYE, not silently, and neither side is left in a call the other has forgotten.
#[test]
fn a_481_to_our_re_invite_ends_the_call_with_a_bye() {
    let mut c = call();
    c.p.drop_sip = Some(Box::new(|w| {
        w.from == "alice" && w.bytes.starts_with(b"INVITE ")
    }));
    let now = c.p.now;
    c.p.ep("alice").hold(now, c.alice).unwrap();
    c.p.drain();
    let reinvite = c.p.wire.last().expect("the re-INVITE").bytes.clone();
    assert!(reinvite.starts_with(b"INVITE "));
    c.p.drop_sip = None;

    // Bob's answer as a peer that lost the dialog would write it.
    let answer = peer_reply(&reinvite, 481, &[], None);
    let bob_addr = c.p.ep("bob").config().sip_addr;
    c.p.inject("alice", bob_addr, &answer);
    c.p.run_for(Duration::from_secs(2));

    let byes: Vec<_> =
        c.p.wire
            .iter()
            .filter(|w| w.bytes.starts_with(b"BYE "))
            .collect();
    assert_eq!(byes.len(), 1, "one BYE");
    assert_eq!(byes[0].from, "alice");
    assert!(
        c.p.wire.iter().any(|w| w.from == "bob"
            && status_of(&w.bytes) == Some(200)
            && header_of(&w.bytes, "CSeq").is_some_and(|s| s.ends_with("BYE"))),
        "bob answers the BYE"
    );
    assert_eq!(
        c.p.end_reason("alice", c.alice),
        Some(session_core::endpoint::EndReason::DialogGone)
    );
    assert_ne!(c.p.state("bob", c.bob).as_deref(), Some("Active"));
}

/// A BYE that comes before the ACK ends the call (RFC 3261 §15.1.2) and the 2xx's
/// retransmissions with it: the BYE names the dialog our 2xx made, so the caller had it.
#[test]
fn a_bye_before_the_ack_stops_the_2xx_retransmissions() {
    let (mut p, session) = accepted(&with_offer(&invite("z9hG4bKbyefirst")));
    let from: SocketAddr = STRANGER.parse().unwrap();
    let ok = p
        .unrouted
        .iter()
        .find(|w| status_of(&w.bytes) == Some(200))
        .expect("the 200")
        .bytes
        .clone();
    let to = header_of(&ok, "To").expect("To");
    let bye = invite("z9hG4bKbyefirstbye")
        .replacen("INVITE sip:", "BYE sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 2 BYE")
        .replace("To: <sip:bob@127.0.0.2>", &format!("To: {to}"));
    p.inject("bob", from, bye.as_bytes());
    let oks_to_invite = |p: &Pump| {
        p.unrouted
            .iter()
            .filter(|w| status_of(&w.bytes) == Some(200))
            .filter(|w| header_of(&w.bytes, "CSeq").is_some_and(|c| c.ends_with("INVITE")))
            .count()
    };
    let before = oks_to_invite(&p);
    p.run_for(Duration::from_secs(10));
    assert_eq!(oks_to_invite(&p), before, "no 2xx re-sent after the BYE");
    let bye_answered = p.unrouted.iter().any(|w| {
        status_of(&w.bytes) == Some(200) && header_of(&w.bytes, "CSeq").as_deref() == Some("2 BYE")
    });
    assert!(bye_answered, "the BYE is answered 200");
    assert_eq!(
        p.end_reason("bob", session),
        Some(EndReason::HungUp { by: Side::Remote })
    );
}
