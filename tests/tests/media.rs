//! Media through two back-to-back Endpoints: RTP packet counts of a
//! 2-second call, a tone that survives the G.711 round trip through an echoing peer, and
//! RFC 4733 DTMF digits arriving in order.

use std::time::Duration;

use session_core::endpoint::{SessionEvent, SessionId};
use session_core::media::analysis::goertzel_power;
use session_core::media::MediaMode;
use session_core::Config;
use session_core_tests::{alice_and_bob_with, config, ring, Pump};

const TONE_HZ: u32 = 1_000;

/// Alice calls Bob, Bob answers at once; both sides' sessions.
fn call(alice: Config, bob: Config) -> (Pump, SessionId, SessionId) {
    let mut p = alice_and_bob_with(alice, bob);
    let (a, b) = ring(&mut p);
    let now = p.now;
    p.ep("bob").accept(now, b).unwrap();
    (p, a, b)
}

#[test]
fn a_two_second_call_with_tone_and_echo_carries_100_packets_each_way_and_the_tone_survives() {
    let mut alice = config("127.0.0.1:5060", 1);
    alice.media_mode = MediaMode::Tone { freq_hz: TONE_HZ };
    alice.audio_sink_frames = 200;
    let mut bob = config("127.0.0.2:5060", 2);
    bob.media_mode = MediaMode::Echo;
    let (mut p, a, _b) = call(alice, bob);
    p.run_for(Duration::from_secs(2));
    let now = p.now;
    p.ep("alice").hangup(now, a).unwrap();
    p.run_for(Duration::from_secs(1));
    let to_alice = p.rtp_delivered.get("alice").copied().unwrap_or(0);
    let to_bob = p.rtp_delivered.get("bob").copied().unwrap_or(0);
    // 2 s of 20 ms packets is 100; the ends of the call may add or lose a couple.
    for (who, n) in [("alice", to_alice), ("bob", to_bob)] {
        assert!((95..=105).contains(&n), "{who} got {n} RTP packets");
    }
    // What alice heard is her own tone, echoed by bob through two G.711 codings.
    let mut heard = Vec::new();
    let mut frames = 0;
    while p.ep("alice").poll_audio(a, &mut heard).is_some() {
        frames += 1;
    }
    assert!(frames >= 90, "only {frames} frames reached alice's sink");
    // Normalised by N², a sine of amplitude A has power A²/4.
    let n2 = (heard.len() as f64).powi(2);
    let at_tone = goertzel_power(&heard, f64::from(TONE_HZ), 8_000.0) / n2;
    let elsewhere = goertzel_power(&heard, 1_700.0, 8_000.0) / n2;
    assert!(
        at_tone > 1_000.0 * elsewhere.max(1e-3),
        "tone {at_tone:.1} vs off-tone {elsewhere:.1}"
    );
    let amplitude = (at_tone * 4.0).sqrt();
    println!(
        "rtp to alice {to_alice}, to bob {to_bob}; {frames} frames heard; \
         tone amplitude {amplitude:.0}, off-tone power {elsewhere:.3}"
    );
    assert!(amplitude > 1_000.0, "echoed tone amplitude {amplitude:.0}");
}

#[test]
fn dtmf_digits_arrive_in_order() {
    let (mut p, a, b) = call(config("127.0.0.1:5060", 1), config("127.0.0.2:5060", 2));
    let start = p.now;
    p.run_for(Duration::from_millis(500));
    let now = p.now;
    p.ep("alice").send_dtmf(now, a, "123#").unwrap();
    p.run_for(Duration::from_secs(3));
    let digits: String = p
        .events_of("bob", b)
        .iter()
        .filter_map(|e| match e {
            SessionEvent::DtmfReceived {
                digit, duration_ms, ..
            } => {
                assert!(*duration_ms >= 40, "digit {digit} lasted {duration_ms} ms");
                Some(*digit)
            }
            _ => None,
        })
        .collect();
    assert_eq!(digits, "123#");
    let received: Vec<String> = p
        .node("bob")
        .events
        .iter()
        .filter(|(_, e)| matches!(e, SessionEvent::DtmfReceived { .. }))
        .map(|(at, e)| format!("{:>6} {e:?}", (*at - start).as_millis()))
        .collect();
    insta::assert_snapshot!(received.join("\n"));
}
