//! Call transfer between three endpoints on the default state table: blind (REFER, RFC
//! 3515) and attended (REFER with Replaces, RFC 3891, RFC 5589 §7). Alice (127.0.0.1)
//! transfers Bob (127.0.0.2) to Carol (127.0.0.3). Each test asserts what every party
//! was told and how each call ended, and snapshots the ladder.

use std::time::Duration;

use session_core::endpoint::{EndReason, SessionEvent, SessionId, Side};
use session_core::CallOptions;
use session_core_tests::{answered, config, header_of, status_of, Pump, Wire};

const CAROL: &str = "sip:carol@127.0.0.3:5060";

fn three() -> Pump {
    Pump::new(vec![
        ("alice", config("127.0.0.1:5060", 1)),
        ("bob", config("127.0.0.2:5060", 2)),
        ("carol", config("127.0.0.3:5060", 3)),
    ])
}

/// Runs until `node` reports a new incoming call (at most `within`), then returns it.
fn wait_incoming(p: &mut Pump, node: &str, within: Duration) -> SessionId {
    let seen = p.node(node).events.len();
    let until = p.now + within;
    while p.now < until {
        p.run_for(Duration::from_millis(10));
        let new = p.node(node).events[seen..]
            .iter()
            .find_map(|(_, e)| match e {
                SessionEvent::IncomingCall { session, .. } => Some(*session),
                _ => None,
            });
        if let Some(s) = new {
            return s;
        }
    }
    panic!("{node} saw no call");
}

fn end_of(p: &mut Pump, node: &str, s: SessionId) -> Option<EndReason> {
    p.events_of(node, s).into_iter().find_map(|e| match e {
        SessionEvent::Terminated { reason, .. } => Some(reason),
        _ => None,
    })
}

/// What `node` was told of the transfer it asked for on `s`.
fn transfer_events(p: &mut Pump, node: &str, s: SessionId) -> Vec<String> {
    p.events_of(node, s)
        .into_iter()
        .filter_map(|e| match e {
            SessionEvent::TransferProgress { status, .. } => Some(format!("progress {status}")),
            SessionEvent::TransferSucceeded { status, .. } => Some(format!("succeeded {status}")),
            SessionEvent::TransferFailed { status, .. } => Some(format!("failed {status:?}")),
            _ => None,
        })
        .collect()
}

/// The sipfrag status lines of the NOTIFYs `from` sent, in order.
fn notified(p: &Pump, from: &str) -> Vec<String> {
    p.wire
        .iter()
        .filter(|w| w.from == from && w.bytes.starts_with(b"NOTIFY "))
        .map(|w| {
            let text = String::from_utf8_lossy(&w.bytes).into_owned();
            let body = text
                .split("\r\n\r\n")
                .nth(1)
                .unwrap_or("")
                .trim()
                .to_owned();
            let state = header_of(&w.bytes, "Subscription-State").unwrap_or_default();
            format!("{body} [{}]", state.split(';').next().unwrap_or(""))
        })
        .collect()
}

/// Bob's call placed for the REFER, from his `TransferRequested`.
fn referred_call(p: &mut Pump, b: SessionId) -> SessionId {
    p.events_of("bob", b)
        .into_iter()
        .find_map(|e| match e {
            SessionEvent::TransferRequested { call, target, .. } => {
                assert!(target.contains("@127.0.0.3:5060"), "{target}");
                call
            }
            _ => None,
        })
        .expect("bob placed the call the REFER asked for")
}

fn first_from<'a>(p: &'a Pump, from: &str, start: &str) -> &'a Wire {
    p.wire
        .iter()
        .find(|w| w.from == from && w.bytes.starts_with(start.as_bytes()))
        .unwrap_or_else(|| panic!("{from} sent no {start}"))
}

