//! Session timers (RFC 4028) on the default state table: the interval and the refresher
//! are negotiated by the INVITE and its 2xx; the refresher refreshes at half the
//! interval, by UPDATE when the peer allows it and by re-INVITE otherwise; a session
//! nobody refreshes ends with BYE before the interval passes; an interval below 90 s is
//! refused 422, and a caller refused so tries again with the `Min-SE` it was given.

use std::net::SocketAddr;
use std::time::Duration;

use session_core::endpoint::{EndReason, SessionEvent, Side};
use session_core::CallOptions;
use session_core_tests::{
    alice_and_bob_with, answered, config, header_of, peer_reply, status_of, Pump, BOB,
};

/// A peer no node plays: the test answers what Alice sends it.
const PEER: &str = "127.0.0.9:5060";

/// Alice asks for `seconds` of session interval; Bob asks for none.
fn timed_call(seconds: u32) -> Pump {
    let mut alice = config("127.0.0.1:5060", 1);
    alice.session_expires = Some(seconds);
    alice_and_bob_with(alice, config("127.0.0.2:5060", 2))
}

/// The SIP messages from `from` whose first line starts with `start`.
fn from_node(p: &Pump, from: &str, start: &str) -> Vec<Vec<u8>> {
    p.wire
        .iter()
        .filter(|w| w.from == from && w.bytes.starts_with(start.as_bytes()))
        .map(|w| w.bytes.clone())
        .collect()
}

/// RFC 4028 §7.1, §9: Alice asks `Session-Expires: 90;refresher=uac` with `Min-SE: 90`;
/// Bob's 2xx grants it, requiring the extension; Alice refreshes by UPDATE (Bob allows
/// it) every 45 s, each answered with the interval again, and the call and its media go
/// on untouched.
#[test]
fn the_refresher_refreshes_by_update_at_half_the_interval() {
    let mut p = timed_call(90);
    let start = p.now;
    let (a, b) = answered(&mut p);
    let invite = &from_node(&p, "alice", "INVITE ")[0];
    assert_eq!(
        header_of(invite, "Session-Expires").as_deref(),
        Some("90;refresher=uac")
    );
    assert_eq!(header_of(invite, "Min-SE").as_deref(), Some("90"));
    assert!(header_of(invite, "Supported").is_some_and(|s| s.contains("timer")));
    let ok = p
        .wire
        .iter()
        .find(|w| w.from == "bob" && w.bytes.starts_with(b"SIP/2.0 200"))
        .expect("bob answers")
        .bytes
        .clone();
    assert_eq!(
        header_of(&ok, "Session-Expires").as_deref(),
        Some("90;refresher=uac")
    );
    assert_eq!(header_of(&ok, "Require").as_deref(), Some("timer"));
    let rtp_before = p.rtp_delivered.get("bob").copied().unwrap_or(0);
    p.run_for(Duration::from_secs(100));
    let updates = from_node(&p, "alice", "UPDATE ");
    assert_eq!(updates.len(), 2, "at 45 s and at 90 s");
    for update in &updates {
        assert_eq!(
            header_of(update, "Session-Expires").as_deref(),
            Some("90;refresher=uac")
        );
        assert_eq!(header_of(update, "Content-Length").as_deref(), Some("0"));
    }
    assert!(from_node(&p, "alice", "INVITE ").len() == 1, "no re-INVITE");
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    assert!(p.rtp_delivered.get("bob").copied().unwrap_or(0) > rtp_before + 4_000);
    insta::assert_snapshot!(p.ladder(start));
}

