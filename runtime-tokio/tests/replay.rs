//! A real call on loopback (two tokio coordinators, real sockets, tokio's clock),
//! recorded at each endpoint's boundary, replays into a fresh `Endpoint` with the same
//! configuration to byte-identical datagrams: SIP and RTP, on both sides.

use std::time::Duration;

use session_core::driver::Recording;
use session_core::{Config, MediaMode, SessionEvent};
use session_core_tokio::SessionCoordinator;

async fn endpoint(seed: u64, mode: MediaMode) -> SessionCoordinator {
    let config = Config {
        seed,
        media_mode: mode,
        ..Config::new("127.0.0.1:0".parse().unwrap())
    };
    SessionCoordinator::builder()
        .config(config)
        .record_inputs(100_000)
        .build()
        .await
        .unwrap()
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

#[tokio::test]
async fn a_recorded_loopback_call_replays_into_a_fresh_endpoint_to_identical_datagrams() {
    let alice = endpoint(21, MediaMode::Tone { freq_hz: 1000 }).await;
    let mut bob = endpoint(22, MediaMode::Echo).await;
    let mut incoming = bob.incoming_calls().unwrap();
    let bob_side = tokio::spawn(async move {
        let mut call = incoming.next().await?.call;
        call.accept().await.ok()?;
        call.wait_for(|e| matches!(e, SessionEvent::Terminated { .. }))
            .await
    });
    let target = format!("sip:bob@{}", bob.local_sip_addr());
    let mut call = alice.make_call(&target).await.unwrap();
    let answered = call.wait_for(|e| matches!(e, SessionEvent::Answered { .. }));
    let answered = tokio::time::timeout(Duration::from_secs(10), answered).await;
    assert!(matches!(answered, Ok(Some(_))), "the call was answered");
    tokio::time::sleep(Duration::from_millis(300)).await;
    call.hangup().await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), bob_side).await;
    assert!(matches!(ended, Ok(Ok(Some(_)))), "bob saw the call end");

    assert_replays_identically("alice", &alice.recording().await.unwrap());
    assert_replays_identically("bob", &bob.recording().await.unwrap());
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}
