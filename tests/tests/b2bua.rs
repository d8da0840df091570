//! A B2BUA between two user agents, all three in the pump: the caller (default table)
//! calls the gateway (gateway table), whose application places the outgoing leg to the
//! callee (default table) with `CallOptions::bridge_to`; what either side does reaches the
//! other through the bridge, and so does the media, transcoded when the laws differ.

use std::sync::Arc;
use std::time::Duration;

use session_core::endpoint::{CallOptions, EndReason, SessionEvent, SessionId, Side};
use session_core::media::{DtmfMode, MediaMode};
use session_core::sdp::CodecConfig;
use session_core::state_table::CompiledTable;
use session_core::{Config, Endpoint};
use session_core_tests::audio::tone_share;
use session_core_tests::{config, Pump};

const CALLER_HZ: u32 = 1_000;
const CALLEE_HZ: u32 = 440;

/// What the callee does with an incoming call.
#[derive(Clone, Copy)]
enum Callee {
    /// Answer at once (the default table has rung with 180).
    Answer,
    /// Refuse with this status.
    Reject(u16),
    /// Let it ring.
    Ring,
}

fn caller_config() -> Config {
    let mut c = config("127.0.0.1:5060", 1);
    c.media_mode = MediaMode::Tone { freq_hz: CALLER_HZ };
    c.audio_sink_frames = 400;
    c
}

fn gateway_config() -> Config {
    let mut c = config("127.0.0.2:5060", 2);
    c.table = Arc::new(CompiledTable::gateway_table());
    c
}

fn callee_config() -> Config {
    let mut c = config("127.0.0.3:5060", 3);
    c.media_mode = MediaMode::Tone { freq_hz: CALLEE_HZ };
    c.audio_sink_frames = 400;
    c
}

/// The default table, but the callee answers the offer in a 183 and plays its media
/// before the call is answered (as announcements and ringback from a PBX do).
fn early_media_table() -> CompiledTable {
    let ready = "  - role: UAS\n    state: Ringing\n    event: MediaSessionReady\n    condition_updates: { MediaReady: true }\n";
    let early = "  - role: UAS\n    state: Ringing\n    event: MediaSessionReady\n    actions: [GenerateLocalSDP, { type: SendProvisional, status: 183 }, StartMediaFlow]\n    condition_updates: { MediaReady: true }\n";
    let text = session_core::state_table::DEFAULT_TABLE_YAML;
    assert!(text.contains(ready), "the default table's row changed");
    CompiledTable::from_yaml("early_media.yaml", &text.replace(ready, early)).unwrap()
}

/// The three nodes; the gateway places each incoming call to the callee, who does
/// `callee` with it.
fn b2bua(caller: Config, gateway: Config, callee: Config, behaviour: Callee) -> Pump {
    let mut p = Pump::new(vec![
        ("caller", caller),
        ("gateway", gateway),
        ("callee", callee),
    ]);
    p.app = Some(Box::new(
        move |node, ep: &mut Endpoint, now, event| match (node, event) {
            ("gateway", SessionEvent::IncomingCall { session, .. }) => {
                let options = CallOptions {
                    bridge_to: Some(*session),
                    ..CallOptions::default()
                };
                ep.make_call(now, "sip:bob@127.0.0.3:5060", options)
                    .expect("the outgoing leg is placed");
            }
            ("callee", SessionEvent::IncomingCall { session, .. }) => match behaviour {
                Callee::Answer => ep.accept(now, *session).expect("answer"),
                Callee::Reject(status) => ep.reject(now, *session, status).expect("reject"),
                Callee::Ring => {}
            },
            _ => {}
        },
    ));
    p
}

/// Places the call from the caller and runs `d`.
fn place(p: &mut Pump, d: Duration) -> SessionId {
    let now = p.now;
    let a = p
        .ep("caller")
        .make_call(now, "sip:bob@127.0.0.2:5060", CallOptions::default())
        .unwrap();
    p.run_for(d);
    a
}

/// The gateway's two legs: (incoming, outgoing).
fn legs(p: &mut Pump) -> (SessionId, SessionId) {
    let incoming = p.incoming("gateway").expect("the gateway got the call");
    let outgoing = p
        .node("gateway")
        .events
        .iter()
        .map(|(_, e)| e.session())
        .find(|s| *s != incoming)
        .expect("the gateway placed the outgoing leg");
    (incoming, outgoing)
}