/// RFC 3515 §2.4: Bob accepts Alice's REFER (202), calls Carol with Alice's
/// `Referred-By` (RFC 3892), and reports that call by NOTIFY: 100 at once, Carol's 180,
/// then her 200, which terminates the subscription. Alice, told each step, ends her call
/// with Bob, who stays connected to Carol.
#[test]
fn blind_transfer_connects_the_transferee_to_the_target_and_ends_the_first_call() {
    let mut p = three();
    let start = p.now;
    let (a, b) = answered(&mut p);
    let now = p.now;
    p.ep("alice")
        .transfer(now, a, CAROL)
        .expect("alice transfers");
    let c = wait_incoming(&mut p, "carol", Duration::from_secs(1));
    p.run_for(Duration::from_millis(500));
    let now = p.now;
    p.ep("carol").accept(now, c).expect("carol answers");
    p.run_for(Duration::from_secs(2));

    let bc = referred_call(&mut p, b);
    assert_eq!(p.state("bob", bc).as_deref(), Some("Active"));
    assert_eq!(p.state("carol", c).as_deref(), Some("Active"));
    assert_eq!(
        p.ep("bob").session(bc).and_then(|s| s.referred_by),
        Some(b),
        "the session store links the new call to the REFER's"
    );
    let invite = first_from(&p, "bob", "INVITE sip:carol");
    assert_eq!(
        header_of(&invite.bytes, "Referred-By").as_deref(),
        Some("<sip:ua@127.0.0.1:5060>")
    );
    assert_eq!(
        notified(&p, "bob"),
        [
            "SIP/2.0 100 Trying [active]",
            "SIP/2.0 180 Ringing [active]",
            "SIP/2.0 200 OK [terminated]"
        ]
    );
    assert_eq!(
        transfer_events(&mut p, "alice", a),
        ["progress 100", "progress 180", "succeeded 200"]
    );
    assert_eq!(
        end_of(&mut p, "alice", a),
        Some(EndReason::HungUp { by: Side::Local })
    );
    assert_eq!(
        end_of(&mut p, "bob", b),
        Some(EndReason::HungUp { by: Side::Remote })
    );
    insta::assert_snapshot!(p.transcript(start));
}

/// RFC 3515 §2.4.5: Carol refuses (486); Bob's final NOTIFY says so, Alice is told the
/// transfer failed with that status, and her call with Bob goes on.
#[test]
fn transfer_to_a_busy_target_fails_with_its_status_and_the_call_goes_on() {
    let mut p = three();
    let start = p.now;
    let (a, b) = answered(&mut p);
    let now = p.now;
    p.ep("alice")
        .transfer(now, a, CAROL)
        .expect("alice transfers");
    let c = wait_incoming(&mut p, "carol", Duration::from_secs(1));
    let now = p.now;
    p.ep("carol").reject(now, c, 486).expect("carol is busy");
    p.run_for(Duration::from_secs(2));

    assert_eq!(
        notified(&p, "bob"),
        [
            "SIP/2.0 100 Trying [active]",
            "SIP/2.0 180 Ringing [active]",
            "SIP/2.0 486 Busy Here [terminated]"
        ]
    );
    assert_eq!(
        transfer_events(&mut p, "alice", a),
        ["progress 100", "progress 180", "failed Some(486)"]
    );
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    insta::assert_snapshot!(p.transcript(start));
}

/// RFC 6665 §4.2.2 and RFC 3261 §17.1.2: the NOTIFY carrying Carol's answer is lost;
/// Bob's non-INVITE transaction re-sends it, no later NOTIFY overtakes it, and the
/// transfer completes.
#[test]
fn a_lost_notify_is_retransmitted_and_the_transfer_still_completes() {
    let mut p = three();
    let start = p.now;
    let (a, _b) = answered(&mut p);
    let mut dropped = false;
    p.drop_sip = Some(Box::new(move |w: &Wire| {
        let lose = !dropped
            && w.from == "bob"
            && w.bytes.starts_with(b"NOTIFY ")
            && String::from_utf8_lossy(&w.bytes).contains("SIP/2.0 200 OK");
        dropped |= lose;
        lose
    }));
    let now = p.now;
    p.ep("alice")
        .transfer(now, a, CAROL)
        .expect("alice transfers");
    let c = wait_incoming(&mut p, "carol", Duration::from_secs(1));
    let now = p.now;
    p.ep("carol").accept(now, c).expect("carol answers");
    p.run_for(Duration::from_secs(3));

    assert_eq!(p.lost.len(), 1, "one NOTIFY lost");
    let finals = notified(&p, "bob")
        .into_iter()
        .filter(|n| n.contains("200 OK"))
        .count();
    assert_eq!(finals, 2, "the final NOTIFY was sent again");
    assert_eq!(
        transfer_events(&mut p, "alice", a)
            .last()
            .map(String::as_str),
        Some("succeeded 200")
    );
    assert_eq!(p.state("alice", a).as_deref(), Some("Terminated"));
    insta::assert_snapshot!(p.transcript(start));
}

