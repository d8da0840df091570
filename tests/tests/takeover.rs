//! Moving a confirmed call to another endpoint of the same configuration: a session
//! snapshot taken on Bob, carried as JSON, restored on Bob's twin at another address
//! (`bob2`), which re-INVITEs Alice with its own Contact and media address. Every state
//! of the default table either round-trips or says why it cannot be moved; the JSON of an
//! established call is snapshotted for review; a moved call is hung up by its peer, and
//! the BYE reaches the new owner and is answered.

use std::time::Duration;

use session_core::endpoint::{
    Contradiction, EndReason, NotMovable, RestoreError, SessionEvent, SessionId, SessionSnapshot,
    Side, SnapshotError,
};
use session_core::state_table::CompiledTable;
use session_core::{Endpoint, Instant};
use session_core_tests::{
    answered, config, early_media_table, header_of, respond, ring, sent, Pump,
};

/// Alice, Bob, and Bob's twin: the same configuration (user, table, media) at another
/// address, with its own seed, as a second instance of a service would run.
fn trio() -> Pump {
    Pump::new(vec![
        ("alice", config("127.0.0.1:5060", 1)),
        ("bob", config("127.0.0.2:5060", 2)),
        ("bob2", config("127.0.0.3:5060", 3)),
    ])
}

/// Through JSON and back, as a runtime would store it.
fn through_json(s: &SessionSnapshot) -> SessionSnapshot {
    let text = serde_json::to_string(s).expect("serialises");
    serde_json::from_str(&text).expect("deserialises")
}

/// Bob's snapshot of `b`, through JSON, restored on a twin of Bob at the same instant
/// (outside the pump: nothing it sends matters here), then snapshotted there again: the
/// two snapshots must be equal.
fn round_trip(p: &mut Pump, b: SessionId) {
    let now = p.now;
    let taken = p.ep("bob").snapshot(now, b).expect("movable");
    let mut twin = Endpoint::new(config("127.0.0.3:5060", 3));
    let restored = twin.restore(now, through_json(&taken)).expect("restores");
    let again = twin.snapshot(now, restored).expect("movable again");
    assert_eq!(again, taken, "state {}", taken.state);
}

/// What Bob's session `b` says when asked for a snapshot.
fn not_movable(p: &mut Pump, node: &str, s: SessionId) -> NotMovable {
    let now = p.now;
    match p.ep(node).snapshot(now, s) {
        Err(SnapshotError::NotMovable { why, .. }) => why,
        other => panic!("{node}'s {s} in {:?}: {other:?}", p.state(node, s)),
    }
}

/// Alice registering at an address no node owns, for the registration states.
fn registration(p: &mut Pump) -> SessionId {
    let now = p.now;
    let reg = p
        .ep("alice")
        .register(now, "sip:ua@127.0.0.9:5060", 60)
        .expect("registers");
    p.run_for(Duration::from_millis(1));
    reg
}

/// The registrar's answer to the latest REGISTER.
fn registrar_answers(p: &mut Pump, status: u16, extra: &[&str]) {
    let last = sent(p, "REGISTER").pop().expect("a REGISTER");
    let registrar = "127.0.0.9:5060".parse().expect("an address");
    p.inject("alice", registrar, &respond(&last, status, extra));
    p.run_for(Duration::from_millis(1));
}

/// Alice's session `a` in `state`, with the reason a snapshot of it is refused.
fn reached(p: &mut Pump, node: &str, s: SessionId, state: &str, why: NotMovable) -> NotMovable {
    assert_eq!(p.state(node, s).as_deref(), Some(state));
    assert_eq!(not_movable(p, node, s), why, "{state}");
    why
}