/// RFC 4028 §10: Bob is not the refresher, and Alice's refreshes never reach him: at
/// `90 − min(32, 90/3)` = 60 s after the answer Bob sends BYE and reports why; Alice
/// answers it 200 and ends her side as hung up by the peer. Her lost UPDATE is an
/// ordinary transaction: it goes on being retransmitted (Timer E) until Timer F, 32 s
/// after it started, then ends without any further request.
#[test]
fn a_session_nobody_refreshes_ends_with_bye_before_the_interval_passes() {
    let mut p = timed_call(90);
    p.drop_sip = Some(Box::new(|w| w.bytes.starts_with(b"UPDATE ")));
    let start = p.now;
    let (a, b) = answered(&mut p);
    p.run_for(Duration::from_secs(80));
    let bye = p
        .wire
        .iter()
        .find(|w| w.from == "bob" && w.bytes.starts_with(b"BYE "))
        .expect("bob sends BYE");
    let after = (bye.at - start).as_secs();
    assert!((59..=61).contains(&after), "BYE {after} s after the answer");
    let bye_cseq = header_of(&bye.bytes, "CSeq").expect("a CSeq");
    assert_eq!(p.end_reason("bob", b), Some(EndReason::SessionExpired));
    let bye_ok = from_node(&p, "alice", "SIP/2.0 200");
    assert_eq!(bye_ok.len(), 1);
    assert_eq!(header_of(&bye_ok[0], "CSeq"), Some(bye_cseq));
    assert_eq!(
        p.end_reason("alice", a),
        Some(EndReason::HungUp { by: Side::Remote })
    );
    assert!(from_node(&p, "alice", "BYE ").is_empty());
    let last = p.wire.last().expect("messages");
    assert!(
        (last.at - start) < Duration::from_secs(45 + 32),
        "nothing after Timer F"
    );
    insta::assert_snapshot!(p.ladder(start));
}

/// The `INVITE` Alice sent last to the peer no node plays.
fn last_invite(p: &Pump) -> Vec<u8> {
    p.unrouted
        .iter()
        .rev()
        .find(|w| w.bytes.starts_with(b"INVITE "))
        .expect("an INVITE to the peer")
        .bytes
        .clone()
}

/// A response from the peer to `request` with `status`, To tag `peer`, the `extra`
/// header lines, and an SDP answer on a 2xx.
fn peer_response(request: &[u8], status: u16, extra: &[&str]) -> Vec<u8> {
    let contact = format!("Contact: <sip:bob@{PEER}>");
    let headers: Vec<&str> = std::iter::once(contact.as_str())
        .chain(extra.iter().copied())
        .collect();
    let sdp = "v=0\r\no=- 7 7 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n\
               m=audio 9000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let body = (200..300).contains(&status).then_some(sdp);
    peer_reply(request, status, &headers, body)
}

/// A call from Alice (asking for `seconds`) to the peer no node plays.
fn call_the_peer(seconds: u32) -> Pump {
    let mut p = timed_call(seconds);
    let now = p.now;
    p.ep("alice")
        .make_call(now, &format!("sip:bob@{PEER}"), CallOptions::default())
        .expect("alice calls");
    p.run_for(Duration::from_millis(50));
    p
}

fn peer() -> SocketAddr {
    PEER.parse().unwrap()
}

/// RFC 4028 §7.3: a 422 names the `Min-SE` the peer needs; the INVITE goes again (next
/// CSeq, same Call-ID) asking for exactly that, and the call is set up.
#[test]
fn a_422_makes_the_caller_ask_again_with_the_larger_min_se() {
    let start = session_core::Instant::from_millis(1_000);
    let mut p = call_the_peer(90);
    let first = last_invite(&p);
    let refused = peer_response(&first, 422, &["Min-SE: 300"]);
    p.inject("alice", peer(), &refused);
    p.run_for(Duration::from_millis(50));
    let again = last_invite(&p);
    assert_eq!(header_of(&again, "CSeq").as_deref(), Some("2 INVITE"));
    assert_eq!(header_of(&again, "Call-ID"), header_of(&first, "Call-ID"));
    assert_eq!(
        header_of(&again, "Session-Expires").as_deref(),
        Some("300;refresher=uac")
    );
    assert_eq!(header_of(&again, "Min-SE").as_deref(), Some("300"));
    let ok = peer_response(&again, 200, &["Session-Expires: 300;refresher=uac"]);
    p.inject("alice", peer(), &ok);
    assert!(p
        .unrouted
        .iter()
        .any(|w| w.bytes.starts_with(b"ACK ")
            && header_of(&w.bytes, "CSeq").as_deref() == Some("2 ACK")));
    let a = session_core::SessionId(1);
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    insta::assert_snapshot!(p.peer_ladder(start));
}