fn call_ids(p: &Pump) -> Vec<String> {
    let mut ids: Vec<String> = p
        .wire
        .iter()
        .filter_map(|w| {
            let text = String::from_utf8_lossy(&w.bytes);
            text.lines()
                .find_map(|l| l.strip_prefix("Call-ID: ").map(str::to_owned))
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Every audio frame a node's session received, decoded.
fn heard(p: &mut Pump, node: &str, session: SessionId) -> Vec<i16> {
    let (mut samples, mut frame) = (Vec::new(), Vec::new());
    while p.ep(node).poll_audio(session, &mut frame).is_some() {
        samples.extend_from_slice(&frame);
    }
    samples
}

fn hangup(p: &mut Pump, node: &str, session: SessionId) {
    let now = p.now;
    p.ep(node).hangup(now, session).unwrap();
    p.run_for(Duration::from_secs(1));
}

#[test]
fn a_bridged_call_connects_caller_and_callee_with_two_dialogs_and_their_tones_cross() {
    let mut p = b2bua(
        caller_config(),
        gateway_config(),
        callee_config(),
        Callee::Answer,
    );
    let start = p.now;
    let a = place(&mut p, Duration::from_secs(2));
    let (incoming, outgoing) = legs(&mut p);
    assert_eq!(p.state("gateway", incoming).as_deref(), Some("Bridged"));
    assert_eq!(p.state("gateway", outgoing).as_deref(), Some("Bridged"));
    let info = p.ep("gateway").session(incoming).unwrap();
    assert_eq!(info.bridged_with, Some(outgoing));
    assert_eq!(call_ids(&p).len(), 2, "each leg has its own Call-ID");
    let b = p.incoming("callee").unwrap();
    // Each side heard the other's tone, and nothing of its own.
    let at_caller = heard(&mut p, "caller", a);
    let at_callee = heard(&mut p, "callee", b);
    hangup(&mut p, "caller", a);
    assert!(
        at_caller.len() >= 8_000,
        "caller heard {} samples",
        at_caller.len()
    );
    assert!(tone_share(&at_caller, f64::from(CALLEE_HZ)).is_some_and(|s| s > 0.9));
    assert!(tone_share(&at_callee, f64::from(CALLER_HZ)).is_some_and(|s| s > 0.9));
    assert_eq!(
        p.end_reason("callee", b),
        Some(EndReason::HungUp { by: Side::Remote })
    );
    insta::assert_snapshot!(p.transcript(start));
}

#[test]
fn pcmu_and_pcma_legs_are_transcoded_and_each_tone_survives_the_trip() {
    let mut caller = caller_config();
    caller.media.codecs = vec![CodecConfig::pcmu(), CodecConfig::telephone_event()];
    let mut callee = callee_config();
    callee.media.codecs = vec![CodecConfig::pcma(), CodecConfig::telephone_event()];
    let mut p = b2bua(caller, gateway_config(), callee, Callee::Answer);
    let start = p.now;
    let a = place(&mut p, Duration::from_secs(2));
    let b = p.incoming("callee").unwrap();
    // The outgoing leg offered both laws, the caller's first.
    let invite_to_callee = p
        .wire
        .iter()
        .find(|w| w.from == "gateway" && w.to == "callee" && w.bytes.starts_with(b"INVITE"))
        .map(|w| String::from_utf8_lossy(&w.bytes).into_owned())
        .unwrap();
    assert!(
        invite_to_callee.contains("m=audio 20002 RTP/AVP 0 8"),
        "{invite_to_callee}"
    );
    // The callee chose PCMA, the caller PCMU: the gateway converts between them.
    let answer = |from: &str, to: &str| {
        p.wire
            .iter()
            .find(|w| w.from == from && w.to == to && w.bytes.starts_with(b"SIP/2.0 200"))
            .map(|w| String::from_utf8_lossy(&w.bytes).into_owned())
            .unwrap()
    };
    assert!(answer("callee", "gateway").contains("RTP/AVP 8 "));
    assert!(answer("gateway", "caller").contains("RTP/AVP 0 "));
    let at_caller = heard(&mut p, "caller", a);
    let at_callee = heard(&mut p, "callee", b);
    hangup(&mut p, "caller", a);
    assert!(at_caller.len() >= 8_000 && at_callee.len() >= 8_000);
    assert!(tone_share(&at_caller, f64::from(CALLEE_HZ)).is_some_and(|s| s > 0.9));
    assert!(tone_share(&at_callee, f64::from(CALLER_HZ)).is_some_and(|s| s > 0.9));
    insta::assert_snapshot!(p.ladder(start));
}

#[test]
fn ringing_and_early_media_reach_the_caller_before_the_answer() {
    let mut callee = callee_config();
    callee.table = Arc::new(early_media_table());
    let mut p = b2bua(caller_config(), gateway_config(), callee, Callee::Ring);
    let start = p.now;
    let a = place(&mut p, Duration::from_secs(1));
    let early = p
        .events_of("caller", a)
        .iter()
        .any(|e| matches!(e, SessionEvent::EarlyMedia { .. }));
    assert!(early, "{:?}", p.events_of("caller", a));
    let at_caller = heard(&mut p, "caller", a);
    assert!(
        at_caller.len() >= 4_000,
        "caller heard {} samples",
        at_caller.len()
    );
    assert!(tone_share(&at_caller, f64::from(CALLEE_HZ)).is_some_and(|s| s > 0.9));
    let b = p.incoming("callee").unwrap();
    let now = p.now;
    p.ep("callee").accept(now, b).unwrap();
    p.run_for(Duration::from_secs(1));
    assert!(p
        .events_of("caller", a)
        .contains(&SessionEvent::Answered { session: a }));
    let (incoming, outgoing) = legs(&mut p);
    assert_eq!(p.state("gateway", incoming).as_deref(), Some("Bridged"));
    assert_eq!(p.state("gateway", outgoing).as_deref(), Some("Bridged"));
    let at_caller = heard(&mut p, "caller", a);
    assert!(tone_share(&at_caller, f64::from(CALLEE_HZ)).is_some_and(|s| s > 0.9));
    hangup(&mut p, "caller", a);
    insta::assert_snapshot!(p.ladder(start));
}

#[test]
fn a_cancel_from_the_caller_cancels_the_outgoing_leg() {
    let mut p = b2bua(
        caller_config(),
        gateway_config(),
        callee_config(),
        Callee::Ring,
    );
    let start = p.now;
    let a = place(&mut p, Duration::from_millis(500));
    hangup(&mut p, "caller", a);
    let b = p.incoming("callee").unwrap();
    assert_eq!(
        p.end_reason("callee", b),
        Some(EndReason::Cancelled { by: Side::Remote })
    );
    assert_eq!(
        p.end_reason("caller", a),
        Some(EndReason::Cancelled { by: Side::Local })
    );
    insta::assert_snapshot!(p.ladder(start));
}

#[test]
fn a_rejection_reaches_the_caller_with_its_status() {
    let mut p = b2bua(
        caller_config(),
        gateway_config(),
        callee_config(),
        Callee::Reject(486),
    );
    let start = p.now;
    let a = place(&mut p, Duration::from_secs(1));
    assert_eq!(
        p.end_reason("caller", a),
        Some(EndReason::Rejected {
            by: Side::Remote,
            status: 486
        })
    );
    insta::assert_snapshot!(p.ladder(start));
}

#[test]
fn a_bye_from_either_side_ends_both_legs() {
    for (who, by) in [("caller", "callee"), ("callee", "caller")] {
        let mut p = b2bua(
            caller_config(),
            gateway_config(),
            callee_config(),
            Callee::Answer,
        );
        let start = p.now;
        let a = place(&mut p, Duration::from_secs(1));
        let b = p.incoming("callee").unwrap();
        let session = if who == "caller" { a } else { b };
        hangup(&mut p, who, session);
        let other = if by == "caller" { a } else { b };
        assert_eq!(
            p.end_reason(by, other),
            Some(EndReason::HungUp { by: Side::Remote }),
            "BYE from {who}"
        );
        let (incoming, outgoing) = legs(&mut p);
        for leg in [incoming, outgoing] {
            assert!(p.end_reason("gateway", leg).is_some(), "leg {leg} lives on");
        }
        insta::assert_snapshot!(format!("bye_from_{who}"), p.ladder(start));
    }
}

#[test]
fn a_hold_by_the_caller_is_relayed_to_the_callee_and_so_is_the_resume() {
    let mut p = b2bua(
        caller_config(),
        gateway_config(),
        callee_config(),
        Callee::Answer,
    );
    let start = p.now;
    let a = place(&mut p, Duration::from_secs(1));
    let b = p.incoming("callee").unwrap();
    let now = p.now;
    p.ep("caller").hold(now, a).unwrap();
    p.run_for(Duration::from_secs(1));
    let held = |p: &mut Pump, by| {
        p.events_of("callee", b)
            .iter()
            .filter(|e| **e == SessionEvent::Held { session: b, by })
            .count()
    };
    assert_eq!(
        held(&mut p, Side::Remote),
        1,
        "{:?}",
        p.events_of("callee", b)
    );
    let now = p.now;
    p.ep("caller").resume(now, a).unwrap();
    p.run_for(Duration::from_secs(1));
    assert!(p.events_of("callee", b).contains(&SessionEvent::Resumed {
        session: b,
        by: Side::Remote
    }));
    let (incoming, outgoing) = legs(&mut p);
    assert_eq!(p.state("gateway", incoming).as_deref(), Some("Bridged"));
    assert_eq!(p.state("gateway", outgoing).as_deref(), Some("Bridged"));
    hangup(&mut p, "caller", a);
    insta::assert_snapshot!(p.ladder(start));
}

#[test]
fn rfc4733_digits_cross_the_bridge_with_the_payload_type_remapped() {
    let mut caller = caller_config();
    caller.dtmf_mode = DtmfMode::Rfc4733;
    // The caller numbers telephone-event 97 (Opus took 96), the gateway's outgoing leg
    // 96: the events' payload type is rewritten on the way.
    caller.media.codecs = vec![
        CodecConfig::pcmu(),
        CodecConfig::opus(),
        CodecConfig::telephone_event(),
    ];
    let mut p = b2bua(caller, gateway_config(), callee_config(), Callee::Answer);
    let start = p.now;
    let a = place(&mut p, Duration::from_secs(1));
    let invite = |p: &Pump, from: &str| {
        p.wire
            .iter()
            .find(|w| w.from == from && w.bytes.starts_with(b"INVITE"))
            .map(|w| String::from_utf8_lossy(&w.bytes).into_owned())
            .unwrap()
    };
    assert!(invite(&p, "caller").contains("a=rtpmap:97 telephone-event/8000"));
    assert!(invite(&p, "gateway").contains("a=rtpmap:96 telephone-event/8000"));
    let b = p.incoming("callee").unwrap();
    let now = p.now;
    p.ep("caller").send_dtmf(now, a, "15#").unwrap();
    p.run_for(Duration::from_secs(3));
    let digits: String = p
        .events_of("callee", b)
        .iter()
        .filter_map(|e| match e {
            SessionEvent::DtmfReceived {
                digit,
                via: DtmfMode::Rfc4733,
                ..
            } => Some(*digit),
            _ => None,
        })
        .collect();
    assert_eq!(digits, "15#");
    hangup(&mut p, "caller", a);
    insta::assert_snapshot!(p.transcript(start));
}

#[test]
fn a_call_that_has_ended_takes_no_outgoing_leg_and_no_bridge() {
    // No application places the outgoing leg: the gateway's incoming call rings until the
    // caller gives up; an application that acts on it late must be told it is gone.
    let mut p = Pump::new(vec![
        ("caller", caller_config()),
        ("gateway", gateway_config()),
        ("callee", callee_config()),
    ]);
    let a = place(&mut p, Duration::from_millis(500));
    let incoming = p.incoming("gateway").expect("the gateway got the call");
    // A 180 first, so that the caller's CANCEL can go (RFC 3261 §9.1).
    let now = p.now;
    p.ep("gateway").ring(now, incoming).unwrap();
    p.run_for(Duration::from_millis(200));
    hangup(&mut p, "caller", a);
    assert!(
        p.ep("gateway").session(incoming).is_some(),
        "the ended call lingers"
    );
    assert!(matches!(
        p.end_reason("gateway", incoming),
        Some(EndReason::Cancelled { .. })
    ));
    let now = p.now;
    let leg = CallOptions {
        bridge_to: Some(incoming),
        ..CallOptions::default()
    };
    assert!(matches!(
        p.ep("gateway")
            .make_call(now, "sip:bob@127.0.0.3:5060", leg),
        Err(session_core::CommandError::NotAllowed { .. })
    ));
    let other = p
        .ep("gateway")
        .make_call(now, "sip:bob@127.0.0.3:5060", CallOptions::default())
        .unwrap();
    assert!(matches!(
        p.ep("gateway").bridge(now, incoming, other),
        Err(session_core::CommandError::NotAllowed { .. })
    ));
    assert_eq!(p.ep("gateway").session(other).unwrap().bridged_with, None);
}

#[test]
fn the_caller_cancels_after_100_trying_though_the_far_leg_never_answers() {
    let mut p = b2bua(
        caller_config(),
        gateway_config(),
        callee_config(),
        Callee::Ring,
    );
    // The callee is unreachable: the gateway's INVITE to it is lost every time.
    p.drop_sip = Some(Box::new(|w| w.to == "callee"));
    let start = p.now;
    let a = place(&mut p, Duration::from_millis(500));
    hangup(&mut p, "caller", a);
    // A 100 Trying allows the CANCEL (RFC 3261 §9.1): the caller's call ends at once.
    assert_eq!(
        p.end_reason("caller", a),
        Some(EndReason::Cancelled { by: Side::Local })
    );
    // The outgoing leg, which never heard back, gives up with its INVITE (Timer B).
    p.run_for(Duration::from_secs(40));
    let (_, outgoing) = legs(&mut p);
    assert_eq!(p.end_reason("gateway", outgoing), Some(EndReason::Timeout));
    insta::assert_snapshot!(p.ladder(start));
}