#[test]
fn every_state_of_the_default_table_round_trips_or_says_why_not() {
    let mut covered = std::collections::BTreeSet::new();
    let mut cover = |state: &str| covered.insert(state.to_owned());
    use NotMovable as N;

    // The call states, in the order a call goes through them.
    let mut p = trio();
    let now = p.now;
    let a = p
        .ep("alice")
        .make_call(now, session_core_tests::BOB, Default::default())
        .expect("calls");
    // Not drained yet: the RTP socket is still to be opened.
    reached(&mut p, "alice", a, "PreparingCall", N::NoConfirmedDialog);
    cover("PreparingCall");
    p.drain();
    reached(&mut p, "alice", a, "Initiating", N::NoConfirmedDialog);
    cover("Initiating");
    p.run_for(Duration::from_millis(100));
    let b = p.incoming("bob").expect("bob rings");
    reached(&mut p, "alice", a, "Ringing", N::NoConfirmedDialog);
    reached(&mut p, "bob", b, "Ringing", N::NoConfirmedDialog);
    cover("Ringing");
    let now = p.now;
    p.ep("bob").accept(now, b).expect("answers");
    p.drain();
    reached(&mut p, "bob", b, "Answering", N::AckAwaited);
    cover("Answering");
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    round_trip(&mut p, b);
    cover("Active");
    let now = p.now;
    p.ep("bob").hold(now, b).expect("holds");
    p.drain();
    reached(&mut p, "bob", b, "Holding", N::OfferAnswerUnderWay);
    cover("Holding");
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("bob", b).as_deref(), Some("OnHold"));
    round_trip(&mut p, b);
    cover("OnHold");
    // Held by the peer too: the RemoteHold condition travels.
    let now = p.now;
    p.ep("alice").hold(now, a).expect("holds");
    p.run_for(Duration::from_secs(1));
    round_trip(&mut p, b);
    let now = p.now;
    p.ep("bob").resume(now, b).expect("resumes");
    p.drain();
    reached(&mut p, "bob", b, "Resuming", N::OfferAnswerUnderWay);
    cover("Resuming");
    p.run_for(Duration::from_secs(1));
    let now = p.now;
    p.ep("bob").hangup(now, b).expect("hangs up");
    p.drain();
    reached(&mut p, "bob", b, "Terminating", N::Ending);
    cover("Terminating");
    p.run_for(Duration::from_secs(1));
    reached(&mut p, "bob", b, "Terminated", N::Ended);
    cover("Terminated");

    // Early media: Bob answers the INVITE's offer in a 183 (a table of his own).
    let mut bob = config("127.0.0.2:5060", 2);
    bob.table = std::sync::Arc::new(early_media_table());
    let mut p = Pump::new(vec![("alice", config("127.0.0.1:5060", 1)), ("bob", bob)]);
    let (a, _) = ring(&mut p);
    reached(&mut p, "alice", a, "EarlyMedia", N::NoConfirmedDialog);
    cover("EarlyMedia");
    let now = p.now;
    p.ep("alice").hangup(now, a).expect("cancels");
    p.drain();
    reached(&mut p, "alice", a, "Cancelling", N::NoConfirmedDialog);
    cover("Cancelling");

    // A refused call fails.
    let mut p = trio();
    let (a, b) = ring(&mut p);
    let now = p.now;
    p.ep("bob").reject(now, b, 486).expect("rejects");
    p.run_for(Duration::from_secs(1));
    reached(&mut p, "alice", a, "Failed", N::Ended);
    cover("Failed");

    // Registrations are no calls.
    let reg = registration(&mut p);
    reached(&mut p, "alice", reg, "Registering", N::Registration);
    cover("Registering");
    registrar_answers(&mut p, 503, &[]);
    reached(&mut p, "alice", reg, "RegistrationBackoff", N::Registration);
    cover("RegistrationBackoff");
    p.run_for(Duration::from_secs(120));
    reached(&mut p, "alice", reg, "Registering", N::Registration);
    let last = sent(&p, "REGISTER").pop().expect("a REGISTER");
    let contact = header_of(&last, "Contact").expect("a Contact");
    registrar_answers(&mut p, 200, &[&format!("Contact: {contact};expires=60")]);
    reached(&mut p, "alice", reg, "Registered", N::Registration);
    cover("Registered");
    p.run_for(Duration::from_secs(59));
    reached(&mut p, "alice", reg, "Refreshing", N::Registration);
    cover("Refreshing");
    registrar_answers(&mut p, 200, &[&format!("Contact: {contact};expires=60")]);
    let now = p.now;
    p.ep("alice").unregister(now, reg).expect("unregisters");
    p.drain();
    reached(&mut p, "alice", reg, "Unregistering", N::Registration);
    cover("Unregistering");

    // No session rests in Idle (its first event moves it on at once); a snapshot that
    // names it, or a terminal state, is refused on restore.
    let mut p = trio();
    let (_, b) = answered(&mut p);
    let now = p.now;
    let taken = p.ep("bob").snapshot(now, b).expect("movable");
    for state in ["Idle", "Terminated", "Failed"] {
        let mut edited = taken.clone();
        edited.state = state.into();
        assert_eq!(
            p.ep("bob2").restore(now, edited),
            Err(RestoreError::StateNotResumable(state.into()))
        );
    }
    cover("Idle");

    let table = CompiledTable::default_table();
    let all: std::collections::BTreeSet<String> =
        table.states().iter().map(|s| s.name.to_string()).collect();
    assert_eq!(covered, all, "every state of the default table is covered");
}

