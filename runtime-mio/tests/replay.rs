//! A real call on loopback (two mio drivers, real sockets, the wall clock), recorded at
//! each endpoint's boundary, replays into a fresh `Endpoint` with the same configuration
//! to byte-identical datagrams: SIP and RTP, on both sides.

use std::time::{Duration, Instant};

use mio::{Events, Poll};
use session_core::driver::Recording;
use session_core::{CallOptions, Command, Config, MediaMode, SessionEvent};
use session_core_mio::{Driver, DriverConfig};

fn driver(poll: &Poll, tokens: std::ops::Range<usize>, seed: u64, mode: MediaMode) -> Driver {
    let config = DriverConfig::new(Config {
        seed,
        media_mode: mode,
        ..Config::new("127.0.0.1:0".parse().unwrap())
    });
    let mut d = Driver::new(config, poll.registry(), tokens, Instant::now()).unwrap();
    d.record_inputs(100_000);
    d
}

/// Asserts that `recording` is whole, holds a call with media, and replays to exactly
/// the datagrams it recorded.
fn assert_replays_identically(side: &str, recording: &Recording) {
    assert!(
        recording.is_complete(),
        "{side}: the recording was cut short"
    );
    let sent = recording.sent_datagrams();
    let rtp = sent
        .iter()
        .filter(|t| t.payload.first() == Some(&0x80))
        .count();
    assert!(
        sent.len() > 10 && rtp > 5,
        "{side}: a call with media was recorded"
    );
    assert_eq!(recording.check_replay(), Ok(sent.len()), "{side}");
}

#[test]
fn a_recorded_loopback_call_replays_into_a_fresh_endpoint_to_identical_datagrams() {
    let mut poll = Poll::new().unwrap();
    let mut alice = driver(&poll, 0..1000, 11, MediaMode::Tone { freq_hz: 1000 });
    let mut bob = driver(&poll, 1000..2000, 12, MediaMode::Echo);
    let target = format!("sip:bob@{}", bob.local_sip_addr());
    let call = alice
        .execute(
            Instant::now(),
            Command::MakeCall {
                target,
                options: CallOptions::default(),
            },
        )
        .unwrap();

    let mut events = Events::with_capacity(256);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut hangup_at = None;
    let mut hung_up = false;
    while !(hung_up && alice.sessions_ended() && bob.sessions_ended()) {
        assert!(Instant::now() < deadline, "the call did not finish in time");
        poll.poll(&mut events, Some(Duration::from_millis(5)))
            .unwrap();
        let now = Instant::now();
        for e in events.iter() {
            if alice.owns(e.token()) {
                alice.handle_event(e, now);
            } else {
                bob.handle_event(e, now);
            }
        }
        alice.handle_timeout(now);
        bob.handle_timeout(now);
        while let Some(event) = bob.poll_event() {
            if let SessionEvent::IncomingCall { session, .. } = event {
                bob.execute(now, Command::Accept { session }).unwrap();
            }
        }
        while let Some(event) = alice.poll_event() {
            if let SessionEvent::Answered { .. } = event {
                hangup_at = Some(now + Duration::from_millis(300));
            }
        }
        if !hung_up && hangup_at.is_some_and(|t| now >= t) {
            alice
                .execute(now, Command::Hangup { session: call })
                .unwrap();
            hung_up = true;
        }
    }

    assert_replays_identically("alice", alice.recording().unwrap());
    assert_replays_identically("bob", bob.recording().unwrap());
}
