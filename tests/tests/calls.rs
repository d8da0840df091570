//! Back-to-back calls between two Endpoints on the default state table.

use std::time::Duration;

use session_core::endpoint::{EndReason, SessionEvent, Side};
use session_core::CallOptions;
use session_core_tests::{config, Pump};

fn pair() -> Pump {
    Pump::new(vec![
        ("alice", config("127.0.0.1:5060", 1)),
        ("bob", config("127.0.0.2:5060", 2)),
    ])
}

#[test]
fn basic_call_answered_then_hung_up_by_the_caller() {
    let mut p = pair();
    let start = p.now;
    let now = p.now;
    let call = p
        .ep("alice")
        .make_call(now, "sip:bob@127.0.0.2:5060", CallOptions::default())
        .unwrap();
    p.run_for(Duration::from_millis(100));
    let incoming = p
        .node("bob")
        .events
        .iter()
        .find_map(|(_, e)| match e {
            SessionEvent::IncomingCall { session, .. } => Some(*session),
            _ => None,
        })
        .expect("bob sees the call");
    let now = p.now;
    p.ep("bob").accept(now, incoming).unwrap();
    p.run_for(Duration::from_secs(2));
    let now = p.now;
    p.ep("alice").hangup(now, call).unwrap();
    p.run_for(Duration::from_secs(40));
    println!("{}", p.ladder(start));
    println!("rtp {:?}", p.rtp_delivered);
    for n in &p.nodes {
        println!("{} {:?}", n.name, n.events);
    }
    assert!(p
        .node("alice")
        .events
        .iter()
        .any(|(_, e)| matches!(e, SessionEvent::Answered { .. })));
    assert!(p.node("bob").events.iter().any(|(_, e)| matches!(
        e,
        SessionEvent::Terminated {
            reason: EndReason::HungUp { by: Side::Remote },
            ..
        }
    )));
    assert!(p.ep("alice").is_idle(), "alice idle");
    assert!(p.ep("bob").is_idle(), "bob idle");
}