/// RFC 3515 §2.4.4: the NOTIFYs may overtake the 202. Here the 202 is lost and the
/// target refuses at once, so the final NOTIFY (486) ends the subscription before the
/// 202, re-sent for the REFER's retransmission, arrives. The late 202 must not start a
/// wait for an outcome that already came: Alice is told of the failure once, and her
/// call goes on.
#[test]
fn a_final_notify_before_the_202_decides_the_transfer_once() {
    let mut p = three();
    let (a, b) = answered(&mut p);
    let mut dropped = false;
    p.drop_sip = Some(Box::new(move |w: &Wire| {
        let lose = !dropped && w.from == "bob" && status_of(&w.bytes) == Some(202);
        dropped |= lose;
        lose
    }));
    let now = p.now;
    p.ep("alice")
        .transfer(now, a, CAROL)
        .expect("alice transfers");
    let c = wait_incoming(&mut p, "carol", Duration::from_secs(1));
    let now = p.now;
    p.ep("carol").reject(now, c, 486).expect("carol is busy");
    p.run_for(Duration::from_secs(200));

    assert_eq!(p.lost.len(), 1, "the first 202 was lost");
    assert_eq!(
        transfer_events(&mut p, "alice", a),
        ["progress 100", "progress 180", "failed Some(486)"]
    );
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
}

/// RFC 5589 §7 and RFC 3891: Alice, talking to Bob, holds him and consults Carol; then
/// she REFERs Bob to Carol with Replaces naming the consultation. Carol takes Bob's
/// INVITE in place of Alice's call, which she ends with BYE; Bob's final NOTIFY ends
/// Alice's call with him. Bob and Carol are left talking.
#[test]
fn attended_transfer_replaces_the_consultation_and_connects_the_other_two() {
    let mut p = three();
    let start = p.now;
    let (a, b) = answered(&mut p);
    let now = p.now;
    p.ep("alice").hold(now, a).expect("alice holds bob");
    p.run_for(Duration::from_millis(200));
    let now = p.now;
    let consult = p
        .ep("alice")
        .make_call(now, CAROL, CallOptions::default())
        .expect("alice calls carol");
    let c1 = wait_incoming(&mut p, "carol", Duration::from_secs(1));
    let now = p.now;
    p.ep("carol").accept(now, c1).expect("carol answers alice");
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", consult).as_deref(), Some("Active"));

    let now = p.now;
    p.ep("alice")
        .transfer_attended(now, a, consult)
        .expect("alice transfers bob to carol");
    let c2 = wait_incoming(&mut p, "carol", Duration::from_secs(1));
    assert_eq!(
        p.ep("carol").session(c2).and_then(|s| s.replaces),
        Some(c1),
        "carol's new call names the one it replaces"
    );
    let invite = first_from(&p, "bob", "INVITE sip:");
    let replaces = header_of(&invite.bytes, "Replaces").expect("INVITE with Replaces");
    assert!(replaces.contains(";to-tag=") && replaces.contains(";from-tag="));
    let now = p.now;
    p.ep("carol").accept(now, c2).expect("carol answers bob");
    p.run_for(Duration::from_secs(2));

    let bc = referred_call(&mut p, b);
    assert_eq!(p.state("bob", bc).as_deref(), Some("Active"));
    assert_eq!(p.state("carol", c2).as_deref(), Some("Active"));
    assert_eq!(
        end_of(&mut p, "carol", c1),
        Some(EndReason::Replaced { by: c2 })
    );
    assert_eq!(
        end_of(&mut p, "alice", consult),
        Some(EndReason::HungUp { by: Side::Remote })
    );
    assert_eq!(
        transfer_events(&mut p, "alice", a)
            .last()
            .map(String::as_str),
        Some("succeeded 200")
    );
    assert_eq!(
        end_of(&mut p, "alice", a),
        Some(EndReason::HungUp { by: Side::Local })
    );
    insta::assert_snapshot!(p.transcript(start));
}