/// RFC 4028 §7.4: a peer whose `Allow` leaves out UPDATE is refreshed by re-INVITE,
/// offering the description last sent with its version unchanged (RFC 6337 §5.3), and
/// the 2xx is ACKed; the call stays as it was.
#[test]
fn a_peer_without_update_is_refreshed_by_a_reinvite_that_changes_nothing() {
    let mut p = call_the_peer(120);
    let invite = last_invite(&p);
    let ok = peer_response(
        &invite,
        200,
        &[
            "Session-Expires: 120;refresher=uac",
            "Require: timer",
            "Allow: INVITE, ACK, BYE",
        ],
    );
    p.inject("alice", peer(), &ok);
    p.run_for(Duration::from_secs(61));
    let reinvite = last_invite(&p);
    assert_eq!(header_of(&reinvite, "CSeq").as_deref(), Some("2 INVITE"));
    assert_eq!(
        header_of(&reinvite, "Session-Expires").as_deref(),
        Some("120;refresher=uac")
    );
    let origin = |m: &[u8]| {
        String::from_utf8_lossy(m)
            .lines()
            .find(|l| l.starts_with("o="))
            .map(str::to_owned)
    };
    assert_eq!(
        origin(&reinvite),
        origin(&invite),
        "same o= line, same version"
    );
    let refreshed = peer_response(&reinvite, 200, &["Session-Expires: 120;refresher=uac"]);
    p.inject("alice", peer(), &refreshed);
    assert!(p
        .unrouted
        .iter()
        .any(|w| w.bytes.starts_with(b"ACK ")
            && header_of(&w.bytes, "CSeq").as_deref() == Some("2 ACK")));
    let a = session_core::SessionId(1);
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert!(!p
        .events_of("alice", a)
        .iter()
        .any(|e| matches!(e, SessionEvent::Held { .. } | SessionEvent::Resumed { .. })));
}

/// RFC 4028 §7.4 back to back: Bob is played by our own core with UPDATE taken out of
/// every `Allow` he sends (a peer that does not do RFC 3311). Alice, the refresher of a
/// 90 s interval, refreshes at 45 s and 90 s by re-INVITE, each offering her SDP
/// unchanged and carrying `Session-Expires`; Bob takes each as a refresh (answered 200
/// with the interval, ACKed) and so never ends the call, which stays up, unheld, on
/// both sides.
#[test]
fn a_peer_without_update_is_refreshed_by_reinvite_back_to_back() {
    let mut p = timed_call(90);
    p.rewrite_sip = Some(Box::new(|w| {
        if w.from != "bob" {
            return None;
        }
        let text = String::from_utf8_lossy(&w.bytes);
        text.contains(", UPDATE")
            .then(|| text.replace(", UPDATE", "").into_bytes())
    }));
    let start = p.now;
    let (a, b) = answered(&mut p);
    p.run_for(Duration::from_secs(100));
    assert!(from_node(&p, "alice", "UPDATE ").is_empty(), "no UPDATE");
    let invites: Vec<_> = p
        .wire
        .iter()
        .filter(|w| w.from == "alice" && w.bytes.starts_with(b"INVITE "))
        .collect();
    assert_eq!(
        invites.len(),
        3,
        "the INVITE, then refreshes at 45 s and 90 s"
    );
    let origin = |m: &[u8]| {
        String::from_utf8_lossy(m)
            .lines()
            .find(|l| l.starts_with("o="))
            .map(str::to_owned)
    };
    for (i, refresh) in invites[1..].iter().enumerate() {
        let after = (refresh.at - start).as_secs();
        assert_eq!(after, 45 * (i as u64 + 1), "refresh {i} at {after} s");
        assert_eq!(
            header_of(&refresh.bytes, "Session-Expires").as_deref(),
            Some("90;refresher=uac")
        );
        assert_eq!(
            header_of(&refresh.bytes, "CSeq"),
            Some(format!("{} INVITE", i + 2))
        );
        assert_eq!(
            origin(&refresh.bytes),
            origin(&invites[0].bytes),
            "SDP unchanged"
        );
    }
    let refreshed: Vec<_> = from_node(&p, "bob", "SIP/2.0 200")
        .into_iter()
        .filter(|r| header_of(r, "CSeq").is_some_and(|c| c != "1 INVITE"))
        .collect();
    assert_eq!(refreshed.len(), 2);
    for ok in &refreshed {
        assert_eq!(
            header_of(ok, "Session-Expires").as_deref(),
            Some("90;refresher=uac")
        );
    }
    assert_eq!(from_node(&p, "alice", "ACK ").len(), 3);
    assert!(
        from_node(&p, "bob", "BYE ").is_empty(),
        "bob saw his refreshes"
    );
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    for (node, s) in [("alice", a), ("bob", b)] {
        assert!(!p
            .events_of(node, s)
            .iter()
            .any(|e| matches!(e, SessionEvent::Held { .. } | SessionEvent::Resumed { .. })));
    }
    insta::assert_snapshot!(p.ladder(start));
}

