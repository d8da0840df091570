//! Back-to-back calls between two Endpoints on the default state table:
//! each test drives one flow, asserts both sides' events and final states, and snapshots
//! the ladder of SIP messages and the application events.

use std::sync::Arc;
use std::time::Duration;

use session_core::endpoint::{EndReason, SessionEvent, SessionId, Side};
use session_core::state_table::CompiledTable;
use session_core::{CallOptions, Instant};
use session_core_tests::{
    alice_and_bob, alice_and_bob_with, answered, config, early_media_table, ring, status_of, Pump,
    BOB,
};

fn terminated(p: &mut Pump, node: &str, s: SessionId) -> (EndReason, Option<u16>) {
    p.events_of(node, s)
        .into_iter()
        .find_map(|e| match e {
            SessionEvent::Terminated { reason, status, .. } => Some((reason, status)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{node} reports no Terminated for {s}"))
}

/// Runs out the linger time; both endpoints must be empty afterwards.
fn finish_idle(p: &mut Pump) {
    p.run_for(Duration::from_secs(40));
    assert!(p.ep("alice").is_idle(), "alice idle");
    assert!(p.ep("bob").is_idle(), "bob idle");
}

fn names(events: &[SessionEvent]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match e {
            SessionEvent::IncomingCall { .. } => "IncomingCall",
            SessionEvent::Ringing { .. } => "Ringing",
            SessionEvent::EarlyMedia { .. } => "EarlyMedia",
            SessionEvent::Answered { .. } => "Answered",
            SessionEvent::Held { .. } => "Held",
            SessionEvent::Resumed { .. } => "Resumed",
            SessionEvent::DtmfReceived { .. } => "DtmfReceived",
            SessionEvent::TransferRequested { .. } => "TransferRequested",
            SessionEvent::Terminated { .. } => "Terminated",
            _ => "?",
        })
        .collect()
}

#[test]
fn basic_call_answered_then_hung_up_by_the_caller() {
    let mut p = alice_and_bob();
    let start = p.now;
    let (a, b) = answered(&mut p);
    let now = p.now;
    p.ep("alice").hangup(now, a).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Terminated"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Terminated"));
    assert_eq!(
        names(&p.events_of("alice", a)),
        ["Ringing", "Answered", "Terminated"]
    );
    assert_eq!(
        names(&p.events_of("bob", b)),
        ["IncomingCall", "Answered", "Terminated"]
    );
    assert_eq!(
        terminated(&mut p, "alice", a),
        (EndReason::HungUp { by: Side::Local }, Some(200))
    );
    assert_eq!(
        terminated(&mut p, "bob", b),
        (EndReason::HungUp { by: Side::Remote }, Some(200))
    );
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

#[test]
fn basic_call_hung_up_by_the_callee() {
    let mut p = alice_and_bob();
    let start = p.now;
    let (a, b) = answered(&mut p);
    let now = p.now;
    p.ep("bob").hangup(now, b).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Terminated"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Terminated"));
    assert_eq!(
        terminated(&mut p, "alice", a),
        (EndReason::HungUp { by: Side::Remote }, Some(200))
    );
    assert_eq!(
        terminated(&mut p, "bob", b),
        (EndReason::HungUp { by: Side::Local }, Some(200))
    );
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

