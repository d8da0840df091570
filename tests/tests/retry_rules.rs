//! Refusals that RFC 3261 pairs with `Retry-After`, and the INVITE whose `Expires`
//! passes while it rings: each checked between endpoints back to back, on the wire they
//! send.

use std::net::SocketAddr;
use std::time::Duration;

use session_core::endpoint::{EndReason, MediaRequest, Output, SessionEvent, SessionId};
use session_core::{Config, Endpoint, MediaInput};
use session_core_tests::{
    alice_and_bob, config, dialog_ids, first_on_wire, header_of, ring, status_of, Pump,
};

const STRANGER: &str = "127.0.0.9:5060";

/// A call from alice to bob that bob lets ring: the Call-ID, alice's tag and bob's tag
/// of the early dialog, read from bob's 180.
struct Ringing {
    p: Pump,
    alice: SessionId,
    bob: SessionId,
    call_id: String,
    alice_tag: String,
    bob_tag: String,
}

fn ringing() -> Ringing {
    let mut p = alice_and_bob();
    let (alice, bob) = ring(&mut p);
    let ids = dialog_ids(&first_on_wire(&p, b"SIP/2.0 180"));
    Ringing {
        alice,
        bob,
        call_id: ids.call_id,
        alice_tag: ids.from_tag,
        bob_tag: ids.to_tag,
        p,
    }
}

/// A re-INVITE on the early dialog, without SDP, as `from_tag`'s side would send it to
/// the side whose tag is `to_tag`.
fn reinvite(c: &Ringing, from_tag: &str, to_tag: &str, cseq: u32) -> String {
    format!(
        "INVITE sip:ua@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {STRANGER};branch=z9hG4bKre{cseq}{from_tag}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:peer@127.0.0.9>;tag={from_tag}\r\n\
         To: <sip:ua@127.0.0.1>;tag={to_tag}\r\n\
         Call-ID: {}\r\n\
         CSeq: {cseq} INVITE\r\n\
         Contact: <sip:peer@{STRANGER}>\r\n\
         Content-Length: 0\r\n\r\n",
        c.call_id
    )
}

/// The last answer an injected request got: its status and its `Retry-After` seconds.
fn last_answer(p: &Pump) -> (Option<u16>, Option<u32>) {
    let answer = &p.unrouted.last().expect("an answer").bytes;
    let retry_after = header_of(answer, "Retry-After").map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("Retry-After is delta-seconds: {v}"))
    });
    (status_of(answer), retry_after)
}

/// RFC 3261 §14.2: an INVITE that arrives on a dialog while an INVITE is still in
/// progress there (here our own, unanswered INVITE) is refused with 500, and the 500
/// "MUST include a Retry-After header field with a randomly chosen value of between 0
/// and 10 seconds"; the call goes on.
#[test]
fn reinvite_while_our_invite_is_unanswered_gets_500_with_retry_after_up_to_10_s() {
    let mut c = ringing();
    let from: SocketAddr = STRANGER.parse().unwrap();
    let request = reinvite(&c, &c.bob_tag.clone(), &c.alice_tag.clone(), 2);
    c.p.inject("alice", from, request.as_bytes());
    let (status, retry_after) = last_answer(&c.p);
    assert_eq!(status, Some(500));
    let retry_after = retry_after.expect("Retry-After on the 500");
    assert!(retry_after <= 10, "Retry-After {retry_after} is above 10 s");
    assert_eq!(c.p.state("alice", c.alice).as_deref(), Some("Ringing"));
}

/// RFC 3261 §14.2, the UAS half: a second INVITE on the dialog before we sent the final
/// response to the first (the call still rings here) gets 500 with `Retry-After`
/// (0–10 s), and the first INVITE still rings.
#[test]
fn reinvite_while_the_peers_invite_is_unanswered_gets_500_with_retry_after_up_to_10_s() {
    let mut c = ringing();
    let from: SocketAddr = STRANGER.parse().unwrap();
    let request = reinvite(&c, &c.alice_tag.clone(), &c.bob_tag.clone(), 2);
    c.p.inject("bob", from, request.as_bytes());
    let (status, retry_after) = last_answer(&c.p);
    assert_eq!(status, Some(500));
    assert!(retry_after.expect("Retry-After on the 500") <= 10);
    assert_eq!(c.p.state("bob", c.bob).as_deref(), Some("Ringing"));
}

