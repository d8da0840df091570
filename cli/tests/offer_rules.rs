//! Offer/answer rules on the wire (RFC 3264, RFC 3261 §14.2), against a real `sessionctl
//! uas` process on both runtimes: SIPp places a call, then re-INVITEs it with a T.38-only
//! offer (what every fax gateway sends) and expects 488 with the call kept, then BYE → 200.
//!
//! Loopback only, free ports, every process bounded in time and killed on drop. When
//! `sipp` is not installed the test says so and passes, unless `SESSION_CORE_INTEROP=1`.

mod common;

use std::time::Duration;

use common::{have_sipp, sipp_uac, test_file, uas};

/// A T.38 re-INVITE we cannot accept is answered 488 Not Acceptable Here and the call
/// stays up: no BYE from us (SIPp fails on one), and the peer's later BYE gets 200.
fn a_t38_reinvite_is_answered_488_and_the_call_stays_up(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let (mut uas, addr) = uas(runtime, "echo", &[]);
    let scenario = test_file("sipp/uac_t38_reinvite_488.xml");
    let scenario = scenario.to_string_lossy();
    let (ok, text) = sipp_uac(&["-sf", &scenario], &addr);
    let ended = uas.wait_for("\"terminated\"", Duration::from_secs(10));
    let clean_exit = uas.terminate();
    assert!(
        ok,
        "SIPp's T.38 re-INVITE scenario on {runtime} failed:\n{text}"
    );
    assert!(
        !ended.contains("internal") && !ended.contains("not_acceptable"),
        "the call ended for the refused offer: {ended}"
    );
    assert!(clean_exit, "sessionctl uas did not exit 0 on SIGTERM");
}

on_both_runtimes!(a_t38_reinvite_is_answered_488_and_the_call_stays_up);
