//! How an outgoing call ends when the peer goes quiet, how a command given while a
//! re-INVITE is pending is kept, and what we do with an answer that bends RFC 3261:
//! two endpoints back to back on the default state table.

use std::time::Duration;

use session_core::endpoint::{EndReason, SessionEvent, SessionId, Side};
use session_core::{CallOptions, Instant};
use session_core_tests::{alice_and_bob, answered, header_of, status_of, Pump, BOB};

/// The `Terminated` event of `s` on `node`: when it came, why, and the INVITE's status.
fn terminated(p: &mut Pump, node: &str, s: SessionId) -> Option<(Instant, EndReason, Option<u16>)> {
    p.node(node).events.iter().find_map(|(at, e)| match e {
        SessionEvent::Terminated {
            session,
            reason,
            status,
        } if *session == s => Some((*at, reason.clone(), *status)),
        _ => None,
    })
}

/// RFC 3261 §15.1.1: a BYE that gets no answer still ends the session, once its client
/// transaction gives up (Timer F, 64·T1 = 32 s). The caller reports the INVITE's final
/// status (200: the call was established) and that its BYE timed out.
#[test]
fn an_unanswered_bye_ends_the_call_at_timer_f_with_the_invite_status_kept() {
    let mut p = alice_and_bob();
    let (a, _) = answered(&mut p);
    p.drop_sip = Some(Box::new(|w| w.to == "bob"));
    let hangup = p.now;
    p.ep("alice").hangup(hangup, a).expect("alice hangs up");
    p.run_for(Duration::from_millis(31_900));
    assert_eq!(terminated(&mut p, "alice", a), None, "ended before Timer F");
    p.run_for(Duration::from_millis(200));
    let (at, reason, status) = terminated(&mut p, "alice", a).expect("ended at Timer F");
    assert_eq!((at - hangup).as_millis(), 32_000);
    assert_eq!(reason, EndReason::ByeTimedOut);
    assert_eq!(status, Some(200));
    assert_eq!(p.state("alice", a).as_deref(), Some("Terminated"));
}

/// RFC 3261 §14.1: only one offer may be outstanding, and a re-INVITE that met glare
/// (491) is retried after a random back-off (2.1–4 s for the Call-ID's owner). A resume
/// asked for during that wait is kept and sent once the hold completes, so the call
/// ends up un-held — not refused and lost.
#[test]
fn a_resume_asked_while_a_glared_hold_waits_is_sent_after_the_hold() {
    let mut p = alice_and_bob();
    let start = p.now;
    let (a, b) = answered(&mut p);
    let now = p.now;
    p.ep("alice").hold(now, a).expect("alice holds");
    p.ep("bob").hold(now, b).expect("bob holds");
    p.run_for(Duration::from_millis(500));
    let ladder = p.ladder(start);
    assert_eq!(ladder.matches("491 Request Pending").count(), 2, "{ladder}");
    let now = p.now;
    p.ep("alice")
        .resume(now, a)
        .expect("a resume during the glare wait is kept");
    p.run_for(Duration::from_secs(10));
    let ladder = p.ladder(start);
    let held_then_resumed: Vec<SessionEvent> = p
        .events_of("alice", a)
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                SessionEvent::Held {
                    by: Side::Local,
                    ..
                } | SessionEvent::Resumed {
                    by: Side::Local,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(
        held_then_resumed,
        [
            SessionEvent::Held {
                session: a,
                by: Side::Local
            },
            SessionEvent::Resumed {
                session: a,
                by: Side::Local
            }
        ],
        "{ladder}"
    );
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"), "{ladder}");
}

/// The response's bytes with the To header's tag removed.
fn without_to_tag(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).expect("a text response");
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        match line.find(";tag=").filter(|_| line.starts_with("To:")) {
            Some(i) => {
                out.push_str(&line[..i]);
                out.push_str("\r\n");
            }
            None => out.push_str(line),
        }
    }
    out.into_bytes()
}

/// RFC 3261 §12.1.2 says a 2xx to INVITE carries a To tag; one without is still an
/// answer (robustness, §8.1.3, as PJSIP and baresip take it): it is ACKed, the call is
/// established with an empty remote tag, and its BYE carries no empty `;tag=`.
#[test]
fn a_2xx_without_a_to_tag_is_acked_and_the_call_established() {
    let mut p = alice_and_bob();
    p.drop_sip = Some(Box::new(|w| w.to == "alice"));
    let now = p.now;
    let a = p
        .ep("alice")
        .make_call(now, BOB, CallOptions::default())
        .expect("alice calls");
    p.run_for(Duration::from_millis(100));
    let b = p.incoming("bob").expect("bob sees the call");
    let now = p.now;
    p.ep("bob").accept(now, b).expect("bob answers");
    p.run_for(Duration::from_millis(20));
    let ok = p
        .wire
        .iter()
        .find(|w| w.from == "bob" && status_of(&w.bytes) == Some(200))
        .expect("bob's 200")
        .bytes
        .clone();
    p.drop_sip = None;
    let sent_before = p.wire.len();
    p.inject(
        "alice",
        "127.0.0.2:5060".parse().unwrap(),
        &without_to_tag(&ok),
    );
    p.run_for(Duration::from_millis(100));
    let alice_sent: Vec<String> = p.wire[sent_before..]
        .iter()
        .filter(|w| w.from == "alice")
        .map(|w| String::from_utf8_lossy(&w.bytes).into_owned())
        .collect();
    assert!(
        alice_sent.iter().any(|m| m.starts_with("ACK ")),
        "{alice_sent:?}"
    );
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    let now = p.now;
    p.ep("alice").hangup(now, a).expect("alice hangs up");
    p.run_for(Duration::from_millis(100));
    let bye = p
        .wire
        .iter()
        .rev()
        .find(|w| w.from == "alice" && w.bytes.starts_with(b"BYE "))
        .expect("alice's BYE");
    let to = header_of(&bye.bytes, "To").expect("a To");
    assert!(!to.contains(";tag="), "{to}");
}