/// The random `Retry-After` comes from the endpoint's seeded generator: the same seed
/// and the same inputs give the same value, so a run replays byte for byte.
#[test]
fn the_random_retry_after_of_a_500_is_the_same_for_the_same_seed() {
    let values: Vec<Option<u32>> = (0..2)
        .map(|_| {
            let mut c = ringing();
            let from: SocketAddr = STRANGER.parse().unwrap();
            let request = reinvite(&c, &c.bob_tag.clone(), &c.alice_tag.clone(), 2);
            c.p.inject("alice", from, request.as_bytes());
            last_answer(&c.p).1
        })
        .collect();
    assert!(values[0].is_some());
    assert_eq!(values[0], values[1]);
}
/// An INVITE from outside with an SDP offer, to bob at 127.0.0.2, with the extra
/// headers given.
fn invite(call_id: &str, extra: &str) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n\
               m=audio 9000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    format!(
        "INVITE sip:bob@127.0.0.2:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {STRANGER};branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:x@127.0.0.9>;tag=caller\r\n\
         To: <sip:bob@127.0.0.2>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:x@{STRANGER}>\r\n\
         {extra}\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// Feeds one INVITE to a lone endpoint whose driver has no RTP port to give (it answers
/// every `MediaRequest::Open` with `MediaInput::Failed`) and returns the final response.
fn answer_without_rtp_port(ep: &mut Endpoint, request: &str) -> Vec<u8> {
    let now = session_core::Instant::from_millis(1_000);
    let local = ep.config().sip_addr;
    let from: SocketAddr = STRANGER.parse().unwrap();
    ep.handle_datagram(
        now,
        local,
        from,
        session_core::sip::Transport::Udp,
        request.as_bytes(),
    );
    let mut finals = Vec::new();
    for _ in 0..1_000 {
        let Some(out) = ep.poll_output() else {
            break;
        };
        match out {
            Output::Media(MediaRequest::Open { session }) => {
                ep.handle_media(now, MediaInput::Failed { session });
            }
            Output::Transmit(t) if status_of(&t.payload).is_some_and(|s| s >= 200) => {
                finals.push(t.payload);
            }
            _ => {}
        }
    }
    assert_eq!(finals.len(), 1, "one final response");
    finals.remove(0).to_vec()
}

/// RFC 3261 §21.5.4: a UAS that cannot take a call for now (no RTP port left) answers
/// 503 Service Unavailable with `Retry-After`, which callers and proxies act on (§16.7
/// tries another server); a 500 says nothing they can use.
#[test]
fn invite_when_no_rtp_port_is_left_gets_503_with_the_configured_retry_after() {
    let config: Config = config("127.0.0.2:5060", 2);
    let expected = config.retry_after_503_s;
    let mut ep = Endpoint::new(config);
    let answer = answer_without_rtp_port(&mut ep, &invite("noport", ""));
    assert_eq!(status_of(&answer), Some(503));
    assert_eq!(
        header_of(&answer, "Retry-After"),
        Some(expected.to_string())
    );
}

/// The class closed: every 503 we send carries `Retry-After` (§21.5.4), the stateless
/// one when the transaction layer is full and the one at the session limit as well.
#[test]
fn every_503_at_a_limit_carries_retry_after() {
    for limit in ["sessions", "transactions"] {
        let mut config = config("127.0.0.2:5060", 2);
        match limit {
            "sessions" => config.max_sessions = 1,
            _ => config.max_transactions = 1,
        }
        let expected = config.retry_after_503_s.to_string();
        let mut p = Pump::new(vec![("bob", config)]);
        let from: SocketAddr = STRANGER.parse().unwrap();
        p.inject("bob", from, invite("first", "").as_bytes());
        p.inject("bob", from, invite("second", "").as_bytes());
        let answer = &p.unrouted.last().expect("an answer").bytes;
        assert_eq!(status_of(answer), Some(503), "at the {limit} limit");
        assert_eq!(
            header_of(answer, "Retry-After"),
            Some(expected),
            "at the {limit} limit"
        );
    }
}
/// RFC 3261 §13.3.1: "If the INVITE request contained an Expires header field, and the
/// UAS has not yet sent a final response by the time the timer fires, the UAS MUST
/// send a 487 (Request Terminated) response" — the call ends, and says why.
#[test]
fn invite_whose_expires_passes_while_ringing_is_answered_487() {
    let mut p = Pump::new(vec![("bob", config("127.0.0.2:5060", 2))]);
    let from: SocketAddr = STRANGER.parse().unwrap();
    p.inject("bob", from, invite("expiring", "Expires: 1\r\n").as_bytes());
    let bob = p.incoming("bob").expect("the call rings");
    p.run_for(Duration::from_millis(900));
    assert_eq!(p.state("bob", bob).as_deref(), Some("Ringing"));
    p.run_for(Duration::from_millis(200));
    let finals: Vec<u16> = p
        .unrouted
        .iter()
        .filter_map(|w| status_of(&w.bytes))
        .filter(|&s| s >= 200)
        .collect();
    assert_eq!(finals.first(), Some(&487), "{finals:?}");
    let ended = p.events_of("bob", bob).into_iter().find_map(|e| match e {
        SessionEvent::Terminated { reason, .. } => Some(reason),
        _ => None,
    });
    assert_eq!(ended, Some(EndReason::Expired));
}

/// The other half of §13.3.1: once the INVITE is answered its `Expires` means nothing,
/// and the call outlives it.
#[test]
fn invite_answered_before_its_expires_keeps_the_call() {
    let mut p = Pump::new(vec![("bob", config("127.0.0.2:5060", 2))]);
    let from: SocketAddr = STRANGER.parse().unwrap();
    p.inject("bob", from, invite("answered", "Expires: 1\r\n").as_bytes());
    let bob = p.incoming("bob").expect("the call rings");
    let now = p.now;
    p.ep("bob").accept(now, bob).unwrap();
    p.run_for(Duration::from_millis(100));
    let ok = p
        .unrouted
        .iter()
        .find(|w| status_of(&w.bytes) == Some(200))
        .expect("200")
        .bytes
        .clone();
    let to = header_of(&ok, "To").unwrap();
    let ack = format!(
        "ACK sip:bob@127.0.0.2:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {STRANGER};branch=z9hG4bKack\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:x@127.0.0.9>;tag=caller\r\n\
         To: {to}\r\n\
         Call-ID: answered\r\n\
         CSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n"
    );
    p.inject("bob", from, ack.as_bytes());
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.state("bob", bob).as_deref(), Some("Active"));
    assert!(
        !p.unrouted.iter().any(|w| status_of(&w.bytes) == Some(487)),
        "no 487 after the answer"
    );
}