#[test]
fn the_snapshot_of_an_established_call_as_json() {
    let mut p = trio();
    let (_, b) = answered(&mut p);
    let now = p.now;
    let taken = p.ep("bob").snapshot(now, b).expect("movable");
    insta::assert_snapshot!(serde_json::to_string_pretty(&taken).expect("serialises"));
}

#[test]
fn a_moved_call_is_reached_at_its_new_owner_and_its_bye_answered() {
    let mut p = trio();
    let start = p.now;
    let (a, b) = answered(&mut p);
    let now = p.now;
    let taken = through_json(&p.ep("bob").snapshot(now, b).expect("movable"));
    // Bob's machine dies: nothing reaches it or leaves it any more.
    p.drop_sip = Some(Box::new(|w| w.from == "bob" || w.to == "bob"));
    let bob_ip = p.ep("bob").config().sip_addr.ip();
    p.drop_media = Some(Box::new(move |to, _| to.ip() == bob_ip));
    p.run_for(Duration::from_secs(2));
    let now = p.now;
    let moved = p.ep("bob2").restore(now, taken).expect("restores");
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.state("bob2", moved).as_deref(), Some("Active"));
    let moves = p
        .events_of("bob2", moved)
        .iter()
        .filter(|e| matches!(e, SessionEvent::Moved { .. }))
        .count();
    assert_eq!(
        moves, 1,
        "the application hears once that the peer followed"
    );
    let media_before = p.rtp_delivered.get("bob2").copied().unwrap_or(0);
    p.run_for(Duration::from_secs(1));
    assert!(
        p.rtp_delivered.get("bob2").copied().unwrap_or(0) > media_before + 10,
        "Alice's RTP follows the call"
    );
    let now = p.now;
    p.ep("alice").hangup(now, a).expect("hangs up");
    p.run_for(Duration::from_secs(1));
    let alice_events = p.events_of("alice", a);
    let ends: Vec<_> = alice_events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Terminated { reason, status, .. } => Some((reason.clone(), *status)),
            _ => None,
        })
        .collect();
    assert_eq!(ends, [(EndReason::HungUp { by: Side::Local }, Some(200))]);
    assert_eq!(
        p.end_reason("bob2", moved),
        Some(EndReason::HungUp { by: Side::Remote })
    );
    insta::assert_snapshot!(p.transcript(start));
}

