//! Interop with SIPp (Debian's `sip-tester`), the tool VoIP engineers test SIP with:
//! SIPp as UAC against `sessionctl uas` (basic call, CANCEL, 486, hold/resume with the
//! SDP direction checked, UPDATE with and without an offer), and `sessionctl call`
//! against SIPp's built-in UAS, each on both runtimes (`--runtime tokio` and `--runtime
//! mio`).
//!
//! Loopback only, free ports, every process bounded in time and killed on drop. When
//! `sipp` is not installed the tests say so and pass, unless `SESSION_CORE_INTEROP=1`
//! (set by `.ci/run`, which installs SIPp) makes its absence a failure.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_port, have_sipp, sessionctl, sipp_uac, test_file, uas};

fn run_against_uas(runtime: &str, scenario_args: &[&str], uas_args: &[&str]) {
    if !have_sipp() {
        return;
    }
    let (uas, addr) = uas(runtime, "echo", uas_args);
    let (ok, text) = sipp_uac(scenario_args, &addr);
    let clean_exit = uas.terminate();
    assert!(
        ok,
        "SIPp scenario {scenario_args:?} on {runtime} failed:\n{text}"
    );
    assert!(clean_exit, "sessionctl uas did not exit 0 on SIGTERM");
}

fn sipp_uac_basic_call_with_bye(runtime: &str) {
    run_against_uas(runtime, &["-sn", "uac"], &[]);
}

fn sipp_uac_cancels_a_ringing_call(runtime: &str) {
    let path = test_file("sipp/uac_cancel.xml");
    run_against_uas(
        runtime,
        &["-sf", path.to_str().unwrap()],
        &["--ring-ms", "5000"],
    );
}

fn sipp_uac_is_rejected_with_486(runtime: &str) {
    let path = test_file("sipp/uac_reject.xml");
    run_against_uas(
        runtime,
        &["-sf", path.to_str().unwrap()],
        &["--reject", "486"],
    );
}

fn sipp_uac_offering_no_common_codec_gets_488(runtime: &str) {
    let path = test_file("sipp/uac_codec_mismatch.xml");
    run_against_uas(runtime, &["-sf", path.to_str().unwrap()], &[]);
}

fn sipp_uac_holds_and_resumes_with_directions_checked(runtime: &str) {
    let path = test_file("sipp/uac_hold_resume.xml");
    run_against_uas(runtime, &["-sf", path.to_str().unwrap()], &[]);
}

fn sipp_uac_updates_a_confirmed_call_with_and_without_an_offer(runtime: &str) {
    let path = test_file("sipp/uac_update.xml");
    run_against_uas(runtime, &["-sf", path.to_str().unwrap()], &[]);
}

/// SIPp's UAS answers `sessionctl call` with what `scenario_args` make it; returns the
/// call's exit success, stdout, stderr, and whether SIPp saw its scenario through.
fn call_sipp_uas(runtime: &str, scenario_args: &[&str]) -> (bool, String, String, bool) {
    let port = free_port();
    let media_port = free_port().to_string();
    let mut sipp = Command::new("timeout")
        .args(["60", "sipp"])
        .args(scenario_args)
        .args(["-m", "1", "-i", "127.0.0.1"])
        .args(["-p", &port.to_string(), "-mp", &media_port, "-nostdin"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp runs");
    std::thread::sleep(Duration::from_millis(500));
    let out = sessionctl(runtime)
        .args(["call", &format!("sip:service@127.0.0.1:{port}")])
        .args(["--bind", "127.0.0.1:0", "--duration-ms", "1000"])
        .output()
        .expect("sessionctl call runs");
    let sipp_ok = sipp.wait().expect("sipp ends").success();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
        sipp_ok,
    )
}

fn sessionctl_call_refused_with_488_says_so(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let path = test_file("sipp/uas_488.xml");
    let (ok, stdout, stderr, sipp_ok) = call_sipp_uas(runtime, &["-sf", path.to_str().unwrap()]);
    assert!(!ok, "a refused call must not exit 0: {stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains("\"status\":488") && last.contains("\"reason\":\"not_acceptable\""),
        "last line: {last}"
    );
    assert!(
        stderr.contains("488 Not Acceptable Here"),
        "stderr: {stderr}"
    );
    assert!(sipp_ok, "SIPp's UAS did not get its ACK");
}

fn sessionctl_call_to_sipp_uas(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let port = free_port();
    let media_port = free_port().to_string();
    let mut sipp = Command::new("timeout")
        .args(["60", "sipp", "-sn", "uas", "-m", "1", "-i", "127.0.0.1"])
        .args(["-p", &port.to_string(), "-mp", &media_port, "-nostdin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipp runs");
    std::thread::sleep(Duration::from_millis(500));
    let out = sessionctl(runtime)
        .args(["call", &format!("sip:service@127.0.0.1:{port}")])
        .args(["--bind", "127.0.0.1:0", "--duration-ms", "1000"])
        .output()
        .expect("sessionctl call runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let sipp_status = sipp.wait().expect("sipp ends");
    assert!(
        out.status.success(),
        "sessionctl call failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.contains("\"status\":200"), "last line: {last}");
    assert!(
        sipp_status.success(),
        "SIPp's UAS did not see a complete call"
    );
}

on_both_runtimes!(
    sipp_uac_basic_call_with_bye,
    sipp_uac_cancels_a_ringing_call,
    sipp_uac_is_rejected_with_486,
    sipp_uac_offering_no_common_codec_gets_488,
    sipp_uac_holds_and_resumes_with_directions_checked,
    sipp_uac_updates_a_confirmed_call_with_and_without_an_offer,
    sessionctl_call_to_sipp_uas,
    sessionctl_call_refused_with_488_says_so,
);