#[test]
fn session_progress_with_sdp_is_early_media_then_answer() {
    let mut bob = config("127.0.0.2:5060", 2);
    bob.table = Arc::new(early_media_table());
    let mut p = Pump::new(vec![("alice", config("127.0.0.1:5060", 1)), ("bob", bob)]);
    let start = p.now;
    let (a, b) = ring(&mut p);
    assert_eq!(p.state("alice", a).as_deref(), Some("EarlyMedia"));
    let now = p.now;
    p.ep("bob").accept(now, b).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    let now = p.now;
    p.ep("alice").hangup(now, a).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(
        names(&p.events_of("alice", a)),
        ["Ringing", "EarlyMedia", "Answered", "Terminated"]
    );
    let ladder = p.ladder(start);
    assert!(
        ladder.contains("183 Session Progress [sendrecv]"),
        "{ladder}"
    );
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

#[test]
fn cancel_before_answer_gets_200_and_487() {
    let mut p = alice_and_bob();
    let start = p.now;
    let (a, b) = ring(&mut p);
    assert_eq!(p.state("alice", a).as_deref(), Some("Ringing"));
    let now = p.now;
    p.ep("alice").hangup(now, a).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Terminated"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Terminated"));
    assert_eq!(
        terminated(&mut p, "alice", a),
        (EndReason::Cancelled { by: Side::Local }, Some(487))
    );
    assert_eq!(
        terminated(&mut p, "bob", b),
        (EndReason::Cancelled { by: Side::Remote }, Some(487))
    );
    let ladder = p.ladder(start);
    for line in [
        "CANCEL sip:",
        "200 OK",
        "487 Request Terminated",
        "ACK sip:",
    ] {
        assert!(ladder.contains(line), "{line} missing:\n{ladder}");
    }
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

#[test]
fn cancel_crossing_the_200_is_acked_then_byed() {
    let mut p = alice_and_bob();
    let start = p.now;
    let (a, b) = ring(&mut p);
    // Both act at the same instant: the 200 and the CANCEL cross on the wire.
    let now = p.now;
    p.ep("bob").accept(now, b).unwrap();
    p.ep("alice").hangup(now, a).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Terminated"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Terminated"));
    assert_eq!(
        terminated(&mut p, "alice", a),
        (EndReason::Cancelled { by: Side::Local }, Some(200))
    );
    assert_eq!(
        terminated(&mut p, "bob", b),
        (EndReason::HungUp { by: Side::Remote }, Some(200))
    );
    let ladder = p.ladder(start);
    let order: Vec<&str> = ladder
        .lines()
        .filter(|l| l.contains("alice -> bob"))
        .map(|l| {
            let msg = l.split("alice -> bob  ").nth(1).unwrap_or("");
            msg.split(' ').next().unwrap_or("")
        })
        .collect();
    assert_eq!(order, ["INVITE", "CANCEL", "ACK", "BYE"], "{ladder}");
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

fn reject_with(status: u16) -> (Pump, Instant) {
    let mut p = alice_and_bob();
    let start = p.now;
    let (a, b) = ring(&mut p);
    let now = p.now;
    p.ep("bob").reject(now, b, status).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Failed"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Terminated"));
    assert_eq!(
        terminated(&mut p, "alice", a),
        (
            EndReason::Rejected {
                by: Side::Remote,
                status
            },
            Some(status)
        )
    );
    assert_eq!(
        terminated(&mut p, "bob", b),
        (
            EndReason::Rejected {
                by: Side::Local,
                status
            },
            Some(status)
        )
    );
    (p, start)
}