/// RFC 4028 §9 and §7.4 with the callee refreshing: Alice asks for no interval, Bob
/// wants 90 s, so his 2xx names himself the refresher (`refresher=uas`); Alice's `Allow`
/// has no UPDATE (rewritten on the wire), so Bob refreshes at 45 s and 90 s by
/// re-INVITE, his SDP unchanged, each refresh saying `refresher=uac` (Bob is the
/// client of that transaction); Alice answers each, and neither side ends the call.
#[test]
fn the_callee_refreshes_by_reinvite_when_the_caller_does_not_allow_update() {
    let mut bob = config("127.0.0.2:5060", 2);
    bob.session_expires = Some(90);
    let mut p = alice_and_bob_with(config("127.0.0.1:5060", 1), bob);
    p.rewrite_sip = Some(Box::new(|w| {
        if w.from != "alice" {
            return None;
        }
        let text = String::from_utf8_lossy(&w.bytes);
        text.contains(", UPDATE")
            .then(|| text.replace(", UPDATE", "").into_bytes())
    }));
    let start = p.now;
    let (a, b) = answered(&mut p);
    let ok = &from_node(&p, "bob", "SIP/2.0 200")[0];
    assert_eq!(
        header_of(ok, "Session-Expires").as_deref(),
        Some("90;refresher=uas")
    );
    assert_eq!(header_of(ok, "Require").as_deref(), Some("timer"));
    p.run_for(Duration::from_secs(100));
    assert!(from_node(&p, "bob", "UPDATE ").is_empty(), "no UPDATE");
    let refreshes: Vec<_> = p
        .wire
        .iter()
        .filter(|w| w.from == "bob" && w.bytes.starts_with(b"INVITE "))
        .collect();
    assert_eq!(refreshes.len(), 2, "at 45 s and 90 s");
    for refresh in &refreshes {
        assert_eq!(
            header_of(&refresh.bytes, "Session-Expires").as_deref(),
            Some("90;refresher=uac")
        );
    }
    assert!(from_node(&p, "alice", "BYE ").is_empty());
    assert!(from_node(&p, "bob", "BYE ").is_empty());
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    insta::assert_snapshot!(p.ladder(start));
}