/// RFC 3264 §4 and RFC 3261 §14.2: an offer we refuse with 491 leaves no trace, and the
/// answer to our own outstanding offer is what decides our media. Bob's 200 to Alice's
/// hold is lost; Bob then holds too, and his re-INVITE reaches Alice while hers is still
/// outstanding, so she answers it 491. When Bob's 200 comes again, Alice takes its
/// answer: her ACK carries no SDP (there is nothing to answer) and she holds Bob with
/// her media sendonly, as her offer and his answer say, rather than following Bob's
/// refused offer (inactive: she would send nothing).
#[test]
fn an_offer_refused_with_491_leaves_our_own_offer_outstanding() {
    let mut p = alice_and_bob();
    let (a, b) = answered(&mut p);
    let mut lost_one = false;
    p.drop_sip = Some(Box::new(move |w| {
        let first_200_to_alice =
            !lost_one && w.to == "alice" && w.bytes.starts_with(b"SIP/2.0 200");
        lost_one |= first_200_to_alice;
        first_200_to_alice
    }));
    let start = p.now;
    p.ep("alice").hold(start, a).expect("alice holds");
    p.run_for(Duration::from_millis(10));
    let now = p.now;
    p.ep("bob").hold(now, b).expect("bob holds");
    // Bob's 200 comes again at 510 ms; his own re-INVITE is retried after 700 ms.
    p.run_for(Duration::from_millis(590));
    let rtp_to_bob = |p: &Pump| p.rtp_delivered.get("bob").copied().unwrap_or(0);
    let before = rtp_to_bob(&p);
    p.run_for(Duration::from_millis(100));
    assert!(
        rtp_to_bob(&p) >= before + 4,
        "Alice holds with sendonly media and keeps sending"
    );
    let refused = p
        .wire
        .iter()
        .any(|w| w.from == "alice" && w.bytes.starts_with(b"SIP/2.0 491"));
    assert!(refused, "Alice refused Bob's re-INVITE with 491");
    let acks: Vec<&[u8]> = p
        .wire
        .iter()
        .filter(|w| w.from == "alice" && w.bytes.starts_with(b"ACK ") && w.at > start)
        .map(|w| w.bytes.as_slice())
        .collect();
    assert!(!acks.is_empty(), "Alice ACKed Bob's 200");
    for ack in acks {
        assert_eq!(
            header_of(ack, "Content-Length").as_deref(),
            Some("0"),
            "an ACK with a body: {}",
            String::from_utf8_lossy(ack)
        );
    }
    assert!(
        p.events_of("alice", a).contains(&SessionEvent::Held {
            session: a,
            by: Side::Local
        }),
        "Alice holds Bob"
    );
}

/// A BYE that reaches the peer damaged is answered 400, which fails the transaction and
/// not the dialog (RFC 5057 §5.1): the caller sends it once more with the next CSeq, so
/// that the callee's call ends too instead of lasting until a media or session timer.
/// A second 400 is not met with a third BYE.
#[test]
fn a_bye_answered_400_is_sent_once_more() {
    for damaged_byes in [1, usize::MAX] {
        let mut p = alice_and_bob();
        let (a, b) = answered(&mut p);
        let mut damaged = 0;
        p.rewrite_sip = Some(Box::new(move |w| {
            if !w.bytes.starts_with(b"BYE ") || damaged == damaged_byes {
                return None;
            }
            damaged += 1;
            let text = String::from_utf8_lossy(&w.bytes);
            Some(
                text.replace("\r\nMax-Forwards: ", "\r\nMax-Forwards: x")
                    .into_bytes(),
            )
        }));
        let start = p.now;
        p.ep("alice").hangup(start, a).expect("alice hangs up");
        p.run_for(Duration::from_secs(1));
        let ladder = p.ladder(start);
        let byes: Vec<_> = p
            .wire
            .iter()
            .filter(|w| w.bytes.starts_with(b"BYE "))
            .collect();
        assert_eq!(byes.len(), 2, "{ladder}");
        let cseq = |w: &session_core_tests::Wire| header_of(&w.bytes, "CSeq");
        assert_ne!(cseq(byes[0]), cseq(byes[1]), "a new transaction: {ladder}");
        let refused = p
            .wire
            .iter()
            .filter(|w| status_of(&w.bytes) == Some(400))
            .count();
        let (_, reason, _) = terminated(&mut p, "alice", a).expect("alice ends");
        assert_eq!(reason, EndReason::HungUp { by: Side::Local }, "{ladder}");
        if damaged_byes == 1 {
            assert_eq!(refused, 1, "{ladder}");
            assert_eq!(
                p.end_reason("bob", b),
                Some(EndReason::HungUp { by: Side::Remote }),
                "{ladder}"
            );
        } else {
            assert_eq!(refused, 2, "{ladder}");
            assert_eq!(p.end_reason("bob", b), None, "{ladder}");
        }
    }
}