/// RFC 3891 §3: an INVITE whose Replaces names no dialog of ours is answered 481, and
/// no call is offered to the application.
#[test]
fn an_invite_with_replaces_for_an_unknown_dialog_is_answered_481() {
    let mut p = three();
    let start = p.now;
    let (a, b) = answered(&mut p);
    let now = p.now;
    let options = CallOptions {
        replaces: Some("no-such-call@127.0.0.9;to-tag=x;from-tag=y".into()),
        ..CallOptions::default()
    };
    p.ep("carol")
        .make_call(now, "sip:bob@127.0.0.2:5060", options)
        .expect("carol calls");
    p.run_for(Duration::from_secs(1));
    let answer = p
        .wire
        .iter()
        .find(|w| {
            w.from == "bob" && w.to == "carol" && status_of(&w.bytes).is_some_and(|s| s >= 200)
        })
        .and_then(|w| status_of(&w.bytes));
    assert_eq!(answer, Some(481));
    assert_eq!(
        p.node("bob")
            .events
            .iter()
            .filter(|(_, e)| matches!(e, SessionEvent::IncomingCall { .. }))
            .count(),
        1
    );
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    insta::assert_snapshot!(p.ladder(start));
}

/// RFC 4488 §4: a REFER with `Refer-Sub: false` is accepted with `Refer-Sub: false` and
/// creates no subscription: the call is placed and no NOTIFY is sent.
#[test]
fn a_refer_without_subscription_is_followed_without_notify() {
    let mut p = three();
    answered(&mut p);
    let refer = format!(
        "REFER sip:ua@127.0.0.2:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKnosub1\r\n\
         Max-Forwards: 70\r\n\
         {}\
         CSeq: 50 REFER\r\n\
         Refer-To: <{CAROL}>\r\n\
         Refer-Sub: false\r\n\
         Contact: <sip:ua@127.0.0.1:5060>\r\n\
         Content-Length: 0\r\n\r\n",
        in_dialog_headers(&p),
    );
    p.inject("bob", "127.0.0.1:5060".parse().unwrap(), refer.as_bytes());
    p.run_for(Duration::from_millis(50));
    let answer = p
        .wire
        .iter()
        .find(|w| w.from == "bob" && String::from_utf8_lossy(&w.bytes).contains("CSeq: 50 REFER"))
        .expect("bob answers the REFER");
    assert_eq!(status_of(&answer.bytes), Some(202));
    assert_eq!(
        header_of(&answer.bytes, "Refer-Sub").as_deref(),
        Some("false")
    );
    p.run_for(Duration::from_secs(1));
    assert!(p.incoming("carol").is_some(), "bob called carol");
    assert!(notified(&p, "bob").is_empty(), "{:?}", notified(&p, "bob"));
}

/// From, To and Call-ID of a request Alice sends in her dialog with Bob.
fn in_dialog_headers(p: &Pump) -> String {
    let ack = p
        .wire
        .iter()
        .find(|w| w.from == "alice" && w.bytes.starts_with(b"ACK "))
        .expect("alice's ACK");
    let h = |n| header_of(&ack.bytes, n).unwrap_or_default();
    format!(
        "From: {}\r\nTo: {}\r\nCall-ID: {}\r\n",
        h("From"),
        h("To"),
        h("Call-ID")
    )
}
