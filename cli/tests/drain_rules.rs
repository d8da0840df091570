//! Graceful drain of `sessionctl uas` on SIGTERM, against SIPp holding 50 calls, on both
//! runtimes: once the signal arrives a new INVITE gets 503 with `Retry-After` (RFC 3261
//! §21.5.4), the calls up go on and end — by SIPp's own BYE within the grace period, or
//! by ours when they outlive it — and the process exits 0 once they have.
//!
//! Loopback only, free ports, every process bounded in time and killed on drop. When
//! `sipp` is not installed the tests say so and pass, unless `SESSION_CORE_INTEROP=1`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    free_port, have_sipp, invite, sipp_media_port, test_file, uas, BackgroundSipp, Process, RawPeer,
};

const CALLS: usize = 50;

/// SIPp placing `CALLS` calls at once (`-l`, 50 a second) with `scenario`.
fn start_sipp(scenario: &str, target: &str) -> BackgroundSipp {
    let calls = CALLS.to_string();
    let mut cmd = Command::new("timeout");
    cmd.args(["60", "sipp", target, "-sf"])
        .arg(test_file(scenario))
        .args(["-m", &calls, "-l", &calls, "-r", "50", "-i", "127.0.0.1"])
        .args(["-p", &free_port().to_string()])
        .args(["-mp", &sipp_media_port().to_string()])
        .args(["-timeout", "45s", "-timeout_error", "-nostdin", "-s", "bob"]);
    BackgroundSipp::spawn(cmd)
}

/// Sends SIGTERM.
fn sigterm(uas: &Process) {
    let _ = Command::new("kill")
        .args(["-TERM", &uas.child.id().to_string()])
        .status();
}

/// Waits (bounded) for the exit; whether it exited 0, and when.
fn wait_exit(uas: &mut Process, within: Duration) -> (bool, Instant) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = uas.child.try_wait() {
            return (status.success(), Instant::now());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (false, Instant::now())
}

/// 50 calls held by SIPp, SIGTERM, a new INVITE refused, and the calls ended by the side
/// `scenario` says within the grace; returns the uas's stdout lines.
fn drain_held_calls(runtime: &str, scenario: &str, grace_ms: u64) -> Vec<String> {
    let grace = grace_ms.to_string();
    let (mut uas, addr) = uas(
        runtime,
        "silence",
        &["--ring-ms", "0", "--drain-grace-ms", &grace],
    );
    let sipp = start_sipp(scenario, &addr);
    for _ in 0..CALLS {
        uas.wait_for("\"answered\"", Duration::from_secs(15));
    }
    let signalled = Instant::now();
    sigterm(&uas);
    uas.wait_for("\"draining\"", Duration::from_secs(5));

    let peer = RawPeer::new(&addr);
    peer.send(&invite("z9hG4bKdrain1", "drain-new-call", ""));
    let refusal = peer
        .recv_matching("SIP/2.0 5", Duration::from_secs(3))
        .expect("the new INVITE is answered");
    assert_eq!(RawPeer::status(&refusal), Some(503), "{refusal}");
    let retry_after = RawPeer::header(&refusal, "Retry-After").expect("Retry-After");
    assert!(retry_after.parse::<u32>().is_ok(), "{retry_after}");

    let limit = Duration::from_millis(grace_ms) + Duration::from_secs(8);
    let (clean, exited) = wait_exit(&mut uas, limit);
    assert!(
        clean,
        "sessionctl uas on {runtime} did not exit 0 within {limit:?}"
    );
    assert!(
        exited - signalled < limit,
        "exited {:?} after SIGTERM",
        exited - signalled
    );
    let (ok, text) = sipp.finish(Duration::from_secs(20));
    assert!(ok, "SIPp's calls on {runtime} did not all succeed:\n{text}");
    drain_lines(&mut uas)
}

/// Every stdout line the process printed, once it has exited.
fn drain_lines(uas: &mut Process) -> Vec<String> {
    let _ = uas.wait_for_end(Duration::from_secs(2));
    uas.seen.clone()
}

fn terminated_with(lines: &[String], reason: &str) -> usize {
    lines
        .iter()
        .filter(|l| l.contains("\"terminated\"") && l.contains(&format!("\"reason\":\"{reason}\"")))
        .count()
}

/// SIPp hangs its calls up 6 s after the answer; the grace is 20 s: every call ends by
/// SIPp's BYE, none by ours, and the process exits long before the grace is over.
fn calls_ending_within_the_grace_end_by_their_own_bye(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let lines = drain_held_calls(runtime, "sipp/uac_quiet_call.xml", 20_000);
    assert_eq!(
        terminated_with(&lines, "hangup_remote"),
        CALLS,
        "{lines:#?}"
    );
    assert_eq!(terminated_with(&lines, "shutdown"), 0);
    assert!(lines.iter().any(|l| l.contains("\"stopping\"")));
}

/// SIPp waits for the other side to hang up; the grace is 2 s: every call gets our BYE
/// when it is over, SIPp answers 200, and the process exits 0.
fn calls_outliving_the_grace_get_our_bye(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let lines = drain_held_calls(runtime, "sipp/uac_wait_media_timeout_bye.xml", 2_000);
    assert_eq!(terminated_with(&lines, "shutdown"), CALLS, "{lines:#?}");
}

/// With no call up, SIGTERM ends the process at once, whatever the grace.
fn an_idle_uas_exits_at_once_on_sigterm(runtime: &str) {
    let (mut uas, _) = uas(runtime, "silence", &["--drain-grace-ms", "30000"]);
    let signalled = Instant::now();
    sigterm(&uas);
    let (clean, exited) = wait_exit(&mut uas, Duration::from_secs(5));
    assert!(clean, "sessionctl uas on {runtime} did not exit 0");
    assert!(exited - signalled < Duration::from_secs(2));
}

on_both_runtimes!(
    calls_ending_within_the_grace_end_by_their_own_bye,
    calls_outliving_the_grace_get_our_bye,
    an_idle_uas_exits_at_once_on_sigterm,
);
