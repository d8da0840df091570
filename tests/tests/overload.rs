//! Overload answered, not ignored: every limit on new work refuses a new INVITE with 503
//! and `Retry-After` (RFC 3261 §21.5.4), counts the refusal by its cause, and leaves the
//! calls already up alone (their in-dialog requests are always served).

use std::net::SocketAddr;
use std::time::Duration;

use session_core::endpoint::{EndReason, SessionId, Side};
use session_core::sip::Transport;
use session_core::{CallOptions, Endpoint, Instant, Output};
use session_core_tests::{alice_and_bob_with, answered, config, header_of, status_of, Pump, BOB};

const STRANGER: &str = "127.0.0.9:5060";

fn invite(call_id: &str) -> String {
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
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// The final statuses sent to the hand-driven peer, in order.
fn finals_to_peer(p: &Pump) -> Vec<(u16, Option<String>)> {
    p.unrouted
        .iter()
        .filter_map(|w| Some((status_of(&w.bytes)?, header_of(&w.bytes, "Retry-After"))))
        .filter(|(s, _)| *s >= 200)
        .collect()
}

/// Incoming calls that ring unanswered hold sessions without a commitment; past
/// `max_pending_incoming` a new one gets 503 with `Retry-After`, and once one of them is
/// answered there is room again.
#[test]
fn ringing_calls_beyond_max_pending_incoming_get_503_until_one_is_answered() {
    let mut bob = config("127.0.0.2:5060", 2);
    bob.max_pending_incoming = 2;
    let retry_after = bob.retry_after_503_s;
    let mut p = alice_and_bob_with(config("127.0.0.1:5060", 1), bob);
    let now = p.now;
    let calls: Vec<SessionId> = (0..3)
        .map(|_| {
            p.ep("alice")
                .make_call(now, BOB, CallOptions::default())
                .unwrap()
        })
        .collect();
    p.run_for(Duration::from_millis(200));
    assert_eq!(p.state("alice", calls[0]).as_deref(), Some("Ringing"));
    assert_eq!(p.state("alice", calls[1]).as_deref(), Some("Ringing"));
    assert_eq!(
        p.end_reason("alice", calls[2]),
        Some(EndReason::Rejected {
            by: Side::Remote,
            status: 503
        })
    );
    let refusal = p
        .wire
        .iter()
        .find(|w| status_of(&w.bytes) == Some(503))
        .expect("a 503 on the wire");
    assert_eq!(
        header_of(&refusal.bytes, "Retry-After"),
        Some(retry_after.to_string())
    );
    let stats = p.ep("bob").stats().clone();
    assert_eq!(stats.refused_pending_limit, 1);
    assert_eq!(stats.overload_rejections, 1);

    let ringing = p.incoming("bob").expect("bob rings");
    let now = p.now;
    p.ep("bob").accept(now, ringing).unwrap();
    p.run_for(Duration::from_millis(200));
    let now = p.now;
    let fourth = p
        .ep("alice")
        .make_call(now, BOB, CallOptions::default())
        .unwrap();
    p.run_for(Duration::from_millis(200));
    assert_eq!(p.state("alice", fourth).as_deref(), Some("Ringing"));
    assert_eq!(p.ep("bob").stats().refused_pending_limit, 1);
}

/// A flood of new INVITEs at the session limit is refused with 503, each counted, while
/// the call already up goes on and ends by its own BYE, answered 200.
#[test]
fn established_call_outlives_a_flood_refused_at_the_session_limit() {
    let mut bob = config("127.0.0.2:5060", 2);
    bob.max_sessions = 1;
    let mut p = alice_and_bob_with(config("127.0.0.1:5060", 1), bob);
    let (alice, bob) = answered(&mut p);
    let from: SocketAddr = STRANGER.parse().unwrap();
    for i in 0..20 {
        p.inject("bob", from, invite(&format!("flood{i}")).as_bytes());
    }
    let finals = finals_to_peer(&p);
    assert_eq!(finals.len(), 20);
    assert!(
        finals.iter().all(|(s, ra)| *s == 503 && ra.is_some()),
        "{finals:?}"
    );
    assert_eq!(p.ep("bob").stats().refused_session_limit, 20);
    assert_eq!(p.state("bob", bob).as_deref(), Some("Active"));
    let now = p.now;
    p.ep("alice").hangup(now, alice).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(
        p.end_reason("bob", bob),
        Some(EndReason::HungUp { by: Side::Remote })
    );
    assert_eq!(
        p.end_reason("alice", alice),
        Some(EndReason::HungUp { by: Side::Local })
    );
}

/// When the driver does not drain the output queue, a new INVITE is refused with 503
/// rather than taking on more work (and queueing more output); counted apart.
#[test]
fn new_invite_while_the_output_queue_is_full_gets_503() {
    let mut c = config("127.0.0.2:5060", 2);
    c.max_queued_outputs = 2;
    let mut ep = Endpoint::new(c);
    let now = Instant::from_millis(1_000);
    let local = ep.config().sip_addr;
    let from: SocketAddr = STRANGER.parse().unwrap();
    // The first INVITE is taken on: a 100 Trying, the RTP port asked for, the event.
    ep.handle_datagram(now, local, from, Transport::Udp, invite("one").as_bytes());
    // Not drained: the second finds the queue full.
    ep.handle_datagram(now, local, from, Transport::Udp, invite("two").as_bytes());
    let mut answers = Vec::new();
    while let Some(out) = ep.poll_output() {
        if let Output::Transmit(t) = out {
            if let Some(status) = status_of(&t.payload) {
                answers.push((status, header_of(&t.payload, "Call-ID")));
            }
        }
    }
    assert!(
        answers.contains(&(503, Some("two".into()))),
        "the second INVITE is refused: {answers:?}"
    );
    assert!(!answers.contains(&(503, Some("one".into()))), "{answers:?}");
    assert_eq!(ep.stats().refused_output_queue_full, 1);
    assert_eq!(ep.stats().overload_rejections, 1);
    assert_eq!(ep.sessions().count(), 1);
}

/// The stateless 503 at the transaction limit is counted by its cause, too.
#[test]
fn the_transaction_limit_refusal_is_counted_apart() {
    let mut c = config("127.0.0.2:5060", 2);
    c.max_transactions = 1;
    let mut p = Pump::new(vec![("bob", c)]);
    let from: SocketAddr = STRANGER.parse().unwrap();
    p.inject("bob", from, invite("first").as_bytes());
    p.inject("bob", from, invite("second").as_bytes());
    let stats = p.ep("bob").stats().clone();
    assert_eq!(stats.refused_transaction_limit, 1);
    assert_eq!(stats.overload_rejections, 1);
    assert_eq!(stats.refused_session_limit + stats.refused_pending_limit, 0);
}

/// A call that has ended but lingers (the default table's Linger, absorbing the peer's
/// late retransmissions) is no reason to refuse a new one: at `max_sessions` a new INVITE
/// cuts the longest linger short (as its timer firing would) and rings. A call that is
/// up still counts: the next INVITE gets 503.
#[test]
fn a_lingering_ended_call_makes_room_for_a_new_one_at_max_sessions() {
    let mut bob = config("127.0.0.2:5060", 2);
    bob.max_sessions = 1;
    let mut p = alice_and_bob_with(config("127.0.0.1:5060", 1), bob);
    let (alice, bob) = answered(&mut p);
    let now = p.now;
    p.ep("alice").hangup(now, alice).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(
        p.end_reason("bob", bob),
        Some(EndReason::HungUp { by: Side::Remote })
    );
    assert_eq!(p.ep("bob").sessions().count(), 1, "bob's session lingers");
    let from: SocketAddr = STRANGER.parse().unwrap();
    p.inject("bob", from, invite("while-lingering").as_bytes());
    assert!(finals_to_peer(&p).is_empty(), "no final answer: it rings");
    let sessions: Vec<SessionId> = p.ep("bob").session_ids().collect();
    assert_eq!(sessions.len(), 1);
    assert_ne!(sessions[0], bob, "the lingering session made room");
    let stats = p.ep("bob").stats().clone();
    assert_eq!(stats.lingering_ended_early, 1);
    assert_eq!(stats.refused_session_limit, 0);

    p.inject("bob", from, invite("while-ringing").as_bytes());
    assert_eq!(finals_to_peer(&p).last().map(|f| f.0), Some(503));
    assert_eq!(p.ep("bob").stats().refused_session_limit, 1);
}

/// The driver's send queue backed up (a full socket buffer) refuses a new INVITE with
/// 503 as a full output queue does, counted with it; once the driver says it has
/// drained, new calls are taken again.
#[test]
fn new_invite_while_the_driver_send_queue_is_backed_up_gets_503() {
    let mut ep = Endpoint::new(config("127.0.0.2:5060", 2));
    let now = Instant::from_millis(1_000);
    let local = ep.config().sip_addr;
    let from: SocketAddr = STRANGER.parse().unwrap();
    let statuses = |ep: &mut Endpoint, call_id: &str| {
        ep.handle_datagram(now, local, from, Transport::Udp, invite(call_id).as_bytes());
        let mut out = Vec::new();
        while let Some(o) = ep.poll_output() {
            if let Output::Transmit(t) = o {
                out.extend(status_of(&t.payload));
            }
        }
        out
    };
    ep.set_send_backlogged(true);
    assert_eq!(statuses(&mut ep, "backed-up"), [503]);
    assert_eq!(ep.stats().refused_output_queue_full, 1);
    assert_eq!(ep.sessions().count(), 0);
    ep.set_send_backlogged(false);
    assert!(!statuses(&mut ep, "drained").contains(&503));
    assert_eq!(ep.sessions().count(), 1);
}