#[test]
fn a_moved_call_whose_peer_does_not_know_the_dialog_ends() {
    let mut p = trio();
    let (_, b) = answered(&mut p);
    let now = p.now;
    let mut taken = p.ep("bob").snapshot(now, b).expect("movable");
    // Not the dialog Alice has: her answer to the re-INVITE is 481 (RFC 3261 §12.2.2).
    taken.dialog.remote_tag = "unknown".into();
    let moved = p.ep("bob2").restore(now, taken).expect("restores");
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.state("bob2", moved).as_deref(), Some("Terminated"));
    assert_eq!(p.end_reason("bob2", moved), Some(EndReason::DialogGone));
    let reinvites = p
        .wire
        .iter()
        .filter(|w| w.from == "bob2" && w.bytes.starts_with(b"INVITE "))
        .count();
    assert_eq!(reinvites, 1, "a 481 is not tried again");
    assert!(
        !p.events_of("bob2", moved)
            .iter()
            .any(|e| matches!(e, SessionEvent::Moved { .. })),
        "a call the peer did not follow never says it moved"
    );
}

#[test]
fn an_aged_snapshot_brings_its_timers_nearer_and_fires_the_passed_ones_at_once() {
    let mut p = trio();
    let (_, b) = answered(&mut p);
    let now = p.now;
    let mut taken = p.ep("bob").snapshot(now, b).expect("movable");
    let at = taken.taken_at_us;
    taken.timers = vec![
        session_core::endpoint::TimerSnapshot {
            name: "SessionRefresh".into(),
            at_us: at + 10_000_000,
        },
        session_core::endpoint::TimerSnapshot {
            name: "SessionExpires".into(),
            at_us: at + 3_000_000,
        },
    ];
    taken.age(Duration::from_secs(4));
    let left: Vec<u64> = taken.timers.iter().map(|t| t.at_us - at).collect();
    assert_eq!(left, [6_000_000, 0]);
}

#[test]
fn a_move_refused_491_goes_again_after_the_back_off() {
    let mut p = trio();
    let (a, b) = answered(&mut p);
    let now = p.now;
    let taken = p.ep("bob").snapshot(now, b).expect("movable");
    p.drop_sip = Some(Box::new(|w| w.from == "bob" || w.to == "bob"));
    // Alice's first answer to Bob's twin reaches it as a 491 (as if her own offer had
    // crossed it).
    let mut refused = false;
    p.rewrite_sip = Some(Box::new(move |w| {
        let answer = w.from == "alice" && w.to == "bob2" && w.bytes.starts_with(b"SIP/2.0 200");
        if !answer || refused || !header_of(&w.bytes, "CSeq")?.ends_with("INVITE") {
            return None;
        }
        refused = true;
        let text = String::from_utf8_lossy(&w.bytes).replacen("200 OK", "491 Request Pending", 1);
        Some(text.into_bytes())
    }));
    let moved = p.ep("bob2").restore(now, taken).expect("restores");
    p.run_for(Duration::from_secs(6));
    let reinvites = p
        .wire
        .iter()
        .filter(|w| w.from == "bob2" && w.bytes.starts_with(b"INVITE "))
        .count();
    assert_eq!(reinvites, 2);
    assert_eq!(p.state("bob2", moved).as_deref(), Some("Active"));
    let now = p.now;
    p.ep("alice").hangup(now, a).expect("hangs up");
    p.run_for(Duration::from_secs(1));
    assert_eq!(
        p.end_reason("bob2", moved),
        Some(EndReason::HungUp { by: Side::Remote })
    );
}