/// An INVITE to Bob from outside, asking for `session_expires`.
fn invite_to_bob(session_expires: &str) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n\
               m=audio 9000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    format!(
        "INVITE {BOB} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {PEER};branch=z9hG4bKse1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:x@127.0.0.9>;tag=caller\r\n\
         To: <{BOB}>\r\n\
         Call-ID: se-1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:x@{PEER}>\r\n\
         Supported: timer\r\n\
         Session-Expires: {session_expires}\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// RFC 4028 §9: an interval below 90 s is refused 422 with `Min-SE: 90`, before any
/// session exists.
#[test]
fn an_interval_below_90_seconds_is_refused_422_with_min_se_90() {
    let mut p = timed_call(90);
    p.inject("bob", peer(), invite_to_bob("60").as_bytes());
    let answer = &p.unrouted.last().expect("bob answers").bytes;
    assert_eq!(status_of(answer), Some(422));
    assert_eq!(header_of(answer, "Min-SE").as_deref(), Some("90"));
    assert_eq!(p.incoming("bob"), None);
}

/// RFC 4028 §9: without a `refresher` asked for, the UAS refreshes: Bob's 2xx says
/// `refresher=uas` and requires the extension, and Bob refreshes at half the interval
/// (by re-INVITE: the caller's INVITE listed no `Allow`).
#[test]
fn the_uas_refreshes_when_no_refresher_was_asked_for() {
    let mut p = timed_call(90);
    p.inject("bob", peer(), invite_to_bob("100").as_bytes());
    let b = p.incoming("bob").expect("bob sees the call");
    let now = p.now;
    p.ep("bob").accept(now, b).expect("bob answers");
    p.run_for(Duration::from_millis(100));
    let ok = p
        .unrouted
        .iter()
        .find(|w| status_of(&w.bytes) == Some(200))
        .expect("a 200")
        .bytes
        .clone();
    assert_eq!(
        header_of(&ok, "Session-Expires").as_deref(),
        Some("100;refresher=uas")
    );
    assert_eq!(header_of(&ok, "Require").as_deref(), Some("timer"));
    let to = header_of(&ok, "To").expect("a To");
    let ack = format!(
        "ACK {BOB} SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch=z9hG4bKse2\r\n\
         Max-Forwards: 70\r\nFrom: <sip:x@127.0.0.9>;tag=caller\r\nTo: {to}\r\n\
         Call-ID: se-1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    p.inject("bob", peer(), ack.as_bytes());
    p.run_for(Duration::from_secs(51));
    let refresh = p
        .unrouted
        .iter()
        .find(|w| w.bytes.starts_with(b"INVITE "))
        .expect("bob refreshes");
    let at = (refresh.at - now).as_secs();
    assert!((49..=51).contains(&at), "refresh {at} s after the answer");
    assert_eq!(
        header_of(&refresh.bytes, "Session-Expires").as_deref(),
        Some("100;refresher=uac")
    );
}

/// RFC 4028 §7.4: the refresh goes by UPDATE when the peer allows it. A peer that lists
/// UPDATE in `Allow` but refuses it 405 (here Bob's answer is rewritten on the wire) is
/// refreshed by re-INVITE from then on, and the call lives on.
#[test]
fn an_update_refresh_refused_405_goes_again_as_a_reinvite() {
    let mut p = timed_call(90);
    p.rewrite_sip = Some(Box::new(|w| {
        let text = String::from_utf8_lossy(&w.bytes);
        let refused =
            w.from == "bob" && text.starts_with("SIP/2.0 200") && text.contains(" UPDATE\r\n");
        refused.then(|| {
            text.replacen("SIP/2.0 200 OK", "SIP/2.0 405 Method Not Allowed", 1)
                .into_bytes()
        })
    }));
    let (a, b) = answered(&mut p);
    p.run_for(Duration::from_secs(100));
    assert_eq!(
        from_node(&p, "alice", "UPDATE ").len(),
        1,
        "one UPDATE, refused"
    );
    let invites = from_node(&p, "alice", "INVITE ");
    assert!(invites.len() >= 2, "the refresh went again as a re-INVITE");
    assert!(from_node(&p, "alice", "BYE ").is_empty());
    assert!(from_node(&p, "bob", "BYE ").is_empty());
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
}
