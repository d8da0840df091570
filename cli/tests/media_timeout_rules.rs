//! The RTP inactivity timeout on the wire, against a real `sessionctl uas` on both
//! runtimes, with SIPp calls that send no RTP (as SIPp does unless told to play some):
//!
//! - by default the timeout is off (as in baresip, Asterisk and FreeSWITCH): calls with
//!   no media stay up until the caller hangs up;
//! - with `--media-timeout-ms N` each such call is hung up (BYE) after N ms.
//!
//! Loopback only, free ports, every process bounded in time and stopped by the test. When
//! `sipp` is not installed the test says so and passes, unless `SESSION_CORE_INTEROP=1`.

mod common;

use std::time::{Duration, Instant};

use common::{have_sipp, sipp_uac_calls, test_file, uas, Process};

const CALLS: u32 = 20;

/// The `terminated` lines of the uas's `CALLS` calls.
fn terminations(uas: &mut Process) -> Vec<String> {
    (0..CALLS)
        .map(|_| uas.wait_for("\"terminated\"", Duration::from_secs(5)))
        .collect()
}

fn calls_without_rtp_are_not_hung_up_by_default(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let (mut uas, addr) = uas(runtime, "silence", &["--ring-ms", "0"]);
    let scenario = test_file("sipp/uac_quiet_call.xml");
    let (ok, text) = sipp_uac_calls(&["-sf", &scenario.to_string_lossy()], &addr, CALLS);
    assert!(
        ok,
        "{runtime}: quiet calls were not left alone for 6 s:\n{text}"
    );
    for line in terminations(&mut uas) {
        assert!(line.contains("hangup_remote"), "{runtime}: {line}");
    }
    assert!(uas.terminate(), "uas exits 0 on SIGTERM");
}

fn media_timeout_ms_hangs_up_each_call_without_rtp(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let (mut uas, addr) = uas(
        runtime,
        "silence",
        &["--ring-ms", "0", "--media-timeout-ms", "2000"],
    );
    let scenario = test_file("sipp/uac_wait_media_timeout_bye.xml");
    let started = Instant::now();
    let (ok, text) = sipp_uac_calls(&["-sf", &scenario.to_string_lossy()], &addr, CALLS);
    let took = started.elapsed();
    assert!(
        ok,
        "{runtime}: not every call got its media-timeout BYE:\n{text}"
    );
    assert!(
        took >= Duration::from_millis(2000),
        "{runtime}: the BYEs came before the timeout ({took:?})"
    );
    for line in terminations(&mut uas) {
        assert!(line.contains("media_timeout"), "{runtime}: {line}");
    }
    assert!(uas.terminate(), "uas exits 0 on SIGTERM");
}

on_both_runtimes!(
    calls_without_rtp_are_not_hung_up_by_default,
    media_timeout_ms_hangs_up_each_call_without_rtp,
);