#[test]
fn two_bridged_legs_moved_together_are_bridged_again_and_media_still_crosses() {
    let mut p = Pump::new(vec![
        ("alice", config("127.0.0.1:5060", 1)),
        ("bob", config("127.0.0.2:5060", 2)),
        ("bob2", config("127.0.0.3:5060", 3)),
        ("carol", config("127.0.0.4:5060", 4)),
    ]);
    let mut legs = Vec::new();
    for caller in ["alice", "carol"] {
        let now = p.now;
        p.ep(caller)
            .make_call(now, session_core_tests::BOB, Default::default())
            .expect("calls");
        p.run_for(Duration::from_millis(100));
        let leg = p.incoming("bob").expect("bob rings");
        let now = p.now;
        p.ep("bob").accept(now, leg).expect("answers");
        p.run_for(Duration::from_secs(1));
        legs.push(leg);
    }
    let now = p.now;
    p.ep("bob").bridge(now, legs[0], legs[1]).expect("bridges");
    p.run_for(Duration::from_secs(1));
    let now = p.now;
    let taken: Vec<SessionSnapshot> = legs
        .iter()
        .map(|&leg| through_json(&p.ep("bob").snapshot(now, leg).expect("movable")))
        .collect();
    assert!(taken.iter().all(|s| s.relaying && s.bridged_with.is_some()));
    p.drop_sip = Some(Box::new(|w| w.from == "bob" || w.to == "bob"));
    let bob_ip = p.ep("bob").config().sip_addr.ip();
    p.drop_media = Some(Box::new(move |to, _| to.ip() == bob_ip));
    let moved: Vec<SessionId> = taken
        .into_iter()
        .map(|s| p.ep("bob2").restore(now, s).expect("restores"))
        .collect();
    let bridged = |p: &mut Pump, s| p.ep("bob2").session(s).and_then(|i| i.bridged_with);
    assert_eq!(bridged(&mut p, moved[0]), Some(moved[1]));
    assert_eq!(bridged(&mut p, moved[1]), Some(moved[0]));
    p.run_for(Duration::from_secs(1));
    let carol_before = p.rtp_delivered.get("carol").copied().unwrap_or(0);
    p.run_for(Duration::from_secs(1));
    assert!(
        p.rtp_delivered.get("carol").copied().unwrap_or(0) > carol_before + 10,
        "Alice's media reaches Carol through Bob's twin"
    );
}

#[test]
fn bad_snapshots_are_refused_with_what_is_wrong() {
    let mut p = trio();
    let (_, b) = answered(&mut p);
    let now = p.now;
    let taken = p.ep("bob").snapshot(now, b).expect("movable");
    let refused = |p: &mut Pump, edit: &dyn Fn(&mut SessionSnapshot)| {
        let mut s = taken.clone();
        edit(&mut s);
        p.ep("bob2").restore(now, s).expect_err("refused")
    };
    use Contradiction as C;
    use RestoreError as R;
    assert_eq!(
        refused(&mut p, &|s| s.version = 2),
        R::UnsupportedVersion(2)
    );
    assert!(matches!(
        refused(&mut p, &|s| s.table = "gateway".into()),
        R::OtherTable { .. }
    ));
    assert_eq!(
        refused(&mut p, &|s| s.state = "Dancing".into()),
        R::UnknownState("Dancing".into())
    );
    assert_eq!(
        refused(&mut p, &|s| {
            s.conditions.remove("RemoteHold");
        }),
        R::MissingCondition("RemoteHold".into())
    );
    assert_eq!(
        refused(&mut p, &|s| s.local_sdp = "not sdp".into()),
        R::BadLocalSdp
    );
    assert_eq!(
        refused(&mut p, &|s| s.media.media_index = 3),
        R::Contradiction(C::MediaIndexOutOfRange)
    );
    assert_eq!(
        refused(&mut p, &|s| s.on_hold = true),
        R::Contradiction(C::HoldButReceiving)
    );
    assert_eq!(
        refused(&mut p, &|s| s.media.payload_type = 200),
        R::Contradiction(C::PayloadTypeOutOfRange)
    );
    assert_eq!(
        refused(&mut p, &|s| s.media.direction = "sideways".into()),
        R::BadDirection("sideways".into())
    );
    assert_eq!(
        refused(&mut p, &|s| s.created_at_us = s.taken_at_us + 1),
        R::Contradiction(C::InstantsOutOfOrder)
    );
    assert_eq!(
        refused(&mut p, &|s| s.dialog.call_id.clear()),
        R::Contradiction(C::EmptyDialogId)
    );
    assert_eq!(
        refused(&mut p, &|s| s.min_se = 30),
        R::Contradiction(C::SessionIntervalTooBrief)
    );
    // Garbage is the format's error, not a panic.
    assert!(serde_json::from_str::<SessionSnapshot>("{\"version\": 1}").is_err());
    assert!(serde_json::from_str::<SessionSnapshot>("]]").is_err());
    // A dialog restored once is here: a second copy is refused.
    p.ep("bob2").restore(now, taken.clone()).expect("restores");
    assert!(matches!(
        p.ep("bob2").restore(now, taken.clone()),
        Err(R::DialogInUse(_))
    ));
    // The original endpoint still has it too.
    assert!(matches!(
        p.ep("bob").restore(now, taken),
        Err(R::DialogInUse(_))
    ));
}