#[test]
fn reject_busy_here_486() {
    let (mut p, start) = reject_with(486);
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

#[test]
fn reject_decline_603() {
    let (mut p, start) = reject_with(603);
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

fn hold_and_resume_by(holder: &str, other: &str) -> (Pump, Instant) {
    let mut p = alice_and_bob();
    let start = p.now;
    let (a, b) = answered(&mut p);
    let (h, o) = if holder == "alice" { (a, b) } else { (b, a) };
    let now = p.now;
    p.ep(holder).hold(now, h).unwrap();
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.state(holder, h).as_deref(), Some("OnHold"));
    assert_eq!(p.state(other, o).as_deref(), Some("Active"));
    // While held, the held side (recvonly) sends nothing; the holder (sendonly) still does.
    let rtp = |p: &Pump, n: &str| p.rtp_delivered.get(n).copied().unwrap_or(0);
    let (to_holder, to_other) = (rtp(&p, holder), rtp(&p, other));
    p.run_for(Duration::from_secs(1));
    assert!(
        rtp(&p, holder) - to_holder <= 1,
        "the held side kept sending"
    );
    assert!(
        rtp(&p, other) - to_other >= 45,
        "the holder stopped sending"
    );
    let now = p.now;
    p.ep(holder).resume(now, h).unwrap();
    p.run_for(Duration::from_millis(100));
    let to_holder = rtp(&p, holder);
    p.run_for(Duration::from_secs(1));
    assert!(rtp(&p, holder) - to_holder >= 45, "media did not come back");
    assert_eq!(p.state(holder, h).as_deref(), Some("Active"));
    assert_eq!(p.state(other, o).as_deref(), Some("Active"));
    let held = |by| SessionEvent::Held { session: h, by };
    let resumed = |by| SessionEvent::Resumed { session: h, by };
    let hev = p.events_of(holder, h);
    assert!(hev.contains(&held(Side::Local)), "{hev:?}");
    assert!(hev.contains(&resumed(Side::Local)), "{hev:?}");
    let oev = p.events_of(other, o);
    assert!(
        oev.contains(&SessionEvent::Held {
            session: o,
            by: Side::Remote
        }),
        "{oev:?}"
    );
    assert!(
        oev.contains(&SessionEvent::Resumed {
            session: o,
            by: Side::Remote
        }),
        "{oev:?}"
    );
    let ladder = p.ladder(start);
    for dir in [
        "INVITE sip:ua@127.0.0.",
        "[sendonly]",
        "[recvonly]",
        "[sendrecv]",
    ] {
        assert!(ladder.contains(dir), "{dir} missing:\n{ladder}");
    }
    let now = p.now;
    p.ep("alice").hangup(now, a).unwrap();
    p.run_for(Duration::from_secs(1));
    (p, start)
}

#[test]
fn hold_and_resume_by_the_caller() {
    let (mut p, start) = hold_and_resume_by("alice", "bob");
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

#[test]
fn hold_and_resume_by_the_callee() {
    let (mut p, start) = hold_and_resume_by("bob", "alice");
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

#[test]
fn reinvite_glare_gets_491_on_both_then_a_retry_settles_it() {
    let mut p = alice_and_bob();
    let start = p.now;
    let (a, b) = answered(&mut p);
    let now = p.now;
    p.ep("alice").hold(now, a).unwrap();
    p.ep("bob").hold(now, b).unwrap();
    p.run_for(Duration::from_secs(10));
    let ladder = p.ladder(start);
    let n491 = ladder.matches("491 Request Pending").count();
    assert_eq!(n491, 2, "{ladder}");
    // RFC 3261 §14.1: the Call-ID's owner (alice) waits 2.1–4 s, the other 0–2 s.
    let retries: Vec<(u128, &str)> = ladder
        .lines()
        .filter(|l| l.contains("INVITE sip:ua@"))
        .map(|l| {
            let ms: u128 = l.split_whitespace().next().unwrap().parse().unwrap();
            (ms, l.split_whitespace().nth(1).unwrap())
        })
        .collect();
    assert_eq!(retries.len(), 4, "{ladder}");
    let glare_at = retries[0].0;
    for &(ms, who) in &retries[2..] {
        let wait = ms - glare_at;
        match who {
            "alice" => assert!((2100..=4100).contains(&wait), "alice waited {wait}"),
            _ => assert!(wait <= 2100, "bob waited {wait}"),
        }
    }
    // Both holds went through in the end: each side is holding and held.
    for (n, s) in [("alice", a), ("bob", b)] {
        assert_eq!(p.state(n, s).as_deref(), Some("OnHold"), "{n}\n{ladder}");
        let ev = p.events_of(n, s);
        assert!(
            ev.contains(&SessionEvent::Held {
                session: s,
                by: Side::Local
            }),
            "{n}: {ev:?}"
        );
        assert!(
            ev.contains(&SessionEvent::Held {
                session: s,
                by: Side::Remote
            }),
            "{n}: {ev:?}"
        );
    }
    let now = p.now;
    p.ep("alice").hangup(now, a).unwrap();
    p.run_for(Duration::from_secs(1));
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

/// The To tag in a response's bytes, replaced by `tag`.
fn with_to_tag(bytes: &[u8], tag: &str) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let mut out = Vec::new();
    for line in text.split_inclusive("\r\n") {
        if line.starts_with("To:") || line.starts_with("t:") {
            let i = line.find(";tag=").expect("a To tag");
            let rest = &line[i + 5..];
            let end = rest.find([';', '\r']).unwrap();
            out.extend_from_slice(&line.as_bytes()[..i + 5]);
            out.extend_from_slice(tag.as_bytes());
            out.extend_from_slice(&rest.as_bytes()[end..]);
        } else {
            out.extend_from_slice(line.as_bytes());
        }
    }
    out
}

#[test]
fn a_second_2xx_from_a_fork_is_acked_and_byed() {
    let mut p = alice_and_bob();
    let start = p.now;
    let (a, b) = answered(&mut p);
    let ok = p
        .wire
        .iter()
        .find(|w| w.from == "bob" && status_of(&w.bytes) == Some(200))
        .expect("bob's 200")
        .bytes
        .clone();
    let fork = with_to_tag(&ok, "forked2nd");
    let bob_addr = "127.0.0.2:5060".parse().unwrap();
    p.inject("alice", bob_addr, &fork);
    p.run_for(Duration::from_secs(1));
    // The first dialog is untouched.
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    let fork_msgs: Vec<String> = p
        .wire
        .iter()
        .filter(|w| w.from == "alice")
        .map(|w| String::from_utf8_lossy(&w.bytes).into_owned())
        .filter(|t| t.contains("tag=forked2nd"))
        .map(|t| t.lines().next().unwrap_or("").to_owned())
        .collect();
    assert_eq!(fork_msgs.len(), 2, "{fork_msgs:?}");
    assert!(fork_msgs[0].starts_with("ACK "), "{fork_msgs:?}");
    assert!(fork_msgs[1].starts_with("BYE "), "{fork_msgs:?}");
    assert_eq!(
        names(&p.events_of("alice", a)),
        ["Ringing", "Answered"],
        "the fork makes no event"
    );
    let now = p.now;
    p.ep("alice").hangup(now, a).unwrap();
    p.run_for(Duration::from_secs(1));
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

#[test]
fn unanswered_invite_times_out_with_timer_b() {
    let mut p = alice_and_bob();
    p.drop_sip = Some(Box::new(|w| w.to == "bob"));
    let start = p.now;
    let now = p.now;
    let a = p
        .ep("alice")
        .make_call(now, BOB, CallOptions::default())
        .unwrap();
    p.run_for(Duration::from_millis(31_900));
    assert_eq!(p.state("alice", a).as_deref(), Some("Initiating"));
    p.run_for(Duration::from_millis(200));
    assert_eq!(p.state("alice", a).as_deref(), Some("Failed"));
    let (at, e) = p.node("alice").events.last().cloned().expect("an event");
    assert_eq!(
        e,
        SessionEvent::Terminated {
            session: a,
            reason: EndReason::Timeout,
            status: None
        }
    );
    assert_eq!((at - start).as_millis(), 32_000);
    assert!(p.node("bob").events.is_empty());
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

#[test]
fn a_lost_bye_is_recovered_by_retransmission() {
    let mut p = alice_and_bob();
    let mut byes = 0;
    p.drop_sip = Some(Box::new(move |w| {
        let bye = w.bytes.starts_with(b"BYE ");
        byes += u32::from(bye);
        bye && byes == 1
    }));
    let start = p.now;
    let (a, b) = answered(&mut p);
    let now = p.now;
    p.ep("alice").hangup(now, a).unwrap();
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.state("alice", a).as_deref(), Some("Terminated"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Terminated"));
    assert_eq!(p.lost.len(), 1);
    let ladder = p.ladder(start);
    assert_eq!(ladder.matches("BYE sip:").count(), 2, "{ladder}");
    assert_eq!(
        terminated(&mut p, "alice", a),
        (EndReason::HungUp { by: Side::Local }, Some(200))
    );
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

#[test]
fn cancel_before_any_provisional_waits_for_the_180() {
    let mut p = alice_and_bob();
    let start = p.now;
    let now = p.now;
    let a = p
        .ep("alice")
        .make_call(now, BOB, CallOptions::default())
        .unwrap();
    // The INVITE is on the wire; nothing has come back yet (RFC 3261 §9.1: the CANCEL
    // waits for a provisional response).
    p.drain();
    p.ep("alice").hangup(now, a).unwrap();
    assert_eq!(p.state("alice", a).as_deref(), Some("Cancelling"));
    p.run_for(Duration::from_secs(1));
    let b = p.incoming("bob").unwrap();
    assert_eq!(p.state("alice", a).as_deref(), Some("Terminated"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Terminated"));
    let ladder = p.ladder(start);
    let cancel_at = ladder.lines().find(|l| l.contains("CANCEL sip:")).unwrap();
    assert!(cancel_at.trim_start().starts_with("20 "), "{ladder}");
    assert_eq!(
        terminated(&mut p, "alice", a),
        (EndReason::Cancelled { by: Side::Local }, Some(487))
    );
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

#[test]
fn callee_hanging_up_before_the_ack_sends_bye_after_it() {
    let mut p = alice_and_bob();
    let start = p.now;
    let (a, b) = ring(&mut p);
    let now = p.now;
    p.ep("bob").accept(now, b).unwrap();
    p.ep("bob").hangup(now, b).unwrap();
    assert_eq!(p.state("bob", b).as_deref(), Some("Answering"));
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Terminated"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Terminated"));
    assert_eq!(
        terminated(&mut p, "alice", a),
        (EndReason::HungUp { by: Side::Remote }, Some(200))
    );
    assert_eq!(
        terminated(&mut p, "bob", b),
        (EndReason::HungUp { by: Side::Local }, Some(200))
    );
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

#[test]
fn an_unanswered_call_is_refused_480_after_the_callee_no_answer_timer() {
    let mut p = alice_and_bob();
    let start = p.now;
    let (a, b) = ring(&mut p);
    p.run_for(Duration::from_secs(60));
    assert_eq!(p.state("alice", a).as_deref(), Some("Failed"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Terminated"));
    assert_eq!(
        terminated(&mut p, "alice", a),
        (
            EndReason::Rejected {
                by: Side::Remote,
                status: 480
            },
            Some(480)
        )
    );
    assert_eq!(
        terminated(&mut p, "bob", b).1,
        Some(480),
        "bob's own reason is a local refusal"
    );
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

#[test]
fn a_lost_200_is_retransmitted_and_a_lost_ack_is_resent_for_the_repeated_200() {
    let mut p = alice_and_bob();
    let mut oks = 0;
    let mut acks = 0;
    p.drop_sip = Some(Box::new(move |w| {
        let text = String::from_utf8_lossy(&w.bytes);
        let invite_ok = text.starts_with("SIP/2.0 200") && text.contains(" INVITE\r\n");
        oks += u32::from(invite_ok);
        let ack = text.starts_with("ACK ");
        acks += u32::from(ack);
        (invite_ok && oks == 1) || (ack && acks == 1)
    }));
    let start = p.now;
    let (a, b) = ring(&mut p);
    let now = p.now;
    p.ep("bob").accept(now, b).unwrap();
    p.run_for(Duration::from_secs(3));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    assert_eq!(p.lost.len(), 2, "{}", p.ladder(start));
    let now = p.now;
    p.ep("alice").hangup(now, a).unwrap();
    p.run_for(Duration::from_secs(1));
    insta::assert_snapshot!(p.transcript(start));
    finish_idle(&mut p);
}

/// Two runs of the same flow with the same seeds put the same bytes on the wire: tags,
/// branches, Call-IDs, SDP origins and the glare back-off all come from the seed.
#[test]
fn the_same_seeds_give_byte_identical_wires() {
    let run = || {
        let mut p = alice_and_bob();
        let (a, b) = answered(&mut p);
        let now = p.now;
        p.ep("alice").hold(now, a).unwrap();
        p.ep("bob").hold(now, b).unwrap();
        p.run_for(Duration::from_secs(10));
        let now = p.now;
        p.ep("bob").hangup(now, b).unwrap();
        p.run_for(Duration::from_secs(10));
        p.wire
            .iter()
            .map(|w| (w.at, w.from, w.bytes.clone()))
            .collect::<Vec<_>>()
    };
    let (first, second) = (run(), run());
    assert!(first.len() > 10);
    assert!(first == second, "the two runs differ");
}

/// Every byte of a basic call, for review: headers, tags, SDP.
#[test]
fn basic_call_messages_in_full() {
    let mut p = alice_and_bob();
    let (a, _) = answered(&mut p);
    let now = p.now;
    p.ep("alice").hangup(now, a).unwrap();
    p.run_for(Duration::from_secs(1));
    let mut text = String::new();
    for w in &p.wire {
        text.push_str(&format!("==== {} -> {}\n", w.from, w.to));
        text.push_str(&String::from_utf8_lossy(&w.bytes).replace("\r\n", "\n"));
    }
    insta::assert_snapshot!(text);
}

/// Bob's table refuses to be held (488 to a hold re-INVITE).
fn refuses_hold_table() -> CompiledTable {
    let yaml = include_str!("../../state_tables/default.yaml");
    let from = "    event: { type: DialogReINVITE, remote_hold: true }
    actions: [NegotiateSDP, AcceptReINVITE]
    condition_updates: { RemoteHold: true }
    publish: [RemoteHeld]";
    let to = "    event: { type: DialogReINVITE, remote_hold: true }
    actions: [{ type: RejectReINVITE, status: 488 }]";
    assert!(
        yaml.contains(from),
        "the default table changed; update this test"
    );
    CompiledTable::from_yaml("refuses-hold.yaml", &yaml.replace(from, to)).expect("valid table")
}

#[test]
fn a_refused_hold_leaves_the_call_active() {
    let mut bob = config("127.0.0.2:5060", 2);
    bob.table = Arc::new(refuses_hold_table());
    let mut p = Pump::new(vec![("alice", config("127.0.0.1:5060", 1)), ("bob", bob)]);
    let start = p.now;
    let (a, b) = answered(&mut p);
    let now = p.now;
    p.ep("alice").hold(now, a).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    assert!(p.ladder(start).contains("488 Not Acceptable Here"));
    assert!(!p
        .events_of("alice", a)
        .iter()
        .any(|e| matches!(e, SessionEvent::Held { .. })));
    insta::assert_snapshot!(p.transcript(start));
}

/// After a refused hold, alice is not holding: when Bob holds her, her answer must be
/// recvonly (RFC 3264 §8.4). A rejected re-offer leaves the session as it was before
/// (RFC 3264 §8: `LocalSession::reoffer_rejected`).
#[test]
fn after_a_refused_hold_the_caller_answers_a_hold_with_recvonly() {
    let mut bob = config("127.0.0.2:5060", 2);
    bob.table = Arc::new(refuses_hold_table());
    let mut p = Pump::new(vec![("alice", config("127.0.0.1:5060", 1)), ("bob", bob)]);
    let start = p.now;
    let (a, b) = answered(&mut p);
    let now = p.now;
    p.ep("alice").hold(now, a).unwrap();
    p.run_for(Duration::from_secs(1));
    let now = p.now;
    p.ep("bob").hold(now, b).unwrap();
    p.run_for(Duration::from_secs(1));
    let ladder = p.ladder(start);
    let answer = ladder
        .lines()
        .rev()
        .find(|l| l.contains("alice -> bob  SIP/2.0 200 OK ["))
        .unwrap_or_default();
    assert!(answer.contains("[recvonly]"), "{ladder}");
}

/// An ended call gives its RTP port back as soon as its media stops, on both sides, not
/// when the session is destroyed after lingering (a load of 1,000 calls/s would hold
/// thousands of ports for nothing), and each port is given back once.
#[test]
fn rtp_ports_are_released_when_the_call_ends_not_after_the_linger() {
    let mut p = alice_and_bob();
    let (a, b) = answered(&mut p);
    let hangup_at = p.now;
    p.ep("alice").hangup(hangup_at, a).expect("alice hangs up");
    p.run_for(Duration::from_millis(100));
    for (node, s) in [("alice", a), ("bob", b)] {
        let closed = &p.node(node).rtp_closed;
        assert_eq!(closed.len(), 1, "{node}: {closed:?}");
        assert_eq!(closed[0].1, s);
        assert!(
            closed[0].0 <= hangup_at + Duration::from_millis(20),
            "{node}: {closed:?}"
        );
        assert!(
            p.state(node, s).is_some(),
            "{node}: the session still lingers"
        );
    }
    finish_idle(&mut p);
    assert_eq!(p.node("alice").rtp_closed.len(), 1, "closed once");
    assert_eq!(p.node("bob").rtp_closed.len(), 1, "closed once");
}
/// RFC 3515 §2.4.2: a REFER with a Refer-To is accepted with 202 and the transferee
/// learns the target. (The router looked the header up under a name the parser never
/// gives it, so every REFER, ours included, was refused 400.)
#[test]
fn a_refer_is_accepted_202_and_the_transferee_is_told_the_target() {
    let mut p = alice_and_bob();
    let (a, b) = answered(&mut p);
    let now = p.now;
    p.ep("alice")
        .transfer(now, a, "sip:carol@127.0.0.3:5060")
        .expect("alice transfers");
    p.run_for(Duration::from_millis(100));
    let answer = p
        .wire
        .iter()
        .find(|w| w.from == "bob" && String::from_utf8_lossy(&w.bytes).contains("CSeq: 2 REFER"))
        .and_then(|w| status_of(&w.bytes));
    assert_eq!(answer, Some(202));
    assert!(p.events_of("bob", b).iter().any(
        |e| matches!(e, SessionEvent::TransferRequested { session, target, .. }
            if *session == b && target == "sip:carol@127.0.0.3:5060")
    ));
}

/// A table row may match the method of the SIP message behind its event (`method:` in
/// the event match): every event a message causes carries it. Here the remote-BYE row
/// asks for `method: BYE`; the call must still end on Bob's BYE, not be answered 481.
#[test]
fn a_table_row_matching_the_method_fires_for_that_method() {
    let yaml = include_str!("../../state_tables/default.yaml");
    let from = "  - state: [Active, OnHold, Holding, Resuming]
    event: DialogBYE
";
    let to = "  - state: [Active, OnHold, Holding, Resuming]
    event: { type: DialogBYE, method: BYE }
";
    assert!(
        yaml.contains(from),
        "the default table changed; update this test"
    );
    let table = CompiledTable::from_yaml("method-match.yaml", &yaml.replace(from, to))
        .expect("valid table");
    let mut alice = config("127.0.0.1:5060", 1);
    alice.table = Arc::new(table);
    let mut p = alice_and_bob_with(alice, config("127.0.0.2:5060", 2));
    let (a, b) = answered(&mut p);
    let now = p.now;
    p.ep("bob").hangup(now, b).unwrap();
    p.run_for(Duration::from_secs(1));
    let (reason, _) = terminated(&mut p, "alice", a);
    assert_eq!(reason, EndReason::HungUp { by: Side::Remote });
    let (reason, _) = terminated(&mut p, "bob", b);
    assert_eq!(reason, EndReason::HungUp { by: Side::Local });
}

/// RFC 3261 §13.3.1.4, §15: the caller's BYE names the dialog our 2xx created, so the
/// 2xx reached it even though every ACK was lost. The callee reports the call answered,
/// then ended by the caller, as the caller does (both sides agree on the outcome).
#[test]
fn a_bye_before_any_ack_reports_the_call_answered_then_ended() {
    let mut p = alice_and_bob();
    p.drop_sip = Some(Box::new(|w| w.bytes.starts_with(b"ACK ")));
    let (a, b) = ring(&mut p);
    let now = p.now;
    p.ep("bob").accept(now, b).expect("bob answers");
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.state("bob", b).as_deref(), Some("Answering"));
    let now = p.now;
    p.ep("alice").hangup(now, a).expect("alice hangs up");
    p.run_for(Duration::from_secs(1));
    let events = p.events_of("bob", b);
    let answered = events
        .iter()
        .position(|e| matches!(e, SessionEvent::Answered { .. }));
    let ended = events.iter().position(|e| {
        matches!(
            e,
            SessionEvent::Terminated {
                reason: EndReason::HungUp { by: Side::Remote },
                ..
            }
        )
    });
    assert!(answered.is_some() && answered < ended, "{events:?}");
}