#[test]
fn timers_keep_their_distance_from_the_snapshot_on_another_clock() {
    // Bob's twin's clock has another epoch: a minute ahead of Bob's.
    let mut p = trio();
    let mut alice = config("127.0.0.1:5060", 1);
    alice.session_expires = Some(120);
    p.nodes[0].ep = Endpoint::new(alice);
    let (_, b) = answered(&mut p);
    let now = p.now;
    let taken = p.ep("bob").snapshot(now, b).expect("movable");
    let expires = taken
        .timers
        .iter()
        .find(|t| t.name == "SessionExpires")
        .expect("a session timer runs");
    let ahead = Instant::from_micros(now.as_micros() + 60_000_000);
    let moved = p
        .ep("bob2")
        .restore(ahead, taken.clone())
        .expect("restores");
    let again = p.ep("bob2").snapshot(ahead, moved).expect("movable");
    let moved_expires = again
        .timers
        .iter()
        .find(|t| t.name == "SessionExpires")
        .expect("still runs");
    assert_eq!(
        moved_expires.at_us - again.taken_at_us,
        expires.at_us - taken.taken_at_us
    );
    assert_eq!(again.taken_at_us, ahead.as_micros());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// A snapshot damaged anywhere (one byte of its JSON replaced) is refused by the
    /// format or by `restore`, or restored and run: never a panic, whatever it says.
    #[test]
    fn a_damaged_snapshot_never_panics(at in 0usize..4096, byte in proptest::prelude::any::<u8>()) {
        let mut p = trio();
        let (_, b) = answered(&mut p);
        let now = p.now;
        let taken = p.ep("bob").snapshot(now, b).expect("movable");
        let mut text = serde_json::to_vec(&taken).expect("serialises");
        let at = at % text.len();
        text[at] = byte;
        if let Ok(damaged) = serde_json::from_slice::<SessionSnapshot>(&text) {
            if p.ep("bob2").restore(now, damaged).is_ok() {
                p.run_for(Duration::from_secs(40));
            }
        }
    }
}

#[test]
fn the_old_owner_lets_a_moved_call_go_without_a_word() {
    let mut p = trio();
    let (a, b) = answered(&mut p);
    let now = p.now;
    let taken = p.ep("bob").snapshot(now, b).expect("movable");
    let moved = p.ep("bob2").restore(now, taken).expect("restores");
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.state("bob2", moved).as_deref(), Some("Active"));
    // Bob was only thought dead; told that his call now lives elsewhere, he lets it go.
    let released_at = p.wire.len();
    p.ep("bob").release(b).expect("releases");
    p.run_for(Duration::from_secs(40));
    assert_eq!(
        p.end_reason("bob", b),
        Some(EndReason::MovedAway),
        "ended here, and said so"
    );
    assert!(p.ep("bob").session(b).is_none(), "forgotten at once");
    let from_bob: Vec<String> = p.wire[released_at..]
        .iter()
        .filter(|w| w.from == "bob")
        .map(|w| {
            String::from_utf8_lossy(&w.bytes)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert!(
        from_bob.is_empty(),
        "Bob sent {from_bob:?} after letting go"
    );
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    let now = p.now;
    p.ep("alice").hangup(now, a).expect("hangs up");
    p.run_for(Duration::from_secs(1));
    assert_eq!(
        p.end_reason("bob2", moved),
        Some(EndReason::HungUp { by: Side::Remote })
    );
}
